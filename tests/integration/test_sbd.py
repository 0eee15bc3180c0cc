"""Iridium SBD: the driver (radio/sbd.c, through sbdtool) against the modem and gateway
simulator (tests/sim/sbdsim) on a real pty, with a command center's DirectIP listener.

Simulated time runs 50 times faster (--time-factor 0.02): a 10-20 s session takes
0.2-0.4 s; the driver's timers are given in real milliseconds to match.
"""
import os
import time
import tty


from harness import free_port, wait_for
from harness.sbd import (IMEI, MoListener, SbdDriver, SbdSim, directip_mt, parse_mo,
                 send_mt)

# The driver's timers for a 50x faster world (real ms): backoff 10 s..160 s simulated.
FAST = dict(backoff="200:3200", signal_poll=200, command_timeout=2000, session_timeout=5000,
            restart="200:1600")


def test_sim_answers_like_a_9602(tmp_path):
    """The simulator itself, spoken to directly: result codes of the reference."""
    with SbdSim(tmp_path, delay="5") as sim:
        fd = os.open(sim.link, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        buf = b""

        def say(data, expect, timeout=5):
            nonlocal buf
            os.write(fd, data)
            deadline = time.monotonic() + timeout
            os.set_blocking(fd, False)
            try:
                while expect not in buf:
                    assert time.monotonic() < deadline, f"{data!r}: got {buf!r}"
                    try:
                        buf += os.read(fd, 4096)
                    except BlockingIOError:
                        time.sleep(0.01)
            finally:
                os.set_blocking(fd, True)
            got, buf = buf.split(expect, 1)
            return got + expect

        try:
            assert say(b"AT\r", b"OK\r\n") == b"AT\r\r\nOK\r\n"          # echo after power-up
            assert say(b"ATE0\r", b"OK\r\n") == b"ATE0\r\r\nOK\r\n"
            assert say(b"AT+CGSN\r", b"OK\r\n") == f"\r\n{IMEI}\r\n\r\nOK\r\n".encode()
            assert say(b"AT+SBDWB=341\r", b"OK\r\n") == b"\r\n3\r\n\r\nOK\r\n"
            assert say(b"AT+SBDWB=3\r", b"READY\r\n") == b"\r\nREADY\r\n"
            assert say(b"abc\x00\x00", b"OK\r\n") == b"\r\n2\r\n\r\nOK\r\n"  # bad checksum
            assert say(b"AT+SBDWB=3\r", b"READY\r\n") == b"\r\nREADY\r\n"
            # too few bytes: "1" after the modem's 60 s (1.2 s here)
            assert say(b"ab", b"OK\r\n") == b"\r\n1\r\n\r\nOK\r\n"
            assert say(b"AT+SBDWB=3\r", b"READY\r\n") == b"\r\nREADY\r\n"
            assert say(b"abc\x01\x26", b"OK\r\n") == b"\r\n0\r\n\r\nOK\r\n"  # 97+98+99 = 0x126
            assert say(b"AT+SBDRB\r", b"OK\r\n") == b"\x00\x00\x00\x00\r\nOK\r\n"  # empty MT
            assert say(b"AT+SBDIX\r", b"OK\r\n") == b"\r\n+SBDIX: 0, 0, 0, 0, 0, 0\r\n\r\nOK\r\n"
            # the MO buffer is kept: a second session sends "abc" again (MOMSN 1)
            assert say(b"AT+SBDIX\r", b"OK\r\n") == b"\r\n+SBDIX: 0, 1, 0, 0, 0, 0\r\n\r\nOK\r\n"
            assert say(b"AT+SBDD0\r", b"OK\r\n") == b"\r\n0\r\n\r\nOK\r\n"
            sim.ok("signal 0")
            assert say(b"AT+CSQ\r", b"OK\r\n") == b"\r\n+CSQ:0\r\n\r\nOK\r\n"
            assert say(b"AT+SBDIX\r", b"OK\r\n") == b"\r\n+SBDIX: 32, 2, 0, 0, 0, 0\r\n\r\nOK\r\n"
            sim.ok("signal 4")
            sim.ok("fail 35")
            assert say(b"AT+SBDIX\r", b"OK\r\n") == b"\r\n+SBDIX: 35, 2, 0, 0, 0, 0\r\n\r\nOK\r\n"
            assert say(b"AT+SBDMTA=1\r", b"OK\r\n") == b"\r\nOK\r\n"
            sim.ok("mt 686921")
            assert say(b"", b"SBDRING\r\n") == b"\r\nSBDRING\r\n"
            assert say(b"AT+SBDIXA\r", b"OK\r\n") == b"\r\n+SBDIX: 0, 2, 1, 1, 3, 0\r\n\r\nOK\r\n"
            assert say(b"AT+SBDRB\r", b"OK\r\n") == b"\x00\x03hi!\x00\xf2\r\nOK\r\n"
            assert say(b"AT+FOO\r", b"ERROR\r\n") == b"\r\nERROR\r\n"
        finally:
            os.close(fd)
        st = sim.stats()
        assert (st["sessions"], st["sessions_ok"], st["sessions_failed"]) == (5, 3, 2)
        # "abc" went twice; the session answering the ring had an empty MO buffer
        assert st["mo_received"] == 2 and st["bad_checksums"] == 1


def check_directip(m):
    """What radio/directip.c decoded matches a decoding by hand of the raw bytes."""
    raw = parse_mo(bytes.fromhex(m["raw"]))
    for k in ("imei", "momsn", "mtmsn", "status", "cdr", "time"):
        assert raw[k] == m[k], (k, raw, m)
    assert (raw["payload"].hex() if raw["payload"] is not None else None) == m.get("payload")


def test_mo_exactly_once(tmp_path):
    """20 messages of 1-340 bytes through failing sessions, a command center that comes up
    late, and a gateway that delivers everything twice: each arrives once after the
    IMEI+MOMSN filter, and each "delivered" (the hop ack) names the MOMSN it arrived with."""
    port = free_port()
    sent = {}
    with SbdSim(tmp_path, mo_port=port, delay="5:10",
                args=["--dup-mo", "--fail", "18x2", "--fail-rate", "0.25:35", "--seed", "7"]) as sim, \
            SbdDriver(tmp_path, sim.link, **FAST) as drv:
        for i in range(1, 21):
            size = 340 if i == 20 else 1 + (i * 53) % 340
            sent[i] = bytes((i * 37 + k) % 256 for k in range(size))
            drv.send(i, sent[i], prio=1 + i % 6)
        # nobody listens yet: the gateway keeps the messages and tries again
        wait_for(lambda: sim.stats()["mo_failed_attempts"] >= 1, 30, "a failed MO delivery")
        with MoListener(tmp_path, port) as cc:
            delivered = drv.wait_event("delivered", count=20, timeout=90)
            wait_for(lambda: sim.stats()["mo_pending"] == 0, 30, "the gateway's queue to empty")
            wait_for(lambda: len(cc.messages()) == 40, 10, "40 DirectIP deliveries")
            msgs = cc.messages()
        st, sst = drv.stats(), sim.stats()

    assert sorted(e["id"] for e in delivered) == list(range(1, 21))
    fresh = [m for m in msgs if not m["dup"]]
    dups = [m for m in msgs if m["dup"]]
    assert len(fresh) == 20 and len(dups) == 20
    for m in msgs:
        check_directip(m)
        assert m["imei"] == IMEI and m["status"] == 0
    by_momsn = {m["momsn"]: bytes.fromhex(m["payload"]) for m in fresh}
    assert len(by_momsn) == 20
    for e in delivered:
        assert by_momsn[e["momsn"]] == sent[e["id"]], e
    for m in dups:
        assert bytes.fromhex(m["payload"]) == by_momsn[m["momsn"]]
    # the failures were real sessions, and every one was retried
    assert st["sessions_failed"] >= 2 and st["sessions_failed"] == sst["sessions_failed"]
    assert st["sessions_ok"] == 20 == sst["sessions_ok"]
    assert st["mo_messages"] == 20 and st["mo_bytes"] == sum(len(v) for v in sent.values())
    assert sst["mo_failed_attempts"] >= 1 and st["queued"] == 0
    # driver and modem agreed on every line
    assert st["bad_lines"] == 0 and st["errors"] == 0 and sst["bad_commands"] == 0


def test_backoff_doubles(tmp_path):
    """Three failed sessions: the retries wait 0.5, 1 and 2 s (backoff 500 ms doubling)."""
    with SbdSim(tmp_path, delay="5", args=["--fail", "18", "--fail", "17", "--fail", "35"]) as sim, \
            SbdDriver(tmp_path, sim.link, **dict(FAST, backoff="500:8000")) as drv:
        drv.send(1, b"position 47.1N 8.5E")
        drv.wait_event("delivered", id=1, timeout=30)
        sessions = sim.events("session")
        st, sst = drv.stats(), sim.stats()
    assert [s["mo_status"] for s in sessions] == [18, 17, 35, 0]
    ends = [s["t"] for s in sessions]
    for i, backoff in enumerate((0.5, 1.0, 2.0)):
        gap = ends[i + 1] - ends[i]
        # the backoff, then AT+CSQ and a 0.1 s session; the upper bound only guards
        # against a runaway (a loaded machine may be slow, never early)
        assert backoff + 0.1 <= gap < backoff + 3.0, (i, gap)
    assert sst["writes"] == 1, "the message stays loaded in the modem across retries"
    assert st["sessions_failed"] == 3 and st["last_mo_status"] == 0


def test_no_session_without_signal(tmp_path):
    port = free_port()
    with MoListener(tmp_path, port) as cc, \
            SbdSim(tmp_path, mo_port=port, delay="5", signal_=0) as sim, \
            SbdDriver(tmp_path, sim.link, **FAST) as drv:
        drv.send(1, b"ALERT: injured hiker")
        # the driver keeps asking for the signal (every 200 ms) and never starts a session
        wait_for(lambda: sim.stats()["commands"] >= 6 + 8, 20, "repeated AT+CSQ polls")
        st = wait_for(lambda: (s := drv.stats())["state"] == "no signal" and s, 10, "no signal")
        assert st["signal"] == 0 and st["queued"] == 1
        assert sim.stats()["sessions"] == 0
        assert not drv.find("delivered")
        sim.ok("signal 2")
        drv.wait_event("delivered", id=1, timeout=20)
        wait_for(lambda: len(cc.messages()) == 1, 10, "the message at the command center")
        assert bytes.fromhex(cc.messages()[0]["payload"]) == b"ALERT: injured hiker"
        sst = sim.stats()
        assert sst["sessions"] == 1 and sst["sessions_failed"] == 0


def test_mt_after_ring_alert(tmp_path):
    """MT messages queued through DirectIP ring the modem; the driver answers with
    AT+SBDIXA, reads them, and keeps checking while more wait.  Mailbox checks never
    send the last MO message again (AT+SBDD0 first)."""
    port = free_port()
    with MoListener(tmp_path, port) as cc, \
            SbdSim(tmp_path, mo_port=port, delay="5:10") as sim, \
            SbdDriver(tmp_path, sim.link, **FAST) as drv:
        drv.send(1, b"team 3 at waypoint 12")
        drv.wait_event("delivered", id=1, timeout=20)

        c = send_mt(sim.mt_port, directip_mt(b"return to base", client_id=77))
        assert c["status"] == 1 and c["client_id"] == 77 and c["imei"] == IMEI
        got = drv.wait_event("received", timeout=20)
        assert bytes.fromhex(got[0]["hex"]) == b"return to base"

        # three at once: one ring, then the driver keeps going while "MT queued" > 0
        for i in range(3):
            c = send_mt(sim.mt_port, directip_mt(f"order {i}".encode(), client_id=100 + i))
            assert c["status"] >= 1, c
        got = drv.wait_event("received", count=4, timeout=30)
        assert [bytes.fromhex(e["hex"]) for e in got[1:]] == [b"order 0", b"order 1", b"order 2"]
        assert [e["mtmsn"] for e in got] == [1, 2, 3, 4]

        # what the gateway refuses
        assert send_mt(sim.mt_port, directip_mt(b"x", imei="300234010753371"))["status"] == -2
        assert send_mt(sim.mt_port, directip_mt(bytes(271)))["status"] == -3
        assert send_mt(sim.mt_port, directip_mt(None))["status"] == -4
        assert send_mt(sim.mt_port, b"\x02\x00\x00")["status"] == -7
        # every ring the gateway sent was heard
        wait_for(lambda: drv.stats()["rings"] == sim.stats()["rings"], 10, "rings heard")
        st, sst = drv.stats(), sim.stats()
        msgs = cc.messages()
    assert st["mt_messages"] == 4 and st["mt_bytes"] == 14 + 3 * 7
    assert sst["answers"] >= 1 and st["rings"] >= 1
    assert sst["mt_rejected"] == 4 and sst["mt_queued"] == 0
    # one MO message sent, one arrived: the mailbox checks did not repeat it
    assert len(msgs) == 1 and bytes.fromhex(msgs[0]["payload"]) == b"team 3 at waypoint 12"
    assert sst["mo_received"] == 1 and st["mailbox_checks"] >= 1
    assert st["bad_lines"] == 0 and st["errors"] == 0 and sst["bad_commands"] == 0


def test_mailbox_interval_without_ring_alerts(tmp_path):
    with SbdSim(tmp_path, delay="5") as sim, \
            SbdDriver(tmp_path, sim.link, no_ring=True, mailbox_interval=1000, **FAST) as drv:
        drv.wait_event("link", up=True)
        wait_for(lambda: sim.stats()["mailbox_checks"] >= 1, 10, "the check at start-up")
        sim.ok("mt 6669727374")
        got = drv.wait_event("received", timeout=20)
        assert bytes.fromhex(got[0]["hex"]) == b"first"
        sst = sim.stats()
    assert sst["rings"] == 0 and sst["answers"] == 0 and not sst["ring_alerts"]
    assert sst["mailbox_checks"] >= 2       # the one at start-up, then one a second later


def test_budget(tmp_path):
    """3 messages per 3 s period: the rest wait for the next period; billed at least
    10 bytes each in 10-byte units at 7 per unit."""
    with SbdSim(tmp_path, delay="5") as sim, \
            SbdDriver(tmp_path, sim.link, budget_messages=3, budget_period=3000, bill="10:10",
                      price=7, **FAST) as drv:
        start = drv.find("started")[0]["t"]
        for i in range(1, 7):
            drv.send(i, f"pos {i}".encode())
        first = drv.wait_event("delivered", count=3, timeout=20)
        time.sleep(0.5)
        st = drv.stats()
        if st["t"] < start + 2.9:           # still inside the first period
            assert len(drv.find("delivered")) == 3
            assert st["budget_spent"] and st["state"] == "budget spent" and st["queued"] == 3
            assert sim.stats()["sessions"] == 3
        allofthem = drv.wait_event("delivered", count=6, timeout=20)
        st = drv.stats()
    assert all(e["t"] < start + 3.0 for e in first)
    assert all(e["t"] >= start + 3.0 - 0.05 for e in allofthem[3:])
    assert st["mo_messages"] == 6
    assert st["billed_bytes"] == 60 and st["cost"] == 42


def test_modem_failures(tmp_path):
    """A modem that stops answering, answers ERROR to everything, restarts on its own,
    or whose device disappears: reported, retried with backoff, nothing lost or doubled."""
    port = free_port()
    with MoListener(tmp_path, port) as cc, \
            SbdSim(tmp_path, mo_port=port, delay="5") as sim, \
            SbdDriver(tmp_path, sim.link, **dict(FAST, command_timeout=500)) as drv:
        drv.wait_event("link", up=True)

        sim.ok("mute on")
        drv.send(1, b"one")
        down = drv.wait_event("link", up=False, timeout=20)
        assert down[0]["why"] == "no answer to AT+CSQ within 500 ms"
        wait_for(lambda: drv.stats()["restarts"] >= 2, 20, "restarts while mute")
        assert drv.stats()["state"] in ("down", "starting")
        sim.ok("mute off")
        drv.wait_event("delivered", id=1, timeout=20)

        sim.ok("errors on")
        drv.send(2, b"two")
        down = drv.wait_event("link", up=False, count=2, timeout=20)
        # AT+CSQ and AT+CIER are informational (worked around, issue 11 item 6): the
        # restart comes from the first command a session needs.
        assert down[1]["why"] == "the modem answers ERROR to AT+SBDWB= 3 times in a row"
        sim.ok("errors off")
        drv.wait_event("delivered", id=2, timeout=20)

        sim.ok("unplug")
        down = drv.wait_event("link", up=False, count=3, timeout=20)
        assert down[2]["why"].startswith(f"device {sim.link}: read: ")
        drv.send(3, b"three")
        wait_for(lambda: "open: No such file or directory" in drv.stats()["last_error"], 20,
                 "a failed reopen")
        sim.ok("plug")
        drv.wait_event("delivered", id=3, timeout=20)

        sim.ok("reboot")         # echo back on, ring alerts off
        drv.send(4, b"four")
        down = drv.wait_event("link", up=False, count=4, timeout=20)
        assert down[3]["why"] == "the modem echoes commands again: it restarted"
        drv.wait_event("delivered", id=4, timeout=20)
        assert sim.stats()["ring_alerts"], "the restart sets ring alerts up again"

        wait_for(lambda: len(cc.messages()) == 4, 20, "4 messages at the command center")
        payloads = sorted(bytes.fromhex(m["payload"]) for m in cc.messages())
        st = drv.stats()
    assert payloads == [b"four", b"one", b"three", b"two"]
    assert len(drv.find("delivered")) == 4
    assert len(drv.find("link", up=True)) == 5 and st["state"] == "ready"
    assert st["restarts"] >= 4 and st["timeouts"] >= 3
