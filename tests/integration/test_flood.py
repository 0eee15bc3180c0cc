"""Flooding of bundles for every node (alerts, positions) and status reports,
with real daemons over UDP links on loopback (issue 4, item 6).

Topologies come from static peers: a node hears only the nodes it lists
and that list it."""

import pytest

from harness import free_ports, stop_all, wait_for
from harness.mesh import mesh_node, neighbours, route

FAST = "[store]\nexpire_interval = 1s\n"


def topology(tmp_path, edges, extra=None):
    """Nodes 1..N on loopback ports, linked by static peers along edges."""
    ids = sorted({n for e in edges for n in e})
    port = dict(zip(ids, free_ports(len(ids))))
    peers = {i: [] for i in ids}
    for x, y in edges:
        peers[x].append(port[y])
        peers[y].append(port[x])
    extra = extra or {}
    return {i: mesh_node(tmp_path, i, port[i], peers[i], FAST + extra.get(i, "")) for i in ids}


@pytest.fixture
def made():
    """Every node a test makes is killed at its end, whatever happened."""
    nodes = []
    yield nodes
    stop_all(nodes)


def start(nodes, made, which=None):
    for i in which or sorted(nodes):
        made.append(nodes[i])
        nodes[i].start()


def take(node, service, n, wait=True):
    args = ["recv", "-n", n] + (["-w"] if wait else []) + [service]
    return node.cli_json(*args, timeout=120)


def nothing_waiting(node, service):
    r = node.cli("recv", service)
    return r.stdout == b"" and b"nothing waiting" in r.stderr


def flood_list(node):
    return node.cli_json("flood")[0]["flood"]


def holders(node, bundle_id):
    for b in flood_list(node):
        if b["id"] == bundle_id:
            return {h["node"]: h["how"] for h in b["holders"]}
    return None


def forwarding(node):
    return node.cli_json("links")[0]["forwarding"]


def send(node, *args):
    return node.cli_json("send", *args)[0]["id"]


def test_alert_floods_a_diamond_once_per_node_and_neighbour(tmp_path, made):
    """(a) A-B, A-C, B-C, B-D, C-D: an alert from A reaches B, C and D exactly
    once each; no node sends it back where it came from or twice to anyone;
    every node ends up knowing that all its neighbours have it."""
    edges = [(1, 2), (1, 3), (2, 3), (2, 4), (3, 4)]
    nodes = topology(tmp_path, edges)
    start(nodes, made)
    adj = {i: {y for x, y in edges if x == i} | {x for x, y in edges if y == i} for i in nodes}
    for i, n in nodes.items():
        wait_for(lambda: neighbours(n) == adj[i], 15, f"node {i} to hear {adj[i]}")

    bid = send(nodes[1], "ipn:0.2", "Evacuate sector B now")
    for i in (2, 3, 4):
        got = take(nodes[i], 2, 1)
        assert [g["text"] for g in got] == ["Evacuate sector B now"]
        assert got[0]["id"] == bid and got[0]["dst"] == "ipn:0.2"
    # Settled: every node knows every neighbour has it.
    for i, n in nodes.items():
        wait_for(lambda: set(holders(n, bid) or {}) == adj[i], 20, f"node {i} to know its neighbours have it")
        wait_for(lambda: n.cli_json("links")[0]["in_flight"] == 0, 20, f"node {i} to have no copy on its way")
    for i in (2, 3, 4):
        assert nothing_waiting(nodes[i], 2), f"node {i} got the alert twice"
        assert "from" in holders(nodes[i], bid).values()
        assert not flood_list(nodes[i])[0]["local"]
    assert nothing_waiting(nodes[1], 2), "the source delivered its own alert"
    assert "from" not in holders(nodes[1], bid).values()

    fw = {i: forwarding(n) for i, n in nodes.items()}
    print({i: (f["flood_sent"], f["duplicates"]) for i, f in fw.items()})
    # At most once per neighbour, never back to where it came from.
    assert fw[1]["flood_sent"] <= len(adj[1])
    for i in (2, 3, 4):
        assert fw[i]["flood_sent"] <= len(adj[i]) - 1
    sent = sum(f["flood_sent"] for f in fw.values())
    assert sent <= 2 * len(edges) - 3
    # Every copy sent was either a node's first (3 of them) or a duplicate its
    # receiver recognised and did not deliver; unless a neighbour flapped and
    # a copy went again, the books balance exactly.
    flapped = any("lost" in n.log_text() for n in nodes.values())
    if not flapped:
        assert sent == 3 + sum(f["duplicates"] for f in fw.values())
    if not flapped:
        assert all(f["flood_handed"] == f["flood_sent"] for f in fw.values())
    for n in nodes.values():
        assert n.stop() == 0, n.log_text()[-3000:]


