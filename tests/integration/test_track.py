"""fieldrelay-track with real parts: Debian's gpsd fed by gpsfake with gpsd's own
regression logs (tests/data/gpsd), two nodes over a UDP mesh link on loopback,
the agent on each.  The fixes gpsd reports reach the command center's track DB
with the right position and time; the backpack's own DB holds every one; bad
NMEA and a gpsd restart do not stop the agent; the agent's crash does not stop
the daemon; `fieldrelay track list` shows the units and their map, and the
exports open in gpsbabel and ogr2ogr."""
import json
import re
import sqlite3
import subprocess

import pytest

from harness import TEST_DATA, free_ports, wait_for
from harness.gpsd import Gpsfake, chk_fixes, gpx_nmea
from harness.mesh import mesh_node, neighbours

GPSD = TEST_DATA / "gpsd"
TIME_Q_MS = 100                              # positions on the air carry time to 100 ms
WEEKS_1024_MS = 1024 * 7 * 86400 * 1000     # gpsd 3.22 dates these old logs 1024 weeks on


def track_section(n, **keys):
    n.conf.write_text(n.conf.read_text() + "[track]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))


def rows(db, unit=None):
    """The positions in a track DB: (unit, time_ms, lat, lon, source, link, node, stale)."""
    if not db.exists():
        return []
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        q = "SELECT unit, time_ms, lat, lon, source, link, node, stale FROM position"
        r = c.execute(q + (" WHERE unit = ?" if unit else "") + " ORDER BY time_ms",
                      (unit,) if unit else ()).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        c.close()
    return r


def matches_chk(row, chk, tolerance_deg):
    """Is row one of gpsd's fixes: same position (within tolerance), same time
    (or 1024 weeks on, as gpsd 3.22 dates it)?"""
    from datetime import datetime
    for t in chk:
        ms = round(datetime.fromisoformat(t["time"].replace("Z", "+00:00")).timestamp() * 1000)
        if (abs(row[2] - t["lat"]) <= tolerance_deg and abs(row[3] - t["lon"]) <= tolerance_deg
                and abs(row[1] - ms) in (0, WEEKS_1024_MS)):
            return True
    return False


@pytest.fixture
def pair(tmp_path, cleanup):
    """A backpack (node 1, unit "Team A", its GPS from gpsd) and the command
    center (node 2), over UDP on loopback; not started."""
    p1, p2, gps = free_ports(3)
    a = cleanup.add(mesh_node(tmp_path, 1, p1, [p2]))
    c = cleanup.add(mesh_node(tmp_path, 2, p2, [p1]))
    track_section(a, gpsd=f"127.0.0.1:{gps}", unit="Team A", db=a.dir / "track.db", error="2m",
                  interval="mesh 1s 20s", battery="none")
    track_section(c, gpsd="none", unit="Command", db=c.dir / "track.db", battery="none")
    a.gps_port = gps
    return a, c


def start(pair, agents):
    a, c = pair
    a.start()
    c.start()
    wait_for(lambda: neighbours(a) == {2} and neighbours(c) == {1}, 20, "the link up")
    ta = agents("track", a, args=["-v"], ready=lambda ag: "tracking Team A" in ag.log_text())
    tc = agents("track", c, args=["-v"], ready=lambda ag: "tracking Command" in ag.log_text())
    return ta, tc


def gps_connected(agent, times=1):
    return agent.log_text().count(": connected") >= times


def test_gpsd_fixes_reach_the_command_center(pair, agents, tmp_path):
    a, c = pair
    chk = chk_fixes(GPSD / "haicom-305N.log.chk")
    with Gpsfake(GPSD / "haicom-305N.log", a.gps_port, tmp_path, cycle=0.02) as g:
        ta, tc = start(pair, agents)
        ta.wait_for(lambda: gps_connected(ta), 10, "the agent on gpsd")
        wait_for(g.done, 60, "gpsfake to play the log")
    reported = g.fixes()
    assert len(reported) > 100, len(reported)
    # What gpsd reported is gpsd's regression data: the same positions as its .chk.
    assert all(matches_chk((None, ms_of(t), t["lat"], t["lon"]), chk, 1e-9) for t in reported)
    db_a, db_c = a.dir / "track.db", c.dir / "track.db"
    epochs = {ms_of(t): t for t in reversed(reported)}         # the first report of each epoch
    wait_for(lambda: len([r for r in rows(db_a, "Team A") if not r[7]]) == len(epochs), 20,
             "every fix in the backpack's DB")
    own = [r for r in rows(db_a, "Team A") if not r[7]]
    # Every fix gpsd reported is in the backpack's own DB, exactly as gpsd said.
    for r in own:
        t = epochs[r[1]]
        assert (r[2], r[3]) == (t["lat"], t["lon"]), (r, t)
    assert {r[4] for r in own} == {"gpsd"} and {r[6] for r in own} == {0}
    # The command center has the unit's track: gpsd's fixes, to the wire's resolution.
    last = own[-1][1]
    wait_for(lambda: any(abs(r[1] - last) <= TIME_Q_MS / 2 for r in rows(db_c, "Team A")), 30,
             "the last fix at the command center")
    far = [r for r in rows(db_c, "Team A") if not r[7]]
    assert len(far) >= 10, far
    for r in far:
        # A time gpsd reported (to the wire's 100 ms), with its position (to the wire's 2e-5 degree).
        t = [epochs[ms] for ms in epochs if abs(ms - r[1]) <= TIME_Q_MS / 2]
        assert len(t) == 1, (r, t)
        assert abs(r[2] - t[0]["lat"]) <= 2e-5 and abs(r[3] - t[0]["lon"]) <= 2e-5, (r, t)
    assert all(r[6] == 1 and r[4] == "gpsd" and r[5] == "mesh" for r in far), far[:3]
    # Fewer sent than measured: the error decides, not the clock.
    sent = [l for l in ta.log_text().splitlines() if " as ipn:1.3 " in l]
    assert 0 < len(sent) < len(own)
    assert "of Team A from ipn:1 over mesh" in tc.log_text()


def ms_of(t):
    from datetime import datetime
    return round(datetime.fromisoformat(t["time"].replace("Z", "+00:00")).timestamp() * 1000)


def test_list_and_exports(pair, agents, tmp_path):
    a, c = pair
    with Gpsfake(GPSD / "humminbird-M37.log", a.gps_port, tmp_path, cycle=0.02) as g:
        ta, _ = start(pair, agents)
        ta.wait_for(lambda: gps_connected(ta), 10, "the agent on gpsd")
        wait_for(g.done, 60, "gpsfake to play the log")
    wait_for(lambda: len(rows(c.dir / "track.db", "Team A")) >= 3, 30, "positions at the command center")
    out = c.cli("--config", c.conf, "track", "list").stdout.decode()
    assert "Team A" in out, out
    listing = json.loads(c.cli("--config", c.conf, "--json", "track", "list").stdout)
    assert any(u["unit"] == "Team A" for u in (listing["units"] if isinstance(listing, dict) else listing))
    gpx = tmp_path / "c.gpx"
    c.cli("--config", c.conf, "track", "export", "--gpx", str(gpx))
    r = subprocess.run(["gpsbabel", "-t", "-i", "gpx", "-f", str(gpx), "-o", "unicsv", "-F", "-"],
                       capture_output=True, text=True, check=True)
    lines = r.stdout.strip().splitlines()
    assert len(lines) - 1 == len(rows(c.dir / "track.db", "Team A")), r.stdout[:500]
    geo = tmp_path / "c.geojson"
    c.cli("--config", c.conf, "track", "export", "--geojson", str(geo))
    r = subprocess.run(["ogrinfo", "-ro", "-al", "-so", str(geo)], capture_output=True, text=True, check=True)
    assert "Feature Count: " in r.stdout, r.stdout


def test_bad_nmea_and_gpsd_restart(pair, agents, tmp_path):
    a, c = pair
    # A log with garbage in it: broken sentences, bad checksums, binary noise.
    good = (GPSD / "ublox-lea-4h.log").read_bytes().splitlines(keepends=True)
    bad = bytearray()
    for i, line in enumerate(good):
        if i % 7 == 3:
            bad += b"$GPRMC,123519,A,48\x00\xff\xfe,N,01131.000,E*00\r\n"
        if i % 11 == 5:
            bad += bytes(range(256))[: 40 + i % 60] + b"\r\n"
        if i % 13 == 2 and line.startswith(b"$"):
            bad += line[: len(line) // 2] + b"\r\n"
        bad += line
    noisy = tmp_path / "noisy.log"
    noisy.write_bytes(bytes(bad))
    db = a.dir / "track.db"
    with Gpsfake(noisy, a.gps_port, tmp_path, cycle=0.02) as g:
        ta, _ = start(pair, agents)
        wait_for(g.done, 60, "gpsfake to play the noisy log")
    assert len([f for f in g.fixes()]) >= 2
    wait_for(lambda: len(rows(db, "Team A")) >= 2, 20, "fixes through the noise")
    # gpsd is gone: the agent says so, keeps running and comes back to a new one.
    ta.wait_for(lambda: "reconnecting" in ta.log_text(), 20, "the agent to notice gpsd gone")
    before = len(rows(db, "Team A"))
    with Gpsfake(GPSD / "humminbird-M37.log", a.gps_port, tmp_path, cycle=0.02, lead_in=12) as g:
        ta.wait_for(lambda: gps_connected(ta, 2), 15, "the agent on the new gpsd")
        wait_for(g.done, 60, "the second log")
    ta.wait_for(lambda: any(abs(r[2] - 44.43) < 0.1 for r in rows(db, "Team A")), 20, "fixes from the new gpsd")
    assert len(rows(db, "Team A")) > before
    assert ta.running()


def test_a_gpx_walk_through_gpsbabel_and_gpsd(pair, agents, tmp_path):
    """A GPX track (the hike of tests/data) turned into NMEA by gpsbabel, played
    by gpsfake: the backpack's DB holds the walk as gpsd read it, and the
    command center's track of it stays within the configured error."""
    a, c = pair
    walk = gpx_nmea(TEST_DATA / "gpxpy_korita-zbevnica.gpx", tmp_path / "walk.nmea")
    a.conf.write_text(a.conf.read_text().replace("error = 2m", "error = 25m"))
    with Gpsfake(tmp_path / "walk.nmea", a.gps_port, tmp_path, cycle=0.01) as g:
        ta, _ = start(pair, agents)
        ta.wait_for(lambda: gps_connected(ta), 10, "the agent on gpsd")
        wait_for(g.done, 90, "gpsfake to play the walk")
    own = wait_for(lambda: len(rows(a.dir / "track.db", "Team A")) >= len(walk) and rows(a.dir / "track.db", "Team A"),
                   20, "the walk in the backpack's DB")
    by_time = {t: (la, lo) for t, la, lo in walk}
    for r in own:
        if r[7]:
            continue
        t = r[1] if r[1] in by_time else r[1] - WEEKS_1024_MS
        la, lo = by_time[t]                                     # NMEA has 0.001 minute: 1.7e-5 degree
        assert abs(r[2] - la) <= 1.7e-5 and abs(r[3] - lo) <= 1.7e-5, (r, la, lo)
    far = wait_for(lambda: len(rows(c.dir / "track.db", "Team A")) >= 10 and rows(c.dir / "track.db", "Team A"),
                   30, "the walk at the command center")
    last = own[-1][1]
    wait_for(lambda: rows(c.dir / "track.db", "Team A")[-1][1] >= last - 100, 30, "the walk's end at the center")
    far = rows(c.dir / "track.db", "Team A")
    assert len(far) < len(own), (len(far), len(own))
    # The command center's track, its points joined by straight lines, is within
    # the error (25 m) of every point the backpack measured.
    worst = max(distance_to_track(r[2], r[3], [(f[2], f[3]) for f in far]) for r in own)
    assert worst <= 25.0, worst


def distance_to_track(lat, lon, track):
    """Metres from a point to a polyline, on a local flat projection (good to
    well under a metre across a few km)."""
    import math
    k = math.cos(math.radians(lat)) * 111195.0
    px, py = lon * k, lat * 111195.0
    best = float("inf")
    for (a_lat, a_lon), (b_lat, b_lon) in zip(track, track[1:] or track):
        ax, ay, bx, by = a_lon * k, a_lat * 111195.0, b_lon * k, b_lat * 111195.0
        dx, dy = bx - ax, by - ay
        t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(px - ax - t * dx, py - ay - t * dy))
    return best


SENT = re.compile(r"Team A: (\d+) fix(?:es)? in (\d+) bytes \((\w+), fix of (\S+)Z, (\w+)\) as (ipn:1\.3 \d+ \d+)")


def sends(agent):
    """The reports the agent logged: (fixes, bytes, why, fix time (Unix ms), link class, id)."""
    from datetime import datetime, timezone
    out = []
    for m in SENT.finditer(agent.log_text()):
        t = datetime.fromisoformat(m.group(4)).replace(tzinfo=timezone.utc).timestamp() * 1000
        out.append((int(m.group(1)), int(m.group(2)), m.group(3), round(t), m.group(5), m.group(6)))
    return out


def test_reports_wait_as_one_batch_when_no_one_hears(pair, agents, tmp_path):
    """No neighbour: each report supersedes the one before in the store, so
    it carries that one's fixes; the command center, when it comes, gets
    them all in the one bundle that is left."""
    a, c = pair
    a.start()
    with Gpsfake(GPSD / "ublox-lea-4h.log", a.gps_port, tmp_path, cycle=0.02) as g:
        ta = agents("track", a, args=["-v"], ready=lambda ag: "tracking Team A" in ag.log_text())
        ta.wait_for(lambda: gps_connected(ta), 10, "the agent on gpsd")
        wait_for(g.done, 60, "gpsfake to play the log")
    reports = [s for s in sends(ta) if s[2] == "moved"]
    assert len(reports) >= 3, ta.log_text()
    # Each report carries the ones before it (none was taken), up to the batch's size.
    counts = [s[0] for s in sends(ta)]
    assert counts == sorted(counts) and counts[-1] >= 3, sends(ta)
    last = sends(ta)[-1]
    c.start()
    wait_for(lambda: neighbours(a) == {2}, 20, "the command center heard")
    agents("track", c, ready=lambda ag: "tracking Command" in ag.log_text())
    wait_for(lambda: len(rows(c.dir / "track.db", "Team A")) >= last[0], 30, "the batch at the command center")
    got = {r[1] // 100 for r in rows(c.dir / "track.db", "Team A")}
    assert {s[3] // 100 for s in reports[-min(len(reports), 10):]} <= got | {last[3] // 100}, (reports, got)


def test_low_battery_stretches_the_intervals(pair, agents, tmp_path):
    a, c = pair
    level = a.dir / "battery"
    level.write_text("15\n")
    a.conf.write_text(a.conf.read_text().replace("battery = none", f"battery = {level}"))
    with Gpsfake(GPSD / "haicom-305N.log", a.gps_port, tmp_path, cycle=0.02) as g:
        ta, _ = start(pair, agents)
        ta.wait_for(lambda: gps_connected(ta), 10, "the agent on gpsd")
        wait_for(g.done, 60, "gpsfake to play the log")
    assert "battery at 15%: low-battery mode" in ta.log_text()
    moved = [s for s in sends(ta) if s[2] == "moved"]
    assert len(moved) >= 2
    # interval mesh 1s, times low_battery_factor 3: never two reports within 3 s of fix time.
    gaps = [b[3] - a_[3] for a_, b in zip(moved, moved[1:])]
    assert min(gaps) >= 3000, gaps


def test_a_slow_link_is_narrowband(tmp_path, cleanup, agents):
    p1, p2, gps = free_ports(3)
    a = cleanup.add(mesh_node(tmp_path, 1, p1, [p2], "rate = 9600\n"))
    c = cleanup.add(mesh_node(tmp_path, 2, p2, [p1], "rate = 9600\n"))
    track_section(a, gpsd=f"127.0.0.1:{gps}", unit="Team A", db=a.dir / "track.db", battery="none")
    a.start()
    c.start()
    wait_for(lambda: neighbours(a) == {2}, 20, "the link up")
    ta = agents("track", a, ready=lambda ag: "tracking Team A" in ag.log_text())
    assert "the narrowest mesh (narrowband): a report every 30.0 s at most often, every 1800 s at least" \
        in ta.log_text()


def test_agent_crash_leaves_the_daemon_forwarding(pair, agents):
    a, c = pair
    ta, _ = start(pair, agents)
    ta.wait_for(lambda: "trying again" in ta.log_text(), 10, "the agent to find no gpsd")
    ta.proc.kill()
    ta.proc.wait()
    ta.check_exit = False
    a.cli("send", "ipn:2.5", "still here")
    got = c.cli_json("recv", "-n", "1", "-w", "5", timeout=20)
    assert got and got[0]["text"] == "still here"
