/*
 * fuzz_drone.c - libFuzzer target for the telemetry bundles a command
 * center takes from the network (relay/track/drone.c: drone_received): the
 * kind byte, then MAVLink frames or a packed summary.  Every input is one
 * bundle's payload.  A summary that unpacks must parse back as a checked
 * HIGH_LATENCY2 of the sysid and compid it names; any mismatch aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drone.h"
#include "mavlink.h"
#include "mavrate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_drone: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

static struct drone *drone;

static void
nop_fix(void *arg, struct posout *p, const struct fix *f)
{
	(void)arg;
	(void)p;
	(void)f;
}

static void
nop_telemetry(void *arg, const uint8_t *data, size_t len)
{
	(void)arg;
	(void)data;
	(void)len;
}

static void
nop_log(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct track_conf cf;
	static const struct drone_ops ops = { nop_fix, nop_telemetry, nop_log };
	char err[256];

	(void)argc;
	(void)argv;
	track_conf_defaults(&cf);
	if ((drone = drone_new(&cf, &ops, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_drone: %s\n", err);
		abort();
	}
	drone_set_node(drone, 1, "Ground");
	return 0;
}

struct got {
	int n;
	struct mav_frame f;
};

static void
one(const struct mav_frame *f, void *arg)
{
	struct got *g = arg;

	g->n++;
	g->f = *f;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t frame[MAV_FRAME_MAX];
	ssize_t n;

	drone_received(drone, "ipn:1.6", data, size);
	if (size < 2 || data[0] != 2)
		return 0;
	n = mavsum_unpack(data + 1, size - 1, 0, frame, sizeof(frame));
	if (n > 0) {
		struct mav_parser p;
		struct got g = { 0 };

		mav_parser_init(&p);
		mav_parser_push(&p, frame, (size_t)n, one, &g);
		CHECK(g.n == 1 && g.f.checked && g.f.msgid == MAV_MSG_HIGH_LATENCY2);
		CHECK(g.f.sysid == data[1] && g.f.compid == data[2]);
		CHECK(p.stats.bad_crc == 0);
	}
	return 0;
}
