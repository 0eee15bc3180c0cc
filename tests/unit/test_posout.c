/*
 * test_posout.c - one unit's reports (relay/track/posout.c): when a report
 * is due (error, minimum and maximum interval, the heartbeat, a stale fix),
 * the Douglas-Peucker history (the received fixes joined by lines within
 * the error of the true track), the batch carried behind supersede, the
 * thinning of a full history and of a batch too large for the bundle, and
 * what the receivers decode matches what the sender predicts with.
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
#include "posout.h"
#include "track.h"

#define T0	1764770000000LL		/* Unix ms */
#define LAT0	46.05
#define LON0	14.5

static struct posout po;		/* large: not on the stack */
static uint8_t buf[1024];

/* The command center: every fix it got, in time order (a fix again is kept once). */
#define RX_MAX	20000
static struct fix rx[RX_MAX];
static int n_rx;
static struct beacon rx_beacon;		/* its live view, as beacon_predict makes it */

static void
receive(const uint8_t *p, size_t len, int64_t ref)
{
	struct fix got[POSFMT_MAX_FIXES];
	int n = posfmt_decode(p, len, ref, got, POSFMT_MAX_FIXES, NULL, 0);

	assert_true(n >= 1);
	for (int i = 0; i < n; i++) {
		if (n_rx > 0 && got[i].time_ms <= rx[n_rx - 1].time_ms) {
			if (got[i].time_ms == rx[n_rx - 1].time_ms)
				rx[n_rx - 1] = got[i];
			continue;
		}
		assert_true(n_rx < RX_MAX);
		rx[n_rx++] = got[i];
		beacon_sent(&rx_beacon, &got[i]);
	}
}

static struct fix
at(int64_t t, double lat, double lon)
{
	struct fix f;

	fix_init(&f);
	f.time_ms = t;
	f.lat = lat;
	f.lon = lon;
	return f;
}

/* The largest distance from a true fix to the received line over its time. */
static double
history_error(const struct fix *truth, int n)
{
	double worst = 0;
	int j = 0;

	for (int i = 0; i < n; i++) {
		double d;

		if (truth[i].time_ms < rx[0].time_ms || truth[i].time_ms > rx[n_rx - 1].time_ms)
			continue;
		while (j + 1 < n_rx && rx[j + 1].time_ms < truth[i].time_ms)
			j++;
		d = j + 1 < n_rx ? geo_segment_distance(truth[i].lat, truth[i].lon, rx[j].lat, rx[j].lon,
		    rx[j + 1].lat, rx[j + 1].lon) : geo_distance(truth[i].lat, truth[i].lon, rx[j].lat, rx[j].lon);
		if (d > worst)
			worst = d;
	}
	return worst;
}

static void
reset(void)
{
	posout_init(&po, "team-1", true);
	n_rx = 0;
	beacon_init(&rx_beacon);
}

/* Offer f; when due, build (taken), receive and record as sent.  Whether it was sent. */
static bool
step(const struct fix *f, const struct posout_rule *r, bool taken)
{
	ssize_t len;

	if (!posout_offer(&po, f, r))
		return false;
	len = posout_build(&po, taken, false, f->time_ms + 300, buf, sizeof(buf));
	assert_true(len > 0);
	posout_sent(&po, "ipn:12.3 1 1");
	receive(buf, (size_t)len, f->time_ms + 300);
	return true;
}

static const struct posout_rule narrow = { .error_m = 25, .min_ms = 30000, .max_ms = 1800000, .motion = false,
    .anchor_ms = POSOUT_ANCHOR_MS };

static void
test_rule_default(void **state)
{
	struct track_conf c;
	struct posout_rule r;

	(void)state;
	track_conf_defaults(&c);
	posout_rule_default(&r, &c, LINK_NARROWBAND);
	assert_true(r.error_m == 25 && r.min_ms == 30000 && r.max_ms == 1800000 && !r.motion);
	posout_rule_default(&r, &c, LINK_SATELLITE);
	assert_false(r.motion);
	posout_rule_default(&r, &c, LINK_MESH);
	assert_true(r.min_ms == 5000 && r.max_ms == 300000 && r.motion);
	posout_rule_default(&r, &c, LINK_IP);
	assert_true(r.motion);
}