def test_late_node_gets_the_alert_while_it_lives(tmp_path, made):
    """(b) A-B-C; C is off while A sends two alerts, one living 3 s: C, started
    after that one expired, gets the other; a restart of A sends nothing
    again to B, which has both."""
    nodes = topology(tmp_path, [(1, 2), (2, 3)])
    a, b, c = nodes[1], nodes[2], nodes[3]
    start(nodes, made, [1, 2])
    wait_for(lambda: neighbours(a) == {2}, 15, "A to hear B")
    keep = send(a, "ipn:0.2", "Shelter at the school")
    short = send(a, "-l", "3s", "ipn:0.2", "Road closed for 3 s")
    assert sorted(g["text"] for g in take(b, 2, 2)) == ["Road closed for 3 s", "Shelter at the school"]
    wait_for(lambda: [x["id"] for x in flood_list(b)] == [keep], 30, "the short alert to expire at B")
    assert forwarding(a)["flood_sent"] == 2

    assert a.stop() == 0, a.log_text()[-3000:]
    a.start()
    wait_for(lambda: neighbours(a) == {2}, 15, "A to hear B again")
    # A third alert goes after the first in A's next pass: once B has it, the
    # pass has looked at the first one too, and must not have sent it.
    third = send(a, "ipn:0.3", "position 45.4 14.1")
    assert [g["text"] for g in take(b, 3, 1)] == ["position 45.4 14.1"]
    wait_for(lambda: holders(a, third) == {2: "sent"}, 10, "A to note that B has the position")
    assert forwarding(a)["flood_sent"] == 1, "A sent an alert again that B had committed before the restart"
    assert forwarding(b)["duplicates"] == 0
    assert holders(a, keep) == {2: "sent"}

    made.append(c)
    c.start()
    got = take(c, 2, 1)
    assert [g["text"] for g in got] == ["Shelter at the school"]
    assert [g["text"] for g in take(c, 3, 1)] == ["position 45.4 14.1"]
    wait_for(lambda: set(holders(b, keep)) == {1, 3}, 10, "B to note that C has it")
    assert nothing_waiting(c, 2), "C got an alert after its lifetime"
    assert holders(c, keep) == {2: "from"}


def test_hop_limit_stops_a_flood(tmp_path, made):
    """(c) A-B-C-D, A's bundles with hop limit 2: B and C get the alert, D
    drops it (hop count 3) and tells A why (its report has D's own limit);
    D delivers nothing and floods nothing."""
    nodes = topology(tmp_path, [(1, 2), (2, 3), (3, 4)], {1: "[bundle]\nhop_limit = 2\n"})
    a, b, c, d = (nodes[i] for i in (1, 2, 3, 4))
    start(nodes, made)
    for n, want in ((a, {2}), (b, {1, 3}), (c, {2, 4}), (d, {3})):
        wait_for(lambda: neighbours(n) == want, 15, f"node {n.id} to hear {want}")
    bid = send(a, "--report", "deleted", "ipn:0.2", "Dam breach expected")
    for n in (b, c):
        assert [g["text"] for g in take(n, 2, 1)] == ["Dam breach expected"]
    reps = a.cli_json("reports", "-n", "1", "-w", timeout=60)
    assert len(reps) == 1
    r = reps[0]
    assert r["src"] == "ipn:4.0"
    assert r["status"] == ["deleted"] and r["reason"] == 9 and r["reason_text"] == "hop limit exceeded"
    assert "ipn:1.2 " + " ".join(map(str, (r["subject"]["ctime"], r["subject"]["seq"]))) == bid
    wait_for(lambda: holders(c, bid) == {2: "from", 4: "sent"}, 10, "C to note that D is done with it")
    assert "over its hop limit" in d.log_text()
    assert nothing_waiting(d, 2)
    assert flood_list(d) == []
    assert forwarding(d)["flood_sent"] == 0
    for n in nodes.values():
        assert n.stop() == 0, n.log_text()[-3000:]


