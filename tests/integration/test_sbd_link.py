"""Issue 5 test (b): a backpack whose only link is an Iridium SBD modem reaches the
command center, through the modem + gateway simulator (tests/sim/sbdsim).

The backpack (node 5) drives the simulated modem with a `type = sbd` link; the
command center (node 1) has a `type = directip` link: the simulated gateway
delivers MO messages to its port and takes its MT messages on the gateway's
DirectIP port.  Sessions take 10-20 simulated seconds at a time factor of 0.02.
"""
import time

import pytest

from harness import wait_for
from harness.sbd import CC, UNIT, World, link, modem_ready


@pytest.fixture
def world(tmp_path):
    made = []

    def make(**kw):
        w = World(tmp_path, **kw)
        made.append(w)
        return w
    yield make
    for w in made:
        w.stop()


def send(n, dst, text, prio=None, keep=True):
    """keep: every report counts here (a track), so no newer position
    supersedes a waiting older one (the daemon's default for service 3)."""
    args = ["send"] + (["-p", prio] if prio else []) + (["--no-supersede"] if keep else []) + [dst, text]
    r = n.cli(*args)
    assert b"accepted" in r.stdout or r.returncode == 0


def recv(n, service, count, timeout=90):
    """Wait until count bundles arrived at service and take them."""
    return [g["text"] for g in n.cli_json("recv", "-n", count, "-w", service, timeout=timeout)]


def extra(n, service):
    """Whatever else waits at service (a second copy would)."""
    return [g["text"] for g in n.cli_json("recv", service)]


def test_positions_incident_and_alert(world):
    w = world()
    modem_ready(w)
    positions = [f"POS 5 {i:02d} 46.{5000 + i} 7.{1000 + i}" for i in range(6)]
    for p in positions:
        send(w.unit, f"ipn:{CC}.3", p)
    incident = "INCIDENT " + "".join(f"casualty {i}: walking wounded, sector B{i % 7}; " for i in range(18))
    assert len(incident) > 700
    send(w.unit, f"ipn:{CC}.5", incident)

    got = recv(w.cc, 3, len(positions))
    assert sorted(got) == sorted(positions)
    rep = recv(w.cc, 5, 1)
    assert rep == [incident]
    # Exactly once: nothing more arrives, and the backpack let go of everything.
    wait_for(lambda: link(w.unit)["sbd"]["bundles_waiting"] == 0 and link(w.unit)["sbd"]["queued"] == 0, 30,
             "the backpack to have nothing left for the modem")
    time.sleep(1.0)
    assert extra(w.cc, 3) == [] and extra(w.cc, 5) == []

    s = link(w.unit)["sbd"]
    # 6 positions and 3 fragments of the report, some sharing a message: fewer MO messages than bundles.
    assert s["bundles_tx"] >= 6 + 3, s
    assert s["mo_messages"] < s["bundles_tx"], s
    assert s["sessions_ok"] >= s["mo_messages"], s
    assert 0 < s["mo_bytes"] <= 340 * s["mo_messages"], s
    assert s["billed_bytes"] >= s["mo_bytes"] and s["cost"] > 0, s
    d = link(w.cc)["directip"]
    assert d["mo_received"] == s["mo_messages"], (d, s)
    assert d["bundles_rx"] == s["bundles_tx"], (d, s)

    # The command center's alert comes back as an MT message (ring alert, then a mailbox check).
    send(w.cc, f"ipn:{UNIT}.2", "EVACUATE SECTOR B NOW", prio="urgent")
    assert recv(w.unit, 2, 1) == ["EVACUATE SECTOR B NOW"]
    d = link(w.cc)["directip"]
    assert d["mt_sent"] >= 1 and d["bundles_tx"] == 1, d
    s = link(w.unit)["sbd"]
    assert s["mt_messages"] >= 1 and s["bundles_rx"] == 1, s
    out = w.unit.cli("links").stdout.decode()
    assert "modem" in out and "sessions" in out and "budget" in out, out
    out = w.cc.cli("links").stdout.decode()
    assert "DirectIP" in out and "MT" in out, out
    # A clean stop (and, in the sanitized build, nothing leaked).
    assert w.unit.stop() == 0, w.unit.log_text()[-3000:]
    assert w.cc.stop() == 0, w.cc.log_text()[-3000:]


