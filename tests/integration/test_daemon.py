"""fieldrelayd through its CLI: send, receive, crash, restart, bad input."""
import hashlib
import json
import os
import re
import resource
import signal
import subprocess
import time

import pytest

from harness import CLI, DAEMON, Control, Node, running, wait_for


def texts(deliveries):
    return [d.get("text") for d in deliveries]


def test_send_recv_local_text(nodes):
    n = nodes(1)
    r = n.cli("send", "ipn:1.5", "hello", "field")
    assert r.stdout.startswith(b"accepted ipn:1.5 ")
    out = n.recv_all(5)
    assert texts(out) == ["hello field"]
    assert out[0]["src"] == "ipn:1.5" and out[0]["dst"] == "ipn:1.5"
    assert out[0]["class"] == "message"
    # Taken once: the store no longer holds it.
    assert n.recv_all(5) == []
    assert n.status()["store"]["bundles"] == 0


def test_send_priority_lifetime_and_human_output(nodes):
    n = nodes(3)
    n.cli("send", "-p", "urgent", "-l", "30m", "ipn:3.2", "evacuate sector B")
    r = n.cli("recv", "2")
    assert b"[urgent]" in r.stdout and b"evacuate sector B" in r.stdout


def test_send_file_and_stdin_roundtrip(nodes, tmp_path):
    n = nodes(1)
    blob = os.urandom(300_000)
    f = tmp_path / "photo.bin"
    f.write_bytes(blob)
    n.cli("send", "-f", f, "ipn:1.8")
    n.cli("send", "ipn:1.8", "-", input=b"from stdin\n")
    outdir = tmp_path / "out"
    outdir.mkdir()
    got = n.cli_json("recv", "-o", outdir, "8")
    assert len(got) == 2
    files = [open(g["file"], "rb").read() for g in got]
    assert files[0] == blob and files[1] == b"from stdin\n"


def test_16mb_bundle_through_daemon(nodes, tmp_path):
    n = nodes(1)
    blob = os.urandom(16 * 1024 * 1024 - 4096)
    f = tmp_path / "big.bin"
    f.write_bytes(blob)
    n.cli("send", "-f", f, "ipn:1.9", timeout=300)
    r = n.cli("recv", "--raw", "-n", "1", "9", timeout=300)
    assert hashlib.sha256(r.stdout).digest() == hashlib.sha256(blob).digest()


def test_queue_counts_by_class_and_destination(nodes):
    n = nodes(1)
    n.cli("send", "-p", "bulk", "ipn:2.7", "x" * 1000)
    n.cli("send", "-p", "bulk", "ipn:2.7", "y" * 1000)
    n.cli("send", "-p", "urgent", "ipn:4.2", "alert")
    q = n.cli_json("queue")[0]
    assert q["bundles"] == 3
    cls = {c["class"]: c for c in q["classes"]}
    assert cls["bulk"]["count"] == 2 and cls["urgent"]["count"] == 1
    assert cls["bulk"]["bytes"] > 2000
    dst = {(d["dst"], d["class"]): d["count"] for d in q["destinations"]}
    assert dst == {("ipn:2.7", "bulk"): 2, ("ipn:4.2", "urgent"): 1}
    human = n.cli("queue").stdout.decode()
    assert "ipn:2.7" in human and "bulk" in human


def test_status_fields(nodes):
    n = nodes(7)
    s = n.status()
    assert s["node"] == 7 and s["ok"] is True
    assert s["boot"] >= 1 and s["store"]["path"].endswith("bundles.db")
    human = n.cli("status").stdout.decode()
    assert "ipn:7" in human and "boot #" in human


def test_watch_sees_bundles_as_they_arrive(nodes):
    n = nodes(1)
    with running([str(CLI), "-s", str(n.sock), "--json", "watch", "6"],
                 stdout=subprocess.PIPE) as w:
        for i in range(3):
            n.cli("send", "ipn:1.6", f"live {i}")
        lines = [json.loads(w.stdout.readline()) for _ in range(3)]
        assert [l["text"] for l in lines] == ["live 0", "live 1", "live 2"]


