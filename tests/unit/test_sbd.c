/*
 * test_sbd.c - the SBD modem driver as a state machine: a fake clock, and
 * the test plays the modem line by line (what the driver writes is checked
 * byte for byte, the answers are scripted).  Start-up, sending with
 * AT+SBDWB/AT+SBDIX, the hop acknowledgement, no session without signal,
 * backoff after failed sessions, MT messages (after a session, a ring
 * alert, the mailbox interval, while more are queued), the budget and cost
 * accounting, and a dead, erroring, restarting or vanished modem.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sbd.h"

#define IMEI	"300234010753370"

struct env {
	struct sbd *s;
	struct sbd_params p;
	uint64_t now;
	intptr_t delivered[64];
	uint16_t momsn[64];
	int ndelivered;
	intptr_t failed[8];
	int nfailed;
	uint8_t rx[8][SBD_MT_MAX];
	size_t rxlen[8];
	uint16_t mtmsn[8];
	int nrx;
	int ups, downs;
	char why[256];
	const char *chain;		/* on delivery, queue this one */
};

static void
on_delivered(void *arg, void *ctx, uint16_t momsn)
{
	struct env *e = arg;

	assert_true(e->ndelivered < 64);
	e->momsn[e->ndelivered] = momsn;
	e->delivered[e->ndelivered++] = (intptr_t)ctx;
	if (e->chain) {
		const char *m = e->chain;

		e->chain = NULL;
		assert_int_equal(sbd_send(e->s, m, strlen(m), 4, (void *)(intptr_t)100, e->now), 0);
	}
}

static void
on_failed(void *arg, void *ctx, const char *why)
{
	struct env *e = arg;

	e->failed[e->nfailed++] = (intptr_t)ctx;
	snprintf(e->why, sizeof(e->why), "%s", why);
}

static void
on_received(void *arg, const uint8_t *msg, size_t len, uint16_t mtmsn)
{
	struct env *e = arg;

	assert_true(e->nrx < 8);
	memcpy(e->rx[e->nrx], msg, len);
	e->rxlen[e->nrx] = len;
	e->mtmsn[e->nrx++] = mtmsn;
}

static void
on_link(void *arg, bool up, const char *why)
{
	struct env *e = arg;

	if (up)
		e->ups++;
	else
		e->downs++;
	snprintf(e->why, sizeof(e->why), "%s", why);
}

static const struct sbd_events events = {
	.delivered = on_delivered, .failed = on_failed, .received = on_received, .link = on_link,
};

static struct env *
env_new(void (*tune)(struct sbd_params *p))
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	sbd_params_default(&e->p);
	if (tune)
		tune(&e->p);
	e->now = 1000;
	e->s = sbd_new(&e->p, &events, e, e->now);
	assert_non_null(e->s);
	return e;
}

static void
env_free(struct env *e)
{
	sbd_free(e->s);
	free(e);
}

/*
 * Whenever the driver is idle, it must have a future deadline: a deadline
 * in the past with nothing to send would spin the event loop.
 */
static void
no_spin(struct env *e)
{
	const uint8_t *p;

	if (sbd_output(e->s, &p) == 0)
		assert_true(sbd_deadline(e->s) > e->now);
}

/* What the driver wrote must be exactly want (len bytes). */
static void
expect_bytes(struct env *e, const void *want, size_t len)
{
	const uint8_t *p;
	size_t n = sbd_output(e->s, &p);

	if (n != len || memcmp(p, want, len) != 0)
		fail_msg("driver wrote \"%.*s\" (%zu bytes), expected \"%.*s\" (%zu)", (int)n, p, n,
		    (int)len, (const char *)want, len);
	sbd_output_done(e->s, n);
}

static void
expect(struct env *e, const char *cmd)
{
	expect_bytes(e, cmd, strlen(cmd));
}

static void
expect_nothing(struct env *e)
{
	expect_bytes(e, "", 0);
	no_spin(e);
}

/* The modem says text. */
static void
modem(struct env *e, const char *text)
{
	sbd_input(e->s, (const uint8_t *)text, strlen(text), e->now);
}

static void
at(struct env *e, uint64_t t)
{
	e->now = t;
	sbd_tick(e->s, t);
}

/* The start-up sequence, answered as a modem fresh from power-up does. */
static void
start_up(struct env *e)
{
	expect(e, "AT\r");
	modem(e, "AT\r\r\nOK\r\n");		/* echo is on after power-up */
	expect(e, "ATE0\r");
	modem(e, "ATE0\r\r\nOK\r\n");
	expect(e, "ATV1\r");
	modem(e, "\r\nOK\r\n");
	expect(e, "AT&K0\r");
	modem(e, "\r\nOK\r\n");
	expect(e, "AT+SBDMTA=1\r");
	modem(e, "\r\nOK\r\n");
	expect(e, "AT+CGSN\r");
	modem(e, "\r\n" IMEI "\r\n\r\nOK\r\n");
}

/* A device is opened: start-up. */
static void
boot(struct env *e)
{
	assert_true(sbd_device_wanted(e->s, e->now));
	sbd_attach(e->s, e->now);
	start_up(e);
}

