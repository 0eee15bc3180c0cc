"""The raw Ethernet (pcap) link between network namespaces, over veth
interfaces that have no IP address at all: discovery by broadcast beacon,
bundles both ways (one of 1 MB), malformed Ethernet frames dropped and
counted, `ip link set down` marking the link down within 1 s (measured), an
interface that is down when the daemon starts, and a line mixing a pcap hop
with a UDP hop."""
import hashlib
import json
import os
import subprocess

from harness import wait_for
from harness.netns import (link_named, learned_route, neighbour_ids, sh, timed_link_down, udp_link,
                           world)  # noqa: F401 (world is a fixture)

ETHERTYPE = 0x88b5


def pcap_link(name, dev, extra=""):
    return f"[link {name}]\ntype = pcap\ninterface = {dev}\n{extra}"


def iface(ns, dev):
    return json.loads(subprocess.run(["ip", "-n", ns, "-j", "addr", "show", "dev", dev], check=True,
                                     capture_output=True, text=True).stdout)[0]


def inject(ns, dev, frames):
    """Put raw Ethernet frames on dev from inside ns (an AF_PACKET socket)."""
    script = ("import socket, sys\n"
              "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
              "s.bind((sys.argv[1], 0))\n"
              "for h in sys.argv[2:]:\n"
              "    s.send(bytes.fromhex(h))\n")
    sh("ip", "netns", "exec", ns, "/usr/bin/python3", "-c", script, dev, *(f.hex() for f in frames))


def mac(text):
    return bytes.fromhex(text.replace(":", ""))


def pair(world, extra=""):
    na, nb = world.ns("a"), world.ns("b")
    ea, eb = world.veth(na, "ea", nb, "eb")
    a = world.node(1, na, pcap_link("raw", ea, extra))
    b = world.node(2, nb, pcap_link("raw", eb, extra))
    return (a, b), (na, nb), (ea, eb)


def test_two_nodes_without_ip_discovery_bundles_and_fast_link_down(world, tmp_path):
    (a, b), (na, nb), (ea, eb) = pair(world)
    for ns, dev in ((na, ea), (nb, eb)):
        assert iface(ns, dev)["addr_info"] == [], f"{dev} must have no address, not even link-local"
    a.start()
    b.start()
    wait_for(lambda: neighbour_ids(a) == {2} and neighbour_ids(b) == {1}, 10, "discovery by broadcast beacon")
    assert link_named(a, "raw")["kind"] == "pcap"
    # The neighbour's address is the MAC of its interface.
    nbr = b.cli_json("neighbors")[0]["neighbors"][0]
    assert nbr["addr"] == iface(na, ea)["address"]

    a.cli("send", "ipn:2.5", "A to B over raw Ethernet")
    b.cli("send", "ipn:1.5", "B to A over raw Ethernet")
    assert [d["text"] for d in b.cli_json("recv", "-n", "1", "-w", "5", timeout=60)] == ["A to B over raw Ethernet"]
    assert [d["text"] for d in a.cli_json("recv", "-n", "1", "-w", "5", timeout=60)] == ["B to A over raw Ethernet"]

    # 1 MB each way: some 700 frames per bundle, in a window, acked and committed.
    for src, dst, name in ((a, b, "a-to-b"), (b, a, "b-to-a")):
        blob = os.urandom(1 << 20)
        f = tmp_path / f"{name}.bin"
        f.write_bytes(blob)
        src.cli("send", "-f", f, f"ipn:{dst.id}.8", timeout=120)
        r = dst.cli("recv", "--raw", "-n", "1", "-w", "8", timeout=120)
        assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(blob).hexdigest()
    wait_for(lambda: a.status()["store"]["bundles"] == 0 and b.status()["store"]["bundles"] == 0, 10,
             "both to let go of what the other committed")

    t = timed_link_down(a, "raw", na, ea)
    assert t < 1.0
    assert link_named(a, "raw")["neighbours"] == 0
    a.cli("send", "ipn:2.5", "after the outage")       # held meanwhile
    assert a.status()["store"]["bundles"] == 1
    sh("ip", "-n", na, "link", "set", ea, "up")
    wait_for(lambda: link_named(a, "raw")["up"] and link_named(a, "raw")["neighbours"] == 1, 10,
             "the link to come back")
    assert [d["text"] for d in b.cli_json("recv", "-n", "1", "-w", "5", timeout=60)] == ["after the outage"]


