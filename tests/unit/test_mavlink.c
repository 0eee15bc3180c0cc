/*
 * test_mavlink.c - MAVLink frames (relay/track/mavlink.c): the CRC against
 * the CRC-16/MCRF4XX check value, every CRC_EXTRA we carry recomputed from
 * the message's definition as the MAVLink generator does it, frames built
 * and parsed back (v1, v2 with trailing-zero truncation, signed), bad CRCs
 * and unknown messages counted, and the stream parser resynchronising over
 * garbage, split bytes and broken frames.
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

static void
test_crc_check_value(void **state)
{
	(void)state;
	/* CRC-16/MCRF4XX's check value (the CRC catalogue). */
	assert_int_equal(mav_crc_accumulate(0xffff, (const uint8_t *)"123456789", 9), 0x6f91);
}

/*
 * CRC_EXTRA as the generator computes it (pymavlink mavparse.py
 * message_checksum): the CRC of "NAME " then, for each base field in wire
 * order (extensions left out), "type name " and, for an array, its length
 * as one byte; folded to 8 bits.  The field lists are common.xml's, sorted
 * by size as on the wire.
 */
static uint8_t
crc_extra_of(const char *name, const char *const *fields)
{
	uint16_t crc = 0xffff;
	char word[64];

	snprintf(word, sizeof(word), "%s ", name);
	crc = mav_crc_accumulate(crc, (const uint8_t *)word, strlen(word));
	for (; *fields; fields++) {
		char type[32], fname[48];
		unsigned n = 0;

		assert_true(sscanf(*fields, "%31s %47s %u", type, fname, &n) >= 2);
		snprintf(word, sizeof(word), "%s ", type);
		crc = mav_crc_accumulate(crc, (const uint8_t *)word, strlen(word));
		snprintf(word, sizeof(word), "%s ", fname);
		crc = mav_crc_accumulate(crc, (const uint8_t *)word, strlen(word));
		if (n) {
			uint8_t len = (uint8_t)n;

			crc = mav_crc_accumulate(crc, &len, 1);
		}
	}
	return (uint8_t)((crc & 0xff) ^ (crc >> 8));
}

