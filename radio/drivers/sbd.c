/* sbd.c - Iridium 9602/9603 SBD modem driver: the core's queue, budget,
 * start-up and what it does next; see sbd.h.  The modem's answers are
 * sbd_answer.c's, the serial device sbd_port.c's. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "sbd.h"
#include "sbd_int.h"

void
sbd_params_default(struct sbd_params *p)
{
	memset(p, 0, sizeof(*p));
	p->baud = 19200;
	p->ring_alerts = true;
	p->min_signal = 1;
	p->command_timeout_ms = 5000;
	p->signal_timeout_ms = 60000;
	p->session_timeout_ms = 120000;
	p->signal_poll_ms = 30000;
	p->backoff_min_ms = 10000;
	p->backoff_max_ms = 600000;
	p->registration_wait_ms = 180000;
	p->restart_min_ms = 2000;
	p->restart_max_ms = 300000;
	p->mo_max = SBD_MO_MAX;
	p->queue_max = 64;
	p->budget_period_ms = 24ULL * 3600 * 1000;
	p->bill_min_bytes = 1;
	p->bill_unit_bytes = 1;
}

/* Remember (for stats) and log a failure; rate-limited, the modem may repeat itself. */
void
sbd_set_error(struct sbd *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->st.last_error, sizeof(s->st.last_error), fmt, ap);
	va_end(ap);
	log_limited(&s->rl, "sbd: %s", s->st.last_error);
}

/* ---- budget and billing --------------------------------------------- */

uint64_t
sbd_billed(const struct sbd *s, size_t len)
{
	uint64_t b = len < s->p.bill_min_bytes ? s->p.bill_min_bytes : len;
	uint64_t unit = s->p.bill_unit_bytes ? s->p.bill_unit_bytes : 1;

	return (b + unit - 1) / unit * unit;
}

void
sbd_bill(struct sbd *s, size_t len)
{
	uint64_t b = sbd_billed(s, len);
	uint64_t unit = s->p.bill_unit_bytes ? s->p.bill_unit_bytes : 1;

	s->st.billed_bytes += b;
	s->st.cost += b / unit * s->p.price_per_unit;
}

static void
budget_roll(struct sbd *s, uint64_t now)
{
	uint64_t per = s->p.budget_period_ms;

	if (per == 0 || now < s->period_start + per)
		return;
	s->period_start += (now - s->period_start) / per * per;
	s->period_messages = s->period_bytes = 0;
}

static bool
fits_budget(const struct sbd *s, const struct mo *m)
{
	if (s->p.budget_messages && s->period_messages >= s->p.budget_messages)
		return false;
	if (s->p.budget_bytes && s->period_bytes + sbd_billed(s, m->len) > s->p.budget_bytes)
		return false;
	return true;
}

/* The message to send next: the first in priority order the budget allows. */
static struct mo *
next_mo(const struct sbd *s)
{
	struct mo *m;

	TAILQ_FOREACH(m, &s->queue, entry)
		if (fits_budget(s, m))
			return m;
	return NULL;
}

/* ---- the queue ------------------------------------------------------ */

void
sbd_mo_remove(struct sbd *s, struct mo *m)
{
	TAILQ_REMOVE(&s->queue, m, entry);
	s->queued--;
	s->queued_bytes -= m->len;
	if (s->loaded == m)
		s->loaded = NULL;	/* the buffer still holds it: mo_clean stays false */
	if (s->writing == m)
		s->writing = NULL;
	if (s->in_session == m)
		s->in_session = NULL;
	free(m);
}

int
sbd_send(struct sbd *s, const void *msg, size_t len, int prio, void *ctx, uint64_t now)
{
	struct mo *m, *it;

	if (len == 0)
		return -EINVAL;
	if (len > s->p.mo_max)
		return -EMSGSIZE;
	if (s->queued >= s->p.queue_max)
		return -ENOBUFS;
	if ((m = malloc(sizeof(*m) + len)) == NULL)
		return -ENOMEM;
	m->prio = prio;
	m->ctx = ctx;
	m->len = len;
	memcpy(m->data, msg, len);
	TAILQ_FOREACH(it, &s->queue, entry)
		if (it->prio > prio)
			break;
	if (it)
		TAILQ_INSERT_BEFORE(it, m, entry);
	else
		TAILQ_INSERT_TAIL(&s->queue, m, entry);
	s->queued++;
	s->queued_bytes += len;
	sbd_advance(s, now);
	return 0;
}

void *
sbd_drain(struct sbd *s)
{
	struct mo *m;
	void *ctx;

	TAILQ_FOREACH(m, &s->queue, entry)
		if (m != s->in_session && m != s->writing)
			break;
	if (m == NULL)
		return NULL;
	ctx = m->ctx;
	sbd_mo_remove(s, m);
	return ctx;
}

