/*
 * test_drone.c - the glue between MAVLink endpoints and telemetry bundles
 * (relay/track/drone.c), over loopback UDP: on the mesh a bundle a second
 * holds what passed the rate limits, of a once-a-second message the newest
 * only (two never reach the ground station back to back), of STATUSTEXT
 * every one; on a narrowband link a summary goes instead, and the receiving
 * side rebuilds it into a HIGH_LATENCY2 for its ground station (and frames
 * that waited when the link narrowed do not go); broken
 * telemetry bundles are dropped.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "drone.h"
#include "mavio.h"
#include "mavlink.h"
#include "mavrate.h"
#include "ports.h"

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct sent {
	int fixes;
	int bundles;
	uint8_t last[4096];
	size_t last_len;
};

static void
on_fix(void *arg, struct posout *p, const struct fix *f)
{
	struct sent *s = arg;

	(void)p;
	(void)f;
	s->fixes++;
}

static void
on_telemetry(void *arg, const uint8_t *data, size_t len)
{
	struct sent *s = arg;

	assert_true(len <= sizeof(s->last));
	memcpy(s->last, data, len);
	s->last_len = len;
	s->bundles++;
}

static const struct drone_ops ops = { on_fix, on_telemetry, NULL };

/* A drone agent listening on 127.0.0.1:port, re-emitting to out (or nowhere). */
static struct drone *
drone_on(uint16_t port, const char *out, struct sent *s)
{
	static struct track_conf cf;
	char err[256];
	struct drone *d;

	track_conf_defaults(&cf);
	cf.n_mavlink = 1;
	cf.mavlink[0].kind = MAV_LISTEN;
	snprintf(cf.mavlink[0].addr, sizeof(cf.mavlink[0].addr), "127.0.0.1:%u", port);
	if (out) {
		cf.n_mavlink_out = 1;
		snprintf(cf.mavlink_out[0], sizeof(cf.mavlink_out[0]), "%s", out);
	}
	cf.summary_ms = 1000;
	d = drone_new(&cf, &ops, s, err, sizeof(err));
	if (d == NULL)
		fail_msg("drone_new: %s", err);
	drone_set_node(d, 1, "Ground");
	return d;
}

/* Run d's loop for ms. */
static void
run_for(struct drone *d, int ms)
{
	int64_t end = mono_ms() + ms;

	while (mono_ms() < end) {
		struct pollfd pf[TRACK_MAX_MAVLINK];
		int n = drone_pollfds(d, pf, TRACK_MAX_MAVLINK);

		assert_true(poll(pf, (nfds_t)n, 10) >= 0);
		drone_read(d, pf, n, mono_ms());
		drone_tick(d, mono_ms());
	}
}

static void
send_frame(struct mavio *c, uint32_t msgid, uint8_t seq, const uint8_t *pl, size_t len)
{
	uint8_t buf[MAV_FRAME_MAX];
	ssize_t n = mav_build_v2(buf, sizeof(buf), seq, 1, 1, msgid, pl, len);

	assert_true(n > 0);
	assert_int_equal(mavio_send(c, buf, (size_t)n), 0);
}

static void
send_gpi(struct mavio *c, uint8_t seq, int32_t lat)
{
	struct mav_global_position_int g = { .time_boot_ms = 1000u * seq, .lat = lat, .lon = 1491651746,
		.alt = 584000, .hdg = UINT16_MAX };
	uint8_t pl[28];

	mav_encode_global_position_int(&g, pl);
	send_frame(c, MAV_MSG_GLOBAL_POSITION_INT, seq, pl, sizeof(pl));
}

struct frames {
	int n, gpi, statustext, heartbeat;
	uint8_t gpi_seq;
};

static void
count_frame(const struct mav_frame *f, void *arg)
{
	struct frames *x = arg;

	x->n++;
	if (f->msgid == MAV_MSG_GLOBAL_POSITION_INT) {
		x->gpi++;
		x->gpi_seq = f->seq;
	}
	x->statustext += f->msgid == MAV_MSG_STATUSTEXT;
	x->heartbeat += f->msgid == MAV_MSG_HEARTBEAT;
}

static void
test_mesh_batch_newest(void **state)
{
	uint16_t port = test_free_port();
	char addr[64];
	struct sent s = { 0 };
	struct drone *d = drone_on(port, NULL, &s);
	struct mavio *c;
	uint8_t text[51] = { 4, 'h', 'i' }, hb[9] = { 0 };
	struct frames x = { 0 };
	struct mav_parser p;

	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_non_null(c = mavio_connect(addr));
	/* Two positions 600 ms apart (both pass: a pass may come half an interval early), two warnings. */
	send_gpi(c, 1, -353621474);
	send_frame(c, MAV_MSG_HEARTBEAT, 2, hb, sizeof(hb));
	send_frame(c, MAV_MSG_STATUSTEXT, 3, text, sizeof(text));
	run_for(d, 600);
	send_gpi(c, 4, -353621000);
	send_frame(c, MAV_MSG_STATUSTEXT, 5, text, sizeof(text));
	run_for(d, 300);
	assert_int_equal(s.bundles, 0);		/* a bundle a second */
	run_for(d, 300);
	assert_int_equal(s.bundles, 1);
	assert_int_equal(s.fixes, 2);
	assert_int_equal(s.last[0], 1);		/* DRONE_TEL_FRAMES */
	mav_parser_init(&p);
	mav_parser_push(&p, s.last + 1, s.last_len - 1, count_frame, &x);
	assert_int_equal(p.stats.bad_crc, 0);
	assert_int_equal(x.n, 4);
	assert_int_equal(x.gpi, 1);
	assert_int_equal(x.gpi_seq, 4);		/* the newer */
	assert_int_equal(x.heartbeat, 1);
	assert_int_equal(x.statustext, 2);	/* 5 Hz: every one */
	mavio_free(c);
	drone_free(d);
}

