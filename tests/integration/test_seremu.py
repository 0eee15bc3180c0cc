"""The serial line emulator itself: what it measurably does matches what it
was told (byte rate, frame loss, bit errors, outages, queue, unplugging).

The test opens the two pty ends the way a node would and writes and reads
bytes directly; arrival times are taken right after each read returns.
"""
import errno
import os
import random
import select
import threading
import time

import pytest

from harness import wait_for
from harness.serial import SerialEmu, consistent

FEND = 0xC0


class End:
    """One node's end of the line: a pty opened like a serial device."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.chunks = []            # (time.monotonic(), bytes) as read
        self._stop = False
        self._thread = None

    def write_all(self, data):
        view = memoryview(data)
        while view:
            select.select([], [self.fd], [], 1.0)
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                pass

    def read_some(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return b""
        data = os.read(self.fd, 65536)
        self.chunks.append((time.monotonic(), data))
        return data

    def read_n(self, n, timeout=5):
        """Exactly n bytes (fewer if the deadline passes first)."""
        got, deadline = b"", time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            got += self.read_some(0.1)
        return got

    def collect(self):
        """Read in a thread until stop()."""
        def run():
            while not self._stop:
                self.read_some(0.05)
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop = True
        if self._thread:
            self._thread.join(5)
        return b"".join(c for _, c in self.chunks)

    def received(self):
        return sum(len(c) for _, c in self.chunks)

    def close(self):
        os.close(self.fd)


def settled(ser, direction, sent):
    """Stats once everything sent in direction has come out or been dropped."""
    st = {}

    def done():
        st.update(ser.stats())
        return st[direction]["in"] == sent and st[direction]["pending"] == 0
    wait_for(done, 30, f"{direction}: {sent} bytes through the emulator")
    assert consistent(st), st
    return st


@pytest.mark.parametrize("baud,count", [(1200, 300), (9600, 2400)])
def test_byte_rate(baud, count):
    """count bytes written at once come out at baud/10 bytes per second."""
    with SerialEmu(rate=baud) as ser:
        a, b = End(ser.a), End(ser.b)
        data = bytes(random.Random(baud).randrange(256) for _ in range(count))
        b.collect()
        t_write = time.monotonic()
        a.write_all(data)
        wait_for(lambda: b.received() >= count, 10 * count / (baud / 10), "every byte")
        got = b.stop()
        assert got == data
        first, last = b.chunks[0][0], b.chunks[-1][0]
        rate = (count - 1) / (last - first)         # bytes per second between first and last
        print(f"{baud} baud: {rate:.1f} B/s measured, {baud / 10:.1f} configured; "
              f"all {count} bytes after {last - t_write:.3f} s")
        assert rate == pytest.approx(baud / 10, rel=0.03)
        # Never ahead of the line: the last byte cannot leave before count byte times.
        assert last - t_write >= count * 10 / baud - 0.005
        st = settled(ser, "ab", count)
        assert st["ab"]["fwd"] == count and st["ab"]["queue_max"] >= count // 2
        a.close()
        b.close()


def test_whole_frame_loss():
    """Frames between FENDs are lost whole, at the configured rate; the rest arrive intact."""
    n, p = 5000, 0.10
    frames = [f"{i:05d}".encode() + bytes([i % 192]) * 10 for i in range(n)]     # no FEND inside
    stream = b"".join(bytes([FEND]) + f + bytes([FEND]) for f in frames)
    with SerialEmu(rate="1M", loss={"ab": p}, queue="1M", seed=7) as ser:
        a, b = End(ser.a), End(ser.b)
        b.collect()
        a.write_all(stream)
        st = settled(ser, "ab", len(stream))
        wait_for(lambda: b.received() >= st["ab"]["fwd"], 10, "the reader to catch up")
        got = [f for f in b.stop().split(bytes([FEND])) if f]
        assert set(got) <= set(frames), "a frame arrived damaged"
        ids = [int(f[:5]) for f in got]
        assert ids == sorted(set(ids)), "frames reordered or duplicated"
        lost = n - len(got)
        sigma = (n * p * (1 - p)) ** 0.5
        print(f"lost {lost} of {n} frames (expected {n * p:.0f} +- {sigma:.0f}); {st['ab']}")
        assert st["ab"]["frames"] == n and st["ab"]["frames_lost"] == lost
        assert abs(lost - n * p) < 4 * sigma
        assert st["ab"]["drop_loss"] == 15 * lost
        assert st["ba"]["in"] == 0
        a.close()
        b.close()


def test_bit_error_rate():
    n, ber = 50_000, 1e-3
    data = random.Random(5).randbytes(n)
    with SerialEmu(rate="1M", ber={"ab": ber}, queue="1M", seed=9) as ser:
        a, b = End(ser.a), End(ser.b)
        b.collect()
        a.write_all(data)
        settled(ser, "ab", n)
        wait_for(lambda: b.received() >= n, 10, "every byte")
        got = b.stop()
        assert len(got) == n, "bit errors must not add or remove bytes"
        flipped = sum(bin(x ^ y).count("1") for x, y in zip(data, got))
        damaged = sum(x != y for x, y in zip(data, got))
        st = ser.stats()["ab"]
        bits = 8 * n
        sigma = (bits * ber * (1 - ber)) ** 0.5
        print(f"{flipped} bit errors in {bits} bits (expected {bits * ber:.0f} +- {sigma:.0f})")
        assert st["bit_errors"] == flipped and st["bytes_corrupted"] == damaged
        assert abs(flipped - bits * ber) < 4 * sigma
        a.close()
        b.close()


def test_scripted_outage_and_manual_down():
    rate = 96_000                                   # 9600 bytes/s
    with SerialEmu(rate=rate, outages=["ab:1s+1s"], queue="1M") as ser:
        a, b = End(ser.a), End(ser.b)
        b.collect()
        data = bytes(range(256)) * 118              # 30208 bytes: 3.1 s, across the outage
        a.write_all(data)
        st = settled(ser, "ab", len(data))
        got = b.stop()
        t_in = [t - ser.t0 for t, _ in b.chunks]
        print(f"outage dropped {st['ab']['drop_outage']} bytes; {st['ab']}")
        # Exactly the bytes due during that second: 9600 of them.
        assert abs(st["ab"]["drop_outage"] - rate / 10) <= 10
        assert len(got) == len(data) - st["ab"]["drop_outage"]
        assert not [t for t in t_in if 1.05 < t < 1.95], "bytes came out during the outage"
        assert any(t < 1.0 for t in t_in) and any(t > 2.0 for t in t_in)
        # By command: one direction down, the other still works.
        before = st["ab"]["drop_outage"]
        ser.down("ab")
        a.write_all(b"x" * 100)
        b.write_all(b"y" * 50)
        st = settled(ser, "ab", len(data) + 100)
        assert st["ab"]["drop_outage"] == before + 100 and not st["ab"]["up"] and st["ba"]["up"]
        assert a.read_n(50) == b"y" * 50
        ser.up("ab")
        a.write_all(b"z" * 100)
        assert b.read_n(100) == b"z" * 100
        a.close()
        b.close()


def test_queue_is_drop_tail():
    with SerialEmu(rate=1200, queue=100) as ser:
        a = End(ser.a)
        b = End(ser.b).collect()
        a.write_all(bytes(300))
        st = settled(ser, "ab", 300)
        assert st["ab"]["drop_queue"] == 200 and st["ab"]["fwd"] == 100
        assert st["ab"]["queue_max"] == 100
        a.close()
        b.stop()
        b.close()


def test_unplug_and_plug_again():
    with SerialEmu(rate="1M") as ser:
        a, b = End(ser.a), End(ser.b)
        ser.unplug("b")
        assert not os.path.exists(ser.b), "the device path stays after unplug"
        # The node's open end reads end-of-file or an I/O error, like a pulled USB adapter.
        try:
            r, _, _ = select.select([b.fd], [], [], 2)
            assert r and os.read(b.fd, 100) == b""
        except OSError as e:
            assert e.errno == errno.EIO
        b.close()
        a.write_all(b"lost in the void")
        st = settled(ser, "ab", 16)
        assert st["ab"]["drop_unplugged"] == 16 and st["b"]["plugged"] is False
        path = ser.plug("b")
        assert os.path.realpath(ser.b) == path
        b = End(ser.b)
        a.write_all(b"hello")
        assert b.read_n(5) == b"hello"
        a.close()
        b.close()


def frame(tag, n):
    """A KISS-delimited frame of n bytes in all, no FEND inside."""
    return bytes([FEND]) + bytes([tag]) * (n - 2) + bytes([FEND])


@pytest.mark.parametrize("duplex", ["full", "half"])
def test_half_duplex_shares_the_medium(duplex):
    """Both sides send a 1-second frame at once: on a full-duplex line both are
    through after about 1 s; on a half-duplex one the second waits for the
    first (it starts coming out only when the first is through), so the two
    take about 2 s, and neither frame is cut into by the other."""
    n, baud = 960, 9600
    with SerialEmu(rate=baud, duplex=duplex) as ser:
        a, b = End(ser.a), End(ser.b)
        a.collect()
        b.collect()
        t0 = time.monotonic()
        a.write_all(frame(0x41, n))
        time.sleep(0.05)
        b.write_all(frame(0x42, n))
        wait_for(lambda: a.received() >= n and b.received() >= n, 10, "both frames")
        got_b, got_a = b.stop(), a.stop()
        assert got_b == frame(0x41, n) and got_a == frame(0x42, n)
        ab_first, ab_last = b.chunks[0][0] - t0, b.chunks[-1][0] - t0
        ba_first, ba_last = a.chunks[0][0] - t0, a.chunks[-1][0] - t0
        st = ser.stats()
        print(f"{duplex}: A->B {ab_first:.3f}..{ab_last:.3f} s, B->A {ba_first:.3f}..{ba_last:.3f} s; "
              f"waited {st['ba']['waited']:.3f} s")
        one = n * 10 / baud
        assert st["duplex"] == duplex
        assert ab_last == pytest.approx(one, abs=0.15)
        if duplex == "full":
            assert ba_last == pytest.approx(one + 0.05, abs=0.15)
            assert st["ba"]["waited"] == 0
        else:
            # B's frame begins only once A's is through, and ends one frame time later.
            assert ba_first >= ab_last - 0.02
            assert ba_last == pytest.approx(2 * one, abs=0.15)
            assert st["ba"]["waited"] == pytest.approx(one - 0.05, abs=0.1)
        assert st["ab"]["keyups"] == 1 and st["ba"]["keyups"] == 1
        a.close()
        b.close()


def test_txdelay_at_each_turn():
    """Half duplex, 200 ms key-up: each change of side, and each transmission
    after the line fell idle, starts with 200 ms of dead air; two frames
    written back to back are one transmission."""
    baud, txdelay = 9600, 0.2
    with SerialEmu(rate=baud, duplex="half", txdelay="200ms", txtail="10ms") as ser:
        a, b = End(ser.a), End(ser.b)
        legs = []

        def leg(src, dst, data):
            t = time.monotonic()
            src.write_all(data)
            got = dst.read_n(len(data), 5)
            legs.append(dst.chunks[-1][0] - t)
            assert got == data

        air = 96 * 10 / baud                    # 0.1 s a leg
        leg(a, b, frame(1, 48) + frame(2, 48))  # two frames, one transmission
        leg(b, a, frame(3, 96))                 # the other side: key up
        time.sleep(0.3)
        leg(b, a, frame(4, 96))                 # B again, after the line was idle: key up
        leg(a, b, frame(5, 96))
        st = ser.stats()
        print(f"legs {[round(x, 3) for x in legs]} s, keyups ab {st['ab']['keyups']} ba {st['ba']['keyups']}")
        assert st["ab"]["keyups"] == 2 and st["ba"]["keyups"] == 2
        assert st["txdelay"] == pytest.approx(txdelay)
        for x in legs:
            assert txdelay + air - 0.01 <= x <= txdelay + air + 0.15
        a.close()
        b.close()