static void
signal_is(struct env *e, unsigned csq)
{
	char buf[32];

	expect(e, "AT+CSQ\r");
	snprintf(buf, sizeof(buf), "\r\n+CSQ:%u\r\n\r\nOK\r\n", csq);
	modem(e, buf);
}

/* AT+SBDWB for msg, answered with result. */
static void
load(struct env *e, const char *msg, unsigned result)
{
	char cmd[32], res[32];
	uint8_t bin[SBD_MO_MAX + 2];
	int n;

	snprintf(cmd, sizeof(cmd), "AT+SBDWB=%zu\r", strlen(msg));
	expect(e, cmd);
	modem(e, "\r\nREADY\r\n");
	n = sbd_at_binary((const uint8_t *)msg, strlen(msg), bin, sizeof(bin));
	assert_true(n > 2);
	expect_bytes(e, bin, (size_t)n);
	snprintf(res, sizeof(res), "\r\n%u\r\n\r\nOK\r\n", result);
	modem(e, res);
}

static void
sbdix(struct env *e, const char *cmd, unsigned mo, unsigned momsn, unsigned mt, unsigned mtmsn,
    unsigned mtlen, unsigned queued)
{
	char buf[96];

	expect(e, cmd);
	snprintf(buf, sizeof(buf), "\r\n+SBDIX: %u, %u, %u, %u, %u, %u\r\n\r\nOK\r\n", mo, momsn, mt,
	    mtmsn, mtlen, queued);
	modem(e, buf);
}

static void
sbdrb(struct env *e, const void *msg, size_t len, bool corrupt)
{
	uint8_t buf[SBD_MT_MAX + 16];
	uint16_t ck = sbd_checksum(msg, len);

	expect(e, "AT+SBDRB\r");
	buf[0] = len >> 8;
	buf[1] = len & 0xff;
	memcpy(buf + 2, msg, len);
	buf[2 + len] = ck >> 8;
	buf[3 + len] = (ck & 0xff) ^ (corrupt ? 0x40 : 0);
	memcpy(buf + 4 + len, "\r\nOK\r\n", 6);
	sbd_input(e->s, buf, len + 10, e->now);
}

static void
send(struct env *e, const char *msg, int prio, intptr_t id)
{
	assert_int_equal(sbd_send(e->s, msg, strlen(msg), prio, (void *)id, e->now), 0);
}

static struct sbd_stats
stats(struct env *e)
{
	struct sbd_stats st;

	sbd_stats(e->s, e->now, &st);
	return st;
}

/* ---- tests ---------------------------------------------------------- */

static void
test_start_and_send(void **state)
{
	struct env *e = env_new(NULL);
	struct sbd_stats st = stats(e);

	assert_string_equal(st.state, "no device");
	boot(e);
	assert_int_equal(e->ups, 1);
	st = stats(e);
	assert_string_equal(st.state, "ready");
	assert_string_equal(st.imei, IMEI);
	expect_nothing(e);
	assert_int_equal(sbd_deadline(e->s), UINT64_MAX);	/* no mailbox interval, nothing queued */

	send(e, "hello", 4, 1);
	signal_is(e, 4);
	load(e, "hello", 0);
	assert_string_equal(stats(e).state, "busy");
	sbdix(e, "AT+SBDIX\r", 0, 7, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 1);
	assert_int_equal(e->delivered[0], 1);
	assert_int_equal(e->momsn[0], 7);
	expect_nothing(e);
	st = stats(e);
	assert_int_equal(st.sessions, 1);
	assert_int_equal(st.sessions_ok, 1);
	assert_int_equal(st.mo_messages, 1);
	assert_int_equal(st.mo_bytes, 5);
	assert_int_equal(st.billed_bytes, 5);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.signal, 4);
	env_free(e);
}

static void
test_limits(void **state)
{
	struct env *e = env_new(NULL);
	uint8_t big[SBD_MO_MAX + 1];

	memset(big, 'x', sizeof(big));
	assert_int_equal(sbd_send(e->s, big, 0, 0, NULL, e->now), -EINVAL);
	assert_int_equal(sbd_send(e->s, big, SBD_MO_MAX + 1, 0, NULL, e->now), -EMSGSIZE);
	assert_int_equal(sbd_send(e->s, big, SBD_MO_MAX, 0, NULL, e->now), 0);
	for (unsigned i = 1; i < e->p.queue_max; i++)
		assert_int_equal(sbd_send(e->s, big, 1, 0, NULL, e->now), 0);
	assert_int_equal(sbd_send(e->s, big, 1, 0, NULL, e->now), -ENOBUFS);
	assert_int_equal(stats(e).queued, e->p.queue_max);
	assert_int_equal(stats(e).queued_bytes, SBD_MO_MAX + e->p.queue_max - 1);
	env_free(e);
}

