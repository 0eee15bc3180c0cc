"""BPv7 interop: bundles built here with cbor2 and our own CRC code decode
correctly in the C codec, and bundles the C encoder writes decode correctly
here, CRCs included.  The C side is driven through bundletool
(tests/integration/helpers/bundletool.c), found in $FIELDRELAY_BUILD
(default "build") under the repo root.

Run with /usr/bin/python3 -m pytest (cbor2 comes from Debian's python3-cbor2).
"""
import datetime
import json
import random
import subprocess

import cbor2
import pytest

from harness import TEST_DATA as DATA, helper_tool
from harness.bpv7 import (CRC_LEN, block_bytes, crc16_x25, crc32c, eid_cbor, eid_text, make_bundle,
                          parse_bundle)

BPV7 = DATA / "bpv7"
BUNDLE_MAX_SIZE = 17 << 20
DTN_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)


# --- driving the C side ------------------------------------------------------

@pytest.fixture(scope="module")
def tool():
    return helper_tool("bundletool")


def run(tool, *args, input=None, check=True):
    r = subprocess.run([str(tool), *map(str, args)], input=input, capture_output=True,
                       timeout=120)
    if check and r.returncode != 0:
        raise AssertionError("bundletool %s: rc %d: %s" % (args[0], r.returncode,
                                                          r.stderr.decode(errors="replace")))
    return r


def c_decode(tool, path):
    return json.loads(run(tool, "decode", path).stdout)


def c_encode(tool, spec):
    return run(tool, "encode", "-", input=json.dumps(spec).encode()).stdout


def u64(v):
    """dump's JSON carries integers above 2^63 as decimal strings."""
    return int(v)


# --- tests -------------------------------------------------------------------

def test_reference_crcs():
    assert crc16_x25(b"123456789") == 0x906E
    assert crc32c(b"123456789") == 0xE3069283


@pytest.mark.parametrize("name,ctime,payload", [
    ("dtn-mtcp-a2b-01.bpv7", 849234522930, b"Hello uD3TN dtn"),
    ("dtn-mtcp-a2b-02.bpv7", 849234523044, bytes(range(256)) * 4),
])
def test_ud3tn_bundles(tool, name, ctime, payload):
    path = BPV7 / name
    raw = path.read_bytes()
    # Our Python reference agrees with uD3TN's CRC-16 ...
    blocks = parse_bundle(raw)
    assert blocks[0][0][2] == 1
    # ... and so does the C decoder, field by field.
    d = c_decode(tool, path)
    p = d["primary"]
    assert p["version"] == 7 and p["flags"] == 0 and p["flag_names"] == []
    assert p["crc_type"] == "CRC-16/X.25" and p["crc_checked"] is True
    assert p["destination"] == "dtn://b.dtn/sink"
    assert p["source"] == "dtn://a.dtn/src"
    assert p["report_to"] == "dtn:none"
    assert p["creation_time_ms"] == ctime
    want = DTN_EPOCH + datetime.timedelta(milliseconds=ctime)
    assert p["creation_time_utc"] == want.strftime("%Y-%m-%dT%H:%M:%S.") + \
        "%03dZ" % (ctime % 1000)
    assert p["sequence"] == 1 and p["lifetime_ms"] == 86400000
    assert "fragment_offset" not in p
    assert len(d["blocks"]) == 1
    b = d["blocks"][0]
    assert (b["number"], b["type"], b["type_name"], b["crc_type"]) == (1, 1, "payload", "none")
    assert b["payload_length"] == len(payload)
    assert b["payload_preview_hex"] == payload[:32].hex()
    assert d["id"] == "dtn://a.dtn/src %d 1" % ctime
    assert run(tool, "payload", path).stdout == payload
    # Same fields, deterministic CBOR: the C encoder writes the same bytes.
    assert run(tool, "reencode", path).stdout == raw


