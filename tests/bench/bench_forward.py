#!/usr/bin/python3
"""Forwarding benchmark (issue 4, item 9): node A -> node B over the UDP link
on loopback, no emulator, both stores durable, and A -> B -> C.

For 200 B and 64 KB payloads: bundles/s, MB/s and CPU seconds per MB of
payload on each side (utime + stime of each daemon from /proc/PID/stat, from
the moment the link is up until the last bundle is stored).  References
measured in the same run: for 200 B, ingest into one daemon's store through
its control socket (the durable bottleneck); for 64 KB, raw SQLite inserts
of the same payloads with synchronous=FULL in WAL mode, 16 rows per
transaction (the store's group commit makes about as many per fsync).

The link MTU is part of what is measured, and each line says which one:
the default (1400, safe on mesh Wi-Fi) and 8952, what a deployment sets on
a wired link with 9000-byte jumbo frames (the largest IPv6 UDP payload
that fits one; loopback carries it too).  The 64 KB target (>= 0.50 of raw
SQLite) is judged at mtu 8952; the default-MTU figure is information.

Multi-hop: A -> B -> C, every hop durable, at mtu 8952.  Its rate against
the single hop of the same run is printed for information: three daemons
share the CPUs, every bundle is stored, read, sent, received and deleted
twice, so on a machine where the single hop is CPU-bound (2 cores, shared)
the chain cannot exceed about 0.5 of it.  What is judged is the relay:
B's CPU per MB must stay within 1.25 times A's plus C's in the same run
(relaying costs what sending plus receiving costs; a walk or a session
that scales badly with the bundles a relay holds shows up here), which
does not depend on how busy the machine is.
"""
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))      # tests/: the harness package
from harness import CLI, Control, Node, stop_all, wait_for  # noqa: E402
from harness.mesh import mesh_node  # noqa: E402

JUMBO = 8952    # link mtu on a wired link with 9000-byte jumbo frames (less IPv6 and UDP headers)


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
    for suffix in ("", "-wal", "-shm"):
        Path(f"{base / 'raw.db'}{suffix}").unlink(missing_ok=True)
    return rows / dt


