#!/usr/bin/python3
"""Goodput of bulk data between two fieldrelayd nodes over the real Direwolf
pair (issue 5, item 8): each daemon on its own Direwolf 1.6 KISS TCP port,
the radio channel audio over paced UDP (tests/harness/direwolf.py).

Reference, measured in the same run on the same pair: the pair's own
throughput for back-to-back full-size AX.25 UI frames (16-byte header +
256-byte info, what a daemon frame with mtu 256 is) written to A's KISS
port all at once and read from B's: Direwolf sends them in one
transmission, one TXDELAY, so this is the channel's HDLC rate (flags, FCS,
bit stuffing) with nothing of ours in it.  Figure: the daemon's goodput
(payload bytes of one bulk bundle over the time from `send` to the bundle
received whole) as a ratio to that reference, and to the nominal baud/8.

What the daemon pays on top, by design:
  - segments carry mtu - 76 = 180 bytes: the link reserves room for the
    largest frame header, the 16-byte tag and four 10-byte varints, and the
    actual frame is about 215 bytes, not 256;
  - pacing: a frame is written only when the TNC should have sent the last
    one, by an estimate of TXDELAY + 10 bits a byte (HDLC needs about 8.2:
    the estimate must not be short, or a TNC queue builds that an alert
    cannot overtake), and each frame keys the transmitter on its own;
  - half duplex: every segment is acknowledged, and the peer's ack, a
    transmission of its own with TXDELAY, holds our next frame back.
The pacing ceiling (see ceiling()) is what the sender's pacing lets out at
most, from the sizes the daemon actually sent.  On top of it, each segment
waits for the peer's ack: a transmission of its own (TXDELAY, Direwolf's
TXTAIL and persistence wait, a frame smaller than ours), which can take as
long as our own frame but no longer.  So the design keeps at least half the
ceiling: PASS at >= 0.5 of it.  Below, whole frame times went to something
outside the design (retransmissions, stalls, a queue in the TNC).  At 1200
the ack costs about a quarter of a cycle, at 9600 (TXDELAY and turnarounds
weigh more against a 0.2 s frame) closer to half.

Measured here: 1200, 0.65 of the ceiling (0.43 of the reference); 9600,
0.63-0.71 (0.32-0.35), with a quarter of the segments sent twice although
every frame was heard: Direwolf's TXTAIL (100 ms by default, not in our
airtime estimate) makes each 9600 transmission about 0.4 s against our
0.34 s, so the sender's TNC keeps the channel, the receiver's acks wait
for a gap (round trips of 8 s) and timeouts fire.
Run time: about three minutes.
"""
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))          # tests/: the harness package
if len(sys.argv) > 1:
    os.environ.setdefault("FIELDRELAY_BUILD", sys.argv[1])

from harness import KEY, Node, stop_all, wait_for  # noqa: E402
from harness.direwolf import DirewolfPair, KissReader, direwolf_available, kiss_data, ui_frame  # noqa: E402

INFO = 256                  # the daemon's kiss mtu: its largest link frame
TNC = {"txdelay": "100ms", "txtail": "30ms", "persist": 127, "slottime": "50ms"}
TXDELAY = 0.1
CASES = {       # modem: (ARATE, reference frames, bulk bytes)
    1200: (44100, 8, 6000),
    9600: (48000, 24, 24000),
}
SHARE = 0.5     # of the pacing ceiling, see above


def reference(tmp, modem, rate, frames):
    """Info bytes per second of `frames` back-to-back UI frames A -> B."""
    with DirewolfPair(tmp / f"ref{modem}", modem=modem, rate=rate) as pair:
        a = pair.kiss_connect("a", settle=False)
        b = pair.kiss_connect("b")
        rx = KissReader(b)
        burst = [ui_frame(("FRD2", 2), ("FRD1", 1), bytes([i]) + os.urandom(INFO - 1))
                 for i in range(frames)]
        t0 = time.monotonic()
        a.sendall(b"".join(kiss_data(f) for f in burst))
        for i, f in enumerate(burst):
            got = rx.next(timeout=60)
            assert got == (0x00, f), f"reference frame {i} at {modem} missing or altered"
        took = time.monotonic() - t0
    return frames * INFO / took, took


