"""Issue 11, items 8 and 9: one store, one daemon; a store only its daemon reads.

A second fieldrelayd on the same data_dir (with a control socket of its own)
used to open the same store and hand the same bundles to other applications;
one refused for its socket had already bumped the store's boot counter.  The
store's files were 0644, and a data_dir anybody can write to was taken.
"""
import os
import sqlite3
import stat
import subprocess

from harness import DAEMON, Node, stop_all


def run_daemon(conf):
    """Start-up that must fail: its exit status and what it said."""
    r = subprocess.run([str(DAEMON), "-d", "-c", str(conf)], capture_output=True, timeout=30)
    return r.returncode, r.stderr.decode(errors="replace")


def boot_counter(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT value FROM counters WHERE name = 'boot'").fetchone()[0]
    finally:
        con.close()


def test_second_daemon_on_the_same_data_dir_is_refused(tmp_path):
    a = Node(tmp_path, 1)
    # The same node and data dir, another control socket: what an operator's typo gives.
    other = tmp_path / "other"
    other.mkdir()
    conf2 = other / "fieldrelay.conf"
    conf2.write_text(a.conf.read_text().replace(str(a.sock), str(other / "control.sock")))
    try:
        a.start()
        a.cli("send", "ipn:1.5", "only for the first")
        boot = a.status()["boot"]
        rc, err = run_daemon(conf2)
        assert rc == 1, err
        assert f"data_dir {a.dir} is in use by another fieldrelayd (pid {a.proc.pid}" in err, err
        assert not (other / "control.sock").exists(), "it must not have listened"
        # Nothing touched: the first still has its bundle, and the boot counter is its own.
        assert boot_counter(a.db) == boot
        assert [x["text"] for x in a.recv_all(5)] == ["only for the first"]
        assert a.stop() == 0
        # The lock goes with the process, a kill -9 included.
        a.start()
        assert a.status()["boot"] == boot + 1
        a.kill9()
        a.start()
        assert a.status()["boot"] == boot + 2
    finally:
        stop_all([a])


def test_second_daemon_on_the_same_store_elsewhere_is_refused(tmp_path):
    """[store] path outside the data dirs: two data dirs, one store."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    db = shared / "bundles.db"
    a = Node(tmp_path, 1, extra=f"[store]\npath = {db}\n")
    b = Node(tmp_path, 2, extra=f"[store]\npath = {db}\n")
    try:
        a.start()
        rc, err = run_daemon(b.conf)
        assert rc == 1, err
        assert f"store {db} is in use by another fieldrelayd (pid {a.proc.pid}" in err, err
        assert boot_counter(db) == a.status()["boot"]
    finally:
        stop_all([a, b])


def test_daemon_refused_for_its_socket_leaves_its_store_alone(tmp_path):
    a = Node(tmp_path, 1)
    b = Node(tmp_path, 2)
    # B's own data dir, but A's control socket.
    conf_b = b.conf.read_text()
    b.conf.write_text(conf_b.replace(str(b.sock), str(a.sock)))
    try:
        a.start()
        rc, err = run_daemon(b.conf)
        assert rc == 1, err
        assert f"control socket {a.sock} is in use by another fieldrelayd (pid {a.proc.pid}" in err, err
        assert not b.db.exists() or boot_counter(b.db) == 0, "the refused daemon bumped its boot counter"
        a.cli("status")         # A still answers on its socket
        b.conf.write_text(conf_b)
        b.start()
        assert b.status()["boot"] == 1
    finally:
        stop_all([a, b])


def test_store_files_are_private(tmp_path):
    n = Node(tmp_path, 1)
    os.chmod(n.dir, 0o755)
    old = os.umask(0o022)
    try:
        n.start()
    finally:
        os.umask(old)
    try:
        n.cli("send", "ipn:1.5", "a payload no other user may read")
        for suffix in ("", "-wal", "-shm"):
            f = n.db.parent / (n.db.name + suffix)
            assert f.exists(), f
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f"{f}: {stat.S_IMODE(f.stat().st_mode):o}"
        assert n.stop() == 0
        # A store an older version left readable is narrowed at the next start.
        os.chmod(n.db, 0o644)
        n.start()
        assert stat.S_IMODE(n.db.stat().st_mode) == 0o600
        assert "was mode 0644, now 0600" in n.log_text()
        assert [x["text"] for x in n.recv_all(5)] == ["a payload no other user may read"]
    finally:
        stop_all([n])


def test_data_dir_writable_by_others_is_refused(tmp_path):
    n = Node(tmp_path, 1)
    os.chmod(n.dir, 0o777)
    rc, err = run_daemon(n.conf)
    assert rc == 1, err
    assert f"data_dir {n.dir} is writable by other users (mode 0777)" in err, err
    assert f"chmod o-w {n.dir}" in err, err
    assert not n.db.exists() and not n.sock.exists()
    os.chmod(n.dir, 0o755)
    try:
        n.start()
    finally:
        stop_all([n])
