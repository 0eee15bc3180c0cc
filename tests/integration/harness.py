"""Start real fieldrelayd processes for integration tests and talk to them.

Each Node gets its own directory, config, store and control socket.  Waiting
is always polling for a state with a deadline, never a fixed sleep.
"""
import json
import os
import random
import signal
import socket
import struct
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("FIELDRELAY_BUILD", "build")
DAEMON = BUILD / "fieldrelayd"
CLI = BUILD / "fieldrelay"
SHARED_DATA = Path(os.environ.get("FIELDRELAY_SHARED_DATA", ROOT / "tests" / "data"))


def wait_for(pred, timeout=20.0, what="condition"):
    """Poll pred() until it returns a true value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


# ---- ports ------------------------------------------------------------------
#
# A port a test hands to a daemon must not be taken between the test choosing
# it and the daemon binding it.  The kernel hands out its ephemeral range
# (ip_local_port_range) to every connect() and bind(port 0) on the machine, so
# ports are chosen outside it; and a second test run beside this one (another
# make check, another engineer) probes the same ranges, so each port given out
# is also reserved by an abstract unix socket named for it (no file to clean
# up; the kernel frees it when the process dies).

_PORT_LOCK = "fieldrelay-test-port-%d"
_held = []                              # (port, lock socket) given out since the last release
_rng = random.Random(os.urandom(16))    # not the tests' random, which some seed


def _ephemeral_range():
    try:
        lo, hi = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999             # Linux's default


def _port_candidates():
    lo, hi = _ephemeral_range()
    ports = [p for p in range(20000, 65536) if not lo <= p <= hi]
    return ports or list(range(20000, 65536))


def _port_free(port):
    """Nothing on this machine has port bound, UDP or TCP, IPv4 or IPv6."""
    probes = [(socket.AF_INET, "0.0.0.0")]
    if socket.has_ipv6:
        probes.append((socket.AF_INET6, "::"))
    for family, host in probes:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            try:
                s = socket.socket(family, kind)
            except OSError:
                continue                # no IPv6 here: nothing to collide with
            try:
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((host, port))
            except OSError:
                return False
            finally:
                s.close()
    return True


def free_ports(n=1):
    """n distinct ports, free for UDP and TCP, outside the kernel's ephemeral
    range, and reserved against other test processes until release_ports()
    (tests/integration/conftest.py calls it after every test).  A list, in no
    order: do not assume base + 1 is free."""
    got = []
    cands = _port_candidates()
    start = _rng.randrange(len(cands))
    for i in range(len(cands)):
        port = cands[(start + i) % len(cands)]
        lock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            lock.bind("\0" + _PORT_LOCK % port)
        except OSError:
            lock.close()                # another test (run) has it
            continue
        if not _port_free(port):
            lock.close()
            continue
        _held.append((port, lock))
        got.append(port)
        if len(got) == n:
            return got
    raise AssertionError(f"no {n} free ports outside the ephemeral range")


def free_port():
    """One port, as free_ports(1)."""
    return free_ports(1)[0]


def release_ports():
    """Let other test processes have the ports given out so far (the daemons
    that were given them hold them now, or are gone)."""
    while _held:
        _held.pop()[1].close()


class Node:
    def __init__(self, base: Path, node_id: int, extra: str = "", name=None):
        self.dir = base / (name or f"node{node_id}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.id = node_id
        self.conf = self.dir / "fieldrelay.conf"
        self.sock = self.dir / "control.sock"
        self.db = self.dir / "bundles.db"
        self.log = self.dir / "daemon.log"
        self.proc = None
        self.netns = None      # run inside this network namespace
        self.write_config(extra)

    def write_key(self, text):
        """The network key file (mode 0600, as the daemon demands); its path."""
        key = self.dir / "network.key"
        key.write_text(text)
        os.chmod(key, 0o600)
        return key

    def write_config(self, extra=""):
        self.conf.write_text(
            f"[node]\nid = {self.id}\nname = test{self.id}\ndata_dir = {self.dir}\n"
            f"[control]\nsocket = {self.sock}\n[log]\nlevel = info\n{extra}")

    def start(self, env=None, preexec=None):
        assert self.proc is None or self.proc.poll() is not None
        self.logf = open(self.log, "ab")
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(prefix + [str(DAEMON), "-d", "-c", str(self.conf)],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=env, preexec_fn=preexec)
        wait_for(self._ready, 30, f"fieldrelayd {self.id} to listen")
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"fieldrelayd exited with {self.proc.returncode}:\n{self.log_text()}")
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(str(self.sock))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.logf.close()

    def stop(self, timeout=30):
        """SIGTERM; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.logf.close()
        return rc

    def cli(self, *args, input=None, check=True, timeout=120):
        r = subprocess.run([str(CLI), "-s", str(self.sock), *map(str, args)],
                           input=input, capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"fieldrelay {' '.join(map(str, args))} -> {r.returncode}\n"
                                 f"stdout: {r.stdout[-2000:]!r}\nstderr: {r.stderr[-2000:]!r}")
        return r

    def cli_json(self, *args, **kw):
        r = self.cli("--json", *args, **kw)
        return [json.loads(l) for l in r.stdout.decode().splitlines() if l.strip()]

    def status(self):
        return self.cli_json("status")[0]

    def recv_all(self, service, **kw):
        return self.cli_json("recv", service, **kw)


