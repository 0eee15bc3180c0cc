"""What says OK must be OK, and nothing hangs: fieldrelayd -n, config-check,
the CLI's deadline, and control requests with fields of the wrong type."""
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from harness import CLI, DAEMON, Control, Node, free_port, running, wait_for

KEY = "1 " + "ab" * 32 + " send\n"


def run(*cmd, timeout=30, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, timeout=timeout, **kw)


def linked(n, key_text=KEY, key_mode=0o600):
    """n's config with one UDP link, so that start-up loads the network key."""
    key = n.write_key(key_text)
    os.chmod(key, key_mode)
    n.write_config(f"[security]\nkey_file = {key}\n[link mesh]\ntype = udp\nport = {free_port()}\n"
                   f"peer = 127.0.0.1:{free_port()}\n")
    return key


def line_of(conf, prefix):
    return next(i for i, l in enumerate(conf.read_text().splitlines(), 1) if l.startswith(prefix))


def case_missing_key(n):
    key = linked(n)
    key.unlink()
    return line_of(n.conf, "key_file"), f"key_file: {key}: No such file or directory"


def case_key_0644(n):
    key = linked(n, key_mode=0o644)
    return line_of(n.conf, "key_file"), f"key_file: {key}: mode 0644 lets group or others at the network key"


def case_data_dir_proc(n):
    n.conf.write_text(n.conf.read_text().replace(f"data_dir = {n.dir}", "data_dir = /proc/1"))
    return line_of(n.conf, "data_dir"), "data_dir /proc/1: cannot create files in it"


def case_socket_dir_missing(n):
    n.conf.write_text(n.conf.read_text().replace(f"socket = {n.sock}", f"socket = {n.dir}/no/such/dir/c.sock"))
    return line_of(n.conf, "socket"), f"[control] socket {n.dir}/no/such/dir/c.sock: cannot be made"


def case_no_such_user(n):
    n.conf.write_text(n.conf.read_text().replace("[control]", "user = no-such-user-here\n[control]"))
    return line_of(n.conf, "user"), "user: no-such-user-here: no such user"


@pytest.mark.parametrize("case", [case_missing_key, case_key_0644, case_data_dir_proc,
                                  case_socket_dir_missing, case_no_such_user])
def test_n_refuses_what_start_up_refuses(tmp_path, case):
    n = Node(tmp_path, 1)
    line, msg = case(n)
    r = run(DAEMON, "-n", "-c", n.conf)
    err = r.stderr.decode()
    assert r.returncode == 2, (r.stdout, err)
    assert b"configuration OK" not in r.stdout
    assert f"{n.conf}:{line}: {msg}" in err, err
    # Start-up refuses it with the same words, before it touches the store.
    r = run(DAEMON, "-d", "-c", n.conf)
    assert r.returncode != 0 and f"{n.conf}:{line}: {msg}" in r.stderr.decode(), r.stderr
    assert not n.db.exists() and not n.sock.exists()


def test_n_passes_a_startable_config_and_changes_nothing(tmp_path):
    n = Node(tmp_path, 1)
    linked(n)
    fresh = tmp_path / "fresh"  # start-up makes data_dir itself: -n must not
    n.conf.write_text(n.conf.read_text().replace(f"data_dir = {n.dir}", f"data_dir = {fresh}"))
    r = run(DAEMON, "-n", "-c", n.conf)
    assert r.returncode == 0 and b"configuration OK" in r.stdout, r.stderr
    assert not fresh.exists()
    # With a store in place: -n leaves every file as it was.
    n.start()
    n.cli("send", "ipn:1.5", "kept")
    assert n.stop() == 0
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in fresh.iterdir()}
    r = run(DAEMON, "-n", "-c", n.conf)
    assert r.returncode == 0, r.stderr
    assert {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in fresh.iterdir()} == before


# An agent's section ([testagent]: a test-only agent, tests/agent/testagent, until a real one is built).
AGENT_BAD = "[testagent]\ninterval = 0\ncolour = blue\n"


