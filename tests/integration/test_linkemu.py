"""The link emulator itself: what it measurably does matches what it was told.

Two plain UDP sockets play node A and node B.  Arrival times are the kernel's
receive timestamps (SO_TIMESTAMPNS), so Python's own scheduling does not blur
the delays and rates we measure.
"""
import json
import math
import signal
import socket
import statistics
import struct
import subprocess
import time

import pytest

from harness import wait_for
from harness.sim import LINKEMU, LinkEmu, consistent

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)   # Linux value
HDR = struct.Struct("!IQ")      # sequence number, send time (CLOCK_REALTIME ns)


class Node:
    """A UDP socket standing in for a node."""

    def __init__(self, host="127.0.0.1"):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.s.bind((host, 0))
        self.port = self.s.getsockname()[1]

    def send(self, addr, seq, size=64):
        self.s.sendto(HDR.pack(seq, time.time_ns()).ljust(size, b"."), addr)

    def recv(self, timeout=5.0):
        """(seq, sent_ns, arrived_ns, size) or None on timeout."""
        self.s.settimeout(timeout)
        try:
            data, anc, _, _ = self.s.recvmsg(65536, 64)
        except socket.timeout:
            return None
        arrived = time.time_ns()
        for level, typ, val in anc:
            if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", val[:16])
                arrived = sec * 1_000_000_000 + nsec
        seq, sent = HDR.unpack_from(data)
        return seq, sent, arrived, len(data)

    def recv_n(self, n, timeout=10.0):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            r = self.recv(max(0.001, deadline - time.monotonic()))
            if r is None:
                break
            out.append(r)
        return out

    def drain(self):
        """Whatever has already arrived, without waiting."""
        out = []
        while (r := self.recv(0.0001)) is not None:
            out.append(r)
        return out

    def close(self):
        self.s.close()


@pytest.fixture
def pair():
    """Node A, node B, and a factory for an emulator between them."""
    made = []
    a, b = Node(), Node()

    def emu(**kw):
        e = LinkEmu(peer_a=a.port, peer_b=b.port, **kw)
        made.append(e)
        return e

    yield a, b, emu
    for e in made:
        e.stop()
    a.close()
    b.close()


def delays_ms(got):
    return [(arr - sent) / 1e6 for _, sent, arr, _ in got]


def paced_send(node, addr, n, gap, size=64):
    """Send n datagrams gap seconds apart (traffic shape, not synchronisation)."""
    start = time.monotonic()
    for i in range(n):
        while time.monotonic() < start + i * gap:
            time.sleep(min(0.005, start + i * gap - time.monotonic()))
        node.send(addr, i, size)


def wait_stats(emu, pred, what, timeout=10):
    st = {}

    def ok():
        st.update(emu.stats())
        return pred(st)
    wait_for(ok, timeout, what)
    return st


@pytest.mark.parametrize("rate,size,count", [(100_000, 1000, 26), (1_000_000, 1250, 101)])
def test_rate(pair, rate, size, count):
    a, b, mk = pair
    emu = mk(rate=rate, queue="1M")
    for i in range(count):                       # one burst: the link paces it
        a.send(emu.a_addr, i, size)
    got = b.recv_n(count, timeout=30)
    assert [g[0] for g in got] == list(range(count))
    span = (got[-1][2] - got[0][2]) / 1e9
    measured = (count - 1) * size * 8 / span
    print(f"rate {rate} bit/s: measured {measured:.0f} bit/s over {span:.3f}s")
    assert abs(measured - rate) / rate < 0.05
    st = emu.stats()
    assert st["ab"]["in"] == st["ab"]["fwd"] == count
    assert st["ab"]["fwd_bytes"] == count * size
    assert consistent(st)


def test_rate_counts_overhead(pair):
    a, b, mk = pair
    emu = mk(rate="100k", overhead=28, queue="1M")
    for i in range(21):
        a.send(emu.a_addr, i, 222)              # 250 bytes on the wire: 20 ms each
    got = b.recv_n(21)
    span = (got[-1][2] - got[0][2]) / 1e9
    assert abs(span - 0.400) < 0.010, span


def test_queue_drop_tail(pair):
    a, b, mk = pair
    # 100 kbit/s and 10 kB of queue: 10 datagrams of 1000 B fit, each takes 80 ms.
    emu = mk(rate="100k", queue=10000)
    for i in range(30):
        a.send(emu.a_addr, i, 1000)
    st = wait_stats(emu, lambda s: s["ab"]["in"] == 30 and s["ab"]["pending"] == 0,
                    "burst to drain")
    got = b.recv_n(st["ab"]["fwd"])
    assert 10 <= st["ab"]["fwd"] <= 11, st     # 11 if one left the queue during the burst
    assert st["ab"]["drop_queue"] == 30 - st["ab"]["fwd"]
    assert [g[0] for g in got] == list(range(len(got)))    # the head, drop-tail
    assert b.drain() == []
    assert consistent(st)


