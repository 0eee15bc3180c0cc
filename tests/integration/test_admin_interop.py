"""Status report interop (RFC 9171 6.1.1): reports the C codec writes decode
with python3-cbor2 into exactly the structure the RFC gives, byte for byte
what cbor2 writes for it; reports built here with cbor2 decode in C; and the
reports a running daemon sends carry the same structure.  The C side is
driven through admintool (tests/integration/helpers/admintool.c)."""
import json
import subprocess

import cbor2
import pytest

from harness import CLI, Node, helper_tool
from harness.bpv7 import make_bundle
NAMES = ["received", "forwarded", "delivered", "deleted"]
U64 = 2 ** 64 - 1


@pytest.fixture(scope="module")
def tool():
    return helper_tool("admintool")


def c_encode(tool, spec):
    r = subprocess.run([str(tool), "encode", "-"], input=json.dumps(spec).encode(), capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def c_decode(tool, raw):
    r = subprocess.run([str(tool), "decode", "-"], input=raw, capture_output=True, timeout=30)
    return r.returncode, json.loads(r.stdout)


def eid_cbor(text):
    if text == "dtn:none":
        return [1, 0]
    if text.startswith("dtn:"):
        return [1, text[4:]]
    node, service = text[4:].split(".")
    return [2, [int(node), int(service)]]


def rfc_report(spec):
    """The record as RFC 9171 6.1 lays it out, built from the spec here."""
    info = []
    for name in NAMES:
        a = [name in spec["asserted"]]
        if a[0] and name in spec.get("times", {}):
            a.append(int(spec["times"][name]))
        info.append(a)
    rep = [info, spec.get("reason", 0), eid_cbor(spec["src"]), [int(spec["ctime"]), int(spec["seq"])]]
    if "fragment" in spec:
        rep += [int(x) for x in spec["fragment"]]
    return [1, rep]


SPECS = [
    dict(asserted=["delivered"], times={"delivered": 1000}, src="ipn:1.5", ctime=800000, seq=3),
    dict(asserted=["deleted"], reason=9, src="ipn:4294967295.2", ctime=0, seq=0),
    dict(asserted=["received", "forwarded", "delivered", "deleted"],
         times={n: str(U64 - i) for i, n in enumerate(NAMES)}, reason=11,
         src="dtn://center.dtn/alerts", ctime=str(U64), seq=str(U64), fragment=[65536, 1400]),
    dict(asserted=[], reason=1, src="ipn:0.0", ctime=1, seq=2, fragment=[0, str(U64)]),
    dict(asserted=["forwarded"], src="dtn:none", ctime=42, seq=7),
]


@pytest.mark.parametrize("spec", SPECS)
def test_c_reports_decode_in_python(tool, spec):
    raw = c_encode(tool, spec)
    want = rfc_report(spec)
    assert cbor2.loads(raw) == want
    # Deterministic, definite-length, shortest forms: what cbor2 writes too.
    assert raw == cbor2.dumps(want)


@pytest.mark.parametrize("spec", SPECS)
def test_python_reports_decode_in_c(tool, spec):
    rc, got = c_decode(tool, cbor2.dumps(rfc_report(spec)))
    assert rc == 0, got
    assert got["asserted"] == spec["asserted"]
    assert {k: int(v) for k, v in got["times"].items()} == {k: int(v) for k, v in spec.get("times", {}).items()}
    assert int(got["reason"]) == spec.get("reason", 0)
    assert got["src"] == spec["src"]
    assert (int(got["ctime"]), int(got["seq"])) == (int(spec["ctime"]), int(spec["seq"]))
    if "fragment" in spec:
        assert [int(x) for x in got["fragment"]] == [int(x) for x in spec["fragment"]]
    else:
        assert "fragment" not in got


def test_python_reports_c_refuses(tool):
    ok = rfc_report(SPECS[0])
    bad = [
        [2, ok[1]],                                    # a custody signal, not ours
        [1, ok[1][:3]],                                # no creation timestamp
        [1, [ok[1][0][:3]] + ok[1][1:]],               # three status assertions
        [1, [[["yes"]] * 4] + ok[1][1:]],              # not a boolean
        [1, ok[1] + [5]],                              # a fragment offset alone
        [1, [ok[1][0], -1] + ok[1][2:]],               # negative reason
        [1, ok[1][:2] + [[3, [1, 5]]] + ok[1][3:]],    # unknown EID scheme
    ]
    for rec in bad:
        rc, got = c_decode(tool, cbor2.dumps(rec))
        assert rc == 1 and got["error"], rec
    rc, got = c_decode(tool, cbor2.dumps(ok) + b"\x00")
    assert rc == 1 and got["error"] == "trailing bytes after the administrative record"


def test_daemon_report_is_rfc_shaped(tmp_path):
    """The report a running daemon sends (here to itself, once its own
    application took the bundle): the payload of a bundle to ipn:7.0,
    decoded here with cbor2 only."""
    n = Node(tmp_path, 7)
    try:
        n.start()
        sent = n.cli_json("send", "--report", "delivered,time", "ipn:7.5", "hello")[0]["id"]
        assert [g["text"] for g in n.cli_json("recv", "-n", "1", "5")] == ["hello"]
        raw = n.cli("recv", "--raw", "-n", "1", "-w", "0", timeout=30).stdout
    finally:
        rc = n.stop()
    assert rc == 0, n.log_text()[-3000:]
    src, ctime, seq = sent.split()
    rec = cbor2.loads(raw)
    assert rec[0] == 1
    info, reason, subj, ts = rec[1]
    assert [a[0] for a in info] == [False, False, True, False]
    assert len(info[2]) == 2 and info[2][1] >= int(ctime)      # delivered, and when
    assert reason == 0 and subj == eid_cbor(src) and ts == [int(ctime), int(seq)]
    assert raw == cbor2.dumps(rec)


def test_report_bundle_dump(tmp_path):
    """`fieldrelay bundle dump` of a status report bundle built here decodes
    its payload too (what an operator looks at in a capture)."""
    spec = SPECS[2]
    raw = make_bundle("ipn:1.0", "ipn:2.0", flags=0x02, crc=1, payload=cbor2.dumps(rfc_report(spec)))
    path = tmp_path / "report.bpv7"
    path.write_bytes(raw)
    d = json.loads(subprocess.run([str(CLI), "bundle", "dump", "--json", str(path)], capture_output=True,
                                  check=True).stdout)
    assert "admin-record" in d["primary"]["flag_names"]
    sr = d["blocks"][-1]["status_report"]
    assert sr["status"] == NAMES and sr["reason"] == 11 and sr["reason_text"] == "block unsupported"
    assert sr["subject_source"] == "dtn://center.dtn/alerts"
    assert (int(sr["subject_creation_time_ms"]), int(sr["subject_sequence"])) == (U64, U64)
    assert (sr["subject_fragment_offset"], int(sr["subject_payload_length"])) == (65536, 1400)
    assert {k: int(v) for k, v in sr["times"].items()} == {n: U64 - i for i, n in enumerate(NAMES)}
    text = subprocess.run([str(CLI), "bundle", "dump", str(path)], capture_output=True, text=True).stdout
    assert "status report  dtn://center.dtn/alerts" in text and "received, forwarded, delivered, deleted" in text
