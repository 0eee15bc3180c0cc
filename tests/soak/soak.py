#!/usr/bin/python3
"""soak.py - what `make soak` runs (not part of make check).

Three daemons in a line, A - B - C, each hop a UDP link through the link
emulator (tests/sim/linkemu).  For SOAK_MINUTES (default 10):

  - the two hops flap at random (down 1-15 s, up 5-40 s, each on its own);
  - 20,000 bundles of mixed priority are sent, 90% from A to C and 10% from
    C to A, spread over the first 60% of the time;
  - the middle node B is killed with SIGKILL twice (restarted a few seconds
    later), and its data_dir, a small tmpfs mounted here, is filled with a
    file for a minute (then the file is removed);

then every link comes up and the run waits for delivery.  Both ends receive
through the control protocol and acknowledge each bundle once they have it.

It prints lost, duplicated and reordered-within-class counts, and exits 1 on
any loss or any duplicate delivered (2 when it could not run).  Reordering is
reported, not judged: a flap makes a later bundle overtake one held in B.

Environment: SOAK_MINUTES, SOAK_BUNDLES (20000), SOAK_SEED (random),
FIELDRELAY_BUILD (build), SOAK_KEEP=1 keeps the work directory.
Needs root (the tmpfs).
"""
import faulthandler
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))      # tests/: the harness package

from harness import Control, Node, free_ports, stop_all, wait_for  # noqa: E402
from harness.sim import LinkEmu  # noqa: E402

KEY = "1 " + "5e" * 32 + " send\n"
# Every class a stored bundle can have (realtime is live voice only).
CLASSES = ["urgent", "position", "voicemsg", "message", "telemetry", "bulk"]
WEIGHTS = [1, 2, 1, 4, 2, 1]
SERVICE = 42
TMPFS_SIZE = "48m"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def make_node(base, node_id, name, port, peers, routes):
    """A node whose routes are static as well as learned: A and C hand B
    their bundles whenever they hear B, so B holds them while B-C is down
    (with learned routes alone, A would keep them: B stops advertising C)."""
    n = Node(base, node_id, name=name)
    n.log = base / f"{name}-daemon.log"     # not in data_dir: B's fills up
    n.write_key(KEY)
    peer_lines = "".join(f"peer = 127.0.0.1:{p}\n" for p in peers)
    route_lines = "".join(f"static = {dst} via {via}\n" for dst, via in routes)
    n.write_config(f"[security]\nkey_file = {n.dir / 'network.key'}\n"
                   f"[link mesh]\ntype = udp\nport = {port}\n{peer_lines}[route]\n{route_lines}")
    return n


class Receiver(threading.Thread):
    """Takes every bundle for SERVICE at a node, in arrival order, and acks it."""

    def __init__(self, node):
        super().__init__(daemon=True)
        self.node = node
        self.got = []           # (payload text, class)
        self.error = None
        self.lock = threading.Lock()

    def run(self):
        try:
            ctl = Control(self.node)
            ctl.send({"op": "recv", "service": SERVICE, "wait": True})
            while True:
                m = ctl.recv()
                if m.get("event") == "bundle":
                    with self.lock:
                        self.got.append((m["payload"].decode(), m["class"]))
                    ctl.send({"op": "ack", "rowid": m["rowid"]})
                elif "code" in m:
                    raise AssertionError(f"recv at {self.node.id}: {m}")
        except (EOFError, OSError) as e:
            if not stopping.is_set():
                self.error = e
        except Exception as e:      # noqa: BLE001 - reported at the end
            self.error = e

    def count(self):
        with self.lock:
            return len(self.got)


