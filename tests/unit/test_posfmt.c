/*
 * test_posfmt.c - positions on the air (relay/track/posfmt.c, format 2):
 * sizes of a plain fix (6 B; 8 B when not just taken), of one with speed
 * and course and of a walking batch, the plain form's 2-bit time and the
 * 7-bit time against every reference the receiver may hold, the plain
 * form's coarser grid,
 * round trips within the format's precision (random fixes too), every
 * optional field, what the encoder refuses, and the decoder on every
 * truncation and on corruptions of valid payloads: -EBADMSG or a valid
 * result, never a crash (run it under ASan).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "geo.h"
#include "posfmt.h"

#define BASE	1764770000000LL		/* the sender's clock, and the bundle's creation time, Unix ms */

static uint8_t buf[512];
static struct fix dec[POSFMT_MAX_FIXES + 1];
static char unit[64];

static struct fix
plain(int64_t t, double lat, double lon, double speed, double course)
{
	struct fix f;

	fix_init(&f);
	f.time_ms = t;
	f.lat = lat;
	f.lon = lon;
	f.speed = speed;
	f.course = course;
	return f;
}

static double
course_diff(double a, double b)
{
	double d = fabs(a - b);

	return d > 180 ? 360 - d : d;
}

/* dec[i] is f within the format's precision; motion only if with_motion. */
static void
check_same(const struct fix *f, const struct fix *d, bool with_motion, double err_m)
{
	if (geo_distance(f->lat, f->lon, d->lat, d->lon) > err_m)
		fail_msg("position off by %.2f m", geo_distance(f->lat, f->lon, d->lat, d->lon));
	assert_true(llabs(f->time_ms - d->time_ms) <= 50);
	assert_int_equal(f->stale, d->stale);
	assert_int_equal(f->kind, d->kind);
	if (isnan(f->alt))
		assert_true(isnan(d->alt));
	else
		assert_true(fabs(f->alt - d->alt) <= 0.5);
	if (isnan(f->eph))
		assert_true(isnan(d->eph));
	else
		assert_true(fabs(f->eph - d->eph) <= 0.5);
	assert_true(isnan(d->epv));
	if (!with_motion || isnan(f->speed))
		assert_true(isnan(d->speed));
	else
		assert_true(fabs(f->speed - d->speed) <= 0.025 + 1e-9);
	if (!with_motion || isnan(f->course))
		assert_true(isnan(d->course));
	else
		assert_true(course_diff(f->course, d->course) <= 0.09 + 1e-9 && d->course < 360);
}

/*
 * Encode with the sender's clock at now, decode with the reference ref:
 * within precision (the plain form's when the payload is in it: 6 bytes,
 * the exact time).
 */
static int
round_trip_at(const struct fix *f, int n, const char *u, int64_t now, int64_t ref)
{
	ssize_t len = posfmt_encode(f, n, now, u, buf, sizeof(buf));
	bool is_plain;

	assert_true(len > 0);
	assert_true((size_t)len <= POSFMT_MAX_LEN(n));
	is_plain = !(buf[0] & 0x80);
	assert_int_equal(posfmt_decode(buf, (size_t)len, ref, dec, POSFMT_MAX_FIXES, unit, sizeof(unit)), n);
	if (is_plain) {
		assert_int_equal(n, 1);
		assert_int_equal(len, 6);
		assert_true(f[0].time_ms % 1000 == 0 && dec[0].time_ms == f[0].time_ms);
	}
	for (int i = 0; i < n; i++)
		check_same(&f[i], &dec[i], i == n - 1, is_plain ? POSFMT_PLAIN_ERROR_M : POSFMT_POS_ERROR_M);
	assert_string_equal(unit, u ? u : "");
	return (int)len;
}

static int
round_trip(const struct fix *f, int n, const char *u)
{
	return round_trip_at(f, n, u, BASE, BASE);
}

