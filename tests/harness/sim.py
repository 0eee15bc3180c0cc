"""Start the link emulator (tests/sim/linkemu) between two UDP endpoints.

    with LinkEmu(peer_a=a_port, peer_b=b_port, rate="9600", delay="300ms",
                 loss=0.05, outages=["10s+30s"]) as emu:
        # node A sends to emu.a_port (as if it were B), node B to emu.b_port
        emu.down(); ...; emu.up()
        emu.stats()["ab"]["fwd"]
    final = emu.final           # the stats line printed at exit

Shaping options take a value for both directions or a dict {"ab": v, "ba": v}.
Everything started here is stopped by stop() (or leaving the with block).
"""
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from .paths import BUILD, wait_for

LINKEMU = BUILD / "tests" / "sim" / "linkemu"


def addr_arg(a, host="127.0.0.1"):
    """A port, (host, port) or "host:port" as linkemu wants it."""
    if isinstance(a, int):
        return f"{host}:{a}" if ":" not in host else f"[{host}]:{a}"
    if isinstance(a, tuple):
        h, p = a[0], a[1]
        return f"[{h}]:{p}" if ":" in h else f"{h}:{p}"
    return str(a)


def parse_addr(s):
    """'127.0.0.1:5' or '[::1]:5' -> (host, port)."""
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def consistent(stats):
    """Every datagram that came in is accounted for exactly once."""
    for d in ("ab", "ba"):
        s = stats[d]
        out = (s["fwd"] + s["drop_loss"] + s["drop_queue"] + s["drop_outage"]
               + s["drop_nopeer"] + s["send_errors"] + s["pending"])
        if s["in"] != out:
            return False
    return True


class LinkEmu:
    NAME = "linkemu"            # in messages; serial_sim.SerialEmu reuses the process handling
    SHAPING = ("rate", "delay", "jitter", "jitter_dist", "loss", "queue", "overhead")

    def __init__(self, peer_a=None, peer_b=None, listen_a=0, listen_b=0, *,
                 host="127.0.0.1", outages=(), seed=1, reorder=False, stdin=False,
                 args=(), start=True, **shaping):
        self.dir = tempfile.mkdtemp(prefix="linkemu-")
        self.sock = os.path.join(self.dir, "control.sock")
        self.log = os.path.join(self.dir, "linkemu.log")
        cmd = [str(LINKEMU), "-a", addr_arg(listen_a, host), "-b", addr_arg(listen_b, host),
               "-c", self.sock, "-v"]
        if peer_a is not None:
            cmd += ["-A", addr_arg(peer_a, host)]
        if peer_b is not None:
            cmd += ["-B", addr_arg(peer_b, host)]
        if reorder:
            cmd.append("--reorder")
        self._setup(cmd, shaping, outages, seed, stdin, args, start)

    def _setup(self, cmd, shaping, outages, seed, stdin, args, start):
        """The options both emulators take, then start unless told not to."""
        for k, v in shaping.items():
            if k not in self.SHAPING:
                raise TypeError(f"{type(self).__name__}: unknown option {k}")
            vals = v.items() if isinstance(v, dict) else [(None, v)]
            for d, val in vals:
                if val is not None:
                    cmd += [f"--{k.replace('_', '-')}", f"{d}:{val}" if d else str(val)]
        for o in outages:
            cmd += ["--outage", o]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        if not stdin:
            cmd.append("--no-stdin")
        self.cmdline = cmd + list(args)
        self.use_stdin = stdin
        self.proc = None
        self.ctl = None
        self.final = None
        self._out = b""
        if start:
            self.start()

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.cmdline, stdout=subprocess.PIPE, stderr=self.logf,
                                     stdin=subprocess.PIPE if self.use_stdin else subprocess.DEVNULL)
        ready = self.read_json(10)
        assert ready["event"] == "ready", ready
        self.ready = ready
        self.t0 = ready["t0"]       # CLOCK_MONOTONIC, like time.monotonic()
        self._ready(ready)
        wait_for(lambda: os.path.exists(self.sock), 10, f"{self.NAME} control socket")
        return self

    def _ready(self, ready):
        self.a_addr = parse_addr(ready["a"])
        self.b_addr = parse_addr(ready["b"])
        self.a_port, self.b_port = self.a_addr[1], self.b_addr[1]

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def read_line(self, timeout=10):
        """One line of linkemu's stdout, waiting at most timeout seconds."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._out:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise AssertionError(f"{self.NAME} printed no line in {timeout}s:\n{self.log_text()}")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"{self.NAME} exited ({self.proc.wait()}):\n{self.log_text()}")
                self._out += chunk
        line, self._out = self._out.split(b"\n", 1)
        return line.decode()

    def read_json(self, timeout=10):
        return json.loads(self.read_line(timeout))

    def stdin_cmd(self, line):
        """A command on stdin; returns the reply line from stdout."""
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        return self.read_line()

    def cmd(self, line, timeout=10):
        """A command on the control socket; returns the reply line."""
        if self.ctl is None:
            self.ctl = socket.socket(socket.AF_UNIX)
            self.ctl.settimeout(timeout)
            self.ctl.connect(self.sock)
            self._ctl_buf = b""
        self.ctl.sendall(line.encode() + b"\n")
        while b"\n" not in self._ctl_buf:
            chunk = self.ctl.recv(65536)
            if not chunk:
                raise AssertionError(f"{self.NAME} closed the control socket:\n{self.log_text()}")
            self._ctl_buf += chunk
        reply, self._ctl_buf = self._ctl_buf.split(b"\n", 1)
        return reply.decode()

    def _ok(self, line):
        r = self.cmd(line)
        if r != "ok":
            raise AssertionError(f"{self.NAME} {line!r} -> {r!r}")

    def down(self, direction="both", duration=None):
        self._ok(f"down {direction}" + (f" {duration}" if duration else ""))

    def up(self, direction="both"):
        self._ok(f"up {direction}")

    def set(self, direction="both", **shaping):
        """e.g. set(loss=0.2), set("ab", rate="9600", delay="300ms")"""
        for k, v in shaping.items():
            self._ok(f"{k.replace('_', '-')} {direction} {v}")

    def stats(self):
        return json.loads(self.cmd("stats"))

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Stop the emulator; returns (and keeps in .final) its final stats.  Fails
        if it had exited non-zero (a crash or a sanitizer report)."""
        if self.ctl:
            self.ctl.close()
            self.ctl = None
        if self.proc is None:
            shutil.rmtree(self.dir, ignore_errors=True)
            return self.final
        problem = None
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    problem = f"{self.NAME} ignored signal {sig}"
            if problem is None and self.proc.returncode != 0:
                problem = f"{self.NAME} exited {self.proc.returncode}"
            rest = self._out + self.proc.stdout.read()
            self._out = b""
            for line in rest.decode(errors="replace").splitlines():
                if line.startswith("{") and json.loads(line).get("event") == "final":
                    self.final = json.loads(line)
            if problem:
                problem += ":\n" + self.log_text()
        finally:
            for f in (self.proc.stdout, self.proc.stdin):
                if f:
                    f.close()
            self.logf.close()
            self.proc = None
            shutil.rmtree(self.dir, ignore_errors=True)
        if problem:
            raise AssertionError(problem)
        return self.final

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
