"""Issue 4, 8c: forged, truncated, replayed, wrong-key and bit-flipped frames
against a real daemon, while real traffic flows.

A and B are fieldrelayd nodes with the same network key, joined by UDP on
loopback through a man-in-the-middle written here (Mitm): it forwards every
datagram both ways, keeps copies of the real frames, and injects bad ones
toward B.  A third node, C, has another key; its frames reach B through the
middle too.  Every injected datagram is entered under the drop cause it must
be counted under in `fieldrelay links` on B, and the counts must match exactly.

The frame header, as radio/frame.c writes it: version (1), type, key id,
flags, then sender node, boot counter and frame counter as LEB128 varints;
then the body and a 16-byte tag.  (A first byte with its high bit set starts
a compact envelope instead: type, key id bit, flags, sender, 16 counter bits;
the receiver takes the rest from what it heard of that sender before.)  A
frame carries no length: whatever is cut
from its end is cut from the tag, so only a frame shorter than header + tag +
one body byte is "truncated"; a longer cut fails the tag.
"""
import os
import random
import selectors
import socket
import subprocess
import threading

import pytest

from harness import DAEMON, KEY, Node, free_port, free_ports, stop_all, wait_for

OTHER_KEY = "1 " + "77" * 32 + " send\n"
TAG = 16

# Causes as `fieldrelay --json links` names them (frame_drop_name()).
TRUNCATED = "truncated"
BAD_VERSION = "bad version"
BAD_TYPE = "unknown type"
BAD_HEADER = "bad header"
POLICY = "wrong mode for link"
UNKNOWN_KEY = "unknown key id"
REPLAYED = "replayed"
BAD_TAG = "bad tag"
OWN = "own node id"
UNKNOWN_SENDER = "compact from unknown sender"
ANY = "any"             # random bytes: some cause, never accepted


def relay_node(tmp_path, node_id, port, peer, key=KEY):
    n = Node(tmp_path, node_id)
    kf = n.dir / "network.key"
    kf.write_text(key)
    os.chmod(kf, 0o600)
    n.conf.write_text(n.conf.read_text() +
                      f"[security]\nkey_file = {kf}\n"
                      f"[link mesh]\ntype = udp\nport = {port}\npeer = 127.0.0.1:{peer}\n")
    return n


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7f) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def header(ftype=2, key_id=1, flags=0, sender=1, boot=1, counter=1):
    return bytes([1, ftype, key_id, flags]) + varint(sender) + varint(boot) + varint(counter)


def parse_header(f):
    """(type, sender, boot, counter, offset of each varint, header length)."""
    p, vals, offs = 4, [], []
    for _ in range(3):
        offs.append(p)
        v = shift = 0
        while True:
            b = f[p]
            p += 1
            v |= (b & 0x7f) << shift
            shift += 7
            if not b & 0x80:
                break
        vals.append(v)
    return f[1], vals[0], vals[1], vals[2], offs, p


def flip(f, byte, bit):
    g = bytearray(f)
    g[byte] ^= 1 << bit
    return bytes(g)


class Mitm:
    """A UDP relay between A and B (and C toward B) that records and injects."""

    def __init__(self):
        self.socks = {}
        for side in ("a", "b", "c", "inject"):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            self.socks[side] = s
        self.port = {k: s.getsockname()[1] for k, s in self.socks.items()}
        self.a_at = self.b_at = None
        self.a_frames, self.b_frames = [], []       # real frames, after forwarding
        self.capture = False
        self.forward_c = False
        self.flip_every = 0                         # a flipped copy ahead of every n-th A frame
        self.expected = {}
        self.lock = threading.Lock()
        self.a_seen = 0
        self.c_forwarded = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def expect(self, cause, n=1):
        with self.lock:
            self.expected[cause] = self.expected.get(cause, 0) + n

    def inject(self, data, cause):
        """One datagram to B from the injector's own address."""
        self.socks["inject"].sendto(data, self.b_at)
        self.expect(cause)

    def _run(self):
        sel = selectors.DefaultSelector()
        for side in ("a", "b", "c"):
            sel.register(self.socks[side], selectors.EVENT_READ, side)
        while not self.stopping:
            for key, _ in sel.select(0.05):
                try:
                    data, _ = key.fileobj.recvfrom(65536)
                except OSError:
                    continue        # ICMP unreachable from a peer not started yet
                side = key.data
                if side == "a" and self.b_at:
                    self.a_seen += 1
                    if self.capture and self.flip_every and self.a_seen % self.flip_every == 0:
                        # A corrupted copy first: it must not spend the real frame's counter.
                        hlen = parse_header(data)[5]
                        self.socks["b"].sendto(flip(data, random.randrange(hlen, len(data)), 3), self.b_at)
                        self.expect(BAD_TAG)
                    self.socks["b"].sendto(data, self.b_at)
                    if self.capture:
                        self.a_frames.append(data)
                elif side == "b" and self.a_at:
                    self.socks["a"].sendto(data, self.a_at)
                    if self.capture:
                        self.b_frames.append(data)
                elif side == "c" and self.forward_c and self.b_at:
                    self.socks["inject"].sendto(data, self.b_at)
                    self.c_forwarded += 1
                    self.expect(BAD_TAG)
        sel.close()

    def close(self):
        self.stopping = True
        self.thread.join(5)
        for s in self.socks.values():
            s.close()


