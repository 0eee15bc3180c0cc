/*
 * mavdump.c - our MAVLink code (relay/track/mavlink.c, tlog.c, mavio.c,
 * mavrate.c) on the command line, for tests/integration/test_mavlink_interop.py
 * to hold against node-mavlink (mavcheck.js), line for line:
 *
 *   mavdump tlog FILE                 every record of a tlog as a JSON line
 *   mavdump build FILE                frames from our builders (v1, v2 truncated,
 *                                     a summary rebuilt) written to FILE, and
 *                                     printed as JSON lines
 *   mavdump replay FILE HOST:PORT SPEED [CLASS]
 *                                     replay a tlog to HOST:PORT over UDP, one
 *                                     datagram per frame (the re-emit), at SPEED
 *                                     (0: at once), through the rate limits of
 *                                     link class CLASS if given; prints each frame
 *                                     sent as a JSON line
 *
 * A JSON line: {"msgid":33,"sysid":1,"compid":1,"seq":5,"version":2,"len":28,
 * "checked":true,"ts_us":"..."|null,"fields":{...}}, the fields (common.xml
 * names) of the messages we decode; a last line {"summary":{...}}.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mavio.h"
#include "mavlink.h"
#include "mavrate.h"
#include "tlog.h"
#include "track.h"

static void
print_float(const char *name, float v, bool comma)
{
	/* %.9g: a float's value again, as node reads it. */
	printf("\"%s\":%.9g%s", name, (double)v, comma ? "," : "");
}

static void
print_fields(const struct mav_frame *f)
{
	struct mav_heartbeat hb;
	struct mav_sys_status ss;
	struct mav_gps_raw_int g;
	struct mav_attitude a;
	struct mav_global_position_int p;
	struct mav_vfr_hud h;
	struct mav_high_latency2 hl;
	struct mav_statustext st;

	printf("\"fields\":{");
	if (mav_decode_heartbeat(f, &hb) == 0) {
		printf("\"custom_mode\":%" PRIu32 ",\"type\":%u,\"autopilot\":%u,\"base_mode\":%u,"
		    "\"system_status\":%u,\"mavlink_version\":%u", hb.custom_mode, hb.type, hb.autopilot,
		    hb.base_mode, hb.system_status, hb.mavlink_version);
	} else if (mav_decode_sys_status(f, &ss) == 0) {
		printf("\"load\":%u,\"voltage_battery\":%u,\"current_battery\":%d,\"battery_remaining\":%d",
		    ss.load, ss.voltage_battery, ss.current_battery, ss.battery_remaining);
	} else if (mav_decode_gps_raw_int(f, &g) == 0) {
		printf("\"time_usec\":\"%" PRIu64 "\",\"lat\":%" PRId32 ",\"lon\":%" PRId32 ",\"alt\":%" PRId32
		    ",\"eph\":%u,\"epv\":%u,\"vel\":%u,\"cog\":%u,\"fix_type\":%u,\"satellites_visible\":%u",
		    g.time_usec, g.lat, g.lon, g.alt, g.eph, g.epv, g.vel, g.cog, g.fix_type, g.satellites_visible);
	} else if (mav_decode_attitude(f, &a) == 0) {
		printf("\"time_boot_ms\":%" PRIu32 ",", a.time_boot_ms);
		print_float("roll", a.roll, true);
		print_float("pitch", a.pitch, true);
		print_float("yaw", a.yaw, false);
	} else if (mav_decode_global_position_int(f, &p) == 0) {
		printf("\"time_boot_ms\":%" PRIu32 ",\"lat\":%" PRId32 ",\"lon\":%" PRId32 ",\"alt\":%" PRId32
		    ",\"relative_alt\":%" PRId32 ",\"vx\":%d,\"vy\":%d,\"vz\":%d,\"hdg\":%u", p.time_boot_ms, p.lat,
		    p.lon, p.alt, p.relative_alt, p.vx, p.vy, p.vz, p.hdg);
	} else if (mav_decode_vfr_hud(f, &h) == 0) {
		print_float("airspeed", h.airspeed, true);
		print_float("groundspeed", h.groundspeed, true);
		print_float("alt", h.alt, true);
		print_float("climb", h.climb, true);
		printf("\"heading\":%d,\"throttle\":%u", h.heading, h.throttle);
	} else if (mav_decode_high_latency2(f, &hl) == 0) {
		printf("\"timestamp\":%" PRIu32 ",\"latitude\":%" PRId32 ",\"longitude\":%" PRId32 ",\"custom_mode\":%u,"
		    "\"altitude\":%d,\"type\":%u,\"autopilot\":%u,\"heading\":%u,\"throttle\":%u,\"airspeed\":%u,"
		    "\"groundspeed\":%u,\"eph\":%u,\"epv\":%u,\"climb_rate\":%d,\"battery\":%d", hl.timestamp,
		    hl.latitude, hl.longitude, hl.custom_mode, hl.altitude, hl.type, hl.autopilot, hl.heading,
		    hl.throttle, hl.airspeed, hl.groundspeed, hl.eph, hl.epv, hl.climb_rate, hl.battery);
	} else if (mav_decode_statustext(f, &st) == 0) {
		printf("\"severity\":%u,\"text\":\"", st.severity);
		for (const char *c = st.text; *c; c++)
			if (*c == '"' || *c == '\\')
				printf("\\%c", *c);
			else if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				printf("\\u%04x", (unsigned char)*c);
			else
				putchar(*c);
		printf("\"");
	}
	printf("}");
}