def ingest(node, n, size, dst):
    """n bundles of size bytes into node's store; seconds taken."""
    t = time.perf_counter()
    if size < 4096:
        line = ("x" * (size - 1) + "\n").encode()
        feed = node.dir / "feed.txt"
        feed.write_bytes(line * n)
        with open(feed, "rb") as fi:
            r = subprocess.run([str(CLI), "-s", str(node.sock), "send", "--batch", dst],
                               stdin=fi, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert r.returncode == 0, r.stderr
    else:
        # Pipelined over one control connection, a bounded number ahead.
        payload = os.urandom(size)
        c = Control(node)
        ahead = 0
        for i in range(n):
            c.send({"op": "send", "dst": dst, "tag": i}, payload)
            ahead += 1
            if ahead == 32:
                assert c.recv().get("ok"), "send refused"
                ahead -= 1
        for _ in range(ahead):
            assert c.recv().get("ok"), "send refused"
        c.close()
    return time.perf_counter() - t


def poll(node, n, timeout):
    """Wait until node stores n bundles, asking every 10 ms over one control
    connection (a CLI process per question would cost the daemons CPU)."""
    deadline = time.monotonic() + timeout
    c = Control(node)
    try:
        while True:
            c.send({"op": "status"})
            if c.recv()["store"]["bundles"] >= n:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {n} bundles at node {node.id}")
            time.sleep(0.01)
    finally:
        c.close()


def run(base, n, size, hops=1, mtu=None):
    """Fill A while the others are down (the bundles wait: no neighbour),
    start the others and let them find each other, then start A and time
    from its first neighbour until the last node has stored all n:
    forwarding alone, every store durable.  Returns (seconds, CPU seconds
    per node, A's link figures)."""
    pa = random.randint(20000, 50000)
    where = Path(tempfile.mkdtemp(prefix=f"{hops}hop-{size}-{mtu or 'default'}-", dir=base))
    ext = f"mtu = {mtu}\n" if mtu else ""
    ids = list(range(1, hops + 2))
    ports = [pa + i for i in range(len(ids))]
    nodes = []
    for i, node_id in enumerate(ids):
        peers = [ports[k] for k in (i - 1, i + 1) if 0 <= k < len(ids)]
        route = f"[route]\nstatic = {ids[-1]} via {ids[1]}\n" if i == 0 and hops > 1 else ""
        nodes.append(mesh_node(where, node_id, ports[i], peers, ext + route))
    a, last = nodes[0], nodes[-1]
    dst = f"ipn:{ids[-1]}.5"
    try:
        a.start()
        ingest(a, n, size, dst)
        assert a.status()["store"]["bundles"] == n
        assert a.stop() == 0
        for x in reversed(nodes[1:]):
            x.start()
        for i, x in enumerate(nodes[1:-1], 1):
            want = {ids[i - 1], ids[i + 1]} - {ids[0]}
            wait_for(lambda: want <= {y["node"] for y in x.cli_json("neighbors")[0]["neighbors"]}, 10,
                     "the relays to hear each other")
        a.start()
        wait_for(lambda: a.cli_json("neighbors")[0]["neighbors"], 10, "the link")
        cpu = [cpu_seconds(x.proc.pid) for x in nodes]
        t = time.perf_counter()
        poll(last, n, 900)
        dt = time.perf_counter() - t
        cpu = [cpu_seconds(x.proc.pid) - c for x, c in zip(nodes, cpu)]
        link = a.cli_json("links")[0]["links"][0]
        for x in nodes:
            assert x.stop() == 0
        return dt, cpu, link
    finally:
        stop_all(nodes)
        shutil.rmtree(where, ignore_errors=True)


def cpu_text(cpu, mb):
    return ", ".join(f"{name} {c / mb:.3f}" for name, c in zip("ABC", cpu))


def main():
    base = Path(tempfile.mkdtemp(prefix="fieldrelay-fwd-", dir="/var/tmp"))
    try:
        n = int(os.environ.get("BENCH_FORWARD_SMALL", "20000"))
        ref_node = Node(base / "ref", 9)
        ref_node.start()
        ref = n / ingest(ref_node, n, 200, "ipn:2.5")
        ref_node.stop()
        dt, cpu, _ = run(base, n, 200)
        rate, mb = n / dt, n * 200 / 1e6
        print(f"bench forward-200B: {rate:.0f} bundles/s A->B ({mb / dt:.2f} MB/s payload; CPU s/MB: "
              f"{cpu_text(cpu, mb)}); reference one daemon's durable ingest {ref:.0f} bundles/s; "
              f"ratio {rate / ref:.2f}; target >= 10000 bundles/s {'PASS' if rate >= 10000 else 'FAIL'}",
              flush=True)

        # The machine is shared: each 64 KB figure and its reference are the best of
        # ROUNDS runs, taken in turns, so that a busy moment does not decide the ratio.
        nb = int(os.environ.get("BENCH_FORWARD_BIG", "2000"))
        rounds = int(os.environ.get("BENCH_FORWARD_ROUNDS", "2"))
        mb = nb * 65536 / 1e6
        refs, runs = [], {None: [], JUMBO: [], "2hops": []}
        for _ in range(rounds):
            refs.append(raw_sqlite_rate(base, 65536, nb))
            for mtu in (None, JUMBO):
                runs[mtu].append(run(base, nb, 65536, mtu=mtu))
            runs["2hops"].append(run(base, nb, 65536, hops=2, mtu=JUMBO))
        refb = max(refs)
        spread = f"best of {rounds}" if rounds > 1 else "one run"

        def best(key):
            rates = sorted(nb / r[0] for r in runs[key])
            dt, cpu, link = min(runs[key], key=lambda r: r[0])
            return nb / dt, cpu, link, f"{spread}: {rates[0]:.0f}-{rates[-1]:.0f}"

        single = None
        for mtu in (None, JUMBO):
            rate, cpu, link, rng = best(mtu)
            what = (f"mtu {mtu} (set in the config, as on a wired link with jumbo frames)" if mtu else
                    "mtu 1400 (the default, for mesh Wi-Fi)")
            line = (f"bench forward-64KB{'-jumbo' if mtu else ''}: {rate:.0f} bundles/s A->B ({rng}; "
                    f"{rate * 65536 / 1e6:.1f} MB/s; CPU s/MB: {cpu_text(cpu, mb)}) at {what}; "
                    f"{link['segments']} segments, {link['retransmissions']} resent; reference raw-sqlite "
                    f"FULL/WAL 64 KB rows {refb:.0f}/s ({spread}: {min(refs):.0f}-{max(refs):.0f}); "
                    f"ratio {rate / refb:.2f}")
            if mtu:
                single = rate
                print(f"{line} (target >= 0.50) {'PASS' if rate / refb >= 0.5 else 'FAIL'}", flush=True)
            else:
                print(f"{line} (information: the target is judged at mtu {JUMBO})", flush=True)

        rate, cpu, link, rng = best("2hops")
        relay = cpu[1] / (cpu[0] + cpu[2])
        print(f"bench forward-64KB-2hops: {rate:.0f} bundles/s A->B->C ({rng}; {rate * 65536 / 1e6:.1f} MB/s; "
              f"CPU s/MB: {cpu_text(cpu, mb)}) at mtu {JUMBO}; ratio to the single hop above "
              f"{rate / single:.2f} (information: about 0.5 at most where the single hop is CPU-bound); "
              f"relay B's CPU {relay:.2f} of A's + C's (target <= 1.25) {'PASS' if relay <= 1.25 else 'FAIL'}",
              flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
