"""The integration test harness: everything the tests in tests/integration,
tests/bench and tests/soak share, and the one way they start and stop things.

    paths      ROOT, BUILD (FIELDRELAY_BUILD), DAEMON, CLI, TEST_DATA, wait_for,
               helper_tool (tests/integration/helpers programs)
    ports      free_ports / free_port (reserved until the test ends)
    node       Node (a fieldrelayd with its own dir, config, store, socket),
               Control (a raw control connection), cli_seconds, KEY
    agent      Agent, start_agent, run_agent (build/fieldrelay-NAME -c CONFIG)
    cleanup    Cleanup, stop_all, running/ended/end_process: the one clean-up style (see there)
    fixtures   the pytest fixtures (cleanup, nodes, agents); conftest.py loads them
    netns      namespaces, Netns and its `world` fixture, interface helpers
    mesh       nodes over UDP links: mesh_node, udp_node, neighbours, route, ...
    kiss       kiss_node (a node on a KISS serial link)
    sim        LinkEmu (tests/sim/linkemu, UDP link emulator)
    serial     SerialEmu (tests/sim/seremu, serial line / radio channel emulator)
    sbd        SbdSim, SbdDriver, MoListener, DirectIP by hand, World (SBD + DirectIP nodes)
    direwolf   DirewolfPair (two real Direwolf TNCs), AX.25 UI and KISS framing
    bpv7       BPv7 bundles built and parsed in Python (cbor2), independently of the C code
    track      fieldrelay-track: its [track] section, the track DB, MAVLink by hand, node-mavlink, CoT

Scripts outside pytest put tests/ on sys.path and import harness the same way.
"""
from .agent import Agent, run_agent, start_agent
from .cleanup import Cleanup, end_process, ended, running, stop_all
from .node import KEY, Control, Node, cli_seconds
from .paths import BUILD, CLI, DAEMON, HELPERS, ROOT, TEST_DATA, agent_program, helper_tool, wait_for
from .ports import free_port, free_ports, release_ports


def namespaces(names):
    """harness.netns.namespaces (imported on use: it needs pytest)."""
    from .netns import namespaces as ns
    return ns(names)


__all__ = ["Agent", "BUILD", "CLI", "Cleanup", "Control", "DAEMON", "HELPERS", "KEY", "Node", "ROOT",
           "TEST_DATA", "agent_program", "cli_seconds", "end_process", "ended", "free_port", "free_ports",
           "helper_tool", "namespaces", "release_ports", "run_agent", "running", "start_agent", "stop_all",
           "wait_for"]
