#!/usr/bin/python3
"""Daemon benchmarks (issue 3, item 7 b and the RSS figures).

(b) durable ingest through a running fieldrelayd, fed by one client (the
    fieldrelay CLI in --batch mode) pipelining sends over one control
    connection.  Reference in the same run: raw SQLite inserts of rows of the
    same size, synchronous=FULL, WAL, 1000 rows per transaction, on the same
    filesystem (Python's sqlite3 module).
RSS: the daemon's peak resident set (VmHWM) while it ingests and holds
    100,000 bundles, and, after a restart with those still stored, while a
    16 MB bundle passes through it (in, stored, out).  Reference: the idle
    daemon's RSS right after start.
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))      # tests/: the harness package
from harness import CLI, Node, wait_for  # noqa: E402

N = int(os.environ.get("BENCH_BUNDLES", "100000"))
PAYLOAD = 200


def vm(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0  # MiB
    return 0.0


def raw_sqlite_rate(base, rows):
    path = base / "raw.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE b (id TEXT UNIQUE, dst TEXT, prio INT, expires INT, data BLOB)")
    payload = os.urandom(PAYLOAD + 60)   # + the encoded blocks our bundles carry
    t = time.perf_counter()
    for start in range(0, rows, 1000):
        db.execute("BEGIN")
        db.executemany("INSERT INTO b VALUES (?,?,?,?,?)",
                       ((f"ipn:1.5 0 {i}", "ipn:2.5", 4, 0, payload) for i in range(start, start + 1000)))
        db.execute("COMMIT")
    dt = time.perf_counter() - t
    db.close()
    return rows / dt


def main():
    base = Path(tempfile.mkdtemp(prefix="fieldrelay-bench-", dir="/var/tmp"))
    fstype = subprocess.run(["df", "-T", str(base)], capture_output=True, text=True).stdout.split("\n")[1].split()[1]
    print(f"bench daemon: {N} bundles of {PAYLOAD} B, store on {base} ({fstype})")
    n = Node(base, 1)
    try:
        ref = raw_sqlite_rate(base, min(N, 100000))
        n.start()
        idle = vm(n.proc.pid, "VmRSS")
        line = ("x" * (PAYLOAD - 1) + "\n").encode()
        feed = base / "feed.txt"
        feed.write_bytes(line * N)
        t = time.perf_counter()
        with open(feed, "rb") as fi:
            r = subprocess.run([str(CLI), "-s", str(n.sock), "send", "--batch", "ipn:2.5"],
                               stdin=fi, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t
        assert r.returncode == 0, r.stderr
        rate = N / dt
        st = n.status()["store"]
        assert st["bundles"] == N, st
        hwm_ingest = vm(n.proc.pid, "VmHWM")
        verdict = "PASS" if rate >= 20000 else "FAIL"
        print(f"bench daemon-ingest-200B: {rate:.0f} bundles/s through fieldrelayd (one pipelined "
              f"control connection); reference raw-sqlite FULL/WAL 1000/txn: {ref:.0f} rows/s; "
              f"ratio {rate / ref:.2f}; target >= 20000 bundles/s {verdict}")

        # Restart holding N bundles, then pass a 16 MB bundle through.
        assert n.stop() == 0
        n.start()
        idle_full = vm(n.proc.pid, "VmRSS")
        n.cli("status")
        n.cli("queue")
        big = base / "big.bin"
        big.write_bytes(os.urandom(16 * 1024 * 1024 - 4096))
        t = time.perf_counter()
        n.cli("send", "-f", big, "ipn:1.9", timeout=600)
        out = base / "out"
        out.mkdir()
        n.cli("recv", "-o", out, "9", timeout=600)
        dt16 = time.perf_counter() - t
        got = next(out.iterdir())
        assert got.stat().st_size == big.stat().st_size
        hwm_big = vm(n.proc.pid, "VmHWM")
        for what, v in (("while ingesting and holding %d bundles" % N, hwm_ingest),
                        ("holding %d bundles while a 16 MB bundle passes through" % N, hwm_big)):
            print(f"bench daemon-peak-rss: {v:.1f} MiB {what}; reference idle daemon "
                  f"{idle:.1f} MiB (empty store), {idle_full:.1f} MiB (full store); "
                  f"target <= 16 MiB {'PASS' if v <= 16 else 'FAIL'}")
        print(f"bench daemon-16MB: in and out in {dt16:.2f} s ({2 * 16 / dt16:.1f} MB/s through the store)")
        assert n.stop() == 0
    finally:
        n.kill()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