def cli_seconds(node, n=3):
    """How long one CLI request to node takes right now (the median of n
    `status` calls).  A delay a test measures through the CLI includes this
    much per call of its own tooling, which a busy machine stretches (a
    process start, an ASan daemon's answer): a timing bound adds it,
    measured in the same run, instead of a guess at the machine's load."""
    times = []
    for _ in range(n):
        t = time.monotonic()
        node.cli("status")
        times.append(time.monotonic() - t)
    return sorted(times)[n // 2]


@contextmanager
def namespaces(names):
    """Network namespaces that exist for the with block and are deleted after
    it, whatever happens; the test is skipped where they cannot be made (not
    root, no netns support)."""
    import pytest
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    made = []
    try:
        for n in names:
            subprocess.run(["ip", "netns", "add", n], check=True, capture_output=True)
            made.append(n)
    except subprocess.CalledProcessError as e:
        for n in made:
            subprocess.run(["ip", "netns", "del", n])
        pytest.skip(f"cannot create network namespaces: {e.stderr.decode().strip()}")
    try:
        yield names
    finally:
        for n in made:
            subprocess.run(["ip", "netns", "del", n])


def stop_all(things):
    """Kill the daemons (Node) and stop the emulators among things, last first:
    what a fixture runs at the end, whatever state the test left them in."""
    for x in reversed(list(things)):
        if isinstance(x, Node):
            if x.proc and x.proc.poll() is None:
                x.proc.kill()
                x.proc.wait()
            if x.proc and not x.logf.closed:
                x.logf.close()
        else:
            x.stop()


class Control:
    """A raw control-protocol connection (for pipelining and bad input)."""

    def __init__(self, node):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(str(node.sock))
        self.buf = b""

    def send(self, obj, body=b""):
        if body:
            obj = dict(obj, body=len(body))
        data = json.dumps(obj).encode()
        self.s.sendall(struct.pack(">I", len(data)) + data + body)

    def raw(self, data):
        self.s.sendall(data)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("daemon closed the connection")
            self.buf += chunk

    def recv(self):
        self._need(4)
        n = struct.unpack(">I", self.buf[:4])[0]
        self._need(4 + n)
        msg = json.loads(self.buf[4:4 + n])
        self.buf = self.buf[4 + n:]
        if "body" in msg:
            self._need(msg["body"])
            msg["payload"] = self.buf[:msg["body"]]
            self.buf = self.buf[msg["body"]:]
        return msg

    def close(self):
        self.s.close()
