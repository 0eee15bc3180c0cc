/*
 * test_tlog.c - reading tlogs (relay/track/tlog.c) on a real flight: the
 * CanberraUAV quadplane log of 2016-11-12 (tests/data/SOURCES.md) parses
 * whole, with the counts node-mavlink 2.3.0 finds in it (an independent
 * MAVLink implementation: tests/integration/test_mavlink_interop.py checks
 * the same live), no bad CRC, and a drone track near Canberra; a copy with a
 * broken record and garbage loses that record only; a cut tail ends cleanly.
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
#include <unistd.h>

#include <cmocka.h>

#include "mavlink.h"
#include "testdata.h"
#include "tlog.h"

#define TLOG_NAME	"cuav_quadplane_2016-11-12.tlog"
/*
 * What node-mavlink 2.3.0 (MavLinkTLogPacketSplitter over the whole file,
 * CRC_EXTRA of every msgid of minimal/common/ardupilotmega) accepts in the
 * file, measured with tests/integration/helpers/mavcheck.js: 32078 valid,
 * 0 invalid, 0 unknown; 1098 of them GLOBAL_POSITION_INT.
 */
#define NODE_VALID	32078
#define NODE_GPI	1098

struct summary {
	uint64_t records, gpi, fixes, first_ts, last_ts;
	uint64_t by_id[256];
	double lat_min, lat_max, lon_min, lon_max;
	struct tlog_stats stats;
};

static void
read_all(const char *path, struct summary *s)
{
	struct tlog *t = tlog_open(path);
	struct mav_frame *f = malloc(sizeof(*f));
	uint64_t ts;
	int r;

	assert_non_null(t);
	assert_non_null(f);
	memset(s, 0, sizeof(*s));
	s->lat_min = s->lon_min = 1e9;
	s->lat_max = s->lon_max = -1e9;
	while ((r = tlog_next(t, &ts, f)) == 1) {
		struct mav_global_position_int g;
		struct fix fx;

		if (!s->first_ts)
			s->first_ts = ts;
		assert_true(ts >= s->last_ts || s->last_ts - ts < 1000000);
		s->last_ts = ts;
		s->records++;
		if (f->msgid < 256)
			s->by_id[f->msgid]++;
		if (f->msgid != MAV_MSG_GLOBAL_POSITION_INT)
			continue;
		s->gpi++;
		assert_int_equal(mav_decode_global_position_int(f, &g), 0);
		if (mav_position_fix(&g, (int64_t)(ts / 1000), &fx) < 0)
			continue;
		s->fixes++;
		assert_int_equal(fx.time_ms, (int64_t)(ts / 1000));
		s->lat_min = fmin(s->lat_min, fx.lat);
		s->lat_max = fmax(s->lat_max, fx.lat);
		s->lon_min = fmin(s->lon_min, fx.lon);
		s->lon_max = fmax(s->lon_max, fx.lon);
	}
	assert_int_equal(r, 0);
	s->stats = *tlog_stats(t);
	free(f);
	tlog_free(t);
}

static void
test_whole_flight(void **state)
{
	char path[4096];
	struct summary *s = malloc(sizeof(*s));

	(void)state;
	assert_non_null(s);
	test_data_path("", TLOG_NAME, path, sizeof(path));
	read_all(path, s);
	printf("  %s: %llu records (%llu checked, %llu unknown msgid, v1 %llu, v2 %llu), bad CRC %llu, "
	    "skipped %llu B\n", TLOG_NAME, (unsigned long long)s->records, (unsigned long long)s->stats.mav.good,
	    (unsigned long long)s->stats.mav.unknown, (unsigned long long)s->stats.mav.v1,
	    (unsigned long long)s->stats.mav.v2, (unsigned long long)s->stats.mav.bad_crc,
	    (unsigned long long)s->stats.skipped);
	printf("  GLOBAL_POSITION_INT %llu, positions %llu, lat %.6f..%.6f lon %.6f..%.6f, %.1f s\n",
	    (unsigned long long)s->gpi, (unsigned long long)s->fixes, s->lat_min, s->lat_max, s->lon_min,
	    s->lon_max, (double)(s->last_ts - s->first_ts) / 1e6);
	assert_int_equal(s->records, NODE_VALID);
	assert_int_equal(s->stats.records, s->records);
	assert_int_equal(s->stats.mav.good + s->stats.mav.unknown, s->records);
	assert_int_equal(s->stats.mav.bad_crc, 0);
	assert_int_equal(s->stats.skipped, 0);
	assert_int_equal(s->gpi, NODE_GPI);
	/* The frames of every message we know are all checked. */
	assert_int_equal(s->by_id[MAV_MSG_HEARTBEAT] + s->by_id[MAV_MSG_SYS_STATUS] + s->by_id[MAV_MSG_GPS_RAW_INT] +
	    s->by_id[MAV_MSG_ATTITUDE] + s->by_id[MAV_MSG_GLOBAL_POSITION_INT] + s->by_id[MAV_MSG_VFR_HUD] +
	    s->by_id[MAV_MSG_BATTERY_STATUS] + s->by_id[MAV_MSG_HIGH_LATENCY2] + s->by_id[MAV_MSG_STATUSTEXT],
	    s->stats.mav.good);
	/* Near CMAC, Canberra (SOURCES.md), within a few km; 2016-11-12 23:45-23:48 UTC. */
	assert_true(s->fixes > 0);
	assert_true(s->lat_min > -35.40 && s->lat_max < -35.33);
	assert_true(s->lon_min > 149.12 && s->lon_max < 149.20);
	assert_true(s->first_ts / 1000000 >= 1478994300 && s->last_ts / 1000000 <= 1478994500);
	free(s);
}