void
sbd_mailbox_check(struct sbd *s, uint64_t now)
{
	s->mailbox_wanted = true;
	sbd_advance(s, now);
}

/* ---- commands ------------------------------------------------------- */

void
sbd_command(struct sbd *s, enum step step, enum sbd_cmd cmd, unsigned arg, uint32_t timeout, uint64_t now)
{
	char buf[32];
	int n = sbd_at_command(cmd, arg, buf, sizeof(buf));

	/* One command at a time: whatever is still unsent belongs to one that timed out. */
	s->out_len = 0;
	if (n > 0) {
		memcpy(s->out, buf, (size_t)n);
		s->out_len = (size_t)n;
	}
	s->step = step;
	s->cmd = cmd;
	s->deadline = now + timeout;
	s->timeout = timeout;
	s->got_result = s->got_ix = s->got_csq = s->got_bin = s->got_imei = false;
	if (cmd == SBD_CMD_READ_BINARY)
		sbd_at_rx_expect_binary(&s->rx);
}

static void
link_event(struct sbd *s, bool up, const char *why)
{
	if (s->ev.link)
		s->ev.link(s->arg, up, why);
}

static uint32_t
restart_backoff(struct sbd *s)
{
	uint32_t d = s->restart_delay;

	s->restart_delay = d >= s->p.restart_max_ms / 2 ? s->p.restart_max_ms : d * 2;
	return d;
}

/* Forget the command in flight and what the modem's buffers hold. */
static void
reset_exchange(struct sbd *s)
{
	s->step = STEP_NONE;
	s->out_len = 0;
	s->loaded = NULL;
	s->mo_clean = false;
	s->writing = NULL;
	s->in_session = NULL;
	s->signal_good = false;
	s->sig_src = SIG_CSQ;		/* a modem that starts again may answer AT+CSQ now */
	s->cier_on = false;
	s->service = -1;
	s->errors_in_row = 0;
	s->write_fails = 0;
	s->clear_fails = 0;
	s->echo_off = false;
	sbd_at_rx_init(&s->rx);
}

/* The modem misbehaves (the device is still there): start it again after a backoff. */
void
sbd_modem_down(struct sbd *s, uint64_t now, const char *why)
{
	bool was_up = s->mode == M_UP;

	sbd_set_error(s, "%s; restarting the modem in %u ms", why, s->restart_delay);
	reset_exchange(s);
	s->mode = M_DOWN;
	s->retry_at = now + restart_backoff(s);
	s->st.restarts++;
	if (was_up)
		link_event(s, false, why);
}

static void
init_start(struct sbd *s, uint64_t now)
{
	reset_exchange(s);
	s->mode = M_INIT;
	s->echo_off = false;
	s->probes = 0;
	sbd_command(s, STEP_PROBE, SBD_CMD_PROBE, 0, s->p.command_timeout_ms, now);
}

void
sbd_attach(struct sbd *s, uint64_t now)
{
	init_start(s, now);
}

void
sbd_detach(struct sbd *s, uint64_t now, const char *why)
{
	bool was_up = s->mode == M_UP;

	sbd_set_error(s, "%s; trying the device again in %u ms", why, s->restart_delay);
	reset_exchange(s);
	s->mode = M_NODEV;
	s->retry_at = now + restart_backoff(s);
	if (was_up)
		link_event(s, false, why);
}

bool
sbd_device_wanted(const struct sbd *s, uint64_t now)
{
	return s->mode == M_NODEV && now >= s->retry_at;
}

/* ---- the start-up sequence ------------------------------------------ */

void
sbd_init_next(struct sbd *s, enum step done, uint64_t now)
{
	uint32_t t = s->p.command_timeout_ms;

	switch (done) {
	case STEP_PROBE:
		sbd_command(s, STEP_ECHO_OFF, SBD_CMD_ECHO_OFF, 0, t, now);
		break;
	case STEP_ECHO_OFF:
		s->echo_off = true;
		sbd_command(s, STEP_VERBOSE, SBD_CMD_VERBOSE, 0, t, now);
		break;
	case STEP_VERBOSE:
		sbd_command(s, STEP_FLOW, s->p.rtscts ? SBD_CMD_FLOW_RTSCTS : SBD_CMD_FLOW_NONE, 0, t, now);
		break;
	case STEP_FLOW:
		sbd_command(s, STEP_RING, s->p.ring_alerts ? SBD_CMD_RING_ON : SBD_CMD_RING_OFF, 0, t, now);
		break;
	case STEP_RING:
		sbd_command(s, STEP_IMEI, SBD_CMD_IMEI, 0, t, now);
		break;
	default:
		s->mode = M_UP;
		s->restart_delay = s->p.restart_min_ms;
		/* A unit that just came up may have missed its ring alerts. */
		if (s->p.mailbox_interval_ms)
			s->mailbox_wanted = true;
		log_info("sbd: modem ready%s%s", s->imei[0] ? ", IMEI " : "", s->imei);
		link_event(s, true, "modem ready");
		break;
	}
}