def test_failed_sessions_retried_and_duplicates_dropped(world):
    """Sessions that fail are retried with backoff; a gateway that delivers every MO
    message twice (--dup-mo) still gives each bundle to the application once."""
    w = world(sim_args=["--dup-mo"])
    modem_ready(w)
    w.sim.ok("fail 32 3")       # no network service, three sessions in a row
    texts = [f"POS 5 retry {i}" for i in range(3)]
    for t in texts:
        send(w.unit, f"ipn:{CC}.3", t)
    assert sorted(recv(w.cc, 3, 3)) == sorted(texts)
    wait_for(lambda: link(w.cc)["directip"]["mo_duplicates"] >= link(w.unit)["sbd"]["mo_messages"], 30,
             "the gateway's second copies to arrive")
    time.sleep(0.5)
    assert extra(w.cc, 3) == []
    s = link(w.unit)["sbd"]
    assert s["sessions_failed"] >= 3, s
    assert s["bundles_tx"] == 3 and s["bundles_waiting"] == 0, s
    d = link(w.cc)["directip"]
    assert d["mo_received"] == s["mo_messages"] and d["bundles_rx"] == 3, (d, s)


def test_kill9_with_bundles_queued_loses_nothing(world):
    """No signal: bundles wait for the modem.  kill -9 of the backpack, restart, signal
    back: every one arrives, once."""
    w = world()
    modem_ready(w)
    w.sim.ok("signal 0")
    texts = [f"POS 5 kept {i}" for i in range(5)]
    for t in texts:
        send(w.unit, f"ipn:{CC}.3", t)
    send(w.unit, f"ipn:{CC}.2", "MAYDAY backpack 5", prio="urgent")
    wait_for(lambda: link(w.unit)["sbd"]["state"] == "no signal", 30, "the modem to see no signal")
    s = link(w.unit)["sbd"]
    assert s["mo_messages"] == 0 and s["queued"] + s["bundles_waiting"] >= 1, s
    w.unit.kill9()
    w.unit.proc = None
    w.unit.start()
    modem_ready(w)
    w.sim.ok("signal 5")
    assert recv(w.cc, 2, 1) == ["MAYDAY backpack 5"]
    assert sorted(recv(w.cc, 3, len(texts))) == sorted(texts)
    time.sleep(1.0)
    assert extra(w.cc, 3) == [] and extra(w.cc, 2) == []

    # Killed during a session: the gateway gets the message, the backpack never hears
    # so and sends the bundle again after its restart; the command center takes it once.
    w.sim.ok("delay 250")       # 5 s at this time factor
    st = w.sim.stats()
    send(w.unit, f"ipn:{CC}.3", "POS 5 mid-session")
    wait_for(lambda: w.sim.stats()["writes"] > st["writes"], 30, "the message to be loaded into the modem")
    time.sleep(1.0)             # AT+SBDIX follows at once; the session lasts 5 s (counted when it ends)
    assert w.sim.stats()["sessions"] == st["sessions"], "the session ended before the kill"
    w.unit.kill9()
    w.unit.proc = None
    assert recv(w.cc, 3, 1) == ["POS 5 mid-session"]     # the gateway delivered it anyway
    w.sim.ok("delay 10 20")
    w.unit.start()
    modem_ready(w)
    wait_for(lambda: link(w.unit)["sbd"]["bundles_tx"] >= 1, 60, "the backpack to send it again")
    wait_for(lambda: w.cc.cli_json("links")[0]["forwarding"]["duplicates"] >= 1, 30,
             "the command center's store to recognise the second copy")
    time.sleep(0.5)
    assert extra(w.cc, 3) == []


def test_positions_superseded_while_no_signal(world):
    """No signal: a unit's position reports queue for the modem.  Each newer one
    takes the older back from the link (from the modem's buffer too, as no
    session is running), so when the signal returns one position is paid for,
    and the message beside them still goes."""
    w = world()
    modem_ready(w)
    w.sim.ok("signal 0")
    fixes = [f"FIX 5 {i} 46.{5000 + i} 7.{1000 + i}" for i in range(5)]
    send(w.unit, f"ipn:{CC}.3", fixes[0], prio="position", keep=False)
    wait_for(lambda: link(w.unit)["sbd"]["state"] == "no signal", 30, "the modem to see no signal")
    for f in fixes[1:]:
        send(w.unit, f"ipn:{CC}.3", f, prio="position", keep=False)
    send(w.unit, f"ipn:{CC}.4", "SUPPLIES low at shelter 3")
    wait_for(lambda: w.unit.status()["store"]["bundles"] == 2, 30, "the older fixes to be superseded")
    w.sim.ok("signal 5")
    assert recv(w.cc, 3, 1) == [fixes[-1]]
    assert recv(w.cc, 4, 1) == ["SUPPLIES low at shelter 3"]
    wait_for(lambda: w.unit.status()["store"]["bundles"] == 0, 30, "the backpack to let go")
    time.sleep(1.0)
    assert extra(w.cc, 3) == []
    s = link(w.unit)["sbd"]
    print(f"5 fixes and a message queued without signal: {s['mo_messages']} MO message(s), "
          f"{s['bundles_tx']} bundle(s) sent")
    assert s["bundles_tx"] == 2, s