def burst(n, count, kill_after, how):
    """Pipeline `count` sends, hit the daemon with `how` after `kill_after`
    confirmations, and return the texts the CLI reported accepted."""
    lines = "".join(f"m{i:05d}\n" for i in range(1, count + 1)).encode()
    out = n.dir / "burst.out"
    with open(out, "wb") as fo:
        p = subprocess.Popen([str(CLI), "-s", str(n.sock), "send", "--batch", "ipn:1.5"],
                             stdin=subprocess.PIPE, stdout=fo, stderr=subprocess.PIPE)
        p.stdin.write(lines)
        p.stdin.close()
        wait_for(lambda: out.read_bytes().count(b"\n") >= kill_after or p.poll() is not None,
                 60, "sends to be confirmed")
        if how == "kill":
            n.kill9()
        else:
            assert n.stop() == 0
        p.wait(30)
    accepted = set()
    for line in out.read_text().splitlines():
        m = re.match(r"accepted (\S+ \d+ \d+) (\d+)$", line)
        if m:
            accepted.add(f"m{int(m.group(2)):05d}")
        else:  # what came in after SIGTERM is refused, and said so
            assert how == "term" and re.match(r"refused \d+ shutting-down: ", line), line
    return accepted, p.returncode


@pytest.mark.parametrize("how", ["kill", "term"])
def test_burst_of_10000_sends_survives_kill9_and_sigterm(nodes, how):
    n = nodes(1)
    accepted, rc = burst(n, 10000, 2500, how)
    assert len(accepted) >= 2500
    n.start()
    got = texts(n.recv_all(5))
    assert len(got) == len(set(got)), "a bundle was delivered twice"
    missing = accepted - set(got)
    assert not missing, f"{len(missing)} accepted sends lost, e.g. {sorted(missing)[:5]}"
    assert set(got) <= {f"m{i:05d}" for i in range(1, 10001)}
    if how == "term":
        # A clean stop answers every request it took: nothing stored unconfirmed.
        assert set(got) == accepted
    else:
        assert rc == 3, "the kill was meant to land in the middle of the burst"


def test_no_clock_restart_makes_no_colliding_ids(nodes):
    n = nodes(1, start=False)
    n.conf.write_text(n.conf.read_text().replace("[control]", "clock = untrusted\n[control]"))
    n.start()
    ids = [n.cli("send", "ipn:1.5", f"a{i}").stdout.split()[1:4] for i in range(3)]
    n.kill9()
    n.start()
    ids += [n.cli("send", "ipn:1.5", f"b{i}").stdout.split()[1:4] for i in range(3)]
    assert all(i[1] == b"0" for i in ids), "creation time must be 0 without a clock"
    assert len({tuple(i) for i in ids}) == 6, ids
    assert sorted(texts(n.recv_all(5))) == ["a0", "a1", "a2", "b0", "b1", "b2"]


BAD_CONFIGS = [
    ("[node]\nid = 1\n[nosuch]\nx = 1\n", 3, "unknown section [nosuch]"),
    ("[node]\nid = 1\ncolour = red\n", 3, "unknown key 'colour'"),
    ("[node]\nid = banana\n", 2, "not a node number"),
    ("[node]\nid = 1\n[store]\nquota = lots\n", 4, "quota"),
    ("[node]\nid = 1\n[store]\ncommit_ms = 99999\n", 4, "commit_ms"),
    ("[node]\nid = 1\n[bundle]\ndefault_lifetime = 0\n", 4, "default_lifetime"),
    ("[node]\nid = 1\n[log]\nlevel = loud\n", 4, "level"),
    ("[node]\nid = 1\nthis line is not ini\n", 3, "syntax error"),
    ("[node]\nid = 1\ndata_dir = relative/dir\n", 3, "absolute path"),
    ("[node]\nname = x\n", None, "[node] id is required"),
    ("[node]\nid = 1\n[store]\nquota = 1M\nreserve = 2M\n", None, "leave nothing of quota"),
]


@pytest.mark.parametrize("text,line,msg", BAD_CONFIGS)
def test_bad_config_reports_file_line_and_exits_2(tmp_path, text, line, msg):
    conf = tmp_path / "bad.conf"
    conf.write_text(text)
    for cmd in ([str(DAEMON), "-n", "-c", str(conf)], [str(DAEMON), "-d", "-c", str(conf)],
                [str(CLI), "config-check", str(conf)]):
        r = subprocess.run(cmd, capture_output=True, timeout=30)
        assert r.returncode == 2, (cmd, r)
        err = r.stderr.decode()
        assert msg in err, err
        prefix = f"{conf}:{line}: " if line else f"{conf}: "
        assert err.startswith(prefix), err


def test_good_config_check(nodes):
    n = nodes(1, start=False)
    r = subprocess.run([str(DAEMON), "-n", "-c", str(n.conf)], capture_output=True)
    assert r.returncode == 0 and b"configuration OK" in r.stdout
    n.start()
    assert n.cli_json("config-check")[0]["ok"] is True


