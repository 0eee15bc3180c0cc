/* sbd.c - Iridium 9602/9603 SBD modem driver; see sbd.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "sbd.h"

#define PROBE_TRIES	3	/* unanswered AT probes before the modem counts as dead */
#define ERRORS_IN_ROW	3	/* ERROR answers in a row before a restart */
#define WRITE_TRIES	3	/* AT+SBDWB timeouts/bad checksums in a row before a restart */
#define READ_TRIES	3	/* bad AT+SBDRB blocks before the MT message is given up */
#define OUT_MAX		512

/* The command in flight; the start-up sequence runs PROBE..IMEI in order. */
enum step {
	STEP_NONE,
	STEP_PROBE, STEP_ECHO_OFF, STEP_VERBOSE, STEP_FLOW, STEP_RING, STEP_IMEI,
	STEP_SIGNAL, STEP_WRITE, STEP_WRITE_DATA, STEP_CLEAR, STEP_SESSION, STEP_READ,
	STEP_INDICATORS,
};

/*
 * Where the signal reading comes from.  AT+CSQ is informational: a modem
 * that answers it with ERROR is not broken for sending, so that is noted
 * once and worked around rather than counted toward a restart: the +CIEV
 * indicator events (AT+CIER), which push each change of signal and service,
 * and if the modem refuses AT+CIER too, no reading at all: sessions start
 * anyway and their own result (MO status 32, no network service) says
 * whether there was signal, with the usual backoff.  Every start-up of the
 * modem tries AT+CSQ again.
 */
enum signal_source {
	SIG_CSQ,	/* ask AT+CSQ before a session */
	SIG_CIEV,	/* +CIEV events after AT+CIER=1,1,1 */
	SIG_SESSION,	/* no reading: the session result judges */
};

enum mode {
	M_NODEV,	/* no device: open one at retry_at */
	M_DOWN,		/* a device, but the modem misbehaved: start again at retry_at */
	M_INIT,		/* the start-up sequence runs */
	M_UP,
};

struct mo {
	TAILQ_ENTRY(mo) entry;
	int prio;
	void *ctx;
	size_t len;
	uint8_t data[];
};

struct sbd {
	struct sbd_params p;
	struct sbd_events ev;
	void *arg;
	struct sbd_at_rx rx;
	struct sbd_at_event ae;
	enum mode mode;
	uint64_t retry_at;
	uint32_t restart_delay;

	/* the command in flight and what its answer said so far */
	enum step step;
	enum sbd_cmd cmd;
	uint64_t deadline;
	uint32_t timeout;
	unsigned probes;
	bool echo_off;			/* ATE0 done: an echo now means the modem restarted */
	bool got_result, got_ix, got_csq, got_bin, got_imei;
	unsigned result, csq;
	struct sbd_sbdix ix;
	char imei[16];
	uint8_t mt[SBD_MT_MAX];
	size_t mt_len;
	bool mt_ok;
	unsigned errors_in_row;

	uint8_t out[OUT_MAX];
	size_t out_len;

	/* mobile-originated */
	TAILQ_HEAD(mo_list, mo) queue;
	unsigned queued;
	uint64_t queued_bytes;
	struct mo *loaded;		/* what the modem's MO buffer holds */
	bool mo_clean;			/* the MO buffer is known to be empty */
	struct mo *writing, *in_session;
	unsigned write_fails, clear_fails;

	/* signal */
	enum signal_source sig_src;
	bool cier_on;			/* AT+CIER=1,1,1 answered OK since the modem started */
	int service;			/* +CIEV:1, -1 unknown */
	bool noted_csq, noted_cier;	/* the fallbacks were logged */
	int signal;
	uint64_t signal_at;
	bool signal_good;		/* a good reading since the last session started */
	uint64_t signal_retry_at;

	/* sessions and mobile-terminated */
	bool ring_pending, mailbox_wanted;
	unsigned mt_waiting;
	uint64_t last_mailbox;
	uint64_t backoff_until;
	unsigned failures;
	bool mt_to_read;
	uint16_t mtmsn;
	unsigned mt_expect, read_tries;

	/* budget */
	uint64_t period_start, period_messages, period_bytes;

	struct sbd_stats st;		/* the counters */
	struct log_ratelimit rl;
};

static void advance(struct sbd *s, uint64_t now);

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