def test_budget_stops_sending(world):
    """A budget of 2 messages a day: the third message waits, and `links` says why."""
    w = world(unit_extra="budget = 2 messages/day\n")
    modem_ready(w)
    for i in range(2):
        send(w.unit, f"ipn:{CC}.3", f"POS 5 budget {i}")
        assert recv(w.cc, 3, 1) == [f"POS 5 budget {i}"]
    send(w.unit, f"ipn:{CC}.3", "POS 5 budget over")
    wait_for(lambda: link(w.unit)["sbd"]["budget_spent"], 30, "the budget to be spent")
    s = link(w.unit)["sbd"]
    assert s["state"] == "budget spent", s
    assert s["budget_messages"] == 2 and s["budget_used_messages"] == 2 and s["budget_left_messages"] == 0, s
    assert s["mo_messages"] == 2 and s["queued"] == 1, s
    time.sleep(2.0)    # sessions take 0.2-0.4 s here: it would have arrived
    assert extra(w.cc, 3) == []
    assert link(w.unit)["sbd"]["mo_messages"] == 2
    out = w.unit.cli("links").stdout.decode()
    assert "SPENT" in out and "0 messages left" in out, out
    # Stopped with a message at the modem: a clean stop, and the bundle is still stored.
    assert w.unit.stop() == 0, w.unit.log_text()[-3000:]
    w.unit.proc = None
    w.unit.start()
    q = w.unit.cli("queue").stdout.decode()
    assert "position           1" in q, q


def test_reused_momsn_delivered_redelivery_dropped(world):
    """Issue 11 item 1: a MOMSN says nothing about content.  The modem's MOMSN is
    cleared (AT+SBDC) before every message, then another modem is swapped in under
    the same IMEI: every one of 20 messages is a new message with a reused MOMSN and
    arrives.  A real re-delivery by the gateway (same MOMSN, same payload) is still
    dropped, once, logged and counted."""
    w = world()
    modem_ready(w)
    texts = [f"POS 5 momsn {i:02d}" for i in range(20)]
    for i, t in enumerate(texts):
        w.sim.ok("swap" if i == 10 else "sbdc")
        if i == 10:
            modem_ready(w)
        send(w.unit, f"ipn:{CC}.3", t)
        assert recv(w.cc, 3, 1, timeout=60) == [t], f"message {i} with a reused MOMSN"
    sessions = [e for e in w.sim.events("session") if e["mo_len"] > 0 and e["mo_status"] == 0]
    # (a mailbox check between the clear and the message may count the MOMSN up once)
    assert len(sessions) == 20 and {e["momsn"] for e in sessions} <= {0, 1}, sessions
    d = link(w.cc)["directip"]
    assert d["mo_received"] == 20 and d["mo_duplicates"] == 0 and d["bundles_rx"] == 20, d

    delivered = len(w.sim.events("mo_delivered"))
    w.sim.ok("redeliver")
    wait_for(lambda: len(w.sim.events("mo_delivered")) > delivered, 30, "the gateway's second copy")
    wait_for(lambda: link(w.cc)["directip"]["mo_duplicates"] == 1, 30, "the second copy to be dropped")
    assert extra(w.cc, 3) == []
    d = link(w.cc)["directip"]
    assert d["mo_received"] == 20 and d["bundles_rx"] == 20, d
    assert "delivered it again" in w.cc.log_text(), w.cc.log_text()[-2000:]