static void
print_frame(const struct mav_frame *f, uint64_t ts_us)
{
	printf("{\"msgid\":%" PRIu32 ",\"sysid\":%u,\"compid\":%u,\"seq\":%u,\"version\":%u,\"len\":%u,"
	    "\"checked\":%s,", f->msgid, f->sysid, f->compid, f->seq, f->version, f->len,
	    f->checked ? "true" : "false");
	if (ts_us)
		printf("\"ts_us\":\"%" PRIu64 "\",", ts_us);
	else
		printf("\"ts_us\":null,");
	print_fields(f);
	printf("}\n");
}

static void
print_stats(const char *extra, const struct mav_stats *st)
{
	printf("{\"summary\":{%s\"good\":%" PRIu64 ",\"unknown\":%" PRIu64 ",\"bad_crc\":%" PRIu64
	    ",\"bad_header\":%" PRIu64 ",\"v1\":%" PRIu64 ",\"v2\":%" PRIu64 "}}\n", extra, st->good, st->unknown,
	    st->bad_crc, st->bad_header, st->v1, st->v2);
}

static int
cmd_tlog(const char *path)
{
	struct tlog *t = tlog_open(path);
	static struct mav_frame f;
	char extra[128];
	uint64_t ts;
	int r;

	if (!t) {
		fprintf(stderr, "mavdump: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((r = tlog_next(t, &ts, &f)) == 1)
		print_frame(&f, ts);
	snprintf(extra, sizeof(extra), "\"records\":%" PRIu64 ",\"skipped\":%" PRIu64 ",",
	    tlog_stats(t)->records, tlog_stats(t)->skipped);
	print_stats(extra, &tlog_stats(t)->mav);
	tlog_free(t);
	return r < 0;
}

/* Append a frame to out and print it as parsed back. */
static int
emit(FILE *out, const uint8_t *buf, ssize_t n)
{
	static struct mav_frame f;
	size_t used;

	if (n < 0 || mav_frame_parse(buf, (size_t)n, &f, &used, NULL) < 0)
		return -1;
	if (fwrite(buf, 1, (size_t)n, out) != (size_t)n)
		return -1;
	print_frame(&f, 0);
	return 0;
}

static int
cmd_build(const char *path)
{
	FILE *out = fopen(path, "wb");
	uint8_t buf[MAV_FRAME_MAX], pl[MAV_PAYLOAD_MAX], packed[MAVSUM_PACKED_MAX];
	const struct mav_heartbeat hb = { .custom_mode = 0x12345678, .type = 1, .autopilot = 3, .base_mode = 0x81,
		.system_status = 4, .mavlink_version = 3 };
	const struct mav_global_position_int gpi = { .time_boot_ms = 4000000000u, .lat = -353621474,
		.lon = 1491651746, .alt = -12345, .relative_alt = 0, .vx = -300, .vy = 400, .vz = 0, .hdg = 0 };
	const struct mav_high_latency2 hl = { .timestamp = 123456, .latitude = 473977418, .longitude = 85455939,
		.custom_mode = 10, .altitude = -5, .type = 2, .autopilot = 3, .heading = 179, .groundspeed = 77,
		.eph = 12, .epv = 34, .climb_rate = -9, .battery = 55 };
	ssize_t n;
	int rc = 0;

	if (!out) {
		fprintf(stderr, "mavdump: %s: %s\n", path, strerror(errno));
		return 1;
	}
	mav_encode_heartbeat(&hb, pl);
	rc |= emit(out, buf, mav_build_v1(buf, sizeof(buf), 1, 7, 1, MAV_MSG_HEARTBEAT, pl, 9));
	rc |= emit(out, buf, mav_build_v2(buf, sizeof(buf), 2, 7, 1, MAV_MSG_HEARTBEAT, pl, 9));
	/* relative_alt, vz, hdg zero: the v2 payload loses its last bytes. */
	mav_encode_global_position_int(&gpi, pl);
	rc |= emit(out, buf, mav_build_v2(buf, sizeof(buf), 3, 7, 1, MAV_MSG_GLOBAL_POSITION_INT, pl, 28));
	rc |= emit(out, buf, mav_build_v1(buf, sizeof(buf), 4, 7, 1, MAV_MSG_GLOBAL_POSITION_INT, pl, 28));
	/* A summary, packed for a narrow link and rebuilt at the far end. */
	n = mavsum_pack(&hl, 7, 1, packed, sizeof(packed));
	rc |= n < 0 ? -1 : emit(out, buf, mavsum_unpack(packed, (size_t)n, 5, buf, sizeof(buf)));
	memset(pl, 0, 54);
	pl[0] = 6;
	memcpy(pl + 1, "fieldrelay: \"drone\" 7 ok", 24);
	rc |= emit(out, buf, mav_build_v2(buf, sizeof(buf), 6, 7, 1, MAV_MSG_STATUSTEXT, pl, 54));
	if (fclose(out) != 0)
		rc = -1;
	printf("{\"summary\":{\"ok\":%s}}\n", rc ? "false" : "true");
	return rc ? 1 : 0;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct replay {
	struct mavio *out;
	struct mavrate *rate;
	int cls;
	uint64_t sent, dropped, errors;
};

static void
replay_cb(struct mavio *e, const struct mav_frame *f, const struct mavio_rx *rx, void *arg)
{
	struct replay *r = arg;

	(void)e;
	/* The limits run on the tlog's clock, so that they hold at any speed. */
	if (r->rate && !mavrate_pass(r->rate, (enum link_class)r->cls, f->sysid, f->compid, f->msgid,
	    (int64_t)(rx->tlog_us / 1000))) {
		r->dropped++;
		return;
	}
	if (mavio_send(r->out, f->raw, f->raw_len) < 0) {
		r->errors++;
		return;
	}
	r->sent++;
	print_frame(f, rx->tlog_us);
}

static int
cmd_replay(const char *path, const char *to, double speed, const char *cls)
{
	struct replay r = { .cls = -1 };
	struct mavio *in = mavio_tlog(path, speed, mono_ms());
	char extra[160];

	if (!in) {
		fprintf(stderr, "mavdump: %s: %s\n", path, strerror(errno));
		return 1;
	}
	r.out = mavio_connect(to);
	if (!r.out) {
		fprintf(stderr, "mavdump: %s: %s\n", to, strerror(errno));
		mavio_free(in);
		return 1;
	}
	if (cls) {
		r.cls = link_class_parse(cls);
		r.rate = r.cls < 0 ? NULL : mavrate_new(NULL);
		if (!r.rate) {
			fprintf(stderr, "mavdump: %s: not a link class\n", cls);
			mavio_free(r.out);
			mavio_free(in);
			return 1;
		}
	}
	while (!mavio_done(in)) {
		int64_t now = mono_ms(), due = mavio_next_deadline(in);

		if (due > now) {
			poll(NULL, 0, (int)(due - now));
			continue;
		}
		mavio_read(in, now, replay_cb, &r);
		/* Pace the socket: a burst at full speed would overflow loopback's buffers. */
		if (speed == 0)
			poll(NULL, 0, 1);
	}
	snprintf(extra, sizeof(extra), "\"sent\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"errors\":%" PRIu64 ",",
	    r.sent, r.dropped, r.errors);
	print_stats(extra, mavio_stats(in));
	mavrate_free(r.rate);
	mavio_free(r.out);
	mavio_free(in);
	return r.errors != 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "tlog") == 0)
		return cmd_tlog(argv[2]);
	if (argc == 3 && strcmp(argv[1], "build") == 0)
		return cmd_build(argv[2]);
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "replay") == 0)
		return cmd_replay(argv[2], argv[3], atof(argv[4]), argc == 6 ? argv[5] : NULL);
	fprintf(stderr, "usage: mavdump tlog FILE | build FILE | replay FILE HOST:PORT SPEED [CLASS]\n");
	return 2;
}
