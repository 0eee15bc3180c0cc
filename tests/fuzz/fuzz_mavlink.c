/*
 * fuzz_mavlink.c - libFuzzer target for the MAVLink stream parser, every
 * decoder and the summary (relay/track/mavlink.c, mavrate.c).
 *
 * The first input byte sets the chunk size the rest is fed in (a UDP
 * datagram or a serial line hands bytes over in any split; 0: all at once,
 * and also a reset between chunks when its top bit is set, as per datagram).
 * Every frame that comes out must parse again alone from its raw bytes to
 * the same fields, decode without reading past its buffers, and, when its
 * CRC was checked, be rebuilt by mav_build_v2 into a frame that parses back
 * to the same zero-extended payload.  The counters must add up.  Any
 * mismatch aborts (a crash to libFuzzer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mavlink.h"
#include "mavrate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_mavlink: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

static struct mav_parser parser;
static struct mav_frame again, rebuilt;
static struct mavsum *sum;
static uint64_t frames;
static int64_t now_ms;

static void
decode_all(const struct mav_frame *f)
{
	struct mav_heartbeat hb;
	struct mav_sys_status ss;
	struct mav_gps_raw_int gps;
	struct mav_attitude att;
	struct mav_global_position_int gpi;
	struct mav_vfr_hud hud;
	struct mav_battery_status bs;
	struct mav_high_latency2 hl;
	struct mav_statustext st;
	struct fix fx;
	int ok = 0;

	ok += mav_decode_heartbeat(f, &hb) == 0;
	ok += mav_decode_sys_status(f, &ss) == 0;
	ok += mav_decode_gps_raw_int(f, &gps) == 0;
	ok += mav_decode_attitude(f, &att) == 0;
	ok += mav_decode_vfr_hud(f, &hud) == 0;
	ok += mav_decode_battery_status(f, &bs) == 0;
	ok += mav_decode_high_latency2(f, &hl) == 0;
	ok += mav_decode_statustext(f, &st) == 0;
	if (mav_decode_global_position_int(f, &gpi) == 0) {
		ok++;
		if (mav_position_fix(&gpi, 1700000000000LL, &fx) == 0)
			CHECK(fx.lat >= -90 && fx.lat <= 90 && fx.lon >= -180 && fx.lon <= 180 &&
			    (fx.course != fx.course || (fx.course >= 0 && fx.course < 360)));
	}
	/* A decoder takes its own message only. */
	CHECK(ok == (mav_msg_name(f->msgid) ? 1 : 0));
	if (mav_decode_statustext(f, &st) == 0)
		CHECK(strlen(st.text) <= 50);
}

static void
frame_cb(const struct mav_frame *f, void *arg)
{
	uint8_t buf[MAV_FRAME_MAX], pl[MAV_PAYLOAD_MAX];
	size_t used;
	ssize_t n;

	(void)arg;
	frames++;
	CHECK(f->raw_len <= MAV_FRAME_MAX);
	CHECK(f->version == 1 || f->version == 2);
	CHECK(f->checked == (mav_crc_extra(f->msgid) >= 0));
	/* The raw bytes alone are the same frame. */
	CHECK(mav_frame_parse(f->raw, f->raw_len, &again, &used, NULL) == 0);
	CHECK(used == f->raw_len && again.msgid == f->msgid && again.len == f->len && again.seq == f->seq);
	CHECK(memcmp(again.payload, f->payload, MAV_PAYLOAD_MAX) == 0);
	/* Past the payload, zeros: what decoders read of a truncated payload. */
	for (size_t i = f->len; i < MAV_PAYLOAD_MAX; i++)
		CHECK(f->payload[i] == 0);
	decode_all(f);
	mavsum_update(sum, f, now_ms);
	if (!f->checked || f->len == 0)
		return;
	/* What we accept we can say again, v2 and (msgid <= 255) v1. */
	memcpy(pl, f->payload, MAV_PAYLOAD_MAX);
	n = mav_build_v2(buf, sizeof(buf), f->seq, f->sysid, f->compid, f->msgid, pl, f->len);
	CHECK(n > 0);
	CHECK(mav_frame_parse(buf, (size_t)n, &rebuilt, &used, NULL) == 0 && rebuilt.checked);
	CHECK(memcmp(rebuilt.payload, f->payload, MAV_PAYLOAD_MAX) == 0);
	if (f->msgid > 0xff)
		return;
	n = mav_build_v1(buf, sizeof(buf), f->seq, f->sysid, f->compid, f->msgid, pl, f->len);
	CHECK(n > 0);
	CHECK(mav_frame_parse(buf, (size_t)n, &rebuilt, &used, NULL) == 0 && rebuilt.len == f->len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mav_high_latency2 hl;
	uint8_t sysid, compid, packed[MAVSUM_PACKED_MAX], frame[MAV_FRAME_MAX];
	size_t chunk, used;
	bool reset;

	if (size < 1)
		return 0;
	if (!sum)
		sum = mavsum_new(1000);
	CHECK(sum);
	chunk = data[0] & 0x7f;
	reset = data[0] & 0x80;
	data++;
	size--;
	if (chunk == 0)
		chunk = size ? size : 1;
	mav_parser_init(&parser);
	frames = 0;
	for (size_t off = 0; off < size; off += chunk) {
		if (reset)
			mav_parser_reset(&parser);
		mav_parser_push(&parser, data + off, size - off < chunk ? size - off : chunk, frame_cb, NULL);
		now_ms += 100;
	}
	CHECK(parser.stats.good + parser.stats.unknown == frames);
	CHECK(parser.stats.v1 + parser.stats.v2 == frames);
	/* The whole input as one buffer. */
	mav_frame_parse(data, size, &again, &used, NULL);
	/* Summaries of whatever was heard: packed, rebuilt, parsed. */
	while (mavsum_emit(sum, now_ms, &hl, &sysid, &compid) == 1) {
		ssize_t n = mavsum_pack(&hl, sysid, compid, packed, sizeof(packed));

		CHECK(n >= 3 && n <= MAVSUM_PACKED_MAX);
		n = mavsum_unpack(packed, (size_t)n, 0, frame, sizeof(frame));
		CHECK(n > 0);
		CHECK(mav_frame_parse(frame, (size_t)n, &again, &used, NULL) == 0 && again.checked);
	}
	return 0;
}
