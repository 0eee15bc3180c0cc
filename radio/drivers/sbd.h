/*
 * sbd.h - an Iridium 9602/9603 short-burst-data modem on a serial line
 * (DESIGN.md section 5, issue 5 item 3).
 *
 * The core (struct sbd) is pure logic with an explicit clock, like
 * radio/session.c: modem bytes go in (sbd_input), command bytes come out
 * (sbd_output), time moves with sbd_tick.  It keeps a queue of
 * mobile-originated (MO) messages of at most 340 bytes and, one at a time:
 * polls the signal (AT+CSQ) and starts no session without it, loads the
 * message (AT+SBDWB + checksum), runs a session (AT+SBDIX, or AT+SBDIXA in
 * answer to a ring alert), reads a mobile-terminated (MT) message of at
 * most 270 bytes when the session brought one (AT+SBDRB), and keeps
 * checking the mailbox while the gateway says more are queued.  An MO
 * session status of 0-4 means the gateway has the message: that is the
 * hop acknowledgement, reported as "delivered" (nothing is ever sent back
 * for it).  A failed session is retried after an exponential backoff.
 * Mailbox checks also run on ring alerts (SBDRING) and at an interval.
 * A per-period budget of MO messages and billed bytes holds messages back
 * once spent; every message is counted for cost accounting.
 *
 * A modem that answers ERROR to AT+CSQ is not restarted for it: the signal
 * comes from +CIEV indicator events (AT+CIER), or, if that is refused too,
 * from the sessions' own results.
 *
 * A modem that does not answer, answers ERROR again and again, restarts
 * (its echo comes back) or whose device disappears is reported through the
 * link event and restarted after a backoff; queued messages wait.
 *
 * sbd_port (below) runs the core on a real serial device from the event loop.
 */
#ifndef FIELDRELAY_SBD_H
#define FIELDRELAY_SBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbd_at.h"

struct sbd_params {
	unsigned baud;			/* serial speed; default 19200 (the 9602's) */
	bool rtscts;			/* hardware flow control (AT&K3), else AT&K0 */
	bool ring_alerts;		/* AT+SBDMTA=1: check the mailbox on SBDRING */
	unsigned min_signal;		/* +CSQ (0-5) needed to start a session; default 1 */
	uint32_t command_timeout_ms;	/* an ordinary command; default 5 s */
	uint32_t signal_timeout_ms;	/* AT+CSQ, which measures first; default 60 s */
	uint32_t session_timeout_ms;	/* AT+SBDIX; default 120 s */
	uint32_t signal_poll_ms;	/* signal too weak: ask again after; default 30 s */
	uint32_t signal_max_age_ms;	/* reuse a good reading this long; default 0: ask before every session */
	uint32_t backoff_min_ms;	/* after a failed session; doubles per failure; default 10 s */
	uint32_t backoff_max_ms;	/* default 10 min */
	uint32_t registration_wait_ms;	/* after MO status 36 ("wait 3 minutes"); default 180 s */
	uint32_t restart_min_ms;	/* dead modem or device gone: first restart after; default 2 s */
	uint32_t restart_max_ms;	/* doubling up to; default 5 min */
	uint32_t mailbox_interval_ms;	/* check for MT messages at least this often; 0 = never unprompted */
	unsigned mo_max;		/* largest MO message; default and at most SBD_MO_MAX */
	unsigned queue_max;		/* MO messages waiting; default 64 */
	uint32_t budget_messages;	/* MO messages per budget period; 0 = no limit */
	uint64_t budget_bytes;		/* billed MO bytes per budget period; 0 = no limit */
	uint64_t budget_period_ms;	/* default 24 h, on the monotonic clock from start */
	uint32_t bill_min_bytes;	/* a message is billed at least this many bytes; default 1 */
	uint32_t bill_unit_bytes;	/* billed bytes round up to a multiple of this; default 1 */
	uint64_t price_per_unit;	/* cost of one billing unit, in the operator's micro-units; 0 = unknown */
};

/* Defaults for every field (see above). */
void sbd_params_default(struct sbd_params *p);

