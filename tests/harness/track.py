"""fieldrelay-track in the tests: its [track] section, the track DB read
back, a tlog's records and MAVLink frames built by hand (independently of
relay/track's C), node-mavlink as the independent decoder
(tests/integration/helpers/mavcheck.js, installed by npm.sh), and CoT SA
multicast received on a socket.

    track_section(node, gpsd="none", unit="Team A", db=node.dir / "track.db")
    track_rows(db, unit)                         # dicts, one per position, by time
    modules = node_mavlink()                     # fails the test when npm cannot have it
    with MavcheckUdp(modules, port) as m: ...; frames = m.result()
    tlog_records(path)                           # [(time_us, frame bytes)]
    mav_frame(msgid, payload, sysid, compid)     # a v2 frame with its CRC
    with CotListener(group, port) as cot: ...; cot.drain()
"""
import json
import socket
import sqlite3
import struct
import subprocess

from .cleanup import end_process
from .paths import BUILD, ROOT

MAVCHECK = ROOT / "tests" / "integration" / "helpers" / "mavcheck.js"
NPM_SH = ROOT / "tests" / "integration" / "helpers" / "npm.sh"

# CRC_EXTRA of the messages the tests build (MAVLink common.xml).
CRC_EXTRA = {0: 50, 33: 104}


def track_section(n, **keys):
    """Append a [track] section with keys to node n's config file."""
    n.conf.write_text(n.conf.read_text() + "[track]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))


def track_rows(db, unit=None):
    """The positions in a track DB as dicts (the table's columns), by time;
    [] while the DB or its table is not there yet."""
    if not db.exists():
        return []
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    c.row_factory = sqlite3.Row
    try:
        q = "SELECT * FROM position" + (" WHERE unit = ?" if unit else "") + " ORDER BY time_ms"
        return [dict(r) for r in c.execute(q, (unit,) if unit else ())]
    except sqlite3.OperationalError:
        return []
    finally:
        c.close()


# ---- MAVLink by hand ----

def frame_len(buf, i=0):
    """The length of the MAVLink frame starting at buf[i] (by its header), or
    None if buf[i] is no magic or the header is cut."""
    if i + 3 > len(buf):
        return None
    if buf[i] == 0xFE:
        return 6 + buf[i + 1] + 2
    if buf[i] == 0xFD:
        return 10 + buf[i + 1] + 2 + (13 if buf[i + 2] & 1 else 0)
    return None


def tlog_records(path):
    """A tlog's records: (time_us, the frame's bytes), each an 8-byte
    big-endian Unix time in microseconds and the frame."""
    data = path.read_bytes()
    out, i = [], 0
    while i + 8 < len(data):
        n = frame_len(data, i + 8)
        if n is None or i + 8 + n > len(data):
            break
        out.append((struct.unpack(">Q", data[i:i + 8])[0], data[i + 8:i + 8 + n]))
        i += 8 + n
    return out


def x25(data, crc=0xFFFF):
    """MAVLink's checksum (CRC-16/MCRF4XX)."""
    for b in data:
        t = b ^ (crc & 0xFF)
        t = (t ^ (t << 4)) & 0xFF
        crc = ((crc >> 8) ^ (t << 8) ^ (t << 3) ^ (t >> 4)) & 0xFFFF
    return crc


def mav_frame(msgid, payload, sysid=1, compid=1, seq=0, crc_extra=None):
    """A MAVLink v2 frame (no signature) of payload, its checksum right."""
    extra = CRC_EXTRA[msgid] if crc_extra is None else crc_extra
    head = bytes([0xFD, len(payload), 0, 0, seq & 0xFF, sysid, compid]) + struct.pack("<I", msgid)[:3]
    crc = x25(head[1:] + payload + bytes([extra]))
    return head + payload + struct.pack("<H", crc)


def global_position_int(lat, lon, alt_m, time_boot_ms=0, relative_alt_m=0.0, vx=0, vy=0, vz=0, hdg=0):
    """A GLOBAL_POSITION_INT payload (28 bytes) of degrees and metres."""
    return struct.pack("<IiiiihhhH", time_boot_ms, round(lat * 1e7), round(lon * 1e7), round(alt_m * 1000),
                       round(relative_alt_m * 1000), vx, vy, vz, hdg)


# ---- node-mavlink ----

def node_mavlink(build=BUILD):
    """node-mavlink's node_modules (installed once by npm.sh); fails the test
    when node, npm or the registry is not there."""
    import pytest
    r = subprocess.run(["sh", str(NPM_SH), str(build)], capture_output=True, text=True, cwd=ROOT)
    if r.returncode == 77:
        # The independent decoder is what these tests check against: without it they prove nothing.
        pytest.fail((r.stdout.strip() or "node-mavlink not available") + " (tests/deps.sh installs node and npm)")
    assert r.returncode == 0, r.stdout + r.stderr
    return build / "npm" / "node_modules"


def mavcheck_lines(text):
    """mavcheck.js's output: (the frames, the summary)."""
    out = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert out and "summary" in out[-1], text[-500:]
    return out[:-1], out[-1]["summary"]


def mavcheck_file(modules, path, tlog=False, timeout=120):
    """node-mavlink's reading of a file (a tlog with tlog): (frames, summary)."""
    r = subprocess.run(["node", str(MAVCHECK), "--modules", str(modules), "--file", str(path),
                        *(["--tlog"] if tlog else [])], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return mavcheck_lines(r.stdout)


class MavcheckUdp:
    """node-mavlink listening on 127.0.0.1:port, as a ground station does,
    until idle seconds of silence after the first frame or timeout seconds;
    result() waits for it: (frames with rx_ms, summary)."""

    def __init__(self, modules, port, idle=5, timeout=120):
        self.proc = subprocess.Popen(["node", str(MAVCHECK), "--modules", str(modules), "--udp", str(port),
                                      "--idle", str(idle), "--timeout", str(timeout)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.timeout = timeout
        line = self.proc.stderr.readline()         # it binds before it says so
        if "listening" not in line:
            self.stop()
            raise AssertionError(f"mavcheck.js did not listen: {line}")

    def result(self):
        out, err = self.proc.communicate(timeout=self.timeout + 30)
        return mavcheck_lines(out)

    def stop(self):
        end_process(self.proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---- CoT ----

class CotListener:
    """A UDP socket bound to group:port and joined to the group on loopback
    and on the interface the route to the group takes (where the agent's
    multicast goes out, looped back to this host); drain() returns the
    datagrams that came since."""

    def __init__(self, group, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((group, port))
        for ifaddr in ("127.0.0.1", "0.0.0.0"):
            mreq = socket.inet_aton(group) + socket.inet_aton(ifaddr)
            try:
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            except OSError:
                pass                # the same interface twice, or no route: loopback alone
        self.sock.setblocking(False)
        self.got = []

    def drain(self):
        while True:
            try:
                self.got.append(self.sock.recv(65536))
            except BlockingIOError:
                return self.got

    def stop(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