def test_agents_sections_are_checked_by_n_and_config_check_and_skipped_by_the_daemon(nodes):
    n = nodes(1, extra=AGENT_BAD, start=False)
    header = line_of(n.conf, "[testagent]")
    want = [f"{n.conf}:{header + 1}: interval: '0' is not a number of seconds from 1 to 3600",
            f"{n.conf}:{header + 2}: unknown key 'colour' in [testagent] (read by fieldrelay-testagent)",
            f"{n.conf}:{header}: [testagent] needs a greeting"]
    for cmd in ([DAEMON, "-n", "-c", n.conf], [CLI, "config-check", n.conf]):
        r = run(*cmd)
        err = r.stderr.decode()
        assert r.returncode == 2 and b"configuration OK" not in r.stdout, (cmd, r)
        for w in want:
            assert w in err, (cmd, err)
    # The daemon runs on it (an agent's mistake must not stop store-and-forward)...
    n.start()
    n.cli("send", "ipn:1.5", "through")
    assert [d.get("text") for d in n.recv_all(5)] == ["through"]
    # ...and config-check through it checks the agents' sections all the same.
    r = n.cli("config-check", check=False, timeout=30)
    assert r.returncode == 2, r
    for w in want:
        assert w.encode() in r.stderr, r.stderr
    # Fixed, every check passes.
    n.write_config("[testagent]\ngreeting = hello\ninterval = 30s\npeer = 2\npeer = 3\n")
    assert n.cli("config-check", timeout=30).returncode == 0
    r = run(DAEMON, "-n", "-c", n.conf)
    assert r.returncode == 0 and b"configuration OK" in r.stdout, r.stderr
    r = run(CLI, "config-check", n.conf)
    assert r.returncode == 0, r.stderr
    assert n.stop() == 0


def test_a_section_no_module_or_agent_owns_is_an_error_everywhere(nodes):
    n = nodes(1, extra="[tracker]\nx = 1\n", start=False)
    line = line_of(n.conf, "[tracker]")
    for cmd in ([DAEMON, "-n", "-c", n.conf], [CLI, "config-check", n.conf], [DAEMON, "-d", "-c", n.conf]):
        r = run(*cmd)
        assert r.returncode != 0, (cmd, r)
        assert f"{n.conf}:{line}: unknown section [tracker]" in r.stderr.decode(), (cmd, r.stderr)
    assert not n.sock.exists()


def test_the_voice_section_is_checked_with_file_and_line(nodes):
    """[voice] (voice/voice_config.c): a bad mode, an unknown key, and a section without a group."""
    n = nodes(1, extra="[voice]\ngroup = rescue ipn:1 ipn:2\nmode = ip opus 8k nb 45ms\njitter = 100ms\n",
              start=False)
    header = line_of(n.conf, "[voice]")
    want = [f"{n.conf}:{header + 2}: mode: ip: 'opus 8k nb 45ms' opus: frame '45ms' is not 10, 20, 40",
            f"{n.conf}:{header + 3}: unknown key 'jitter' in [voice] (read by fieldrelay-voice)"]
    for cmd in ([DAEMON, "-n", "-c", n.conf], [CLI, "config-check", n.conf]):
        r = run(*cmd)
        assert r.returncode == 2, (cmd, r)
        for w in want:
            assert w in r.stderr.decode(), (cmd, r.stderr)
    n.write_config("[voice]\nname = Team 3\n")
    header = line_of(n.conf, "[voice]")
    r = run(DAEMON, "-n", "-c", n.conf)
    assert r.returncode == 2 and f"{n.conf}:{header}: [voice] needs a talk group" in r.stderr.decode(), r
    n.write_config("[voice]\ngroup = rescue ipn:1 ipn:2\nmode = narrowband codec2 2400\nptt = vox\n")
    r = run(DAEMON, "-n", "-c", n.conf)
    assert r.returncode == 0 and b"configuration OK" in r.stdout, r.stderr


@pytest.mark.parametrize("what", ["/dev/zero", "dir", "fifo"])
def test_config_that_is_not_a_file_is_refused_at_once(tmp_path, what):
    path = {"/dev/zero": "/dev/zero", "dir": str(tmp_path), "fifo": str(tmp_path / "fifo")}[what]
    if what == "fifo":
        os.mkfifo(path)
    kind = {"/dev/zero": "a device", "dir": "a directory", "fifo": "a FIFO"}[what]
    for cmd in ([DAEMON, "-n", "-c", path], [DAEMON, "-d", "-c", path], [CLI, "config-check", path]):
        r = run(*cmd, timeout=20)  # -c /dev/zero read for ever
        assert r.returncode == 2, (cmd, r)
        assert r.stderr.decode().startswith(f"{path}: {kind}, not a config file"), r.stderr


