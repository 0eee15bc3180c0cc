"""Issue 11 item 7: frames captured from A and replayed after B restarted.

A and B talk UDP on loopback through a relay written here that forwards both
ways and keeps a copy of every datagram A sent.  B used to keep its replay
windows in memory only: after a restart (clean or kill -9) every replayed
frame was accepted and B believed A was there while A was down.  Now B keeps
each sender's boot and highest frame counter in its store (relay/peerstate.c)
and refuses them all; a live A goes on past B's restart (it skips its frame
counter ahead when it hears B again), on compact links too.
"""
import selectors
import socket
import threading

import pytest

from harness import Node, free_ports, stop_all, wait_for
from harness.mesh import link

KEY = "1 " + "6b" * 32 + " send\n"


class Relay:
    """UDP both ways between A and B; records what A sends; replays it to B."""

    def __init__(self):
        self.socks = {}
        for side in ("a", "b"):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            self.socks[side] = s
        self.port = {k: s.getsockname()[1] for k, s in self.socks.items()}
        self.a_at = self.b_at = None
        self.capture = False
        self.a_frames = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        sel = selectors.DefaultSelector()
        for side in ("a", "b"):
            sel.register(self.socks[side], selectors.EVENT_READ, side)
        while not self.stopping:
            for key, _ in sel.select(0.05):
                try:
                    data, _ = key.fileobj.recvfrom(65536)
                except OSError:
                    continue        # ICMP unreachable from a node that is down
                try:
                    if key.data == "a":
                        self.socks["b"].sendto(data, self.b_at)
                        with self.lock:
                            if self.capture:
                                self.a_frames.append(data)
                    else:
                        self.socks["a"].sendto(data, self.a_at)
                except OSError:
                    pass
        sel.close()

    def replay(self, frames):
        """A's frames to B again, from where B hears A (A's address, to B)."""
        for f in frames:
            self.socks["b"].sendto(f, self.b_at)

    def close(self):
        self.stopping = True
        self.thread.join(5)
        for s in self.socks.values():
            s.close()


def udp_node(tmp_path, node_id, port, peer, compact):
    n = Node(tmp_path, node_id)
    key = n.write_key(KEY)
    radio = "mtu = 256\nrate = 64k\ntag = 8\ncompact = yes\n" if compact else ""
    n.conf.write_text(n.conf.read_text() +
                      f"[security]\nkey_file = {key}\n"
                      f"[link mesh]\ntype = udp\nport = {port}\npeer = 127.0.0.1:{peer}\n{radio}")
    return n


def neighbours(n):
    return [x["node"] for x in n.cli_json("neighbors")[0]["neighbors"]]


def pair(tmp_path, compact):
    pa, pb = free_ports(2)
    r = Relay()
    a = udp_node(tmp_path, 1, pa, r.port["a"], compact)
    b = udp_node(tmp_path, 2, pb, r.port["b"], compact)
    r.a_at, r.b_at = ("127.0.0.1", pa), ("127.0.0.1", pb)
    return r, a, b


def talk(a, b, tag, n=10):
    """n bundles A -> B, each received once."""
    lines = "".join(f"{tag} {i}\n" for i in range(n)).encode()
    assert a.cli("send", "--batch", "ipn:2.5", input=lines, timeout=60).stdout.count(b"accepted") == n
    got = [d["text"] for d in b.cli_json("recv", "-n", n, "-w", "5", timeout=30)]
    assert sorted(got) == sorted(f"{tag} {i}" for i in range(n))


def restart(n, how):
    if how == "kill9":
        n.kill9()
    else:
        assert n.stop() == 0, n.log_text()[-2000:]
    n.start()


@pytest.mark.parametrize("compact", [False, True], ids=["full", "compact"])
@pytest.mark.parametrize("how", ["clean", "kill9"])
def test_frames_replayed_after_restart_are_refused(tmp_path, how, compact):
    r, a, b = pair(tmp_path, compact)
    try:
        b.start()
        a.start()
        wait_for(lambda: neighbours(b) == [1] and neighbours(a) == [2], 10, "A and B to hear each other")
        with r.lock:
            r.capture = True
        talk(a, b, "before", 30)
        if compact:
            assert link(a)["compact_tx"] > 0

        def beacons():
            with r.lock:
                return sum(1 for f in r.a_frames if f[0] == 1 and f[1] == 1)
        wait_for(lambda: beacons() >= 3, 10, "beacons of A among the captured frames")
        with r.lock:
            r.capture = False
            frames = list(r.a_frames)
        # A goes down; B restarts right away (a kill -9 within the save period).
        assert a.stop() == 0
        restart(b, how)
        l0 = link(b)
        assert l0["frames_rx"] == 0 and neighbours(b) == []

        r.replay(frames)
        def handled():
            lb = link(b)
            return lb["frames_rx"] + sum(lb["dropped"].values()) >= len(frames)
        wait_for(handled, 10, f"B to take or drop the {len(frames)} replayed frames")
        l1 = link(b)
        print(f"{how}, {'compact' if compact else 'full'}: {len(frames)} frames replayed, "
              f"dropped {l1['dropped']}")
        assert l1["frames_rx"] == 0, f"{l1['frames_rx']} of {len(frames)} replayed frames accepted"
        assert sum(l1["dropped"].values()) == len(frames)
        if compact:
            # The full envelopes (beacons) are recognised as replays; a compact one, its counter
            # taken from B's restored window, fails its tag: either way, dropped unread.
            assert l1["dropped"]["replayed"] > 0
            assert l1["dropped"]["replayed"] + l1["dropped"]["bad tag"] == len(frames)
        else:
            assert l1["dropped"]["replayed"] == len(frames)
        assert neighbours(b) == [], "B believes A is there while A is down"
        assert b.recv_all(5) == []

        # A's next start is a new boot: it gets through.
        a.start()
        wait_for(lambda: neighbours(b) == [1], 10, "B to hear A's new boot")
        talk(a, b, "after")
        for n in (a, b):
            assert n.stop() == 0
    finally:
        r.close()
        stop_all([a, b])


@pytest.mark.parametrize("compact", [False, True], ids=["full", "compact"])
@pytest.mark.parametrize("how", ["clean", "kill9"])
def test_live_sender_goes_on_after_the_receiver_restarts(tmp_path, how, compact):
    """B restarts while A stays up: A's frames (same boot) are fresh to B's restored window."""
    r, a, b = pair(tmp_path, compact)
    try:
        b.start()
        a.start()
        wait_for(lambda: neighbours(b) == [1] and neighbours(a) == [2], 10, "A and B to hear each other")
        talk(a, b, "before")
        boot_a = a.status()["boot"]
        restart(b, how)
        wait_for(lambda: neighbours(b) == [1], 10, "B to hear A again after its restart")
        talk(a, b, "after")
        if compact:
            c0 = link(b)["compact_rx"]
            talk(a, b, "compact again")
            assert link(b)["compact_rx"] > c0, "compact envelopes must work after the restart"
        assert a.status()["boot"] == boot_a, "A did not restart"
        assert "restored" in b.log_text()
        for n in (a, b):
            assert n.stop() == 0
    finally:
        r.close()
        stop_all([a, b])