/*
 * A copy with one record's payload broken and garbage after another: one
 * bad CRC, one record lost, everything else read; then the file cut inside
 * a record ends it without error.
 */
static void
test_broken_copy(void **state)
{
	char path[4096], tmp[] = "/tmp/test_tlog_XXXXXX";
	size_t len, off = 0, rec[4];
	uint8_t *data, *out;
	struct summary *s = malloc(sizeof(*s)), *whole = malloc(sizeof(*whole));
	FILE *fp;
	int fd;

	(void)state;
	assert_non_null(s);
	assert_non_null(whole);
	test_data_path("", TLOG_NAME, path, sizeof(path));
	read_all(path, whole);
	data = test_data_read("", TLOG_NAME, 64 * 1024 * 1024, &len);
	/* The offsets of records 0..3 from their length bytes. */
	for (int i = 0; i < 4; i++) {
		rec[i] = off;
		off += TLOG_TS_LEN + (data[off + 8] == MAV_STX_V2 ? MAV_V2_HDR : MAV_V1_HDR) + data[off + 9] +
		    MAV_CRC_LEN;
	}
	/* Find a record of a message we check, past the first four. */
	size_t bad = off;
	while (mav_crc_extra(data[bad + 8] == MAV_STX_V2 ? data[bad + 8 + 7] : data[bad + 8 + 5]) < 0)
		bad += TLOG_TS_LEN + (data[bad + 8] == MAV_STX_V2 ? MAV_V2_HDR : MAV_V1_HDR) + data[bad + 9] +
		    MAV_CRC_LEN;
	out = malloc(len + 16);
	assert_non_null(out);
	memcpy(out, data, rec[2]);
	/* Garbage with a magic byte between records 1 and 2. */
	static const uint8_t junk[] = { 0xfe, 0x05, 0x00, 0xfd, 0x77, 0x13, 0x00 };
	memcpy(out + rec[2], junk, sizeof(junk));
	memcpy(out + rec[2] + sizeof(junk), data + rec[2], len - rec[2]);
	out[bad + sizeof(junk) + 8 + 3] ^= 0x5a;	/* sysid (v1) or compat (v2): under the CRC */
	fd = mkstemp(tmp);
	assert_true(fd >= 0);
	fp = fdopen(fd, "wb");
	assert_non_null(fp);
	/* Cut the last record in half. */
	assert_int_equal(fwrite(out, 1, len + sizeof(junk) - 10, fp), len + sizeof(junk) - 10);
	fclose(fp);
	read_all(tmp, s);
	unlink(tmp);
	printf("  broken copy: %llu records, bad CRC %llu, skipped %llu B\n", (unsigned long long)s->records,
	    (unsigned long long)s->stats.mav.bad_crc, (unsigned long long)s->stats.skipped);
	assert_int_equal(s->stats.mav.bad_crc, 1);
	assert_int_equal(s->records, whole->records - 2);	/* the broken one and the cut one */
	assert_true(s->stats.skipped >= sizeof(junk));
	free(out);
	free(data);
	free(s);
	free(whole);
}

static void
test_open_missing(void **state)
{
	(void)state;
	errno = 0;
	assert_null(tlog_open("/nonexistent/x.tlog"));
	assert_int_equal(errno, ENOENT);
	tlog_free(NULL);
}

static void
test_rewind(void **state)
{
	char path[4096];
	struct tlog *t;
	struct mav_frame *f = malloc(sizeof(*f));
	uint64_t ts, first;
	uint8_t seq;

	(void)state;
	test_data_path("", TLOG_NAME, path, sizeof(path));
	t = tlog_open(path);
	assert_non_null(t);
	assert_int_equal(tlog_next(t, &first, f), 1);
	seq = f->seq;
	for (int i = 0; i < 100; i++)
		assert_int_equal(tlog_next(t, &ts, f), 1);
	assert_int_equal(tlog_rewind(t), 0);
	assert_int_equal(tlog_next(t, &ts, f), 1);
	assert_true(ts == first && f->seq == seq);
	tlog_free(t);
	free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_flight),
		cmocka_unit_test(test_broken_copy),
		cmocka_unit_test(test_open_missing),
		cmocka_unit_test(test_rewind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
