"""BPv7 fragmentation (issue 4, item 1): bundles above a link's limit travel
as fragments, each stored and forwarded on its own; a transfer cut half way
resumes with the fragments still missing; the destination rebuilds the bundle
byte for byte and delivers it once."""
import hashlib
import os
import time

from harness import free_ports, stop_all, wait_for
from harness.mesh import mesh_node, route

FRAG = 64 * 1024
SEGMENT = 1400         # the default mtu: no segment carries more payload than this


def new_segments(n):
    m = n.cli_json("links")[0]["links"][0]
    return m["segments"] - m["retransmissions"]


def test_cut_transfer_resumes_where_it_stopped(tmp_path):
    from harness.sim import LinkEmu
    pa, pb, pc = free_ports(3)
    payload = os.urandom(4 << 20)
    f = tmp_path / "map.bin"
    f.write_bytes(payload)
    extra = f"fragment = {FRAG // 1024}K\n"
    # A deep queue: no drops from a window bigger than the buffer, so the bytes count cleanly.
    with LinkEmu(peer_a=pb, peer_b=pc, rate="8M", queue="8M") as bc:
        a = mesh_node(tmp_path, 1, pa, [pb], extra)
        b = mesh_node(tmp_path, 2, pb, [pa, bc.a_port], extra)
        c = mesh_node(tmp_path, 3, pc, [bc.b_port], extra)
        nodes = (a, b, c)
        try:
            for n in nodes:
                n.start()
            wait_for(lambda: route(a, 3), 20, "A to learn a route to C")
            a.cli("send", "-f", str(f), "ipn:3.7", timeout=60)
            # C holds the pieces that arrived (state fragment) until the last one.
            wait_for(lambda: c.status()["store"]["bundles"] >= 32, 60, "half of the fragments at C")
            bc.cmd("down")
            held_c = c.status()["store"]["bundles"]
            time.sleep(4)       # B notices C is gone; what was in flight is given back
            assert held_c < 64, "the cut came too late to mean anything"
            held_b = b.status()["store"]["bundles"]
            assert held_b > 0, "B holds nothing during the cut"
            before = new_segments(b)
            bc.cmd("up")
            got = c.cli("recv", "-n", "1", "-w", "-R", "7", timeout=120).stdout
            assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
            # New segments (not retransmissions) B sent after the cut: had the transfer
            # started again from byte 0 they would carry all 4 MB; resumed, they carry
            # what C lacked, plus the fragments C had but had not acknowledged yet.
            sent = (new_segments(b) - before) * SEGMENT
            missing = len(payload) - held_c * FRAG
            print(f"C held {held_c} of 64 fragments at the cut, B held {held_b}; after the cut B sent "
                  f"{sent} bytes in new segments (C lacked {missing})")
            assert sent < missing + 4 * FRAG
            assert sent < 0.75 * len(payload)
            wait_for(lambda: all(n.status()["store"]["bundles"] == 0 for n in nodes), 30,
                     "every node to let go (C of its fragments too)")
            # Delivered once: nothing more waits for the service.
            assert c.cli_json("recv", "-n", "1", "7") == []
        finally:
            stop_all(nodes)


def test_fragments_survive_a_kill_of_the_destination(tmp_path):
    """kill -9 of C while it holds some fragments: after the restart the rest
    arrives and the bundle is rebuilt from what was stored before and after."""
    pa, pc = free_ports(2)
    payload = os.urandom(1 << 20)
    f = tmp_path / "photo.jpg"
    f.write_bytes(payload)
    extra = "fragment = 16K\n"
    a = mesh_node(tmp_path, 1, pa, [pc], extra)
    c = mesh_node(tmp_path, 3, pc, [pa], extra)
    try:
        a.start()
        c.start()
        wait_for(lambda: route(a, 3), 20, "A to hear C")
        a.cli("send", "-f", str(f), "ipn:3.8", timeout=60)
        wait_for(lambda: c.status()["store"]["bundles"] >= 8, 60, "some fragments at C")
        c.kill9()
        c.start()
        got = c.cli("recv", "-n", "1", "-w", "-R", "8", timeout=120).stdout
        assert got == payload
        wait_for(lambda: c.status()["store"]["bundles"] == 0 and a.status()["store"]["bundles"] == 0, 30,
                 "both to let go")
        assert "reassembled from" in c.log_text()
    finally:
        stop_all((a, c))


def test_small_bundles_and_unlimited_links_are_not_fragmented(tmp_path):
    pa, pc = free_ports(2)
    a = mesh_node(tmp_path, 1, pa, [pc], "fragment = no\n")
    c = mesh_node(tmp_path, 3, pc, [pa])
    try:
        a.start()
        c.start()
        wait_for(lambda: route(a, 3), 20, "A to hear C")
        payload = os.urandom(600 << 10)
        f = tmp_path / "whole.bin"
        f.write_bytes(payload)
        a.cli("send", "-f", str(f), "ipn:3.9", timeout=60)
        a.cli("send", "ipn:3.9", "small")
        got = c.cli_json("recv", "-n", "2", "-w", "9", timeout=60)
        assert len(got) == 2
        assert "split into" not in a.log_text()
    finally:
        stop_all((a, c))


def test_sixteen_megabytes_over_two_hops_with_default_limits(tmp_path):
    """The largest bundle there is, split at the source by the default 256K
    limit, forwarded fragment by fragment through B, rebuilt at C."""
    pa, pb, pc = free_ports(3)
    payload = os.urandom(16 << 20)
    f = tmp_path / "ortho.tif"
    f.write_bytes(payload)
    a = mesh_node(tmp_path, 1, pa, [pb])
    b = mesh_node(tmp_path, 2, pb, [pa, pc])
    c = mesh_node(tmp_path, 3, pc, [pb])
    nodes = (a, b, c)
    try:
        for n in nodes:
            n.start()
        wait_for(lambda: route(a, 3), 20, "A to learn a route to C")
        t0 = time.monotonic()
        a.cli("send", "-f", str(f), "ipn:3.9", timeout=120)
        got = c.cli("recv", "-n", "1", "-w", "-R", "9", timeout=300).stdout
        took = time.monotonic() - t0
        assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
        assert "split into 64 fragments" in a.log_text()
        assert "reassembled from 64 fragments" in c.log_text()
        print(f"16 MB A->B->C as 64 fragments in {took:.1f} s")
        wait_for(lambda: all(n.status()["store"]["bundles"] == 0 for n in nodes), 30, "every node to let go")
    finally:
        stop_all(nodes)