static void
test_plain_fix(void **state)
{
	struct fix f = plain(BASE - 2000, 43.508134, 16.440193, NAN, NAN);
	int len;

	(void)state;
	len = round_trip(&f, 1, NULL);
	printf("# one plain fix (lat, lon, time) just taken: %d bytes\n", len);
	assert_int_equal(len, 6);
	assert_int_equal(dec[0].time_ms, f.time_ms);
	/* Older than the plain form's 2.5 s, within 50 s: H, an E of 0, the finer position. */
	f.time_ms = BASE - 30000;
	len = round_trip(&f, 1, NULL);
	printf("# one plain fix 30 s old: %d bytes\n", len);
	assert_int_equal(len, 8);
	assert_int_equal(dec[0].time_ms, f.time_ms);
	assert_true(geo_distance(f.lat, f.lon, dec[0].lat, dec[0].lon) <= POSFMT_POS_ERROR_M);
	f.time_ms = BASE - 2000;
	/* With speed and course: E and 3 bytes of motion more. */
	f.speed = 1.37;
	f.course = 231.4;
	len = round_trip(&f, 1, NULL);
	printf("# one fix with speed and course: %d bytes\n", len);
	assert_int_equal(len, 11);
	/* Speed known, course not (standing): the same size. */
	f.course = NAN;
	f.speed = 0;
	assert_int_equal(round_trip(&f, 1, NULL), 11);
	f.speed = NAN;
	/* Tenths of a second: one byte more, and E. */
	f.time_ms += 300;
	assert_int_equal(round_trip(&f, 1, NULL), 9);
	assert_int_equal(dec[0].time_ms, f.time_ms);
	/* Far from the sender's clock: an absolute time, whatever the receiver's reference. */
	f.time_ms = BASE - 3600 * 1000;
	len = round_trip_at(&f, 1, NULL, BASE, 12345);
	printf("# one plain fix an hour old: %d bytes\n", len);
	assert_true(len > 7 && len <= 14);
	assert_int_equal(dec[0].time_ms, f.time_ms);
	/* A sender without a trusted clock (now 0): absolute too, with any reference. */
	f.time_ms = BASE;
	assert_true(round_trip_at(&f, 1, NULL, 0, BASE + 86400000LL) > 7);
	assert_int_equal(dec[0].time_ms, f.time_ms);
	/* Measuring: no buffer, cap 0 says -ENOSPC; one byte short too. */
	assert_int_equal(posfmt_encode(&f, 1, BASE, NULL, NULL, 0), -ENOSPC);
	assert_int_equal(posfmt_encode(&f, 1, BASE, NULL, buf, 5), -ENOSPC);
	assert_int_equal(posfmt_encode(&f, 1, BASE, NULL, buf, 6), 6);
	f.time_ms = BASE - 30000;
	assert_int_equal(posfmt_encode(&f, 1, BASE, NULL, buf, 7), -ENOSPC);
	assert_int_equal(posfmt_encode(&f, 1, BASE, NULL, buf, 8), 8);
}

/*
 * The plain form's grid: 4.3e-5 degree, so a coordinate moves by up to
 * 2.15e-5 degree (2.4 m), the point by up to 3.4 m, and no more; over
 * random positions the worst comes close to both (it is that grid, not
 * the finer one).
 */