static void
test_crc_extra_from_definitions(void **state)
{
	static const char *const heartbeat[] = { "uint32_t custom_mode", "uint8_t type", "uint8_t autopilot",
		"uint8_t base_mode", "uint8_t system_status", "uint8_t mavlink_version", NULL };
	static const char *const sys_status[] = { "uint32_t onboard_control_sensors_present",
		"uint32_t onboard_control_sensors_enabled", "uint32_t onboard_control_sensors_health",
		"uint16_t load", "uint16_t voltage_battery", "int16_t current_battery", "uint16_t drop_rate_comm",
		"uint16_t errors_comm", "uint16_t errors_count1", "uint16_t errors_count2",
		"uint16_t errors_count3", "uint16_t errors_count4", "int8_t battery_remaining", NULL };
	static const char *const gps_raw_int[] = { "uint64_t time_usec", "int32_t lat", "int32_t lon",
		"int32_t alt", "uint16_t eph", "uint16_t epv", "uint16_t vel", "uint16_t cog", "uint8_t fix_type",
		"uint8_t satellites_visible", NULL };
	static const char *const attitude[] = { "uint32_t time_boot_ms", "float roll", "float pitch",
		"float yaw", "float rollspeed", "float pitchspeed", "float yawspeed", NULL };
	static const char *const gpi[] = { "uint32_t time_boot_ms", "int32_t lat", "int32_t lon", "int32_t alt",
		"int32_t relative_alt", "int16_t vx", "int16_t vy", "int16_t vz", "uint16_t hdg", NULL };
	static const char *const vfr_hud[] = { "float airspeed", "float groundspeed", "float alt", "float climb",
		"int16_t heading", "uint16_t throttle", NULL };
	static const char *const battery[] = { "int32_t current_consumed", "int32_t energy_consumed",
		"int16_t temperature", "uint16_t voltages 10", "int16_t current_battery", "uint8_t id",
		"uint8_t battery_function", "uint8_t type", "int8_t battery_remaining", NULL };
	static const char *const hl2[] = { "uint32_t timestamp", "int32_t latitude", "int32_t longitude",
		"uint16_t custom_mode", "int16_t altitude", "int16_t target_altitude", "uint16_t target_distance",
		"uint16_t wp_num", "uint16_t failure_flags", "uint8_t type", "uint8_t autopilot", "uint8_t heading",
		"uint8_t target_heading", "uint8_t throttle", "uint8_t airspeed", "uint8_t airspeed_sp",
		"uint8_t groundspeed", "uint8_t windspeed", "uint8_t wind_heading", "uint8_t eph", "uint8_t epv",
		"int8_t temperature_air", "int8_t climb_rate", "int8_t battery", "int8_t custom0",
		"int8_t custom1", "int8_t custom2", NULL };
	static const char *const statustext[] = { "uint8_t severity", "char text 50", NULL };
	static const struct { uint32_t id; const char *name; const char *const *fields; int expect; } m[] = {
		{ MAV_MSG_HEARTBEAT, "HEARTBEAT", heartbeat, 50 },
		{ MAV_MSG_SYS_STATUS, "SYS_STATUS", sys_status, 124 },
		{ MAV_MSG_GPS_RAW_INT, "GPS_RAW_INT", gps_raw_int, 24 },
		{ MAV_MSG_ATTITUDE, "ATTITUDE", attitude, 39 },
		{ MAV_MSG_GLOBAL_POSITION_INT, "GLOBAL_POSITION_INT", gpi, 104 },
		{ MAV_MSG_VFR_HUD, "VFR_HUD", vfr_hud, 20 },
		{ MAV_MSG_BATTERY_STATUS, "BATTERY_STATUS", battery, 154 },
		{ MAV_MSG_HIGH_LATENCY2, "HIGH_LATENCY2", hl2, 179 },
		{ MAV_MSG_STATUSTEXT, "STATUSTEXT", statustext, 83 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		uint8_t computed = crc_extra_of(m[i].name, m[i].fields);

		printf("  %-20s id %3u CRC_EXTRA %3d (from its fields %3u)\n", m[i].name, (unsigned)m[i].id,
		    mav_crc_extra(m[i].id), computed);
		assert_int_equal(computed, m[i].expect);
		assert_int_equal(mav_crc_extra(m[i].id), computed);
		assert_string_equal(mav_msg_name(m[i].id), m[i].name);
	}
	assert_int_equal(mav_crc_extra(12345), -1);
	assert_null(mav_msg_name(2));
}

static const struct mav_global_position_int canberra = {
	.time_boot_ms = 123456, .lat = -353621474, .lon = 1491651746, .alt = 584070, .relative_alt = 12000,
	.vx = 300, .vy = -400, .vz = 10, .hdg = 30870,
};

static void
test_build_parse_v2(void **state)
{
	uint8_t pl[28], buf[MAV_FRAME_MAX];
	struct mav_frame f;
	struct mav_global_position_int g;
	struct mav_stats st = { 0 };
	ssize_t n;
	size_t used;

	(void)state;
	mav_encode_global_position_int(&canberra, pl);
	n = mav_build_v2(buf, sizeof(buf), 7, 1, 1, MAV_MSG_GLOBAL_POSITION_INT, pl, sizeof(pl));
	assert_int_equal(n, MAV_V2_HDR + 28 + 2);
	assert_int_equal(mav_frame_parse(buf, (size_t)n, &f, &used, &st), 0);
	assert_int_equal(used, n);
	assert_int_equal(f.version, 2);
	assert_true(f.checked);
	assert_int_equal(f.seq, 7);
	assert_int_equal(f.sysid, 1);
	assert_int_equal(f.msgid, MAV_MSG_GLOBAL_POSITION_INT);
	assert_int_equal(f.raw_len, n);
	assert_memory_equal(f.raw, buf, (size_t)n);
	memset(&g, 0, sizeof(g));
	assert_int_equal(mav_decode_global_position_int(&f, &g), 0);
	assert_memory_equal(&g, &canberra, sizeof(g));
	assert_int_equal(st.good, 1);
	assert_int_equal(st.v2, 1);
	/* Every cut short is "more, please". */
	for (size_t k = 0; k < (size_t)n; k++)
		assert_int_equal(mav_frame_parse(buf, k, &f, &used, NULL), -EAGAIN);
	/* The wrong decoder refuses. */
	struct mav_attitude a;
	assert_int_equal(mav_decode_attitude(&f, &a), -EINVAL);
}

static void
test_build_parse_v1(void **state)
{
	static const struct mav_heartbeat hb = { .custom_mode = 0x01020304, .type = 2, .autopilot = 3, .base_mode = 0x81,
		.system_status = 4, .mavlink_version = 3 };
	struct mav_heartbeat back;
	uint8_t pl[9], buf[MAV_FRAME_MAX];
	struct mav_frame f;
	size_t used;
	ssize_t n;

	(void)state;
	mav_encode_heartbeat(&hb, pl);
	n = mav_build_v1(buf, sizeof(buf), 200, 42, 190, MAV_MSG_HEARTBEAT, pl, sizeof(pl));
	assert_int_equal(n, MAV_V1_HDR + 9 + 2);
	assert_int_equal(buf[0], MAV_STX_V1);
	assert_int_equal(mav_frame_parse(buf, (size_t)n, &f, &used, NULL), 0);
	memset(&back, 0, sizeof(back));
	assert_int_equal(f.version, 1);
	assert_int_equal(f.seq, 200);
	assert_int_equal(f.sysid, 42);
	assert_int_equal(f.compid, 190);
	assert_int_equal(mav_decode_heartbeat(&f, &back), 0);
	assert_memory_equal(&back, &hb, sizeof(hb));
	assert_int_equal(mav_build_v1(buf, sizeof(buf), 0, 1, 1, MAV_MSG_HIGH_LATENCY2, pl, 9), 17);
	assert_int_equal(mav_build_v1(buf, sizeof(buf), 0, 1, 1, 77777, pl, 9), -ENOENT);
	assert_int_equal(mav_build_v1(buf, 10, 0, 1, 1, MAV_MSG_HEARTBEAT, pl, 9), -ENOSPC);
}

/* A HIGH_LATENCY2 ending in zeros goes short and decodes whole. */
static void
test_truncation_zero_extends(void **state)
{
	/* static: padding zeroed, so that the structs compare as memory */
	static const struct mav_high_latency2 s = { .timestamp = 1000, .latitude = -353621474, .longitude = 1491651746,
		.altitude = 584, .type = 1, .autopilot = 3, .heading = 150, .groundspeed = 100, .battery = 0 };
	struct mav_high_latency2 back;
	uint8_t pl[MAV_LEN_HIGH_LATENCY2], buf[MAV_FRAME_MAX];
	struct mav_frame f;
	size_t used;
	ssize_t n;

	(void)state;
	assert_int_equal(mav_encode_high_latency2(&s, pl), MAV_LEN_HIGH_LATENCY2);
	n = mav_build_v2(buf, sizeof(buf), 0, 1, 1, MAV_MSG_HIGH_LATENCY2, pl, sizeof(pl));
	/* The last non-zero byte is groundspeed at offset 31. */
	assert_int_equal(buf[1], 32);
	assert_int_equal(n, MAV_V2_HDR + 32 + 2);
	/* Leave garbage after the payload in the frame struct: the parser must clear it. */
	memset(&f, 0xaa, sizeof(f));
	assert_int_equal(mav_frame_parse(buf, (size_t)n, &f, &used, NULL), 0);
	assert_int_equal(f.len, 32);
	memset(&back, 0, sizeof(back));
	assert_int_equal(mav_decode_high_latency2(&f, &back), 0);
	assert_memory_equal(&back, &s, sizeof(s));
	/* An all-zero payload keeps one byte. */
	memset(pl, 0, sizeof(pl));
	n = mav_build_v2(buf, sizeof(buf), 0, 1, 1, MAV_MSG_HEARTBEAT, pl, 9);
	assert_int_equal(n, MAV_V2_HDR + 1 + 2);
	assert_int_equal(mav_build_v2(buf, sizeof(buf), 0, 1, 1, MAV_MSG_HEARTBEAT, pl, 0), -EINVAL);
}

static void
test_bad_crc_and_unknown(void **state)
{
	uint8_t pl[28], buf[MAV_FRAME_MAX];
	struct mav_frame f;
	struct mav_stats st = { 0 };
	size_t used;
	ssize_t n;

	(void)state;
	mav_encode_global_position_int(&canberra, pl);
	n = mav_build_v2(buf, sizeof(buf), 0, 1, 1, MAV_MSG_GLOBAL_POSITION_INT, pl, sizeof(pl));
	buf[MAV_V2_HDR + 3] ^= 0x01;
	assert_int_equal(mav_frame_parse(buf, (size_t)n, &f, &used, &st), -EBADMSG);
	assert_int_equal(st.bad_crc, 1);
	/* A msgid we do not know: a frame, unchecked, whatever its CRC. */
	buf[7] = 0x39;
	buf[8] = 0x30;
	assert_int_equal(mav_frame_parse(buf, (size_t)n, &f, &used, &st), 0);
	assert_false(f.checked);
	assert_int_equal(f.msgid, 0x3039);
	assert_int_equal(st.unknown, 1);
	assert_int_equal(st.good, 0);
	/* Unknown incompat flags: not a frame we can read. */
	buf[2] = 0x02;
	assert_int_equal(mav_frame_parse(buf, (size_t)n, &f, &used, &st), -EPROTO);
	assert_int_equal(st.bad_header, 1);
	buf[0] = 0x55;
	assert_int_equal(mav_frame_parse(buf, (size_t)n, &f, &used, &st), -EPROTO);
}

/* A signed frame: 13 bytes after the CRC, kept in raw, not checked. */
static void
test_signature_skipped(void **state)
{
	uint8_t pl[28], buf[MAV_FRAME_MAX + 4];
	struct mav_frame f;
	struct mav_global_position_int g;
	size_t used;
	ssize_t n;

	(void)state;
	mav_encode_global_position_int(&canberra, pl);
	n = mav_build_v2(buf, sizeof(buf), 0, 1, 1, MAV_MSG_GLOBAL_POSITION_INT, pl, sizeof(pl));
	/* The flag is covered by the CRC: set it, then rebuild the CRC by hand. */
	buf[2] = MAV_IFLAG_SIGNED;
	uint16_t crc = mav_crc_accumulate(0xffff, buf + 1, MAV_V2_HDR - 1 + 28);
	uint8_t extra = 104;
	crc = mav_crc_accumulate(crc, &extra, 1);
	buf[n - 2] = (uint8_t)crc;
	buf[n - 1] = (uint8_t)(crc >> 8);
	for (int i = 0; i < MAV_SIGNATURE_LEN; i++)
		buf[n + i] = (uint8_t)(0xf0 + i);
	buf[n + MAV_SIGNATURE_LEN] = MAV_STX_V2;
	assert_int_equal(mav_frame_parse(buf, (size_t)n + 5, &f, &used, NULL), -EAGAIN);
	assert_int_equal(mav_frame_parse(buf, (size_t)n + MAV_SIGNATURE_LEN + 1, &f, &used, NULL), 0);
	assert_int_equal(used, (size_t)n + MAV_SIGNATURE_LEN);
	assert_true(f.is_signed && f.checked);
	assert_int_equal(f.raw_len, used);
	assert_int_equal(mav_decode_global_position_int(&f, &g), 0);
	assert_int_equal(g.lat, canberra.lat);
}

struct collect {
	int n;
	uint32_t msgid[64];
	uint8_t seq[64];
};

static void
collect_cb(const struct mav_frame *f, void *arg)
{
	struct collect *c = arg;

	if (c->n < 64) {
		c->msgid[c->n] = f->msgid;
		c->seq[c->n] = f->seq;
	}
	c->n++;
}

/* Ten frames with garbage between, fed in every chunk size: the same ten frames. */
static void
test_stream_resync(void **state)
{
	uint8_t stream[2048], pl[28];
	size_t len = 0;
	struct mav_parser *p = malloc(sizeof(*p));

	(void)state;
	assert_non_null(p);
	mav_encode_global_position_int(&canberra, pl);
	for (int i = 0; i < 10; i++) {
		/* Garbage with a false v2 start (incompat flags no one defines). */
		static const uint8_t junk[] = { 0x00, 0xfd, 0x03, 0x99, 0x07 };
		ssize_t n;

		memcpy(stream + len, junk, (size_t)(i % 3) * 2 + 1);
		len += (size_t)(i % 3) * 2 + 1;
		if (i % 2)
			n = mav_build_v1(stream + len, sizeof(stream) - len, (uint8_t)i, 1, 1,
			    MAV_MSG_GLOBAL_POSITION_INT, pl, sizeof(pl));
		else
			n = mav_build_v2(stream + len, sizeof(stream) - len, (uint8_t)i, 1, 1,
			    MAV_MSG_GLOBAL_POSITION_INT, pl, sizeof(pl));
		assert_true(n > 0);
		len += (size_t)n;
	}
	for (size_t chunk = 1; chunk <= 97; chunk += 8) {
		struct collect c = { 0 };

		mav_parser_init(p);
		for (size_t off = 0; off < len; off += chunk)
			mav_parser_push(p, stream + off, len - off < chunk ? len - off : chunk, collect_cb, &c);
		assert_int_equal(c.n, 10);
		for (int i = 0; i < 10; i++) {
			assert_int_equal(c.seq[i], i);
			assert_int_equal(c.msgid[i], MAV_MSG_GLOBAL_POSITION_INT);
		}
		assert_int_equal(p->stats.good, 10);
		assert_int_equal(p->stats.v1, 5);
	}
	free(p);
}

/* A broken frame in the middle costs that frame only; reset drops a partial one. */
static void
test_stream_bad_frame_and_reset(void **state)
{
	uint8_t stream[512], pl[28];
	size_t len = 0, lens[3];
	struct mav_parser *p = malloc(sizeof(*p));
	struct collect c = { 0 };

	(void)state;
	assert_non_null(p);
	mav_encode_global_position_int(&canberra, pl);
	for (int i = 0; i < 3; i++) {
		ssize_t n = mav_build_v2(stream + len, sizeof(stream) - len, (uint8_t)i, 1, 1,
		    MAV_MSG_GLOBAL_POSITION_INT, pl, sizeof(pl));
		lens[i] = (size_t)n;
		len += (size_t)n;
	}
	stream[lens[0] + MAV_V2_HDR + 5] ^= 0x40;
	mav_parser_init(p);
	mav_parser_push(p, stream, len, collect_cb, &c);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.seq[0], 0);
	assert_int_equal(c.seq[1], 2);
	assert_int_equal(p->stats.bad_crc, 1);
	/* Half a frame, a reset (a new datagram), then a whole one: one frame. */
	c.n = 0;
	mav_parser_push(p, stream, 20, collect_cb, &c);
	mav_parser_reset(p);
	mav_parser_push(p, stream + lens[0] + lens[1], lens[2], collect_cb, &c);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.seq[0], 2);
	assert_int_equal(p->stats.good, 3);
	free(p);
}

