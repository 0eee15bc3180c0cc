"""The application API (relay/ctl/PROTOCOL.md) against real daemons: hello and
the protocol version, pipelined sends answered with durable ids, durable
registrations (two subscribers each get every bundle; a subscriber away and
back, across a restart; removal), the event stream, live frames between two
nodes, bad requests; and the echo agent with fieldrelay ping over it."""
import json
import struct
import subprocess

import pytest

from harness import BUILD, Control, Node, free_ports, wait_for
from harness.mesh import mesh_node, neighbours

PING = BUILD / "fieldrelay-ping"
ECHO = BUILD / "fieldrelay-echo"


@pytest.fixture
def node(nodes):
    return nodes(1)


def pair(tmp_path, cleanup, extra2=""):
    """Nodes 1 and 2 joined by a UDP link "mesh" on loopback (not started)."""
    p1, p2 = free_ports(2)
    return (cleanup.add(mesh_node(tmp_path, 1, p1, [p2])),
            cleanup.add(mesh_node(tmp_path, 2, p2, [p1], extra2)))


def call(c, req):
    c.send(req)
    return c.recv()


def send_bundles(n, dst, payloads):
    c = Control(n)
    for i, p in enumerate(payloads):
        c.send({"op": "send", "dst": dst, "tag": i}, p)
    answers = [c.recv() for _ in payloads]
    c.close()
    assert [a["tag"] for a in answers] == list(range(len(payloads)))
    assert all(a["ok"] for a in answers), answers
    return [a["id"] for a in answers]


def stream(n, service, name=None, count=0, ack=True):
    """A recv stream to its end: the bundles as (id, payload).  Without ack, the
    first count bundles, then the client hangs up (the stream ends only when
    what it wanted is acked)."""
    c = Control(n)
    req = {"op": "recv", "service": service, "count": count}
    if name:
        req["name"] = name
    c.send(req)
    got = []
    while ack or len(got) < count:
        m = c.recv()
        if m.get("event") == "end":
            break
        assert m.get("event") == "bundle", m
        got.append((m["id"], m["payload"]))
        if ack:
            c.send({"op": "ack", "rowid": m["rowid"]})
    c.close()
    return got


def registrations(n):
    c = Control(n)
    r = call(c, {"op": "registrations"})
    c.close()
    assert r["ok"], r
    return {(x["service"], x["name"]): x["pending"] for x in r["registrations"]}


def test_hello_and_protocol_version(node):
    c = Control(node)
    h = call(c, {"op": "hello", "protocol": 1, "agent": "test-agent", "tag": "h"})
    assert h["ok"] and h["protocol"] == 1 and h["node"] == 1 and h["tag"] == "h", h
    assert h["version"] and h["name"] == "test1"
    newer = call(c, {"op": "hello", "protocol": 99})
    assert newer["ok"] is False and newer["code"] == "protocol" and newer["protocol"] == 1, newer
    bad = call(c, {"op": "hello", "agent": 7})
    assert bad["ok"] is False and bad["code"] == "bad-request"
    c.close()
    assert "test-agent connected (protocol 1)" in node.log_text()


def test_pipelined_sends_have_durable_ids(node):
    """500 sends in one write: answers in order, ids unique, and all of it survives a kill -9
    right after the last answer (an answer means durable)."""
    n = 500
    c = Control(node)
    c.raw(b"".join(_frame({"op": "send", "dst": "ipn:2.5", "tag": i}, b"x" * 100) for i in range(n)))
    answers = [c.recv() for _ in range(n)]
    assert [a["tag"] for a in answers] == list(range(n))
    ids = [a["id"] for a in answers]
    assert all(a["ok"] for a in answers) and len(set(ids)) == n
    node.kill9()
    node.start()
    assert node.status()["store"]["bundles"] == n


def _frame(obj, body=b""):
    if body:
        obj = dict(obj, body=len(body))
    data = json.dumps(obj).encode()
    return struct.pack(">I", len(data)) + data + body