static void
test_plain_resolution(void **state)
{
	unsigned seed = 17;
	double worst_deg = 0, worst_m = 0;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		struct fix f = plain(BASE - 1000, (rand_r(&seed) / (double)RAND_MAX) * 180 - 90,
		    (rand_r(&seed) / (double)RAND_MAX) * 360 - 180, NAN, NAN);
		double d;

		assert_int_equal(round_trip(&f, 1, NULL), 6);
		assert_true(fabs(dec[0].lat) <= 90 && fabs(dec[0].lon) <= 180);
		worst_deg = fmax(worst_deg, fmax(fabs(f.lat - dec[0].lat), fabs(f.lon - dec[0].lon)));
		d = geo_distance(f.lat, f.lon, dec[0].lat, dec[0].lon);
		worst_m = fmax(worst_m, d);
		/* Decoded values are on the grid: a second trip does not move them. */
		f = dec[0];
		assert_int_equal(round_trip(&f, 1, NULL), 6);
		assert_true(dec[0].lat == f.lat && dec[0].lon == f.lon);
	}
	printf("# plain form over 20000 random positions: a coordinate off by %.3g degree at most, the point by "
	    "%.2f m\n", worst_deg, worst_m);
	assert_true(worst_deg <= 2.15e-5 + 1e-9 && worst_deg > 2.0e-5);
	assert_true(worst_m <= POSFMT_PLAIN_ERROR_M && worst_m > 2.4);
	/* The poles and the date line. */
	{
		static const double edges[][2] = { { 90, 180 }, { -90, -180 }, { 0, 179.99999 }, { 0, -179.99999 },
		    { 89.99999, 0 }, { -89.99999, 0 } };

		for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
			struct fix f = plain(BASE - 2000, edges[i][0], edges[i][1], NAN, NAN);

			assert_int_equal(round_trip(&f, 1, NULL), 6);
			assert_true(fabs(dec[0].lat) <= 90 && fabs(dec[0].lon) <= 180);
		}
	}
}

/*
 * The plain form's 2 bits of time: for a fix on a whole second 0 to 2.5 s
 * before the sender's clock (at every phase of that clock's second), a
 * receiver whose reference is 1 s before to 0.5 s after that clock decodes
 * the exact time; one ms beyond either edge it is 4 s off; the encoder goes
 * to the 8-byte form outside the 2.5 s.
 */
static void
test_plain_time_window(void **state)
{
	struct fix f = plain(0, -12.5, 130.8, NAN, NAN);
	int checked = 0, plains = 0;

	(void)state;
	for (int64_t now = BASE; now < BASE + 2000; now += 37) {
		for (int64_t t = now - now % 1000 - 6000; t <= now + 3000; t += 1000) {
			bool want = now - t >= 0 && now - t <= POSFMT_PLAIN_MS;
			ssize_t len;

			f.time_ms = t;
			len = posfmt_encode(&f, 1, now, NULL, buf, sizeof(buf));
			assert_int_equal(len, want ? 6 : 8);
			if (!want)
				continue;
			plains++;
			for (int64_t ref = now - 1000; ref < now + 500; ref += (ref < now + 490 ? 7 : 1)) {
				assert_int_equal(posfmt_decode(buf, 6, ref, dec, 1, NULL, 0), 1);
				if (dec[0].time_ms != t)
					fail_msg("fix at %+lld ms of a clock at %lld, reference %+lld ms: decoded %+lld ms",
					    (long long)(t - now), (long long)(now - BASE), (long long)(ref - now),
					    (long long)(dec[0].time_ms - t));
				checked++;
			}
			assert_int_equal(posfmt_decode(buf, 6, now + 499, dec, 1, NULL, 0), 1);
			assert_int_equal(dec[0].time_ms, t);
		}
	}
	/* The edges: a fix just taken, a reference 1 s before; a fix 2.5 s old, a reference 0.5 s after. */
	f.time_ms = BASE;
	assert_int_equal(posfmt_encode(&f, 1, BASE, NULL, buf, sizeof(buf)), 6);
	assert_int_equal(posfmt_decode(buf, 6, BASE - 1000, dec, 1, NULL, 0), 1);
	assert_int_equal(dec[0].time_ms, BASE);
	assert_int_equal(posfmt_decode(buf, 6, BASE - 1001, dec, 1, NULL, 0), 1);
	assert_int_equal(dec[0].time_ms, BASE - 4000);
	assert_int_equal(posfmt_encode(&f, 1, BASE + 2500, NULL, buf, sizeof(buf)), 6);
	assert_int_equal(posfmt_decode(buf, 6, BASE + 2999, dec, 1, NULL, 0), 1);
	assert_int_equal(dec[0].time_ms, BASE);
	assert_int_equal(posfmt_decode(buf, 6, BASE + 3000, dec, 1, NULL, 0), 1);
	assert_int_equal(dec[0].time_ms, BASE + 4000);
	assert_int_equal(posfmt_encode(&f, 1, BASE + 2501, NULL, buf, sizeof(buf)), 8);
	assert_int_equal(posfmt_encode(&f, 1, BASE - 1, NULL, buf, sizeof(buf)), 8);
	/* Not a whole second, or anything else to carry: not plain. */
	f.time_ms = BASE - 1500;
	assert_true(posfmt_encode(&f, 1, BASE, NULL, buf, sizeof(buf)) > 6 && (buf[0] & 0x80));
	f.time_ms = BASE - 1000;
	f.alt = 200;
	assert_true(posfmt_encode(&f, 1, BASE, NULL, buf, sizeof(buf)) > 6 && (buf[0] & 0x80));
	f.alt = NAN;
	f.stale = true;
	assert_true(posfmt_encode(&f, 1, BASE, NULL, buf, sizeof(buf)) > 6 && (buf[0] & 0x80));
	f.stale = false;
	assert_true(posfmt_encode(&f, 1, BASE, "u", buf, sizeof(buf)) > 6 && (buf[0] & 0x80));
	f.kind = FIX_DRONE;
	assert_true(posfmt_encode(&f, 1, BASE, NULL, buf, sizeof(buf)) > 6 && (buf[0] & 0x80));
	f.kind = FIX_PERSON;
	/* Before 1970 too. */
	f.time_ms = -86400000LL * 400 + 7000;
	round_trip_at(&f, 1, NULL, f.time_ms + 2000, f.time_ms + 2300);
	assert_true(!(buf[0] & 0x80));
	printf("# plain form: %d fix times, %d with references, checked\n", plains, checked);
}