/* A plain fix alone (just taken) is 6 bytes; with motion on, speed and course go too. */
static void
test_one_fix(void **state)
{
	struct posout_rule r = narrow;
	struct fix f = at(T0, LAT0, LON0), got;
	ssize_t len;

	(void)state;
	reset();
	f.speed = 1.4;
	f.course = 90;
	assert_int_equal(posout_build(&po, true, false, T0, buf, sizeof(buf)), -EINVAL);
	assert_true(posout_offer(&po, &f, &r));
	len = posout_build(&po, true, false, T0 + 300, buf, sizeof(buf));
	assert_int_equal(len, 6);
	assert_int_equal(posfmt_decode(buf, (size_t)len, T0 + 300, &got, 1, NULL, 0), 1);
	assert_true(isnan(got.speed) && got.time_ms == T0);
	r.motion = true;
	assert_true(posout_offer(&po, &f, &r));
	assert_int_equal(posout_build(&po, true, false, T0 + 300, buf, sizeof(buf)), 11);
	/* With the name (a relayed drone), and too small a buffer. */
	assert_true(posout_build(&po, true, true, T0 + 300, buf, sizeof(buf)) > 11 + 6);
	assert_int_equal(posout_build(&po, true, false, T0 + 300, buf, 6), -ENOSPC);
}

static void
test_due(void **state)
{
	struct posout_rule r = narrow;
	struct fix f;
	double lat, lon;

	(void)state;
	reset();
	f = at(T0, LAT0, LON0);
	assert_true(step(&f, &r, true));
	/* Walking north at 1.5 m/s: 22.5 m at 15 s, not due; 30 m at 20 s, held back to 30 s. */
	for (int s = 1; s < 30; s++) {
		geo_destination(LAT0, LON0, 0, 1.5 * s, &lat, &lon);
		f = at(T0 + s * 1000, lat, lon);
		assert_false(step(&f, &r, true));
	}
	geo_destination(LAT0, LON0, 0, 45, &lat, &lon);
	f = at(T0 + 30000, lat, lon);
	assert_true(step(&f, &r, true));
	/*
	 * Two fixes received: the receivers now carry the unit on north at 1.5
	 * m/s, give or take the rounding of two positions 30 s apart (plain
	 * fixes, each up to POSFMT_PLAIN_ERROR_M off).
	 */
	for (int s = 31; s < 200; s++) {
		geo_destination(LAT0, LON0, 0, 1.5 * s, &lat, &lon);
		f = at(T0 + s * 1000, lat, lon);
		assert_false(step(&f, &r, true));
	}
	beacon_predict(&rx_beacon, T0 + 199000, &lat, &lon);
	assert_true(geo_distance(lat, lon, f.lat, f.lon) < 2 * POSFMT_PLAIN_ERROR_M * 169 / 30);
	/*
	 * Standing from 200 s on: due when 25 m from where the receivers put
	 * it (about 217 s; earlier when the rounding made them faster), which
	 * the sender knows to the bit.
	 */
	for (int s = 200;; s++) {
		bool due;

		f.time_ms = T0 + s * 1000;
		beacon_predict(&rx_beacon, f.time_ms, &lat, &lon);
		due = geo_distance(lat, lon, f.lat, f.lon) > r.error_m;
		assert_int_equal(step(&f, &r, true), due);
		if (due) {
			assert_true(s >= 200 && s <= 230);
			break;
		}
	}
	/*
	 * Sent less than the anchor's 20 s after the stop, the bundle gives the
	 * receivers a speed from a fix of the walk: they go on, and one more
	 * send (after min_ms) tells them it stands.
	 */
	if (rx[n_rx - 2].time_ms < T0 + 199000) {
		int64_t t0 = f.time_ms;

		for (f.time_ms = t0 + 1000; !step(&f, &r, true); f.time_ms += 1000)
			assert_true(f.time_ms < t0 + (int64_t)r.min_ms + 30000);
		printf("# stopped at 200 s: sent at %lld s with a speed of the walk, again at %lld s\n",
		    (long long)(t0 - T0) / 1000, (long long)(f.time_ms - T0) / 1000);
		assert_true(f.time_ms >= t0 + (int64_t)r.min_ms);
		assert_true(rx[n_rx - 2].time_ms >= T0 + 199000);
	}
	/* Still: only the heartbeat, max_ms after the last send; posout_heartbeat_due says the same. */
	{
		int64_t sent = f.time_ms;

		/* The heartbeat counts from when the bundle was made (300 ms after the fix here). */
		assert_false(posout_heartbeat_due(&po, sent + 300 + r.max_ms - 1, &r));
		assert_true(posout_heartbeat_due(&po, sent + 300 + r.max_ms, &r));
		for (int64_t t = sent + 1000; t < sent + 2 * (int64_t)r.max_ms; t += 1000) {
			f.time_ms = t;
			if (step(&f, &r, true)) {
				if (t != sent + r.max_ms)
					fail_msg("sent at %+lld s after the stop's send; %d received, the last two at "
					    "%lld and %lld s", (long long)(t - sent) / 1000, n_rx,
					    (long long)(rx[n_rx - 2].time_ms - T0) / 1000,
					    (long long)(rx[n_rx - 1].time_ms - T0) / 1000);
				break;
			}
		}
	}
}

