/*
 * fuzz_posfmt.c - libFuzzer target for positions on the air
 * (relay/track/posfmt.c).
 *
 * The first input byte picks the reference time (the bundle's creation
 * time) from its low two bits; the rest is a payload.  Whatever
 * posfmt_decode() accepts must be valid fixes (every field in range, times
 * not going back), must encode again as a sender whose clock is that
 * reference, with the same unit name, and that encoding must decode with
 * the same reference to the same fixes and name: the decoded values lie on
 * the format's grid, and a time the 7-bit or the 2-bit form decoded is
 * within its window, so nothing may move on the second trip, but for a
 * fix that goes in the other form of the two (plain, extended: by its
 * time), whose position may move by the plain form's half step (2.15e-5
 * degree); a third trip then moves nothing.  Any mismatch aborts, which
 * libFuzzer reports as a crash.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_posfmt: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

static const int64_t refs[4] = { 1764770000123LL, 0, INT64_MAX - 1000, -86400000LL };

/* Equal, NAN equal to NAN. */
static int
same(double a, double b)
{
	return (isnan(a) && isnan(b)) || a == b;
}

/* b is a, exactly or (other_form) within the plain form's half step. */
static void
check_same(const struct fix *a, const struct fix *b, int n, int other_form)
{
	for (int i = 0; i < n; i++) {
		CHECK(a[i].time_ms == b[i].time_ms);
		if (other_form)
			CHECK(fabs(a[i].lat - b[i].lat) <= 2.2e-5 && fabs(a[i].lon - b[i].lon) <= 2.2e-5);
		else
			CHECK(a[i].lat == b[i].lat && a[i].lon == b[i].lon);
		CHECK(same(a[i].alt, b[i].alt) && same(a[i].eph, b[i].eph));
		CHECK(same(a[i].speed, b[i].speed) && same(a[i].course, b[i].course));
		CHECK(a[i].stale == b[i].stale && a[i].kind == b[i].kind);
	}
}

static void
check_valid(const struct fix *f)
{
	CHECK(fabs(f->lat) <= 90 && fabs(f->lon) <= 180);
	CHECK(isnan(f->alt) || fabs(f->alt) <= 1e6);
	CHECK(isnan(f->speed) || (f->speed >= 0 && f->speed <= POSFMT_SPEED_MAX));
	CHECK(isnan(f->course) || (f->course >= 0 && f->course < 360));
	CHECK(isnan(f->eph) || f->eph >= 0);
	CHECK(isnan(f->epv));
	CHECK(f->kind == FIX_PERSON || f->kind == FIX_DRONE);
	CHECK(f->time_ms % 100 == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fix a[POSFMT_MAX_FIXES], b[POSFMT_MAX_FIXES], c[POSFMT_MAX_FIXES];
	static uint8_t again[POSFMT_MAX_LEN(POSFMT_MAX_FIXES)];
	int other_form;
	char ua[POSFMT_UNIT_MAX + 1], ub[POSFMT_UNIT_MAX + 1];
	int64_t ref;
	ssize_t len;
	int n, m;

	if (size < 1)
		return 0;
	ref = refs[data[0] & 3];
	n = posfmt_decode(data + 1, size - 1, ref, a, POSFMT_MAX_FIXES, ua, sizeof(ua));
	if (n < 0) {
		CHECK(n == -EBADMSG);
		return 0;
	}
	CHECK(n >= 1 && n <= POSFMT_MAX_FIXES);
	CHECK(strlen(ua) <= POSFMT_UNIT_MAX);
	for (int i = 0; i < n; i++) {
		check_valid(&a[i]);
		CHECK(i == 0 || a[i].time_ms >= a[i - 1].time_ms);
		CHECK(a[i].kind == a[0].kind);
	}

	len = posfmt_encode(a, n, ref, ua, again, sizeof(again));
	CHECK(len > 0);
	CHECK((size_t)len <= POSFMT_MAX_LEN(n));
	m = posfmt_decode(again, (size_t)len, ref, b, POSFMT_MAX_FIXES, ub, sizeof(ub));
	CHECK(m == n);
	CHECK(strcmp(ua, ub) == 0);
	other_form = (data[1] ^ again[0]) & 0x80;
	check_same(a, b, n, other_form);
	if (!other_form)
		return 0;
	len = posfmt_encode(b, n, ref, ub, again, sizeof(again));
	CHECK(len > 0);
	m = posfmt_decode(again, (size_t)len, ref, c, POSFMT_MAX_FIXES, ua, sizeof(ua));
	CHECK(m == n);
	CHECK(strcmp(ua, ub) == 0);
	check_same(b, c, n, 0);
	return 0;
}