struct heard {
	int n;
	uint32_t msgid;
	struct mav_high_latency2 hl;
};

static void
heard_cb(struct mavio *e, const struct mav_frame *f, const struct mavio_rx *rx, void *arg)
{
	struct heard *h = arg;

	(void)e;
	(void)rx;
	h->n++;
	h->msgid = f->msgid;
	if (f->msgid == MAV_MSG_HIGH_LATENCY2)
		assert_int_equal(mav_decode_high_latency2(f, &h->hl), 0);
}

static void
test_narrowband_summary_rebuilt(void **state)
{
	uint16_t ports[3];
	char addr[64], out[64];
	struct sent s = { 0 }, r = { 0 };
	struct drone *d, *cc;
	struct mavio *c, *gcs;
	struct heard h = { 0 };
	int64_t end;

	(void)state;
	test_free_ports(ports, 3);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ports[0]);
	snprintf(out, sizeof(out), "127.0.0.1:%u", ports[2]);
	d = drone_on(ports[0], NULL, &s);
	drone_set_class(d, LINK_NARROWBAND);
	cc = drone_on(ports[1], out, &r);
	assert_non_null(gcs = mavio_listen(out));
	assert_non_null(c = mavio_connect(addr));
	send_gpi(c, 1, -353621474);
	run_for(d, 300);
	assert_int_equal(s.bundles, 1);
	assert_int_equal(s.last[0], 2);		/* DRONE_TEL_SUMMARY */
	assert_true(s.last_len <= 1 + MAVSUM_PACKED_MAX);
	drone_received(cc, "ipn:1.6", s.last, s.last_len);
	for (end = mono_ms() + 2000; h.n == 0 && mono_ms() < end;) {
		struct pollfd pf = { .fd = mavio_fd(gcs), .events = POLLIN };

		assert_true(poll(&pf, 1, 50) >= 0);
		assert_true(mavio_read(gcs, mono_ms(), heard_cb, &h) >= 0);
	}
	assert_int_equal(h.n, 1);
	assert_int_equal(h.msgid, MAV_MSG_HIGH_LATENCY2);
	assert_int_equal(h.hl.latitude, -353621474);
	assert_int_equal(h.hl.longitude, 1491651746);
	assert_int_equal(h.hl.altitude, 584);
	/* Nothing new: no second summary. */
	run_for(d, 1200);
	assert_int_equal(s.bundles, 1);
	mavio_free(c);
	mavio_free(gcs);
	drone_free(cc);
	drone_free(d);
}

/* The link narrows while frames wait for their bundle: they do not go, a summary does. */
static void
test_narrowed_drops_batch(void **state)
{
	uint16_t port = test_free_port();
	char addr[64];
	struct sent s = { 0 };
	struct drone *d = drone_on(port, NULL, &s);
	struct mavio *c;

	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_non_null(c = mavio_connect(addr));
	send_gpi(c, 1, -353621474);
	run_for(d, 200);
	assert_int_equal(s.bundles, 0);
	drone_set_class(d, LINK_SATELLITE);
	run_for(d, 1200);
	assert_int_equal(s.bundles, 1);
	assert_int_equal(s.last[0], 2);		/* the summary, not the frames */
	drone_set_class(d, LINK_MESH);
	run_for(d, 1200);
	assert_int_equal(s.bundles, 1);		/* nothing new came */
	mavio_free(c);
	drone_free(d);
}

/* Telemetry from the network: anything at all, never a crash, nothing checked re-emitted from noise. */
static void
test_received_garbage(void **state)
{
	uint16_t ports[2];
	char out[64];
	struct sent r = { 0 };
	struct drone *cc;
	struct mavio *gcs;
	struct heard h = { 0 };
	uint8_t buf[600];
	unsigned seed = 13;

	(void)state;
	test_free_ports(ports, 2);
	snprintf(out, sizeof(out), "127.0.0.1:%u", ports[1]);
	cc = drone_on(ports[0], out, &r);
	assert_non_null(gcs = mavio_listen(out));
	drone_received(cc, "ipn:1.6", buf, 0);
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof(buf));

		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rand_r(&seed);
		if (len > 0)
			buf[0] = (uint8_t)(1 + i % 3);	/* frames, summary, unknown */
		if (len > 1 && buf[0] == 1)
			buf[1] = (uint8_t)(i & 1 ? 0xfd : 0xfe);
		drone_received(cc, "ipn:1.6", buf, len);
	}
	/* What was re-emitted: summaries that unpacked, frames we could not check; never a bad checked one. */
	assert_true(mavio_read(gcs, mono_ms(), heard_cb, &h) >= 0);
	assert_int_equal(mavio_stats(gcs)->bad_crc, 0);
	mavio_free(gcs);
	drone_free(cc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mesh_batch_newest),
		cmocka_unit_test(test_narrowband_summary_rebuilt),
		cmocka_unit_test(test_narrowed_drops_batch),
		cmocka_unit_test(test_received_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