/* A square walked with no send on the way: the heartbeat's bundle carries the corners. */
static void
test_history(void **state)
{
	struct posout_rule r = { .error_m = 25, .min_ms = 1000, .max_ms = 600000, .motion = false };
	static struct fix truth[700];
	double lat = LAT0, lon = LON0;
	int n = 0, sends = 0;

	(void)state;
	reset();
	/* Large error for the live rule: only the first send and the heartbeat at 600 s. */
	r.error_m = 100000;
	for (int s = 0; s <= 600; s++) {
		double course = (s / 150) * 90.0;

		truth[n] = at(T0 + s * 1000LL, lat, lon);
		geo_destination(lat, lon, course, 1.4, &lat, &lon);
		/* The history's tolerance is the rule's error: 25 m, for the DP. */
		r.error_m = s == 600 ? 25 : 100000;
		if (step(&truth[n], &r, true))
			sends++;
		n++;
	}
	assert_int_equal(sends, 2);
	/* The three corners at 150, 300, 450 s, give or take what the tolerance allows. */
	printf("# a 210 m square, one bundle: %d fixes received\n", n_rx);
	assert_true(n_rx >= 5 && n_rx <= 8);
	for (int c = 1; c <= 3; c++) {
		bool near = false;

		for (int i = 0; i < n_rx; i++)
			if (llabs(rx[i].time_ms - (T0 + c * 150000LL)) <= 20000)
				near = true;
		assert_true(near);
	}
	assert_true(history_error(truth, n) <= 25);
	/* Without the history (each bundle its newest fix only) the square is a line: far off. */
	assert_true(geo_segment_distance(truth[300].lat, truth[300].lon, truth[0].lat, truth[0].lon,
	    truth[600].lat, truth[600].lon) > 100);
}

/* A random walk with turns, sent at narrowband intervals: every true fix within 25 m of the received line. */
static void
test_history_random(void **state)
{
	static struct fix truth[7201];
	struct posout_rule r = narrow;
	double lat = LAT0, lon = LON0, course = 0, speed = 1.4;
	unsigned seed = 5;
	int sends = 0;
	double err;

	(void)state;
	reset();
	r.max_ms = 600000;
	for (int s = 0; s <= 7200; s++) {
		truth[s] = at(T0 + s * 1000LL, lat, lon);
		if (step(&truth[s], &r, s % 7 != 3))
			sends++;
		if (rand_r(&seed) % 40 == 0)
			course = fmod(course + rand_r(&seed) % 180 - 90 + 360, 360);
		if (rand_r(&seed) % 300 == 0)
			speed = speed > 0 ? 0 : 1.4;
		geo_destination(lat, lon, course, speed, &lat, &lon);
	}
	err = history_error(truth, 7201);
	printf("# random walk, 2 h: %d sends, %d fixes received, history error %.1f m\n", sends, n_rx, err);
	assert_true(err <= 25);
	assert_int_equal(po.thinned, 0);
}

