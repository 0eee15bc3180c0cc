"""Start the serial line emulator (tests/sim/seremu) between two ptys.

    with SerialEmu(rate=1200, loss=0.01, seed=3) as ser:
        # node A opens ser.a (a symlink that follows unplug/plug), node B ser.b
        ser.down(); ...; ser.up()
        ser.unplug("a"); ser.plug("a")
        ser.stats()["ab"]["fwd"]
    final = ser.final           # the stats line printed at exit

Shaping options take a value for both directions or a dict {"ab": v, "ba": v}.
Process handling, the control socket and stop() are LinkEmu's.
"""
import json
import os
import subprocess
import tempfile

from harness import BUILD, wait_for
from sim import LinkEmu

SEREMU = BUILD / "tests" / "sim" / "seremu"


def consistent(stats):
    """Every byte that went in is accounted for exactly once."""
    for d in ("ab", "ba"):
        s = stats[d]
        out = (s["fwd"] + s["drop_loss"] + s["drop_outage"] + s["drop_queue"]
               + s["drop_blocked"] + s["drop_unplugged"] + s["pending"])
        if s["in"] != out:
            return False
    return True


class SerialEmu(LinkEmu):
    NAME = "seremu"
    SHAPING = ("rate", "bits", "ber", "loss", "queue")

    def __init__(self, *, outages=(), seed=1, tick=None, stdin=False, args=(), start=True, **shaping):
        self.dir = tempfile.mkdtemp(prefix="seremu-")
        self.sock = os.path.join(self.dir, "control.sock")
        self.log = os.path.join(self.dir, "seremu.log")
        self.a = os.path.join(self.dir, "ttyA")
        self.b = os.path.join(self.dir, "ttyB")
        cmd = [str(SEREMU), "-a", self.a, "-b", self.b, "-c", self.sock, "-v"]
        for k, v in shaping.items():
            if k not in self.SHAPING:
                raise TypeError(f"SerialEmu: unknown option {k}")
            vals = v.items() if isinstance(v, dict) else [(None, v)]
            for d, val in vals:
                if val is not None:
                    cmd += [f"--{k}", f"{d}:{val}" if d else str(val)]
        for o in outages:
            cmd += ["--outage", o]
        if tick is not None:
            cmd += ["--tick", str(tick)]
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
        self.pts_a, self.pts_b = ready["a"], ready["b"]
        self.t0 = ready["t0"]       # CLOCK_MONOTONIC, like time.monotonic()
        wait_for(lambda: os.path.exists(self.sock), 10, "seremu control socket")
        return self

    def unplug(self, side):
        r = json.loads(self.cmd(f"unplug {side}"))
        assert r["event"] == "unplug", r

    def plug(self, side):
        """A new pty for side; returns its /dev/pts path (the symlink follows)."""
        r = self.cmd(f"plug {side}")
        if not r.startswith("{"):
            raise AssertionError(f"seremu plug {side} -> {r!r}")
        return json.loads(r)[side]["path"]

    def inject(self, direction, data):
        """Bytes on the line as if the node at the start of direction wrote them."""
        self._ok(f"inject {direction} {bytes(data).hex()}")