static void
test_no_signal(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	send(e, "pos", 2, 1);
	signal_is(e, 0);
	/* no session: the signal is asked for again after signal_poll_ms */
	expect_nothing(e);
	assert_string_equal(stats(e).state, "no signal");
	assert_int_equal(sbd_deadline(e->s), e->now + e->p.signal_poll_ms);
	at(e, e->now + e->p.signal_poll_ms - 1);
	expect_nothing(e);
	at(e, e->now + 1);
	signal_is(e, 0);
	expect_nothing(e);
	at(e, e->now + e->p.signal_poll_ms);
	signal_is(e, 2);
	load(e, "pos", 0);
	sbdix(e, "AT+SBDIX\r", 0, 1, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 1);
	env_free(e);
}

static void
tune_min_signal(struct sbd_params *p)
{
	p->min_signal = 3;
	p->signal_max_age_ms = 60000;
}

static void
test_min_signal_and_age(void **state)
{
	struct env *e = env_new(tune_min_signal);

	boot(e);
	send(e, "a", 2, 1);
	signal_is(e, 2);		/* below min_signal 3 */
	expect_nothing(e);
	at(e, e->now + e->p.signal_poll_ms);
	signal_is(e, 3);
	load(e, "a", 0);
	sbdix(e, "AT+SBDIX\r", 0, 1, 0, 0, 0, 0);
	/* within signal_max_age_ms a good reading is reused: no AT+CSQ */
	at(e, e->now + 1000);
	send(e, "b", 2, 2);
	load(e, "b", 0);
	sbdix(e, "AT+SBDIX\r", 0, 2, 0, 0, 0, 0);
	/* after it, asked again */
	at(e, e->now + 60000);
	send(e, "c", 2, 3);
	signal_is(e, 5);
	load(e, "c", 0);
	sbdix(e, "AT+SBDIX\r", 0, 3, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 3);
	env_free(e);
}

static void
test_backoff(void **state)
{
	struct env *e = env_new(NULL);
	static const unsigned fail[] = { 32, 35, 18, 17, 10, 13, 19, 65 };
	uint64_t want = e->p.backoff_min_ms;

	boot(e);
	send(e, "alert", 1, 9);
	signal_is(e, 5);
	load(e, "alert", 0);
	for (size_t i = 0; i < sizeof(fail) / sizeof(fail[0]); i++) {
		struct sbd_stats st;

		if (i > 0)
			signal_is(e, 5);
		/* the message stays in the modem: no second AT+SBDWB */
		sbdix(e, "AT+SBDIX\r", fail[i], 40 + (unsigned)i, 0, 0, 0, 0);
		assert_int_equal(e->ndelivered, 0);
		st = stats(e);
		assert_string_equal(st.state, "backoff");
		assert_int_equal(st.failures_in_row, i + 1);
		assert_int_equal(st.last_mo_status, fail[i]);
		assert_int_equal(st.backoff_left_ms, want);
		assert_int_equal(sbd_deadline(e->s), e->now + want);
		at(e, e->now + want - 1);
		expect_nothing(e);
		at(e, e->now + 1);
		want = want * 2 > e->p.backoff_max_ms ? e->p.backoff_max_ms : want * 2;
	}
	assert_int_equal(want, e->p.backoff_max_ms);	/* 10 s doubled 7 times passes 10 min */
	signal_is(e, 5);
	sbdix(e, "AT+SBDIX\r", 0, 60, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 1);
	assert_int_equal(e->momsn[0], 60);
	assert_int_equal(stats(e).sessions_failed, 8);
	assert_int_equal(stats(e).failures_in_row, 0);
	assert_int_equal(stats(e).mo_messages, 1);
	/* the next message goes at once */
	send(e, "next", 1, 10);
	signal_is(e, 5);
	load(e, "next", 0);
	sbdix(e, "AT+SBDIX\r", 0, 61, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 2);
	env_free(e);
}

static void
test_registration_wait(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	send(e, "x", 1, 1);
	signal_is(e, 5);
	load(e, "x", 0);
	sbdix(e, "AT+SBDIX\r", 36, 1, 0, 0, 0, 0);
	assert_int_equal(stats(e).backoff_left_ms, e->p.registration_wait_ms);
	env_free(e);
}

static void
test_mt_after_session(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	send(e, "report", 4, 1);
	signal_is(e, 3);
	load(e, "report", 0);
	/* the session brought an MT message, and one more waits */
	sbdix(e, "AT+SBDIX\r", 0, 5, 1, 21, 11, 1);
	assert_int_equal(e->ndelivered, 1);
	sbdrb(e, "come back\r\n", 11, false);
	assert_int_equal(e->nrx, 1);
	assert_int_equal(e->rxlen[0], 11);
	assert_memory_equal(e->rx[0], "come back\r\n", 11);
	assert_int_equal(e->mtmsn[0], 21);
	/* keep going while the gateway has more: clear the sent message first */
	signal_is(e, 3);
	expect(e, "AT+SBDD0\r");
	modem(e, "\r\n0\r\n\r\nOK\r\n");
	sbdix(e, "AT+SBDIX\r", 0, 6, 1, 22, 2, 0);
	sbdrb(e, "ok", 2, false);
	assert_int_equal(e->nrx, 2);
	assert_int_equal(e->mtmsn[1], 22);
	expect_nothing(e);
	assert_int_equal(stats(e).mt_messages, 2);
	assert_int_equal(stats(e).mt_bytes, 13);
	assert_int_equal(stats(e).mailbox_checks, 1);
	assert_int_equal(stats(e).billed_bytes, 6 + 11 + 2);
	env_free(e);
}

