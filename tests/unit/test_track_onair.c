/*
 * test_track_onair.c - what a position costs on air on a narrowband link
 * (issue 13, item 3): one fix alone <= 36 B including the link framing and
 * the 8-byte tag, a batch of ten <= 100 B.  Measured with the real
 * encoders, as a position goes out: posfmt payload -> the bundle the daemon
 * makes of it (node_send: ipn:S.3 to everyone, ipn:0.3, report-to ipn:S.0,
 * priority class position, hop-count block, 24 h lifetime) -> its compact
 * form (radio/compact.c) -> a BUNDLES frame in a compact envelope sealed
 * with an 8-byte tag (radio/frame.c) -> KISS framing (radio/drivers/kiss.c,
 * raw KISS; with AX.25 UI headers the 16 bytes of two addresses, control
 * and PID come on top, printed for information).
 *
 * The case is bench_compact's: node 12 to its neighbour 7 (numbers below
 * 128), frame counter 70000, transfer id 100, the bundle made an hour after
 * the sender's time base with sequence number 5000, the fix (on a whole
 * second, as GPS receivers give them) 1 to 2 s older than the bundle: a
 * unit an hour into its mission, not the smallest case.  On narrowband
 * links posout sends no speed and course (posout_rule_default): a plain fix
 * just taken is 6 bytes of payload (posfmt's plain form).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "bundle.h"
#include "compact.h"
#include "crypto.h"
#include "frame.h"
#include "kiss.h"
#include "service.h"

#include "geo.h"
#include "posfmt.h"
#include "track.h"

#define SENDER		12
#define RECEIVER	7
#define BASE		849234000000ULL			/* the sender's time base, DTN ms */
#define CTIME		(BASE + 3600 * 1000)		/* the bundle's creation time, DTN ms */
#define CTIME_UNIX	((int64_t)(CTIME + DTN_EPOCH_UNIX_MS))

static struct crypto_key key = { .id = 1 };
static const struct compact_ctx ctx = { .sender = SENDER, .receiver = RECEIVER, .time_base = BASE };

/* Where the bytes of one frame go. */
struct air {
	size_t payload, bundle, compact, frame, kiss, ax25_kiss;
	size_t escapes;		/* bytes KISS added by escaping FEND and FESC (in the tag, mostly) */
};

/* What varies with the mission's progress: transfer id, sequence number, time since the base. */
struct when {
	uint64_t xid, seq, ctime;
	uint32_t counter;
};

static const struct when hour_in = { .xid = 100, .seq = 5000, .ctime = CTIME, .counter = 70000 };
/* The first position after the link came up: every number as small as it gets. */
static const struct when first = { .xid = 1, .seq = 1, .ctime = BASE + 1000, .counter = 2 };

/* Bundle, compact form, frame, KISS for one payload, as the daemon and the link send it. */
static void
on_air(const uint8_t *payload, size_t len, const struct when *w, struct air *a)
{
	static uint8_t bundle[1024], form[1024], frame[1024], kiss[2 * 1024 + 4], ax[1024];
	struct frame_hdr h = { .flags = FRAME_F_TAG8, .sender = SENDER, .boot = 3, .counter = w->counter,
	    .compact = true };
	struct frame_msg m = { .type = FRAME_BUNDLES };
	struct ax25_call me, qst;
	struct bundle b;
	const char *why;
	ssize_t n;

	bundle_init(&b);
	eid_ipn(&b.dst, 0, SVC_POSITION);		/* ipn:0.3, everyone */
	eid_ipn(&b.src, SENDER, SVC_POSITION);
	eid_ipn(&b.report_to, SENDER, SVC_ADMIN);
	b.ctime = w->ctime;
	b.seq = w->seq;
	b.lifetime = 24 * 3600 * 1000;
	b.priority = service_default_prio(SVC_POSITION);
	assert_int_equal(b.priority, PRIO_POSITION);
	b.payload = payload;
	b.payload_len = len;
	n = bundle_encode(&b, bundle, sizeof(bundle));
	assert_true(n > 0);
	a->payload = len;
	a->bundle = (size_t)n;
	n = compact_encode(&ctx, bundle, a->bundle, form, sizeof(form), &why);
	if (n < 0)
		fail_msg("compact_encode: %s", why);
	a->compact = (size_t)n;
	m.u.bundles.n = 1;
	m.u.bundles.b[0] = (struct frame_bundle){ .xid = w->xid, .data = form, .len = a->compact };
	n = frame_seal(frame, sizeof(frame), &h, &m, &key);
	assert_true(n > 0);
	a->frame = (size_t)n;
	n = kiss_encode(kiss, sizeof(kiss), 0, KISS_DATA, frame, a->frame);
	assert_true(n > 0);
	a->kiss = (size_t)n;
	a->escapes = a->kiss - a->frame - 3;
	assert_int_equal(ax25_call_parse("OE3XYZ-7", &me), 0);
	assert_int_equal(ax25_call_parse("QST", &qst), 0);
	n = ax25_ui_encode(ax, sizeof(ax), &qst, &me, frame, a->frame);
	assert_true(n > 0);
	n = kiss_encode(kiss, sizeof(kiss), 0, KISS_DATA, ax, (size_t)n);
	assert_true(n > 0);
	a->ax25_kiss = (size_t)n;
}