static void
set_error(struct sbd *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Remember (for stats) and log a failure; rate-limited, the modem may repeat itself. */
static void
set_error(struct sbd *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->st.last_error, sizeof(s->st.last_error), fmt, ap);
	va_end(ap);
	log_limited(&s->rl, "sbd: %s", s->st.last_error);
}

/* ---- budget and billing --------------------------------------------- */

static uint64_t
billed(const struct sbd *s, size_t len)
{
	uint64_t b = len < s->p.bill_min_bytes ? s->p.bill_min_bytes : len;
	uint64_t unit = s->p.bill_unit_bytes ? s->p.bill_unit_bytes : 1;

	return (b + unit - 1) / unit * unit;
}

static void
bill(struct sbd *s, size_t len)
{
	uint64_t b = billed(s, len);
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
	if (s->p.budget_bytes && s->period_bytes + billed(s, m->len) > s->p.budget_bytes)
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

static void
mo_remove(struct sbd *s, struct mo *m)
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
	advance(s, now);
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
	mo_remove(s, m);
	return ctx;
}

void
sbd_mailbox_check(struct sbd *s, uint64_t now)
{
	s->mailbox_wanted = true;
	advance(s, now);
}

/* ---- commands ------------------------------------------------------- */

static void
command(struct sbd *s, enum step step, enum sbd_cmd cmd, unsigned arg, uint32_t timeout, uint64_t now)
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
static void
modem_down(struct sbd *s, uint64_t now, const char *why)
{
	bool was_up = s->mode == M_UP;

	set_error(s, "%s; restarting the modem in %u ms", why, s->restart_delay);
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
	command(s, STEP_PROBE, SBD_CMD_PROBE, 0, s->p.command_timeout_ms, now);
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

	set_error(s, "%s; trying the device again in %u ms", why, s->restart_delay);
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

static void
init_next(struct sbd *s, enum step done, uint64_t now)
{
	uint32_t t = s->p.command_timeout_ms;

	switch (done) {
	case STEP_PROBE:
		command(s, STEP_ECHO_OFF, SBD_CMD_ECHO_OFF, 0, t, now);
		break;
	case STEP_ECHO_OFF:
		s->echo_off = true;
		command(s, STEP_VERBOSE, SBD_CMD_VERBOSE, 0, t, now);
		break;
	case STEP_VERBOSE:
		command(s, STEP_FLOW, s->p.rtscts ? SBD_CMD_FLOW_RTSCTS : SBD_CMD_FLOW_NONE, 0, t, now);
		break;
	case STEP_FLOW:
		command(s, STEP_RING, s->p.ring_alerts ? SBD_CMD_RING_ON : SBD_CMD_RING_OFF, 0, t, now);
		break;
	case STEP_RING:
		command(s, STEP_IMEI, SBD_CMD_IMEI, 0, t, now);
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

/* ---- responses ------------------------------------------------------ */

/* Text, result codes and binary blocks that belong to the command in flight. */
static void
collect(struct sbd *s, const struct sbd_at_event *e)
{
	switch (s->step) {
	case STEP_SIGNAL:
		if (e->kind == SBD_AT_TEXT && sbd_at_parse_csq(e->line, &s->csq) == 0) {
			s->got_csq = true;
			return;
		}
		break;
	case STEP_IMEI:
		if (e->kind == SBD_AT_TEXT && sbd_at_parse_imei(e->line, s->imei) == 0) {
			s->got_imei = true;
			return;
		}
		break;
	case STEP_WRITE:
	case STEP_WRITE_DATA:
	case STEP_CLEAR:
		if (e->kind == SBD_AT_RESULT) {
			s->got_result = true;
			s->result = e->result;
			return;
		}
		break;
	case STEP_SESSION:
		if (e->kind == SBD_AT_TEXT && sbd_at_parse_sbdix(e->line, &s->ix) == 0) {
			s->got_ix = true;
			return;
		}
		break;
	case STEP_READ:
		if (e->kind == SBD_AT_BINARY) {
			s->got_bin = true;
			s->mt_ok = e->checksum_ok;
			s->mt_len = e->data_len;
			memcpy(s->mt, e->data, e->data_len);
			return;
		}
		break;
	default:
		break;
	}
	s->st.bad_lines++;
	log_limited(&s->rl, "sbd: unexpected from the modem during %s: \"%s\"",
	    s->step == STEP_NONE ? "no command" : sbd_at_command_name(s->cmd), e->line);
}

static void
session_failed(struct sbd *s, uint64_t now, unsigned status, const char *why)
{
	uint64_t b = s->p.backoff_min_ms;

	s->st.sessions++;
	s->st.sessions_failed++;
	s->failures++;
	for (unsigned i = 1; i < s->failures && b < s->p.backoff_max_ms; i++)
		b *= 2;
	if (b > s->p.backoff_max_ms)
		b = s->p.backoff_max_ms;
	if (status == 36 && b < s->p.registration_wait_ms)
		b = s->p.registration_wait_ms;
	s->backoff_until = now + b;
	set_error(s, "session failed: %s; retry %u in %llu ms", why, s->failures, (unsigned long long)b);
}

static void
session_done(struct sbd *s, uint64_t now)
{
	const struct sbd_sbdix *ix = &s->ix;
	struct mo *m = s->in_session;
	bool sent = false;
	void *ctx = NULL;

	s->in_session = NULL;
	s->st.last_mo_status = ix->mo_status;
	if (!m)
		s->st.mailbox_checks++;
	if (!sbd_mo_ok(ix->mo_status)) {
		char why[96];

		snprintf(why, sizeof(why), "MO status %u (%s)", ix->mo_status, sbd_mo_status_str(ix->mo_status));
		session_failed(s, now, ix->mo_status, why);
		/* The mailbox check (or the answer to a ring alert) did not happen. */
		if (!m || s->cmd == SBD_CMD_SESSION_ANSWER)
			s->mailbox_wanted = true;
	} else {
		s->st.sessions++;
		s->st.sessions_ok++;
		s->failures = 0;
		s->backoff_until = 0;
		s->last_mailbox = now;
		/* Status 1: the MT message waiting is too big for this modem; do not loop on it. */
		s->mt_waiting = ix->mo_status == 1 ? 0 : ix->mt_queued;
		if (ix->mo_status == 1)
			set_error(s, "an MT message at the gateway is too big for this modem");
		if (m) {
			sent = true;
			ctx = m->ctx;
			s->st.mo_messages++;
			s->st.mo_bytes += m->len;
			s->period_messages++;
			s->period_bytes += billed(s, m->len);
			bill(s, m->len);
			mo_remove(s, m);
		}
	}
	if (ix->mt_status == 1) {
		s->mt_to_read = true;
		s->mtmsn = ix->mtmsn;
		s->mt_expect = ix->mt_length;
		s->read_tries = 0;
	} else if (ix->mt_status == 2) {
		s->st.mt_bad++;
		s->mailbox_wanted = true;
		if (s->backoff_until < now + s->p.backoff_min_ms)
			s->backoff_until = now + s->p.backoff_min_ms;
		set_error(s, "session %u: mailbox check failed", ix->momsn);
	}
	/* Last: the callback may queue (and so start) the next command. */
	if (sent && s->ev.delivered)
		s->ev.delivered(s->arg, ctx, ix->momsn);
}

static void
read_done(struct sbd *s)
{
	if (s->got_bin && s->mt_ok && s->mt_len == s->mt_expect) {
		s->mt_to_read = false;
		s->st.mt_messages++;
		s->st.mt_bytes += s->mt_len;
		bill(s, s->mt_len);
		if (s->ev.received)
			s->ev.received(s->arg, s->mt, s->mt_len, s->mtmsn);
		return;
	}
	if (!s->got_bin)
		set_error(s, "AT+SBDRB: no message block");
	else if (!s->mt_ok)
		set_error(s, "AT+SBDRB: checksum mismatch in MT message %u", s->mtmsn);
	else
		set_error(s, "AT+SBDRB: %zu bytes, the session said %u", s->mt_len, s->mt_expect);
	if (++s->read_tries >= READ_TRIES) {
		s->st.mt_bad++;
		s->mt_to_read = false;
		set_error(s, "MT message %u lost: unreadable %u times", s->mtmsn, READ_TRIES);
	}
}

static void
write_done(struct sbd *s, uint64_t now)
{
	struct mo *m = s->writing;

	s->writing = NULL;
	if (!s->got_result) {
		s->write_fails++;
		set_error(s, "AT+SBDWB: OK without a result code");
	} else if (s->result == 0) {
		s->loaded = m;
		s->mo_clean = false;
		s->write_fails = 0;
		return;
	} else if (s->result == 3 && m) {
		void *ctx = m->ctx;

		s->st.refused++;
		set_error(s, "the modem refused a %zu-byte message: dropped", m->len);
		mo_remove(s, m);
		if (s->ev.failed)
			s->ev.failed(s->arg, ctx, "message size refused by the modem");
		return;
	} else {
		s->write_fails++;
		set_error(s, "AT+SBDWB: %s", sbd_write_result_str(s->result));
	}
	if (s->write_fails >= WRITE_TRIES)
		modem_down(s, now, "AT+SBDWB failed 3 times in a row");
}

static void
signal_done(struct sbd *s, uint64_t now)
{
	if (!s->got_csq) {
		s->st.bad_lines++;
		s->signal_retry_at = now + s->p.signal_poll_ms;
		set_error(s, "AT+CSQ: OK without a reading");
		return;
	}
	if (s->signal >= 0 && (unsigned)s->signal >= s->p.min_signal && s->csq < s->p.min_signal)
		log_info("sbd: signal lost (+CSQ:%u)", s->csq);
	s->signal = (int)s->csq;
	s->signal_at = now;
	if (s->csq >= s->p.min_signal) {
		s->signal_good = true;
	} else {
		s->signal_good = false;
		s->signal_retry_at = now + s->p.signal_poll_ms;
	}
}

/* An informational command answered ERROR: take the signal from elsewhere (see enum signal_source). */
static void
signal_fallback(struct sbd *s, enum step step)
{
	if (step == STEP_SIGNAL) {
		s->sig_src = SIG_CIEV;
		s->cier_on = false;
		if (!s->noted_csq)
			log_warnx("sbd: the modem answers ERROR to AT+CSQ; its signal is taken from +CIEV indicator "
			    "events (AT+CIER) instead");
		s->noted_csq = true;
	} else {
		s->sig_src = SIG_SESSION;
		s->signal = -1;
		if (!s->noted_cier)
			log_warnx("sbd: the modem answers ERROR to AT+CIER too; sessions start without a signal "
			    "reading and their result says whether there was signal");
		s->noted_cier = true;
	}
}

/* +CIEV:0,N (signal) or +CIEV:1,N (service), unsolicited. */
static void
indicator(struct sbd *s, unsigned ind, unsigned v, uint64_t now)
{
	if (ind == 0) {
		if (s->signal >= 0 && (unsigned)s->signal >= s->p.min_signal && v < s->p.min_signal)
			log_info("sbd: signal lost (+CIEV:0,%u)", v);
		s->signal = (int)v;
		s->signal_at = now;
	} else if (ind == 1) {
		s->service = (int)v;
	}
}

/* OK, ERROR or READY: the command in flight is answered. */
static void
final(struct sbd *s, enum sbd_at_kind kind, uint64_t now)
{
	enum step step = s->step;

	if (step == STEP_NONE) {
		s->st.bad_lines++;
		log_limited(&s->rl, "sbd: an unrequested %s from the modem",
		    kind == SBD_AT_OK ? "OK" : kind == SBD_AT_ERROR ? "ERROR" : "READY");
		return;
	}
	if (step == STEP_WRITE && kind == SBD_AT_READY && s->writing) {
		int n = sbd_at_binary(s->writing->data, s->writing->len, s->out, sizeof(s->out));

		/* The time the bytes take on the wire counts toward the answer's deadline. */
		s->out_len = n > 0 ? (size_t)n : 0;
		s->step = STEP_WRITE_DATA;
		s->deadline = now + s->p.command_timeout_ms + (uint64_t)s->out_len * 10000 / s->p.baud;
		return;
	}
	s->step = STEP_NONE;
	if (kind != SBD_AT_OK) {
		s->st.errors++;
		if (step == STEP_PROBE) {
			/* Line noise before the first AT is answered with ERROR: try again. */
			if (++s->probes >= PROBE_TRIES)
				modem_down(s, now, "the modem answers ERROR to AT");
			else
				command(s, STEP_PROBE, SBD_CMD_PROBE, 0, s->p.command_timeout_ms, now);
			return;
		}
		if (step == STEP_IMEI) {	/* not worth failing for */
			init_next(s, step, now);
			advance(s, now);
			return;
		}
		if (step == STEP_SIGNAL || step == STEP_INDICATORS) {	/* informational: worked around */
			signal_fallback(s, step);
			advance(s, now);
			return;
		}
		if (s->mode == M_INIT || ++s->errors_in_row >= ERRORS_IN_ROW) {
			char why[96];

			snprintf(why, sizeof(why), "the modem answers %s to %s%s", kind == SBD_AT_ERROR ?
			    "ERROR" : "READY", sbd_at_command_name(s->cmd),
			    s->mode == M_INIT ? "" : " 3 times in a row");
			modem_down(s, now, why);
			return;
		}
		set_error(s, "%s answered ERROR", sbd_at_command_name(s->cmd));
		if (step == STEP_SESSION) {
			s->in_session = NULL;
			session_failed(s, now, 0, "AT+SBDIX answered ERROR");
		} else if (step == STEP_SIGNAL) {
			s->signal_retry_at = now + s->p.signal_poll_ms;
		} else if (step == STEP_WRITE || step == STEP_WRITE_DATA) {
			s->writing = NULL;
		} else if (step == STEP_READ) {
			s->got_bin = false;
			read_done(s);
		}
		advance(s, now);
		return;
	}
	s->errors_in_row = 0;
	switch (step) {
	case STEP_PROBE: case STEP_ECHO_OFF: case STEP_VERBOSE: case STEP_FLOW:
	case STEP_RING: case STEP_IMEI:
		init_next(s, step, now);
		break;
	case STEP_SIGNAL:
		signal_done(s, now);
		break;
	case STEP_INDICATORS:
		/* Events come on changes only: until one does, the signal is unknown and the session judges. */
		s->cier_on = true;
		s->signal = -1;
		s->service = -1;
		break;
	case STEP_WRITE:		/* OK before READY: only a result code (size refused) */
	case STEP_WRITE_DATA:
		write_done(s, now);
		break;
	case STEP_CLEAR:
		if (s->got_result && s->result == 0) {
			s->mo_clean = true;
			s->loaded = NULL;
			s->clear_fails = 0;
		} else if (++s->clear_fails >= WRITE_TRIES) {
			modem_down(s, now, "AT+SBDD0 did not clear the MO buffer 3 times in a row");
			return;
		} else {
			set_error(s, "AT+SBDD0 did not clear the MO buffer");
		}
		break;
	case STEP_SESSION:
		if (s->got_ix) {
			session_done(s, now);
		} else {
			s->st.bad_lines++;
			s->in_session = NULL;
			session_failed(s, now, 0, "AT+SBDIX: OK without a +SBDIX line");
		}
		break;
	case STEP_READ:
		read_done(s);
		break;
	case STEP_NONE:
		break;
	}
	advance(s, now);
}

static void
on_event(struct sbd *s, const struct sbd_at_event *e, uint64_t now)
{
	switch (e->kind) {
	case SBD_AT_NONE:
		return;
	case SBD_AT_RING:
		s->st.rings++;
		s->ring_pending = true;
		advance(s, now);
		return;
	case SBD_AT_ECHO:
		if (s->echo_off)
			modem_down(s, now, "the modem echoes commands again: it restarted");
		return;
	case SBD_AT_BAD:
		s->st.bad_lines++;
		log_limited(&s->rl, "sbd: unusable bytes from the modem: %s", e->line);
		return;
	case SBD_AT_TEXT: {
		unsigned ind, v;

		if (sbd_at_parse_ciev(e->line, &ind, &v) == 0) {
			indicator(s, ind, v, now);
			advance(s, now);
			return;
		}
		collect(s, e);
		return;
	}
	case SBD_AT_RESULT:
	case SBD_AT_BINARY:
		collect(s, e);
		return;
	case SBD_AT_OK:
	case SBD_AT_ERROR:
	case SBD_AT_READY:
		final(s, e->kind, now);
		return;
	}
}

void
sbd_input(struct sbd *s, const uint8_t *buf, size_t n, uint64_t now)
{
	/* Nothing is expected without a modem to talk to (M_NODEV: stale bytes). */
	if (s->mode == M_NODEV)
		return;
	while (n > 0) {
		size_t used = sbd_at_rx_feed(&s->rx, buf, n, &s->ae);

		buf += used;
		n -= used;
		on_event(s, &s->ae, now);
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
static void
advance(struct sbd *s, uint64_t now)
{
	struct mo *m;
	bool answer;

	if (s->mode != M_UP || s->step != STEP_NONE)
		return;
	budget_roll(s, now);
	if (s->mt_to_read) {
		command(s, STEP_READ, SBD_CMD_READ_BINARY, 0, s->p.command_timeout_ms, now);
		return;
	}
	m = next_mo(s);
	if (!m && !mailbox_due(s, now))
		return;
	if (now < s->backoff_until)
		return;
	if (!signal_ok(s, now)) {
		if (s->sig_src == SIG_CSQ && now >= s->signal_retry_at)
			command(s, STEP_SIGNAL, SBD_CMD_SIGNAL, 0, s->p.signal_timeout_ms, now);
		else if (s->sig_src == SIG_CIEV && !s->cier_on)
			command(s, STEP_INDICATORS, SBD_CMD_INDICATORS, 0, s->p.command_timeout_ms, now);
		/* else SIG_CIEV without signal: the next +CIEV starts it */
		return;
	}
	if (m && s->loaded != m) {
		s->writing = m;
		command(s, STEP_WRITE, SBD_CMD_WRITE_BINARY, (unsigned)m->len, s->p.command_timeout_ms, now);
		return;
	}
	if (!m && !s->mo_clean) {
		/* Else the mailbox check would send the last message again. */
		command(s, STEP_CLEAR, SBD_CMD_CLEAR_MO, 0, s->p.command_timeout_ms, now);
		return;
	}
	answer = s->ring_pending && s->p.ring_alerts;
	s->in_session = m;
	s->ring_pending = false;
	s->mailbox_wanted = false;
	s->signal_good = false;
	command(s, STEP_SESSION, answer ? SBD_CMD_SESSION_ANSWER : SBD_CMD_SESSION, 0,
	    s->p.session_timeout_ms, now);
}

void
sbd_tick(struct sbd *s, uint64_t now)
{
	if (s->step != STEP_NONE && now >= s->deadline) {
		char why[96];

		s->st.timeouts++;
		if (s->step == STEP_PROBE && ++s->probes < PROBE_TRIES) {
			command(s, STEP_PROBE, SBD_CMD_PROBE, 0, s->p.command_timeout_ms, now);
			return;
		}
		if (s->step == STEP_PROBE)
			snprintf(why, sizeof(why), "no answer to AT (%u tries)", PROBE_TRIES);
		else
			snprintf(why, sizeof(why), "no answer to %s within %u ms",
			    sbd_at_command_name(s->cmd), s->timeout);
		modem_down(s, now, why);
		return;
	}
	if (s->mode == M_DOWN && now >= s->retry_at) {
		init_start(s, now);
		return;
	}
	advance(s, now);
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

/* ---- the serial device ---------------------------------------------- */

static speed_t
baud_speed(unsigned baud)
{
	switch (baud) {
	case 1200: return B1200;
	case 2400: return B2400;
	case 4800: return B4800;
	case 9600: return B9600;
	case 19200: return B19200;
	case 38400: return B38400;
	case 57600: return B57600;
	case 115200: return B115200;
	case 230400: return B230400;
	case 460800: return B460800;
	default: return 0;
	}
}

int
sbd_serial_open(const char *path, unsigned baud, bool rtscts)
{
	speed_t sp = baud_speed(baud);
	struct termios t;
	int fd, err;

	if (sp == 0)
		return -EINVAL;
	if ((fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0)
		return -errno;
	if (tcgetattr(fd, &t) < 0)
		goto fail;
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~(tcflag_t)CSTOPB;
	if (rtscts)
		t.c_cflag |= CRTSCTS;
	else
		t.c_cflag &= ~(tcflag_t)CRTSCTS;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (cfsetispeed(&t, sp) < 0 || cfsetospeed(&t, sp) < 0 || tcsetattr(fd, TCSANOW, &t) < 0)
		goto fail;
	tcflush(fd, TCIOFLUSH);
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

struct sbd_port {
	struct loop *loop;
	struct sbd *core;
	char path[256];
	unsigned baud;
	bool rtscts;
	int fd;
	bool pollout;
	bool syncing;
	struct loop_timer timer;
};

static void port_sync(struct sbd_port *port);

static void
port_lost(struct sbd_port *port, const char *what, int err)
{
	char why[320];

	snprintf(why, sizeof(why), "device %s: %s: %s", port->path, what, strerror(err));
	loop_del_fd(port->loop, port->fd);
	close(port->fd);
	port->fd = -1;
	port->pollout = false;
	sbd_detach(port->core, loop_now(), why);
}

static void
port_flush(struct sbd_port *port)
{
	const uint8_t *p;
	size_t n;

	while (port->fd >= 0 && (n = sbd_output(port->core, &p)) > 0) {
		ssize_t w = write(port->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0) {
			port_lost(port, "write", errno);
			return;
		}
		sbd_output_done(port->core, (size_t)w);
	}
	if (port->fd >= 0) {
		bool want = sbd_output(port->core, &p) > 0;

		if (want != port->pollout) {
			loop_mod_fd(port->loop, port->fd, EPOLLIN | (want ? EPOLLOUT : 0));
			port->pollout = want;
		}
	}
}

static void
port_io(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct sbd_port *port = arg;
	uint8_t buf[512];

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			ssize_t n = read(fd, buf, sizeof(buf));

			if (n > 0) {
				sbd_input(port->core, buf, (size_t)n, loop_now());
				if (port->fd != fd)
					break;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			port_lost(port, "read", n == 0 ? EPIPE : errno);
			break;
		}
	}
	port_sync(port);
}

static void
port_timer(struct loop *l, void *arg)
{
	struct sbd_port *port = arg;

	sbd_tick(port->core, loop_now());
	port_sync(port);
}

/* After anything the core did: open the device if it wants one, write, re-arm the timer. */
static void
port_sync(struct sbd_port *port)
{
	uint64_t now = loop_now(), d;

	if (port->syncing)
		return;
	port->syncing = true;
	if (port->fd < 0 && sbd_device_wanted(port->core, now)) {
		int fd = sbd_serial_open(port->path, port->baud, port->rtscts);

		if (fd < 0) {
			char why[320];

			snprintf(why, sizeof(why), "device %s: open: %s", port->path, strerror(-fd));
			sbd_detach(port->core, now, why);
		} else if (loop_add_fd(port->loop, fd, EPOLLIN, port_io, port) < 0) {
			close(fd);
			sbd_detach(port->core, now, "cannot watch the device");
		} else {
			port->fd = fd;
			sbd_attach(port->core, now);
		}
	}
	port_flush(port);
	d = sbd_deadline(port->core);
	if (d == UINT64_MAX)
		loop_timer_cancel(port->loop, &port->timer);
	else
		loop_timer_set(port->loop, &port->timer, d > now ? d - now : 0, port_timer, port);
	port->syncing = false;
}

struct sbd_port *
sbd_port_new(struct loop *l, const char *path, const struct sbd_params *p,
    const struct sbd_events *ev, void *arg)
{
	struct sbd_port *port;

	if (baud_speed(p->baud) == 0 || strlen(path) >= sizeof(port->path)) {
		errno = EINVAL;
		return NULL;
	}
	if ((port = calloc(1, sizeof(*port))) == NULL)
		return NULL;
	if ((port->core = sbd_new(p, ev, arg, loop_now())) == NULL) {
		free(port);
		return NULL;
	}
	port->loop = l;
	strcpy(port->path, path);
	port->baud = p->baud;
	port->rtscts = p->rtscts;
	port->fd = -1;
	port_sync(port);
	return port;
}

void
sbd_port_free(struct sbd_port *port)
{
	if (port == NULL)
		return;
	loop_timer_cancel(port->loop, &port->timer);
	if (port->fd >= 0) {
		loop_del_fd(port->loop, port->fd);
		close(port->fd);
	}
	sbd_free(port->core);
	free(port);
}

int
sbd_port_send(struct sbd_port *port, const void *msg, size_t len, int prio, void *ctx)
{
	int r = sbd_send(port->core, msg, len, prio, ctx, loop_now());

	port_sync(port);
	return r;
}

void
sbd_port_mailbox_check(struct sbd_port *port)
{
	sbd_mailbox_check(port->core, loop_now());
	port_sync(port);
}

void
sbd_port_stats(const struct sbd_port *port, struct sbd_stats *st)
{
	sbd_stats(port->core, loop_now(), st);
}

struct sbd *
sbd_port_core(struct sbd_port *port)
{
	return port->core;
}
