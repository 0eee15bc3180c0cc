"""Two real Direwolf software TNCs joined by audio over UDP, no sound card.

    with DirewolfPair(tmp_path, modem=1200) as pair:
        a = pair.kiss_connect("a")      # a TCP socket to A's KISS port
        b = pair.kiss_connect("b")
        a.sendall(kiss_frame)           # comes out of b, decoded from audio
        pair.kiss_port_a, pair.kiss_port_b
    pair.pacer_totals("a")              # what A's audio pacer sent, parsed

    a.sendall(kiss_data(ui_frame(("FRD2", 2), ("FRD1", 1), b"hi")))
    KissReader(b).next(timeout=5)       # (0x00, the frame) or None

Each instance gets a directory under tmpdir holding its direwolf.conf, its
own HOME with an ~/.asoundrc, and its log.  Its receiver is `ADEVICE
udp:PORT`; its transmitter is the ALSA pcm "fieldrelay_air", a `type file`
pcm on the "null" slave whose file is "|audio_pacer PEER_PORT": ALSA pipes
every sample Direwolf plays into the pacer (tests/sim/audio_pacer.c), which
sends it to the other instance's UDP port at the real sample rate and sends
silence in between (see there for why both matter).  Each Direwolf runs in
its own session, so its process group holds the pacer ALSA started for it,
and stop() ends both groups whatever happened.

The channel is two one-way paths, A's transmitter to B's receiver and back:
an instance never hears itself, and two transmissions that start at once
do not collide (carrier sense still defers one that starts while the other
is heard).
"""
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

from .paths import BUILD, wait_for

PACER = BUILD / "tests" / "sim" / "audio_pacer"
DIREWOLF = os.environ.get("DIREWOLF", "/usr/bin/direwolf")

SAMPLE_RATE = 44100     # default ARATE; 2 bytes per sample (S16 mono) on the wire
READY_TIMEOUT = 20.0


def direwolf_available():
    return os.access(DIREWOLF, os.X_OK)


def _free_port(kind):
    """A port nothing uses right now that Direwolf accepts: it takes 1024 to
    49151 only.  Drawn below the kernel's ephemeral range (Linux: from 32768),
    which connect() and bind(0) anywhere on the machine take from, so bind(0)
    cannot pick and nothing else takes it before Direwolf binds it."""
    rng = random.SystemRandom()
    try:
        lo = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        lo = 32768
    top = min(49152, lo) if lo > 21000 else 49152
    for _ in range(200):
        port = rng.randrange(20000, top)
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("0.0.0.0", port))   # Direwolf binds INADDR_ANY
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in 20000-{top - 1}")