static void
test_mt_bad_checksum(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	sbd_mailbox_check(e->s, e->now);
	signal_is(e, 3);
	expect(e, "AT+SBDD0\r");
	modem(e, "\r\n0\r\n\r\nOK\r\n");
	sbdix(e, "AT+SBDIX\r", 0, 1, 1, 9, 4, 0);
	sbdrb(e, "data", 4, true);		/* read again */
	sbdrb(e, "data", 4, false);
	assert_int_equal(e->nrx, 1);
	assert_int_equal(stats(e).mt_bad, 0);
	/* three bad reads: given up, counted, never delivered */
	sbd_mailbox_check(e->s, e->now);
	signal_is(e, 3);
	sbdix(e, "AT+SBDIX\r", 0, 2, 1, 10, 4, 0);
	sbdrb(e, "data", 4, true);
	sbdrb(e, "dat", 3, false);		/* not the length the session said */
	sbdrb(e, "data", 4, true);
	expect_nothing(e);
	assert_int_equal(e->nrx, 1);
	assert_int_equal(stats(e).mt_bad, 1);
	env_free(e);
}

static void
test_ring_alert(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	expect_nothing(e);
	modem(e, "\r\nSBDRING\r\n");
	assert_int_equal(stats(e).rings, 1);
	signal_is(e, 2);
	expect(e, "AT+SBDD0\r");		/* what the buffer holds after power-up is unknown */
	modem(e, "\r\n0\r\n\r\nOK\r\n");
	sbdix(e, "AT+SBDIXA\r", 0, 3, 1, 44, 5, 0);
	sbdrb(e, "ALERT", 5, false);
	assert_int_equal(e->nrx, 1);
	assert_int_equal(e->mtmsn[0], 44);
	expect_nothing(e);

	/* A ring during a session is answered by another session. */
	send(e, "m", 2, 1);
	signal_is(e, 2);
	load(e, "m", 0);
	expect(e, "AT+SBDIX\r");
	modem(e, "\r\nSBDRING\r\n\r\n+SBDIX: 0, 4, 0, 0, 0, 0\r\n\r\nOK\r\n");
	assert_int_equal(e->ndelivered, 1);
	signal_is(e, 2);
	expect(e, "AT+SBDD0\r");
	modem(e, "\r\n0\r\n\r\nOK\r\n");
	sbdix(e, "AT+SBDIXA\r", 0, 5, 1, 45, 2, 0);
	sbdrb(e, "go", 2, false);
	assert_int_equal(e->nrx, 2);
	env_free(e);
}

static void
tune_mailbox(struct sbd_params *p)
{
	p->mailbox_interval_ms = 600000;
}

static void
test_mailbox_interval(void **state)
{
	struct env *e = env_new(tune_mailbox);

	boot(e);
	/* one check right after start-up */
	signal_is(e, 1);
	expect(e, "AT+SBDD0\r");
	modem(e, "\r\n0\r\n\r\nOK\r\n");
	sbdix(e, "AT+SBDIX\r", 0, 1, 0, 0, 0, 0);
	expect_nothing(e);
	assert_int_equal(sbd_deadline(e->s), e->now + 600000);
	at(e, e->now + 599999);
	expect_nothing(e);
	at(e, e->now + 1);
	signal_is(e, 1);
	sbdix(e, "AT+SBDIX\r", 0, 2, 0, 0, 0, 0);	/* buffer already clear */
	/* a session that sends also checks the mailbox: the interval restarts from it */
	at(e, e->now + 300000);
	send(e, "p", 2, 1);
	signal_is(e, 1);
	load(e, "p", 0);
	sbdix(e, "AT+SBDIX\r", 0, 3, 0, 0, 0, 0);
	assert_int_equal(sbd_deadline(e->s), e->now + 600000);
	/* a failed mailbox check is retried after the backoff */
	at(e, e->now + 600000);
	signal_is(e, 1);
	expect(e, "AT+SBDD0\r");
	modem(e, "\r\n0\r\n\r\nOK\r\n");
	sbdix(e, "AT+SBDIX\r", 18, 4, 0, 0, 0, 0);
	assert_int_equal(sbd_deadline(e->s), e->now + e->p.backoff_min_ms);
	at(e, e->now + e->p.backoff_min_ms);
	signal_is(e, 1);
	sbdix(e, "AT+SBDIX\r", 0, 5, 0, 0, 0, 0);
	assert_int_equal(stats(e).mailbox_checks, 4);
	env_free(e);
}

static void
tune_budget(struct sbd_params *p)
{
	p->budget_messages = 2;
	p->budget_bytes = 100;
	p->budget_period_ms = 3600000;
	p->bill_min_bytes = 10;
	p->bill_unit_bytes = 10;
	p->price_per_unit = 1500;
}

