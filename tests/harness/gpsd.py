"""Real gpsd from Debian, fed by gpsfake with an NMEA log (tests/data/gpsd).

    with Gpsfake(TEST_DATA / "gpsd" / "haicom-305N.log", port, tmp) as g:   # gpsd on 127.0.0.1:port
        start the client          # within the lead-in (no fix yet)
        wait_for(g.done)          # the log played
        g.fixes()                 # what gpsd reported: its TPVs with a fix
    tpvs = chk_fixes(path)        # the TPV reports with a fix in a gpsd .chk file

gpsfake runs in its pipe mode: it watches its own gpsd as a client, so the
device is read from the start and gpsfake exits when the log has played (in
its other mode it never exits, and a log fed before the first client watches
is partly lost in the pty).  What it printed is what gpsd reported.  A
lead-in of no-fix sentences (lead_in seconds) gives the client under test
time to connect first.  gpsfake and its gpsd are in a process group of their
own, which stop() ends (SIGTERM, then SIGKILL), so no gpsd outlives a test.
"""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from .paths import wait_for


def nmea(body):
    """A sentence with its checksum."""
    x = 0
    for ch in body.encode():
        x ^= ch
    return f"${body}*{x:02X}\r\n".encode()


NO_FIX = nmea("GPGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99")


class Gpsfake:
    def __init__(self, log, port, workdir, *, cycle=0.05, once=True, lead_in=3.0):
        self.port = port
        workdir = Path(workdir)
        self.log = workdir / f"gpsfake-{port}-{Path(log).name}"
        self.log.write_bytes(NO_FIX * int(lead_in / cycle) + Path(log).read_bytes())
        self.output = workdir / f"gpsfake-{port}.out"
        cmd = ["/usr/bin/gpsfake", "-p", "-P", str(port), "-c", str(cycle)]
        cmd += ["-1"] if once else []
        self.out = open(self.output, "wb")
        self.proc = subprocess.Popen(cmd + [str(self.log)], stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(self._listening, 20, f"gpsfake's gpsd on port {port}")

    def reports(self):
        """gpsd's JSON reports so far, as dicts."""
        out = []
        for line in self.output.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def fixes(self):
        """The TPV reports with a fix (mode 2D or 3D, a time, a position)."""
        return [t for t in self.reports() if t.get("class") == "TPV" and t.get("mode", 0) >= 2
                and "time" in t and "lat" in t]

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"gpsfake exited with {self.proc.returncode}")
        import socket
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def done(self):
        """The log has played (gpsfake -1 exits at its end)."""
        return self.proc.poll() is not None

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)    # gpsd, if gpsfake left it
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait()
        self.out.close()
        time.sleep(0.05)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def chk_fixes(path):
    """The TPV reports of a gpsd .chk file that are fixes (mode 2D or 3D,
    with a time): dicts as gpsd wrote them."""
    out = []
    for line in Path(path).read_text().splitlines():
        if not line.startswith('{"class":"TPV"'):
            continue
        t = json.loads(line)
        if t.get("mode", 0) >= 2 and "time" in t and "lat" in t:
            out.append(t)
    return out


def gpx_nmea(gpx, out, skip=0, start_ms=None, speedup=1.0):
    """A GPX track as an NMEA log for gpsfake, by gpsbabel: its points with a
    time (after the first skip of them) as RMC/GGA sentences.  GPX has no fix
    status, for which gpsbabel writes "no fix" (RMC V): each point is marked
    a 3D fix first.  start_ms: the track moved to start then, its times
    divided by speedup (the demo walks the hike in a minute).  The points,
    as (Unix ms, lat, lon), in out's order."""
    import re
    from datetime import datetime, timezone
    text = Path(gpx).read_text()
    pts = re.findall(r'<trkpt lat="([-\d.]+)" lon="([-\d.]+)">(?:(?!</trkpt>).)*?<time>([^<]+)</time>', text, re.S)
    keep = pts[skip:]
    if start_ms is not None and keep:
        ms = [datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000 for _, _, t in keep]
        keep = [(la, lo, datetime.fromtimestamp((start_ms + (m - ms[0]) / speedup) // 1000, timezone.utc)
                 .strftime("%Y-%m-%dT%H:%M:%SZ")) for (la, lo, _), m in zip(keep, ms)]
    body = "".join(f'<trkpt lat="{la}" lon="{lo}"><time>{t}</time><fix>3d</fix><sat>8</sat></trkpt>\n'
                   for la, lo, t in keep)
    marked = Path(out).with_suffix(".gpx")
    marked.write_text('<?xml version="1.0"?>\n<gpx version="1.1" creator="fieldrelay tests" '
                      'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>\n' + body + "</trkseg></trk></gpx>\n")
    subprocess.run(["gpsbabel", "-t", "-i", "gpx", "-f", str(marked), "-o", "nmea", "-F", str(out)],
                   check=True, capture_output=True)
    return [(round(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000), float(la), float(lo))
            for la, lo, t in keep]
