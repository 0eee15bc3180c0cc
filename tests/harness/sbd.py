"""The Iridium SBD simulator (tests/sim/sbdsim), the driver under test (sbdtool modem,
radio/drivers/sbd.c) and a command center's DirectIP listener (sbdtool listen), for tests.

    with SbdSim(tmp_path, mo_port=listener.port, factor=0.02) as sim, \\
         SbdDriver(sim.link, backoff="200:3200") as drv:
        drv.send(1, b"hello")
        drv.wait_event("delivered", id=1)

DirectIP is also written out here in Python from the developers guide's byte
layout (directip_mt, parse_mo, parse_confirm), independently of radio/drivers/directip.c.
"""
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import time

from .cleanup import stop_all
from .mesh import link  # noqa: F401 (harness.sbd.link: the node's one link)
from .node import Node
from .paths import BUILD, wait_for
from .ports import free_port

SBDSIM = BUILD / "tests" / "sim" / "sbdsim"
SBDTOOL = BUILD / "tests" / "integration" / "helpers" / "sbdtool"
IMEI = "300234010753370"


# ---- DirectIP, by hand ------------------------------------------------------

def directip_mt(payload=None, imei=IMEI, client_id=1, flags=0):
    """An MT message: MT header IE (0x41) and, if any, the payload IE (0x42)."""
    body = struct.pack(">BH", 0x41, 21) + struct.pack(">I", client_id) + imei.encode() + \
        struct.pack(">H", flags)
    if payload is not None:
        body += struct.pack(">BH", 0x42, len(payload)) + payload
    return struct.pack(">BH", 1, len(body)) + body


def parse_ies(msg):
    rev, total = struct.unpack(">BH", msg[:3])
    assert rev == 1 and total == len(msg) - 3, (rev, total, len(msg))
    ies, off = {}, 3
    while off < len(msg):
        iei, n = struct.unpack(">BH", msg[off:off + 3])
        assert iei not in ies
        ies[iei] = msg[off + 3:off + 3 + n]
        assert len(ies[iei]) == n
        off += 3 + n
    return ies


def parse_mo(msg):
    ies = parse_ies(msg)
    cdr, imei, status, momsn, mtmsn, when = struct.unpack(">I15sBHHI", ies[0x01])
    return {"cdr": cdr, "imei": imei.decode(), "status": status, "momsn": momsn,
            "mtmsn": mtmsn, "time": when, "payload": ies.get(0x02)}


def parse_confirm(msg):
    client_id, imei, auto_id, status = struct.unpack(">I15sIh", parse_ies(msg)[0x44])
    return {"client_id": client_id, "imei": imei.decode(), "auto_id": auto_id, "status": status}


def send_mt(port, msg, timeout=10):
    """Queue an MT message at the gateway; returns its confirmation."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(msg)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return parse_confirm(data)


# ---- processes ----------------------------------------------------------------

class _Proc:
    """A child whose stdout is JSON lines; events are kept as they are read."""
    name = "?"

    def _start(self, cmd, logpath, stdin=False):
        self.logpath = logpath
        self.logf = open(logpath, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.logf,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        self._buf = b""
        self.events = []

    def log_text(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def poll(self, timeout=0.0):
        """Read what is there (waiting up to timeout for the first line)."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                left = max(0.0, deadline - time.monotonic())
                if not sel.select(left):
                    return
                chunk = os.read(fd, 65536)
                if not chunk:
                    return
                self._buf += chunk
                while b"\n" in self._buf:
                    line, self._buf = self._buf.split(b"\n", 1)
                    self.events.append(json.loads(line))
                deadline = time.monotonic()     # got some: drain without waiting

    def find(self, event, **match):
        return [e for e in self.events if e.get("event") == event and
                all(e.get(k) == v for k, v in match.items())]

    def wait_event(self, event, timeout=20, count=1, **match):
        def got():
            self.poll(0.05)
            if self.proc.poll() is not None:
                self.poll(0)
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n"
                                     f"{self.log_text()}")
            found = self.find(event, **match)
            return found if len(found) >= count else None
        return wait_for(got, timeout, f"{self.name}: {count} x {event} {match}")

    def stop(self):
        if self.proc is None:
            return
        problem = None
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    problem = f"{self.name} ignored SIGTERM"
            self.poll(0)
            if problem is None and self.proc.returncode not in (0, -signal.SIGTERM):
                problem = f"{self.name} exited {self.proc.returncode}"
        finally:
            for f in (self.proc.stdout, self.proc.stdin):
                if f:
                    f.close()
            self.logf.close()
            self.proc = None
        if problem:
            raise AssertionError(problem + ":\n" + self.log_text())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class MoListener(_Proc):
    """The command center's DirectIP MO listener (radio/drivers/directip.c, with the duplicate filter)."""
    name = "sbdtool listen"

    def __init__(self, tmp, port=0):
        self._start([str(SBDTOOL), "listen", str(port)], tmp / "listen.log")
        self.port = self.wait_event("listening")[0]["port"]

    def messages(self):
        self.poll(0)
        return self.find("mo")