class Direwolf:
    """One instance: its files, ports and process."""

    def __init__(self, base, name, call, modem, rate, tnc, pacer_args):
        self.name = name
        self.dir = Path(base) / f"direwolf-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "direwolf.conf"
        self.log = self.dir / "direwolf.log"
        self.call = call
        self.modem = modem
        self.rate = rate
        self.tnc = tnc
        self.pacer_args = pacer_args
        self.proc = None
        self.audio_port = None
        self.kiss_port = None

    def write_files(self, peer_audio_port):
        # Direwolf splits config lines on blanks; every value here is one word.
        lines = [
            f"ADEVICE udp:{self.audio_port} fieldrelay_air",
            f"ARATE {self.rate}",
            "ACHANNELS 1",
            "CHANNEL 0",
            f"MYCALL {self.call}",
            f"MODEM {self.modem}",
        ]
        lines += [f"{k.upper()} {v}" for k, v in self.tnc.items() if v is not None]
        lines += [f"KISSPORT {self.kiss_port}", "AGWPORT 0"]
        self.conf.write_text("\n".join(lines) + "\n")
        cmd = shlex.join([str(PACER), "-r", str(self.rate), *self.pacer_args,
                          str(peer_audio_port)])
        if '"' in cmd or "\\" in cmd:
            raise ValueError(f"cannot quote {cmd!r} inside an ALSA string")
        # exec: the pacer replaces ALSA's /bin/sh, one process fewer to stop.
        (self.dir / ".asoundrc").write_text(
            "pcm.fieldrelay_air {\n"
            "\ttype file\n"
            "\tslave.pcm \"null\"\n"
            f"\tfile \"|exec {cmd}\"\n"
            "\tformat \"raw\"\n"
            "}\n")

    def start(self):
        env = dict(os.environ, HOME=str(self.dir))
        env.pop("ALSA_CONFIG_PATH", None)
        self.logf = open(self.log, "ab")
        # -t 0: no colour codes; -q d: no APRS decoding of our binary frames.
        self.proc = subprocess.Popen([DIREWOLF, "-t", "0", "-q", "d", "-c", str(self.conf)],
                                     cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kiss_listening(self):
        """True once Direwolf listens on its KISS port.  It logs "Ready to
        accept" between listen() and accept(), so a connect succeeds from
        then on; no probe connection needed (it would hold one of Direwolf's
        three client slots).  A bind failure is only logged, not fatal."""
        log = self.log_text()
        if self.proc.poll() is not None or "Bind failed" in log:
            raise AssertionError(f"direwolf {self.name} failed (exit {self.proc.poll()}):\n{log}")
        return f"KISS TCP client application 0 on port {self.kiss_port} " in log

    def attached(self):
        return self.log_text().count("Attached to KISS TCP client application")

    def stop(self, timeout=5.0):
        """End the whole process group (Direwolf and its pacer)."""
        if self.proc is None:
            return
        pgid = self.proc.pid    # a session leader: its pid is its group
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait()
        self.logf.close()
        self.proc = None


class DirewolfPair:
    """Two Direwolf TNCs, A and B, on one simulated radio channel.

    modem: Direwolf's MODEM (1200 AFSK, 9600 G3RUH, ...).  rate: ARATE, the
    audio sample rate (Direwolf would rather have 48000 for 9600).  tnc: channel
    settings written into both configs, keyed as Direwolf names them (None
    leaves Direwolf's own default); the defaults make the TNCs key up fast (100 ms TXDELAY, no random backoff)
    so tests measure the modem, not the collision avoidance.  A KISS client
    can change TXDELAY, persistence and slot time later with KISS commands.
    pacer_args: extra options for audio_pacer (see its --help).
    """

    TNC_DEFAULTS = {"txdelay": 10, "persist": 255, "slottime": 1}

    def __init__(self, tmpdir, modem=1200, *, rate=SAMPLE_RATE, calls=("N0CALL-1", "N0CALL-2"),
                 tnc=None, pacer_args=("-v",), start=True):
        if not direwolf_available():
            raise FileNotFoundError(f"{DIREWOLF} not found (Debian package direwolf)")
        if not PACER.exists():
            raise FileNotFoundError(f"{PACER} not built (make tests)")
        settings = dict(self.TNC_DEFAULTS, **(tnc or {}))
        self.a = Direwolf(tmpdir, "a", calls[0], modem, rate, settings, list(pacer_args))
        self.b = Direwolf(tmpdir, "b", calls[1], modem, rate, settings, list(pacer_args))
        self.modem = modem
        self.rate = rate
        self.bytes_per_s = 2 * rate
        self._socks = []
        if start:
            self.start()

    @property
    def kiss_port_a(self):
        return self.a.kiss_port

    @property
    def kiss_port_b(self):
        return self.b.kiss_port

    def side(self, name):
        return {"a": self.a, "b": self.b}[name]

    def start(self, attempts=3):
        """Start both; retry with new ports if another process took one."""
        for attempt in range(attempts):
            for d in (self.a, self.b):
                d.audio_port = _free_port(socket.SOCK_DGRAM)
                d.kiss_port = _free_port(socket.SOCK_STREAM)
            self.a.write_files(self.b.audio_port)
            self.b.write_files(self.a.audio_port)
            try:
                for d in (self.a, self.b):
                    d.start()
                for d in (self.a, self.b):
                    wait_for(d.kiss_listening, READY_TIMEOUT, f"direwolf {d.name} KISS port")
                return self
            except BaseException as e:
                self.stop()
                logs = self.a.log_text() + self.b.log_text()
                if (not isinstance(e, AssertionError) or attempt + 1 == attempts
                        or not re.search(r"(?i)bind", logs)):
                    raise

    def kiss_connect(self, name, settle=True, timeout=10.0):
        """A TCP socket to that instance's KISS port, once Direwolf has
        attached it (frames heard before then are not sent to it).

        Direwolf's reader for a client slot polls once a second for a new
        connection, so bytes written in the first second may wait that long.
        settle=True sleeps that second out; connect the first side with
        settle=False and the second with True to pay it once."""
        d = self.side(name)
        before = d.attached()
        s = socket.create_connection(("127.0.0.1", d.kiss_port), timeout=timeout)
        self._socks.append(s)
        wait_for(lambda: d.attached() > before, timeout, f"direwolf {name} to attach a KISS client")
        if settle:
            time.sleep(1.1)
        return s

    def pacer_totals(self, name):
        """The pacer's exit line as a dict (after stop()), or None."""
        m = None
        for m in re.finditer(
                r"audio_pacer: ([\d.]+) s: (\d+) datagrams, (\d+) bytes \(([\d.]+) B/s\); "
                r"audio (\d+) bytes in (\d+) bursts, silence (\d+) bytes; (\d+) bridged, "
                r"(\d+) resyncs, (\d+) send errors; latest wake-up ([\d.]+) ms",
                self.side(name).log_text()):
            pass
        if m is None:
            return None
        keys = ("seconds", "datagrams", "bytes", "rate", "audio", "bursts", "silence",
                "bridged", "resyncs", "send_errors", "late_max_ms")
        return {k: (float(v) if "." in v else int(v)) for k, v in zip(keys, m.groups())}

    def stop(self):
        for s in self._socks:
            s.close()
        self._socks = []
        for d in (self.a, self.b):
            d.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---- AX.25 and KISS, minimal, for the tests only -----------------------------

FEND, FESC, TFEND, TFESC = 0xC0, 0xDB, 0xDC, 0xDD

def ax25_addr(call, ssid, last):
    """Callsign shifted left one bit, space padded to 6; then the SSID byte
    (reserved bits set, extension bit on the last address only)."""
    return bytes(ord(c) << 1 for c in call.upper().ljust(6)) + \
        bytes([0x60 | (ssid << 1) | (1 if last else 0)])


def ui_frame(dst, src, info):
    """An AX.25 UI frame without FCS (the TNC adds it): 16 bytes + info."""
    return ax25_addr(*dst, False) + ax25_addr(*src, True) + b"\x03\xf0" + info


def kiss_data(frame, port=0):
    body = frame.replace(bytes([FESC]), bytes([FESC, TFESC])).replace(bytes([FEND]), bytes([FESC, TFEND]))
    return bytes([FEND, port << 4]) + body + bytes([FEND])


class KissReader:
    """Frames from a KISS byte stream: (type byte, unescaped payload)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def next(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            while bytes([FEND]) in self.buf:
                raw, self.buf = self.buf.split(bytes([FEND]), 1)
                if raw:
                    body = raw[1:].replace(bytes([FESC, TFEND]), bytes([FEND]))
                    return raw[0], body.replace(bytes([FESC, TFESC]), bytes([FESC]))
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                return None
            if not chunk:
                raise AssertionError("Direwolf closed the KISS connection")
            self.buf += chunk
