"""Issue 5, test (d): two nodes joined by a mesh link (UDP through tests/sim/linkemu)
and a radio link (KISS through tests/sim/seremu, 9600 bit/s) that carries only
urgent, position and message classes (`classes`).  The mesh goes silent in the
emulator: urgent traffic continues over the radio within 2 s plus one frame time
(silent-fade deadline of DESIGN.md section 5), bulk waits, and is delivered over
the mesh once it returns; everything exactly once.

A neighbour is gone once it has been silent for 3 beacons (1.5 s at the mesh's
500 ms), on a timer at that deadline: the fade is noticed at most 1.5 s after
the last beacon heard, so within 1.5 s of the cut, which leaves the 2 s of the
design half a second for the reroute and the radio frame.
"""
import os
import time

import pytest

from harness import Node, free_ports, stop_all, wait_for
from harness.mesh import links_by_name as links
from harness.serial import SerialEmu
from harness.sim import LinkEmu

KEY = "1 " + "5a" * 32 + " send\n"
RATE = 9600
# One full radio frame on the line: mtu 256 + AX.25 16 + KISS 3 bytes, 10 bits a byte.
FRAME_S = (256 + 16 + 3) * 10 / RATE
# The CLI's own start-up and polling between the event and our clock: a loaded box.
SLACK_S = 0.5
# Silent this long, a neighbour is gone (link_params.dead_ms: 3 beacons of 500 ms).
DEAD_S = 1.5


def two_link_node(tmp_path, node_id, mesh_port, mesh_peer, device):
    n = Node(tmp_path, node_id)
    key = n.write_key(KEY)
    n.conf.write_text(n.conf.read_text() +
                      f"[security]\nkey_file = {key}\n"
                      f"[link mesh]\ntype = udp\nport = {mesh_port}\npeer = 127.0.0.1:{mesh_peer}\n"
                      f"[link radio]\ntype = kiss\ndevice = {device}\ncallsign = N0CALL-{node_id}\n"
                      f"rate = {RATE}\ntxdelay = 0\nbeacon = 1s\nclasses = urgent,position,message\n")
    return n


@pytest.fixture
def pair(tmp_path):
    started = []
    ports = free_ports(2)
    emu = LinkEmu(peer_a=ports[0], peer_b=ports[1])
    started.append(emu)
    ser = SerialEmu(rate=RATE)
    started.append(ser)
    a = two_link_node(tmp_path, 1, ports[0], emu.a_port, ser.a)
    b = two_link_node(tmp_path, 2, ports[1], emu.b_port, ser.b)
    started += [a, b]
    yield emu, ser, a, b
    stop_all(started)


def both_links_up(a, b):
    for n in (a, b):
        ls = links(n)
        if ls["mesh"]["neighbours"] != 1 or ls["radio"]["neighbours"] != 1:
            return False
    return True


def recv(n, service, count, wait):
    return [g["text"] for g in n.cli_json("recv", "-n", count, "-w", str(service), timeout=wait)]


def test_mesh_fades_urgent_takes_radio_bulk_waits(pair):
    emu, ser, a, b = pair
    a.start()
    b.start()
    wait_for(lambda: both_links_up(a, b), 30, "both nodes to hear each other on mesh and radio")

    # Mesh up: every class takes the mesh, nothing goes on the radio.
    radio_seg0 = links(a)["radio"]["segments"]
    a.cli("send", "-p", "urgent", "ipn:2.5", "alert-before")
    a.cli("send", "-p", "bulk", "ipn:2.6", "bulk-before")
    assert recv(b, 5, 1, 30) == ["alert-before"]
    assert recv(b, 6, 1, 30) == ["bulk-before"]
    assert links(a)["radio"]["segments"] == radio_seg0

    # The mesh goes silent both ways (carrier stays up): a silent fade.
    emu.down()
    cut = time.monotonic()
    a.cli("send", "-p", "urgent", "ipn:2.5", "alert-0")
    big = a.dir / "bulk.bin"
    big.write_bytes(os.urandom(1500))     # ~1.6 s on the radio, were it allowed there
    a.cli("send", "-p", "bulk", "-f", str(big), "ipn:2.6")
    got = recv(b, 5, 1, 60)
    took = time.monotonic() - cut
    print(f"alert over the radio {took:.2f} s after the mesh went silent (silence deadline {DEAD_S} s "
          f"+ one frame {FRAME_S:.2f} s + {SLACK_S} s slack = {DEAD_S + FRAME_S + SLACK_S:.2f} s; design: 2 s "
          f"+ one frame)")
    assert got == ["alert-0"]
    assert took <= DEAD_S + FRAME_S + SLACK_S
    assert took >= DEAD_S - 0.5 - 0.05, "the mesh neighbour went down before it was silent 1.5 s"
    ls = links(a)
    assert ls["mesh"]["neighbours"] == 0 and ls["radio"]["neighbours"] == 1
    assert ls["radio"]["segments"] > radio_seg0

    # More urgent traffic and a message keep going over the radio; bulk waits.
    for i in range(1, 6):
        a.cli("send", "-p", "urgent", "ipn:2.5", f"alert-{i}")
    a.cli("send", "-p", "message", "ipn:2.7", "message-0")
    assert sorted(recv(b, 5, 5, 60)) == [f"alert-{i}" for i in range(1, 6)]
    assert recv(b, 7, 1, 60) == ["message-0"]
    time.sleep(3)
    assert b.cli_json("recv", "6") == [], "bulk came over the radio"
    assert a.status()["store"]["bundles"] == 1, "A keeps the bulk bundle"
    assert links(a)["mesh"]["neighbours"] == 0, "the mesh came back by itself: the test tested nothing"

    # The mesh returns: bulk goes over it, and urgent traffic moves back.
    emu.up()
    wait_for(lambda: links(a)["mesh"]["neighbours"] == 1, 15, "A to hear B on the mesh again")
    data = b.cli("recv", "-n", "1", "-w", "-R", "6", timeout=60).stdout
    assert data == big.read_bytes()
    radio_seg = links(a)["radio"]["segments"]
    a.cli("send", "-p", "urgent", "ipn:2.5", "alert-after")
    assert recv(b, 5, 1, 30) == ["alert-after"]
    assert links(a)["radio"]["segments"] == radio_seg, "urgent traffic stayed on the radio"

    # Exactly once: nothing more arrives anywhere, and A let go of everything.
    wait_for(lambda: a.status()["store"]["bundles"] == 0, 30, "A to let go once B committed")
    for svc in (5, 6, 7):
        assert b.cli_json("recv", str(svc)) == [], f"service {svc} got a bundle twice"
    assert a.stop() == 0 and b.stop() == 0, "unclean exit (a sanitizer report?)"


