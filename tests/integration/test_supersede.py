"""Position reports supersede queued older ones (DESIGN.md section 2): on the
unit that made them and on a relay that holds them for a dead link; messages
never; --supersede KEY and --no-supersede; a deletion report for a superseded
bundle that asked for one."""
import json

import pytest

from harness import Control, free_ports, stop_all, wait_for
from harness.mesh import mesh_node, neighbours


def bundles(n):
    return n.status()["store"]["bundles"]


def superseded_lines(n):
    return n.log_text().count(" superseded by the newer ")


def texts(got):
    return sorted(g["text"] for g in got)


@pytest.fixture
def star(tmp_path):
    """Units 1 and 2 and command center 3 around relay 4; the units' default
    route goes through the relay.  The command center is started late: until
    then the relay has no path for what the units send it."""
    p1, p2, p3, p4 = free_ports(4)
    u1 = mesh_node(tmp_path, 1, p1, [p4], "[route]\ndefault = 4\n")
    u2 = mesh_node(tmp_path, 2, p2, [p4], "[route]\ndefault = 4\n")
    c = mesh_node(tmp_path, 3, p3, [p4])
    r = mesh_node(tmp_path, 4, p4, [p1, p2, p3])
    yield u1, u2, c, r
    stop_all((u1, u2, c, r))


def test_relay_keeps_only_the_newest_position_of_each_unit(star):
    u1, u2, c, r = star
    for n in (r, u1, u2):
        n.start()
    wait_for(lambda: neighbours(r) == {1, 2}, 15, "the relay to hear both units")
    # --no-supersede: the units hand every fix on (a unit would otherwise drop
    # its own older ones before they leave, see the next test), so that all of
    # them reach the relay, which derives the key from each bundle itself.
    for u in (u1, u2):
        lines = "".join(f"unit {u.id} fix {i:02d}\n" for i in range(50)).encode()
        out = u.cli("send", "--batch", "--no-supersede", "ipn:3.3", input=lines, timeout=120)
        assert out.stdout.count(b"accepted") == 50
    msgs = "".join(f"message {i}\n" for i in range(5)).encode()
    assert u1.cli("send", "--batch", "ipn:3.5", input=msgs).stdout.count(b"accepted") == 5
    wait_for(lambda: bundles(u1) == 0 and bundles(u2) == 0, 30, "the units to hand everything to the relay")
    wait_for(lambda: bundles(r) == 7, 30, "the relay to keep one fix per unit and the 5 messages")
    # The totals change at the commit, the log line comes when the loop takes
    # the answer: poll for it.
    wait_for(lambda: superseded_lines(r) >= 98, 10, "the relay to log each fix it dropped")
    assert superseded_lines(r) == 98, "one log line per fix dropped at the relay"
    assert superseded_lines(u1) == superseded_lines(u2) == 0
    queue = {(q["dst"], q["class"]): q["count"] for q in r.cli_json("queue")[0]["destinations"]}
    assert queue == {("ipn:3.3", "position"): 2, ("ipn:3.5", "message"): 5}

    c.start()
    got = c.cli_json("recv", "-n", "5", "-w", "5", timeout=60)
    assert texts(got) == [f"message {i}" for i in range(5)]
    # Positions leave before messages (class 2 before 4): once the relay is
    # empty, every position it had is at the command center.
    wait_for(lambda: bundles(r) == 0, 30, "the relay to let go of what it forwarded")
    fixes = c.cli_json("recv", "3")
    assert texts(fixes) == ["unit 1 fix 49", "unit 2 fix 49"]
    assert {f["src"] for f in fixes} == {"ipn:1.3", "ipn:2.3"}


def test_unit_alone_supersedes_its_positions_not_its_messages(tmp_path):
    """A unit whose only link is down: 50 fixes from each of two position
    streams (two source services) and 5 messages queue up; once the command
    center appears, it gets the newest fix of each stream and all messages.
    --no-supersede keeps every copy; --supersede KEY replaces messages too."""
    ports = free_ports(2)
    a = mesh_node(tmp_path, 1, ports[0], [ports[1]])
    c = mesh_node(tmp_path, 3, ports[1], [ports[0]])
    try:
        a.start()
        # The first fix asks for a deletion report: it comes back when superseded.
        a.cli("send", "-r", "deleted", "ipn:3.3", "stream A fix 00")
        batch = "".join(f"stream A fix {i:02d}\n" for i in range(1, 50)).encode()
        assert a.cli("send", "--batch", "ipn:3.3", input=batch).stdout.count(b"accepted") == 49
        batch = "".join(f"stream B fix {i:02d}\n" for i in range(50)).encode()
        assert a.cli("send", "--batch", "-S", "64", "ipn:3.3", input=batch).stdout.count(b"accepted") == 50
        for i in range(5):
            a.cli("send", "ipn:3.5", f"message {i}")
        for i in range(3):
            a.cli("send", "--no-supersede", "ipn:3.3", f"kept fix {i}")
            a.cli("send", "--supersede", "board", "ipn:3.5", f"board {i}")
        assert a.log_text().count(" superseded by the newer ") == 49 + 49 + 2
        rep = a.cli("reports").stdout.decode()
        assert rep.count("deleted") == 1 and "traffic pared" in rep, rep
        # 1 + 1 newest fixes, 5 messages, 3 kept fixes, the last board.
        wait_for(lambda: bundles(a) == 11, 10, "the unit to keep 11 bundles")

        c.start()
        got = c.cli_json("recv", "-n", "6", "-w", "5", timeout=60)
        assert texts(got) == ["board 2"] + [f"message {i}" for i in range(5)]
        wait_for(lambda: bundles(a) == 0, 30, "the unit to let go of what it forwarded")
        fixes = texts(c.cli_json("recv", "3"))
        assert fixes == ["kept fix 0", "kept fix 1", "kept fix 2", "stream A fix 49", "stream B fix 49"]
    finally:
        stop_all((a, c))


