/*
 * sbd_int.h - what the SBD modem core (radio/drivers/sbd.c) and its answer
 * handling (radio/drivers/sbd_answer.c) share; nothing else includes it.
 */
#ifndef FIELDRELAY_SBD_INT_H
#define FIELDRELAY_SBD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "log.h"
#include "sbd.h"
#include "sbd_at.h"

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

/* ---- sbd.c, for the answers ---- */

/* Remember (for stats) and log a failure; rate-limited, the modem may repeat itself. */
void sbd_set_error(struct sbd *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Billed bytes of a message of len bytes, and counting one billed. */
uint64_t sbd_billed(const struct sbd *s, size_t len);
void sbd_bill(struct sbd *s, size_t len);
/* Take m off the MO queue and free it. */
void sbd_mo_remove(struct sbd *s, struct mo *m);
/* Send cmd (arg where it takes one) as step; its answer is due within timeout. */
void sbd_command(struct sbd *s, enum step step, enum sbd_cmd cmd, unsigned arg, uint32_t timeout, uint64_t now);
/* The modem misbehaved: down, started again after a backoff. */
void sbd_modem_down(struct sbd *s, uint64_t now, const char *why);
/* Start-up step done went well: the next one, or up. */
void sbd_init_next(struct sbd *s, enum step done, uint64_t now);
/* Start whatever is due next. */
void sbd_advance(struct sbd *s, uint64_t now);

#endif