def sat_node(tmp_path, node_id, port, peer, extra):
    n = Node(tmp_path, node_id)
    key = n.write_key(KEY)
    n.conf.write_text(n.conf.read_text() +
                      f"[security]\nkey_file = {key}\n"
                      f"[link sat]\ntype = udp\nport = {port}\npeer = 127.0.0.1:{peer}\n{extra}")
    return n


@pytest.fixture
def sat(tmp_path):
    """Two nodes over a satellite IP hop (600 ms each way); A's side is metered."""
    started = []
    ports = free_ports(2)
    emu = LinkEmu(peer_a=ports[0], peer_b=ports[1], delay="600ms")
    started.append(emu)
    a = sat_node(tmp_path, 1, ports[0], emu.a_port, "budget = 30K/day\n")   # no bulk: the default
    b = sat_node(tmp_path, 2, ports[1], emu.b_port, "")
    started += [a, b]
    yield emu, a, b
    stop_all(started)


def test_metered_satellite_budget(sat):
    """Issue 5 item 4: bulk never spends the budget; messages do until it is spent, then
    the link stops (beacons too), and what A put on the hop stays within the budget."""
    emu, a, b = sat
    budget = 30 * 1024
    a.start()
    b.start()
    wait_for(lambda: links(a)["sat"]["neighbours"] == 1 and links(b)["sat"]["neighbours"] == 1, 20,
             "the nodes to hear each other over the satellite hop")
    bulk = a.dir / "bulk.bin"
    bulk.write_bytes(os.urandom(2000))
    a.cli("send", "-p", "bulk", "-f", str(bulk), "ipn:2.6")
    for i in range(10):
        a.cli("send", "-p", "message", "ipn:2.7", f"sat-{i}")
    assert sorted(recv(b, 7, 10, 60)) == sorted(f"sat-{i}" for i in range(10))
    la = links(a)["sat"]
    assert 0 < la["budget_used"] < budget and la["budget_bytes"] == budget
    assert "budget" in a.cli("links").stdout.decode()
    # A message bigger than what is left: the budget runs out in the middle of it.
    big = a.dir / "big.bin"
    big.write_bytes(os.urandom(40000))
    a.cli("send", "-p", "message", "-f", str(big), "ipn:2.7")
    wait_for(lambda: links(a)["sat"]["budget_used"] >= budget, 60, "A to spend its budget")
    wait_for(lambda: links(b)["sat"]["neighbours"] == 0, 10, "B to hear A go silent")
    sent = emu.stats()["ab"]["in_bytes"]
    time.sleep(2)
    st = emu.stats()["ab"]
    la = links(a)["sat"]
    print(f"budget {budget} B: A used {la['budget_used']} B; the emulator took {st['in_bytes']} B from A")
    assert st["in_bytes"] == sent, "A kept sending with its budget spent"
    assert la["budget_used"] <= budget + 1400            # at most one frame beyond it
    assert st["in_bytes"] <= la["budget_used"]           # every byte A sent was counted
    assert b.cli_json("recv", "6") == [], "bulk spent the budget"
    assert b.cli_json("recv", "7") == [], "the big message cannot have arrived"
    # Bulk and what B lacks of the big message wait: it went out as fragments of
    # an eighth of the budget (the link's default), some of which B holds.
    assert a.status()["store"]["bundles"] >= 2
    assert a.stop() == 0 and b.stop() == 0, "unclean exit (a sanitizer report?)"