/*
 * The 7-bit time: for a fix up to 50 s either side of the sender's clock
 * (but for the plain form's 2.5 s),
 * a receiver whose reference is 10 s before to 16 s after that clock
 * decodes the exact time; the encoder goes absolute beyond 50 s.
 */
static void
test_time_window(void **state)
{
	struct fix f = plain(0, -12.5, 130.8, NAN, NAN);
	int checked = 0;

	(void)state;
	for (int64_t t = BASE - 60000; t <= BASE + 60000; t += 1000) {
		ssize_t len;

		f.time_ms = t;
		len = posfmt_encode(&f, 1, BASE, NULL, buf, sizeof(buf));
		assert_true(len > 0);
		if (t <= BASE && BASE - t <= POSFMT_PLAIN_MS)
			assert_int_equal(len, 6);
		else if (llabs(t - BASE) <= POSFMT_NEAR_MS)
			assert_int_equal(len, 8);
		else
			assert_true(len > 8);
		if (len == 6)
			continue;	/* test_plain_time_window */
		for (int64_t ref = BASE - 10000; ref <= BASE + 16000; ref += 500) {
			assert_int_equal(posfmt_decode(buf, (size_t)len, ref, dec, 1, NULL, 0), 1);
			if (dec[0].time_ms != t)
				fail_msg("fix at %+lld ms, reference %+lld ms: decoded %+lld ms",
				    (long long)(t - BASE), (long long)(ref - BASE), (long long)(dec[0].time_ms - BASE));
			checked++;
		}
	}
	/* Beyond the window the 7 bits are a different time: 128 s off, not garbage. */
	f.time_ms = BASE - 50000;
	assert_int_equal(posfmt_encode(&f, 1, BASE, NULL, buf, sizeof(buf)), 8);
	assert_int_equal(posfmt_decode(buf, 8, BASE + 30000, dec, 1, NULL, 0), 1);
	assert_int_equal(dec[0].time_ms, f.time_ms + 128000);
	/* Times before 1970 and before 2020 work the same way. */
	f.time_ms = -86400000LL * 400 + 7000;
	round_trip_at(&f, 1, NULL, f.time_ms + 3000, f.time_ms + 3000);
	assert_int_equal(dec[0].time_ms, f.time_ms);
	round_trip_at(&f, 1, NULL, BASE, BASE);
	assert_int_equal(dec[0].time_ms, f.time_ms);
	printf("# %d fix times and references checked\n", checked);
}

