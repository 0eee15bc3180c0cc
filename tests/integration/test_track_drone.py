"""Drone telemetry through fieldrelay-track, with real daemons and the real
agent: a ground station (node 1, unit "Ground") replays the CanberraUAV
quadplane's tlog (tests/data, 132 s of flight, 10 times faster) and sends
its telemetry to the command center (node 2, unit "Command") over a UDP link
on loopback; the command center re-emits it as MAVLink over UDP, where
node-mavlink (tests/integration/helpers/mavcheck.js, from npm; the tests that
need it skip without it) listens as QGroundControl would.

- Mesh: the drone's positions land in both track DBs (kind drone, source
  mavlink, unit "Ground/drone2"); the frames node-mavlink decodes are frames
  of the tlog, value for value, and none passes more often than its mesh
  limit (1 Hz per source and message, STATUSTEXT 5 Hz).
- Narrowband (the ground station's only link a UDP link of 9600 bit/s): only
  HIGH_LATENCY2 summaries cross, each bundle at most 48 bytes; the command
  center rebuilds them into frames node-mavlink decodes, at the drone's
  positions.
- CoT: every position each agent stores goes out as one event to its SA
  multicast group; the events parse (lxml) with the fields TAK needs.
- Bad MAVLink (garbage, bit flips and cuts of the tlog's frames, wrong
  CRCs, huge length fields) on a listening endpoint never stops the agent,
  and a good frame after it lands in the DB; broken telemetry bundles from
  the network neither, and good ones after them are re-emitted.
"""
import json
import random
import struct
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from harness import CLI, TEST_DATA, free_ports, wait_for
from harness.cleanup import running
from harness.mesh import mesh_node, neighbours
from harness.track import (CotListener, MavcheckUdp, frame_len, global_position_int, mav_frame,
                           mavcheck_file, node_mavlink, tlog_records, track_rows, track_section)

TLOG = TEST_DATA / "cuav_quadplane_2016-11-12.tlog"
SPEED = 10                                   # the replay: 132 s of flight in about 13
DRONE = "Ground/drone2"                      # the autopilot is system 2 in this log
MESH_HZ = {0: 1, 1: 1, 24: 1, 30: 1, 33: 1, 74: 1, 147: 1, 253: 5}   # mavrate.h's mesh defaults
HL2 = 235
COT_GROUP = "239.2.3.1"


@pytest.fixture(scope="module")
def modules():
    return node_mavlink()


@pytest.fixture(scope="module")
def tlog_frames(modules):
    """node-mavlink's reading of the tlog: every frame it holds, decoded."""
    frames, summary = mavcheck_file(modules, TLOG, tlog=True)
    assert summary["invalid"] == 0 and len(frames) > 30000, summary
    return frames


def key(f):
    """A frame as node-mavlink decoded it, without where and when it was read."""
    return json.dumps([f["msgid"], f["sysid"], f["compid"], f["seq"], f["version"], f["fields"]], sort_keys=True)


def gpi_positions(frames, sysid=2):
    """(lat, lon, alt) in degrees and metres of the GLOBAL_POSITION_INTs of sysid."""
    return {(g["fields"]["lat"] / 1e7, g["fields"]["lon"] / 1e7, g["fields"]["alt"] / 1000)
            for g in frames if g["msgid"] == 33 and g["sysid"] == sysid}


def near_one_of(lat, lon, positions, tol):
    return any(abs(lat - p[0]) <= tol and abs(lon - p[1]) <= tol for p in positions)


def pair(tmp_path, cleanup, link_extra="", ground=None, command=None):
    """The ground station (node 1) and the command center (node 2) over one
    UDP link on loopback, their [track] sections, started and neighbours."""
    p1, p2 = free_ports(2)
    g = cleanup.add(mesh_node(tmp_path, 1, p1, [p2], extra=link_extra))
    c = cleanup.add(mesh_node(tmp_path, 2, p2, [p1], extra=link_extra))
    track_section(g, gpsd="none", unit="Ground", db=g.dir / "track.db", battery="none",
                  mavlink=f"tlog {TLOG} {SPEED}", telemetry_to="ipn:2.6", **(ground or {}))
    track_section(c, gpsd="none", unit="Command", db=c.dir / "track.db", battery="none", **(command or {}))
    g.start()
    c.start()
    wait_for(lambda: neighbours(g) == {1 + 1} and neighbours(c) == {1}, 20, "the link up")
    return g, c