class Sender(threading.Thread):
    """Sends its list of (text, class) to dst through one control connection,
    a window of requests in flight; a refused one ("busy", full store) is
    tried again a little later, as an application would."""

    WINDOW = 32

    def __init__(self, node, dst, items, duration):
        super().__init__(daemon=True)
        self.node, self.dst, self.items, self.duration = node, dst, items, duration
        self.accepted = set()
        self.ids = {}               # item -> bundle id, as the daemon logs it
        self.refused = {}           # error code -> count
        self.error = None

    def run(self):
        try:
            ctl = Control(self.node)
            ctl.s.settimeout(60)    # a request the daemon never answers is a finding
            t0 = time.monotonic()
            todo = list(range(len(self.items)))
            pending = {}
            retry = []
            while todo or pending or retry:
                # Pace: item k goes at t0 + k/len * duration.
                now = time.monotonic()
                while len(pending) < self.WINDOW and (todo or retry):
                    if retry and retry[0][0] <= now:
                        k = retry.pop(0)[1]
                    elif todo and t0 + (len(self.items) - len(todo)) / len(self.items) * self.duration <= now:
                        k = todo.pop(0)
                    else:
                        break
                    text, cls = self.items[k]
                    ctl.send({"op": "send", "dst": self.dst, "priority": cls, "supersede": False,
                              "tag": k}, text.encode())
                    pending[k] = True
                if not pending:
                    time.sleep(0.01)
                    continue
                m = ctl.recv()
                k = m.get("tag")
                if k not in pending:
                    continue
                del pending[k]
                if m.get("ok"):
                    self.accepted.add(k)
                    self.ids[k] = m.get("id")
                else:
                    self.refused[m.get("code")] = self.refused.get(m.get("code"), 0) + 1
                    retry.append((time.monotonic() + 0.5, k))
            ctl.close()
        except Exception as e:      # noqa: BLE001
            self.error = e


stopping = threading.Event()


def flapper(emu, name, rng, until, counts, lock):
    """Random outages of one hop until the deadline; lock held by the main
    thread keeps the hop as the main thread set it."""
    while not stopping.is_set() and time.monotonic() < until:
        up_for = rng.uniform(5, 40)
        if stopping.wait(min(up_for, max(0, until - time.monotonic()))):
            break
        if time.monotonic() >= until:
            break
        down_for = rng.uniform(1, 15)
        with lock:
            try:
                emu.down()
                counts[name] += 1
                stopping.wait(down_for)
            finally:
                emu.up()


def mount_tmpfs(path):
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs", str(path)],
                   check=True, capture_output=True)


def fill(path):
    """Fill the filesystem of path with one file; its size."""
    f = path / "fill"
    n = 0
    with open(f, "wb", buffering=0) as out:
        block = b"\0" * (1 << 20)
        while True:
            try:
                n += out.write(block)
            except OSError:
                break
        small = b"\0" * 4096
        while True:
            try:
                n += out.write(small)
            except OSError:
                break
    return n


def class_of(text):
    return text.split()[2]


SUPERSEDED = re.compile(r"bundle (.+?) superseded by the newer .*: not forwarded")


def analyse(sent_items, got, superseded_ids):
    """lost, superseded, duplicated, reordered-within-class, unknown and
    wrong-class counts for one receiving end.  sent_items: (text, class,
    bundle id).  A bundle not delivered that a node logged as superseded by
    a newer one is not lost: a relay keeps the newest position of each unit
    (README, "Newer positions supersede queued older ones")."""
    sent = {t: i for t, _, i in sent_items}
    seen, dup = set(), 0
    last = {}                 # (src, class) -> highest seq delivered
    reordered = wrong_class = 0
    for text, cls in got:
        if text in seen:
            dup += 1
            continue
        seen.add(text)
        _, src, want_cls, seq = text.split()[:4]
        if cls != want_cls:
            wrong_class += 1
        key = (src, want_cls)
        if int(seq) < last.get(key, -1):
            reordered += 1
        last[key] = max(last.get(key, -1), int(seq))
    lost, superseded = [], 0
    for t in set(sent) - seen:
        if sent[t] in superseded_ids:
            superseded += 1
        else:
            lost.append(t.split()[:4])
    return lost, superseded, dup, reordered, len(seen - set(sent)), wrong_class