static void
report(const char *what, const struct air *a)
{
	printf("# %s: %zu B on air = payload %zu + compact bundle header %zu + frame (compact envelope, "
	    "BUNDLES entry, 8-byte tag) %zu + KISS %zu [full bundle %zu B; with AX.25 UI headers %zu B on air]\n",
	    what, a->kiss, a->payload, a->compact - a->payload, a->frame - a->compact, a->kiss - a->frame,
	    a->bundle, a->ax25_kiss);
}

/* A fix on a whole second, position only (what posout sends on narrowband). */
static struct fix
walker(int64_t t, double lat, double lon)
{
	struct fix f;

	fix_init(&f);
	f.time_ms = t - t % 1000;
	f.lat = lat;
	f.lon = lon;
	return f;
}

static int
setup(void **state)
{
	(void)state;
	if (crypto_init() < 0)
		return -1;
	memset(key.key, 0x42, sizeof(key.key));
	return 0;
}

/*
 * Issue 13 asks <= 36 B for one fix alone.  The framing by itself takes 29
 * B here (compact bundle header 12: codes 2, destination ipn:0.3 2,
 * creation time 4, sequence number 2, lifetime 1, hop count 1; frame 14:
 * envelope 4, BUNDLES entry 2, tag 8; KISS 3) and 25 B at the smallest.
 * posfmt's plain form takes 6 (the time's 2 bits, 45 bits of position), so
 * 35 B, and one KISS escape still fits.
 */
static void
test_one_fix(void **state)
{
	uint8_t p[POSFMT_MAX_LEN(1)];
	struct fix f = walker(CTIME_UNIX - 1400, 43.508134, 16.440193);
	struct air a, small, motion, old;
	int64_t first_unix = (int64_t)(first.ctime + DTN_EPOCH_UNIX_MS);
	ssize_t n;

	(void)state;
	n = posfmt_encode(&f, 1, CTIME_UNIX, NULL, p, sizeof(p));
	assert_int_equal(n, 6);
	on_air(p, (size_t)n, &hour_in, &a);
	report("one plain fix alone, an hour in", &a);
	f = walker(first_unix - 400, 43.508134, 16.440193);
	n = posfmt_encode(&f, 1, first_unix, NULL, p, sizeof(p));
	assert_int_equal(n, 6);
	on_air(p, (size_t)n, &first, &small);
	report("one plain fix alone, the first after the link came up", &small);
	/* For information: with speed and course (mesh, ip), and a fix an hour old (absolute time). */
	f = walker(CTIME_UNIX - 1400, 43.508134, 16.440193);
	f.speed = 1.39;
	f.course = 231.4;
	n = posfmt_encode(&f, 1, CTIME_UNIX, NULL, p, sizeof(p));
	assert_true(n > 6);
	on_air(p, (size_t)n, &hour_in, &motion);
	report("one fix with speed and course, an hour in", &motion);
	f = walker(CTIME_UNIX - 3600 * 1000, 43.508134, 16.440193);
	n = posfmt_encode(&f, 1, CTIME_UNIX, NULL, p, sizeof(p));
	assert_true(n > 6);
	on_air(p, (size_t)n, &hour_in, &old);
	report("one plain fix an hour old (absolute time)", &old);
	printf("# one plain fix alone: %zu B on air on raw KISS (%zu at the smallest; %zu with AX.25 UI headers) "
	    "against issue 13's 36 B: %zu B of it is framing, %zu of that a KISS escape\n", a.kiss, small.kiss,
	    a.ax25_kiss, a.kiss - a.payload, a.escapes);
	assert_true(a.kiss - a.escapes - a.payload <= 29 && small.kiss - small.escapes - small.payload <= 25);
	/* Issue 13: one position alone <= 36 B on air, the framing and the 8-byte tag included: 35 unescaped. */
	assert_true(a.kiss - a.escapes <= 35 && small.kiss - small.escapes <= 35);
	assert_true(small.kiss <= 36);
}

