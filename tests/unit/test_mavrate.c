/*
 * test_mavrate.c - MAVLink rate limits and the narrow-link summary
 * (relay/track/mavrate.c): the default table and the config over it; a
 * source at 10 Hz thinned to the limit, one at the limit with jitter passed
 * whole, sources apart; and the summaries of the real CanberraUAV flight,
 * every summary interval, each packed within 48 B and rebuilt into a
 * HIGH_LATENCY2 frame that says where the drone last was.
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

#include "mavlink.h"
#include "mavrate.h"
#include "testdata.h"
#include "tlog.h"
#include "track.h"

static void
test_defaults_and_config(void **state)
{
	struct track_conf c;
	struct mavrate *r;

	(void)state;
	track_conf_defaults(&c);
	r = mavrate_new(&c);
	assert_non_null(r);
	assert_true(mavrate_hz(r, LINK_MESH, MAV_MSG_HEARTBEAT) == 1);
	assert_true(mavrate_hz(r, LINK_MESH, MAV_MSG_GLOBAL_POSITION_INT) == 1);
	assert_true(mavrate_hz(r, LINK_MESH, MAV_MSG_ATTITUDE) == 1);
	assert_true(mavrate_hz(r, LINK_MESH, MAV_MSG_BATTERY_STATUS) == 1);
	assert_true(mavrate_hz(r, LINK_MESH, MAV_MSG_SYS_STATUS) == 1);
	assert_true(mavrate_hz(r, LINK_MESH, 22) == 0);		/* PARAM_VALUE */
	assert_true(mavrate_hz(r, LINK_IP, MAV_MSG_GLOBAL_POSITION_INT) == 0.2);
	for (int cls = LINK_SATELLITE; cls <= LINK_NARROWBAND; cls++) {
		assert_true(mavrate_summary_class((enum link_class)cls));
		for (uint32_t id = 0; id < 300; id++)
			assert_true(mavrate_hz(r, (enum link_class)cls, id) == 0);
	}
	assert_false(mavrate_summary_class(LINK_MESH));
	mavrate_free(r);

	c.rate[c.n_rate++] = (struct track_rate){ LINK_MESH, MAV_MSG_ATTITUDE, 5 };
	c.rate[c.n_rate++] = (struct track_rate){ LINK_MESH, 22, 2 };
	c.rate[c.n_rate++] = (struct track_rate){ LINK_MESH, MAV_MSG_HEARTBEAT, 0 };
	c.rate[c.n_rate++] = (struct track_rate){ LINK_SATELLITE, MAV_MSG_STATUSTEXT, 0.01 };
	r = mavrate_new(&c);
	assert_non_null(r);
	assert_true(mavrate_hz(r, LINK_MESH, MAV_MSG_ATTITUDE) == 5);
	assert_true(mavrate_hz(r, LINK_MESH, 22) == 2);
	assert_true(mavrate_hz(r, LINK_MESH, MAV_MSG_HEARTBEAT) == 0);
	assert_true(mavrate_hz(r, LINK_SATELLITE, MAV_MSG_STATUSTEXT) == 0.01);
	assert_true(mavrate_hz(r, LINK_IP, MAV_MSG_ATTITUDE) == 0);
	assert_false(mavrate_pass(r, LINK_MESH, 1, 1, MAV_MSG_HEARTBEAT, 0));
	mavrate_free(r);

	c.rate[0].cls = (enum link_class)9;
	errno = 0;
	assert_null(mavrate_new(&c));
	assert_int_equal(errno, EINVAL);
	mavrate_free(NULL);
}

/* A small deterministic generator for jitter. */
static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