def main():
    minutes = float(os.environ.get("SOAK_MINUTES", "10"))
    total = int(os.environ.get("SOAK_BUNDLES", "20000"))
    seed = int(os.environ.get("SOAK_SEED", str(random.SystemRandom().randrange(1 << 30))))
    if os.geteuid() != 0:
        print("soak: needs root (B's data_dir is a tmpfs it mounts)", file=sys.stderr)
        return 2
    rng = random.Random(seed)
    T = minutes * 60
    log(f"soak: {minutes:g} min, {total} bundles, seed {seed} (SOAK_SEED={seed} repeats the flaps)")

    work = Path(tempfile.mkdtemp(prefix="fieldrelay-soak-"))
    b_dir = work / "B"
    mount_tmpfs(b_dir)
    things = []
    result = 2
    try:
        pa, pb, pc = free_ports(3)
        ab = LinkEmu(peer_a=pa, peer_b=pb, delay="20ms", loss=0.02, seed=rng.randrange(1 << 20))
        things.append(ab)
        bc = LinkEmu(peer_a=pb, peer_b=pc, delay="20ms", loss=0.02, seed=rng.randrange(1 << 20))
        things.append(bc)
        a = make_node(work, 1, "A", pa, [ab.a_port], [(3, 2)])
        b = make_node(work, 2, "B", pb, [ab.b_port, bc.a_port], [(1, 1), (3, 3)])
        c = make_node(work, 3, "C", pc, [bc.b_port], [(1, 2)])
        things += [a, b, c]
        for n in (a, b, c):
            n.start()
        wait_for(lambda: {x["node"] for x in b.cli_json("neighbors")[0]["neighbors"]} == {1, 3}, 60,
                 "B to hear A and C")

        n_c = total // 10
        items_a, items_c = [], []
        for k in range(total - n_c):
            cls = rng.choices(CLASSES, WEIGHTS)[0]
            items_a.append((f"soak A {cls} {k} " + "x" * rng.randrange(0, 400), cls))
        for k in range(n_c):
            cls = rng.choices(CLASSES, WEIGHTS)[0]
            items_c.append((f"soak C {cls} {k} " + "y" * rng.randrange(0, 400), cls))

        rc, ra = Receiver(c), Receiver(a)
        rc.start()
        ra.start()
        t0 = time.monotonic()
        full_disk = None
        send_for = 0.6 * T
        sa = Sender(a, f"ipn:3.{SERVICE}", items_a, send_for)
        sc = Sender(c, f"ipn:1.{SERVICE}", items_c, send_for)
        sa.start()
        sc.start()
        flaps = {"A-B": 0, "B-C": 0}
        bc_lock = threading.Lock()
        flappers = [threading.Thread(target=flapper, daemon=True,
                                     args=(ab, "A-B", random.Random(rng.random()), t0 + T, flaps, threading.Lock())),
                    threading.Thread(target=flapper, daemon=True,
                                     args=(bc, "B-C", random.Random(rng.random()), t0 + T, flaps, bc_lock))]
        for f in flappers:
            f.start()

        # B's faults, at fixed points of the run.  Before the disk fills, B-C
        # is cut so that B holds bundles; B is killed while the disk is full
        # and restarted on it, then B-C comes back: what the restarted B
        # forwards it cannot delete (issue 11, item 4: the resend flood).
        fill_for = min(60.0, T / 10)
        plan = [(0.2 * T, "kill"), (0.3 * T, "cut"), (0.35 * T, "fill"), (0.35 * T + fill_for / 3, "kill"),
                (0.35 * T + fill_for / 3, "mend"), (0.35 * T + fill_for, "free")]
        c_dups0 = None
        for at, what in plan:
            left = t0 + at - time.monotonic()
            if left > 0:
                time.sleep(left)
            if what == "kill":
                held = b.status()["store"]["bundles"]
                b.kill9()
                log(f"B killed -9 (holding {held} bundles); C has {rc.count()}, A has {ra.count()}")
                time.sleep(rng.uniform(2, 6))
                try:
                    b.start()
                    log("B restarted")
                except AssertionError as e:
                    log(f"B does not start: {str(e)[-300:]}")
            elif what == "cut":
                bc_lock.acquire()
                bc.down()
                log("B-C cut, so that B holds bundles when its disk fills")
            elif what == "mend":
                bc.up()
                bc_lock.release()
                log("B-C up again")
            elif what == "fill":
                filled = fill(b_dir)
                bc_fill = bc.stats()
                c_dups0 = c.cli_json("links")[0]["forwarding"]["duplicates"]
                fill_t = time.monotonic()
                log(f"B's disk filled ({filled >> 10} KiB file) for {fill_for:.0f} s; B holds "
                    f"{b.status()['store']['bundles'] if b.proc.poll() is None else '?'} bundles")
            else:
                st = bc.stats()
                dups = c.cli_json("links")[0]["forwarding"]["duplicates"] - c_dups0
                (b_dir / "fill").unlink()
                frames = st["ab"]["in"] - bc_fill["ab"]["in"]
                nbytes = st["ab"]["in_bytes"] - bc_fill["ab"]["in_bytes"]
                secs = time.monotonic() - fill_t
                log(f"B's disk freed; while full, B sent {frames} frames ({nbytes >> 10} KiB) to C "
                    f"({frames / secs:.0f}/s) and C dropped {dups} duplicates; B is "
                    f"{'up' if b.proc.poll() is None else 'DOWN: exit %s' % b.proc.returncode}")
                full_disk = (frames, nbytes, dups, secs)
            if b.proc is not None and b.proc.poll() is not None and what != "kill":
                log(f"B is not running ({b.proc.returncode}); starting it")
                if not b.logf.closed:
                    b.logf.close()
                b.proc = None
                try:
                    b.start()
                except AssertionError as e:
                    log(f"B does not start: {str(e)[-300:]}")
        left = t0 + T - time.monotonic()
        if left > 0:
            time.sleep(left)
        stopping.set()
        for f in flappers:
            f.join(30)
        ab.up()
        bc.up()
        log(f"faults over after {time.monotonic() - t0:.0f} s: {flaps['A-B']} flaps A-B, {flaps['B-C']} B-C; "
            "waiting for delivery")
        for s in (sa, sc):
            while s.is_alive() and time.monotonic() < t0 + T + 600:
                s.join(30)
                log(f"sender at {s.node.id}: {len(s.accepted)} of {len(s.items)} accepted, still sending")
        for s in (sa, sc):
            if s.is_alive() or s.error:
                raise AssertionError(f"sender at {s.node.id}: {s.error or 'still sending'}")
        want_c, want_a = len(sa.accepted), len(sc.accepted)
        deadline = time.monotonic() + max(300, T)
        last, last_change, last_log = (-1, -1), time.monotonic(), 0
        while time.monotonic() < deadline:
            now = (rc.count(), ra.count())
            if now[0] >= want_c and now[1] >= want_a:
                break
            stored = [n.status()["store"]["bundles"] for n in (a, b, c)]
            if time.monotonic() - last_log >= 30:
                log(f"delivered: C {now[0]} of {want_c}, A {now[1]} of {want_a}; stored at A, B, C: {stored}")
                last_log = time.monotonic()
            if now != last:
                last, last_change = now, time.monotonic()
            elif not any(stored) and time.monotonic() - last_change > 20:
                # Nothing stored anywhere (a node keeps a bundle until the
                # next hop or the application took it): nothing more can come.
                log(f"every store empty: delivered C {now[0]} of {want_c}, A {now[1]} of {want_a}")
                break
            elif time.monotonic() - last_change > 120:
                log("no progress for 120 s")
                break
            for n in (a, b, c):
                if n.proc.poll() is not None:
                    raise AssertionError(f"node {n.id} exited ({n.proc.returncode}) while delivering")
            time.sleep(1)
        # A little longer, for duplicates still on their way.
        time.sleep(5)
        stopping.set()

        sup_ids = {m.group(1) for n in (a, b, c) for m in SUPERSEDED.finditer(n.log_text())}
        lost_c, sup_c, dup_c, reo_c, stray_c, wc_c = analyse(
            [items_a[k] + (sa.ids[k],) for k in sa.accepted], rc.got, sup_ids)
        lost_a, sup_a, dup_a, reo_a, stray_a, wc_a = analyse(
            [items_c[k] + (sc.ids[k],) for k in sc.accepted], ra.got, sup_ids)
        held = {n.dir.name: n.status()["store"]["bundles"] for n in (a, b, c)}
        fw = {n.dir.name: n.cli_json("links")[0].get("forwarding", {}).get("duplicates") for n in (a, b, c)}
        logged = len(sup_ids)
        print()
        print(f"soak: {minutes:g} min, seed {seed}; sent A->C {want_c} accepted, C->A {want_a} accepted "
              f"(refused and retried: A {sa.refused or 'none'}, C {sc.refused or 'none'})")
        for name, n_got, lost, sup, dup, reo, stray, wc in (
                ("A->C", len(rc.got), lost_c, sup_c, dup_c, reo_c, stray_c, wc_c),
                ("C->A", len(ra.got), lost_a, sup_a, dup_a, reo_a, stray_a, wc_a)):
            print(f"  {name}: delivered {n_got}, lost {len(lost)}, duplicated {dup}, reordered within class {reo},"
                  f" superseded by a newer one (logged) {sup}, unknown {stray}, wrong class {wc}")
            if lost:
                print(f"    lost, first ones: {sorted(lost, key=lambda x: int(x[3]))[:8]}")
        print(f"  bundles the nodes logged as superseded: {logged}")
        print(f"  still stored: {held}; duplicates the forwarders dropped: {fw}")
        print(f"  flaps: {flaps}; B-C emulator, B to C: {json.dumps(bc.stats()['ab'])}")
        if full_disk:
            print(f"  disk full for {full_disk[3]:.0f} s: B sent C {full_disk[0]} frames, {full_disk[1] >> 10} KiB;"
                  f" C dropped {full_disk[2]} duplicates")
        errors = [r.error for r in (rc, ra) if r.error]
        for e in errors:
            print(f"  receiver error: {e}")
        lost_c, lost_a = len(lost_c), len(lost_a)
        lost, dup = lost_c + lost_a, dup_c + dup_a
        print(f"soak: lost {lost}, duplicated {dup}, reordered {reo_c + reo_a} (superseded by a newer position, logged: {sup_c + sup_a})")
        result = 1 if lost or dup or stray_c or stray_a or wc_c or wc_a or errors else 0
    except AssertionError as e:
        log(f"soak: could not finish: {e}")
        result = 2
    finally:
        stopping.set()
        crashed = [x for x in things if isinstance(x, Node) and x.proc and x.proc.poll() is not None]
        stop_all(things)
        for n in [x for x in things if isinstance(x, Node)]:
            bad = [l for l in n.log_text().splitlines()
                   if "ERROR: AddressSanitizer" in l or "runtime error:" in l]
            if bad:
                print(f"  {n.dir.name}'s log: {bad[:3]}")
                result = result or 1
        if crashed:
            print(f"  exited before the end: {[n.dir.name for n in crashed]}")
        subprocess.run(["umount", "-l", str(b_dir)], capture_output=True)
        if os.environ.get("SOAK_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"  work directory kept: {work} (daemon logs: A-, B-, C-daemon.log)")
    return result


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    faulthandler.register(signal.SIGUSR1)     # kill -USR1: where every thread is
    sys.exit(main())