def node(tmp, node_id, kiss_port, modem):
    n = Node(tmp, node_id)
    key = n.write_key(KEY)
    tnc = "".join(f"{k} = {v}\n" for k, v in TNC.items())
    n.conf.write_text(n.conf.read_text().replace("level = info", "level = warn") +
                      f"[security]\nkey_file = {key}\n"
                      f"[link radio]\ntype = kiss\ntcp = 127.0.0.1:{kiss_port}\n"
                      f"callsign = N0CALL-{node_id}\nrate = {modem}\n{tnc}")
    return n


def daemon_goodput(tmp, modem, rate, size):
    base = tmp / f"daemons{modem}"
    nodes = []
    pair = DirewolfPair(base / "air", modem=modem, rate=rate)
    try:
        a = node(base, 1, pair.kiss_port_a, modem)
        nodes.append(a)
        b = node(base, 2, pair.kiss_port_b, modem)
        nodes.append(b)
        a.start()
        b.start()
        wait_for(lambda: all(len(n.cli_json("neighbors")[0]["neighbors"]) == 1 for n in (a, b)), 60,
                 "the nodes to hear each other")
        payload = os.urandom(size)
        f = base / "bulk.bin"
        f.write_bytes(payload)
        out = base / "out"
        out.mkdir()
        t0 = time.monotonic()
        a.cli("send", "-f", f, "ipn:2.9")
        b.cli("recv", "-n", 1, "-w", "-o", out, "9", timeout=600)
        took = time.monotonic() - t0
        got = list(out.iterdir())
        assert len(got) == 1 and got[0].read_bytes() == payload, "bulk bundle lost or altered"
        la, lb = (n.cli_json("links")[0]["links"][0] for n in (a, b))
        for n in nodes:
            assert n.stop() == 0, f"node {n.id}: unclean exit"
        return size / took, took, la, lb
    finally:
        stop_all(nodes)
        pair.stop()


def main():
    if not direwolf_available():
        # No figure, neither PASS nor FAIL: say why (run.sh counts a run with no bench line as broken).
        print("bench direwolf: skipped, direwolf not installed (Debian package direwolf)")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="fieldrelay-bench-dw-"))
    try:
        return run_cases(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ceiling(modem, size, la):
    """Bulk bytes/s the sender's pacing allows at most: per original segment
    its share of the payload, in one data frame of the average size sent,
    written TXDELAY + 10 bits a byte (AX.25 16 + KISS 3 + the link frame)
    after the last.  Frames heard only ever delay the next write."""
    original = la["segments"] - la["retransmissions"]
    frame = la["data_bytes_tx"] / la["segments"] + 19
    return (size / original) / (TXDELAY + frame * 10 / modem)


def run_cases(tmp):
    failed = 0
    for modem, (rate, frames, size) in CASES.items():
        ref, ref_t = reference(tmp, modem, rate, frames)
        put, took, la, lb = daemon_goodput(tmp, modem, rate, size)
        top = ceiling(modem, size, la)
        nominal = modem / 8
        verdict = "PASS" if put >= SHARE * top else "FAIL"
        failed += verdict == "FAIL"
        print(f"bench direwolf-{modem}-goodput: {size} B bulk in {took:.1f} s = {put:.1f} B/s; "
              f"ratio {put / ref:.2f} of reference (pair back-to-back {frames} x {INFO} B frames "
              f"{ref:.1f} B/s, {ref / nominal:.2f} of nominal {nominal:.0f} B/s), {put / nominal:.2f} of nominal; "
              f"pacing ceiling {top:.1f} B/s ({top / ref:.2f} of reference): A sent {la['frames_tx']} frames "
              f"{la['bytes_tx']} B ({la['retransmissions']} of {la['segments']} segments resent), "
              f"B {lb['frames_tx']} frames {lb['bytes_tx']} B; target >= {SHARE} of ceiling "
              f"({put / top:.2f}) {verdict}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
