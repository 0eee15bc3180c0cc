"""The harness's pytest fixtures; tests/integration/conftest.py loads them
all, so every integration test can ask for them by name.

    def test_x(nodes, agents):
        a = nodes(1, "[link ...]\\n")            # a started Node
        b = nodes(2, start=False)               # made, not started
        echo = agents("echo", a)                # fieldrelay-echo -c a.conf
    def test_y(cleanup):
        emu = cleanup.add(LinkEmu(...))         # stopped at the end
        cleanup.enter(namespaces([...]))

Whatever a test made through them is stopped (and its namespaces deleted)
when it ends, passed or failed, last first.
"""
import pytest

from .agent import Agent
from .cleanup import Cleanup
from .node import Node
from .ports import release_ports


@pytest.fixture(autouse=True)
def _release_ports():
    """The ports a test took (harness.free_ports) are reserved until it ends."""
    yield
    release_ports()


@pytest.fixture
def cleanup():
    """A Cleanup: what is added to it is stopped at the end of the test."""
    with Cleanup() as c:
        yield c


@pytest.fixture
def nodes(tmp_path, cleanup):
    """Factory for daemons; every one made is stopped at the end of the test."""
    def make(node_id=1, extra="", start=True, **kw):
        n = cleanup.add(Node(tmp_path, node_id, extra, **kw))
        return n.start() if start else n
    return make


@pytest.fixture
def agents(cleanup):
    """Factory for agents: agents(name, node_or_config, **Agent options); every
    one started is stopped at the end of the test (and fails it if it had
    exited on its own with an error)."""
    def make(name, where, **kw):
        if isinstance(where, Node):
            kw.setdefault("netns", where.netns)
            kw.setdefault("log", where.dir / f"{name}.log")
            where = where.conf
        start = kw.pop("start", True)
        ready = kw.pop("ready", None)
        timeout = kw.pop("timeout", 30.0)
        a = cleanup.add(Agent(name, where, start=False, **kw))
        return a.start(ready=ready, timeout=timeout) if start else a
    return make
