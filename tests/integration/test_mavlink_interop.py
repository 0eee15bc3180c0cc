"""Our MAVLink against an independent implementation, node-mavlink 2.3.0 (npm,
tests only, installed into build/npm by tests/integration/helpers/npm.sh;
the tests fail when it cannot be had).

Our side is tests/integration/helpers/mavdump (relay/track's parser, tlog
reader, builders, rate limits and UDP endpoints); node's is
tests/integration/helpers/mavcheck.js.  Both print one JSON line per frame.

- The CanberraUAV flight log: the same records in the same order, no bad
  CRC on either side, the same field values for every message we decode.
- Frames from our builders (v1, v2 with truncated payloads, a summary
  packed for a narrow link and rebuilt): node checks their CRC and reads
  the values we put in.
- The re-emit: the log replayed to a UDP port through the mesh's rate
  limits, one datagram per frame, as the command center's agent sends to
  QGroundControl; node listening there decodes every frame we sent, and
  no message passes more often than its limit.
"""
import json
import struct
import subprocess
import time

import pytest

from harness import BUILD, ROOT, TEST_DATA, free_port, helper_tool

TLOG = TEST_DATA / "cuav_quadplane_2016-11-12.tlog"
MAVCHECK = ROOT / "tests" / "integration" / "helpers" / "mavcheck.js"
NPM_SH = ROOT / "tests" / "integration" / "helpers" / "npm.sh"
MODULES = BUILD / "npm" / "node_modules"


@pytest.fixture(scope="module")
def node_mavlink():
    r = subprocess.run(["sh", str(NPM_SH), str(BUILD)], capture_output=True, text=True, cwd=ROOT)
    if r.returncode == 77:
        # The independent decoder is what these tests check against: without it they prove nothing.
        pytest.fail((r.stdout.strip() or "node-mavlink not available") + " (tests/deps.sh installs node and npm)")
    assert r.returncode == 0, r.stdout + r.stderr
    return MODULES


def lines(text):
    out = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert out and "summary" in out[-1], text[-500:]
    return out[:-1], out[-1]["summary"]


