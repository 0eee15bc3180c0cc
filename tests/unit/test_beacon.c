/*
 * test_beacon.c - when to send (relay/track/beacon.c): the receivers'
 * dead-reckoned track (from speed and course, or the line through the last
 * two fixes), sending by error with its minimum and maximum
 * intervals, and the references, SmartBeaconing by Direwolf's rules and a
 * fixed interval.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "beacon.h"
#include "geo.h"

#define T0	1764770000000LL		/* Unix ms */
#define LAT0	43.5
#define LON0	16.4
#define MPH	0.44704

static struct fix
at(int64_t t, double lat, double lon, double speed, double course)
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

/* A unit that left (LAT0, LON0) at T0 on bearing course at speed: its fix at t. */
static struct fix
moving(int64_t t, double speed, double course)
{
	double lat, lon, lat2, lon2;

	/* Along the great circle: its local bearing is the fix's course. */
	geo_destination(LAT0, LON0, course, speed * (double)(t - T0) / 1000.0, &lat, &lon);
	geo_destination(LAT0, LON0, course, speed * (double)(t - T0) / 1000.0 + 1, &lat2, &lon2);
	return at(t, lat, lon, speed, geo_bearing(lat, lon, lat2, lon2));
}

static void
test_predict(void **state)
{
	struct beacon b;
	struct fix f;
	double lat, lon;

	(void)state;
	beacon_init(&b);
	assert_false(beacon_predict(&b, T0, &lat, &lon));
	/* 10 m/s east for 10 s: 100 m east. */
	f = at(T0, LAT0, LON0, 10, 90);
	beacon_sent(&b, &f);
	assert_true(beacon_predict(&b, T0 + 10000, &lat, &lon));
	assert_true(fabs(geo_distance(LAT0, LON0, lat, lon) - 100) < 1e-6);
	assert_true(fabs(geo_bearing(LAT0, LON0, lat, lon) - 90) < 0.01);
	/* Not before its time. */
	beacon_predict(&b, T0 - 5000, &lat, &lon);
	assert_true(lat == LAT0 && lon == LON0);
	/* Too slow, or no course, or no speed: where it was. */
	f = at(T0, LAT0, LON0, 0.4, 90);
	beacon_sent(&b, &f);
	beacon_predict(&b, T0 + 100000, &lat, &lon);
	assert_true(lat == LAT0 && lon == LON0);
	f = at(T0, LAT0, LON0, 5, NAN);
	beacon_sent(&b, &f);
	beacon_predict(&b, T0 + 100000, &lat, &lon);
	assert_true(lat == LAT0 && lon == LON0);
	f = at(T0, LAT0, LON0, NAN, 45);
	beacon_sent(&b, &f);
	beacon_predict(&b, T0 + 100000, &lat, &lon);
	assert_true(lat == LAT0 && lon == LON0);
}

/* No speed or course on the air: the receivers carry on along the last two fixes. */
static void
test_predict_linear(void **state)
{
	struct beacon b;
	struct fix f, g;
	double lat, lon, lat1, lon1;

	(void)state;
	beacon_init(&b);
	f = at(T0, LAT0, LON0, NAN, NAN);
	beacon_sent(&b, &f);
	/* One fix alone: standing. */
	beacon_predict(&b, T0 + 60000, &lat, &lon);
	assert_true(lat == LAT0 && lon == LON0);
	/* 42 m north-east in 30 s: 30 s later another 42 m on. */
	geo_destination(LAT0, LON0, 45, 42, &lat1, &lon1);
	g = at(T0 + 30000, lat1, lon1, NAN, NAN);
	beacon_sent(&b, &g);
	assert_true(b.have_prev && b.prev.time_ms == T0);
	beacon_predict(&b, T0 + 60000, &lat, &lon);
	assert_true(fabs(geo_distance(lat1, lon1, lat, lon) - 42) < 0.01);
	assert_true(fabs(geo_bearing(lat1, lon1, lat, lon) - 45) < 0.05);
	/* The receivers move it on for BEACON_PREDICT_MAX_MS, then hold it there. */
	{
		double la2, lo2;

		beacon_predict(&b, T0 + 30000 + BEACON_PREDICT_MAX_MS, &lat, &lon);
		beacon_predict(&b, T0 + 30000 + 3 * BEACON_PREDICT_MAX_MS, &la2, &lo2);
		assert_true(lat == la2 && lon == lo2);
		assert_true(fabs(geo_distance(lat1, lon1, lat, lon) - 1.4 * BEACON_PREDICT_MAX_MS / 1000) < 1);
	}
	/* Speed and course on the newest win over the line. */
	g.speed = 2;
	g.course = 180;
	beacon_sent(&b, &g);
	beacon_predict(&b, T0 + 40000, &lat, &lon);
	assert_true(fabs(geo_distance(lat1, lon1, lat, lon) - 20) < 0.01);
	assert_true(fabs(geo_bearing(lat1, lon1, lat, lon) - 180) < 0.05);
	/* Slower than 0.5 m/s between them (10 m in 30 s): standing. */
	beacon_init(&b);
	beacon_sent(&b, &f);
	geo_destination(LAT0, LON0, 45, 10, &lat1, &lon1);
	g = at(T0 + 30000, lat1, lon1, NAN, NAN);
	beacon_sent(&b, &g);
	beacon_predict(&b, T0 + 90000, &lat, &lon);
	assert_true(lat == lat1 && lon == lon1);
	/* Ten minutes or more apart: no speed to speak of. */
	beacon_init(&b);
	beacon_sent(&b, &f);
	geo_destination(LAT0, LON0, 45, 5000, &lat1, &lon1);
	g = at(T0 + BEACON_LINEAR_MAX_MS, lat1, lon1, NAN, NAN);
	beacon_sent(&b, &g);
	beacon_predict(&b, T0 + BEACON_LINEAR_MAX_MS + 60000, &lat, &lon);
	assert_true(lat == lat1 && lon == lon1);
	g.time_ms = T0 + BEACON_LINEAR_MAX_MS - 1000;
	b.last = g;
	beacon_predict(&b, T0 + BEACON_LINEAR_MAX_MS + 60000, &lat, &lon);
	assert_true(geo_distance(lat1, lon1, lat, lon) > 100);
	/* The same fix twice (a heartbeat): standing. */
	beacon_init(&b);
	beacon_sent(&b, &g);
	beacon_sent(&b, &g);
	beacon_predict(&b, g.time_ms + 60000, &lat, &lon);
	assert_true(lat == lat1 && lon == lon1);
}

