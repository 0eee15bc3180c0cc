/*
 * bench_compact.c - bytes on air per bundle on a narrow link (issue 5, item 1):
 * a position report and an alert in compact framing, alone in a frame and
 * four to a frame, against the same bundle in full form (a segment in a full
 * envelope) as the reference, all with an 8-byte tag and sealed by the real
 * frame and compact codecs, as radio/pack.c puts them on the air.  The
 * overhead is everything but the payload: frame header, bundle header, the
 * bundle's entry in the frame, tag; a shared frame's header and tag count a
 * share to each bundle.  Node numbers 12 -> 7 (known neighbours), frame
 * counter 70000, transfer ids from 100, a position report made an hour
 * after the sender's time base with sequence number 5000: a unit an hour
 * into its mission, not the smallest case.
 *
 * bench compact-position: ... (target <= 16 B) PASS|FAIL
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "compact.h"
#include "crypto.h"
#include "frame.h"
#include "service.h"

#define SENDER		12
#define RECEIVER	7
#define BASE		849234000000ULL		/* the sender's time base, DTN ms */
#define TARGET		16.0

static struct crypto_key key = { .id = 1 };
static const struct compact_ctx ctx = { .sender = SENDER, .receiver = RECEIVER, .time_base = BASE };

static void
fatal_if(int cond, const char *what)
{
	if (cond) {
		fprintf(stderr, "bench_compact: %s\n", what);
		exit(2);
	}
}

static size_t
encode(const struct bundle *b, uint8_t *out, size_t cap)
{
	ssize_t n = bundle_encode(b, out, cap);

	fatal_if(n < 0, "cannot encode the bundle");
	return (size_t)n;
}

static void
position_report(struct bundle *b, unsigned k)
{
	static uint8_t payload[30];

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 13 + k);
	bundle_init(b);
	eid_ipn(&b->dst, RECEIVER, SVC_POSITION);
	eid_ipn(&b->src, SENDER, SVC_POSITION);
	eid_ipn(&b->report_to, SENDER, 0);
	b->ctime = BASE + 3600 * 1000 + 10000 * k;
	b->seq = 5000 + k;
	b->lifetime = 24 * 3600 * 1000;
	b->priority = PRIO_POSITION;
	b->payload = payload;
	b->payload_len = sizeof(payload);
}

/* From the command center (ipn:1.2) two hops back, to ipn:7.2, through the sender. */
static void
alert(struct bundle *b, unsigned k)
{
	static const char text[] = "EVACUATE sector B: river rising, go to assembly point 3 now";

	bundle_init(b);
	eid_ipn(&b->dst, RECEIVER, SVC_ALERT);
	eid_ipn(&b->src, 1, SVC_ALERT);
	eid_ipn(&b->report_to, 1, 0);
	b->ctime = BASE + 3600 * 1000 - 20000 + k;
	b->seq = 130 + k;
	b->lifetime = 6 * 3600 * 1000;
	b->priority = PRIO_URGENT;
	b->has_prev = true;
	eid_ipn(&b->prev, SENDER, 0);
	b->hop_count = 2;
	b->payload = (const uint8_t *)text;
	b->payload_len = sizeof(text) - 1;
}

static size_t
seal(const struct frame_msg *m, bool compact)
{
	static uint8_t frame[2048];
	struct frame_hdr h = { .flags = FRAME_F_TAG8, .sender = SENDER, .boot = 3, .counter = 70000,
	    .compact = compact };
	ssize_t n = frame_seal(frame, sizeof(frame), &h, m, &key);

	fatal_if(n < 0, "cannot seal the frame");
	return (size_t)n;
}

/* Overhead a bundle, k of them made by make() in one frame: compact, or (full) one segment each. */
static double
overhead(void (*make)(struct bundle *, unsigned), unsigned k, bool full)
{
	static uint8_t bundles[4][512], forms[4][512];
	struct frame_msg m = { .type = full ? FRAME_SEGMENT : FRAME_BUNDLES };
	size_t air = 0, payload = 0;
	const char *why;

	for (unsigned i = 0; i < k; i++) {
		struct bundle b;
		size_t len;
		ssize_t n;

		make(&b, i);
		payload += b.payload_len;
		len = encode(&b, bundles[i], sizeof(bundles[i]));
		if (full) {
			m.u.seg = (struct frame_segment){ .xid = 100 + i, .off = 0, .total = len, .seq = 900 + i,
			    .data = bundles[i], .len = len };
			air += seal(&m, false);
			continue;
		}
		n = compact_encode(&ctx, bundles[i], len, forms[i], sizeof(forms[i]), &why);
		fatal_if(n < 0, why);
		m.u.bundles.b[m.u.bundles.n++] = (struct frame_bundle){ .xid = 100 + i, .data = forms[i],
		    .len = (size_t)n };
	}
	if (!full)
		air = seal(&m, true);
	return (double)(air - payload) / k;
}

int
main(void)
{
	double pos4, pos1, posfull, al1, al4, alfull;
	bool ok;

	fatal_if(crypto_init() < 0, "libsodium does not start");
	memset(key.key, 0x42, sizeof(key.key));
	pos1 = overhead(position_report, 1, false);
	pos4 = overhead(position_report, 4, false);
	posfull = overhead(position_report, 1, true);
	al1 = overhead(alert, 1, false);
	al4 = overhead(alert, 4, false);
	alfull = overhead(alert, 1, true);
	ok = pos4 <= TARGET;
	printf("bench compact-position: %.2f B a bundle on air beside its 30-byte payload, 4 to a frame "
	    "(alone %.1f), 8-byte tag; reference full form %.1f; ratio %.2f (target <= %.0f B) %s\n",
	    pos4, pos1, posfull, pos4 / posfull, TARGET, ok ? "PASS" : "FAIL");
	printf("bench compact-alert: %.1f B on air beside its %zu-byte text alone in a frame (%.2f 4 to a "
	    "frame); reference full form %.1f; ratio %.2f (for information)\n", al1,
	    sizeof("EVACUATE sector B: river rising, go to assembly point 3 now") - 1, al4, alfull, al1 / alfull);
	return ok ? 0 : 1;
}