def test_malformed_ethernet_frames_are_dropped_and_counted(world):
    (a, b), (na, nb), (ea, eb) = pair(world)
    a.start()
    b.start()
    wait_for(lambda: neighbour_ids(b) == {1}, 10, "discovery")
    src, dst = mac(iface(na, ea)["address"]), mac(iface(nb, eb)["address"])
    ours = ETHERTYPE.to_bytes(2, "big")
    before = link_named(b, "raw")["dropped"]
    short = [dst + src + ours, dst + src + ours + b"\x01",          # no room for the length field
             dst + src + ours + (500).to_bytes(2, "big") + b"x" * 40,  # claims more than it carries
             dst + src + ours + b"\xff\xff"]
    # Whole link frames that frame_open() refuses: bad version, unknown type, bad tag.
    bodies = [b"\x7f" + os.urandom(59), b"\x01\x63\x01\x00" + os.urandom(56),
              b"\x01\x01\x01\x00\x01\x05\x07" + os.urandom(53)]
    garbage = [dst + src + ours + len(x).to_bytes(2, "big") + x for x in bodies]
    foreign = [dst + src + (0x88b6).to_bytes(2, "big") + (10).to_bytes(2, "big") + b"not for us"]
    inject(na, ea, short + garbage + foreign)

    def counted():
        d = link_named(b, "raw")["dropped"]
        trunc = d["truncated"] - before["truncated"]
        other = sum(d.values()) - sum(before.values()) - trunc
        return (trunc, other) if trunc >= len(short) and other >= len(garbage) else None

    trunc, other = wait_for(counted, 10, "the malformed frames to be counted")
    assert trunc == len(short) and other == len(garbage)    # the foreign EtherType is not ours to count
    assert b.proc.poll() is None
    a.cli("send", "ipn:2.5", "still working")
    assert [d["text"] for d in b.cli_json("recv", "-n", "1", "-w", "5", timeout=60)] == ["still working"]


def test_interface_down_when_the_daemon_starts(world):
    """The radio comes up after the daemon: capturing starts when it does."""
    (a, b), (na, nb), (ea, eb) = pair(world)
    sh("ip", "-n", na, "link", "set", ea, "down")
    a.start()
    b.start()
    assert not link_named(a, "raw")["up"]
    a.cli("send", "ipn:2.5", "sent before the radio was up")
    sh("ip", "-n", na, "link", "set", ea, "up")
    wait_for(lambda: neighbour_ids(a) == {2} and neighbour_ids(b) == {1}, 10, "discovery once it is up")
    assert [d["text"] for d in b.cli_json("recv", "-n", "1", "-w", "5", timeout=60)] == [
        "sent before the radio was up"]
    assert "capturing starts when it comes up" in a.log_text()


def test_mixed_line_pcap_then_udp(world):
    """A -pcap- B -udp- C: A's bundles reach C through B on learned routes."""
    na, nb, nc = world.ns("a"), world.ns("b"), world.ns("c")
    ab, ba = world.veth(na, "ab", nb, "ba")
    bc, cb = world.veth(nb, "bc", nc, "cb", "10.79.2.2/24", "10.79.2.3/24")
    a = world.node(1, na, pcap_link("raw", ab))
    b = world.node(2, nb, pcap_link("raw", ba) + udp_link("ip", bc))
    c = world.node(3, nc, udp_link("ip", cb))
    for n in (a, b, c):
        n.start()
    wait_for(lambda: learned_route(a, 3) and learned_route(c, 1), 15, "routes across B")
    assert learned_route(a, 3)["via"] == 2 and learned_route(a, 3)["link"] == "raw"
    for i in range(10):
        a.cli("send", "ipn:3.5", f"raw then udp {i}")
    c.cli("send", "ipn:1.5", "udp then raw")
    got = [d["text"] for d in c.cli_json("recv", "-n", "10", "-w", "5", timeout=60)]
    assert sorted(got) == sorted(f"raw then udp {i}" for i in range(10))
    assert [d["text"] for d in a.cli_json("recv", "-n", "1", "-w", "5", timeout=60)] == ["udp then raw"]
