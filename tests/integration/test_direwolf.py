"""Two real Direwolf 1.6 TNCs joined by audio over UDP (tests/harness/direwolf.py):
AX.25 UI frames written as KISS into one come out of the other intact, at 1200
bit/s AFSK and at 9600 bit/s G3RUH, in about the time their bits take on air.
And the audio pacer between them: real time, nothing lost, nothing reordered.
"""
import random
import re
import signal
import socket
import struct
import subprocess
import time

import pytest

from harness import running
from harness.direwolf import (FEND, FESC, PACER, DirewolfPair, KissReader, direwolf_available, kiss_data,
                              ui_frame)

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)     # Linux value
BYTES_PER_S = 88200         # 44.1 kHz, S16, mono

needs_direwolf = pytest.mark.skipif(not direwolf_available(),
                                    reason="direwolf not installed (Debian package direwolf)")


def make_frame(rng, size, seq):
    """A UI frame of `size` bytes whose info starts with a sequence number and
    holds both KISS special bytes, so escaping is exercised every time."""
    info = struct.pack("!H", seq) + bytes([FEND, FESC]) + rng.randbytes(size - 20)
    return ui_frame(("FRD2", 2), ("FRD1", 1), info)


def airtime(frame, baud):
    """Seconds the frame's own bits take at the line rate: a lower bound on
    delivery (no flags, FCS, bit stuffing or TXDELAY counted)."""
    return len(frame) * 8 / baud


# ---- through the Direwolf pair ----------------------------------------------

SIZES = (20, 60, 120, 200)


@needs_direwolf
@pytest.mark.parametrize("modem", [1200, 9600])
def test_frames_both_ways(tmp_path, modem):
    rng = random.Random(modem)
    with DirewolfPair(tmp_path, modem=modem) as pair:
        sock = {"a": pair.kiss_connect("a", settle=False), "b": pair.kiss_connect("b")}
        rx = {k: KissReader(s) for k, s in sock.items()}
        results = []
        seq = 0
        for src, dst in (("a", "b"), ("b", "a")):
            for size in SIZES:
                seq += 1
                frame = make_frame(rng, size, seq)
                assert len(frame) == size
                t0 = time.monotonic()
                sock[src].sendall(kiss_data(frame))
                got = rx[dst].next(timeout=15)
                latency = time.monotonic() - t0
                assert got is not None, f"{src}->{dst} {size} B frame never arrived at {modem} bit/s"
                assert got == (0x00, frame), f"{src}->{dst} {size} B frame arrived altered"
                results.append((f"{src.upper()}->{dst.upper()}", size, latency))
                bound = 1.3 * airtime(frame, modem) + 0.1 + 1.5   # bits, TXDELAY, a loaded machine
                assert airtime(frame, modem) <= latency <= bound, \
                    f"{size} B at {modem} bit/s took {latency:.3f}s (expected {airtime(frame, modem):.3f}..{bound:.2f}s)"

        # Four frames at once: Direwolf queues them and sends them in order.
        burst = [make_frame(rng, 100, seq + 1 + i) for i in range(4)]
        t0 = time.monotonic()
        sock["a"].sendall(b"".join(kiss_data(f) for f in burst))
        for i, f in enumerate(burst):
            got = rx["b"].next(timeout=20)
            assert got == (0x00, f), f"burst frame {i} missing or altered: {got!r:.60}"
        burst_time = time.monotonic() - t0
        assert burst_time >= sum(airtime(f, modem) for f in burst)

        # Nothing more: no duplicate, and nothing echoed to a sender.
        assert rx["a"].next(timeout=0.5) is None
        assert rx["b"].next(timeout=0.1) is None

    print(f"\nDirewolf {modem} bit/s, KISS write to KISS read:")
    for d, size, lat in results:
        print(f"  {d} {size:3d} B: {lat:.3f} s (bits alone {size * 8 / modem:.3f} s)")
    print(f"  A->B 4 x 100 B queued at once: {burst_time:.3f} s")
    for name in ("a", "b"):
        t = pair.pacer_totals(name)
        assert t is not None, f"no exit line from pacer {name}:\n{pair.side(name).log_text()}"
        print(f"  pacer {name}: {t['seconds']:.1f} s at {t['rate']:.0f} B/s, {t['bursts']} bursts, "
              f"{t['bridged']} bridged, latest wake-up {t['late_max_ms']} ms")
        assert t["send_errors"] == 0 and t["resyncs"] == 0, t
        assert abs(t["rate"] - pair.bytes_per_s) < 0.02 * pair.bytes_per_s, t


@needs_direwolf
def test_pair_stops_everything(tmp_path):
    """Leaving the with block ends both Direwolf process groups, pacers too."""
    with DirewolfPair(tmp_path) as pair:
        groups = [pair.a.proc.pid, pair.b.proc.pid]
        members = subprocess.run(["pgrep", "-g", ",".join(map(str, groups))],
                                 capture_output=True, text=True).stdout.split()
        assert len(members) >= 4, f"expected two direwolf and two pacers, got {members}"
    left = subprocess.run(["pgrep", "-g", ",".join(map(str, groups))],
                          capture_output=True, text=True).stdout.split()
    assert left == [], f"still running after stop: {left}"