def tap(cleanup, node, outdir):
    """Every telemetry bundle that reaches node, as a second registration
    ("tap") of service 6 sees it: `fieldrelay --json watch`, payloads to outdir."""
    outdir.mkdir()
    log = open(outdir.parent / f"tap{node.id}.json", "w")
    cleanup.callback(log.close)
    cleanup.enter(running([str(CLI), "-c", str(node.conf), "--json", "watch", "-N", "tap", "-o", str(outdir), "6"],
                          stdout=log, stderr=subprocess.STDOUT))
    return outdir.parent / f"tap{node.id}.json"


def tapped(path):
    out = []
    for line in path.read_text().splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if "size" in j:
            out.append(j)
    return out


def start_agents(agents, g, c):
    """The command center's agent first (its telemetry registration is there
    before the first bundle), then the ground station's, whose replay starts."""
    tc = agents("track", c, args=["-v"], ready=lambda a: "tracking Command" in a.log_text())
    tg = agents("track", g, args=["-v"], ready=lambda a: "tracking Ground" in a.log_text())
    return tg, tc


def test_mesh_telemetry_end_to_end(tmp_path, cleanup, agents, modules, tlog_frames):
    (mport,) = free_ports(1)
    g, c = pair(tmp_path, cleanup, ground={"interval": "mesh 1s 20s"},
                command={"mavlink_out": f"127.0.0.1:{mport}"})
    taplog = tap(cleanup, c, tmp_path / "tap")
    with MavcheckUdp(modules, mport, idle=6, timeout=90) as qgc:
        t0 = time.monotonic()
        tg, tc = start_agents(agents, g, c)
        got, summary = qgc.result()
    took = time.monotonic() - t0
    print(f"node-mavlink at the ground station's port: {len(got)} frames in {took:.1f} s, {summary}")
    assert summary["invalid"] == 0 and summary["unknown"] == 0
    assert "narrowest mesh (mesh)" in tg.log_text()

    # The ground station's DB: the drone's positions as the tlog has them.
    positions = gpi_positions(tlog_frames)
    own = track_rows(g.dir / "track.db", DRONE)
    print(f"ground station's DB: {len(own)} positions of {DRONE} from {len(positions)} GLOBAL_POSITION_INT")
    assert len(own) >= 100, len(own)
    for r in own:
        assert (r["kind"], r["source"], r["node"], r["link"]) == ("drone", "mavlink", 0, ""), r
        assert (r["lat"], r["lon"], r["alt"]) in positions, r
    assert {r["unit"] for r in track_rows(g.dir / "track.db")} == {DRONE}

    # The command center's DB: the drone's reports, to the wire's resolution, over the mesh link.
    wait_for(lambda: len(track_rows(c.dir / "track.db", DRONE)) >= 5, 20, "the drone at the command center")
    far = track_rows(c.dir / "track.db", DRONE)
    print(f"command center's DB: {len(far)} positions of {DRONE}")
    for r in far:
        assert (r["kind"], r["source"], r["node"], r["link"]) == ("drone", "mavlink", 1, "mesh"), r
        assert near_one_of(r["lat"], r["lon"], positions, 2e-5), r

    # What the command center re-emits: frames of the tlog, value for value, the mesh's messages only.
    assert len(got) >= 50, len(got)
    in_tlog = {key(f) for f in tlog_frames}
    for f in got:
        assert key(f) in in_tlog, f
    assert {f["msgid"] for f in got} <= set(MESH_HZ), {f["msgid"] for f in got}
    gpi = [f for f in got if f["msgid"] == 33]
    assert len(gpi) >= 5 and all((f["fields"]["lat"] / 1e7, f["fields"]["lon"] / 1e7,
                                  f["fields"]["alt"] / 1000) in positions for f in gpi)
    # No source's message more often than its limit, by when node-mavlink heard it.
    by_src = {}
    for f in got:
        by_src.setdefault((f["sysid"], f["compid"], f["msgid"]), []).append(f["rx_ms"])
    rates = {}
    for (sysid, compid, msgid), ts in sorted(by_src.items()):
        span = (max(ts) - min(ts)) / 1000
        rates[(sysid, compid, msgid)] = (len(ts), round(span, 1))
        assert len(ts) <= span * MESH_HZ[msgid] + 2, (sysid, compid, msgid, len(ts), span)
    print("re-emitted per (sysid, compid, msgid): (frames, seconds):", rates)
    # The drone's position nearly every second of the replay.
    span = (max(by_src[(2, 1, 33)]) - min(by_src[(2, 1, 33)])) / 1000
    assert len(by_src[(2, 1, 33)]) >= span * 0.6, (len(by_src[(2, 1, 33)]), span)
    bundles = tapped(taplog)
    sizes = [b["size"] for b in bundles]
    print(f"telemetry bundles: {len(bundles)}, {min(sizes)}..{max(sizes)} B, {sum(sizes)} B in all")
    assert bundles and max(sizes) <= 2048
    assert tg.running() and tc.running()
    assert tg.stop() == 0 and tc.stop() == 0          # a clean exit (and no leak under ASan)