def test_sigterm_clean_exit_and_sighup_reload(nodes):
    n = nodes(1)
    n.conf.write_text(n.conf.read_text().replace("level = info", "level = debug")
                      .replace("name = test1", "name = renamed"))
    n.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "needs a restart" in n.log_text(), 10, "SIGHUP to be handled")
    assert "[node] name changed: needs a restart" in n.log_text()
    assert "[log] level changed: applied" in n.log_text()
    n.cli("status")  # still serving
    assert n.stop() == 0
    assert not n.sock.exists()
    assert "stopped cleanly" in n.log_text()


def test_cli_errors_are_clear(nodes, tmp_path):
    n = nodes(1)
    r = n.cli("send", "ipn:nope", "x", check=False)
    assert r.returncode == 2 and b"not an endpoint ID" in r.stderr
    big = tmp_path / "huge.bin"
    with open(big, "wb") as f:
        f.truncate(20 * 1024 * 1024)
    r = n.cli("send", "-f", big, "ipn:1.5", check=False)
    assert r.returncode == 2 and b"file too big" in r.stderr
    r = n.cli("send", "-p", "loud", "ipn:1.5", "x", check=False)
    assert r.returncode == 2 and b"not a priority class" in r.stderr
    r = n.cli("frobnicate", check=False)
    assert r.returncode == 2 and b"unknown command" in r.stderr
    r = subprocess.run([str(CLI), "-s", str(tmp_path / "none.sock"), "status"], capture_output=True)
    assert r.returncode == 3 and b"fieldrelayd is not running" in r.stderr
    assert n.cli("--help").stdout.count(b"\n") > 30


def test_payload_over_daemon_limit_is_refused(nodes, tmp_path):
    n = nodes(1, extra="[store]\nmax_bundle_size = 64K\n")
    f = tmp_path / "f.bin"
    f.write_bytes(b"z" * 100_000)
    r = n.cli("send", "-f", f, "ipn:1.5", check=False)
    assert r.returncode == 1 and b"over the limit" in r.stderr
    n.cli("send", "ipn:1.5", "still fine")
    assert texts(n.recv_all(5)) == ["still fine"]


def send_until_refused(n, f, tries):
    """Send file f as bulk bundles until the daemon refuses one; (stored, refusal)."""
    stored = 0
    for _ in range(tries):
        r = n.cli("send", "-p", "bulk", "-f", f, "ipn:1.8", check=False)
        if r.returncode != 0:
            return stored, r
        stored += 1
    return stored, r


def assert_all_stored(n, outdir, f, stored):
    """Every bundle accepted before the refusal is still there, byte for byte."""
    got = n.cli_json("recv", "-o", outdir, "8")
    assert len(got) == stored
    assert all(open(g["file"], "rb").read() == f.read_bytes() for g in got)


def test_quota_hit_is_refused_and_stored_bundles_stay(nodes, tmp_path):
    n = nodes(1, extra="[store]\nquota = 2M\nreserve = 256K\nreserve_urgent = 256K\n")
    f = tmp_path / "chunk.bin"
    f.write_bytes(os.urandom(100_000))
    stored, r = send_until_refused(n, f, 40)
    assert r.returncode == 1, "quota never hit"
    assert b"quota" in r.stderr, r.stderr
    assert 5 <= stored < 40
    # The class reserve still lets an alert in.
    n.cli("send", "-p", "urgent", "ipn:1.2", "alert still fits")
    assert texts(n.recv_all(2)) == ["alert still fits"]
    assert_all_stored(n, tmp_path, f, stored)


def test_disk_full_file_size_limit(nodes, tmp_path):
    n = nodes(1, start=False)
    limit = 3 * 1024 * 1024

    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    n.start(preexec=cap)
    f = tmp_path / "chunk.bin"
    f.write_bytes(os.urandom(200_000))
    stored, r = send_until_refused(n, f, 60)
    assert r.returncode == 1 and b"disk" in r.stderr.lower(), r.stderr
    assert stored >= 3
    n.cli("status")  # the daemon survived
    assert n.stop() == 0
    n.start()
    assert_all_stored(n, tmp_path, f, stored)


def test_bad_control_input_does_not_hurt(nodes):
    n = nodes(1)
    c = Control(n)
    c.raw(b"\x00\x00\x00\x05hello")
    assert c.recv()["code"] == "bad-request"
    c.send({"op": "send", "dst": "ipn:1.5", "lifetime": -3}, b"x")
    assert c.recv()["code"] == "bad-request"
    c.send({"op": "send", "dst": "dtn:"}, b"x")
    assert c.recv()["code"] == "bad-eid"
    c.send({"op": "nonsense"})
    assert "unknown op" in c.recv()["error"]
    c.send({"op": "ack", "rowid": 12345})
    assert c.recv()["ok"] is False
    c.raw(b"\xff\xff\xff\xff")  # absurd length: the daemon hangs up on us
    with pytest.raises((EOFError, ConnectionResetError)):
        c.recv()
    c.close()
    # Half a message, then gone.
    c = Control(n)
    c.raw(b"\x00\x00\x01\x00{\"op\":")
    c.close()
    n.cli("send", "ipn:1.5", "alive")
    assert texts(n.recv_all(5)) == ["alive"]