/*
 * Unknown msgids: believed at the start and right after a frame, not after
 * garbage (there the parser waits for a frame it can check).
 */
static void
test_stream_unknown(void **state)
{
	uint8_t stream[512], pl[28];
	size_t len = 0;
	struct mav_parser *p = malloc(sizeof(*p));
	struct collect c = { 0 };
	ssize_t n;

	(void)state;
	assert_non_null(p);
	mav_encode_global_position_int(&canberra, pl);
	/* unknown, known, unknown, garbage, unknown, known */
	for (int i = 0; i < 6; i++) {
		if (i == 3) {
			stream[len++] = 0x11;
			continue;
		}
		n = mav_build_v2(stream + len, sizeof(stream) - len, (uint8_t)i, 1, 1,
		    MAV_MSG_GLOBAL_POSITION_INT, pl, sizeof(pl));
		if (i != 1 && i != 5) {
			stream[len + 7] = 0x21;	/* msgid 0x000321: no CRC_EXTRA of ours */
			stream[len + 8] = 0x03;
		}
		len += (size_t)n;
	}
	mav_parser_init(p);
	mav_parser_push(p, stream, len, collect_cb, &c);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.msgid[0], 0x321);
	assert_int_equal(c.msgid[1], MAV_MSG_GLOBAL_POSITION_INT);
	assert_int_equal(c.msgid[2], 0x321);
	assert_int_equal(c.seq[3], 5);
	assert_int_equal(p->stats.unknown, 2);
	assert_int_equal(p->stats.good, 2);
	assert_int_equal(p->stats.garbage, 1 + (size_t)n);
	free(p);
}