static void
test_budget(void **state)
{
	struct env *e = env_new(tune_budget);
	struct sbd_stats st;
	uint64_t start = e->now;

	boot(e);
	send(e, "abc", 4, 1);		/* billed 10 */
	send(e, "0123456789a", 4, 2);	/* billed 20 */
	send(e, "z", 4, 3);
	signal_is(e, 3);
	load(e, "abc", 0);
	sbdix(e, "AT+SBDIX\r", 0, 1, 0, 0, 0, 0);
	signal_is(e, 3);
	load(e, "0123456789a", 0);
	sbdix(e, "AT+SBDIX\r", 0, 2, 0, 0, 0, 0);
	/* two messages: spent until the period ends */
	expect_nothing(e);
	st = stats(e);
	assert_true(st.budget_spent);
	assert_string_equal(st.state, "budget spent");
	assert_int_equal(st.period_messages, 2);
	assert_int_equal(st.period_bytes, 30);
	assert_int_equal(st.billed_bytes, 30);
	assert_int_equal(st.cost, 3 * 1500);
	assert_int_equal(st.queued, 1);
	assert_int_equal(sbd_deadline(e->s), start + 3600000);
	/* an urgent message waits as well: the budget is the budget */
	send(e, "U", 0, 4);
	expect_nothing(e);
	at(e, start + 3600000);
	signal_is(e, 3);
	load(e, "U", 0);
	sbdix(e, "AT+SBDIX\r", 0, 3, 0, 0, 0, 0);
	signal_is(e, 3);
	load(e, "z", 0);
	sbdix(e, "AT+SBDIX\r", 0, 4, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 4);
	assert_int_equal(e->delivered[2], 4);
	assert_int_equal(stats(e).period_messages, 2);
	assert_int_equal(stats(e).mo_messages, 4);
	assert_int_equal(stats(e).cost, 5 * 1500);
	env_free(e);
}

static void
tune_bytes(struct sbd_params *p)
{
	p->budget_bytes = 25;
}

static void
test_byte_budget(void **state)
{
	struct env *e = env_new(tune_bytes);

	boot(e);
	send(e, "0123456789012345678901", 4, 1);	/* 22 bytes */
	send(e, "0123456789", 4, 2);		/* would pass 25 */
	send(e, "012", 4, 3);			/* fits: sent, the 10-byte one waits */
	signal_is(e, 3);
	load(e, "0123456789012345678901", 0);
	sbdix(e, "AT+SBDIX\r", 0, 1, 0, 0, 0, 0);
	signal_is(e, 3);
	load(e, "012", 0);
	sbdix(e, "AT+SBDIX\r", 0, 2, 0, 0, 0, 0);
	expect_nothing(e);
	assert_int_equal(e->ndelivered, 2);
	assert_int_equal(e->delivered[1], 3);
	assert_true(stats(e).budget_spent);
	assert_int_equal(stats(e).period_bytes, 25);
	env_free(e);
}

static void
test_priority_and_drain(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	send(e, "bulk", 6, 1);
	/* the first message is on its way; the others queue behind by priority */
	expect(e, "AT+CSQ\r");
	send(e, "position", 2, 2);
	send(e, "ALERT", 1, 3);
	modem(e, "\r\n+CSQ:5\r\n\r\nOK\r\n");
	/* signal known: the highest priority is loaded first */
	load(e, "ALERT", 0);
	/* while in the session, drain takes the others back but not it */
	expect(e, "AT+SBDIX\r");
	assert_int_equal((intptr_t)sbd_drain(e->s), 2);
	assert_int_equal((intptr_t)sbd_drain(e->s), 1);
	assert_null(sbd_drain(e->s));
	modem(e, "\r\n+SBDIX: 0, 1, 0, 0, 0, 0\r\n\r\nOK\r\n");
	assert_int_equal(e->ndelivered, 1);
	assert_int_equal(e->delivered[0], 3);
	assert_int_equal(stats(e).queued, 0);
	expect_nothing(e);
	env_free(e);
}

static void
test_write_results(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	send(e, "one", 4, 1);
	signal_is(e, 4);
	load(e, "one", 2);		/* bad checksum: written again */
	load(e, "one", 1);		/* modem timed out */
	load(e, "one", 0);
	sbdix(e, "AT+SBDIX\r", 0, 1, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 1);

	/* size refused: this modem can never send it */
	send(e, "two", 4, 2);
	signal_is(e, 4);
	expect(e, "AT+SBDWB=3\r");
	modem(e, "\r\n3\r\n\r\nOK\r\n");
	assert_int_equal(e->nfailed, 1);
	assert_int_equal(e->failed[0], 2);
	assert_int_equal(stats(e).refused, 1);
	assert_int_equal(stats(e).queued, 0);
	expect_nothing(e);

	/* three failed writes in a row: the modem is restarted */
	send(e, "three", 4, 3);
	load(e, "three", 2);		/* the reading for "two" still holds */
	load(e, "three", 2);
	load(e, "three", 2);
	assert_int_equal(e->downs, 1);
	assert_string_equal(stats(e).state, "down");
	assert_int_equal(stats(e).queued, 1);
	env_free(e);
}

