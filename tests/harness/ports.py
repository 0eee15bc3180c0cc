"""Ports for the daemons and emulators a test starts (free_ports)."""
import os
import random
import socket
from pathlib import Path


# ---- ports ------------------------------------------------------------------
#
# A port a test hands to a daemon must not be taken between the test choosing
# it and the daemon binding it.  The kernel hands out its ephemeral range
# (ip_local_port_range) to every connect() and bind(port 0) on the machine, so
# ports are chosen outside it; and a second test run beside this one (another
# make check, another engineer) probes the same ranges, so each port given out
# is also reserved by an abstract unix socket named for it (no file to clean
# up; the kernel frees it when the process dies).

_PORT_LOCK = "fieldrelay-test-port-%d"
_held = []                              # (port, lock socket) given out since the last release
_rng = random.Random(os.urandom(16))    # not the tests' random, which some seed


def _ephemeral_range():
    try:
        lo, hi = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999             # Linux's default


def _port_candidates():
    lo, hi = _ephemeral_range()
    ports = [p for p in range(20000, 65536) if not lo <= p <= hi]
    return ports or list(range(20000, 65536))


def _port_free(port):
    """Nothing on this machine has port bound, UDP or TCP, IPv4 or IPv6."""
    probes = [(socket.AF_INET, "0.0.0.0")]
    if socket.has_ipv6:
        probes.append((socket.AF_INET6, "::"))
    for family, host in probes:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            try:
                s = socket.socket(family, kind)
            except OSError:
                continue                # no IPv6 here: nothing to collide with
            try:
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((host, port))
            except OSError:
                return False
            finally:
                s.close()
    return True


def free_ports(n=1):
    """n distinct ports, free for UDP and TCP, outside the kernel's ephemeral
    range, and reserved against other test processes until release_ports()
    (the harness fixtures call it after every test).  A list, in no
    order: do not assume base + 1 is free."""
    got = []
    cands = _port_candidates()
    start = _rng.randrange(len(cands))
    for i in range(len(cands)):
        port = cands[(start + i) % len(cands)]
        lock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            lock.bind("\0" + _PORT_LOCK % port)
        except OSError:
            lock.close()                # another test (run) has it
            continue
        if not _port_free(port):
            lock.close()
            continue
        _held.append((port, lock))
        got.append(port)
        if len(got) == n:
            return got
    raise AssertionError(f"no {n} free ports outside the ephemeral range")


def free_port():
    """One port, as free_ports(1)."""
    return free_ports(1)[0]


def release_ports():
    """Let other test processes have the ports given out so far (the daemons
    that were given them hold them now, or are gone)."""
    while _held:
        _held.pop()[1].close()


