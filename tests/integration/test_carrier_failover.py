"""Issue 5 test (d), carrier side: two nodes in their own network namespaces
joined by two veth cables, a mesh link and a slower radio-like link that
carries only urgent, position and message classes.  `ip link set down` on the
mesh interface: urgent traffic continues over the other link within 1 s of the
carrier loss (DESIGN.md section 5), measured from the command to delivery."""
import subprocess
import time
import uuid

import pytest

from harness import KEY, Node, cli_seconds, namespaces, stop_all, wait_for
from harness.mesh import links_by_name as links, recv_texts as recv


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture
def pair(tmp_path):
    tag = uuid.uuid4().hex[:6]
    ns = [f"fd-fa-{tag}", f"fd-fb-{tag}"]
    nodes = []
    with namespaces(ns):
        try:
            for cable, net in (("m", "10.79.1"), ("r", "10.79.2")):
                sh("ip", "link", "add", f"fd{cable}a{tag}", "netns", ns[0], "type", "veth",
                   "peer", "name", f"fd{cable}b{tag}", "netns", ns[1])
                for i, n in enumerate(ns):
                    dev = f"fd{cable}{'ab'[i]}{tag}"
                    sh("ip", "-n", n, "addr", "add", f"{net}.{i + 1}/24", "dev", dev)
                    sh("ip", "-n", n, "link", "set", dev, "up")
            for i, n in enumerate(ns):
                sh("ip", "-n", n, "link", "set", "lo", "up")
                me, peer = "ab"[i], 2 - i
                node = Node(tmp_path, i + 1)
                node.netns = n
                key = node.write_key(KEY)
                node.conf.write_text(node.conf.read_text() +
                                     f"[security]\nkey_file = {key}\n"
                                     f"[link mesh]\ntype = udp\ninterface = fdm{me}{tag}\nport = 4556\n"
                                     f"peer = 10.79.1.{peer}:4556\n"
                                     f"[link radio]\ntype = udp\ninterface = fdr{me}{tag}\nport = 4557\n"
                                     f"peer = 10.79.2.{peer}:4557\nrate = 9600\n"
                                     f"classes = urgent,position,message\n")
                nodes.append(node)
            yield nodes, ns, tag
        finally:
            stop_all(nodes)


def test_carrier_loss_urgent_takes_the_other_link_within_1s(pair):
    (a, b), ns, tag = pair
    a.start()
    b.start()
    wait_for(lambda: all(links(n)[k]["neighbours"] == 1 for n in (a, b) for k in ("mesh", "radio")), 20,
             "A and B to hear each other on both links")
    seg0 = links(a)["radio"]["segments"]
    a.cli("send", "-p", "urgent", "ipn:2.5", "alert-mesh")
    assert recv(b, 5, 1, 30) == ["alert-mesh"]
    assert links(a)["radio"]["segments"] == seg0, "urgent traffic took the dearer link with the mesh up"

    cli = cli_seconds(a)
    t0 = time.monotonic()
    sh("ip", "-n", ns[0], "link", "set", f"fdma{tag}", "down")
    a.cli("send", "-p", "urgent", "ipn:2.5", "alert-radio")
    got = recv(b, 5, 1, 30)
    took = time.monotonic() - t0
    ls = links(a)
    print(f"urgent bundle delivered over the radio link {took * 1000:.0f} ms after `ip link set down` "
          f"on the mesh (limit 1000 ms)")
    assert got == ["alert-radio"]
    # Within 1 s, plus the two CLI calls (send, recv) the test itself spends,
    # measured just before (cli): the tooling's share, which load stretches.
    assert took < 1.0 + 2 * cli, (took, cli)
    assert not ls["mesh"]["up"] and ls["mesh"]["neighbours"] == 0
    assert ls["radio"]["segments"] > seg0

    sh("ip", "-n", ns[0], "link", "set", f"fdma{tag}", "up")
    wait_for(lambda: links(a)["mesh"]["neighbours"] == 1, 15, "the mesh to come back")
    seg1 = links(a)["radio"]["segments"]
    a.cli("send", "-p", "urgent", "ipn:2.5", "alert-back")
    assert recv(b, 5, 1, 30) == ["alert-back"]
    assert links(a)["radio"]["segments"] == seg1, "urgent traffic stayed on the dearer link"
    wait_for(lambda: a.status()["store"]["bundles"] == 0, 30, "A to let go once B committed")
    assert b.cli_json("recv", "5") == [], "an alert arrived twice"
    assert a.stop() == 0 and b.stop() == 0, "unclean exit (a sanitizer report?)"
