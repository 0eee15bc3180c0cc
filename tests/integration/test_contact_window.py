"""Issue 5 item 4: a metered link opens and closes by the wall clock.  A
contact window opens at a minute's turn and the queued urgent bundle goes
then, not before; a window that ends closes the link; a spent daily budget
comes back at 00:00 UTC and the rest of the transfer goes.

The daemons run under libfaketime (Debian package libfaketime) shifted a few
seconds before such a moment: their wall clock runs at real speed from
there, their monotonic clock is left alone, and the two nodes share the
same shift.  Times below are the daemons' wall clock.
"""
import os
import time
from pathlib import Path

import pytest

from harness import free_ports, stop_all, wait_for
from harness.mesh import links_by_name as links, recv_texts as recv, udp_node as node
from harness.sim import LinkEmu

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
LEAD_S = 8                      # the daemons start this long before the moment under test
# A bundle sent when its link opens arrives within: the look at the minute's
# turn (5 ms after it), one hop of 50 ms, and the CLI polling on a loaded box.
OPEN_SLACK_S = 2.0

pytestmark = pytest.mark.skipif(not LIBFAKETIME.exists(), reason="libfaketime is not installed")


def shifted_env(shift_s):
    env = dict(os.environ)
    env["LD_PRELOAD"] = str(LIBFAKETIME)
    env["FAKETIME"] = f"{shift_s:+.3f}"
    env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    env["FAKETIME_NO_CACHE"] = "1"
    # ASan wants its runtime first among the libraries; libfaketime comes first here.
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    return env


def shift_before(period_s):
    """The shift that puts the daemons' wall clock LEAD_S before a multiple of
    period_s; returns (shift, that wall moment, the same moment in our monotonic time)."""
    now, mono = time.time(), time.monotonic()
    moment = (int(now) // period_s + 1) * period_s
    shift = moment - LEAD_S - now
    return shift, moment, mono + LEAD_S


def minute_hhmm(t):
    m = int(t) % 86400 // 60
    return f"{m // 60:02d}:{m % 60:02d}"


@pytest.fixture
def pair(tmp_path, request):
    """A -- B over a 50 ms hop; A's side is metered as request.param says."""
    extra, shift, moment = request.param()
    ports = free_ports(2)
    emu = LinkEmu(peer_a=ports[0], peer_b=ports[1], delay="50ms")
    a = node(tmp_path, 1, [("sat", ports[0], emu.a_port, extra)])
    b = node(tmp_path, 2, [("sat", ports[1], emu.b_port, "")])
    env = shifted_env(shift)
    a.start(env=env)
    b.start(env=env)
    yield emu, a, b, moment
    stop_all([emu, a, b])


def window_opening():
    shift, start, mono = shift_before(60)       # start: the window's first second
    return f"window = {minute_hhmm(start)}-{minute_hhmm(start + 60)}\n", shift, mono


def window_ending():
    shift, end, mono = shift_before(60)         # end: the first second after the window
    return f"window = {minute_hhmm(end - 120)}-{minute_hhmm(end)}\n", shift, mono


def budget_day():
    shift, _, mono = shift_before(86400)        # 00:00 UTC
    return "budget = 20K/day\n", shift, mono


@pytest.mark.parametrize("pair", [window_opening], indirect=True)
def test_window_opens_at_its_minute(pair):
    emu, a, b, opens = pair
    # A sends nothing outside its window, not even beacons; B's reach A.
    wait_for(lambda: links(a)["sat"]["neighbours"] == 1, 10, "A to hear B's beacons")
    assert links(a)["sat"]["open"] is False, "the link is open before its window"
    assert links(a)["sat"]["bytes_tx"] == 0, "A sent on a link outside its window"
    a.cli("send", "-p", "urgent", "ipn:2.5", "at-the-window")
    assert b.cli_json("recv", "5") == []
    got = recv(b, 5, 1, 30)
    late = time.monotonic() - opens
    print(f"delivered {late:.2f} s after the window's minute began")
    assert got == ["at-the-window"]
    assert late >= 0, "delivered before the window opened"
    assert late <= OPEN_SLACK_S
    assert links(a)["sat"]["open"] is True
    assert a.stop() == 0 and b.stop() == 0, "unclean exit (a sanitizer report?)"


@pytest.mark.parametrize("pair", [window_ending], indirect=True)
def test_window_ends_and_link_closes(pair):
    emu, a, b, ends = pair
    wait_for(lambda: links(a)["sat"]["neighbours"] == 1, 10, "A to hear B")
    a.cli("send", "-p", "urgent", "ipn:2.5", "in-the-window")
    assert recv(b, 5, 1, 10) == ["in-the-window"]
    wait_for(lambda: links(a)["sat"]["open"] is False, LEAD_S + 5, "the window to end")
    print(f"closed {time.monotonic() - ends:.2f} s after the window's end")
    assert time.monotonic() >= ends, "closed before the window ended"
    assert "closed   outside its contact windows: no route over it" in a.cli("links").stdout.decode()
    a.cli("send", "-p", "urgent", "ipn:2.5", "after-the-window")
    time.sleep(1.5)
    assert b.cli_json("recv", "5") == [], "a bundle went over a link outside its window"
    assert a.status()["store"]["bundles"] == 1, "the bundle must wait in A's store"
    assert a.stop() == 0 and b.stop() == 0, "unclean exit (a sanitizer report?)"


@pytest.mark.parametrize("pair", [budget_day], indirect=True)
def test_budget_comes_back_at_midnight(pair):
    """A 30 KB message on a link with 20 KB a day: most of it goes before
    midnight, the rest after; the link's fragment size (an eighth of the
    budget) keeps every piece small enough to fit in one day's budget."""
    emu, a, b, midnight = pair
    wait_for(lambda: links(a)["sat"]["neighbours"] == 1, 10, "A to hear B")
    big = a.dir / "big.bin"
    big.write_bytes(os.urandom(30000))
    a.cli("send", "-p", "message", "-f", str(big), "ipn:2.7")
    wait_for(lambda: links(a)["sat"]["open"] is False, LEAD_S, "A to spend the day's budget")
    assert time.monotonic() < midnight, "too slow: the budget was spent after midnight"
    before = emu.stats()["ab"]["in_bytes"]
    assert b.cli_json("recv", "7") == []
    assert "closed   budget spent until the next period" in a.cli("links").stdout.decode()
    assert b.cli("recv", "-n", "1", "-w", "-R", "7", timeout=40).stdout == big.read_bytes()
    print(f"the rest arrived {time.monotonic() - midnight:.2f} s after 00:00 UTC; "
          f"{before} B went before midnight, {emu.stats()['ab']['in_bytes'] - before} B after")
    assert time.monotonic() >= midnight
    assert before <= 20 * 1024 + 1400, "A spent more than a day's budget (and a frame) before midnight"
    ls = links(a)["sat"]
    assert ls["open"] is True and 0 < ls["budget_used"] < 20 * 1024, ls
    assert a.stop() == 0 and b.stop() == 0, "unclean exit (a sanitizer report?)"
