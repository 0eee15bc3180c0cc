/*
 * drone.c - the drones this node hears, and the telemetry of others'
 * (drone.h).
 *
 * A telemetry bundle's payload (service 6, class telemetry), byte by byte:
 *
 *   0      what it holds: DRONE_TEL_FRAMES or DRONE_TEL_SUMMARY
 *   FRAMES 1..  MAVLink v1/v2 frames as the drone sent them, back to back
 *               (what passed the mesh rate limits in the last second; of a
 *               message limited to once a second or less, the newest only)
 *   SUMMARY 1.. a HIGH_LATENCY2 packed by mavsum_pack (sysid, compid, the
 *               payload without trailing zeros): at most 45 bytes
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drone.h"
#include "hostport.h"
#include "mavio.h"
#include "mavlink.h"
#include "mavrate.h"

#define DRONE_TEL_FRAMES	1
#define DRONE_TEL_SUMMARY	2
#define BATCH_MS		1000	/* mesh telemetry: one bundle a second */
#define BATCH_MAX		2048
#define BATCH_FRAMES		(BATCH_MAX / 8)	/* a frame is at least 8 bytes */

/* A frame in the batch: whose, which, where. */
struct batched {
	uint8_t sysid, compid;
	uint32_t msgid;
	uint16_t off, len;
};

struct drone_one {
	uint8_t sysid;
	struct posout pos;
};

struct drone {
	struct drone_ops ops;
	void *arg;
	struct mavio *in[TRACK_MAX_MAVLINK];
	int n_in;
	struct mavio *out[TRACK_MAX_MAVLINK];
	int n_out;
	struct mavrate *rate;
	struct mavsum *sum;
	enum link_class cls;
	char unit[64];
	uint64_t node;
	struct drone_one drones[DRONE_MAX];
	int n_drones;
	uint8_t batch[BATCH_MAX];
	size_t batch_len;
	struct batched frames[BATCH_FRAMES];
	int n_frames;
	int64_t batch_due;
	uint8_t seq;			/* of the frames we build (summaries) */
	bool said_full;
};

