/*
 * meter.c - what the medium allows the link layer, and what it counts
 * (radio/link_int.h): the airtime duty cycle, the byte budget per period
 * and contact windows of a metered link, and the link's metrics.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "link.h"
#include "link_int.h"
#include "log.h"
#include "loop.h"
#include "session.h"

/*
 * Airtime duty cycle (link_conf duty_permille): a token bucket of airtime
 * that fills at duty_permille of real time, up to that share of duty_window_ms,
 * and that every frame sent drains by its airtime (meter_airtime_us).  While
 * it is empty, segments wait (beacons and acks are counted, not held).  So
 * over any long stretch the link is on the air at most the configured share;
 * after a quiet spell it may send one bucket (share x window) at once.
 */
static void
duty_refill(struct link *l, uint64_t now)
{
	int64_t cap = (int64_t)l->conf.duty_window_ms * l->conf.duty_permille;	/* us */

	if (now > l->duty_at) {
		l->duty_us += (int64_t)(now - l->duty_at) * l->conf.duty_permille;
		if (l->duty_us > cap)
			l->duty_us = cap;
	}
	l->duty_at = now;
}

/* Airtime of a frame of n bytes: the TNC's keying delay and 10 bits a byte (flags, stuffing, HDLC). */
uint64_t
meter_airtime_us(const struct link *l, size_t n)
{
	uint64_t us = l->conf.kind == LINK_KISS ? (uint64_t)l->conf.kiss.txdelay_ms * 1000 : 0;

	return us + (l->conf.rate_bps ? (uint64_t)n * 10 * 1000000 / l->conf.rate_bps : 0);
}

void
meter_duty_charge(struct link *l, size_t n)
{
	uint64_t us = meter_airtime_us(l, n);

	l->m.airtime_ms = (l->airtime_us += us) / 1000;
	if (l->conf.duty_permille == 0)
		return;
	duty_refill(l, loop_now());
	l->duty_us -= (int64_t)us;
}

/* When the duty cycle lets a segment go again (monotonic ms); now if it does. */
uint64_t
meter_duty_ready_at(struct link *l, uint64_t now)
{
	if (l->conf.duty_permille == 0)
		return now;
	duty_refill(l, now);
	if (l->duty_us > 0)
		return now;
	return now + 1 + (uint64_t)(-l->duty_us) / l->conf.duty_permille;
}

/*
 * A metered link (a satellite terminal): bytes per period (budget_bytes per
 * budget_period_s, periods from the epoch: UTC days) and contact windows
 * (UTC time of day).  Outside a window, or with the period's budget spent,
 * neither beacons nor segments go: the neighbour goes silent on both sides
 * and the bundles take another link or wait.  Acks of what we receive still
 * go (they are small, and the sender paid for the data).  What was spent
 * goes to the owner (ev.spent), who saves it; no segment goes until the last
 * spend is saved, and a restart starts from the saved count (link_params).
 */
static bool
window_open(const struct link_conf *c, time_t wall)
{
	unsigned minute = (unsigned)((wall % 86400) / 60);
	bool in = c->n_windows == 0;

	for (unsigned i = 0; i < c->n_windows && !in; i++) {
		unsigned from = c->windows[i].from, to = c->windows[i].to;

		in = from <= to ? minute >= from && minute < to : minute >= from || minute < to;
	}
	return in;
}

bool
meter_open(struct link *l, time_t wall)
{
	bool in = window_open(&l->conf, wall);

	if (l->conf.budget_bytes == 0)
		return in;
	if ((uint64_t)wall / l->conf.budget_period_s != l->budget_period) {
		l->budget_period = (uint64_t)wall / l->conf.budget_period_s;
		l->budget_used = 0;
		l->budget_saved = 0;
	}
	return in && l->budget_used < l->conf.budget_bytes;
}

/*
 * Open or close a metered link as its window and budget say.  Closed, it is
 * no route for any class (the owner hears it through ev.contact) and what
 * was queued on it and not yet sent whole goes back to the owner, so that
 * urgent bundles take another link at once instead of waiting for the next
 * period; what was sent whole waits there for its commit.  Windows are
 * whole minutes and periods whole hours or days from the epoch, so a look
 * at every minute's turn (and when the budget runs out) sees each change.
 */
void
meter_contact(struct loop *loop, void *arg)
{
	struct link *l = arg;
	time_t wall = time(NULL);
	bool open = meter_open(l, wall);
	void *ctx;

	loop_timer_set(loop, &l->contact_timer, 60000 - loop_wallclock_ms() % 60000 + 5, meter_contact, l);
	if (open != l->closed)
		return;
	l->closed = !open;
	log_info("link %s: %s", l->conf.name, open ? "open: in contact, budget left" :
	    !window_open(&l->conf, wall) ? "closed: outside its contact windows" :
	    "closed: budget of this period spent");
	if (l->ev.contact)
		l->ev.contact(l->ev.arg, l, open);
	for (unsigned i = 0; i < l->n_nbr && !open; i++)
		while (l->nbr[i].tx && (ctx = session_tx_drain_unsent(l->nbr[i].tx)) != NULL)
			l->ev.returned(l->ev.arg, l, l->nbr[i].node, ctx, -ENETDOWN);
	if (open)
		pump_run(l);
}

bool
link_open(const struct link *l)
{
	return !l->closed;
}

/* A metered link sent n bytes: count them, have them saved, close it when the budget is spent. */
void
meter_budget_charge(struct link *l, size_t n)
{
	l->budget_used += (uint64_t)n;
	if (l->conf.budget_bytes == 0)
		return;
	if (l->ev.spent)
		l->ev.spent(l->ev.arg, l, l->budget_period, l->budget_used);
	else
		l->budget_saved = l->budget_used;
	if (l->budget_used >= l->conf.budget_bytes && !l->closed)
		loop_timer_set(l->loop, &l->contact_timer, 0, meter_contact, l);
}

void
link_budget_saved(struct link *l, uint64_t period, uint64_t spent)
{
	if (period != l->budget_period || spent <= l->budget_saved)
		return;
	l->budget_saved = spent;
	if (l->budget_saved >= l->budget_used)
		pump_run(l);
}

void
link_metrics(const struct link *l, struct link_metrics *out)
{
	if (l->ext) {
		memset(out, 0, sizeof(*out));
		out->mtu = l->conf.mtu;
		out->rate_bps = l->conf.rate_bps;
		out->rtt_ms = -1;
		out->in_window = true;
		l->ext->metrics(l->x, out);
		return;
	}
	*out = l->m;
	out->up = l->carrier;
	out->compact = l->compact;
	out->neighbours = 0;
	out->mtu = l->conf.mtu;
	out->rate_bps = l->conf.rate_bps;
	out->budget_bytes = l->conf.budget_bytes;
	out->budget_used = l->conf.budget_bytes ? l->budget_used : 0;
	out->in_window = window_open(&l->conf, time(NULL));
	out->open = !l->closed;
	out->rtt_ms = -1;
	for (unsigned i = 0; i < l->n_nbr; i++) {
		struct session_tx_stats st;

		if (!l->nbr[i].up)
			continue;
		out->neighbours++;
		session_tx_stats(l->nbr[i].tx, &st);
		out->segments += st.segments;
		out->retransmissions += st.retransmissions;
		if (st.rtt_samples > 0 && (int32_t)st.srtt_ms > out->rtt_ms)
			out->rtt_ms = (int32_t)st.srtt_ms;
	}
}