static void
test_dead_modem(void **state)
{
	struct env *e = env_new(NULL);
	uint64_t delay = e->p.restart_min_ms;

	sbd_attach(e->s, e->now);
	/* silence: three probes, then down, restarted with a doubling backoff */
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 3; i++) {
			expect(e, "AT\r");
			assert_int_equal(sbd_deadline(e->s), e->now + e->p.command_timeout_ms);
			at(e, e->now + e->p.command_timeout_ms);
		}
		expect_nothing(e);
		assert_string_equal(stats(e).state, "down");
		assert_string_equal(stats(e).last_error,
		    round == 0 ? "no answer to AT (3 tries); restarting the modem in 2000 ms" :
		    stats(e).last_error);
		assert_int_equal(sbd_deadline(e->s), e->now + delay);
		at(e, e->now + delay);
		delay *= 2;
	}
	assert_int_equal(stats(e).restarts, 4);
	assert_int_equal(stats(e).timeouts, 12);
	assert_int_equal(e->ups, 0);
	/* it wakes up, with a message waiting */
	send(e, "q", 4, 7);
	expect(e, "AT\r");
	modem(e, "\r\nOK\r\n");
	expect(e, "ATE0\r");
	modem(e, "\r\nOK\r\n");
	expect(e, "ATV1\r");
	modem(e, "\r\nOK\r\n");
	expect(e, "AT&K0\r");
	modem(e, "\r\nOK\r\n");
	expect(e, "AT+SBDMTA=1\r");
	modem(e, "\r\nOK\r\n");
	expect(e, "AT+CGSN\r");
	modem(e, "\r\nERROR\r\n");		/* no IMEI: still usable */
	assert_int_equal(e->ups, 1);
	assert_string_equal(stats(e).imei, "");
	signal_is(e, 3);
	load(e, "q", 0);
	sbdix(e, "AT+SBDIX\r", 0, 1, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 1);
	env_free(e);
}

static void
test_error_loop(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	send(e, "m", 3, 1);
	signal_is(e, 4);
	load(e, "m", 0);
	expect(e, "AT+SBDIX\r");
	modem(e, "\r\nERROR\r\n");
	/* one ERROR: a failed session, retried after the backoff */
	assert_string_equal(stats(e).state, "backoff");
	at(e, e->now + e->p.backoff_min_ms);
	/* AT+CSQ and AT+CIER are informational: their ERROR is worked around, not counted */
	expect(e, "AT+CSQ\r");
	modem(e, "\r\nERROR\r\n");
	expect(e, "AT+CIER=1,1,1\r");
	modem(e, "\r\nERROR\r\n");
	expect(e, "AT+SBDIX\r");
	modem(e, "\r\nERROR\r\n");
	assert_int_equal(e->downs, 0);
	at(e, e->now + 2 * e->p.backoff_min_ms);
	expect(e, "AT+SBDIX\r");
	modem(e, "\r\nERROR\r\n");
	/* the third AT+SBDIX in a row: restart */
	assert_int_equal(e->downs, 1);
	assert_string_equal(e->why, "the modem answers ERROR to AT+SBDIX 3 times in a row");
	assert_int_equal(stats(e).errors, 5);
	at(e, e->now + e->p.restart_min_ms);
	start_up(e);
	assert_int_equal(e->ups, 2);
	/* the message was kept, and the modem buffer is not trusted: written again; AT+CSQ tried again */
	signal_is(e, 4);
	load(e, "m", 0);
	sbdix(e, "AT+SBDIX\r", 0, 2, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 1);
	env_free(e);
}

/*
 * Issue 11 item 6: a modem that answers ERROR to AT+CSQ still sends, with
 * its signal from +CIEV events: no restart, sessions held while the
 * indicator says no signal, resumed by the event that says it is back.
 */
static void
test_csq_refused_ciev(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	send(e, "one", 3, 1);
	expect(e, "AT+CSQ\r");
	modem(e, "\r\nERROR\r\n");
	expect(e, "AT+CIER=1,1,1\r");
	modem(e, "\r\nOK\r\n");
	assert_string_equal(stats(e).signal_source, "ciev");
	/* no event yet: the signal is unknown and the session judges */
	load(e, "one", 0);
	sbdix(e, "AT+SBDIX\r", 0, 1, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 1);
	expect_nothing(e);

	/* the indicator says no signal: nothing starts, and nothing spins */
	modem(e, "\r\n+CIEV:0,0\r\n");
	modem(e, "\r\n+CIEV:1,0\r\n");
	send(e, "two", 3, 2);
	expect_nothing(e);
	assert_string_equal(stats(e).state, "no signal");
	assert_int_equal(stats(e).signal, 0);
	at(e, e->now + 10 * e->p.signal_poll_ms);
	expect_nothing(e);
	/* it comes back: the session goes at once, without asking */
	modem(e, "\r\n+CIEV:1,1\r\n");
	modem(e, "\r\n+CIEV:0,3\r\n");
	load(e, "two", 0);
	sbdix(e, "AT+SBDIX\r", 0, 2, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 2);
	assert_int_equal(stats(e).signal, 3);
	send(e, "three", 3, 3);
	load(e, "three", 0);
	sbdix(e, "AT+SBDIX\r", 0, 3, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 3);
	assert_int_equal(e->downs, 0);
	assert_int_equal(stats(e).restarts, 0);
	env_free(e);
}

