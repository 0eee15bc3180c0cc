/*
 * fuzz_sbd.c - libFuzzer target for the SBD driver's state machine.
 *
 * The input is a script of operations on one driver: modem bytes (any,
 * including SBDRB blocks, ERROR and SBDRING at any moment), time passing,
 * messages queued, the device vanishing and coming back, drains.  Whatever
 * the modem says, the driver must not crash, its counters must stay
 * consistent, and whenever it has nothing to write it must have a deadline
 * in the future: a deadline in the past would spin the event loop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sbd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_sbd: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

static unsigned queued, delivered, failed;

static void
on_delivered(void *arg, void *ctx, uint16_t momsn)
{
	delivered++;
}

static void
on_failed(void *arg, void *ctx, const char *why)
{
	failed++;
}

static void
on_received(void *arg, const uint8_t *msg, size_t len, uint16_t mtmsn)
{
	CHECK(len <= SBD_MT_MAX);
}

static const struct sbd_events events = {
	.delivered = on_delivered, .failed = on_failed, .received = on_received,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	struct sbd_params p;
	struct sbd *s;
	uint64_t now = 1000;
	size_t i = 0;
	unsigned drained = 0;
	uint8_t msg[SBD_MO_MAX];

	if (!quiet) {
		log_init(true, "fuzz_sbd");
		log_setlevel(LOG_LVL_ERR);
		quiet = true;
	}
	queued = delivered = failed = 0;
	sbd_params_default(&p);
	p.mailbox_interval_ms = 60000;
	p.budget_messages = 5;
	p.budget_period_ms = 3600000;
	s = sbd_new(&p, &events, NULL, now);
	CHECK(s != NULL);
	memset(msg, 'm', sizeof(msg));
	while (i < size) {
		uint8_t op = data[i++];
		const uint8_t *out;
		struct sbd_stats st;

		switch (op % 8) {
		case 0: case 1: case 2: {	/* the modem says the next n bytes */
			size_t n = (size_t)(op >> 3) + 1;

			if (n > size - i)
				n = size - i;
			sbd_input(s, data + i, n, now);
			i += n;
			break;
		}
		case 3:				/* time passes */
			now += (uint64_t)(op >> 3) * (op & 0x80 ? 5000 : 97);
			sbd_tick(s, now);
			break;
		case 4:				/* a message to send */
			if (sbd_send(s, msg, 1 + (op >> 3) * 11, op >> 6, NULL, now) == 0)
				queued++;
			break;
		case 5:
			sbd_detach(s, now, "fuzz: device gone");
			break;
		case 6:
			if (sbd_drain(s) || op & 0x80)
				drained++;
			break;
		case 7:
			sbd_mailbox_check(s, now);
			break;
		}
		/* the owner of the device opens it when asked */
		if (sbd_device_wanted(s, now))
			sbd_attach(s, now);
		/* whatever was written reached the modem */
		if (sbd_output(s, &out) == 0)
			CHECK(sbd_deadline(s) > now);
		sbd_output_done(s, SIZE_MAX);
		sbd_stats(s, now, &st);
		CHECK(st.sessions == st.sessions_ok + st.sessions_failed);
		CHECK(st.mo_messages == delivered && st.refused == failed);
		CHECK(st.queued <= p.queue_max);
		CHECK(st.period_messages <= p.budget_messages);
	}
	sbd_free(s);
	(void)drained;
	return 0;
}