static void
test_walking_batch(void **state)
{
	struct fix f[10];
	double lat = 43.5, lon = 16.4, course = 20;
	int len;

	(void)state;
	/* Ten fixes 30 s apart at 5 km/h along a path that bends. */
	for (int i = 0; i < 10; i++) {
		f[i] = plain(BASE - 271000 + i * 30000, lat, lon, NAN, NAN);
		geo_destination(lat, lon, course, 1.39 * 30, &lat, &lon);
		course = fmod(course + 37, 360);
	}
	len = round_trip(f, 10, NULL);
	printf("# 10 walking fixes 30 s apart: %d bytes\n", len);
	assert_true(len <= 40);
	f[9].speed = 1.39;
	f[9].course = 20;
	printf("# 10 walking fixes 30 s apart, the newest with speed and course: %d bytes\n",
	    round_trip(f, 10, NULL));
	f[9].speed = f[9].course = NAN;
	/* Irregular times (100 ms steps): still decodes exactly to them. */
	f[3].time_ms += 1300;
	assert_true(round_trip(f, 10, NULL) > len);
}

static void
test_optional_fields(void **state)
{
	struct fix f[3];

	(void)state;
	for (int i = 0; i < 3; i++) {
		f[i] = plain(BASE + 1000 * i, 45.1 + i * 1e-4, 7.2, 14.2, 359.95);
		f[i].alt = 312.4 - i;
		f[i].eph = 4.6;
		f[i].kind = FIX_DRONE;
	}
	f[1].alt = NAN;		/* one fix without altitude */
	f[2].eph = NAN;
	f[2].stale = true;
	/* A drone relayed by this node, with its name. */
	round_trip(f, 3, "drone-7");
	round_trip(f, 3, NULL);
	round_trip(f, 1, "UAV");
	/* Altitudes below sea level and high; a large error estimate is kept at the top. */
	f[0].alt = -420;
	f[1].alt = 9000;
	round_trip(f, 2, NULL);
	f[0].eph = 1e6;
	assert_true(posfmt_encode(f, 1, BASE, NULL, buf, sizeof(buf)) > 0);
	assert_int_equal(posfmt_decode(buf, (size_t)posfmt_encode(f, 1, BASE, NULL, buf, sizeof(buf)), BASE,
	    dec, 1, NULL, 0), 1);
	assert_true(dec[0].eph == 65534);
}

static void
test_edges(void **state)
{
	struct fix f[4];

	(void)state;
	f[0] = plain(BASE - 86400000LL * 365, 0, 179.99999, 400, 180);
	f[1] = plain(BASE, 90, 180, 0, 0);
	f[2] = plain(BASE + 100, -90, -180, NAN, NAN);
	f[3] = plain(BASE + 86400000LL * 365, 0, -179.99999, 409.5, 359.99);
	round_trip(f, 4, NULL);
	round_trip(&f[3], 1, NULL);
	/* The most fixes a payload holds. */
	struct fix g[POSFMT_MAX_FIXES];
	for (int i = 0; i < POSFMT_MAX_FIXES; i++)
		g[i] = plain(BASE + i * 1000, -33.9 + i * 1e-4, 151.2, 3, 90);
	round_trip(g, POSFMT_MAX_FIXES, "x");
}

