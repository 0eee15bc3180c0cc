"""The CLI's command table and agent commands: every command's --help comes
from the table (and `help CMD` prints the same), and `fieldrelay NAME ARGS`
runs the program fieldrelay-NAME (beside fieldrelay, then on PATH) with the
global options passed on and its exit status coming through."""
import json
import os
import shutil
import subprocess

import pytest

from harness import CLI

HELLO = """#!/bin/sh
# prints its argv, one per line, and exits with $HELLO_EXIT
printf '%s\\n' "$0" "$@"
echo "from: {tag}"
exit "${{HELLO_EXIT:-0}}"
"""

# The commands that were there before the table (the table may have more).
BUILT_IN = ["status", "queue", "neighbors", "links", "routes", "flood", "send", "recv", "watch",
            "reports", "config-check", "bundle", "help"]


def run(*args, env=None, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, timeout=30, env=env, **kw)


def script(path, text, mode=0o755):
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.fixture
def bindir(tmp_path):
    """A directory with a copy of fieldrelay (a copy: /proc/self/exe of a symlink
    is the build directory) and an agent command fieldrelay-hello beside it."""
    d = tmp_path / "bin"
    d.mkdir()
    shutil.copy2(CLI, d / "fieldrelay")
    script(d / "fieldrelay-hello", HELLO.format(tag="beside"))
    return d


def lines(r):
    return r.stdout.decode().splitlines()


def test_agent_command_gets_the_global_options_then_its_args(bindir, tmp_path):
    cli, hello = bindir / "fieldrelay", str(bindir / "fieldrelay-hello")
    r = run(cli, "-s", "/run/x.sock", "-c", tmp_path / "n.conf", "--json", "--timeout", "2.5",
            "hello", "a", "b c", "--json", "-s")
    assert r.returncode == 0, r.stderr
    assert lines(r) == [hello, "--socket", "/run/x.sock", "--config", str(tmp_path / "n.conf"),
                        "--json", "--timeout", "2.5", "a", "b c", "--json", "-s", "from: beside"]
    # long forms and -j are the same options; none given: only the args
    r = run(cli, "--socket=/s", "-j", "-t0", "hello", "--", "x")
    assert lines(r) == [hello, "--socket", "/s", "--json", "--timeout", "0", "--", "x", "from: beside"]
    r = run(cli, "hello")
    assert r.returncode == 0 and lines(r) == [hello, "from: beside"] and r.stderr == b""


@pytest.mark.parametrize("status", [0, 1, 3, 42])
def test_agent_exit_status_is_fieldrelays(bindir, status):
    env = dict(os.environ, HELLO_EXIT=str(status))
    r = run(bindir / "fieldrelay", "hello", "x", env=env)
    assert r.returncode == status and lines(r)[-1] == "from: beside"


def test_agent_beside_fieldrelay_comes_before_path(bindir, tmp_path):
    on_path = tmp_path / "path"
    on_path.mkdir()
    script(on_path / "fieldrelay-hello", HELLO.format(tag="path"))
    script(on_path / "fieldrelay-other", HELLO.format(tag="path"))
    env = dict(os.environ, PATH=f"{on_path}:/usr/bin:/bin")
    cli = bindir / "fieldrelay"
    assert lines(run(cli, "hello", env=env))[-1] == "from: beside"
    r = run(cli, "-s", "/s", "other", "y", env=env)
    assert r.returncode == 0 and lines(r) == [str(on_path / "fieldrelay-other"), "--socket", "/s", "y",
                                             "from: path"]
    (bindir / "fieldrelay-hello").unlink()
    assert lines(run(cli, "hello", env=env))[-1] == "from: path"
    # a relative PATH entry would make what runs depend on the current directory: skipped
    r = run(cli, "hello", env=dict(os.environ, PATH="path:/usr/bin:/bin"), cwd=tmp_path)
    assert r.returncode == 2 and b"unknown command 'hello'" in r.stderr


def test_built_in_commands_win_over_programs_of_their_name(bindir, tmp_path):
    script(bindir / "fieldrelay-status", HELLO.format(tag="beside"))
    script(bindir / "fieldrelay-neighbours", HELLO.format(tag="beside"))
    for cmd in ("status", "neighbours"):
        r = run(bindir / "fieldrelay", "-s", tmp_path / "none.sock", cmd)
        assert r.returncode == 3 and b"fieldrelayd is not running" in r.stderr and b"from:" not in r.stdout
    agents = run(bindir / "fieldrelay", "help").stdout.decode().split("Agent commands")[1]
    agents = agents.split("\n\n")[0]
    assert "hello" in agents and "status" not in agents and "neighbours" not in agents


def test_unknown_command_fails_with_usage_status_and_a_hint(bindir):
    cli = bindir / "fieldrelay"
    script(bindir / "fieldrelay-noexec", HELLO.format(tag="beside"), mode=0o644)
    (bindir / "fieldrelay-dir").mkdir()
    for name in ("frobnicate", "noexec", "dir", "../bin/fieldrelay-hello", ""):
        r = run(cli, name)
        assert r.returncode == 2, name
        assert f"fieldrelay: unknown command '{name}'".encode() in r.stderr
        assert b"Try 'fieldrelay help'" in r.stderr and r.stdout == b""
    r = run(cli, "--json", "frobnicate", "x")
    assert r.returncode == 2
    assert json.loads(r.stdout) == {"ok": False, "error": "unknown command 'frobnicate'"}
    r = run(cli, "help", "frobnicate")
    assert r.returncode == 2 and b"unknown command 'frobnicate'" in r.stderr


