"""The store under faults (issue 11, items 3-5).  On a really full filesystem
(the data dir on a 2 MB tmpfs, root only) a node must not send the same
bundles for ever, nor stick in refusing everything, nor let bulk eat the room
the urgent classes keep.  A bundle whose lifetime ends while a link sends it
stays until the link lets go."""
import os
import subprocess

import pytest

from harness import KEY, Node, free_ports, stop_all, wait_for

CHUNK = 60_000


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs under tmp_path, unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def node_on(tmp_path, node_id, data_dir=None, port=None, peer=None, extra="", link_extra=""):
    """A node whose data_dir is data_dir (config, socket and log stay in its own
    dir), with a UDP link to peer if port is given; extra goes before the link,
    link_extra into it."""
    n = Node(tmp_path, node_id)
    text = (f"[node]\nid = {node_id}\nname = test{node_id}\ndata_dir = {data_dir or n.dir}\n"
            f"[control]\nsocket = {n.sock}\n[log]\nlevel = info\n{extra}")
    if port:
        key = n.write_key(KEY)
        text += (f"[security]\nkey_file = {key}\n"
                 f"[link mesh]\ntype = udp\nport = {port}\npeer = 127.0.0.1:{peer}\n{link_extra}")
    n.conf.write_text(text)
    return n


def fill(n, f, prio="bulk", dst="ipn:2.8", tries=100):
    """Send f until the daemon refuses; (how many it took, the refusal)."""
    for i in range(tries):
        r = n.cli("send", "-p", prio, "-f", str(f), dst, check=False)
        if r.returncode != 0:
            return i, r
    raise AssertionError(f"{tries} sends of {f.stat().st_size} bytes fit on a 2 MB disk")


def test_full_disk_forwards_each_bundle_once_and_recovers(small_disk, tmp_path):
    pa, pb = free_ports(2)
    a = node_on(tmp_path, 1, small_disk, pa, pb)
    b = node_on(tmp_path, 2, None, pb, pa)
    try:
        a.start()
        f = tmp_path / "chunk.bin"
        f.write_bytes(os.urandom(CHUNK))
        stored, r = fill(a, f)
        assert stored >= 5 and b"disk full" in r.stderr, (stored, r.stderr)
        # A restart on the full disk, then the peer comes: forward them all.
        assert a.stop() == 0
        a.start()
        b.start()
        wait_for(lambda: b.status()["store"]["bundles"] == stored, 30, "B to have every bundle")
        sent = lambda: a.cli_json("links")[0]["links"][0]["data_bytes_tx"]
        # Each bundle once, and a little for resends: not the same bundles for ever.
        bound = 3 * stored * CHUNK
        wait_for(lambda: a.status()["store"]["bundles"] == 0 or sent() > bound, 30,
                 "A to let go of the bundles B has")
        assert sent() <= bound, f"A sent {sent()} bytes for {stored} bundles of {CHUNK}"
        assert a.status()["store"]["bundles"] == 0
        assert b.cli_json("links")[0]["forwarding"]["duplicates"] == 0
        got = b.cli_json("recv", "-o", str(tmp_path), "8")
        assert len(got) == stored
        assert all(open(g["file"], "rb").read() == f.read_bytes() for g in got)
        # Its store emptied, it takes new bundles again, urgent and bulk.
        wait_for(lambda: not a.status()["store"]["disk_full"], 20, "A to take its reserve back")
        a.cli("send", "-p", "urgent", "ipn:2.9", "alert after")
        a.cli("send", "-p", "bulk", "-f", str(f), "ipn:2.8")
        assert [d["text"] for d in b.cli_json("recv", "-n", "1", "-w", "9", timeout=30)] == ["alert after"]
        wait_for(lambda: len(b.cli_json("recv", "-o", str(tmp_path), "8")) == 1, 20, "the bulk one")
        assert "cannot delete" not in a.log_text()
    finally:
        stop_all([a, b])


def test_class_reserves_hold_on_a_full_filesystem(small_disk, tmp_path):
    n = node_on(tmp_path, 1, small_disk,
                extra="[store]\nquota = 64M\nreserve = 256K\nreserve_urgent = 256K\nreserve_position = 128K\n")
    try:
        n.start()
        assert "but the filesystem of" in n.log_text()
        assert n.status()["store"]["fs_short"]
        assert "warning" in n.cli("status").stdout.decode()
        f = tmp_path / "chunk.bin"
        f.write_bytes(os.urandom(CHUNK))
        stored, r = fill(n, f, dst="ipn:1.8")
        assert stored >= 3 and b"disk full" in r.stderr, (stored, r.stderr)
        # Bulk filled what is not reserved: an alert and a position still fit.
        n.cli("send", "-p", "urgent", "ipn:1.2", "alert on a full disk")
        n.cli("send", "-p", "position", "ipn:1.3", "fix on a full disk")
        assert [d["text"] for d in n.recv_all(2)] == ["alert on a full disk"]
        assert [d["text"] for d in n.recv_all(3)] == ["fix on a full disk"]
        # After a restart on the full disk too.
        assert n.stop() == 0
        n.start()
        more, r = fill(n, f, dst="ipn:1.8")      # what the WAL gave back, if anything
        assert b"disk full" in r.stderr, r.stderr
        n.cli("send", "-p", "urgent", "ipn:1.2", "alert after a restart")
        assert [d["text"] for d in n.recv_all(2)] == ["alert after a restart"]
        assert len(n.cli_json("recv", "-o", str(tmp_path), "8")) == stored + more
    finally:
        stop_all([n])


def test_bundle_expiring_mid_send_stays_until_the_link_lets_go(tmp_path):
    """A 1 MB bundle with a 3 s lifetime over a 1 Mbit/s link (8 s): the sweep
    every second finds it expired while the link still reads it from the store."""
    from harness.sim import LinkEmu
    size = 1 << 20
    pa, pb = free_ports(2)
    with LinkEmu(peer_a=pa, peer_b=pb, rate="1M", queue="64k") as emu:
        # Whole, not in fragments: each fragment would be a bundle of its own.
        a = node_on(tmp_path, 1, None, pa, emu.a_port, extra="[store]\nexpire_interval = 1s\n",
                    link_extra="fragment = no\n")
        b = node_on(tmp_path, 2, None, pb, emu.b_port)
        try:
            a.start()
            b.start()
            wait_for(lambda: a.cli_json("neighbors")[0]["neighbors"], 20, "A to hear B")
            f = tmp_path / "big.bin"
            f.write_bytes(os.urandom(size))
            a.cli("send", "-l", "3s", "-f", str(f), "ipn:2.8")
            sent = lambda: a.cli_json("links")[0]["links"][0]["data_bytes_tx"]
            # Dropped cleanly once the link is done with it: sent whole, not cut off.
            wait_for(lambda: a.status()["store"]["bundles"] == 0, 60, "A to drop the expired bundle")
            assert sent() >= size, f"A sent {sent()} bytes of a {size}-byte bundle: cut off by expiry"
            assert a.proc.poll() is None and "AddressSanitizer" not in a.log_text()
            assert a.stop() == 0 and b.stop() == 0
        finally:
            stop_all([a, b])