static void
test_pass_thins_and_keeps(void **state)
{
	struct mavrate *r = mavrate_new(NULL);
	int passed = 0, passed2 = 0, passed_jitter = 0;
	int64_t last = -1000000, min_gap = INT64_MAX;
	uint32_t seed = 7;

	(void)state;
	assert_non_null(r);
	/* 10 Hz for 60 s, at 1 Hz: 60 (or 61), never two within half a second. */
	for (int64_t t = 0; t < 60000; t += 100) {
		if (mavrate_pass(r, LINK_MESH, 1, 1, MAV_MSG_GLOBAL_POSITION_INT, t)) {
			passed++;
			if (t - last < min_gap)
				min_gap = t - last;
			last = t;
		}
		/* Another drone's and another message's own budgets. */
		if (mavrate_pass(r, LINK_MESH, 2, 1, MAV_MSG_GLOBAL_POSITION_INT, t))
			passed2++;
		assert_false(mavrate_pass(r, LINK_SATELLITE, 1, 1, MAV_MSG_GLOBAL_POSITION_INT, t));
		assert_false(mavrate_pass(r, LINK_MESH, 1, 1, 27, t));	/* RAW_IMU: 0 Hz on mesh */
	}
	printf("  10 Hz for 60 s at 1 Hz: %d passed, closest %lld ms apart\n", passed, (long long)min_gap);
	assert_true(passed >= 60 && passed <= 61);
	assert_int_equal(passed2, passed);
	assert_true(min_gap > 500);
	/* Exactly 1 Hz with +-200 ms of jitter (gaps >= 600 ms, over half the interval): every one. */
	for (int i = 0; i < 100; i++) {
		int64_t t = 100000 + i * 1000 + (int64_t)(lcg(&seed) % 401) - 200;

		if (mavrate_pass(r, LINK_MESH, 3, 1, MAV_MSG_ATTITUDE, t))
			passed_jitter++;
	}
	assert_int_equal(passed_jitter, 100);
	/* Random bursts: never more than the interval allows, over any run. */
	int n = 0;
	int64_t t = 300000, first = -1;
	last = -1000000;
	for (int i = 0; i < 5000; i++) {
		t += lcg(&seed) % 400;
		if (mavrate_pass(r, LINK_IP, 9, 1, MAV_MSG_HEARTBEAT, t)) {	/* 0.2 Hz */
			assert_true(t - last > 2500);
			if (first < 0)
				first = t;
			last = t;
			n++;
		}
	}
	printf("  random arrivals over %.0f s at 0.2 Hz: %d passed\n", (double)(last - first) / 1000, n);
	/* Each pass moves the grid an interval on; one may come half an interval early. */
	assert_true(n <= (last - first + 2500) / 5000 + 1);
	assert_true(n >= (last - first) / 5000 / 2);
	mavrate_free(r);
}

/* Many sources: the table's slots are reused, oldest first, without harm. */
static void
test_many_sources(void **state)
{
	struct mavrate *r = mavrate_new(NULL);

	(void)state;
	assert_non_null(r);
	for (int round = 0; round < 3; round++)
		for (int s = 0; s < 255; s++)
			for (int k = 0; k < 2; k++)
				mavrate_pass(r, LINK_MESH, (uint8_t)s, (uint8_t)k, MAV_MSG_HEARTBEAT, round * 2000 + s);
	/* A fresh source always gets its first message through. */
	assert_true(mavrate_pass(r, LINK_MESH, 250, 99, MAV_MSG_HEARTBEAT, 7000));
	assert_false(mavrate_pass(r, LINK_MESH, 250, 99, MAV_MSG_HEARTBEAT, 7001));
	mavrate_free(r);
}