static void
test_refused(void **state)
{
	struct fix f[POSFMT_MAX_FIXES + 1], g;
	ssize_t len;

	(void)state;
	for (int i = 0; i <= POSFMT_MAX_FIXES; i++)
		f[i] = plain(BASE, 1, 2, NAN, NAN);
	assert_int_equal(posfmt_encode(f, 0, BASE, NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(posfmt_encode(f, POSFMT_MAX_FIXES + 1, BASE, NULL, buf, sizeof(buf)), -EINVAL);
	g = f[0];
	g.lat = 90.001;
	assert_int_equal(posfmt_encode(&g, 1, BASE, NULL, buf, sizeof(buf)), -EINVAL);
	g = f[0];
	g.lon = NAN;
	assert_int_equal(posfmt_encode(&g, 1, BASE, NULL, buf, sizeof(buf)), -EINVAL);
	g = f[0];
	g.speed = -1;
	assert_int_equal(posfmt_encode(&g, 1, BASE, NULL, buf, sizeof(buf)), -EINVAL);
	g.speed = 410;
	assert_int_equal(posfmt_encode(&g, 1, BASE, NULL, buf, sizeof(buf)), -EINVAL);
	g = f[0];
	g.course = INFINITY;
	assert_int_equal(posfmt_encode(&g, 1, BASE, NULL, buf, sizeof(buf)), -EINVAL);
	g = f[0];
	g.eph = -2;
	assert_int_equal(posfmt_encode(&g, 1, BASE, NULL, buf, sizeof(buf)), -EINVAL);
	g = f[0];
	g.time_ms = INT64_MIN;
	assert_int_equal(posfmt_encode(&g, 1, BASE, NULL, buf, sizeof(buf)), -EINVAL);
	/* Times going back within a batch. */
	f[1].time_ms = BASE - 1000;
	assert_int_equal(posfmt_encode(f, 2, BASE, NULL, buf, sizeof(buf)), -EINVAL);
	f[1].time_ms = BASE;
	assert_int_equal(posfmt_encode(f, 1, BASE, "a-name-much-longer-than-31-bytes", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(posfmt_encode(f, 1, BASE, "tab\there", buf, sizeof(buf)), -EINVAL);
	f[1].kind = FIX_DRONE;
	assert_int_equal(posfmt_encode(f, 2, BASE, NULL, buf, sizeof(buf)), -EINVAL);
	f[1].kind = FIX_PERSON;

	/* The decoder: more fixes than room, a name longer than room, a newer version, a byte too many. */
	len = posfmt_encode(f, 3, BASE, "relay", buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(posfmt_decode(buf, (size_t)len, BASE, dec, 2, unit, sizeof(unit)), -ENOSPC);
	assert_int_equal(posfmt_decode(buf, (size_t)len, BASE, dec, 3, unit, 5), -ENOSPC);
	assert_int_equal(posfmt_decode(buf, (size_t)len, BASE, dec, 3, NULL, 0), 3);
	buf[len] = 0;
	assert_int_equal(posfmt_decode(buf, (size_t)len + 1, BASE, dec, 3, unit, sizeof(unit)), -EBADMSG);
	buf[1] |= 0x40;
	assert_int_equal(posfmt_decode(buf, (size_t)len, BASE, dec, 3, unit, sizeof(unit)), -EBADMSG);
	assert_int_equal(posfmt_decode(buf, 0, BASE, dec, 3, unit, sizeof(unit)), -EBADMSG);
}

/* A decoded result is valid: every field in its range. */
static void
check_valid(int n)
{
	for (int i = 0; i < n; i++) {
		const struct fix *d = &dec[i];

		assert_true(fabs(d->lat) <= 90 && fabs(d->lon) <= 180);
		assert_true(isnan(d->speed) || (d->speed >= 0 && d->speed <= POSFMT_SPEED_MAX));
		assert_true(isnan(d->course) || (d->course >= 0 && d->course < 360));
		assert_true(isnan(d->eph) || d->eph >= 0);
		assert_true(d->kind == FIX_PERSON || d->kind == FIX_DRONE);
	}
	assert_true(strlen(unit) <= POSFMT_UNIT_MAX);
}

/* Every truncation of a valid payload is -EBADMSG; every corruption -EBADMSG or valid fixes. */
static unsigned
hostile_on(const uint8_t *valid, ssize_t len, unsigned seed)
{
	uint8_t bad[512];
	unsigned accepted = 0;

	assert_true(len > 0 && (size_t)len <= sizeof(bad));
	/* Every truncation is short of something the header promised. */
	for (ssize_t k = 0; k < len; k++)
		assert_int_equal(posfmt_decode(valid, (size_t)k, BASE, dec, POSFMT_MAX_FIXES, unit, sizeof(unit)),
		    -EBADMSG);
	/* Every single-bit flip, and random bytes at random places. */
	for (ssize_t k = 0; k < len; k++) {
		for (int bit = 0; bit < 8; bit++) {
			int n;

			memcpy(bad, valid, (size_t)len);
			bad[k] ^= (uint8_t)(1 << bit);
			n = posfmt_decode(bad, (size_t)len, BASE, dec, POSFMT_MAX_FIXES, unit, sizeof(unit));
			assert_true(n == -EBADMSG || (n >= 1 && n <= POSFMT_MAX_FIXES));
			if (n > 0) {
				check_valid(n);
				accepted++;
			}
		}
	}
	for (int round = 0; round < 20000; round++) {
		size_t l = (size_t)(rand_r(&seed) % (int)len) + 1;
		int n;

		memcpy(bad, valid, (size_t)len);
		for (int j = rand_r(&seed) % 4; j >= 0; j--)
			bad[rand_r(&seed) % (int)l] = (uint8_t)rand_r(&seed);
		n = posfmt_decode(bad, l, BASE, dec, POSFMT_MAX_FIXES, unit, sizeof(unit));
		assert_true(n == -EBADMSG || (n >= 1 && n <= POSFMT_MAX_FIXES));
		if (n > 0)
			check_valid(n);
	}
	return accepted;
}

static void
test_hostile(void **state)
{
	struct fix f[POSFMT_MAX_FIXES];
	uint8_t valid[512];
	ssize_t len;
	unsigned accepted;

	(void)state;
	/* Every field: a relayed unit's batch with altitude, error, stale, tenths, motion. */
	for (int i = 0; i < 6; i++) {
		f[i] = plain(BASE - 60000 + i * 10000 + (i == 3 ? 300 : 0), 47.1 + i * 3e-4, 8.5 - i * 2e-4, 2.2, 45);
		f[i].alt = 400 + i;
		f[i].eph = 3;
		f[i].stale = i == 5;
	}
	len = posfmt_encode(f, 6, BASE, "team-3", valid, sizeof(valid));
	accepted = hostile_on(valid, len, 11);
	printf("# %u of %zd single-bit flips of a full batch decode (to valid fixes)\n", accepted, len * 8);
	/* A plain fix (6 bytes, and 8), one with motion, one with an absolute time and tenths. */
	f[0] = plain(BASE - 2000, 47.1, 8.5, NAN, NAN);
	len = posfmt_encode(f, 1, BASE, NULL, valid, sizeof(valid));
	assert_int_equal(len, 6);
	accepted = hostile_on(valid, len, 12);
	printf("# %u of %zd single-bit flips of a plain fix decode (to valid fixes)\n", accepted, len * 8);
	/* The plain form is exactly 6 bytes: with a byte more it is malformed. */
	valid[6] = 0;
	assert_int_equal(posfmt_decode(valid, 7, BASE, dec, 1, NULL, 0), -EBADMSG);
	assert_int_equal(posfmt_decode(valid, 6, BASE, dec, 0, NULL, 0), -ENOSPC);
	/* Its largest lat_i (4186046, times 8372094 lon_i values, plus 8372093) and one past it. */
	{
		uint64_t top = UINT64_C(4186046) * 8372094 + 8372093;

		for (int k = 0; k < 6; k++)
			valid[k] = (uint8_t)(top >> (8 * (5 - k)));
		assert_int_equal(posfmt_decode(valid, 6, BASE, dec, 1, NULL, 0), 1);
		assert_true(dec[0].lat <= 90 && dec[0].lat > 89.9999 && dec[0].lon <= 180 && dec[0].lon > 179.9999);
		top++;
		for (int k = 0; k < 6; k++)
			valid[k] = (uint8_t)(top >> (8 * (5 - k)));
		assert_int_equal(posfmt_decode(valid, 6, BASE, dec, 1, NULL, 0), -EBADMSG);
		memset(valid, 0x7f, 6);
		memset(valid + 1, 0xff, 5);
		assert_int_equal(posfmt_decode(valid, 6, BASE, dec, 1, NULL, 0), -EBADMSG);
	}
	f[0].time_ms = BASE - 20000;
	len = posfmt_encode(f, 1, BASE, NULL, valid, sizeof(valid));
	assert_int_equal(len, 8);
	hostile_on(valid, len, 16);
	f[0].speed = 3;
	f[0].course = 10;
	hostile_on(valid, posfmt_encode(f, 1, BASE, NULL, valid, sizeof(valid)), 13);
	f[0].time_ms = BASE - 86400000 + 700;
	hostile_on(valid, posfmt_encode(f, 1, BASE, NULL, valid, sizeof(valid)), 14);
	/* The most fixes, stale bits in the second byte of the bitmap. */
	for (int i = 0; i < POSFMT_MAX_FIXES; i++) {
		f[i] = plain(BASE - 100000 + i * 3000, -33.9 + i * 1e-4, 151.2, NAN, NAN);
		f[i].stale = i % 9 == 0;
	}
	hostile_on(valid, posfmt_encode(f, POSFMT_MAX_FIXES, BASE, NULL, valid, sizeof(valid)), 15);
}

static void
test_random_round_trips(void **state)
{
	unsigned seed = 3;
	struct fix f[POSFMT_MAX_FIXES];

	(void)state;
	for (int round = 0; round < 3000; round++) {
		int n = rand_r(&seed) % POSFMT_MAX_FIXES + 1;
		double lat = (rand_r(&seed) / (double)RAND_MAX) * 180 - 90;
		double lon = (rand_r(&seed) / (double)RAND_MAX) * 360 - 180;
		int64_t t = BASE - (rand_r(&seed) % 7200000);
		int64_t now = t + n * 60000 - rand_r(&seed) % 200000, ref = now - 10000 + rand_r(&seed) % 26001;

		/* Now and then the plain form's case, with its narrower reference window. */
		if (rand_r(&seed) % 8 == 0) {
			n = 1;
			t -= t % 1000;
			now = t + rand_r(&seed) % (POSFMT_PLAIN_MS + 1);
			ref = now - 1000 + rand_r(&seed) % 1500;
		}

		for (int i = 0; i < n; i++) {
			f[i] = plain(t, lat, lon, NAN, NAN);
			if (rand_r(&seed) % 2) {
				f[i].speed = (rand_r(&seed) / (double)RAND_MAX) * POSFMT_SPEED_MAX;
				f[i].course = (rand_r(&seed) / (double)RAND_MAX) * 360;
			}
			if (rand_r(&seed) % 3 == 0)
				f[i].alt = rand_r(&seed) % 20000 - 500 + 0.3;
			t += rand_r(&seed) % 4 ? rand_r(&seed) % 120 * 1000 : rand_r(&seed) % 120000;
			lat = fmin(90, fmax(-90, lat + (rand_r(&seed) % 2001 - 1000) * 1e-5));
			lon = fmin(180, fmax(-180, lon + (rand_r(&seed) % 2001 - 1000) * 1e-5));
		}
		round_trip_at(f, n, rand_r(&seed) % 4 ? NULL : "u", now, ref);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_fix),
		cmocka_unit_test(test_time_window),
		cmocka_unit_test(test_plain_resolution),
		cmocka_unit_test(test_plain_time_window),
		cmocka_unit_test(test_walking_batch),
		cmocka_unit_test(test_optional_fields),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_random_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