@pytest.mark.parametrize("refused,source", [(["+CSQ"], "ciev"), (["+CSQ", "+CIER"], "session")])
def test_modem_refusing_signal_commands_still_sends(world, refused, source):
    """Issue 11 item 6: a modem that answers ERROR to AT+CSQ (and to AT+CIER) is not
    restarted for it: the signal comes from +CIEV events, or the sessions judge;
    messages go, wait while there is no signal, and go again when it is back."""
    args = []
    for r in refused:
        args += ["--refuse", r]
    w = world(sim_args=args)
    modem_ready(w)
    texts = [f"POS 5 csq {i}" for i in range(3)]
    for t in texts:
        send(w.unit, f"ipn:{CC}.3", t)
    assert sorted(recv(w.cc, 3, 3, timeout=60)) == sorted(texts)
    assert link(w.unit)["sbd"]["signal_source"] == source, link(w.unit)["sbd"]

    w.sim.ok("signal 0")
    if source == "ciev":
        wait_for(lambda: link(w.unit)["sbd"]["state"] == "no signal", 30, "the +CIEV event to say no signal")
    send(w.unit, f"ipn:{CC}.3", "POS 5 after the fade")
    w.sim.ok("signal 5")
    assert recv(w.cc, 3, 1, timeout=60) == ["POS 5 after the fade"]
    log = w.unit.log_text()
    assert "restarting the modem" not in log, log[-3000:]
    assert log.count("answers ERROR to AT+CSQ") == 1, log[-3000:]
    st = w.sim.stats()
    assert st["errors_sent"] <= 2 * len(refused), st


def fill_store(n, tmp, dst):
    """Bundles for dst (a service no one reads) until even a small one is refused; how many."""
    stored = 0
    for size in (100_000, 10_000, 1000, 100, 10):
        f = tmp / f"fill{size}.bin"
        f.write_bytes(b"f" * size)
        for _ in range(60):
            r = n.cli("send", "-p", "message", "-f", f, dst, check=False)
            if r.returncode != 0:
                assert b"quota" in r.stderr, r.stderr
                break
            stored += 1
        else:
            raise AssertionError(f"the quota never refused a {size}-byte bundle")
    return stored


def test_mt_bundle_refused_by_full_store_arrives_once(world, tmp_path):
    """Issue 11 item 2: the unit's store is full and refuses an MT bundle.  The command
    center does not let go on the gateway's confirmation: the unit's nack (an ack
    record in a later MO message) makes it send the bundle again, and once room is
    free it arrives, exactly once, and its ack lets the command center go."""
    w = world(unit_extra="ack_hold = 1s\n[store]\nquota = 2M\nreserve = 256K\n")
    modem_ready(w)
    filled = fill_store(w.unit, tmp_path, f"ipn:{UNIT}.9")
    assert filled >= 5
    text = "ORDER for backpack 5: hold position at shelter 3 until dawn"
    send(w.cc, f"ipn:{UNIT}.4", text, prio="message")
    wait_for(lambda: link(w.unit)["sbd"]["mt_refused"] >= 1, 60, "the unit's store to refuse the MT bundle")
    wait_for(lambda: link(w.cc)["directip"]["bundles_nacked"] >= 1, 60, "the nack at the command center")
    d = link(w.cc)["directip"]
    assert d["bundles_acked"] == 0 and w.cc.status()["store"]["bundles"] == 1, d
    assert d["bundles_unacked"] + d["bundles_waiting"] == 1, d
    assert extra(w.unit, 4) == []

    # Room again: the application takes what filled the store.
    got = w.unit.cli_json("recv", 9)
    assert len(got) == filled, len(got)
    assert recv(w.unit, 4, 1, timeout=90) == [text]
    wait_for(lambda: link(w.cc)["directip"]["bundles_acked"] == 1, 60, "the unit's ack")
    wait_for(lambda: w.cc.status()["store"]["bundles"] == 0, 30, "the command center to let go")
    d = link(w.cc)["directip"]
    assert d["bundles_unacked"] == 0 and d["bundles_waiting"] == 0, d
    s = link(w.unit)["sbd"]
    assert s["nacks_sent"] >= 1 and s["acks_sent"] >= 2 and s["acks_waiting"] == 0, s
    time.sleep(1.0)
    assert extra(w.unit, 4) == []
    print(f"MT bundle refused {s['mt_refused']} time(s), {d['mt_sent']} MT message(s), "
          f"{s['acks_sent']} ack(s) in {s['mo_messages']} MO message(s) of {s['mo_bytes']} bytes")
