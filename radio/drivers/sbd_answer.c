/* sbd_answer.c - what the SBD modem answers to each command of the core
 * (radio/drivers/sbd.c, sbd_int.h), and what follows from it; see sbd.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "sbd.h"
#include "sbd_int.h"

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
	sbd_set_error(s, "session failed: %s; retry %u in %llu ms", why, s->failures, (unsigned long long)b);
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
			sbd_set_error(s, "an MT message at the gateway is too big for this modem");
		if (m) {
			sent = true;
			ctx = m->ctx;
			s->st.mo_messages++;
			s->st.mo_bytes += m->len;
			s->period_messages++;
			s->period_bytes += sbd_billed(s, m->len);
			sbd_bill(s, m->len);
			sbd_mo_remove(s, m);
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
		sbd_set_error(s, "session %u: mailbox check failed", ix->momsn);
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
		sbd_bill(s, s->mt_len);
		if (s->ev.received)
			s->ev.received(s->arg, s->mt, s->mt_len, s->mtmsn);
		return;
	}
	if (!s->got_bin)
		sbd_set_error(s, "AT+SBDRB: no message block");
	else if (!s->mt_ok)
		sbd_set_error(s, "AT+SBDRB: checksum mismatch in MT message %u", s->mtmsn);
	else
		sbd_set_error(s, "AT+SBDRB: %zu bytes, the session said %u", s->mt_len, s->mt_expect);
	if (++s->read_tries >= READ_TRIES) {
		s->st.mt_bad++;
		s->mt_to_read = false;
		sbd_set_error(s, "MT message %u lost: unreadable %u times", s->mtmsn, READ_TRIES);
	}
}

static void
write_done(struct sbd *s, uint64_t now)
{
	struct mo *m = s->writing;

	s->writing = NULL;
	if (!s->got_result) {
		s->write_fails++;
		sbd_set_error(s, "AT+SBDWB: OK without a result code");
	} else if (s->result == 0) {
		s->loaded = m;
		s->mo_clean = false;
		s->write_fails = 0;
		return;
	} else if (s->result == 3 && m) {
		void *ctx = m->ctx;

		s->st.refused++;
		sbd_set_error(s, "the modem refused a %zu-byte message: dropped", m->len);
		sbd_mo_remove(s, m);
		if (s->ev.failed)
			s->ev.failed(s->arg, ctx, "message size refused by the modem");
		return;
	} else {
		s->write_fails++;
		sbd_set_error(s, "AT+SBDWB: %s", sbd_write_result_str(s->result));
	}
	if (s->write_fails >= WRITE_TRIES)
		sbd_modem_down(s, now, "AT+SBDWB failed 3 times in a row");
}

static void
signal_done(struct sbd *s, uint64_t now)
{
	if (!s->got_csq) {
		s->st.bad_lines++;
		s->signal_retry_at = now + s->p.signal_poll_ms;
		sbd_set_error(s, "AT+CSQ: OK without a reading");
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
				sbd_modem_down(s, now, "the modem answers ERROR to AT");
			else
				sbd_command(s, STEP_PROBE, SBD_CMD_PROBE, 0, s->p.command_timeout_ms, now);
			return;
		}
		if (step == STEP_IMEI) {	/* not worth failing for */
			sbd_init_next(s, step, now);
			sbd_advance(s, now);
			return;
		}
		if (step == STEP_SIGNAL || step == STEP_INDICATORS) {	/* informational: worked around */
			signal_fallback(s, step);
			sbd_advance(s, now);
			return;
		}
		if (s->mode == M_INIT || ++s->errors_in_row >= ERRORS_IN_ROW) {
			char why[96];

			snprintf(why, sizeof(why), "the modem answers %s to %s%s", kind == SBD_AT_ERROR ?
			    "ERROR" : "READY", sbd_at_command_name(s->cmd),
			    s->mode == M_INIT ? "" : " 3 times in a row");
			sbd_modem_down(s, now, why);
			return;
		}
		sbd_set_error(s, "%s answered ERROR", sbd_at_command_name(s->cmd));
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
		sbd_advance(s, now);
		return;
	}
	s->errors_in_row = 0;
	switch (step) {
	case STEP_PROBE: case STEP_ECHO_OFF: case STEP_VERBOSE: case STEP_FLOW:
	case STEP_RING: case STEP_IMEI:
		sbd_init_next(s, step, now);
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
			sbd_modem_down(s, now, "AT+SBDD0 did not clear the MO buffer 3 times in a row");
			return;
		} else {
			sbd_set_error(s, "AT+SBDD0 did not clear the MO buffer");
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
	sbd_advance(s, now);
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
		sbd_advance(s, now);
		return;
	case SBD_AT_ECHO:
		if (s->echo_off)
			sbd_modem_down(s, now, "the modem echoes commands again: it restarted");
		return;
	case SBD_AT_BAD:
		s->st.bad_lines++;
		log_limited(&s->rl, "sbd: unusable bytes from the modem: %s", e->line);
		return;
	case SBD_AT_TEXT: {
		unsigned ind, v;

		if (sbd_at_parse_ciev(e->line, &ind, &v) == 0) {
			indicator(s, ind, v, now);
			sbd_advance(s, now);
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