static void say(struct drone *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
say(struct drone *d, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (d->ops.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->ops.log(d->arg, msg);
}

struct drone *
drone_new(const struct track_conf *cf, const struct drone_ops *ops, void *arg, char *err, size_t errlen)
{
	struct drone *d = calloc(1, sizeof(*d));
	int64_t now = now_mono_ms();

	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->ops = *ops;
	d->arg = arg;
	d->cls = LINK_MESH;
	d->batch_due = INT64_MAX;
	if ((d->rate = mavrate_new(cf)) == NULL || (d->sum = mavsum_new(cf->summary_ms)) == NULL) {
		snprintf(err, errlen, "MAVLink rates: %s", strerror(errno));
		goto fail;
	}
	for (int i = 0; i < cf->n_mavlink; i++) {
		if ((d->in[d->n_in] = mavio_new(&cf->mavlink[i], now)) == NULL) {
			snprintf(err, errlen, "mavlink = %s %s: %s",
			    cf->mavlink[i].kind == MAV_LISTEN ? "listen" : cf->mavlink[i].kind == MAV_CONNECT ?
			    "connect" : "tlog", cf->mavlink[i].addr, strerror(errno));
			goto fail;
		}
		d->n_in++;
	}
	for (int i = 0; i < cf->n_mavlink_out; i++) {
		if ((d->out[d->n_out] = mavio_connect(cf->mavlink_out[i])) == NULL) {
			snprintf(err, errlen, "mavlink_out = %s: %s", cf->mavlink_out[i], strerror(errno));
			goto fail;
		}
		d->n_out++;
	}
	return d;
fail:
	drone_free(d);
	return NULL;
}

void
drone_free(struct drone *d)
{
	if (d == NULL)
		return;
	for (int i = 0; i < d->n_in; i++)
		mavio_free(d->in[i]);
	for (int i = 0; i < d->n_out; i++)
		mavio_free(d->out[i]);
	mavrate_free(d->rate);
	mavsum_free(d->sum);
	free(d);
}

void
drone_set_node(struct drone *d, uint64_t node, const char *unit)
{
	d->node = node;
	snprintf(d->unit, sizeof(d->unit), "%s", unit);
	for (int i = 0; i < d->n_drones; i++)
		snprintf(d->drones[i].pos.unit, sizeof(d->drones[i].pos.unit), "%.50s/drone%u", unit,
		    d->drones[i].sysid);
}

void
drone_set_class(struct drone *d, enum link_class cls)
{
	d->cls = cls;
}

static struct drone_one *
drone_of(struct drone *d, uint8_t sysid)
{
	char name[64];

	for (int i = 0; i < d->n_drones; i++)
		if (d->drones[i].sysid == sysid)
			return &d->drones[i];
	if (d->n_drones == DRONE_MAX) {
		if (!d->said_full)
			say(d, "MAVLink: more than %d systems; system %u is not tracked", DRONE_MAX, sysid);
		d->said_full = true;
		return NULL;
	}
	struct drone_one *o = &d->drones[d->n_drones++];

	o->sysid = sysid;
	snprintf(name, sizeof(name), "%.50s/drone%u", d->unit[0] ? d->unit : "node", sysid);
	posout_init(&o->pos, name, false);
	say(d, "MAVLink: system %u heard, tracked as '%s'", sysid, name);
	return o;
}

/* Send what the batch holds as one telemetry bundle. */
static void
flush_batch(struct drone *d)
{
	if (d->batch_len > 1)
		d->ops.telemetry(d->arg, d->batch, d->batch_len);
	d->batch_len = 0;
	d->n_frames = 0;
	d->batch_due = INT64_MAX;
}

/*
 * Take the batch's frame of f's source and message out, if it has one: a
 * message limited to once a batch or less goes as its newest.  The rate
 * limit lets a pass come up to half an interval early, so two may pass in
 * one batch; sent together they would reach the ground station back to back.
 */
static void
batch_supersede(struct drone *d, const struct mav_frame *f)
{
	for (int i = 0; i < d->n_frames; i++) {
		struct batched *b = &d->frames[i];

		if (b->sysid != f->sysid || b->compid != f->compid || b->msgid != f->msgid)
			continue;
		size_t end = (size_t)b->off + b->len;
		uint16_t gone = b->len;

		memmove(d->batch + b->off, d->batch + end, d->batch_len - end);
		d->batch_len -= gone;
		memmove(b, b + 1, (size_t)(d->n_frames - i - 1) * sizeof(*b));
		d->n_frames--;
		for (int k = i; k < d->n_frames; k++)
			d->frames[k].off -= gone;
		return;
	}
}

static void
on_frame(struct mavio *e, const struct mav_frame *f, const struct mavio_rx *rx, void *arg)
{
	struct drone *d = arg;
	int64_t now = now_mono_ms();

	(void)e;
	if (f->msgid == MAV_MSG_GLOBAL_POSITION_INT) {
		struct mav_global_position_int m;
		struct drone_one *o;
		struct fix fx;

		if (mav_decode_global_position_int(f, &m) == 0 && mav_position_fix(&m, rx->wall_ms, &fx) == 0 &&
		    (o = drone_of(d, f->sysid)) != NULL)
			d->ops.fix(d->arg, &o->pos, &fx);
	}
	mavsum_update(d->sum, f, now);
	if (mavrate_summary_class(d->cls) || !mavrate_pass(d->rate, d->cls, f->sysid, f->compid, f->msgid, now))
		return;
	if (mavrate_hz(d->rate, d->cls, f->msgid) * BATCH_MS <= 1000)
		batch_supersede(d, f);
	if (d->batch_len + f->raw_len > sizeof(d->batch) || d->n_frames == BATCH_FRAMES)
		flush_batch(d);
	if (d->batch_len == 0) {
		d->batch[d->batch_len++] = DRONE_TEL_FRAMES;
		d->batch_due = now + BATCH_MS;
	}
	d->frames[d->n_frames++] = (struct batched){ .sysid = f->sysid, .compid = f->compid, .msgid = f->msgid,
		.off = (uint16_t)d->batch_len, .len = (uint16_t)f->raw_len };
	memcpy(d->batch + d->batch_len, f->raw, f->raw_len);
	d->batch_len += f->raw_len;
}

int
drone_pollfds(struct drone *d, struct pollfd *pf, int cap)
{
	int n = 0;

	for (int i = 0; i < d->n_in && n < cap; i++)
		pf[n++] = (struct pollfd){ .fd = mavio_fd(d->in[i]), .events = POLLIN };
	return n;
}

void
drone_read(struct drone *d, const struct pollfd *pf, int n, int64_t now_ms)
{
	for (int i = 0; i < d->n_in; i++) {
		bool ready = i < n && pf[i].fd >= 0 && pf[i].revents;

		if (ready || mavio_next_deadline(d->in[i]) <= now_ms)
			mavio_read(d->in[i], now_ms, on_frame, d);
	}
}

void
drone_tick(struct drone *d, int64_t now_ms)
{
	struct mav_high_latency2 hl;
	uint8_t buf[1 + MAVSUM_PACKED_MAX], sysid, compid;

	if (mavrate_summary_class(d->cls)) {
		/*
		 * The link narrowed while frames waited: they would take seconds of
		 * a narrowband radio's air; the summary says what they said.
		 */
		d->batch_len = 0;
		d->n_frames = 0;
		d->batch_due = INT64_MAX;
	} else if (now_ms >= d->batch_due) {
		flush_batch(d);
	}
	if (!mavrate_summary_class(d->cls))
		return;
	while (mavsum_emit(d->sum, now_ms, &hl, &sysid, &compid) == 1) {
		ssize_t n = mavsum_pack(&hl, sysid, compid, buf + 1, sizeof(buf) - 1);

		if (n <= 0)
			continue;
		buf[0] = DRONE_TEL_SUMMARY;
		d->ops.telemetry(d->arg, buf, (size_t)n + 1);
	}
}

int64_t
drone_deadline(const struct drone *d)
{
	int64_t t = d->batch_due;

	for (int i = 0; i < d->n_in; i++) {
		int64_t x = mavio_next_deadline(d->in[i]);

		if (x < t)
			t = x;
	}
	if (mavrate_summary_class(d->cls)) {
		int64_t s = mavsum_next_due(d->sum);

		if (s < t)
			t = s;
	}
	return t;
}

/* Re-emit one frame to every ground station. */
static void
emit(struct drone *d, const uint8_t *frame, size_t len)
{
	for (int i = 0; i < d->n_out; i++)
		mavio_send(d->out[i], frame, len);
}

struct emit_ctx {
	struct drone *d;
	int frames;
};

static void
emit_frame(const struct mav_frame *f, void *arg)
{
	struct emit_ctx *x = arg;

	emit(x->d, f->raw, f->raw_len);
	x->frames++;
}

void
drone_received(struct drone *d, const char *src, const uint8_t *data, size_t len)
{
	if (len < 2) {
		say(d, "telemetry from %s: %zu bytes, not telemetry: dropped", src, len);
		return;
	}
	if (data[0] == DRONE_TEL_FRAMES) {
		struct mav_parser p;
		struct emit_ctx x = { d, 0 };

		mav_parser_init(&p);
		mav_parser_push(&p, data + 1, len - 1, emit_frame, &x);
		if (x.frames == 0)
			say(d, "telemetry from %s: no MAVLink frame in %zu bytes: dropped", src, len);
		return;
	}
	if (data[0] == DRONE_TEL_SUMMARY) {
		uint8_t frame[MAV_FRAME_MAX];
		ssize_t n = mavsum_unpack(data + 1, len - 1, d->seq++, frame, sizeof(frame));

		if (n > 0)
			emit(d, frame, (size_t)n);
		else
			say(d, "telemetry from %s: a summary that does not unpack: dropped", src);
		return;
	}
	say(d, "telemetry from %s: unknown kind %u: dropped", src, data[0]);
}