def injection_round(m, rng):
    """One of every bad kind toward B; each entered under its cause."""
    real = m.a_frames[-1]
    rtype, sender, boot, counter, offs, hlen = parse_header(real)

    # (a) forged: random bytes, and valid-looking headers with garbage bodies and tags.
    m.inject(b"", TRUNCATED)
    m.inject(bytes([rng.randrange(2, 128)]) + rng.randbytes(rng.randrange(0, 300)), BAD_VERSION)
    m.inject(rng.randbytes(rng.randrange(1, 1400)), ANY)

    def garbage(n=None):
        return rng.randbytes(n if n is not None else rng.randrange(1, 200)) + rng.randbytes(TAG)

    m.inject(header(sender=1, boot=boot, counter=counter + rng.randrange(1, 1 << 20)) + garbage(), BAD_TAG)
    m.inject(header(ftype=rng.randrange(1, 8), sender=rng.randrange(3, 1 << 32),
                    counter=rng.randrange(1 << 32)) + garbage(), BAD_TAG)
    m.inject(header(key_id=9) + garbage(), UNKNOWN_KEY)
    m.inject(header(ftype=rng.choice([0, 10, 200, 255])) + garbage(), BAD_TYPE)
    # Compact envelopes (0x80 | type << 3 | key bit << 2 | flags): from a node B never heard,
    # and from A with a body and tag of garbage.
    m.inject(bytes([0x80 | 2 << 3 | 1 << 2]) + varint(rng.randrange(3, 1 << 32)) + rng.randbytes(2) + garbage(),
             UNKNOWN_SENDER)
    m.inject(bytes([0x80 | 9 << 3 | 1 << 2, 1]) + rng.randbytes(2) + garbage(), BAD_TAG)
    m.inject(header(flags=0x80) + garbage(), BAD_HEADER)
    m.inject(bytes([1, 2, 1, 0, 0x81, 0x00, 1, 1]) + garbage(), BAD_HEADER)     # non-minimal varint
    m.inject(bytes([1, 2, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 1]) + garbage(), BAD_HEADER)  # > 2^32
    m.inject(header(flags=1) + garbage(), POLICY)       # authenticate-only on an encrypting link
    m.inject(header(flags=2) + garbage(), POLICY)       # 8-byte tag on a 16-byte link

    # (b) truncated copies of a real frame.
    for n in sorted({1, 2, 3, 4, hlen - 1, hlen, hlen + TAG, hlen + TAG + 1, len(real) - 1, len(real) // 2}):
        if 1 <= n < len(real):
            m.inject(real[:n], TRUNCATED if n < hlen + TAG + 1 else BAD_TAG)

    # (c) replays: the newest real frame (B has it) and one long past the replay window.
    m.inject(real, REPLAYED)
    m.inject(m.a_frames[max(0, len(m.a_frames) - 200)], REPLAYED)
    m.inject(m.a_frames[0], REPLAYED)

    # (e) bit-flipped copies of the real frame, wherever the flip lands.
    m.inject(flip(real, rng.randrange(hlen, len(real)), rng.randrange(8)), BAD_TAG)   # body or tag
    m.inject(flip(real, len(real) - 1, 7), BAD_TAG)                                  # last tag bit
    m.inject(flip(real, 0, 1), BAD_VERSION)
    m.inject(flip(real, 1, 4), BAD_TYPE)                # type 1..9 -> 17..25
    m.inject(flip(real, 2, 3), UNKNOWN_KEY)             # key id 1 -> 9
    m.inject(flip(real, 3, 7), BAD_HEADER)              # a reserved flag
    m.inject(flip(real, 3, 0), POLICY)                  # authenticate-only
    m.inject(flip(real, 3, 1), POLICY)                  # 8-byte tag
    m.inject(flip(real, offs[0], 0), BAD_TAG)           # another sender (the header is authenticated)
    m.inject(flip(real, offs[2], 0), BAD_TAG)           # another counter

    # B's own frames, sent back to it.
    m.inject(m.b_frames[-1], OWN)


def drops(n):
    return n.cli_json("links")[0]["links"][0]["dropped"]


def udp_socket_drops(port):
    """The kernel's drop count of the UDP socket bound to port (0 if not found)."""
    total = 0
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        with open(path) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].split(":")[1], 16) == port:
                    total += int(fields[-1])
    return total


