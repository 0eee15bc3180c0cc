"""Real gpsd from Debian, fed by gpsfake with an NMEA log (tests/data/gpsd).

    with Gpsfake(TEST_DATA / "gpsd" / "haicom-305N.log", port) as g:   # gpsd on 127.0.0.1:port
        ...                 # the log plays once the first client watches
    tpvs = chk_fixes(path)  # the TPV reports with a fix in a gpsd .chk file

gpsfake runs its own gpsd on a pty; both are in a process group of their
own, which stop() ends (SIGTERM, then SIGKILL), so no gpsd outlives a test.
"""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from .paths import wait_for


class Gpsfake:
    def __init__(self, log, port, *, cycle=0.05, once=True, nowait=False, logfile=None):
        self.log = Path(log)
        self.port = port
        cmd = ["/usr/bin/gpsfake", "-q", "-P", str(port), "-c", str(cycle)]
        cmd += ["-1"] if once else []
        cmd += ["-n"] if nowait else []
        self.out = open(logfile, "ab") if logfile else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd + [str(self.log)], stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._listening, 20, f"gpsfake's gpsd on port {port}")

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
        if self.out is not subprocess.DEVNULL:
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