static void
test_position_fix(void **state)
{
	struct fix f;
	struct mav_global_position_int g = canberra;

	(void)state;
	assert_int_equal(mav_position_fix(&g, 1478994342000LL, &f), 0);
	assert_int_equal(f.time_ms, 1478994342000LL);
	assert_true(fabs(f.lat - -35.3621474) < 1e-9);
	assert_true(fabs(f.lon - 149.1651746) < 1e-9);
	assert_true(fabs(f.alt - 584.07) < 1e-9);
	assert_true(fabs(f.speed - 5.0) < 1e-9);
	/* 3 m/s north, 4 m/s west: 360 - 53.13 degrees. */
	assert_true(fabs(f.course - (360.0 - atan2(4, 3) * 180 / M_PI)) < 1e-9);
	assert_int_equal(f.source, FIX_MAVLINK);
	assert_int_equal(f.kind, FIX_DRONE);
	assert_true(isnan(f.eph));
	g.vx = g.vy = 0;
	assert_int_equal(mav_position_fix(&g, 1, &f), 0);
	assert_true(isnan(f.course));
	assert_true(f.speed == 0);
	g.lat = g.lon = 0;
	assert_int_equal(mav_position_fix(&g, 1, &f), -EINVAL);
	g.lat = 900000001;
	g.lon = 5;
	assert_int_equal(mav_position_fix(&g, 1, &f), -EINVAL);
}

