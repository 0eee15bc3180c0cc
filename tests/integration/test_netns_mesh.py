"""Two nodes in their own network namespaces over a veth pair: discovery by
IPv4 multicast beacon on the interface, delivery, and `ip link set down`
marking the link down within 1 s (measured), then recovery."""
import os
import subprocess
import time
import uuid

import pytest

from harness import Node, wait_for
from test_mesh import KEY


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture
def pair(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    tag = uuid.uuid4().hex[:6]
    ns = [f"fr-a-{tag}", f"fr-b-{tag}"]
    made = []
    nodes = []
    try:
        for n in ns:
            sh("ip", "netns", "add", n)
            made.append(n)
    except subprocess.CalledProcessError as e:
        for n in made:
            subprocess.run(["ip", "netns", "del", n])
        pytest.skip(f"cannot create network namespaces: {e.stderr.decode().strip()}")
    try:
        sh("ip", "link", "add", f"va{tag}", "netns", ns[0], "type", "veth", "peer", "name", f"vb{tag}", "netns", ns[1])
        for n, dev, addr in ((ns[0], f"va{tag}", "10.77.0.1/24"), (ns[1], f"vb{tag}", "10.77.0.2/24")):
            sh("ip", "-n", n, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", n, "link", "set", dev, "up")
            sh("ip", "-n", n, "link", "set", "lo", "up")
        for i, (n, dev) in enumerate(((ns[0], f"va{tag}"), (ns[1], f"vb{tag}"))):
            node = Node(tmp_path, i + 1)
            node.netns = n
            key = node.dir / "network.key"
            key.write_text(KEY)
            os.chmod(key, 0o600)
            node.conf.write_text(node.conf.read_text() +
                                 f"[security]\nkey_file = {key}\n"
                                 f"[link mesh]\ntype = udp\ninterface = {dev}\ngroup4 = 239.255.45.56\n")
            nodes.append(node)
        yield nodes, ns, tag
    finally:
        for node in nodes:
            if node.proc and node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait()
        for n in made:
            subprocess.run(["ip", "netns", "del", n])


def links(n):
    return n.cli_json("links")[0]["links"][0]


def test_multicast_discovery_delivery_and_fast_link_down(pair):
    (a, b), ns, tag = pair
    a.start()
    b.start()
    wait_for(lambda: links(a)["neighbours"] == 1 and links(b)["neighbours"] == 1, 10,
             "discovery by multicast beacon")
    a.cli("send", "ipn:2.5", "across the veth")
    got = b.cli_json("recv", "-n", "1", "-w", "5", timeout=30)
    assert [g["text"] for g in got] == ["across the veth"]

    t0 = time.monotonic()
    sh("ip", "-n", ns[0], "link", "set", f"va{tag}", "down")
    wait_for(lambda: not links(a)["up"], 5, "A's link to go down")
    dt = time.monotonic() - t0
    print(f"link marked down {dt * 1000:.0f} ms after `ip link set down` (limit 1000 ms)")
    assert dt < 1.0
    assert links(a)["neighbours"] == 0
    a.cli("send", "ipn:2.5", "after the outage")   # held meanwhile
    assert a.status()["store"]["bundles"] == 1

    sh("ip", "-n", ns[0], "link", "set", f"va{tag}", "up")
    wait_for(lambda: links(a)["up"] and links(a)["neighbours"] == 1, 10, "the link to come back")
    got = b.cli_json("recv", "-n", "1", "-w", "5", timeout=30)
    assert [g["text"] for g in got] == ["after the outage"]