/* What the driver tells its owner.  Callbacks may call sbd_send, never sbd_free. */
struct sbd_events {
	/* The gateway has the message (MO status 0-4): the hop acknowledgement. */
	void (*delivered)(void *arg, void *ctx, uint16_t momsn);
	/* This modem can never send it (the modem refused its size); it is dropped. */
	void (*failed)(void *arg, void *ctx, const char *why);
	/* A mobile-terminated message, checksum verified. */
	void (*received)(void *arg, const uint8_t *msg, size_t len, uint16_t mtmsn);
	/* The modem became usable (up) or not (down, with why). */
	void (*link)(void *arg, bool up, const char *why);
};

struct sbd_stats {
	const char *state;		/* "no device", "down", "starting", "ready", "no signal",
					 * "backoff", "budget spent", "busy" */
	char last_error[128];		/* the last failure, "" if none */
	char imei[16];			/* from AT+CGSN, "" if unknown */
	int signal;			/* last +CSQ (or +CIEV:0), -1 unknown */
	const char *signal_source;	/* "csq"; "ciev" or "session" when the modem refuses AT+CSQ
					 * (and AT+CIER): see radio/drivers/sbd.c */
	uint64_t signal_age_ms;
	unsigned queued;
	uint64_t queued_bytes;
	unsigned mt_waiting;		/* queued at the gateway, as the last session said */
	uint64_t sessions, sessions_ok, sessions_failed, mailbox_checks, rings;
	unsigned last_mo_status;	/* of the last session, 0 if none */
	unsigned failures_in_row;
	uint64_t backoff_left_ms;
	uint64_t mo_messages, mo_bytes, mt_messages, mt_bytes;
	uint64_t billed_bytes;		/* MO and MT, after bill_min_bytes / bill_unit_bytes */
	uint64_t cost;			/* micro-units (price_per_unit) */
	uint64_t period_messages, period_bytes;	/* MO spent against the budget */
	uint64_t period_left_ms;
	bool budget_spent;		/* a queued message waits for the next period */
	uint64_t restarts, timeouts, errors, bad_lines, mt_bad, refused;
};

struct sbd;

struct sbd *sbd_new(const struct sbd_params *p, const struct sbd_events *ev, void *arg, uint64_t now);
void sbd_free(struct sbd *s);

/*
 * Queue an MO message (copied).  Lower prio goes first, FIFO within one.
 * 0, or -EINVAL (empty), -EMSGSIZE (above mo_max), -ENOBUFS (queue full).
 */
int sbd_send(struct sbd *s, const void *msg, size_t len, int prio, void *ctx, uint64_t now);
/* Take back a queued message that is not in a session right now: its ctx, NULL when none. */
void *sbd_drain(struct sbd *s);
/* Check the mailbox as soon as possible. */
void sbd_mailbox_check(struct sbd *s, uint64_t now);

/* The device: opened (start talking), gone (why), and whether to open it now. */
void sbd_attach(struct sbd *s, uint64_t now);
void sbd_detach(struct sbd *s, uint64_t now, const char *why);
bool sbd_device_wanted(const struct sbd *s, uint64_t now);

/* Bytes from the modem. */
void sbd_input(struct sbd *s, const uint8_t *buf, size_t n, uint64_t now);
/* Bytes for the modem: a pointer to them and their count; then how many were written. */
size_t sbd_output(const struct sbd *s, const uint8_t **p);
void sbd_output_done(struct sbd *s, size_t n);
/* Run timeouts and start whatever is due. */
void sbd_tick(struct sbd *s, uint64_t now);
/* When sbd_tick next has something to do (ms, monotonic); UINT64_MAX: not before input. */
uint64_t sbd_deadline(const struct sbd *s);

void sbd_stats(const struct sbd *s, uint64_t now, struct sbd_stats *st);

/* ---- on a serial device, from the event loop ---- */

/* Open path raw (8N1, no echo, non-blocking) at baud: the fd or -errno. */
int sbd_serial_open(const char *path, unsigned baud, bool rtscts);

struct loop;
struct sbd_port;

/*
 * Drive a modem on the device at path (reopened after it disappears).
 * NULL with errno set (EINVAL: a baud rate termios cannot set).
 */
struct sbd_port *sbd_port_new(struct loop *l, const char *path, const struct sbd_params *p,
    const struct sbd_events *ev, void *arg);
void sbd_port_free(struct sbd_port *port);
int sbd_port_send(struct sbd_port *port, const void *msg, size_t len, int prio, void *ctx);
void sbd_port_mailbox_check(struct sbd_port *port);
void sbd_port_stats(const struct sbd_port *port, struct sbd_stats *st);
struct sbd *sbd_port_core(struct sbd_port *port);

#endif