/* ---- deciding what to do next --------------------------------------- */

static bool
mailbox_due(const struct sbd *s, uint64_t now)
{
	return s->ring_pending || s->mailbox_wanted || s->mt_waiting > 0 ||
	    (s->p.mailbox_interval_ms && now >= s->last_mailbox + s->p.mailbox_interval_ms);
}

/* With +CIEV events: what the last ones said (unknown counts as good: the session judges). */
static bool
ciev_ok(const struct sbd *s)
{
	return s->cier_on && s->service != 0 && (s->signal < 0 || (unsigned)s->signal >= s->p.min_signal);
}

static bool
signal_ok(const struct sbd *s, uint64_t now)
{
	if (s->sig_src == SIG_SESSION)
		return true;
	if (s->sig_src == SIG_CIEV)
		return ciev_ok(s);
	if (s->signal_good)
		return true;
	return s->p.signal_max_age_ms && s->signal >= 0 && (unsigned)s->signal >= s->p.min_signal &&
	    now < s->signal_at + s->p.signal_max_age_ms;
}

/* If idle, start the next command that is due. */
void
sbd_advance(struct sbd *s, uint64_t now)
{
	struct mo *m;
	bool answer;

	if (s->mode != M_UP || s->step != STEP_NONE)
		return;
	budget_roll(s, now);
	if (s->mt_to_read) {
		sbd_command(s, STEP_READ, SBD_CMD_READ_BINARY, 0, s->p.command_timeout_ms, now);
		return;
	}
	m = next_mo(s);
	if (!m && !mailbox_due(s, now))
		return;
	if (now < s->backoff_until)
		return;
	if (!signal_ok(s, now)) {
		if (s->sig_src == SIG_CSQ && now >= s->signal_retry_at)
			sbd_command(s, STEP_SIGNAL, SBD_CMD_SIGNAL, 0, s->p.signal_timeout_ms, now);
		else if (s->sig_src == SIG_CIEV && !s->cier_on)
			sbd_command(s, STEP_INDICATORS, SBD_CMD_INDICATORS, 0, s->p.command_timeout_ms, now);
		/* else SIG_CIEV without signal: the next +CIEV starts it */
		return;
	}
	if (m && s->loaded != m) {
		s->writing = m;
		sbd_command(s, STEP_WRITE, SBD_CMD_WRITE_BINARY, (unsigned)m->len, s->p.command_timeout_ms, now);
		return;
	}
	if (!m && !s->mo_clean) {
		/* Else the mailbox check would send the last message again. */
		sbd_command(s, STEP_CLEAR, SBD_CMD_CLEAR_MO, 0, s->p.command_timeout_ms, now);
		return;
	}
	answer = s->ring_pending && s->p.ring_alerts;
	s->in_session = m;
	s->ring_pending = false;
	s->mailbox_wanted = false;
	s->signal_good = false;
	sbd_command(s, STEP_SESSION, answer ? SBD_CMD_SESSION_ANSWER : SBD_CMD_SESSION, 0,
	    s->p.session_timeout_ms, now);
}

void
sbd_tick(struct sbd *s, uint64_t now)
{
	if (s->step != STEP_NONE && now >= s->deadline) {
		char why[96];

		s->st.timeouts++;
		if (s->step == STEP_PROBE && ++s->probes < PROBE_TRIES) {
			sbd_command(s, STEP_PROBE, SBD_CMD_PROBE, 0, s->p.command_timeout_ms, now);
			return;
		}
		if (s->step == STEP_PROBE)
			snprintf(why, sizeof(why), "no answer to AT (%u tries)", PROBE_TRIES);
		else
			snprintf(why, sizeof(why), "no answer to %s within %u ms",
			    sbd_at_command_name(s->cmd), s->timeout);
		sbd_modem_down(s, now, why);
		return;
	}
	if (s->mode == M_DOWN && now >= s->retry_at) {
		init_start(s, now);
		return;
	}
	sbd_advance(s, now);
}