def test_narrowband_only_summaries(tmp_path, cleanup, agents, modules, tlog_frames):
    (mport,) = free_ports(1)
    g, c = pair(tmp_path, cleanup, link_extra="rate = 9600\n",
                ground={"interval": "narrowband 1s 20s", "summary": "2s"},
                command={"mavlink_out": f"127.0.0.1:{mport}"})
    taplog = tap(cleanup, c, tmp_path / "tap")
    with MavcheckUdp(modules, mport, idle=8, timeout=90) as qgc:
        tg, tc = start_agents(agents, g, c)
        got, summary = qgc.result()
    assert "(narrowband)" in tg.log_text(), tg.log_text()
    print(f"node-mavlink: {len(got)} frames, {summary}")
    assert summary["invalid"] == 0
    # Only summaries cross: HIGH_LATENCY2 frames of the drone, at its positions.
    assert len(got) >= 3 and {f["msgid"] for f in got} == {HL2}, [f["msgid"] for f in got]
    positions = gpi_positions(tlog_frames)
    for f in got:
        assert (f["sysid"], f["compid"], f["version"]) == (2, 1, 2), f
        lat, lon = f["fields"]["latitude"] / 1e7, f["fields"]["longitude"] / 1e7
        assert near_one_of(lat, lon, positions, 0), f
    # Each telemetry bundle: a summary (kind 2, sysid, compid, the payload), at most 48 bytes.
    wait_for(lambda: len(tapped(taplog)) >= len(got), 10, "the tap to see every bundle")
    bundles = tapped(taplog)
    sizes = [b["size"] for b in bundles]
    print(f"telemetry bundles: {len(bundles)}, {min(sizes)}..{max(sizes)} B payload; "
          f"HIGH_LATENCY2 payloads {sorted({f['len'] for f in got})} B")
    assert len(bundles) == len(got), (len(bundles), len(got))
    assert max(sizes) <= 48
    # ... whose payload (HIGH_LATENCY2: time, latitude, longitude first) is what node-mavlink read, in order.
    for b, f in zip(bundles, got):
        p = Path(b["file"]).read_bytes()
        assert p[:3] == bytes([2, 2, 1]) and len(p) == b["size"], (b, p.hex())
        _, lat, lon = struct.unpack("<Iii", p[3:15])
        assert (lat, lon) == (f["fields"]["latitude"], f["fields"]["longitude"]), (p.hex(), f)
    assert tg.running() and tc.running()
    assert tg.stop() == 0 and tc.stop() == 0          # a clean exit (and no leak under ASan)


def cot_time_ms(s):
    return round(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)


def check_cot_events(datagrams, rows, unit):
    """Each datagram one CoT event of unit, at a position of rows; their count."""
    from lxml import etree
    by_time = {r["time_ms"]: r for r in rows}
    for d in datagrams:
        ev = etree.fromstring(d)
        assert ev.tag == "event" and ev.get("version") == "2.0", d
        assert ev.get("uid") == f"fieldrelay-{unit}" and ev.get("type").startswith("a-f-"), d
        assert ev.get("how") == "m-g", d
        t, start, stale = (cot_time_ms(ev.get(k)) for k in ("time", "start", "stale"))
        assert t == start and stale - t == 120_000, d
        r = by_time[t]
        pt = ev.find("point")
        assert abs(float(pt.get("lat")) - r["lat"]) <= 1e-7 and abs(float(pt.get("lon")) - r["lon"]) <= 1e-7, d
        assert abs(float(pt.get("hae")) - r["alt"]) <= 0.05, d
        for k in ("ce", "le"):
            assert float(pt.get(k)) > 0, d
        assert ev.find("detail/contact").get("callsign") == unit, d
    return len(datagrams)