def test_control_refuses_a_bad_supersede_key(tmp_path):
    port, peer = free_ports(2)
    a = mesh_node(tmp_path, 1, port, [peer])
    try:
        a.start()
        r = a.cli("send", "--supersede", "k" * 129, "ipn:3.3", "x", check=False)
        assert r.returncode == 2 and b"--supersede" in r.stderr
        ctl = Control(a)
        ctl.send({"op": "send", "dst": "ipn:3.3", "supersede": 7}, b"x")
        ans = ctl.recv()
        assert ans["code"] == "bad-request" and "supersede" in json.dumps(ans), ans
        ctl.send({"op": "send", "dst": "ipn:3.3", "supersede": False}, b"x")
        assert "code" not in ctl.recv()
        ctl.close()
    finally:
        stop_all((a,))


def test_flood_positions_are_kept_unless_the_source_gives_a_key(tmp_path):
    """Positions for every node are a track that every node and every later
    neighbour gets whole: no default key.  An explicit key at the source
    keeps only the newest for neighbours met later."""
    ports = free_ports(2)
    a = mesh_node(tmp_path, 1, ports[0], [ports[1]])
    b = mesh_node(tmp_path, 2, ports[1], [ports[0]])
    try:
        a.start()
        for i in range(3):
            a.cli("send", "ipn:0.3", f"track {i}")
        for i in range(3):
            a.cli("send", "--supersede", "beacon", "ipn:0.3", f"beacon {i}")
        wait_for(lambda: bundles(a) == 4, 10, "A to keep the track and the newest beacon")
        assert a.log_text().count(" superseded by the newer ") == 2
        b.start()
        got = b.cli_json("recv", "-n", "4", "-w", "3", timeout=60)
        assert texts(got) == ["beacon 2", "track 0", "track 1", "track 2"]
        wait_for(lambda: bundles(b) == 4, 10, "B to keep the 4 flood bundles for others")
        assert b.cli_json("recv", "3") == []
    finally:
        stop_all((a, b))


def test_narrow_radio_takes_back_a_superseded_fix_not_yet_on_the_air(tmp_path):
    """Over a 600 bit/s KISS link, writes are paced to the airtime, so a fix
    handed to the link waits in its queue behind the one on the air.  A newer
    fix takes it back from there before any of it is sent (it is deleted, not
    sent), while the fix already on the air is never touched: it arrives."""
    from harness.serial import SerialEmu
    from harness.kiss import kiss_node
    ser = SerialEmu(rate=600)
    a = kiss_node(tmp_path, 1, ser.a, 600)
    b = kiss_node(tmp_path, 2, ser.b, 600)
    try:
        a.start()
        b.start()
        wait_for(lambda: neighbours(a) == {2} and neighbours(b) == {1}, 60, "the nodes to hear each other")
        # Two frames of airtime (about 9 s): on the air while the others come.
        seg0 = a.cli_json("links")[0]["links"][0]["segments"]
        a.cli("send", "ipn:2.3", "fix 0 " + "x" * 400)
        wait_for(lambda: a.cli_json("links")[0]["in_flight"] == 1, 10, "fix 0 to be on its way")
        # On the air, not only handed to the link (which could still give it back).
        wait_for(lambda: a.cli_json("links")[0]["links"][0]["segments"] > seg0, 10, "fix 0 to be on the air")
        a.cli("send", "ipn:2.3", "fix 1")
        # Handed to the link: in its queue, not on the air (round robin gives it
        # the next frame, about 4 s away).
        wait_for(lambda: a.cli_json("links")[0]["in_flight"] == 2, 3, "fix 1 to wait in the link")
        a.cli("send", "ipn:2.3", "fix 2")
        wait_for(lambda: superseded_lines(a) == 1, 3, "fix 1 to be taken back and superseded")
        got = b.cli_json("recv", "-n", "2", "-w", "3", timeout=120)
        assert [g["text"][:5] for g in got] == ["fix 0", "fix 2"]
        wait_for(lambda: bundles(a) == 0, 60, "A to let go of what B committed")
        assert b.cli_json("recv", "3") == [], "a superseded fix went on the air"
        assert superseded_lines(a) == 1 and "fix 1" not in b.log_text()
        assert a.stop() == 0 and b.stop() == 0, "unclean exit (a sanitizer report?)"
    finally:
        stop_all((a, b))
        ser.stop()