def test_ud3tn_text_dump(tool):
    out = run(tool, "text", BPV7 / "dtn-mtcp-a2b-01.bpv7").stdout.decode()
    for want in ("BPv7 bundle, 78 bytes", "version        7", "flags          0x0 (none)",
                 "crc            CRC-16/X.25, checked ok", "destination    dtn://b.dtn/sink",
                 "source         dtn://a.dtn/src", "report-to      dtn:none",
                 "creation time  849234522930 ms (2026-11-29T02:28:42.930Z)",
                 "sequence       1", "lifetime       86400000 ms (1d 00:00:00.000)",
                 "block 1: payload (type 1)", "length         15 bytes",
                 '"Hello uD3TN dtn"'):
        assert want in out, want


def python_bundle(crc, dtn, frag, definite, payload_crc, ext_crc):
    payload = bytes((i * 13) & 0xFF for i in range(300))
    if dtn:
        dst, src, rpt, prev = "dtn://b.dtn/sink", "dtn://a.dtn/src", "dtn:none", "dtn://r.dtn/"
    else:
        dst, src, rpt, prev = "ipn:2.5", "ipn:18446744073709551615.1", "ipn:1.0", "ipn:77.0"
    blocks = [
        (200, 9, 0x01, ext_crc, b"\x82\x01\x02"),             # unknown, carried
        (6, 2, 0, ext_crc, cbor2.dumps(eid_cbor(prev))),      # previous node
        (7, 3, 0, 0, cbor2.dumps(98765)),                      # bundle age
        (10, 4, 0x10, ext_crc, cbor2.dumps([30, 3])),          # hop count
        (193, 5, 0, 0, cbor2.dumps(6)),                        # priority
        (11, 6, 0, 0, b""),                                    # an empty BIB-typed block
    ]
    fragment = (4096, 4096 + len(payload) + 1) if frag else None
    flags = (0x01 if frag else 0x04) | 0x020000 | 0x40
    spec = dict(dst=dst, src=src, report_to=rpt, flags=flags, crc=crc, ctime=849234522930,
                seq=2 ** 63 + 5, lifetime=86400000, fragment=fragment, blocks=blocks,
                payload=payload, payload_crc=payload_crc, payload_flags=0x04,
                definite=definite)
    return spec, prev


@pytest.mark.parametrize("crc", [0, 1, 2])
@pytest.mark.parametrize("dtn", [False, True])
@pytest.mark.parametrize("frag", [False, True])
@pytest.mark.parametrize("definite", [False, True])
def test_python_bundles_decode_in_c(tool, tmp_path, crc, dtn, frag, definite):
    spec, prev = python_bundle(crc, dtn, frag, definite, payload_crc=2 - crc, ext_crc=crc)
    raw = make_bundle(**spec)
    path = tmp_path / "b.bpv7"
    path.write_bytes(raw)
    d = c_decode(tool, path)
    p = d["primary"]
    assert p["crc_type"] == ["none", "CRC-16/X.25", "CRC-32C"][crc]
    assert p["crc_checked"] is (crc != 0)
    assert p["destination"] == spec["dst"]
    assert p["source"] == spec["src"]
    assert p["report_to"] == spec["report_to"]
    assert p["creation_time_ms"] == spec["ctime"]
    assert u64(p["sequence"]) == spec["seq"]
    assert p["lifetime_ms"] == spec["lifetime"]
    assert p["flags"] == spec["flags"]
    assert "report-delivery" in p["flag_names"] and "status-time" in p["flag_names"]
    if frag:
        assert "fragment" in p["flag_names"]
        assert (p["fragment_offset"], p["total_adu_length"]) == spec["fragment"]
    else:
        assert "fragment_offset" not in p and "no-fragment" in p["flag_names"]
    blocks = d["blocks"]
    assert [(b["type"], b["number"]) for b in blocks] == \
        [(t, n) for t, n, _, _, _ in spec["blocks"]] + [(1, 1)]
    by_type = {b["type"]: b for b in blocks}
    for t, n, fl, c, data in spec["blocks"]:
        assert by_type[t]["flags"] == fl
        assert by_type[t]["crc_type"] == ["none", "CRC-16/X.25", "CRC-32C"][c]
    assert by_type[200]["data_length"] == 3 and by_type[200]["data_preview_hex"] == "820102"
    assert by_type[11]["data_length"] == 0
    assert by_type[6]["node"] == prev
    assert by_type[7]["age_ms"] == 98765
    assert (by_type[10]["hop_limit"], by_type[10]["hop_count"]) == (30, 3)
    assert (by_type[193]["priority"], by_type[193]["priority_name"]) == (6, "bulk")
    assert by_type[1]["payload_length"] == len(spec["payload"])
    assert by_type[1]["flag_names"] == ["delete-bundle-if-unprocessed"]
    assert run(tool, "payload", path).stdout == spec["payload"]
    want_id = "%s %d %d" % (spec["src"], spec["ctime"], spec["seq"])
    if frag:    # a fragment: offset, its payload length, total ADU length
        want_id += " %d %d %d" % (spec["fragment"][0], len(spec["payload"]), spec["fragment"][1])
    assert run(tool, "id", path).stdout.decode().strip() == want_id

    # Re-encoded by C: same meaning, fresh CRCs, the unknown block unchanged.
    out = run(tool, "reencode", path).stdout
    blocks2 = parse_bundle(out)
    prim = blocks2[0][0]
    assert prim[:8] == [7, spec["flags"], crc, eid_cbor(spec["dst"]), eid_cbor(spec["src"]),
                        eid_cbor(spec["report_to"]), [spec["ctime"], spec["seq"]],
                        spec["lifetime"]]
    unknown = block_bytes([200, 9, 0x01, crc, b"\x82\x01\x02"], crc)
    assert unknown in [r for _, r in blocks2]
    assert blocks2[-1][0][:4] == [1, 1, 0x04, 2 - crc]
    assert blocks2[-1][0][4] == spec["payload"]