/* STATUSTEXT fills all 50 bytes: the decoded text is still terminated. */
static void
test_statustext(void **state)
{
	uint8_t pl[54] = { 4 }, buf[MAV_FRAME_MAX];
	struct mav_frame f;
	struct mav_statustext t;
	size_t used;
	ssize_t n;

	(void)state;
	memset(pl + 1, 'x', 50);
	n = mav_build_v2(buf, sizeof(buf), 0, 1, 1, MAV_MSG_STATUSTEXT, pl, sizeof(pl));
	assert_int_equal(n, MAV_V2_HDR + 51 + 2);
	assert_int_equal(mav_frame_parse(buf, (size_t)n, &f, &used, NULL), 0);
	assert_int_equal(mav_decode_statustext(&f, &t), 0);
	assert_int_equal(t.severity, 4);
	assert_int_equal(strlen(t.text), 50);
	assert_int_equal(t.id, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_check_value),
		cmocka_unit_test(test_crc_extra_from_definitions),
		cmocka_unit_test(test_build_parse_v2),
		cmocka_unit_test(test_build_parse_v1),
		cmocka_unit_test(test_truncation_zero_extends),
		cmocka_unit_test(test_bad_crc_and_unknown),
		cmocka_unit_test(test_signature_skipped),
		cmocka_unit_test(test_stream_resync),
		cmocka_unit_test(test_stream_bad_frame_and_reset),
		cmocka_unit_test(test_stream_unknown),
		cmocka_unit_test(test_position_fix),
		cmocka_unit_test(test_statustext),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