def test_agent_that_cannot_be_run_is_reported(bindir):
    script(bindir / "fieldrelay-broken", "\x7fnot a program\n")
    r = run(bindir / "fieldrelay", "broken")
    assert r.returncode == 1
    assert f"cannot run {bindir / 'fieldrelay-broken'}: Exec format error".encode() in r.stderr


def test_help_lists_the_agent_commands_beside_fieldrelay(bindir):
    script(bindir / "fieldrelay-zulu", HELLO.format(tag="beside"))
    script(bindir / "fieldrelay-alpha", HELLO.format(tag="beside"))
    script(bindir / "fieldrelay-noexec", HELLO.format(tag="beside"), mode=0o644)
    for args in (["help"], ["--help"]):
        text = run(bindir / "fieldrelay", *args).stdout.decode()
        agents = text.split(f"Agent commands (programs fieldrelay-NAME in {bindir}):\n")[1].split("\n\n")[0]
        assert [l.split()[0] for l in agents.splitlines()] == ["alpha", "hello", "zulu"]
    # no agents beside the build's fieldrelay in this test: no such section
    lonely = bindir.parent / "lonely"
    lonely.mkdir()
    shutil.copy2(CLI, lonely / "fieldrelay")
    r = run(lonely / "fieldrelay", "help")
    assert r.returncode == 0 and b"Agent commands (" not in r.stdout
    # an agent command's help is its own
    r = run(bindir / "fieldrelay", "help", "hello")
    assert r.returncode == 0 and lines(r) == [str(bindir / "fieldrelay-hello"), "--help", "from: beside"]


def commands_listed():
    text = run(CLI, "help").stdout.decode()
    block = text.split("Commands:\n")[1].split("\n\n")[0]
    return [l.split()[0] for l in block.splitlines()]


def test_the_command_list_is_the_table():
    listed = commands_listed()
    assert set(BUILT_IN) <= set(listed) and len(listed) == len(set(listed)), listed
    assert listed[-1] == "help"
    top = run(CLI, "--help")
    assert top.returncode == 0 and top.stdout == run(CLI, "help").stdout
    assert b"fieldrelay-COMMAND" in top.stdout and b"PATH" in top.stdout
    bare = run(CLI)
    assert bare.returncode == 2 and bare.stdout == b"" and bare.stderr == top.stdout


def check_help(cmd, tmp_path):
    # -s to a socket that is not there: help never talks to the daemon
    r = run(CLI, "-s", tmp_path / "none.sock", cmd, "--help")
    assert r.returncode == 0 and r.stderr == b"", cmd
    text = r.stdout.decode()
    name = "neighbors" if cmd == "neighbours" else cmd
    assert text.startswith(f"fieldrelay {name} - "), cmd
    for section in ("\nUsage:\n", "\nDescription:\n", "\nOptions:\n", "\nExit status:\n"):
        assert section in text, section
    assert f"  fieldrelay [-s SOCKET | -c CONFIG] {name}" in text or f"  fieldrelay {name}" in text
    assert "-h, --help" in text
    assert max(len(l) for l in text.splitlines()) <= 80
    assert run(CLI, "help", cmd).stdout == r.stdout
    assert run(CLI, cmd, "-h").stdout == r.stdout


@pytest.mark.parametrize("cmd", BUILT_IN + ["neighbours"])
def test_every_command_has_its_help(cmd, tmp_path):
    check_help(cmd, tmp_path)


def test_every_command_in_the_list_has_its_help(tmp_path):
    for cmd in commands_listed():
        check_help(cmd, tmp_path)


def test_help_after_a_commands_options():
    send = run(CLI, "send", "--help").stdout
    assert b"--supersede KEY" in send and b"--batch" in send
    assert run(CLI, "send", "-p", "urgent", "--help").stdout == send
    recv = run(CLI, "recv", "--help").stdout
    assert b"--output DIR" in recv
    assert run(CLI, "recv", "-n", "3", "-h").stdout == recv
    bundle = run(CLI, "bundle", "--help")
    assert run(CLI, "bundle", "dump", "--help").stdout == bundle.stdout
    assert b"dump [--json] FILE" in bundle.stdout
    assert run(CLI, "neighbours", "--help").stdout == run(CLI, "neighbors", "--help").stdout
    # after the words of a message, --help is text: sent, not help
    r = run(CLI, "-s", "/nonexistent/fieldrelay.sock", "send", "ipn:1.5", "--help")
    assert r.returncode == 3


def test_usage_errors_point_to_the_commands_help():
    r = run(CLI, "recv", "-n", "0", "5")
    assert r.returncode == 2 and b"Try 'fieldrelay recv --help'." in r.stderr
    r = run(CLI, "--timeout", "x", "status")
    assert r.returncode == 2 and b"Try 'fieldrelay --help'." in r.stderr