/* Without speed and course a straight line costs one send more: the second gives the speed. */
static void
test_due_straight_linear(void **state)
{
	struct beacon b;
	struct fix f;
	int sends = 0;

	(void)state;
	beacon_init(&b);
	for (int64_t t = T0; t <= T0 + 3600 * 1000; t += 1000) {
		f = moving(t, 13.9, 60);
		f.speed = f.course = NAN;
		if (beacon_due(&b, &f, t, 25, 1000, 1800000)) {
			beacon_sent(&b, &f);
			sends++;
		}
	}
	/*
	 * 0 s, 2 s (28 m from the first, held); then the receivers move it on
	 * for 10 min at most, so 602 s after each send it is 28 m ahead of them.
	 */
	assert_int_equal(sends, 7);	/* 0, 2, 604, 1206, 1808, 2410, 3012 s */
}

static void
test_due_straight(void **state)
{
	struct beacon b;
	struct fix f;
	int sends = 0;

	(void)state;
	beacon_init(&b);
	/*
	 * A straight line at constant speed is what the receivers predict, for
	 * BEACON_PREDICT_MAX_MS: then they hold it, and 1.8 s later it is 25 m
	 * on.  A send every 602 s, before the heartbeat.
	 */
	for (int64_t t = T0; t <= T0 + 3600 * 1000; t += 1000) {
		f = moving(t, 13.9, 60);
		if (beacon_due(&b, &f, t, 25, 30000, 1800000)) {
			assert_true(sends == 0 || t - b.last_ms == BEACON_PREDICT_MAX_MS + 2000);
			beacon_sent(&b, &f);
			sends++;
		}
	}
	assert_int_equal(sends, 6);	/* 0, 602, 1204, 1806, 2408, 3010 s */
	/* With the heartbeat shorter than that limit, only heartbeats. */
	beacon_init(&b);
	sends = 0;
	for (int64_t t = T0; t <= T0 + 3600 * 1000; t += 1000) {
		f = moving(t, 13.9, 60);
		if (beacon_due(&b, &f, t, 25, 5000, 300000)) {
			assert_true(sends == 0 || t - b.last_ms == 300000);
			beacon_sent(&b, &f);
			sends++;
		}
	}
	assert_int_equal(sends, 13);
}