def test_two_subscribers_each_get_every_bundle(node):
    c = Control(node)
    a = call(c, {"op": "register", "service": 70, "name": "dashboard-a", "tag": 1})
    b = call(c, {"op": "register", "service": 70, "name": "dashboard-b", "tag": 2})
    assert a["ok"] and b["ok"] and a["id"] != b["id"], (a, b)
    again = call(c, {"op": "register", "service": 70, "name": "dashboard-a"})
    assert again["id"] == a["id"]
    c.close()
    ids = send_bundles(node, "ipn:1.70", [b"report %d" % i for i in range(5)])
    got_a = stream(node, 70, "dashboard-a", count=5)
    assert [i for i, _ in got_a] == ids
    assert [p for _, p in got_a] == [b"report %d" % i for i in range(5)]
    # a has them all; b still waits for every one, so they are still stored
    assert registrations(node) == {(70, "dashboard-a"): 0, (70, "dashboard-b"): 5}
    assert node.status()["store"]["bundles"] == 5
    got_b = stream(node, 70, "dashboard-b", count=5)
    assert got_b == got_a
    assert node.status()["store"]["bundles"] == 0
    # Without a name, a service that has registrations is refused (its bundles wait for them).
    c = Control(node)
    r = call(c, {"op": "recv", "service": 70})
    assert r["ok"] is False and r["code"] == "bad-request" and "registration" in r["error"], r
    c.close()


def test_subscriber_away_and_back_across_restart(node):
    c = Control(node)
    assert call(c, {"op": "register", "service": 71, "name": "logger"})["ok"]
    c.close()
    ids = send_bundles(node, "ipn:1.71", [b"a", b"b", b"c"])
    got = stream(node, 71, "logger", count=1)          # takes one, then goes away
    assert [i for i, _ in got] == ids[:1]
    assert node.stop() == 0                              # the daemon restarts meanwhile
    node.start()
    ids += send_bundles(node, "ipn:1.71", [b"d"])
    assert registrations(node) == {(71, "logger"): 3}
    got = stream(node, 71, "logger", count=3)
    assert [p for _, p in got] == [b"b", b"c", b"d"]
    # Not acked: it comes again (at least once).
    ids2 = send_bundles(node, "ipn:1.71", [b"e"])
    assert [i for i, _ in stream(node, 71, "logger", count=1, ack=False)] == ids2
    assert [i for i, _ in stream(node, 71, "logger", count=1)] == ids2


def test_unregister_takes_what_only_it_waited_for(node):
    c = Control(node)
    assert call(c, {"op": "register", "service": 72, "name": "a"})["ok"]
    assert call(c, {"op": "register", "service": 72, "name": "b"})["ok"]
    c.close()
    send_bundles(node, "ipn:1.72", [b"1", b"2"])
    assert len(stream(node, 72, "a", count=1)) == 1      # a has the first
    c = Control(node)
    r = call(c, {"op": "unregister", "service": 72, "name": "b", "tag": "u"})
    assert r["ok"] and r["tag"] == "u", r
    assert node.status()["store"]["bundles"] == 1        # the second: a still waits for it
    r = call(c, {"op": "unregister", "service": 72, "name": "b"})
    assert r["ok"] is False and r["code"] == "not-found", r
    c.close()
    assert registrations(node) == {(72, "a"): 1}


def test_bad_requests(node):
    c = Control(node)
    cases = [
        ({"op": "recv", "service": 5, "name": "x" * 65}, "bad-request"),
        ({"op": "recv", "service": 5, "name": 3}, "bad-request"),
        ({"op": "register", "service": 5}, "bad-request"),
        ({"op": "register", "service": -1, "name": "a"}, "bad-request"),
        ({"op": "unregister", "name": "a"}, "bad-request"),
        ({"op": "watch", "events": "yes"}, "bad-request"),
        ({"op": "watch", "events": False, "live": False}, "bad-request"),
        ({"op": "no-such-op"}, "bad-request"),
    ]
    for i, (req, code) in enumerate(cases):
        r = call(c, dict(req, tag=i))
        assert r["ok"] is False and r["code"] == code and r["tag"] == i, (req, r)
    c.send({"op": "live", "node": 2, "tag": "big"}, b"v" * 1276)
    r = c.recv()
    assert r["ok"] is False and r["code"] == "too-big" and r["tag"] == "big", r
    c.send({"op": "live", "seq": -1, "tag": "neg"}, b"v")
    r = c.recv()
    assert r["ok"] is False and r["code"] == "bad-request", r
    c.send({"op": "live", "node": 9, "tag": "nobody"}, b"v")
    r = c.recv()
    assert r["ok"] is False and r["code"] == "unreachable", r
    # One stream per connection.
    assert call(c, {"op": "watch"})["ok"]
    m = c.recv()
    while m.get("event") in ("link", "neighbour", "store"):
        if m.get("event") == "store":
            break
        m = c.recv()
    r = call(c, {"op": "recv", "service": 5, "tag": "second"})
    while r.get("event"):
        r = c.recv()
    assert r["ok"] is False and r["code"] == "bad-request" and "already" in r["error"], r
    c.close()
    assert node.proc.poll() is None