def test_status_reports_forwarded_delivered_deleted(tmp_path, made):
    """(d) A-B-C: a bundle A->C asking for forwarded and delivered reports;
    A hears from B (forwarded), from itself (forwarded: A forwards too) and
    from C (delivered, once C's application took it).  A bundle for an
    unreachable node, held by B, expires there: B reports it deleted."""
    nodes = topology(tmp_path, [(1, 2), (2, 3)], {1: "[route]\nstatic = 9 via 2\n"})
    a, b, c = nodes[1], nodes[2], nodes[3]
    start(nodes, made)
    wait_for(lambda: route(a, 3), 15, "A to learn a route to C")
    bid = send(a, "--report", "delivered,forwarded,time", "ipn:3.5", "status of sector C?")
    reps = a.cli_json("reports", "-n", "2", "-w", timeout=60)
    assert sorted(r["src"] for r in reps) == ["ipn:1.0", "ipn:2.0"]
    for r in reps:
        assert r["status"] == ["forwarded"] and r["reason"] == 0
        assert "forwarded" in r["times"]
        assert f'{r["subject"]["src"]} {r["subject"]["ctime"]} {r["subject"]["seq"]}' == bid
    assert a.cli("reports").stdout == b"", "a delivered report before the application took the bundle"
    assert [g["text"] for g in take(c, 5, 1)] == ["status of sector C?"]
    reps = a.cli_json("reports", "-n", "1", "-w", timeout=60)
    assert [(r["src"], r["status"]) for r in reps] == [("ipn:3.0", ["delivered"])]
    assert f'{reps[0]["subject"]["src"]} {reps[0]["subject"]["ctime"]} {reps[0]["subject"]["seq"]}' == bid
    assert "status report from ipn:3.0" in a.log_text()

    lost = send(a, "--report", "deleted", "-l", "3s", "ipn:9.5", "to nobody")
    wait_for(lambda: b.status()["store"]["bundles"] == 1, 10, "B to hold the bundle for ipn:9")
    reps = a.cli_json("reports", "-n", "1", "-w", timeout=60)
    assert [(r["src"], r["status"], r["reason_text"]) for r in reps] == \
        [("ipn:2.0", ["deleted"], "lifetime expired")]
    assert f'{reps[0]["subject"]["src"]} {reps[0]["subject"]["ctime"]} {reps[0]["subject"]["seq"]}' == lost
    wait_for(lambda: b.status()["store"]["bundles"] == 0, 10, "B to let go of the expired bundle")
    # Reports asked for nothing themselves: none about the reports came back.
    assert a.cli("reports").stdout == b""
    for n in nodes.values():
        assert n.stop() == 0, n.log_text()[-3000:]


def test_every_node_only_for_broadcast_services_and_listing_bounded(tmp_path, made):
    """ipn:0.SERVICE is refused for services other than alert and position,
    and a bad report name is a usage error; `flood` lists at most 100 of the
    bundles kept here and says how many there are."""
    nodes = topology(tmp_path, [(1, 2)])
    a = nodes[1]
    start(nodes, made, [1])
    r = a.cli("send", "ipn:0.5", "a message for everyone", check=False)
    assert r.returncode == 1 and b"only the alert (2) and position (3) services" in r.stderr
    r = a.cli("send", "--report", "custody", "ipn:2.5", "x", check=False)
    assert r.returncode == 2 and b"'custody' is not a status report" in r.stderr
    lines = "".join(f"position {i}\n" for i in range(150)).encode()
    r = a.cli("send", "--batch", "ipn:0.3", input=lines, timeout=60)
    assert r.stdout.count(b"accepted") == 150
    listing = a.cli_json("flood")[0]
    assert listing["total"] == 150 and len(listing["flood"]) == 100
    assert all(b["dst"] == "ipn:0.3" and b["class"] == "position" and b["holders"] == [] and not b["local"]
               for b in listing["flood"])
    assert b"(50 more not shown)" in a.cli("flood").stdout
    assert a.stop() == 0, a.log_text()[-3000:]


def test_new_alert_does_not_walk_what_was_flooded(tmp_path, made):
    """A node keeping hundreds of flooded positions offers a new alert without
    looking at them again (only a new neighbour needs a full walk); and a
    late neighbour still gets all of them."""
    nodes = topology(tmp_path, [(1, 2), (2, 3)])
    a, b, c = nodes[1], nodes[2], nodes[3]
    start(nodes, made, [1, 2])
    wait_for(lambda: neighbours(a) == {2}, 15, "A to hear B")
    lines = "".join(f"unit 7 at {i}\n" for i in range(300)).encode()
    assert a.cli("send", "--batch", "ipn:0.3", input=lines, timeout=60).stdout.count(b"accepted") == 300
    wait_for(lambda: b.status()["store"]["bundles"] == 300, 60, "B to have the 300 positions")
    wait_for(lambda: forwarding(a)["flood_handed"] == 300 and a.cli_json("links")[0]["in_flight"] == 0, 30,
             "A to note them all")
    before = forwarding(a)["flood_scanned"]
    send(a, "ipn:0.2", "Bridge down")
    assert [g["text"] for g in take(b, 2, 1)] == ["Bridge down"]
    wait_for(lambda: forwarding(a)["flood_handed"] == 301, 10, "A to note the alert")
    scanned = forwarding(a)["flood_scanned"] - before
    print(f"the pass for one new alert looked at {scanned} flood bundles of 301")
    assert 1 <= scanned <= 10
    made.append(c)
    c.start()
    wait_for(lambda: c.status()["store"]["bundles"] == 301, 60, "C, late, to get all 301")
    assert len(take(c, 3, 300)) == 300