static void
test_due_turn(void **state)
{
	struct beacon b;
	struct fix f;
	double lat, lon;
	int64_t t;

	(void)state;
	beacon_init(&b);
	f = moving(T0, 10, 0);
	assert_true(beacon_due(&b, &f, T0, 25, 5000, 300000));
	beacon_sent(&b, &f);
	/* It stops dead at T0: the prediction runs on north at 10 m/s. */
	for (t = T0 + 1000; t <= T0 + 2000; t += 1000) {
		f = at(t, LAT0, LON0, 0, NAN);
		assert_false(beacon_due(&b, &f, t, 25, 5000, 300000));	/* 10, 20 m */
	}
	/* 30 m at 3 s, but the minimum interval holds it back until 5 s. */
	for (; t < T0 + 5000; t += 1000) {
		f = at(t, LAT0, LON0, 0, NAN);
		assert_false(beacon_due(&b, &f, t, 25, 5000, 300000));
	}
	f = at(t, LAT0, LON0, 0, NAN);
	assert_true(beacon_due(&b, &f, t, 25, 5000, 300000));
	/* With a larger error allowed it is not due at 5 s (50 m), at 6 s (60 m) it is. */
	assert_false(beacon_due(&b, &f, t, 55, 5000, 300000));
	f = at(t + 1000, LAT0, LON0, 0, NAN);
	assert_true(beacon_due(&b, &f, t + 1000, 55, 5000, 300000));
	beacon_sent(&b, &f);
	/* Standing still now: the prediction stays; within the error, only the heartbeat. */
	beacon_predict(&b, t + 500000, &lat, &lon);
	assert_true(lat == LAT0 && lon == LON0);
	f = at(t + 200000, LAT0 + 10 / 111195.0, LON0, 0.1, NAN);	/* 10 m of jitter */
	assert_false(beacon_due(&b, &f, t + 200000, 25, 5000, 300000));
	f.time_ms = t + 301000;
	assert_true(beacon_due(&b, &f, t + 301000, 25, 5000, 300000));
	/* A clock that jumps back before the last send does not silence the unit. */
	f.time_ms = t - 3600000;
	assert_true(beacon_due(&b, &f, f.time_ms, 25, 5000, 300000));
}

static void
test_fixed(void **state)
{
	struct beacon b;
	struct fix f = at(T0, LAT0, LON0, NAN, NAN);

	(void)state;
	beacon_init(&b);
	assert_true(beacon_fixed_due(&b, T0, 30000));
	beacon_sent(&b, &f);
	assert_false(beacon_fixed_due(&b, T0 + 29999, 30000));
	assert_true(beacon_fixed_due(&b, T0 + 30000, 30000));
}

static void
test_smart_rate(void **state)
{
	struct beacon_smart s;

	(void)state;
	beacon_smart_init(&s);
	/* Direwolf: fast_rate * fast_speed / speed between the speeds, rounded to seconds. */
	assert_int_equal(beacon_smart_rate(&s, 70 * MPH), 180000);
	assert_int_equal(beacon_smart_rate(&s, 60 * MPH), 180000);
	assert_int_equal(beacon_smart_rate(&s, 30 * MPH), 360000);
	assert_int_equal(beacon_smart_rate(&s, 7 * MPH), 1543000);	/* 180 * 60 / 7 = 1542.9 */
	assert_int_equal(beacon_smart_rate(&s, 4 * MPH), 1800000);
	assert_int_equal(beacon_smart_rate(&s, 0), 1800000);
	assert_int_equal(beacon_smart_rate(&s, NAN), 990000);
}

static void
test_smart_due(void **state)
{
	struct beacon_smart s;
	struct fix f = at(T0, LAT0, LON0, 30 * MPH, 100);

	(void)state;
	beacon_smart_init(&s);
	assert_true(beacon_smart_due(&s, &f, T0));
	beacon_smart_sent(&s, &f, T0);
	/* Straight on at 30 mph: every 360 s. */
	f.time_ms = T0 + 359000;
	assert_false(beacon_smart_due(&s, &f, f.time_ms));
	f.time_ms = T0 + 360000;
	assert_true(beacon_smart_due(&s, &f, f.time_ms));
	/* At 30 mph a corner needs more than 30 + 255 / 30 = 38.5 degrees, and 15 s since the last. */
	f.course = 100 + 38;
	f.time_ms = T0 + 20000;
	assert_false(beacon_smart_due(&s, &f, f.time_ms));
	f.course = 100 + 39;
	assert_true(beacon_smart_due(&s, &f, f.time_ms));
	f.time_ms = T0 + 14000;
	assert_false(beacon_smart_due(&s, &f, f.time_ms));
	/* Across north: 80 -> 350 is 90 degrees. */
	f = at(T0, LAT0, LON0, 30 * MPH, 80);
	beacon_smart_sent(&s, &f, T0);
	f.course = 350;
	f.time_ms = T0 + 16000;
	assert_true(beacon_smart_due(&s, &f, f.time_ms));
	/* Below 1 mph no corner pegging, whatever the course does. */
	f.speed = 0.9 * MPH;
	assert_false(beacon_smart_due(&s, &f, f.time_ms));
	/* Walking (3 mph): 30 + 85 = 115 degrees. */
	f.speed = 3 * MPH;
	f.course = 80 + 110;
	assert_false(beacon_smart_due(&s, &f, f.time_ms));
	f.course = 80 + 120;
	assert_true(beacon_smart_due(&s, &f, f.time_ms));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_predict),
		cmocka_unit_test(test_predict_linear),
		cmocka_unit_test(test_due_straight),
		cmocka_unit_test(test_due_straight_linear),
		cmocka_unit_test(test_due_turn),
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_smart_rate),
		cmocka_unit_test(test_smart_due),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