def test_events_and_live_frames(tmp_path, cleanup):
    n1, n2 = pair(tmp_path, cleanup)
    n1.start()
    w = Control(n1)
    assert call(w, {"op": "watch", "events": True})["ok"]
    first = [w.recv() for _ in range(2)]
    link = next(e for e in first if e["event"] == "link")
    assert link["link"] == "mesh" and "rate_bps" in link and "mtu" in link, link
    assert any(e["event"] == "store" for e in first), first

    n2.start()
    live = Control(n2)
    assert call(live, {"op": "watch", "events": False, "live": True})["ok"]
    live2 = Control(n2)                                   # two watchers: each hears each frame
    assert call(live2, {"op": "watch", "events": False, "live": True})["ok"]

    def heard():
        e = w.recv()
        return e if e.get("event") == "neighbour" and e["node"] == 2 and e["up"] else None
    ev = wait_for(heard, 30, "a neighbour event for node 2")
    assert ev["link"] == "mesh"

    s = Control(n1)
    frame = bytes(range(80))
    r = call_body(s, {"op": "live", "node": 2, "group": 4, "spurt": 7, "seq": 1, "tag": "v"}, frame)
    assert r["ok"] and r["links"] == 1 and r["tag"] == "v", r
    for c in (live, live2):
        f = c.recv()
        assert f["event"] == "live" and f["link"] == "mesh" and f["from"] == 1, f
        assert (f["group"], f["spurt"], f["seq"]) == (4, 7, 1)
        assert f["payload"] == frame
    # To every neighbour, untagged: not answered when it goes (a voice stream is 50 frames/s).
    s.send({"op": "live", "node": 0, "group": 4, "spurt": 7, "seq": 2}, b"\x01" * 20)
    f = live.recv()
    assert f["seq"] == 2 and f["payload"] == b"\x01" * 20
    assert n1.cli_json("links")[0]["links"][0]["voice_tx"] == 2
    # Live frames are never stored.
    assert n1.status()["store"]["bundles"] == 0 and n2.status()["store"]["bundles"] == 0

    # The store's use comes as an event when it changes.
    send_bundles(n1, "ipn:1.5", [b"x" * 300])

    def store_event():
        e = w.recv()
        return e if e.get("event") == "store" and e["bundles"] == 1 else None
    wait_for(store_event, 10, "a store event with the new bundle")
    for c in (w, live, live2, s):
        c.close()


def call_body(c, req, body):
    c.send(req, body)
    return c.recv()


def echo_ready(agent):
    return "answering on" in agent.log_text()