def test_pipelined_sends_answer_in_order_with_tags(nodes):
    n = nodes(1)
    c = Control(n)
    for i in range(200):
        c.send({"op": "send", "dst": "ipn:1.5", "tag": i}, f"p{i}".encode())
    tags = [c.recv()["tag"] for _ in range(200)]
    assert tags == list(range(200))
    c.close()
    assert sorted(texts(n.recv_all(5))) == sorted(f"p{i}" for i in range(200))


def test_bundle_dump_of_another_implementations_bundle(tmp_path):
    from harness import TEST_DATA
    f = TEST_DATA / "bpv7" / "dtn-mtcp-a2b-01.bpv7"
    r = subprocess.run([str(CLI), "bundle", "dump", "--json", str(f)], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert "dtn://b.dtn/sink" in r.stdout.decode()
    bad = tmp_path / "bad.bpv7"
    bad.write_bytes(f.read_bytes()[:-7])
    r = subprocess.run([str(CLI), "bundle", "dump", str(bad)], capture_output=True)
    assert r.returncode == 2 and b"invalid bundle" in r.stderr


def test_example_configs_are_valid(tmp_path):
    from harness import ROOT
    confs = sorted((ROOT / "configs").glob("*.conf"))
    assert len(confs) >= 4
    key = tmp_path / "network.key"
    key.write_text("1 " + "cd" * 32 + " send\n")
    os.chmod(key, 0o600)
    for c in confs:
        r = subprocess.run([str(CLI), "config-check", str(c)], capture_output=True)
        assert r.returncode == 0, (c, r.stderr)
        # -n also checks what start-up needs from this machine: give it the files and the
        # interface each example names (a key file, /var/lib/fieldrelay, mesh0) here.
        local = tmp_path / c.name
        local.write_text(re.sub(r"(?m)^key_file = .*$", f"key_file = {key}",
                         re.sub(r"(?m)^data_dir = .*$", f"data_dir = {tmp_path / c.stem}",
                         re.sub(r"(?m)^socket = .*$", f"socket = {tmp_path / c.stem}.sock",
                         re.sub(r"(?m)^interface = .*$", "interface = lo", c.read_text())))))
        r = subprocess.run([str(DAEMON), "-n", "-c", str(local)], capture_output=True)
        assert r.returncode == 0, (c, r.stderr)


def test_sd_notify_ready_and_watchdog(nodes, tmp_path):
    import socket as so
    n = nodes(1, start=False)
    path = str(tmp_path / "notify.sock")
    s = so.socket(so.AF_UNIX, so.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="200000")
    n.start(env=env)
    msgs = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sum("WATCHDOG=1" in m for m in msgs) < 2:
        msgs.append(s.recv(4096).decode())
    assert any("READY=1" in m for m in msgs), msgs
    assert sum("WATCHDOG=1" in m for m in msgs) >= 2, msgs
    assert n.stop() == 0
    s.settimeout(2)
    rest = []
    while not any("STOPPING=1" in m for m in rest):
        rest.append(s.recv(4096).decode())
    s.close()


def test_drops_root_to_configured_user(nodes):
    import pwd
    import shutil
    import tempfile
    from pathlib import Path
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")
    base = Path(tempfile.mkdtemp(prefix="fieldrelay-priv-", dir="/var/tmp"))
    os.chmod(base, 0o755)
    try:
        n = Node(base, 1)
        n.conf.write_text(n.conf.read_text().replace("[control]", "user = nobody\n[control]"))
        n.start()
        nobody = str(pwd.getpwnam("nobody").pw_uid)

        def uids():
            return set([l for l in open(f"/proc/{n.proc.pid}/status") if l.startswith("Uid:")][0].split()[1:])
        # The socket listens a moment before the drop: poll for it.
        wait_for(lambda: uids() == {nobody}, 10, "the daemon to run as nobody")
        assert os.stat(n.db).st_uid == pwd.getpwnam("nobody").pw_uid
        n.cli("send", "ipn:1.5", "after the drop")
        assert texts(n.recv_all(5)) == ["after the drop"]
        assert n.stop() == 0
        n.start()  # root again at start-up, and the files are still usable
        n.cli("status")
        assert n.stop() == 0
    finally:
        n.kill()
        shutil.rmtree(base, ignore_errors=True)