static uint64_t
max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t
min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t
sbd_deadline(const struct sbd *s)
{
	uint64_t work = UINT64_MAX, t = UINT64_MAX;
	struct mo *m;

	if (s->step != STEP_NONE)
		return s->deadline;
	if (s->mode == M_NODEV || s->mode == M_DOWN)
		return s->retry_at;
	if (s->mode != M_UP)
		return UINT64_MAX;
	if (s->mt_to_read)
		return 0;
	m = next_mo(s);
	if (m || s->ring_pending || s->mailbox_wanted || s->mt_waiting)
		work = 0;
	if (s->p.mailbox_interval_ms)
		work = min64(work, s->last_mailbox + s->p.mailbox_interval_ms);
	if (!m && !TAILQ_EMPTY(&s->queue) && s->p.budget_period_ms)
		t = s->period_start + s->p.budget_period_ms;
	if (work != UINT64_MAX) {
		work = max64(work, s->backoff_until);
		if (s->sig_src == SIG_CSQ && !s->signal_good)
			work = max64(work, s->signal_retry_at);
		else if (s->sig_src == SIG_CIEV && s->cier_on && !ciev_ok(s))
			work = UINT64_MAX;	/* a +CIEV event (input) says when */
		t = min64(t, work);
	}
	return t;
}

/* ---- output, stats, life cycle -------------------------------------- */

size_t
sbd_output(const struct sbd *s, const uint8_t **p)
{
	*p = s->out;
	return s->out_len;
}

void
sbd_output_done(struct sbd *s, size_t n)
{
	if (n >= s->out_len) {
		s->out_len = 0;
		return;
	}
	memmove(s->out, s->out + n, s->out_len - n);
	s->out_len -= n;
}

static const char *
state_name(const struct sbd *s, uint64_t now)
{
	switch (s->mode) {
	case M_NODEV: return "no device";
	case M_DOWN: return "down";
	case M_INIT: return "starting";
	case M_UP: break;
	}
	if (s->step != STEP_NONE)
		return "busy";
	if (now < s->backoff_until)
		return "backoff";
	if (!s->signal_good && s->signal >= 0 && (unsigned)s->signal < s->p.min_signal)
		return "no signal";
	if (s->sig_src == SIG_CIEV && s->service == 0)
		return "no signal";
	if (!TAILQ_EMPTY(&s->queue) && next_mo(s) == NULL)
		return "budget spent";
	return "ready";
}

void
sbd_stats(const struct sbd *s, uint64_t now, struct sbd_stats *st)
{
	*st = s->st;
	st->state = state_name(s, now);
	memcpy(st->imei, s->imei, sizeof(st->imei));
	st->signal = s->signal;
	st->signal_source = s->sig_src == SIG_CSQ ? "csq" : s->sig_src == SIG_CIEV ? "ciev" : "session";
	st->signal_age_ms = s->signal >= 0 ? now - s->signal_at : 0;
	st->queued = s->queued;
	st->queued_bytes = s->queued_bytes;
	st->mt_waiting = s->mt_waiting;
	st->failures_in_row = s->failures;
	st->backoff_left_ms = now < s->backoff_until ? s->backoff_until - now : 0;
	st->period_messages = s->period_messages;
	st->period_bytes = s->period_bytes;
	st->period_left_ms = 0;
	if (s->p.budget_period_ms) {
		uint64_t per = s->p.budget_period_ms;

		st->period_left_ms = per - (now - s->period_start) % per;
		if (now >= s->period_start + per) {	/* a new period that nothing has started yet */
			st->period_messages = st->period_bytes = 0;
		}
	}
	st->budget_spent = !TAILQ_EMPTY(&s->queue) && next_mo(s) == NULL;
}

struct sbd *
sbd_new(const struct sbd_params *p, const struct sbd_events *ev, void *arg, uint64_t now)
{
	struct sbd *s;

	if (p->baud == 0 || p->min_signal > SBD_SIGNAL_MAX || p->mo_max == 0 ||
	    p->mo_max > SBD_MO_MAX || p->queue_max == 0 || p->backoff_min_ms == 0 ||
	    p->backoff_max_ms < p->backoff_min_ms || p->restart_min_ms == 0 ||
	    p->restart_max_ms < p->restart_min_ms) {
		errno = EINVAL;
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->p = *p;
	if (ev)
		s->ev = *ev;
	s->arg = arg;
	TAILQ_INIT(&s->queue);
	sbd_at_rx_init(&s->rx);
	s->mode = M_NODEV;
	s->retry_at = now;
	s->restart_delay = p->restart_min_ms;
	s->signal = -1;
	s->service = -1;
	s->last_mailbox = now;
	s->period_start = now;
	return s;
}

void
sbd_free(struct sbd *s)
{
	struct mo *m;

	if (s == NULL)
		return;
	while ((m = TAILQ_FIRST(&s->queue)) != NULL) {
		TAILQ_REMOVE(&s->queue, m, entry);
		free(m);
	}
	free(s);
}
