#!/usr/bin/python3
"""Forwarding benchmark (issue 4, item 9): node A -> node B over the UDP link
on loopback, no emulator, both stores durable.  200 B and 64 KB payloads;
bundles/s, MB/s and CPU seconds per MB on each side.  References measured
in the same run: for 200 B, ingest into one daemon's store through its
control socket (the durable bottleneck); for 64 KB, raw SQLite inserts of the
same payloads with synchronous=FULL in WAL mode."""
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from harness import CLI, Node, wait_for  # noqa: E402
from test_mesh import mesh_node  # noqa: E402


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def raw_sqlite_rate(base, size, rows):
    db = sqlite3.connect(base / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE b (id TEXT UNIQUE, data BLOB)")
    payload = os.urandom(size)
    per_txn = 1000 if size < 4096 else 16
    t = time.perf_counter()
    for start in range(0, rows, per_txn):
        db.execute("BEGIN")
        db.executemany("INSERT INTO b VALUES (?,?)", ((f"id {i}", payload) for i in range(start, start + per_txn)))
        db.execute("COMMIT")
    dt = time.perf_counter() - t
    db.close()
    os.unlink(base / "raw.db")
    return rows / dt


def ingest(node, n, size, dst):
    line = ("x" * (size - 1) + "\n").encode()
    feed = node.dir / "feed.txt"
    feed.write_bytes(line * n)
    t = time.perf_counter()
    with open(feed, "rb") as fi:
        r = subprocess.run([str(CLI), "-s", str(node.sock), "send", "--batch", dst],
                           stdin=fi, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    return time.perf_counter() - t


def run(base, n, size):
    """Fill A while B is down (the bundles wait: no route), then start B and
    time until B has stored them all: forwarding alone, both stores durable."""
    pa = random.randint(20000, 50000)
    a = mesh_node(base / f"s{size}", 1, pa, [pa + 1])
    b = mesh_node(base / f"s{size}", 2, pa + 1, [pa])
    try:
        a.start()
        if size < 4096:
            ingest(a, n, size, "ipn:2.5")
        else:
            f = base / "big.bin"
            f.write_bytes(os.urandom(size))
            for _ in range(n):
                a.cli("send", "-f", f, "ipn:2.5")
        assert a.status()["store"]["bundles"] == n
        b.start()
        wait_for(lambda: a.cli_json("neighbors")[0]["neighbors"], 10, "the link")
        ca, cb = cpu_seconds(a.proc.pid), cpu_seconds(b.proc.pid)
        t = time.perf_counter()
        wait_for(lambda: b.status()["store"]["bundles"] >= n, 900, "all bundles at B")
        dt = time.perf_counter() - t
        ca, cb = cpu_seconds(a.proc.pid) - ca, cpu_seconds(b.proc.pid) - cb
        assert a.stop() == 0 and b.stop() == 0
        return dt, ca, cb
    finally:
        for x in (a, b):
            if x.proc and x.proc.poll() is None:
                x.proc.kill()


def main():
    base = Path(tempfile.mkdtemp(prefix="fieldrelay-fwd-", dir="/var/tmp"))
    try:
        n = int(os.environ.get("BENCH_FORWARD_SMALL", "20000"))
        ref_node = Node(base / "ref", 9)
        ref_node.start()
        ref = n / ingest(ref_node, n, 200, "ipn:2.5")
        ref_node.stop()
        dt, ca, cb = run(base, n, 200)
        rate = n / dt
        mb = n * 200 / 1e6
        print(f"bench forward-200B: {rate:.0f} bundles/s A->B ({mb / dt:.2f} MB/s payload; CPU s/MB: "
              f"A {ca / mb:.2f}, B {cb / mb:.2f}); reference one daemon's durable ingest {ref:.0f} "
              f"bundles/s; ratio {rate / ref:.2f}; target >= 10000 bundles/s {'PASS' if rate >= 10000 else 'FAIL'}")
        nb = int(os.environ.get("BENCH_FORWARD_BIG", "300"))
        refb = raw_sqlite_rate(base, 65536, nb)
        dt, ca, cb = run(base, nb, 65536)
        rate = nb / dt
        mb = nb * 65536 / 1e6
        print(f"bench forward-64KB: {rate:.0f} bundles/s A->B ({mb / dt:.1f} MB/s; CPU s/MB: A {ca / mb:.3f}, "
              f"B {cb / mb:.3f}); reference raw-sqlite FULL/WAL 64 KB rows {refb:.0f}/s; ratio "
              f"{rate / refb:.2f} (target >= 0.50) {'PASS' if rate / refb >= 0.5 else 'FAIL'}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