@pytest.mark.parametrize("delay_ms", [50, 300])
def test_delay(pair, delay_ms):
    a, b, mk = pair
    emu = mk(delay=f"{delay_ms}ms")
    n = 20
    paced_send(a, emu.a_addr, n, 0.02)
    got = b.recv_n(n, timeout=10)
    assert len(got) == n
    d = delays_ms(got)
    med = statistics.median(d)
    print(f"delay {delay_ms} ms: min {min(d):.3f} median {med:.3f} max {max(d):.3f}")
    assert min(d) >= delay_ms - 0.2
    assert med <= delay_ms + 1.0
    assert max(d) <= delay_ms + 10.0    # one late wake-up on a loaded machine
    st = emu.stats()
    assert st["ab"]["fwd"] == n and consistent(st)


def test_delay_each_direction(pair):
    a, b, mk = pair
    emu = mk(delay={"ab": "20ms", "ba": "80ms"})
    a.send(emu.a_addr, 1)
    b.send(emu.b_addr, 2)
    (ra,) = b.recv_n(1)
    (rb,) = a.recv_n(1)
    assert 20 <= (ra[2] - ra[1]) / 1e6 < 30
    assert 80 <= (rb[2] - rb[1]) / 1e6 < 90


def test_jitter_uniform(pair):
    a, b, mk = pair
    # Datagrams 45 ms apart, more than the 40 ms range, so none is held back.
    emu = mk(delay="100ms", jitter="20ms")
    n = 60
    paced_send(a, emu.a_addr, n, 0.045)
    got = b.recv_n(n)
    d = delays_ms(got)
    sd = statistics.pstdev(d)
    print(f"uniform jitter: min {min(d):.2f} max {max(d):.2f} sd {sd:.2f} (expect {20 / 3 ** .5:.2f})")
    assert len(got) == n
    assert min(d) >= 80 - 0.2 and max(d) <= 120 + 3
    assert max(d) - min(d) > 30                 # it does vary
    assert 0.7 < sd / (20 / math.sqrt(3)) < 1.3
    assert [g[0] for g in got] == list(range(n))


def test_jitter_normal(pair):
    a, b, mk = pair
    emu = mk(delay="100ms", jitter="8ms", jitter_dist="normal")
    n = 60
    paced_send(a, emu.a_addr, n, 0.05)       # more than the +-3 sigma range
    got = b.recv_n(n)
    d = delays_ms(got)
    sd = statistics.pstdev(d)
    print(f"normal jitter: mean {statistics.mean(d):.2f} sd {sd:.2f} (expect 8)")
    assert len(got) == n
    assert min(d) >= 100 - 24 - 0.2 and max(d) <= 100 + 24 + 3
    assert 0.7 < sd / 8 < 1.3
    assert abs(statistics.mean(d) - 100) < 4


@pytest.mark.parametrize("reorder", [False, True])
def test_reorder_only_when_asked(pair, reorder):
    a, b, mk = pair
    emu = mk(delay="50ms", jitter="20ms", reorder=reorder)
    n = 200
    for i in range(n):                      # back to back: jitter >> spacing
        a.send(emu.a_addr, i)
    got = b.recv_n(n)
    seqs = [g[0] for g in got]
    assert sorted(seqs) == list(range(n))
    inversions = sum(1 for x, y in zip(seqs, seqs[1:]) if y < x)
    print(f"reorder={reorder}: {inversions} inversions")
    if reorder:
        assert inversions > 10
    else:
        assert inversions == 0
        assert min(delays_ms(got)) >= 30 - 0.2


def send_counted(emu, a, b, n, direction="ab", batch=250, size=64):
    """Send n datagrams in batches, each accepted by the emulator before the
    next (so no socket buffer overflows); returns what arrived."""
    got = []
    src, dst, addr = (a, b, emu.a_addr) if direction == "ab" else (b, a, emu.b_addr)
    before = emu.stats()[direction]
    base = before["in"]
    for start in range(0, n, batch):
        for i in range(start, min(n, start + batch)):
            src.send(addr, i, size)
        wait_stats(emu, lambda s: s[direction]["in"] >= base + min(n, start + batch),
                   "emulator to take the batch")
        got += dst.drain()
    st = wait_stats(emu, lambda s: s[direction]["pending"] == 0, "link to empty")
    want = st[direction]["fwd"] - before["fwd"]
    wait_for(lambda: got.extend(dst.drain()) or len(got) >= want, 10, "datagrams to arrive")
    return got, st


