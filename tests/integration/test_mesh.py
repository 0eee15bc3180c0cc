"""Several fieldrelayd nodes over UDP links on loopback: discovery, multi-hop
delivery through the distance-vector routes, waiting for a route, a cut link."""
import os
import random

import pytest

from harness import Node, wait_for

KEY = "1 " + "5a" * 32 + " send\n"


def mesh_node(tmp_path, node_id, port, peers, extra=""):
    n = Node(tmp_path, node_id)
    key = n.dir / "network.key"
    key.write_text(KEY)
    os.chmod(key, 0o600)
    peer_lines = "".join(f"peer = 127.0.0.1:{p}\n" for p in peers)
    n.conf.write_text(n.conf.read_text() +
                      f"[security]\nkey_file = {key}\n"
                      f"[link mesh]\ntype = udp\nport = {port}\n{peer_lines}{extra}")
    return n


@pytest.fixture
def line(tmp_path):
    """A - B - C on loopback ports, each only knowing its neighbours."""
    base = random.randint(20000, 50000)
    ports = [base, base + 1, base + 2]
    a = mesh_node(tmp_path, 1, ports[0], [ports[1]])
    b = mesh_node(tmp_path, 2, ports[1], [ports[0], ports[2]])
    c = mesh_node(tmp_path, 3, ports[2], [ports[1]])
    yield a, b, c
    for n in (a, b, c):
        if n.proc and n.proc.poll() is None:
            n.proc.kill()
            n.proc.wait()


def neighbours(n):
    return {x["node"] for x in n.cli_json("neighbors")[0]["neighbors"]}


def route(n, dst):
    for r in n.cli_json("routes")[0]["routes"]:
        if r["dst"] == dst and r.get("via") is not None:
            return r
    return None


def test_multi_hop_delivery_over_learned_routes(line):
    a, b, c = line
    for n in line:
        n.start()
    wait_for(lambda: neighbours(b) == {1, 3}, 10, "B to hear A and C")
    wait_for(lambda: route(a, 3), 15, "A to learn a route to C")
    r = route(a, 3)
    assert r["via"] == 2 and r["kind"] == "learned"
    for i in range(50):
        a.cli("send", "ipn:3.5", f"over two hops {i}")
    got = [d["text"] for d in c.cli_json("recv", "-n", "50", "-w", "5", timeout=60)]
    assert sorted(got) == sorted(f"over two hops {i}" for i in range(50))
    wait_for(lambda: a.status()["store"]["bundles"] == 0, 10, "A to let go once B committed")
    wait_for(lambda: b.status()["store"]["bundles"] == 0, 10, "B to let go once C committed")
    links = a.cli_json("links")[0]["links"]
    assert links[0]["up"] and links[0]["neighbours"] == 1
    assert sum(links[0]["dropped"].values()) == 0


def test_no_route_waits_then_delivers(line):
    a, b, c = line
    a.start()
    a.cli("send", "ipn:3.5", "waiting for a path")
    assert a.status()["store"]["bundles"] == 1
    assert route(a, 3) is None
    b.start()
    c.start()
    got = c.cli_json("recv", "-n", "1", "-w", "5", timeout=60)
    assert [d["text"] for d in got] == ["waiting for a path"]


def test_wrong_key_frames_are_dropped_and_counted(tmp_path, line):
    a, b, c = line
    a.start()
    # An intruder with another key, aimed at A's port.
    port = int([l for l in a.conf.read_text().splitlines() if l.startswith("port")][0].split("=")[1])
    x = mesh_node(tmp_path, 9, port + 10, [port])
    (x.dir / "network.key").write_text("1 " + "77" * 32 + " send\n")
    x.start()
    wait_for(lambda: a.cli_json("links")[0]["links"][0]["dropped"]["bad tag"] >= 2, 10,
             "A to drop the intruder's beacons")
    assert 9 not in neighbours(a)
    x.stop()