def test_cot_sa_multicast(tmp_path, cleanup, agents):
    pg, pc = free_ports(2)
    g, c = pair(tmp_path, cleanup, ground={"interval": "mesh 1s 20s", "cot": f"{COT_GROUP}:{pg}"},
                command={"cot": f"{COT_GROUP}:{pc}"})
    with CotListener(COT_GROUP, pg) as own, CotListener(COT_GROUP, pc) as far:
        tg, tc = start_agents(agents, g, c)
        tg.wait_for(lambda: len(own.drain()) >= 100, 20, "the first events")
        time.sleep(132 / SPEED + 2)                     # the rest of the replay
        rows_g = track_rows(g.dir / "track.db", DRONE)
        wait_for(lambda: len(own.drain()) == len(rows_g), 10, "an event per own position")
        wait_for(lambda: len(far.drain()) == len(track_rows(c.dir / "track.db", DRONE)) >= 5, 20,
                 "an event per position received")
        rows_c = track_rows(c.dir / "track.db", DRONE)
        n_own = check_cot_events(own.drain(), rows_g, DRONE)
        n_far = check_cot_events(far.drain(), rows_c, DRONE)
        sizes = [len(d) for d in own.got + far.got]
    print(f"CoT: {n_own} events of own drone positions at the ground station, {n_far} at the command center "
          f"({min(sizes)}..{max(sizes)} B)")
    assert tg.running() and tc.running()
    assert tg.stop() == 0 and tc.stop() == 0          # a clean exit (and no leak under ASan)


# ---- bad MAVLink ----