def ping(node, *args, timeout=60):
    return subprocess.run([str(PING), "--socket", str(node.sock), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def test_echo_agent_and_ping(tmp_path, cleanup, agents):
    n1, n2 = pair(tmp_path, cleanup, extra2="[echo]\nservice = 9\nname = echo\n")
    n1.start()
    n2.start()
    assert subprocess.run([str(BUILD / "fieldrelayd"), "-n", "-c", str(n2.conf)]).returncode == 0
    wait_for(lambda: 2 in neighbours(n1), 30, "node 2 as a neighbour")
    echo = agents("echo", n2, args=["-v"], ready=echo_ready)
    r = ping(n1, "-c", 3, "-s", 200, "-p", "urgent", "-i", 0.2, "ipn:2")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if "bytes from ipn:2.9" in l]
    assert len(lines) == 3 and all(l.startswith("200 bytes") for l in lines), r.stdout
    assert "3 bundles sent, 3 echoed, 0% without echo" in r.stdout
    assert "rtt min/avg/max/mdev" in r.stdout

    # The responder away: pings wait in node 2's store for its registration, and are answered
    # when it is back.
    echo.stop()
    r = ping(n1, "-c", 2, "-i", 0, "-W", 1, "--json", "ipn:2")
    assert r.returncode == 1, r.stdout + r.stderr
    assert '"received":0' in r.stdout
    wait_for(lambda: registrations(n2).get((9, "echo")) == 2, 20, "the pings to wait for echo")
    echo.start(ready=echo_ready)
    wait_for(lambda: registrations(n2).get((9, "echo")) == 0, 20, "echo to answer what waited")

    # Bad usage is exit 2 with a message; no daemon is exit 3.
    r = ping(n1, "-c", 0, "ipn:2")
    assert r.returncode == 2 and "count" in r.stderr
    r = ping(n1, "not-a-node")
    assert r.returncode == 2 and "ipn:NODE" in r.stderr
    r = subprocess.run([str(PING), "--socket", str(tmp_path / "none.sock"), "ipn:2"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 3 and "not running" in r.stderr


def test_echo_agent_config_is_checked(tmp_path):
    n = Node(tmp_path, 1, extra="[echo]\nservice = zero\n")
    r = subprocess.run([str(BUILD / "fieldrelayd"), "-n", "-c", str(n.conf)], capture_output=True, text=True)
    assert r.returncode != 0 and "service: 'zero' is not a service number" in r.stderr, r.stderr
    r = subprocess.run([str(ECHO), "-c", str(n.conf)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and f"{n.conf}:" in r.stderr and "'zero'" in r.stderr, r.stderr


def test_cli_registrations_and_named_recv(node):
    """The CLI's side: recv --name registers, registrations lists what waits, unregister removes."""
    node.cli("send", "ipn:1.80", "first")
    got = node.cli_json("recv", "--name", "logger", "80")
    assert [g["text"] for g in got] == ["first"]
    node.cli("send", "ipn:1.80", "second")
    node.cli("send", "ipn:1.80", "third")
    regs = node.cli_json("registrations")[0]["registrations"]
    assert [(r["service"], r["name"], r["pending"]) for r in regs] == [(80, "logger", 2)]
    text = node.cli("registrations").stdout.decode()
    assert "logger" in text and " 2 " in text
    r = node.cli("recv", "80", check=False)
    assert r.returncode == 1 and b"registration" in r.stderr
    assert [g["text"] for g in node.cli_json("recv", "-N", "logger", "-n", "1", "80")] == ["second"]
    r = node.cli("unregister", "80", "logger")
    assert b"removed" in r.stdout
    r = node.cli("unregister", "80", "logger", check=False)
    assert r.returncode == 1 and b"no registration" in r.stderr
    assert node.cli_json("registrations")[0]["registrations"] == []
    assert [g["text"] for g in node.cli_json("recv", "80")] == ["third"]   # nobody's now: anyone's


def test_fieldrelay_ping_runs_the_agent_command(tmp_path, cleanup, agents):
    n1, n2 = pair(tmp_path, cleanup)
    n1.start()
    n2.start()
    wait_for(lambda: 2 in neighbours(n1), 30, "node 2 as a neighbour")
    agents("echo", n2, ready=echo_ready)
    r = n1.cli("ping", "-c", "2", "-i", "0.1", "ipn:2")
    assert r.stdout.decode().count("bytes from ipn:2.9") == 2, r.stdout
    r = n1.cli("--json", "ping", "-c", "1", "ipn:2")
    summary = [json.loads(l) for l in r.stdout.decode().splitlines()][-1]
    assert summary["event"] == "summary" and summary["received"] == 1 and summary["rtt_ms"]["min"] > 0


def test_echo_agent_follows_a_daemon_restart(tmp_path, cleanup, agents):
    """The agent contract: an agent waits for its daemon and reconnects when it restarts."""
    n1, n2 = pair(tmp_path, cleanup)
    n1.start()
    echo = agents("echo", n2)                           # started before its daemon: it waits
    n2.start()
    echo.wait_for(lambda: echo_ready(echo), 30, "fieldrelay-echo to find its daemon")
    wait_for(lambda: 2 in neighbours(n1), 30, "node 2 as a neighbour")
    assert ping(n1, "-c", 1, "ipn:2").returncode == 0
    assert n2.stop() == 0
    n2.start()
    echo.wait_for(lambda: echo.log_text().count("answering on") == 2, 30, "fieldrelay-echo to reconnect")
    wait_for(lambda: 2 in neighbours(n1), 30, "node 2 back as a neighbour")
    r = ping(n1, "-c", 1, "-W", 20, "ipn:2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert echo.running()


def test_send_from_service_zero(node):
    """-S 0 means service 0, not "the destination's" (the library's service_set)."""
    node.cli("send", "-S", "0", "ipn:1.81", "from zero")
    node.cli("send", "ipn:1.81", "default")
    got = node.cli_json("recv", "81")
    assert [(g["src"], g["text"]) for g in got] == [("ipn:1.0", "from zero"), ("ipn:1.81", "default")]


AGENT_C = r"""
#include <stdio.h>
#include <fieldrelay.h>
int main(int argc, char **argv) {
	char err[512], id[384];
	struct fr_hello h;
	struct fr *c = fr_open(argv[1], 5000, err, sizeof err);
	struct fr_send s = { .dst = "ipn:1.90" };
	if (!c || fr_hello(c, "third-party", &h) < 0) { fprintf(stderr, "%s\n", c ? fr_error(c) : err); return 1; }
	if (fr_send(c, &s, "from outside", -1, 12, id, sizeof id) < 0) { fprintf(stderr, "%s\n", fr_error(c)); return 1; }
	printf("protocol %d node %llu id %s\n", h.protocol, (unsigned long long)h.node, id);
	fr_close(c);
	return 0;
}
"""


def test_installed_library_builds_a_third_party_agent(node, tmp_path):
    """make install puts the header, both libraries and fieldrelay.pc in place: a program
    built with `pkg-config fieldrelay` alone talks to the daemon, statically and shared.
    Installed from the plain build (a third party's program has no sanitizer runtime),
    whichever build the daemon under test is."""
    root = BUILD.parent
    dest = tmp_path / "dest"
    r = subprocess.run(["make", "-s", "install", "BUILD=build", "PREFIX=/usr", f"DESTDIR={dest}"],
                       cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    env = {"PKG_CONFIG_PATH": str(dest / "usr/lib/pkgconfig"), "PATH": "/usr/bin:/bin"}
    flags = subprocess.run(["pkg-config", "--define-prefix", "--cflags", "--libs", "fieldrelay"], env=env,
                           capture_output=True, text=True, check=True).stdout.split()
    static = subprocess.run(["pkg-config", "--define-prefix", "--static", "--libs", "fieldrelay"], env=env,
                            capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path / "agent.c"
    src.write_text(AGENT_C)
    subprocess.run(["cc", "-o", tmp_path / "shared", src, *flags], check=True, timeout=120)
    subprocess.run(["cc", "-static-libgcc", "-o", tmp_path / "static", src, *flags[:1],
                    str(dest / "usr/lib/libfieldrelay.a"), *[f for f in static if f not in ("-lfieldrelay",)
                                                             and not f.startswith("-L")]],
                   check=True, timeout=120)
    for prog, extra in ((tmp_path / "shared", {"LD_LIBRARY_PATH": str(dest / "usr/lib")}), (tmp_path / "static", {})):
        r = subprocess.run([str(prog), str(node.sock)], capture_output=True, text=True, timeout=30, env=extra)
        assert r.returncode == 0 and r.stdout.startswith("protocol 1 node 1 id ipn:1.90 "), (prog, r.stdout, r.stderr)
    assert [g["text"] for g in node.cli_json("recv", "90")] == ["from outside", "from outside"]
