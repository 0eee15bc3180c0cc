#!/usr/bin/python3
"""Where forwarding time goes: one run of bench_forward.run() with `perf
record -g` on every daemon, then each thread's samples bucketed by the
syscall or module they were in.  Not a benchmark (run.sh does not run it).

    tests/bench/profile_forward.py N SIZE [HOPS [MTU]]     (needs perf, root)

FIELDRELAY_BUILD selects the build (build-bench is what make bench uses);
PERF_CALLGRAPH="--call-graph dwarf,16384" gives full user stacks instead of
frame pointers (the daemon has none), at more overhead.  perf data is left
in $PERF_DIR (default /tmp) as nodeK.data for perf report.
"""
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_forward as bf  # noqa: E402

BUCKETS = [
    ("sendto (UDP send)", ("__libc_sendto", "__sendmmsg")),
    ("recvfrom (UDP recv)", ("__libc_recvfrom", "__recvmmsg")),
    ("fdatasync", ("fdatasync", "fsync")),
    ("fcntl (SQLite locks)", ("__fcntl64_nocancel_adjusted", "__GI___libc_fcntl64")),
    ("open/close", ("__GI___libc_open", "__libc_open64", "__close")),
    ("idle (epoll_wait, futex)", ("epoll_wait", "__futex_abstimed_wait_common")),
    ("pwrite", ("__libc_pwrite",)),
    ("pread", ("__libc_pread",)),
    ("mmap/munmap", ("munmap", "__mmap")),
    ("crypto", ("crypto_seal", "crypto_open", "aead_tag")),
    ("session/link logic", ("session_", "rx_merge", "link_pump", "segment_data")),
    ("SQLite (user)", ("sqlite3",)),
]


def bucket(stack):
    for frame in stack:
        for name, prefixes in BUCKETS:
            if frame.startswith(prefixes):
                return name
    return "other: " + (stack[0] if stack else "?")


def report(path):
    out = subprocess.run(["perf", "script", "-i", str(path), "-F", "tid,ip,sym"],
                         capture_output=True, text=True).stdout
    per = collections.defaultdict(collections.Counter)
    tid, stack = None, []
    for line in out.splitlines() + [""]:
        if not line.strip():
            if tid is not None:
                per[tid][bucket(stack)] += 1
            tid, stack = None, []
        elif not line.startswith("\t"):
            tid = int(line.split()[0])
        else:
            parts = line.split(None, 1)
            stack.append(parts[1].split("+")[0] if len(parts) > 1 else "?")
    for t, c in sorted(per.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(c.values())
        print(f"  thread {t}: {total} samples")
        other = sum(v for k, v in c.items() if k.startswith("other"))
        for k, v in c.most_common():
            if not k.startswith("other"):
                print(f"    {100 * v / total:5.1f}%  {k}")
        top = ", ".join(f"{k[7:]} {100 * v / total:.1f}%" for k, v in c.most_common(8) if k.startswith("other"))
        print(f"    {100 * other / total:5.1f}%  other (top: {top})")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    n, size = int(sys.argv[1]), int(sys.argv[2])
    hops = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    mtu = int(sys.argv[4]) if len(sys.argv) > 4 else None
    outdir = Path(os.environ.get("PERF_DIR", "/tmp"))
    pids, perfs = [], []
    cpu_seconds, poll = bf.cpu_seconds, bf.poll

    def record_pid(pid):	# run() reads every daemon's CPU time just before it starts the clock
        if pid not in pids:
            pids.append(pid)
        return cpu_seconds(pid)

    def profiled_poll(node, count, timeout):
        for i, pid in enumerate(pids):
            perfs.append(subprocess.Popen(
                ["perf", "record", "-F", "999", *os.environ.get("PERF_CALLGRAPH", "-g").split(),
                 "-o", str(outdir / f"node{i + 1}.data"), "-p", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            poll(node, count, timeout)
        finally:
            for p in perfs:
                p.send_signal(2)
                p.wait()

    bf.cpu_seconds, bf.poll = record_pid, profiled_poll
    base = Path(tempfile.mkdtemp(prefix="fieldrelay-prof-", dir="/var/tmp"))
    try:
        dt, cpu, link = bf.run(base, n, size, hops=hops, mtu=mtu)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    mb = n * size / 1e6
    print(f"{n / dt:.0f} bundles/s, {mb / dt:.1f} MB/s under perf; CPU s/MB {bf.cpu_text(cpu, mb)}; "
          f"{link['segments']} segments, {link['retransmissions']} resent")
    for i in range(len(pids)):
        print(f"node {'ABC'[i]}:")
        report(outdir / f"node{i + 1}.data")


if __name__ == "__main__":
    main()
