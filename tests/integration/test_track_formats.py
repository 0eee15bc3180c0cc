"""The track DB's exports, read back by the programs people open them with.

The unit test build/tests/unit/test_export writes, with FIELDRELAY_EXPORT_DIR
set, a GPX file, a GeoJSON file, CoT events (one per position and one per
unit) and one SA multicast datagram, all from the same track DB (two people
and a drone), and truth.tsv: the positions as the DB holds them.  Here
gpsbabel and GDAL's GPX driver read the GPX, ogr2ogr the GeoJSON, and lxml
the CoT, and every position must come back where and when it was, in its own
unit's track, with the fields TAK needs.
"""
import csv
import io
import math
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from harness import BUILD, ROOT

TEST_EXPORT = BUILD / "tests" / "unit" / "test_export"
COT_STALE_S = 120          # what test_export asks for
TAK_UNKNOWN = 9999999.0


def need(tool):
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed (tests/deps.sh installs it)")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """The files test_export writes, and the truth: {unit: [(time_ms, lat, lon, has_alt, kind)]}."""
    if not TEST_EXPORT.exists():
        r = subprocess.run(["make", "--no-print-directory", "BUILD=" + os.path.relpath(BUILD, ROOT),
                            str(TEST_EXPORT.relative_to(ROOT))], cwd=ROOT, capture_output=True, text=True)
        if r.returncode != 0:
            pytest.fail("cannot build test_export:\n" + r.stdout + r.stderr)
    out = tmp_path_factory.mktemp("exports")
    r = subprocess.run([str(TEST_EXPORT)], env={**os.environ, "FIELDRELAY_EXPORT_DIR": str(out)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    truth = {}
    for line in (out / "truth.tsv").read_text().splitlines():
        unit, t, lat, lon, alt, kind = line.split("\t")
        truth.setdefault(unit, []).append((int(t), float(lat), float(lon), alt == "alt", kind))
    assert len(truth) == 3 and sum(map(len, truth.values())) == 26
    return out, truth


def iso_ms(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_iso(s):
    assert s.endswith("Z"), s
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def close(a, b, eps=1e-6):
    return math.isclose(a, b, abs_tol=eps)


def test_gpx_in_gpsbabel(exports):
    need("gpsbabel")
    out, truth = exports
    r = subprocess.run(["gpsbabel", "-t", "-i", "gpx", "-f", str(out / "track.gpx"), "-o", "unicsv", "-F", "-"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    want = sorted((t, lat, lon) for pts in truth.values() for t, lat, lon, _, _ in pts)
    assert len(rows) == len(want)
    got = []
    for row in rows:
        stamp = row["Date"] + " " + row["Time"]       # gpsbabel leaves out ".000"
        when = datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f" if "." in stamp else "%Y/%m/%d %H:%M:%S")
        when = when.replace(tzinfo=timezone.utc)
        got.append((round(when.timestamp() * 1000), float(row["Latitude"]), float(row["Longitude"])))
    got.sort()
    for (tg, la, lo), (tw, law, low) in zip(got, want):
        assert tg == tw and close(la, law) and close(lo, low), ((tg, la, lo), (tw, law, low))
    # Altitude where the DB has one (alpha, the drone), none where it has not (bravo).
    assert sum(1 for row in rows if row.get("Altitude")) == sum(1 for p in truth.values() for x in p if x[3])


def test_gpx_tracks_in_gdal(exports):
    """Each unit a track of its own, by name, its points in time order (GDAL's GPX driver)."""
    need("ogr2ogr")
    out, truth = exports
    r = subprocess.run(["ogr2ogr", "-f", "CSV", "/vsistdout/", str(out / "track.gpx"), "tracks",
                        "-select", "name,type"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    tracks = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [t["name"] for t in tracks] == sorted(truth)
    assert [t["type"] for t in tracks] == [truth[u][0][4] for u in sorted(truth)]
    r = subprocess.run(["ogr2ogr", "-f", "CSV", "/vsistdout/", str(out / "track.gpx"), "track_points",
                        "-lco", "GEOMETRY=AS_XY", "-select", "track_fid,time"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    points = list(csv.DictReader(io.StringIO(r.stdout)))
    for fid, unit in enumerate(sorted(truth)):
        mine = [p for p in points if int(p["track_fid"]) == fid]
        assert len(mine) == len(truth[unit]), unit
        for p, (t, lat, lon, _, _) in zip(mine, truth[unit]):
            assert close(float(p["X"]), lon) and close(float(p["Y"]), lat), (unit, p)


def test_geojson_in_ogr2ogr(exports):
    need("ogr2ogr")
    out, truth = exports
    r = subprocess.run(["ogr2ogr", "-f", "CSV", "/vsistdout/", str(out / "track.geojson"),
                        "-lco", "GEOMETRY=AS_WKT"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    feats = list(csv.DictReader(io.StringIO(r.stdout)))
    lines = {f["unit"]: f for f in feats if f["WKT"].startswith("LINESTRING")}
    points = {f["unit"]: f for f in feats if f["WKT"].startswith("POINT")}
    assert sorted(lines) == sorted(truth) and sorted(points) == sorted(truth)
    for unit, pts in truth.items():
        f = lines[unit]
        assert f["kind"] == pts[0][4]
        assert f["source"] == ("mavlink" if pts[0][4] == "drone" else "gpsd")
        assert int(f["count"]) == len(pts)
        # "LINESTRING Z (lon lat alt,...)": RFC 7946's lon, lat order.
        coords = f["WKT"][f["WKT"].index("(") + 1:-1].split(",")
        assert len(coords) == len(pts)
        assert f["WKT"].startswith("LINESTRING Z") == all(p[3] for p in pts)
        for c, (_, lat, lon, _, _) in zip(coords, pts):
            xy = [float(v) for v in c.split()]
            assert close(xy[0], lon) and close(xy[1], lat), (unit, c)
        last = points[unit]["WKT"][points[unit]["WKT"].index("(") + 1:-1].split()
        assert close(float(last[0]), pts[-1][2]) and close(float(last[1]), pts[-1][1])
    # And ogrinfo sees the collection as one layer of 6 features in WGS 84.
    r = subprocess.run(["ogrinfo", "-al", "-so", str(out / "track.geojson")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "Feature Count: 6" in r.stdout and "WGS 84" in r.stdout, r.stdout + r.stderr


def check_event(ev, unit, t, lat, lon, kind):
    """The fields a TAK device needs to draw and name a unit."""
    assert ev.tag == "event"
    assert ev.get("version") == "2.0"
    assert ev.get("uid") == f"fieldrelay-{unit}"
    assert ev.get("type") == ("a-f-A-M-F-Q" if kind == "drone" else "a-f-G-U-C")
    assert ev.get("how") == "m-g"
    when, start, stale = (parse_iso(ev.get(k)) for k in ("time", "start", "stale"))
    assert ev.get("time") == iso_ms(t) and start == when
    assert stale - when == timedelta(seconds=COT_STALE_S)
    pt = ev.find("point")
    assert close(float(pt.get("lat")), lat) and close(float(pt.get("lon")), lon)
    for k in ("hae", "ce", "le"):
        v = float(pt.get(k))          # present and a number: TAK's 9999999.0 when unknown
        assert v == TAK_UNKNOWN or 0 <= abs(v) < 1e5, (k, v)
    assert ev.find("detail/contact").get("callsign") == unit
    trk = ev.find("detail/track")
    if trk is not None:
        assert 0 <= float(trk.get("course")) < 360 and float(trk.get("speed")) >= 0


def test_cot_events_for_tak(exports):
    from lxml import etree
    out, truth = exports
    lines = (out / "track.cot").read_text().splitlines()
    want = sorted(((t, u, lat, lon, kind) for u, pts in truth.items() for t, lat, lon, _, kind in pts),
                  key=lambda x: (x[0], x[1]))
    assert len(lines) == len(want)
    for line, (t, unit, lat, lon, kind) in zip(lines, want):
        ev = etree.fromstring(line.encode())      # each line a well-formed event of its own
        check_event(ev, unit, t, lat, lon, kind)
    # bravo has no altitude nor error estimates: TAK's unknown.
    bravo = [etree.fromstring(x.encode()) for x in lines if 'callsign="bravo' in x]
    assert bravo and all(float(e.find("point").get("hae")) == TAK_UNKNOWN for e in bravo)
    latest = [etree.fromstring(x.encode()) for x in (out / "latest.cot").read_text().splitlines()]
    assert len(latest) == len(truth)
    for ev in latest:
        unit = ev.find("detail/contact").get("callsign")
        t, lat, lon, _, kind = truth[unit][-1]
        check_event(ev, unit, t, lat, lon, kind)


def test_cot_datagram(exports):
    """The SA multicast's datagram: one document, its declaration first, the drone with speed and course."""
    from lxml import etree
    out, _ = exports
    data = (out / "event.xml").read_bytes()
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>')
    assert len(data) < 1000
    ev = etree.fromstring(data)
    assert ev.get("type") == "a-f-A-M-F-Q" and ev.get("how") == "m-g"
    assert parse_iso(ev.get("stale")) - parse_iso(ev.get("time")) == timedelta(seconds=60)
    assert float(ev.find("point").get("hae")) == 1620.0
    trk = ev.find("detail/track")
    assert float(trk.get("speed")) == 12.0 and float(trk.get("course")) == 90.0