@pytest.mark.parametrize("p", [0.05, 0.20])
def test_loss(pair, p):
    a, b, mk = pair
    emu = mk(loss=p, seed=7)
    n = 5000
    got, st = send_counted(emu, a, b, n)
    lost = n - len(got)
    # 99.9% two-sided binomial interval (normal approximation).
    half = 3.29 * math.sqrt(p * (1 - p) / n)
    print(f"loss {p}: {lost}/{n} = {lost / n:.4f} (interval {p - half:.4f}..{p + half:.4f})")
    assert abs(lost / n - p) <= half
    s = st["ab"]
    assert s["in"] == n and s["fwd"] == len(got) and s["drop_loss"] == lost
    assert len({g[0] for g in got}) == len(got)     # no duplicates
    assert consistent(st)


def test_loss_reproducible_with_seed(pair):
    a, b, mk = pair
    runs = []
    for seed in (11, 11, 12):
        emu = mk(loss=0.3, seed=seed)
        got, _ = send_counted(emu, a, b, 500)
        runs.append({g[0] for g in got})
        emu.stop()
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_scripted_outage(pair):
    a, b, mk = pair
    # Down for 0.5 s from 0.5 s after start, and again every 1.5 s.
    emu = mk(outages=["500ms+500ms@1500ms"])
    n, gap = 280, 0.01
    sent = []
    start = time.monotonic()
    for i in range(n):
        while time.monotonic() < start + i * gap:
            time.sleep(min(0.005, start + i * gap - time.monotonic()))
        sent.append(time.monotonic() - emu.t0)
        a.send(emu.a_addr, i)
    st = wait_stats(emu, lambda s: s["ab"]["in"] == n, "all datagrams to reach the emulator")
    got = b.recv_n(st["ab"]["fwd"])
    passed = {g[0] for g in got}
    assert b.drain() == []

    def down(t):
        return (t - 0.5) % 1.5 < 0.5 if t >= 0.5 else False

    margin = 0.003      # send -> emulator takes microseconds; be generous
    sure_down = [i for i, t in enumerate(sent) if down(t - margin) and down(t + margin)]
    sure_up = [i for i, t in enumerate(sent) if not down(t - margin) and not down(t + margin)]
    assert len(sure_down) > 60 and len(sure_up) > 120
    assert not passed & set(sure_down), "datagrams passed while the link was down"
    assert set(sure_up) <= passed, "datagrams lost while the link was up"
    after = [i for i in sure_up if sent[i] > 1.0]
    assert after and after[0] in passed         # traffic resumes
    assert st["ab"]["drop_outage"] == n - len(passed)
    assert consistent(st)
    print(f"outage: {len(sure_down)} sent while down, all dropped; {len(passed)} passed")


def test_runtime_down_up(pair):
    a, b, mk = pair
    emu = mk()
    for i in range(20):
        a.send(emu.a_addr, i)
    assert len(b.recv_n(20)) == 20

    emu.down()
    assert emu.stats()["ab"]["up"] is False
    for i in range(20, 40):
        a.send(emu.a_addr, i)
        b.send(emu.b_addr, i)
    st = wait_stats(emu, lambda s: s["ab"]["in"] == 40 and s["ba"]["in"] == 20, "datagrams in")
    assert st["ab"]["drop_outage"] == 20 and st["ba"]["drop_outage"] == 20
    assert b.drain() == [] and a.drain() == []

    emu.up()
    for i in range(40, 60):
        a.send(emu.a_addr, i)
    assert [g[0] for g in b.recv_n(20)] == list(range(40, 60))

    # One direction only.
    emu.down("ba")
    a.send(emu.a_addr, 60)
    b.send(emu.b_addr, 60)
    assert b.recv_n(1)[0][0] == 60
    wait_stats(emu, lambda s: s["ba"]["in"] == 21, "ba datagram in")
    assert a.drain() == []
    emu.up("ba")
    b.send(emu.b_addr, 61)
    assert a.recv_n(1)[0][0] == 61
    st = emu.stats()
    assert st["ab"]["fwd"] == 41 and st["ba"]["fwd"] == 1 and st["ba"]["drop_outage"] == 21
    assert consistent(st)


