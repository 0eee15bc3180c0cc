"""Start the serial line emulator (tests/sim/seremu) between two ptys.

    with SerialEmu(rate=1200, loss=0.01, seed=3) as ser:
        # node A opens ser.a (a symlink that follows unplug/plug), node B ser.b
        ser.down(); ...; ser.up()
        ser.unplug("a"); ser.plug("a")
        ser.stats()["ab"]["fwd"]
    final = ser.final           # the stats line printed at exit

Shaping options take a value for both directions or a dict {"ab": v, "ba": v};
duplex ("full" or "half"), txdelay and txtail apply to the line as a whole.
Process handling, the control socket and stop() are LinkEmu's.
"""
import json
import os
import tempfile

from .paths import BUILD
from .sim import LinkEmu

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
    SHAPING = ("rate", "bits", "ber", "loss", "queue", "duplex", "txdelay", "txtail")

    def __init__(self, *, outages=(), seed=1, tick=None, stdin=False, args=(), start=True, **shaping):
        self.dir = tempfile.mkdtemp(prefix="seremu-")
        self.sock = os.path.join(self.dir, "control.sock")
        self.log = os.path.join(self.dir, "seremu.log")
        self.a = os.path.join(self.dir, "ttyA")
        self.b = os.path.join(self.dir, "ttyB")
        cmd = [str(SEREMU), "-a", self.a, "-b", self.b, "-c", self.sock, "-v"]
        if tick is not None:
            cmd += ["--tick", str(tick)]
        self._setup(cmd, shaping, outages, seed, stdin, args, start)

    def _ready(self, ready):
        self.pts_a, self.pts_b = ready["a"], ready["b"]

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