/* AT+CSQ and AT+CIER both refused: sessions start anyway; a failed one (no service) backs off. */
static void
test_csq_and_cier_refused(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	send(e, "one", 3, 1);
	expect(e, "AT+CSQ\r");
	modem(e, "\r\nERROR\r\n");
	expect(e, "AT+CIER=1,1,1\r");
	modem(e, "\r\nERROR\r\n");
	assert_string_equal(stats(e).signal_source, "session");
	load(e, "one", 0);
	sbdix(e, "AT+SBDIX\r", 32, 0, 0, 0, 0, 0);	/* no network service */
	assert_int_equal(e->ndelivered, 0);
	assert_string_equal(stats(e).state, "backoff");
	expect_nothing(e);
	at(e, e->now + e->p.backoff_min_ms);
	sbdix(e, "AT+SBDIX\r", 0, 1, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 1);
	send(e, "two", 3, 2);
	load(e, "two", 0);
	sbdix(e, "AT+SBDIX\r", 0, 2, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 2);
	expect_nothing(e);
	assert_int_equal(e->downs, 0);
	assert_int_equal(stats(e).restarts, 0);
	env_free(e);
}

static void
test_error_during_init(void **state)
{
	struct env *e = env_new(NULL);

	sbd_attach(e->s, e->now);
	expect(e, "AT\r");
	modem(e, "\r\nERROR\r\n");	/* noise before the first AT: probe again */
	expect(e, "AT\r");
	modem(e, "\r\nOK\r\n");
	expect(e, "ATE0\r");
	modem(e, "\r\nOK\r\n");
	expect(e, "ATV1\r");
	modem(e, "\r\nOK\r\n");
	expect(e, "AT&K0\r");
	modem(e, "\r\nOK\r\n");
	expect(e, "AT+SBDMTA=1\r");
	modem(e, "\r\nERROR\r\n");
	assert_string_equal(stats(e).state, "down");
	assert_string_equal(stats(e).last_error,
	    "the modem answers ERROR to AT+SBDMTA=1; restarting the modem in 2000 ms");
	assert_int_equal(e->ups, 0);
	env_free(e);
}

static void
test_modem_restarted(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	send(e, "m", 3, 1);
	/* echo again after ATE0: the modem has restarted on its own */
	expect(e, "AT+CSQ\r");
	modem(e, "AT+CSQ\r\r\n+CSQ:4\r\n\r\nOK\r\n");
	assert_int_equal(e->downs, 1);
	assert_string_equal(e->why, "the modem echoes commands again: it restarted");
	at(e, e->now + e->p.restart_min_ms);
	start_up(e);
	signal_is(e, 4);
	load(e, "m", 0);
	sbdix(e, "AT+SBDIX\r", 0, 1, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 1);
	env_free(e);
}

static void
test_session_timeout(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	send(e, "m", 3, 1);
	signal_is(e, 4);
	load(e, "m", 0);
	expect(e, "AT+SBDIX\r");
	at(e, e->now + e->p.session_timeout_ms - 1);
	expect_nothing(e);
	at(e, e->now + 1);
	assert_int_equal(e->downs, 1);
	assert_string_equal(e->why, "no answer to AT+SBDIX within 120000 ms");
	assert_int_equal(stats(e).queued, 1);
	assert_int_equal(e->ndelivered, 0);
	env_free(e);
}

static void
test_device_gone(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	send(e, "m", 3, 1);
	expect(e, "AT+CSQ\r");
	sbd_detach(e->s, e->now, "device /dev/ttyUSB0: read: Input/output error");
	assert_int_equal(e->downs, 1);
	assert_string_equal(stats(e).state, "no device");
	assert_false(sbd_device_wanted(e->s, e->now + e->p.restart_min_ms - 1));
	assert_true(sbd_device_wanted(e->s, e->now + e->p.restart_min_ms));
	assert_int_equal(sbd_deadline(e->s), e->now + e->p.restart_min_ms);
	/* stale bytes from a dying device are ignored */
	modem(e, "\r\nOK\r\n");
	expect_nothing(e);
	/* opening fails: the next try waits twice as long */
	at(e, e->now + e->p.restart_min_ms);
	sbd_detach(e->s, e->now, "device /dev/ttyUSB0: open: No such file or directory");
	assert_int_equal(sbd_deadline(e->s), e->now + 2 * e->p.restart_min_ms);
	at(e, e->now + 2 * e->p.restart_min_ms);
	boot(e);
	assert_int_equal(e->ups, 2);
	signal_is(e, 4);
	load(e, "m", 0);
	sbdix(e, "AT+SBDIX\r", 0, 9, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 1);
	env_free(e);
}