/*
 * KISS escapes FEND and FESC, 2 of the 256 byte values: the 8-byte tag
 * (a MAC, different in every frame) and the payload make one in about a
 * quarter of frames, two in a few percent.  Over 1000 frames of a walk, an
 * hour in: at least 95% fit 36 B with their escapes, and every one 35 B
 * without.
 */
static void
test_one_fix_escapes(void **state)
{
	uint8_t p[POSFMT_MAX_LEN(1)];
	double lat = 43.508134, lon = 16.440193;
	unsigned within = 0, most = 0;
	double sum = 0;

	(void)state;
	for (int k = 0; k < 1000; k++) {
		struct when w = hour_in;
		struct fix f;
		struct air a;
		ssize_t n;

		w.counter = hour_in.counter + (uint32_t)k;
		w.seq = hour_in.seq + (uint64_t)k;
		w.ctime = hour_in.ctime + (uint64_t)k * 30000;
		f = walker((int64_t)(w.ctime + DTN_EPOCH_UNIX_MS) - 1400, lat, lon);
		n = posfmt_encode(&f, 1, (int64_t)(w.ctime + DTN_EPOCH_UNIX_MS), NULL, p, sizeof(p));
		assert_int_equal(n, 6);
		on_air(p, (size_t)n, &w, &a);
		assert_true(a.kiss - a.escapes <= 35);
		if (a.kiss <= 36)
			within++;
		if (a.kiss > most)
			most = (unsigned)a.kiss;
		sum += (double)a.kiss;
		geo_destination(lat, lon, 40 + k % 90, 42, &lat, &lon);
	}
	printf("# one plain fix alone over 1000 frames of a walk: %u within 36 B with KISS's escapes, mean %.2f B, "
	    "at most %u B; every one 35 B or less without them\n", within, sum / 1000, most);
	assert_true(within >= 950);
}

static void
test_ten_fixes(void **state)
{
	uint8_t p[POSFMT_MAX_LEN(10)];
	struct fix f[10];
	double lat = 43.5, lon = 16.4, course = 20;
	struct air a;
	ssize_t n;

	(void)state;
	/* Ten walking fixes 30 s apart, the newest 1.4 s before the bundle. */
	for (int i = 0; i < 10; i++) {
		f[i] = walker(CTIME_UNIX - 1400 - (9 - i) * 30000, lat, lon);
		geo_destination(lat, lon, course, 1.39 * 30, &lat, &lon);
		course = fmod(course + 37, 360);
	}
	n = posfmt_encode(f, 10, CTIME_UNIX, NULL, p, sizeof(p));
	assert_true(n > 0);
	on_air(p, (size_t)n, &hour_in, &a);
	report("ten walking fixes 30 s apart in one bundle, an hour in", &a);
	/* Issue 13: a batch of ten <= 100 B. */
	assert_true(a.kiss <= 100);
}

/* For information: the most a bundle carries (POSFMT_MAX_FIXES), fixes of a drive 60 s apart. */
static void
test_full_batch(void **state)
{
	uint8_t p[POSFMT_MAX_LEN(POSFMT_MAX_FIXES)];
	struct fix f[POSFMT_MAX_FIXES];
	double lat = 43.5, lon = 16.4, course = 20;
	char what[128];
	struct air a;
	ssize_t n;

	(void)state;
	for (int i = 0; i < POSFMT_MAX_FIXES; i++) {
		f[i] = walker(CTIME_UNIX - 1400 - (POSFMT_MAX_FIXES - 1 - i) * 60000, lat, lon);
		geo_destination(lat, lon, course, 13.9 * 60, &lat, &lon);
		course = fmod(course + 37, 360);
	}
	n = posfmt_encode(f, POSFMT_MAX_FIXES, CTIME_UNIX, NULL, p, sizeof(p));
	assert_true(n > 0);
	on_air(p, (size_t)n, &hour_in, &a);
	snprintf(what, sizeof(what), "%d driving fixes 60 s (830 m) apart in one bundle", POSFMT_MAX_FIXES);
	report(what, &a);
	assert_true(a.kiss < 256);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_fix),
		cmocka_unit_test(test_one_fix_escapes),
		cmocka_unit_test(test_ten_fixes),
		cmocka_unit_test(test_full_batch),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