def mavcheck(modules, *args, timeout=120):
    r = subprocess.run(["node", str(MAVCHECK), "--modules", str(modules), *args], capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return lines(r.stdout)


def mavdump(*args, timeout=120):
    r = subprocess.run([str(helper_tool("mavdump")), *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return lines(r.stdout)


def f32(v):
    return struct.pack("<f", float(v))


def same_value(ours, theirs):
    """Equal as MAVLink carries them: floats as float32, 64-bit integers as strings."""
    if isinstance(ours, float) or isinstance(theirs, float):
        return f32(ours) == f32(theirs)
    return str(ours) == str(theirs)


def assert_same_frame(ours, theirs):
    for k in ("msgid", "sysid", "compid", "seq", "version", "len"):
        assert ours[k] == theirs[k], (k, ours, theirs)
    for name, value in ours["fields"].items():
        assert name in theirs["fields"], (name, theirs)
        assert same_value(value, theirs["fields"][name]), (name, ours, theirs)


def test_flight_log_same_as_node(node_mavlink):
    ours, our_sum = mavdump("tlog", str(TLOG))
    theirs, their_sum = mavcheck(node_mavlink, "--file", str(TLOG), "--tlog")
    print(f"ours: {our_sum}\nnode-mavlink: {their_sum}")
    assert our_sum["bad_crc"] == 0 and our_sum["skipped"] == 0
    assert their_sum["invalid"] == 0 and their_sum["unknown"] == 0
    assert our_sum["records"] == len(ours) == their_sum["valid"] == len(theirs)
    decoded = 0
    for o, t in zip(ours, theirs):
        # node-mavlink keeps a tlog's time in milliseconds.
        assert int(o["ts_us"]) // 1000 == int(t["ts_us"]) // 1000, (o, t)
        assert_same_frame(o, t)
        decoded += bool(o["fields"])
    assert decoded == our_sum["good"]
    gpi = [o["fields"] for o in ours if o["msgid"] == 33]
    lat = [g["lat"] / 1e7 for g in gpi]
    lon = [g["lon"] / 1e7 for g in gpi]
    print(f"{len(ours)} frames, {decoded} decoded and equal field by field, {len(gpi)} GLOBAL_POSITION_INT "
          f"lat {min(lat):.6f}..{max(lat):.6f} lon {min(lon):.6f}..{max(lon):.6f}")
    assert len(gpi) == sum(1 for t in theirs if t["name"] == "GLOBAL_POSITION_INT") > 1000


def test_our_frames_decode_in_node(node_mavlink, tmp_path):
    out = tmp_path / "built.mav"
    ours, _ = mavdump("build", str(out))
    theirs, their_sum = mavcheck(node_mavlink, "--file", str(out))
    assert their_sum == {"valid": len(ours), "unknown": 0, "invalid": 0}
    for o, t in zip(ours, theirs):
        assert_same_frame(o, t)
    kinds = {(o["msgid"], o["version"]) for o in ours}
    assert {(0, 1), (0, 2), (33, 1), (33, 2), (235, 2), (253, 2)} <= kinds
    # v2 dropped the trailing zeros that v1 keeps; node still reads them as 0.
    gpi = {o["version"]: o for o in ours if o["msgid"] == 33}
    assert gpi[2]["len"] < gpi[1]["len"] == 28
    hl2 = next(t for t in theirs if t["msgid"] == 235)
    print(f"HIGH_LATENCY2 from a packed summary: payload {hl2['len']} B, frame {10 + hl2['len'] + 2} B")
    assert hl2["fields"]["custom0"] == 0 and hl2["fields"]["battery"] == 55


def test_reemit_over_udp_at_mesh_rates(node_mavlink):
    port = free_port()
    node = subprocess.Popen(["node", str(MAVCHECK), "--modules", str(node_mavlink), "--udp", str(port),
                             "--idle", "3", "--timeout", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Ready when it says so (it binds before it prints).
        assert "listening" in node.stderr.readline()
        t0 = time.monotonic()
        sent, sent_sum = mavdump("replay", str(TLOG), f"127.0.0.1:{port}", "20", "mesh", timeout=60)
        took = time.monotonic() - t0
        out, _ = node.communicate(timeout=30)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    got, got_sum = lines(out)
    print(f"re-emitted {sent_sum['sent']} of {sent_sum['sent'] + sent_sum['dropped']} frames in {took:.1f} s; "
          f"node-mavlink decoded {len(got)} ({got_sum})")
    assert sent_sum["errors"] == 0 and got_sum["invalid"] == 0
    assert len(got) == len(sent) == sent_sum["sent"]
    for o, t in zip(sent, got):
        assert_same_frame(o, t)
    # Only the mesh's messages, each source's each at most once a second (STATUSTEXT 5 Hz) over the
    # 132 s of flight, and the drone's (system 2, the autopilot) nearly every second.
    by_src = {}
    for o in sent:
        k = (o["sysid"], o["compid"], o["msgid"])
        first, last, n = by_src.get(k, (int(o["ts_us"]), 0, 0))
        by_src[k] = (first, int(o["ts_us"]), n + 1)
    print("per sysid/compid/msgid:", {k: v[2] for k, v in sorted(by_src.items())})
    assert {k[2] for k in by_src} <= {0, 1, 24, 30, 33, 74, 147, 253}
    for (sysid, compid, msgid), (first, last, n) in by_src.items():
        hz = 5 if msgid == 253 else 1
        assert n <= (last - first) / 1e6 * hz + 1.5, (sysid, compid, msgid, n, (last - first) / 1e6)
    span = (int(sent[-1]["ts_us"]) - int(sent[0]["ts_us"])) / 1e6
    for msgid in (0, 1, 24, 30, 33, 74):
        n = by_src[(2, 1, msgid)][2]
        assert span * 0.8 <= n, (msgid, n, span)