def damaged(records, seed=13):
    """Datagrams of garbage and of the tlog's frames broken every way."""
    rnd = random.Random(seed)
    frames = [f for _, f in records[:4000]]
    out = [b"", b"\xfd", b"\xfe", bytes(range(256)), bytes(65000), b"\xfd" * 3000, b"\xfe\xff" * 1000]
    out += [rnd.randbytes(rnd.randrange(1, 600)) for _ in range(300)]
    for f in frames[:300:3]:
        for bit in range(0, len(f) * 8, 5):           # one bit flipped: the CRC must catch it
            b = bytearray(f)
            b[bit // 8] ^= 1 << (bit % 8)
            out.append(bytes(b))
        for cut in range(1, len(f)):                  # cut short
            out.append(f[:cut])
        b = bytearray(f)
        b[-1] ^= 0x5A                                 # wrong CRC
        out.append(bytes(b))
        b = bytearray(f)
        b[1] = 255                                    # a length far beyond the datagram
        out.append(bytes(b))
        out.append(bytes(b) + rnd.randbytes(255))     # ... with that much junk after
        b = bytearray(f)
        if b[0] == 0xFD:
            b[2] = 0xFF                                # unknown incompatibility flags, a signature
            out.append(bytes(b))
    # Many frames in one datagram, some broken among them, and cut mid-frame.
    blob = b"".join(frames[300:400])
    out.append(blob[: len(blob) // 2 + 7])
    out.append(b"\xfd\xff\x00\x00" + blob)
    rnd.shuffle(out)
    return out


def tlog_positions(records):
    """(lat, lon, alt) of the GLOBAL_POSITION_INTs among the tlog's records, read here."""
    out = set()
    for _, f in records:
        v2 = f[0] == 0xFD
        msgid = int.from_bytes(f[7:10], "little") if v2 else f[5]
        if msgid == 33:
            p = (f[10:-2] if v2 else f[6:-2]).ljust(28, b"\0")
            _, lat, lon, alt = struct.unpack("<Iiii", p[:16])
            out.add((lat / 1e7, lon / 1e7, alt / 1000))
    return out


def test_bad_mavlink_never_stops_the_agent(tmp_path, cleanup, agents):
    p, peer, mp = free_ports(3)
    n = cleanup.add(mesh_node(tmp_path, 1, p, [peer]))      # a peer that is not there: the agent alone
    track_section(n, gpsd="none", unit="Lab", db=n.dir / "track.db", battery="none",
                  mavlink=f"listen 127.0.0.1:{mp}")
    n.start()
    ag = agents("track", n, ready=lambda a: "tracking Lab" in a.log_text())
    records = tlog_records(TLOG)
    assert all(frame_len(f) == len(f) for _, f in records[:4000])
    bad = damaged(records)
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    try:
        for i, d in enumerate(bad):
            s.sendto(d, ("127.0.0.1", mp))
            sent += len(d)
            if i % 200 == 0:
                time.sleep(0.01)                      # the socket's buffer: let the agent read
        assert ag.running()
        time.sleep(0.5)
        # What the noise put in the DB is the whole frames among it, never a broken one: the CRC
        # caught every bit flip, cut and wrong length.
        whole = tlog_positions(records)
        noise = track_rows(n.dir / "track.db")
        assert all((r["lat"], r["lon"], r["alt"]) in whole for r in noise), noise[:3]
        assert {r["unit"] for r in noise} <= {"Lab/drone2"}
        # Then good frames: a heartbeat and a position of system 42 only we made.
        s.sendto(mav_frame(0, bytes(9), sysid=42, compid=1, seq=1), ("127.0.0.1", mp))
        s.sendto(mav_frame(33, global_position_int(47.3977419, 8.5455938, 488.25, 1234), sysid=42, compid=1,
                           seq=2), ("127.0.0.1", mp))
    finally:
        s.close()
    ag.wait_for(lambda: track_rows(n.dir / "track.db", "Lab/drone42"), 10, "the good position in the DB")
    r = track_rows(n.dir / "track.db", "Lab/drone42")
    print(f"{len(bad)} bad datagrams ({sent} B; {len(noise)} positions from the whole frames among them), "
          f"then a good GLOBAL_POSITION_INT: {r}")
    assert len(r) == 1 and (r[0]["lat"], r[0]["lon"], r[0]["alt"]) == (473977419 / 1e7, 85455938 / 1e7, 488.25), r
    assert (r[0]["kind"], r[0]["source"]) == ("drone", "mavlink")
    assert ag.running()
    assert ag.stop() == 0


def test_bad_telemetry_bundles_never_stop_the_agent(tmp_path, cleanup, agents, modules):
    """Telemetry bundles from the network are untrusted too: broken ones are
    dropped, and the good ones after them are re-emitted."""
    p1, p2, mport = free_ports(3)
    g = cleanup.add(mesh_node(tmp_path, 1, p1, [p2]))
    c = cleanup.add(mesh_node(tmp_path, 2, p2, [p1]))
    track_section(c, gpsd="none", unit="Command", db=c.dir / "track.db", battery="none",
                  mavlink_out=f"127.0.0.1:{mport}")
    g.start()
    c.start()
    wait_for(lambda: neighbours(g) == {2} and neighbours(c) == {1}, 20, "the link up")
    tc = agents("track", c, ready=lambda a: "tracking Command" in a.log_text())
    frames = [f for _, f in tlog_records(TLOG)[:600]]
    rnd = random.Random(6)
    bad = [b"\x01", b"\x02", b"\x07" + frames[0], b"\x02\x05", b"\x02" + bytes(60), b"\x01" + bytes(4096),
           bytes(5000), b"\x02" + rnd.randbytes(3000)]
    for f in frames[:40:4]:
        cut = bytearray(f)
        cut[-2] ^= 0x40                                   # a wrong CRC
        bad += [b"\x01" + f[: len(f) // 2], b"\x01" + bytes(cut), b"\x01" + bytes([f[0], 255]) + f[2:]]
    bad += [b"\x01" + rnd.randbytes(rnd.randrange(1, 400)) for _ in range(20)]
    with MavcheckUdp(modules, mport, idle=4, timeout=60) as qgc:
        for i, payload in enumerate(bad):
            path = tmp_path / f"bad{i}.bin"
            path.write_bytes(payload)
            g.cli("send", "-p", "telemetry", "-f", str(path), "ipn:2.6", check=False)
        good_frames = b"\x01" + mav_frame(33, global_position_int(-35.3632622, 149.1652374, 584.5, 99), sysid=77)
        hl2 = struct.pack("<IiiHh", 1234, -353632622, 1491652374, 7, 585)
        good_summary = b"\x02" + bytes([78, 1]) + hl2
        for name, payload in (("frames", good_frames), ("summary", good_summary)):
            (tmp_path / name).write_bytes(payload)
            g.cli("send", "-p", "telemetry", "-f", str(tmp_path / name), "ipn:2.6")
        got, summary = qgc.result()
    print(f"{len(bad)} bad telemetry bundles, then 2 good: node-mavlink read {summary}, "
          f"{[(f['name'], f['sysid']) for f in got]}")
    gpi = [f for f in got if f["sysid"] == 77]
    hl = [f for f in got if f["sysid"] == 78]
    assert len(gpi) == 1 and gpi[0]["msgid"] == 33 and gpi[0]["fields"]["lat"] == -353632622, gpi
    assert gpi[0]["fields"]["lon"] == 1491652374 and gpi[0]["fields"]["alt"] == 584500, gpi
    assert len(hl) == 1 and hl[0]["msgid"] == HL2, hl
    assert (hl[0]["fields"]["latitude"], hl[0]["fields"]["longitude"], hl[0]["fields"]["altitude"]) == \
        (-353632622, 1491652374, 585), hl
    assert tc.running()
    assert tc.stop() == 0