def c_spec_variants():
    payload = bytes(range(256)) * 3
    return [
        dict(dst="ipn:2.5", src="ipn:1.3", ctime=849234522930, seq=7, payload_hex="68656c6c6f"),
        dict(dst="ipn:2.5", src="ipn:1.3", report_to="ipn:1.0", crc_type=1, ctime=1, seq=0,
             prev="ipn:9.0", age=1234, hop=[255, 254], priority=0, lifetime=5000,
             payload_hex=payload.hex(), payload_crc=1,
             other=[{"type": 200, "number": 2, "flags": 1, "crc_type": 2, "data_hex": "8201"},
                    {"type": 12, "number": 3, "crc_type": 1, "data_hex": ""}]),
        dict(dst="dtn://b.dtn/sink", src="dtn://a.dtn/src", crc_type=2, flags=1 | 0x4000,
             fragment=[100, 100 + 768 + 50], ctime=0, age=777, prev="dtn://relay/x",
             hop=None, priority=None, payload_hex=payload.hex(), payload_crc=2),
        dict(dst="dtn://n/", src="ipn:18446744073709551615.18446744073709551615",
             ctime="18446744073709551615", seq="9223372036854775808",
             lifetime="18446744073709551615", payload_hex=""),
    ]


@pytest.mark.parametrize("spec", c_spec_variants())
def test_c_bundles_decode_in_python(tool, tmp_path, spec):
    raw = c_encode(tool, spec)
    blocks = parse_bundle(raw)          # framing and every CRC checked here
    prim = blocks[0][0]
    crc = spec.get("crc_type", 2)
    assert prim[1] == spec.get("flags", 0)
    assert prim[2] == crc and crc != 0  # our primary block always has a CRC
    assert eid_text(prim[3]) == spec["dst"]
    assert eid_text(prim[4]) == spec["src"]
    assert eid_text(prim[5]) == spec.get("report_to", "dtn:none")
    assert prim[6] == [int(spec["ctime"]), int(spec.get("seq", 0))]
    assert prim[7] == int(spec.get("lifetime", 86400000))
    n = 8
    if "fragment" in spec:
        assert prim[8:10] == spec["fragment"]
        n = 10
    assert len(prim) == n + 1 and isinstance(prim[n], bytes) and len(prim[n]) == CRC_LEN[crc]

    ext = {b[0]: b for b, _ in blocks[1:-1]}
    numbers = [b[1] for b, _ in blocks[1:]]
    assert len(set(numbers)) == len(numbers)
    if spec.get("prev"):
        assert eid_text(cbor2.loads(ext[6][4])) == spec["prev"]
    else:
        assert 6 not in ext
    if spec.get("age") is not None:
        assert cbor2.loads(ext[7][4]) == spec["age"]
    else:
        assert 7 not in ext
    hop = spec.get("hop", [32, 0])
    assert (cbor2.loads(ext[10][4]) == hop) if hop else 10 not in ext
    prio = spec.get("priority", 4)
    assert (cbor2.loads(ext[193][4]) == prio) if prio is not None else 193 not in ext
    for o in spec.get("other", []):
        b = ext[o["type"]]
        assert b[1:4] == [o["number"], o.get("flags", 0), o.get("crc_type", 0)]
        assert b[4] == bytes.fromhex(o["data_hex"])
    pay = blocks[-1][0]
    assert pay[:4] == [1, 1, 0, spec.get("payload_crc", 0)]
    assert pay[4] == bytes.fromhex(spec["payload_hex"])

    # The streaming form writes the same bytes (ours have no payload CRC).
    if not spec.get("payload_crc"):
        assert c_encode(tool, dict(spec, stream=True)) == raw
    # And the C decoder reads back what it wrote.
    path = tmp_path / "c.bpv7"
    path.write_bytes(raw)
    assert c_decode(tool, path)["primary"]["destination"] == spec["dst"]