/* The batch behind supersede: not taken, the last bundle's fixes go again. */
static void
test_carry(void **state)
{
	struct posout_rule r = narrow;
	struct fix f[4], got[POSFMT_MAX_FIXES];
	ssize_t len;

	(void)state;
	reset();
	/* 1.1 km in a minute, then standing: the third is due, 1.1 km from where the receivers put it. */
	for (int i = 0; i < 4; i++)
		f[i] = at(T0 + i * 60000LL, LAT0 + (i ? 0.01 : 0), LON0);
	assert_true(posout_offer(&po, &f[0], &r));
	assert_true(posout_build(&po, true, false, T0, buf, sizeof(buf)) > 0);
	posout_sent(&po, "ipn:12.3 1 1");
	assert_true(posout_offer(&po, &f[1], &r));
	len = posout_build(&po, false, false, f[1].time_ms, buf, sizeof(buf));
	assert_int_equal(posfmt_decode(buf, (size_t)len, f[1].time_ms, got, POSFMT_MAX_FIXES, NULL, 0), 2);
	assert_true(got[0].time_ms == f[0].time_ms && got[1].time_ms == f[1].time_ms);
	posout_sent(&po, "ipn:12.3 1 2");
	/* Not taken again: all three; taken: the new one alone. */
	assert_true(posout_offer(&po, &f[2], &r));
	len = posout_build(&po, false, false, f[2].time_ms, buf, sizeof(buf));
	assert_int_equal(posfmt_decode(buf, (size_t)len, f[2].time_ms, got, POSFMT_MAX_FIXES, NULL, 0), 3);
	len = posout_build(&po, true, false, f[2].time_ms, buf, sizeof(buf));
	assert_int_equal(posfmt_decode(buf, (size_t)len, f[2].time_ms, got, POSFMT_MAX_FIXES, NULL, 0), 1);
	assert_int_equal(got[0].time_ms, f[2].time_ms);
	posout_sent(&po, "ipn:12.3 1 3");
	/* A heartbeat of the same fix behind an untaken bundle: that fix once. */
	assert_true(posout_heartbeat_due(&po, f[2].time_ms + r.max_ms, &r));
	len = posout_build(&po, false, false, f[2].time_ms + r.max_ms, buf, sizeof(buf));
	assert_int_equal(posfmt_decode(buf, (size_t)len, f[2].time_ms + r.max_ms, got, POSFMT_MAX_FIXES, NULL, 0), 1);
	assert_int_equal(got[0].time_ms, f[2].time_ms);
}

/* Out of reach for hours: the carried batch stays at POSOUT_BATCH_MAX, losing the straightest fixes. */
static void
test_carry_thinned(void **state)
{
	struct posout_rule r = narrow;
	struct fix got[POSFMT_MAX_FIXES];
	double lat = LAT0, lon = LON0;
	int sends = 0, n;
	ssize_t len = 0;

	(void)state;
	reset();
	for (int s = 0; s < 4 * 3600; s++) {
		struct fix f = at(T0 + s * 1000LL, lat, lon);

		if (posout_offer(&po, &f, &r)) {
			len = posout_build(&po, false, false, f.time_ms, buf, sizeof(buf));
			if (len <= 0)
				fail_msg("build at %d s: %zd", s, len);
			posout_sent(&po, "ipn:12.3 1 1");
			sends++;
		}
		/* A zigzag: a turn every 90 s. */
		geo_destination(lat, lon, (s / 90) % 2 ? 45 : 135, 1.4, &lat, &lon);
	}
	n = posfmt_decode(buf, (size_t)len, po.next_ms, got, POSFMT_MAX_FIXES, NULL, 0);
	printf("# 4 h out of reach: %d sends, the last bundle %d fixes in %zd bytes, %llu thinned\n", sends, n, len,
	    (unsigned long long)po.thinned);
	assert_true(sends > POSOUT_BATCH_MAX);
	assert_int_equal(n, POSOUT_BATCH_MAX);
	assert_true(po.thinned > 0);
	for (int i = 1; i < n; i++)
		assert_true(got[i].time_ms > got[i - 1].time_ms);
	/* A cap in bytes: thinned until it fits. */
	len = posout_build(&po, false, false, po.next_ms, buf, 60);
	assert_true(len > 0 && len <= 60);
	n = posfmt_decode(buf, (size_t)len, po.next_ms, got, POSFMT_MAX_FIXES, NULL, 0);
	assert_true(n >= 2 && n < POSOUT_BATCH_MAX);
	assert_int_equal(got[n - 1].time_ms, po.last.time_ms);
}

/* No send for longer than the history holds: every other fix goes, the newest and the last sent stay. */
static void
test_history_thinned(void **state)
{
	struct posout_rule r = { .error_m = 1e5, .min_ms = 1000, .max_ms = 86400000, .motion = false };
	struct fix f;
	int sends = 0;

	(void)state;
	reset();
	for (int s = 0; s < POSOUT_HISTORY + 100; s++) {
		f = at(T0 + s * 1000LL, LAT0 + s * 1e-5, LON0);
		if (step(&f, &r, true))
			sends++;
	}
	assert_int_equal(sends, 1);
	assert_true(po.hist_thinned == 1);
	assert_true(po.n_hist <= POSOUT_HISTORY);
	assert_int_equal(po.hist[0].time_ms, T0);
	assert_int_equal(po.hist[po.n_hist - 1].time_ms, f.time_ms);
	/* The last sent, every other one of the 7198 between, the newest of them; then 100 more. */
	assert_int_equal(po.n_hist, 1 + (POSOUT_HISTORY - 2) / 2 + 1 + 100);
}