/* The whole flight through the summary at 60 s. */
static void
test_summary_of_flight(void **state)
{
	char path[4096];
	struct tlog *t;
	struct mav_frame *f = malloc(sizeof(*f));
	struct mavsum *s = mavsum_new(60000);
	struct mav_global_position_int last_pos = { 0 };
	struct mav_vfr_hud last_hud = { 0 };
	int8_t last_batt = -1;
	uint64_t ts, t0 = 0;
	int n = 0, r;

	(void)state;
	assert_non_null(f);
	assert_non_null(s);
	assert_true(mavsum_next_due(s) == INT64_MAX);
	test_data_path("", "cuav_quadplane_2016-11-12.tlog", path, sizeof(path));
	t = tlog_open(path);
	assert_non_null(t);
	while ((r = tlog_next(t, &ts, f)) == 1) {
		int64_t now;
		struct mav_high_latency2 hl, back;
		uint8_t sysid, compid, packed[64], frame[MAV_FRAME_MAX];
		ssize_t plen, flen;
		size_t used;
		struct mav_frame *g;

		if (!t0)
			t0 = ts;
		now = (int64_t)((ts - t0) / 1000);
		mavsum_update(s, f, now);
		if (f->msgid == MAV_MSG_GLOBAL_POSITION_INT && f->checked)
			mav_decode_global_position_int(f, &last_pos);
		if (f->msgid == MAV_MSG_VFR_HUD)
			mav_decode_vfr_hud(f, &last_hud);
		if (f->msgid == MAV_MSG_SYS_STATUS) {
			struct mav_sys_status ss;

			mav_decode_sys_status(f, &ss);
			last_batt = ss.battery_remaining;
		}
		if (mavsum_next_due(s) > now)
			continue;
		assert_int_equal(mavsum_emit(s, now, &hl, &sysid, &compid), 1);
		assert_int_equal(mavsum_emit(s, now, &hl, &sysid, &compid), 0);
		assert_true(mavsum_next_due(s) >= now + 60000);
		plen = mavsum_pack(&hl, sysid, compid, packed, sizeof(packed));
		assert_true(plen > 2 && plen <= 48);
		flen = mavsum_unpack(packed, (size_t)plen, (uint8_t)n, frame, sizeof(frame));
		assert_true(flen > 0);
		g = malloc(sizeof(*g));
		assert_non_null(g);
		assert_int_equal(mav_frame_parse(frame, (size_t)flen, g, &used, NULL), 0);
		assert_true(g->checked);
		assert_int_equal(g->sysid, sysid);
		assert_int_equal(mav_decode_high_latency2(g, &back), 0);
		free(g);
		printf("  summary %d at %5.1f s: sysid %u lat %.7f lon %.7f alt %d m gs %.1f m/s batt %d%%: "
		    "%zd B packed, %zd B as a v2 frame\n", n, now / 1000.0, sysid, back.latitude / 1e7,
		    back.longitude / 1e7, back.altitude, back.groundspeed / 5.0, back.battery, plen, flen);
		/* What the drone said last. */
		assert_int_equal(back.latitude, last_pos.lat);
		assert_int_equal(back.longitude, last_pos.lon);
		assert_int_equal(back.altitude, (int)lround(last_pos.alt / 1000.0));
		assert_int_equal(back.timestamp, last_pos.time_boot_ms);
		assert_int_equal(back.groundspeed, (int)lround(last_hud.groundspeed * 5));
		assert_int_equal(back.battery, last_batt);
		assert_int_equal(back.type, hl.type);
		n++;
	}
	assert_int_equal(r, 0);
	/* 132 s of flight, positions from its start: at 0, 60 and 120 s. */
	assert_int_equal(n, 3);
	tlog_free(t);
	mavsum_free(s);
	free(f);
}

static void
test_pack_limits(void **state)
{
	struct mav_high_latency2 hl;
	uint8_t buf[64], frame[MAV_FRAME_MAX];

	(void)state;
	/* Every byte non-zero: the largest, 44 B, still under 48. */
	memset(&hl, 0x11, sizeof(hl));
	assert_int_equal(mavsum_pack(&hl, 1, 1, buf, sizeof(buf)), MAVSUM_PACKED_MAX);
	assert_true(MAVSUM_PACKED_MAX <= 48);
	assert_int_equal(mavsum_unpack(buf, MAVSUM_PACKED_MAX, 0, frame, sizeof(frame)),
	    MAV_V2_HDR + MAV_LEN_HIGH_LATENCY2 + MAV_CRC_LEN);
	assert_int_equal(mavsum_pack(&hl, 1, 1, buf, 20), -ENOSPC);
	assert_int_equal(mavsum_unpack(buf, 2, 0, frame, sizeof(frame)), -EINVAL);
	assert_int_equal(mavsum_unpack(buf, MAVSUM_PACKED_MAX + 1, 0, frame, sizeof(frame)), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_config),
		cmocka_unit_test(test_pass_thins_and_keeps),
		cmocka_unit_test(test_many_sources),
		cmocka_unit_test(test_summary_of_flight),
		cmocka_unit_test(test_pack_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