static void
test_malformed(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	modem(e, "\r\nOK\r\n");			/* nobody asked */
	modem(e, "\r\n+SBDIX: 0, 1\r\n");	/* not in a session: unexpected */
	assert_int_equal(stats(e).bad_lines, 2);
	expect_nothing(e);
	send(e, "m", 3, 1);
	signal_is(e, 4);
	load(e, "m", 0);
	expect(e, "AT+SBDIX\r");
	modem(e, "\r\n+SBDIX: 0, 1, 0, 0, 0\r\n\r\nOK\r\n");	/* five fields */
	assert_int_equal(e->ndelivered, 0);
	assert_string_equal(stats(e).state, "backoff");
	assert_int_equal(stats(e).sessions_failed, 1);
	at(e, e->now + e->p.backoff_min_ms);
	expect(e, "AT+CSQ\r");
	modem(e, "\r\n+CSQ:9\r\n\r\nOK\r\n");	/* out of range: no reading */
	expect_nothing(e);
	at(e, e->now + e->p.signal_poll_ms);
	signal_is(e, 4);
	sbdix(e, "AT+SBDIX\r", 0, 2, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 1);
	/* the stray OK and line, the short +SBDIX and its OK, +CSQ:9 and its OK */
	assert_int_equal(stats(e).bad_lines, 6);
	env_free(e);
}

static void
test_mt_too_big(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	send(e, "m", 3, 1);
	signal_is(e, 4);
	load(e, "m", 0);
	/* status 1: sent, but the waiting MT message is too big: no endless checking */
	sbdix(e, "AT+SBDIX\r", 1, 1, 0, 0, 0, 1);
	assert_int_equal(e->ndelivered, 1);
	expect_nothing(e);
	assert_int_equal(stats(e).mt_waiting, 0);
	env_free(e);
}

static void
test_send_from_callback(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	e->chain = "next";
	send(e, "first", 4, 1);
	signal_is(e, 4);
	load(e, "first", 0);
	/* the delivery callback queues "next", but the MT message that came must be read
	 * before another session overwrites the modem's MT buffer */
	sbdix(e, "AT+SBDIX\r", 0, 1, 1, 3, 2, 0);
	sbdrb(e, "hi", 2, false);
	assert_int_equal(e->nrx, 1);
	signal_is(e, 4);
	load(e, "next", 0);
	sbdix(e, "AT+SBDIX\r", 0, 2, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 2);
	assert_int_equal(e->delivered[1], 100);
	env_free(e);
}

static void
test_mailbox_check_failed(void **state)
{
	struct env *e = env_new(NULL);

	boot(e);
	send(e, "m", 4, 1);
	signal_is(e, 4);
	load(e, "m", 0);
	/* MO sent, but the mailbox check failed: delivered, and the check is tried again later */
	sbdix(e, "AT+SBDIX\r", 0, 1, 2, 0, 0, 0);
	assert_int_equal(e->ndelivered, 1);
	assert_int_equal(stats(e).mt_bad, 1);
	assert_int_equal(sbd_deadline(e->s), e->now + e->p.backoff_min_ms);
	expect_nothing(e);
	at(e, e->now + e->p.backoff_min_ms);
	signal_is(e, 4);
	expect(e, "AT+SBDD0\r");
	modem(e, "\r\n0\r\n\r\nOK\r\n");
	sbdix(e, "AT+SBDIX\r", 0, 2, 0, 0, 0, 0);
	expect_nothing(e);
	env_free(e);
}

static void
test_null_ctx(void **state)
{
	struct env *e = env_new(NULL);

	/* a caller that needs no context still hears of the delivery */
	boot(e);
	assert_int_equal(sbd_send(e->s, "x", 1, 4, NULL, e->now), 0);
	signal_is(e, 4);
	load(e, "x", 0);
	sbdix(e, "AT+SBDIX\r", 0, 3, 0, 0, 0, 0);
	assert_int_equal(e->ndelivered, 1);
	assert_int_equal(e->delivered[0], 0);
	assert_int_equal(e->momsn[0], 3);
	env_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_and_send),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_no_signal),
		cmocka_unit_test(test_min_signal_and_age),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_registration_wait),
		cmocka_unit_test(test_mt_after_session),
		cmocka_unit_test(test_mt_bad_checksum),
		cmocka_unit_test(test_ring_alert),
		cmocka_unit_test(test_mailbox_interval),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_byte_budget),
		cmocka_unit_test(test_priority_and_drain),
		cmocka_unit_test(test_write_results),
		cmocka_unit_test(test_dead_modem),
		cmocka_unit_test(test_error_loop),
		cmocka_unit_test(test_csq_refused_ciev),
		cmocka_unit_test(test_csq_and_cier_refused),
		cmocka_unit_test(test_error_during_init),
		cmocka_unit_test(test_modem_restarted),
		cmocka_unit_test(test_session_timeout),
		cmocka_unit_test(test_device_gone),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_mt_too_big),
		cmocka_unit_test(test_send_from_callback),
		cmocka_unit_test(test_mailbox_check_failed),
		cmocka_unit_test(test_null_ctx),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