class SbdSim:
    """The modem on a pty (at .link) and the gateway; control commands through cmd()."""

    def __init__(self, tmp, mo_port=None, factor=0.02, delay="10:20", signal_=5, args=()):
        self.dir = tmp
        self.link = str(tmp / "modem")
        self.sock = str(tmp / "sbdsim.sock")
        self.events_path = tmp / "sbdsim.events"
        self.logpath = tmp / "sbdsim.log"
        self.factor = factor
        cmd = [str(SBDSIM), "--link", self.link, "--control", self.sock, "--events",
               str(self.events_path), "--time-factor", str(factor), "--session-delay", delay,
               "--signal", str(signal_), "--mo-retry", "10", "-v"]
        if mo_port:
            cmd += ["--mo", f"127.0.0.1:{mo_port}"]
        self.logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(cmd + list(args), stdout=subprocess.PIPE, stderr=self.logf,
                                     stdin=subprocess.DEVNULL)
        line = self._ready_line()
        self.ready = json.loads(line)
        assert self.ready["event"] == "ready", line
        self.mt_port = self.ready["mt_port"]
        self.imei = self.ready["imei"]
        self.ctl = None

    def _ready_line(self, timeout=10):
        fd = self.proc.stdout.fileno()
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                if not sel.select(timeout):
                    raise AssertionError("sbdsim printed no ready line:\n" + self.log_text())
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise AssertionError("sbdsim exited:\n" + self.log_text())
                buf += chunk
        return buf.split(b"\n", 1)[0].decode()

    def log_text(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def cmd(self, line):
        if self.ctl is None:
            self.ctl = socket.socket(socket.AF_UNIX)
            self.ctl.settimeout(10)
            self.ctl.connect(self.sock)
            self._cbuf = b""
        self.ctl.sendall(line.encode() + b"\n")
        while b"\n" not in self._cbuf:
            chunk = self.ctl.recv(65536)
            if not chunk:
                raise AssertionError("sbdsim closed its control socket:\n" + self.log_text())
            self._cbuf += chunk
        reply, self._cbuf = self._cbuf.split(b"\n", 1)
        return reply.decode()

    def ok(self, line):
        r = self.cmd(line)
        if r != "ok":
            raise AssertionError(f"sbdsim {line!r} -> {r!r}")

    def stats(self):
        return json.loads(self.cmd("stats"))

    def events(self, kind=None):
        out = []
        if self.events_path.exists():
            for line in self.events_path.read_text().splitlines():
                e = json.loads(line)
                if kind is None or e["event"] == kind:
                    out.append(e)
        return out

    def stop(self):
        if self.ctl:
            self.ctl.close()
            self.ctl = None
        if self.proc is None:
            return
        rc = None
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            rc = self.proc.returncode
        finally:
            self.proc.stdout.close()
            self.logf.close()
            self.proc = None
        if rc != 0:
            raise AssertionError(f"sbdsim exited {rc}:\n" + self.log_text())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class SbdDriver(_Proc):
    """radio/sbd.c (sbd_port) on the simulated modem, through sbdtool."""
    name = "sbdtool modem"

    def __init__(self, tmp, device, **opts):
        cmd = [str(SBDTOOL), "modem", device]
        for k, v in opts.items():
            if v is True:
                cmd.append("--" + k.replace("_", "-"))
            elif v is not None and v is not False:
                cmd += ["--" + k.replace("_", "-"), str(v)]
        self._start(cmd, tmp / "driver.log", stdin=True)
        self.wait_event("started")

    def write(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def send(self, ident, payload, prio=4):
        self.write(f"send {ident} {prio} {payload.hex()}")
        rc = self.wait_event("sent", id=ident)[0]["rc"]
        assert rc == 0, f"send {ident}: rc {rc}"

    def stats(self):
        n = len(self.find("stats"))
        self.write("stats")
        return self.wait_event("stats", count=n + 1)[-1]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.write("quit")
                self.proc.wait(10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                pass
        super().stop()


# ---- a backpack on SBD and a command center on DirectIP -------------------------

KEY = "1 " + "7e" * 32 + " send\n"       # the SBD world's network key
CC, UNIT = 1, 5


def with_key(n, text):
    key = n.write_key(KEY)
    n.conf.write_text(n.conf.read_text() + f"[security]\nkey_file = {key}\n" + text)
    return n


class World:
    """The simulator, the command center and the backpack, started in that order."""

    def __init__(self, tmp, sim_args=(), unit_extra="", hold="0", factor=0.02):
        self.tmp = tmp
        self.cc_port = free_port()
        self.sim = SbdSim(tmp, mo_port=self.cc_port, factor=factor, args=list(sim_args))
        self.cc = with_key(Node(tmp, CC, name="cc"),
                           f"[link iridium]\ntype = directip\nport = {self.cc_port}\nbind = 127.0.0.1\n"
                           f"gateway = 127.0.0.1:{self.sim.mt_port}\nunit = {self.sim.imei} {UNIT}\n"
                           f"retry = 200ms:2s\n")
        self.unit = with_key(Node(tmp, UNIT, name="backpack"),
                             f"[link iridium]\ntype = sbd\ndevice = {self.sim.link}\npeer = {CC}\n"
                             f"hold = {hold}\ninterval = 10s\nring_alerts = yes\nretry = 200ms:2s\n"
                             f"bill_min = 10\nprice = 0.0015\n{unit_extra}")
        try:
            self.cc.start()
            self.unit.start()
        except BaseException:
            self.stop()
            raise

    def stop(self):
        stop_all([self.sim, self.cc, self.unit])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def modem_ready(w):
    wait_for(lambda: link(w.unit)["up"] and link(w.unit)["sbd"]["state"] not in ("down", "starting", "no device"),
             30, "the backpack's modem to be usable")