def test_bad_frames_dropped_counted_and_traffic_continues(tmp_path):
    rng = random.Random(4)
    pa, pb, pc = free_ports(3)
    m = Mitm()
    a = relay_node(tmp_path, 1, pa, m.port["a"])
    b = relay_node(tmp_path, 2, pb, m.port["b"])
    c = relay_node(tmp_path, 3, pc, m.port["c"], key=OTHER_KEY)
    m.a_at, m.b_at = ("127.0.0.1", pa), ("127.0.0.1", pb)
    nodes = (a, b, c)
    try:
        b.start()
        a.start()
        wait_for(lambda: [x["node"] for x in b.cli_json("neighbors")[0]["neighbors"]] == [1], 10,
                 "B to hear A through the middle")
        wait_for(lambda: [x["node"] for x in a.cli_json("neighbors")[0]["neighbors"]] == [2], 10,
                 "A to hear B through the middle")
        assert sum(drops(b).values()) == 0
        m.capture = True
        wait_for(lambda: m.a_frames and m.b_frames, 5, "real frames both ways")

        # The injection runs in the background for as long as the real traffic does.
        c.start()
        m.forward_c = True
        m.flip_every = 7
        rounds = [0]
        stop = threading.Event()

        def injector():
            while not stop.is_set():
                injection_round(m, rng)
                rounds[0] += 1
                stop.wait(0.02)

        t = threading.Thread(target=injector, daemon=True)
        t.start()

        n_batches, per_batch = 10, 40
        got = []
        for k in range(n_batches):
            r0 = rounds[0]
            lines = "".join(f"real {k:02d}-{i:02d}\n" for i in range(per_batch)).encode()
            out = a.cli("send", "--batch", "ipn:2.5", input=lines, timeout=60)
            assert out.stdout.count(b"accepted") == per_batch
            got += [d["text"] for d in b.cli_json("recv", "-n", per_batch, "-w", "5", timeout=60)]
            wait_for(lambda: rounds[0] > r0, 10, "an injection round during this batch")
        # C beacons every 500 ms: let a few of its frames through too.
        wait_for(lambda: m.c_forwarded >= 4, 10, "frames from C, the node with the wrong key")
        stop.set()
        t.join(10)
        m.forward_c = False
        m.flip_every = 0

        # Nothing bogus delivered: exactly the real bundles, each once, and nothing else stored.
        want = {f"real {k:02d}-{i:02d}" for k in range(n_batches) for i in range(per_batch)}
        assert len(got) == len(want) and set(got) == want, "lost, duplicated or bogus bundles"
        assert b.recv_all(5) == []
        wait_for(lambda: a.status()["store"]["bundles"] == 0, 10, "A to let go of what B committed")
        assert b.status()["store"]["bundles"] == 0

        # Every injected datagram counted under its cause, exactly.
        with m.lock:
            exp = dict(m.expected)
        anything = exp.pop(ANY, 0)

        def counted():
            # Exact, except that the random datagrams may fall under any cause.
            d = drops(b)
            return all(d.get(k, 0) >= v for k, v in exp.items()) and \
                sum(d.values()) == sum(exp.values()) + anything
        try:
            wait_for(counted, 10, "B's drop counters to match what was injected")
        except AssertionError:
            raise AssertionError(f"expected {exp} + {anything} random, B counted {drops(b)}; "
                                 f"kernel drops on B's socket: {udp_socket_drops(pb)}")
        d = drops(b)
        print(f"{rounds[0]} injection rounds, {sum(exp.values()) + anything} bad datagrams "
              f"incl. {m.c_forwarded} from C: {d}")
        for cause in (TRUNCATED, BAD_VERSION, BAD_TYPE, BAD_HEADER, POLICY, UNKNOWN_KEY, REPLAYED,
                      BAD_TAG, OWN):
            assert d[cause] > 0, cause
        assert d["malformed body"] == 0       # nobody without the key can make one

        # The node C with the wrong key never became anyone's neighbour.
        assert [x["node"] for x in b.cli_json("neighbors")[0]["neighbors"]] == [1]
        links_c = c.cli_json("links")[0]["links"][0]
        assert links_c["neighbours"] == 0 and links_c["frames_tx"] > 0
        assert sum(drops(a).values()) == 0    # nothing reached A but B's frames

        # Both daemons are still up and B still takes traffic after the storm.
        for n in (a, b):
            assert n.proc.poll() is None
        a.cli("send", "ipn:2.5", "after the storm")
        assert [x["text"] for x in b.cli_json("recv", "-n", "1", "-w", "5", timeout=30)] == ["after the storm"]
        for n in nodes:
            assert n.stop() == 0, n.log_text()[-2000:]
    finally:
        m.close()
        stop_all(nodes)


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_key_file_readable_by_others_refused_at_start(tmp_path, mode):
    n = relay_node(tmp_path, 1, free_port(), 9)
    kf = n.dir / "network.key"
    os.chmod(kf, mode)
    r = subprocess.run([str(DAEMON), "-d", "-c", str(n.conf)], capture_output=True, timeout=30)
    err = r.stderr.decode()
    assert r.returncode != 0, err
    assert f"{kf}: mode 0{mode:o} lets group or others at the network key: chmod 600 {kf}" in err, err
    assert not n.sock.exists(), "the daemon must not have started listening"