# ---- the audio pacer alone --------------------------------------------------

def pattern(n, salt):
    """n bytes that are never zero, so silence (zeros) cannot hide in them."""
    return bytes((i * 7 + salt) % 255 + 1 for i in range(n))


def receive_all(sock):
    """Every datagram waiting, with its kernel arrival time in seconds."""
    out = []
    sock.setblocking(False)
    while True:
        try:
            data, anc, _, _ = sock.recvmsg(4096, 64)
        except BlockingIOError:
            return out
        ts = None
        for level, typ, val in anc:
            if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", val[:16])
                ts = sec + nsec / 1e9
        out.append((ts, data))


def udp_receiver():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind(("127.0.0.1", 0))
    return s


def pacer_exit_line(stderr):
    m = re.search(r"audio (\d+) bytes in (\d+) bursts.*?(\d+) resyncs, (\d+) send errors", stderr)
    assert m, f"no exit line from audio_pacer:\n{stderr}"
    return tuple(int(x) for x in m.groups())


def test_audio_pacer_real_time_and_lossless():
    """Bursts written faster than real time leave at 88,200 B/s, in order, whole,
    in datagrams of at most 1024 bytes, with silence between them."""
    assert PACER.exists(), f"{PACER} not built"
    rx = udp_receiver()
    with running([str(PACER), "-v", str(rx.getsockname()[1])], stdin=subprocess.PIPE,
                 stderr=subprocess.PIPE) as p:
        bursts = [pattern(44100, 1), pattern(10000, 2), pattern(88200, 3)]     # 0.5, 0.11, 1 s
        for pause, b in zip((0.3, 1.0, 0.5), bursts):
            time.sleep(pause)
            p.stdin.write(b)        # the last one blocks on the full pipe, like Direwolf
            p.stdin.flush()
        time.sleep(1.5)
        p.stdin.close()
        p.wait(10)
    stderr = p.stderr.read().decode()
    assert p.returncode == 0, stderr
    dgrams = receive_all(rx)
    rx.close()

    assert all(0 < len(d) <= 1024 and len(d) % 2 == 0 for _, d in dgrams)
    stream = b"".join(d for _, d in dgrams)
    assert [r for r in stream.split(b"\0") if r] == bursts, "audio lost, altered or reordered"

    # Arrival times against stream position: a steady 88,200 B/s throughout.
    pos, points = 0, []
    for ts, d in dgrams:
        points.append((ts, pos))
        pos += len(d)
    t_first, t_last = points[0][0], points[-1][0]
    rate = points[-1][1] / (t_last - t_first)
    drift = max(abs((ts - t_first) - p_ / BYTES_PER_S) for ts, p_ in points)
    print(f"\npacer: {len(dgrams)} datagrams, {rate:.0f} B/s, worst drift from schedule {drift * 1000:.1f} ms")
    assert abs(rate - BYTES_PER_S) < 0.01 * BYTES_PER_S
    assert drift < 0.25

    # Each burst took its own duration on the wire, not a moment.
    for b in bursts:
        start = stream.index(b)
        times = [ts for ts, p_ in points if start <= p_ < start + len(b)]
        span = times[-1] - times[0]
        assert len(b) / BYTES_PER_S - 0.05 <= span <= len(b) / BYTES_PER_S + 0.25, (len(b), span)

    audio, nbursts, resyncs, errors = pacer_exit_line(stderr)
    assert (audio, nbursts, resyncs, errors) == (sum(map(len, bursts)), 3, 0, 0), stderr


def test_audio_pacer_restarts_schedule_after_stall():
    """Stopped for 1 s, the pacer restarts its schedule instead of sending the
    missed second of silence at once (which would flood the receiver)."""
    rx = udp_receiver()
    with running([str(PACER), str(rx.getsockname()[1])], stdin=subprocess.PIPE,
                 stderr=subprocess.PIPE) as p:
        time.sleep(0.3)
        p.send_signal(signal.SIGSTOP)
        time.sleep(1.0)
        p.send_signal(signal.SIGCONT)
        time.sleep(0.3)
        p.stdin.close()
        p.wait(10)
    stderr = p.stderr.read().decode()
    dgrams = receive_all(rx)
    rx.close()
    # The first 100 ms after the resume carry at most 0.5 s (--max-behind) of catch-up.
    resume = next(ts for (ts, _), (ts_prev, _) in zip(dgrams[1:], dgrams) if ts - ts_prev > 0.5)
    early = sum(len(d) for ts, d in dgrams if resume <= ts < resume + 0.1)
    assert early <= 0.6 * BYTES_PER_S, early
    assert pacer_exit_line(stderr)[2] == 1, stderr
