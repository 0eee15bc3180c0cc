"""Network namespaces for tests that need real interfaces (veth pairs, pcap,
multicast, netlink): made for one test and always deleted after it.

    with namespaces(["fr-a-x", "fr-b-x"]) as ns: ...     # names of your own
    def test_x(world): ...                               # the fixture: Netns
        na = world.ns("a"); ab, ba = world.veth(na, "ab", nb, "ba", ...)
        a = world.node(1, na, udp_link("west", ab))

Both skip the test where namespaces cannot be made (not root, no support).
"""
import os
import subprocess
import time
import uuid
from contextlib import contextmanager

import pytest

from .cleanup import stop_all
from .node import KEY, Node, cli_seconds
from .paths import wait_for


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


@contextmanager
def namespaces(names):
    """Network namespaces that exist for the with block and are deleted after
    it, whatever happens; the test is skipped where they cannot be made (not
    root, no netns support)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    made = []
    try:
        for n in names:
            subprocess.run(["ip", "netns", "add", n], check=True, capture_output=True)
            made.append(n)
    except subprocess.CalledProcessError as e:
        for n in made:
            subprocess.run(["ip", "netns", "del", n])
        pytest.skip(f"cannot create network namespaces: {e.stderr.decode().strip()}")
    try:
        yield names
    finally:
        for n in made:
            subprocess.run(["ip", "netns", "del", n])


class Netns:
    """Network namespaces, veth pairs between them and a daemon in each, for
    one test; everything made here goes at close(), even after a failure.
    Names carry the "frp" prefix and a random tag, so parallel runs and other
    tests' namespaces never meet."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.tag = uuid.uuid4().hex[:5]
        self.made = []
        self.nodes = []

    def ns(self, short):
        name = f"frp-{short}-{self.tag}"
        sh("ip", "netns", "add", name)
        self.made.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def veth(self, ns1, label1, ns2, label2, addr1=None, addr2=None):
        """A cable between ns1 and ns2; interfaces without addresses (not
        even IPv6 link-local) unless given.  Returns the two names."""
        if1, if2 = f"frp{label1}{self.tag}", f"frp{label2}{self.tag}"
        sh("ip", "link", "add", if1, "netns", ns1, "type", "veth", "peer", "name", if2, "netns", ns2)
        for n, dev, addr in ((ns1, if1, addr1), (ns2, if2, addr2)):
            if addr:
                sh("ip", "-n", n, "addr", "add", addr, "dev", dev)
            else:
                sh("ip", "-n", n, "link", "set", dev, "addrgenmode", "none")
            sh("ip", "-n", n, "link", "set", dev, "up")
        return if1, if2

    def node(self, node_id, ns, links):
        """A daemon in ns with the network key and the given [link] sections."""
        node = Node(self.tmp, node_id)
        node.netns = ns
        key = node.write_key(KEY)
        node.conf.write_text(node.conf.read_text() + f"[security]\nkey_file = {key}\n" + links)
        self.nodes.append(node)
        return node

    def close(self):
        try:
            stop_all(self.nodes)
        finally:
            for n in self.made:
                subprocess.run(["ip", "netns", "del", n])
            self.made = []

    stop = close


@pytest.fixture
def world(tmp_path):
    """A Netns for the test (import it into the test module to use it)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    w = Netns(tmp_path)
    try:
        try:
            w.ns("probe")
        except subprocess.CalledProcessError as e:
            pytest.skip(f"cannot create network namespaces: {e.stderr.decode().strip()}")
        yield w
    finally:
        w.close()


def link_named(n, name):
    for l in n.cli_json("links")[0]["links"]:
        if l["name"] == name:
            return l
    raise AssertionError(f"no link {name} on node {n.id}")


def neighbour_ids(n):
    return {x["node"] for x in n.cli_json("neighbors")[0]["neighbors"]}


def learned_route(n, dst):
    for r in n.cli_json("routes")[0]["routes"]:
        if r["dst"] == dst and r.get("via") is not None:
            return r
    return None


def udp_link(name, dev):
    return f"[link {name}]\ntype = udp\ninterface = {dev}\ngroup4 = 239.255.45.56\n"


def timed_link_down(node, link, ns, dev):
    """`ip link set down` on dev; seconds until node's link says down, less
    what the polling itself costs (one CLI call, measured just before, and
    wait_for's 0.1 s step), which a busy machine stretches."""
    cli = cli_seconds(node)
    t0 = time.monotonic()
    sh("ip", "-n", ns, "link", "set", dev, "down")
    wait_for(lambda: not link_named(node, link)["up"], 5, f"link {link} of node {node.id} to go down")
    dt = time.monotonic() - t0
    print(f"link {link} marked down {dt * 1000:.0f} ms after `ip link set down` (limit 1000 ms"
          f" + {cli * 1000:.0f} ms for the CLI poll + 100 ms poll step)")
    return dt - cli - 0.1