def test_large_payload_streamed(tool, tmp_path):
    size = 16 << 20
    spec = dict(dst="ipn:2.8", src="ipn:1.8", ctime=5, payload_pattern=size)
    whole = c_encode(tool, spec)
    assert c_encode(tool, dict(spec, stream=True)) == whole
    blocks = parse_bundle(whole)
    assert blocks[-1][0][4] == bytes(range(256)) * (size // 256)
    path = tmp_path / "big.bpv7"
    path.write_bytes(whole)
    assert c_decode(tool, path)["blocks"][-1]["payload_length"] == size


def test_c_refuses_bad_specs(tool):
    for spec in (dict(dst="ipn:2.5", src="ipn:1.3", ctime=0, age=None, payload_hex=""),
                 dict(dst="ipn:2.5", src="ipn:1.3", ctime=1, priority=7, payload_hex=""),
                 dict(dst="ipn:2.5", src="ipn:1.3", ctime=1, hop=[0, 0], payload_hex=""),
                 dict(dst="ipn:2.5", src="ipn:1.3", ctime=1, payload_pattern=BUNDLE_MAX_SIZE - 10)):
        r = run(tool, "encode", "-", input=json.dumps(spec).encode(), check=False)
        assert r.returncode == 1 and r.stdout == b"", spec


def good(**kw):
    args = dict(dst="ipn:2.1", src="ipn:1.1", crc=2, payload=b"abc")
    args.update(kw)
    return make_bundle(**args)


def with_primary_crc_flipped():
    raw = bytearray(good())
    prim_end = 1 + len(block_bytes([7, 0, 2, [2, [2, 1]], [2, [1, 1]], [1, 0], [1000, 0],
                                    3600000], 2))
    raw[prim_end - 1] ^= 0x01
    return bytes(raw)


INVALID = [
    ("primary CRC", with_primary_crc_flipped(), "primary block CRC mismatch"),
    ("block CRC", good(payload_crc=1)[:-3] + b"\x00\x00\xff", "block CRC mismatch"),
    ("version 6", b"\x9f" + block_bytes([6, 0, 0, [2, [2, 1]], [2, [1, 1]], [1, 0],
                                         [1, 0], 1], 0) + b"\xff", "version"),
    ("payload not last", good(blocks=[]) [:-1] + block_bytes([200, 2, 0, 0, b""], 0) + b"\xff",
     "not the last"),
    ("duplicate numbers", good(blocks=[(200, 2, 0, 0, b""), (201, 2, 0, 0, b"")]),
     "duplicate block number"),
    ("two hop counts", good(blocks=[(10, 2, 0, 0, cbor2.dumps([5, 0])),
                                    (10, 3, 0, 0, cbor2.dumps([5, 0]))]), "more than one"),
    ("priority 7", good(blocks=[(193, 2, 0, 0, cbor2.dumps(7))]), "priority outside"),
    ("no payload", b"\x9f" + good()[1:].split(b"\x85\x01\x01")[0] + b"\xff", "no payload"),
    ("payload number", good()[:-1].replace(b"\x85\x01\x01\x00\x00C", b"\x85\x01\x02\x00\x00C")
     + b"\xff", "payload block number"),
    ("trailing", good() + b"\x00", "trailing"),
    ("truncated", good()[:-2], "truncated"),
    ("not CBOR array", b"\xa0", "not a CBOR array"),
]


@pytest.mark.parametrize("name,raw,reason", INVALID, ids=[i[0] for i in INVALID])
def test_invalid_bundles_rejected(tool, tmp_path, name, raw, reason):
    path = tmp_path / "bad.bpv7"
    path.write_bytes(raw)
    for cmd in ("decode", "text"):
        r = run(tool, cmd, path, check=False)
        err = r.stderr.decode()
        assert r.returncode == 1, err
        assert err.startswith("%s: invalid bundle: " % path), err
        assert reason in err
        if cmd == "decode":	# JSON out: the error as JSON too (what --json gives scripts)
            out = json.loads(r.stdout)
            assert out["ok"] is False and reason in out["error"], out
        else:
            assert r.stdout == b""


def test_dump_refuses_oversize_and_missing(tool, tmp_path):
    path = tmp_path / "huge.bpv7"
    with open(path, "wb") as f:
        f.truncate(BUNDLE_MAX_SIZE + 1)
    r = run(tool, "decode", path, check=False)
    assert r.returncode == 1
    assert r.stderr.decode().startswith("%s: invalid bundle: larger than BUNDLE_MAX_SIZE" % path)
    r = run(tool, "decode", tmp_path / "missing.bpv7", check=False)
    assert r.returncode == 2 and "cannot read" in r.stderr.decode()


def test_random_bundles_both_ways(tool, tmp_path):
    """Random fields, both directions: Python -> C and C -> Python."""
    rnd = random.Random(9171)
    big = lambda: rnd.choice([0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32,
                              2 ** 63 - 1, 2 ** 64 - 1, rnd.getrandbits(64)])

    def eid():
        if rnd.random() < 0.5:
            return "ipn:%d.%d" % (big(), big())
        if rnd.random() < 0.2:
            return "dtn:none"
        name = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789.-_~")
                       for _ in range(rnd.randint(1, 60)))
        return "dtn://%s/%s" % (name, name[: rnd.randint(0, 20)])

    for i in range(60):
        payload = bytes(rnd.getrandbits(8) for _ in range(rnd.choice([0, 1, 23, 24, 255, 256,
                                                                      1000])))
        ctime = big() or 1
        seq, lifetime = big(), big()
        src, dst, rpt = eid(), eid(), eid()
        # Python -> C
        raw = make_bundle(dst=dst, src=src, report_to=rpt, crc=rnd.choice([0, 1, 2]),
                          ctime=ctime, seq=seq, lifetime=lifetime, payload=payload,
                          payload_crc=rnd.choice([0, 1, 2]), definite=rnd.random() < 0.3,
                          blocks=[(rnd.choice([200, 201, 250, 11, 12]), 2 + i, big(),
                                   rnd.choice([0, 1, 2]), payload[:10])])
        path = tmp_path / ("r%d.bpv7" % i)
        path.write_bytes(raw)
        p = c_decode(tool, path)["primary"]
        assert (p["destination"], p["source"], p["report_to"]) == (dst, src, rpt)
        assert (u64(p["creation_time_ms"]), u64(p["sequence"]), u64(p["lifetime_ms"])) == \
            (ctime, seq, lifetime)
        assert run(tool, "payload", path).stdout == payload
        # C -> Python
        spec = dict(dst=dst, src=src, report_to=rpt, ctime=str(ctime), seq=str(seq),
                    lifetime=str(lifetime), crc_type=rnd.choice([1, 2]),
                    hop=[rnd.randint(1, 255), str(big())], age=str(big()), prev=eid(),
                    priority=rnd.randint(0, 6), payload_hex=payload.hex())
        blocks = parse_bundle(c_encode(tool, spec))
        prim = blocks[0][0]
        assert [eid_text(prim[3]), eid_text(prim[4]), eid_text(prim[5])] == [dst, src, rpt]
        assert prim[6] == [ctime, seq] and prim[7] == lifetime
        assert blocks[-1][0][4] == payload