def test_config_errors_show_bytes_escaped(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_bytes(b"[node]\nid = 1\nid = 2\nname = a\x1b[2Jb\n[node]\nclock = caf\xe9\n[store]\nquota = 1\x00M\n")
    r = run(DAEMON, "-n", "-c", conf)
    assert r.returncode == 2
    err = r.stderr.decode("utf-8")  # valid UTF-8, no raw control characters
    assert not any(c < " " and c != "\n" for c in err), repr(err)
    assert f"{conf}:3: id: set again in [node] (first at line 2)" in err, err
    assert f"{conf}:4: name: 'a\\x1b[2Jb' has a control character" in err, err
    assert f"{conf}:5: [node] again (first at line 1)" in err, err
    assert f"{conf}:8: NUL byte (\\x00) in the line" in err, err


def test_config_check_of_a_file_with_a_byte_that_is_not_utf8(nodes):
    n = nodes(1)
    n.conf.write_bytes(n.conf.read_bytes().replace(b"[log]", b"clock = caf\xe9\n[log]"))
    # Before: the daemon's answer could not be encoded as JSON, and the CLI waited for ever.
    r = n.cli("config-check", check=False, timeout=30)
    assert r.returncode == 2, r
    assert b"clock: 'caf\\xe9' has a control character or bytes that are not UTF-8" in r.stderr, r.stderr
    j = n.cli_json("config-check", check=False, timeout=30)[0]
    assert j["ok"] is False and "caf\\xe9" in j["error"], j
    n.cli("status")  # and the daemon serves on


@pytest.fixture
def silent_socket(tmp_path):
    """A socket that accepts connections and never answers."""
    path = tmp_path / "silent.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.listen(16)
    held, stop = [], threading.Event()

    def serve():
        s.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(s.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield path
    stop.set()
    t.join()
    for c in held:
        c.close()
    s.close()


def test_cli_gives_up_on_a_daemon_that_never_answers(silent_socket):
    t0 = time.monotonic()
    r = run(CLI, "-s", silent_socket, "status", timeout=60)
    took = time.monotonic() - t0
    assert r.returncode == 3, r
    assert b"fieldrelayd did not answer within 10.000 s" in r.stderr, r.stderr
    assert 9.5 <= took < 40, took
    for args in (["status"], ["queue"], ["links"], ["config-check"], ["send", "ipn:1.5", "x"],
                 ["recv", "5"], ["send", "--batch", "ipn:1.5"]):
        t0 = time.monotonic()
        r = run(CLI, "-s", silent_socket, "--timeout", "0.5", *args, input=b"a\nb\n", timeout=30)
        assert r.returncode == 3, (args, r)
        assert b"did not answer within 0.500 s" in r.stderr or b"stopped answering" in r.stderr, (args, r)
        assert time.monotonic() - t0 < 10, args
    r = run(CLI, "-s", silent_socket, "--json", "--timeout", "0.5", "status", timeout=30)
    assert r.returncode == 3
    j = json.loads(r.stdout)
    assert j["ok"] is False and "did not answer" in j["error"], j
    assert b"--timeout SECONDS" in run(CLI, "--help").stdout


def test_recv_wait_is_not_cut_by_the_deadline(nodes):
    n = nodes(1)
    with running([str(CLI), "-s", str(n.sock), "--json", "--timeout", "0.3", "recv", "-n", "1", "-w", "5"],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(1.5)  # five times its deadline, and still waiting for the bundle
        n.cli("send", "ipn:1.5", "worth the wait")
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert json.loads(out)["text"] == "worth the wait"


def test_json_errors_are_json(nodes, tmp_path):
    n = nodes(1)
    for args, rc in ((["send", "ipn:nope", "x"], 2), (["send", "-f", tmp_path / "none", "ipn:1.5"], 2),
                     (["frobnicate"], 2), (["recv", "x"], 2)):
        r = n.cli("--json", *args, check=False)
        assert r.returncode == rc, (args, r)
        j = json.loads(r.stdout)
        assert j["ok"] is False and j["error"], (args, j)
    r = run(CLI, "-s", tmp_path / "none.sock", "--json", "status")
    assert r.returncode == 3 and "not running" in json.loads(r.stdout)["error"]
    bad = tmp_path / "bad.bpv7"
    bad.write_bytes(b"\x9f\x89")
    r = run(CLI, "bundle", "dump", "--json", bad)
    assert r.returncode == 2 and "invalid bundle" in json.loads(r.stdout)["error"]


def test_one_range_of_node_and_service_numbers(nodes):
    n = nodes(1)
    top = str(2 ** 64 - 1)
    for args in (["send", f"ipn:1.{top}", "x"], ["send", f"ipn:{top}.5", "x"], ["send", "-S", top, "ipn:1.5", "x"],
                 ["recv", top]):
        r = n.cli(*args, check=False)
        assert r.returncode == 2 and b"2^63-1" in r.stderr, (args, r)
    big = str(2 ** 63 - 1)
    n.cli("send", f"ipn:1.{big}", "the highest service")
    assert [d["text"] for d in n.recv_all(big)] == ["the highest service"]
    c = Control(n)
    c.send({"op": "send", "dst": f"ipn:{top}.5"}, b"x")
    r = c.recv()
    assert r["code"] == "bad-eid" and "2^63-1" in r["error"], r
    c.close()
    # The config's [node] id takes the same range.
    n.conf.write_text(n.conf.read_text().replace("id = 1", f"id = {int(big) + 1}"))
    r = run(DAEMON, "-n", "-c", n.conf)
    assert r.returncode == 2 and b"1 .. 2^63-1" in r.stderr


WRONG_TYPES = [
    ({"op": "send", "dst": "ipn:1.5", "priority": 99}, b"x", "priority"),
    ({"op": "send", "dst": "ipn:1.5", "priority": "loud"}, b"x", "priority"),
    ({"op": "send", "dst": 5}, b"x", "dst"),
    ({"op": "send", "dst": ["ipn:1.5"]}, b"x", "dst"),
    ({"op": "send", "dst": "ipn:1.5", "service": "5"}, b"x", "service"),
    ({"op": "send", "dst": "ipn:1.5", "lifetime": "1h"}, b"x", "lifetime"),
    ({"op": "send", "dst": "ipn:1.5", "report": 3}, b"x", "report"),
    ({"op": "send", "dst": "ipn:1.5", "supersede": 7}, b"x", "supersede"),
    ({"op": "recv", "service": "5"}, b"", "service"),
    ({"op": "recv", "service": 5, "count": "2"}, b"", "count"),
    ({"op": "recv", "service": 5, "wait": "yes"}, b"", "wait"),
    ({"op": "ack", "rowid": "1"}, b"", "rowid"),
    ({"op": 5}, b"", "op"),
    ({"op": "status", "body": 3}, b"abc", "body"),
]


def test_control_fields_of_the_wrong_type_get_an_error_reply(nodes):
    n = nodes(1)
    c = Control(n)
    for i, (req, body, field) in enumerate(WRONG_TYPES):
        req = dict(req, tag=i)
        if body and "body" not in req:
            req["body"] = len(body)
        c.raw(frame(req) + body)
        r = c.recv()
        assert r["ok"] is False and r["code"] == "bad-request" and r.get("tag") == i, (req, r)
        assert field in r["error"], (req, r)
    # The same connection still works.
    c.send({"op": "send", "dst": "ipn:1.5", "tag": "last"}, b"fine")
    assert c.recv()["ok"] is True
    c.close()
    assert [d["text"] for d in n.recv_all(5)] == ["fine"]
    # A body count that is not one: the next message cannot be found, so an answer, then the hang-up.
    for body in (-5, "5", 2.5):
        c = Control(n)
        c.raw(frame({"op": "send", "dst": "ipn:1.5", "body": body, "tag": "b"}))
        r = c.recv()
        assert r["ok"] is False and "body" in r["error"] and r["tag"] == "b", r
        with pytest.raises((EOFError, ConnectionResetError)):
            c.recv()
        c.close()
    n.cli("status")


def frame(obj):
    data = json.dumps(obj).encode()
    return len(data).to_bytes(4, "big") + data
