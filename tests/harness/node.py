"""Real fieldrelayd processes for integration tests, and talking to them.

Each Node gets its own directory, config, store and control socket.  A Node
is stopped by stop() (SIGTERM, the exit status checked by the caller), or by
kill() / leaving its with block / harness.stop_all() at the end of a test
(SIGKILL, whatever state it is in).
"""
import json
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

from .agent import start_agent
from .paths import CLI, DAEMON, wait_for

KEY = "1 " + "5a" * 32 + " send\n"     # the network key most tests give their nodes


class Node:
    """fieldrelayd node_id in base/node<id> (or base/<name>): config, store,
    control socket and log there; extra is appended to the config.  Not
    started until start()."""

    def __init__(self, base: Path, node_id: int, extra: str = "", name=None):
        self.dir = base / (name or f"node{node_id}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.id = node_id
        self.conf = self.dir / "fieldrelay.conf"
        self.sock = self.dir / "control.sock"
        self.db = self.dir / "bundles.db"
        self.log = self.dir / "daemon.log"
        self.proc = None
        self.netns = None      # run inside this network namespace
        self.write_config(extra)

    def write_key(self, text):
        """The network key file (mode 0600, as the daemon demands); its path."""
        key = self.dir / "network.key"
        key.write_text(text)
        os.chmod(key, 0o600)
        return key

    def write_config(self, extra=""):
        self.conf.write_text(
            f"[node]\nid = {self.id}\nname = test{self.id}\ndata_dir = {self.dir}\n"
            f"[control]\nsocket = {self.sock}\n[log]\nlevel = info\n{extra}")

    def start(self, env=None, preexec=None):
        assert self.proc is None or self.proc.poll() is not None
        if self.proc and not self.logf.closed:
            self.logf.close()               # the last run ended on its own
        self.logf = open(self.log, "ab")
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(prefix + [str(DAEMON), "-d", "-c", str(self.conf)],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=env, preexec_fn=preexec)
        wait_for(self._ready, 30, f"fieldrelayd {self.id} to listen")
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"fieldrelayd exited with {self.proc.returncode}:\n{self.log_text()}")
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(str(self.sock))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self):
        """SIGKILL if it runs; always safe (a fixture's last word)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc and not self.logf.closed:
            self.logf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.logf.close()

    def stop(self, timeout=30):
        """SIGTERM; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.logf.close()
        return rc

    def cli(self, *args, input=None, check=True, timeout=120):
        r = subprocess.run([str(CLI), "-s", str(self.sock), *map(str, args)],
                           input=input, capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"fieldrelay {' '.join(map(str, args))} -> {r.returncode}\n"
                                 f"stdout: {r.stdout[-2000:]!r}\nstderr: {r.stderr[-2000:]!r}")
        return r

    def cli_json(self, *args, **kw):
        r = self.cli("--json", *args, **kw)
        return [json.loads(l) for l in r.stdout.decode().splitlines() if l.strip()]

    def status(self):
        return self.cli_json("status")[0]

    def recv_all(self, service, **kw):
        return self.cli_json("recv", service, **kw)

    def start_agent(self, name, **kw):
        """Agent fieldrelay-NAME started on this node's config (harness.agent)."""
        return start_agent(name, self.conf, netns=self.netns, log=self.dir / f"{name}.log", **kw)


def cli_seconds(node, n=3):
    """How long one CLI request to node takes right now (the median of n
    `status` calls).  A delay a test measures through the CLI includes this
    much per call of its own tooling, which a busy machine stretches (a
    process start, an ASan daemon's answer): a timing bound adds it,
    measured in the same run, instead of a guess at the machine's load."""
    times = []
    for _ in range(n):
        t = time.monotonic()
        node.cli("status")
        times.append(time.monotonic() - t)
    return sorted(times)[n // 2]


class Control:
    """A raw control-protocol connection (for pipelining and bad input)."""

    def __init__(self, node):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(str(node.sock))
        self.buf = b""

    def send(self, obj, body=b""):
        if body:
            obj = dict(obj, body=len(body))
        data = json.dumps(obj).encode()
        self.s.sendall(struct.pack(">I", len(data)) + data + body)

    def raw(self, data):
        self.s.sendall(data)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("daemon closed the connection")
            self.buf += chunk

    def recv(self):
        self._need(4)
        n = struct.unpack(">I", self.buf[:4])[0]
        self._need(4 + n)
        msg = json.loads(self.buf[4:4 + n])
        self.buf = self.buf[4 + n:]
        if "body" in msg:
            self._need(msg["body"])
            msg["payload"] = self.buf[:msg["body"]]
            self.buf = self.buf[msg["body"]:]
        return msg

    def close(self):
        self.s.close()