/* The fix stopped: say so at once, once; the heartbeat carries it on. */
static void
test_stale(void **state)
{
	struct posout_rule r = narrow;
	struct fix f = at(T0, LAT0, LON0), got;
	ssize_t len;

	(void)state;
	reset();
	assert_true(step(&f, &r, true));
	f.stale = true;
	assert_true(posout_offer(&po, &f, &r));
	len = posout_build(&po, false, false, T0 + 12000, buf, sizeof(buf));
	assert_int_equal(posfmt_decode(buf, (size_t)len, T0 + 12000, &got, 1, NULL, 0), 1);
	assert_true(got.stale && got.time_ms == T0);
	posout_sent(&po, "ipn:12.3 1 2");
	assert_true(po.beacon.last.stale);
	assert_false(posout_offer(&po, &f, &r));
	assert_false(posout_heartbeat_due(&po, T0 + 12000 + r.max_ms - 1, &r));
	assert_true(posout_heartbeat_due(&po, T0 + 12000 + r.max_ms, &r));
	len = posout_build(&po, true, false, T0 + 12000 + r.max_ms, buf, sizeof(buf));
	assert_int_equal(posfmt_decode(buf, (size_t)len, T0 + 12000 + r.max_ms, &got, 1, NULL, 0), 1);
	assert_true(got.stale && got.time_ms == T0);
	posout_sent(&po, "ipn:12.3 1 3");
	/* Sent: the next heartbeat a max_ms later, not at every tick. */
	assert_false(posout_heartbeat_due(&po, T0 + 12000 + r.max_ms + 1000, &r));
	/* A fix again: due at once (the receivers show it stale). */
	f = at(T0 + 2000000, LAT0, LON0);
	assert_true(posout_offer(&po, &f, &r));
}

/*
 * Fix times with milliseconds (gpsd's): the format rounds them to 100 ms,
 * but the intervals count from the true times: the same fix again is not
 * a clock that went back, and min_ms holds to the millisecond.
 */
static void
test_ms_times(void **state)
{
	struct posout_rule r = { .error_m = 2, .min_ms = 3000, .max_ms = 20000, .motion = false };
	int64_t prev = 0;
	int sends = 0;

	(void)state;
	reset();
	for (int s = 0; s < 120; s++) {
		/* Zigzag north, 5 m either side; each fix at .051 past the second (rounded up) and offered twice. */
		struct fix f = at(T0 + s * 1000LL + 51, LAT0 + s * 10 / 111195.0, LON0 + (s % 2 ? 5 : -5) / 77000.0);

		for (int again = 0; again < 2; again++) {
			if (step(&f, &r, true)) {
				assert_true(sends == 0 || f.time_ms - prev >= (int64_t)r.min_ms);
				prev = f.time_ms;
				sends++;
			}
		}
	}
	/* Every 3 s but the first (its neighbours still on the line): about 40. */
	assert_true(sends >= 35 && sends <= 41);
}

/* A clock that goes back: sent at once, the history starts over. */
static void
test_clock_back(void **state)
{
	struct posout_rule r = narrow;
	struct fix f = at(T0, LAT0, LON0);

	(void)state;
	reset();
	assert_true(step(&f, &r, true));
	f.time_ms = T0 + 10000;
	assert_false(step(&f, &r, false));
	f.time_ms = T0 - 3600000;
	assert_true(posout_offer(&po, &f, &r));
	assert_int_equal(po.n_hist, 1);
	assert_true(posout_build(&po, false, false, T0, buf, sizeof(buf)) > 0);
	posout_sent(&po, "ipn:12.3 1 2");
	assert_int_equal(po.beacon.last.time_ms, f.time_ms);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_default),
		cmocka_unit_test(test_one_fix),
		cmocka_unit_test(test_due),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_history_random),
		cmocka_unit_test(test_carry),
		cmocka_unit_test(test_carry_thinned),
		cmocka_unit_test(test_history_thinned),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_ms_times),
		cmocka_unit_test(test_clock_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