def test_runtime_down_for_a_while(pair):
    a, b, mk = pair
    emu = mk()
    t_down = time.monotonic()
    emu.down(duration="300ms")
    i = 0
    first = None
    deadline = t_down + 5
    while first is None and time.monotonic() < deadline:
        a.send(emu.a_addr, i)
        i += 1
        r = b.recv(0.005)
        if r:
            first = time.monotonic()
    assert first is not None, "link never came back"
    print(f"down 300ms: back after {first - t_down:.3f}s")
    # Measured through Python polling every 5 ms, hence the loose upper bound.
    assert 0.295 <= first - t_down <= 0.38


def test_runtime_shaping_commands(pair):
    a, b, mk = pair
    emu = mk()
    emu.set(delay="100ms")
    a.send(emu.a_addr, 0)
    (r,) = b.recv_n(1)
    assert 100 <= (r[2] - r[1]) / 1e6 < 105
    emu.set(delay=0, rate="100k", queue="1M")
    for i in range(11):
        a.send(emu.a_addr, i, 1000)
    got = b.recv_n(11)
    span = (got[-1][2] - got[0][2]) / 1e9
    assert abs(span - 0.8) < 0.02
    emu.set(rate="off", loss="100%")
    a.send(emu.a_addr, 99)
    st = wait_stats(emu, lambda s: s["ab"]["drop_loss"] == 1, "loss")
    assert st["ab"]["loss"] == 1 and st["ab"]["rate"] == 0
    assert emu.cmd("loss 1.5").startswith("error")
    assert emu.cmd("frobnicate").startswith("error")
    assert emu.cmd("reset") == "ok"
    assert emu.stats()["ab"]["in"] == 0


def test_stdin_commands(pair):
    a, b, mk = pair
    emu = mk(stdin=True)
    a.send(emu.a_addr, 0)
    b.recv_n(1)
    assert emu.stdin_cmd("loss ab 0.5") == "ok"
    st = json.loads(emu.stdin_cmd("stats"))
    assert st["event"] == "stats" and st["ab"]["fwd"] == 1 and st["ab"]["loss"] == 0.5


def test_learns_peers_and_ipv6():
    a, b = Node("::1"), Node("::1")
    emu = LinkEmu(host="::1")
    try:
        assert emu.ready["a"].startswith("[::1]:")
        b.send(emu.b_addr, 0)               # learns B; A unknown yet: nowhere to go
        wait_stats(emu, lambda s: s["ba"]["drop_nopeer"] == 1, "nopeer drop")
        a.send(emu.a_addr, 1)               # learns A; B known: delivered
        assert b.recv_n(1)[0][0] == 1
        b.send(emu.b_addr, 2)
        assert a.recv_n(1)[0][0] == 2
        assert "learned node A at [::1]:%d" % a.port in emu.log_text()
    finally:
        final = emu.stop()
        a.close()
        b.close()
    assert final["ab"]["fwd"] == 1 and final["ba"]["fwd"] == 1 and consistent(final)


def test_throughput_unlimited(pair):
    a, b, mk = pair
    emu = mk()
    n, size, window = 15000, 1400, 200
    got = 0
    sent = 0
    b.s.settimeout(5)
    start = time.monotonic()
    while got < n:
        while sent < n and sent - got < window:
            a.send(emu.a_addr, sent, size)
            sent += 1
        try:
            b.s.recv(65536)
        except socket.timeout:
            raise AssertionError(f"stalled at {got}/{n}: {emu.stats()}")
        got += 1
    elapsed = time.monotonic() - start
    mbit = n * size * 8 / elapsed / 1e6
    print(f"unlimited: {mbit:.1f} Mbit/s")
    assert mbit >= 50
    st = emu.stats()
    assert st["ab"]["fwd"] == n and consistent(st)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_final_stats_at_exit(pair, sig):
    a, b, mk = pair
    emu = mk(delay="10s")                  # these stay in the link
    for i in range(5):
        a.send(emu.a_addr, i)
    wait_stats(emu, lambda s: s["ab"]["pending"] == 5, "datagrams in flight")
    proc = emu.proc
    final = emu.stop(sig)
    assert proc.returncode == 0
    assert final["event"] == "final"
    assert final["ab"]["in"] == 5 and final["ab"]["pending"] == 5 and consistent(final)


def test_help_and_bad_usage():
    r = subprocess.run([str(LINKEMU), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    for word in ("SYNOPSIS", "COMMANDS", "STATISTICS", "--rate", "--outage", "--reorder",
                 "--control", "--seed", "drop_outage"):
        assert word in r.stdout
    for bad in (["--rate", "fast"], ["--loss", "2"], ["--outage", "10s"], ["-a", "nohost:1"],
                ["--delay", "-5ms"], ["extra"]):
        r = subprocess.run([str(LINKEMU), *bad], capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 2, bad
