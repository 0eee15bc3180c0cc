"""bench_track_gpsd.py BUILD - the tracking bench (bench_track.c) on the walk
as gpsd reports it: the GPX of tests/data turned into NMEA by gpsbabel,
played by gpsfake into Debian's gpsd, each fix gpsd reported (its TPVs with a
fix) handed to bench_track --fixes.  The figures are bench_track's, named
track-gpsd-*: the same track through the GPS stack a backpack runs (NMEA
keeps 0.001 minute, about 1.8 m, of the GPX's position)."""
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import TEST_DATA, free_port, wait_for     # noqa: E402
from harness.gpsd import Gpsfake, gpx_nmea              # noqa: E402

build = Path(sys.argv[1] if len(sys.argv) > 1 else "build")
bench = build / "tests" / "bench" / "bench_track"
with tempfile.TemporaryDirectory() as d:
    d = Path(d)
    points = gpx_nmea(TEST_DATA / "gpxpy_korita-zbevnica.gpx", d / "walk.nmea")
    with Gpsfake(d / "walk.nmea", free_port(), d, cycle=0.005, lead_in=0.5) as g:
        wait_for(g.done, 120, "gpsfake to play the walk")
    fixes = {}
    for t in g.fixes():
        ms = round(datetime.fromisoformat(t["time"].replace("Z", "+00:00")).timestamp() * 1000)
        fixes.setdefault(ms, (t["lat"], t["lon"]))
    print(f"# gpsd reported {len(fixes)} fixes of the {len(points)} timed points of the GPX", flush=True)
    (d / "fixes").write_text("".join(f"{ms} {la:.9f} {lo:.9f}\n" for ms, (la, lo) in sorted(fixes.items())))
    sys.exit(subprocess.run([str(bench), "--fixes", str(d / "fixes")]).returncode)
