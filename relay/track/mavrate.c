/*
 * mavrate.c - MAVLink rate limits per link class and message, and the
 * HIGH_LATENCY2 summary for narrow links (mavrate.h).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mavrate.h"

#define RATE_MAX	(LINK_CLASS_COUNT * 16 + TRACK_MAX_RATES)
#define SOURCE_SLOTS	256	/* (class, sysid, compid, msgid) we keep a time for */

struct rate {
	enum link_class cls;
	uint32_t msgid;
	double hz;
};

struct source {
	bool used;
	enum link_class cls;
	uint8_t sysid, compid;
	uint32_t msgid;
	int64_t next_ms;	/* the earliest the next one may pass */
	int64_t seen_ms;	/* last passed: the slot least recently used goes first */
};

struct mavrate {
	int n_rates;
	struct rate rates[RATE_MAX];
	struct source sources[SOURCE_SLOTS];
};

/* The defaults of mavrate.h's table. */
static const struct rate defaults[] = {
	{ LINK_MESH, MAV_MSG_HEARTBEAT, 1 },
	{ LINK_MESH, MAV_MSG_GLOBAL_POSITION_INT, 1 },
	{ LINK_MESH, MAV_MSG_ATTITUDE, 1 },
	{ LINK_MESH, MAV_MSG_SYS_STATUS, 1 },
	{ LINK_MESH, MAV_MSG_BATTERY_STATUS, 1 },
	{ LINK_MESH, MAV_MSG_VFR_HUD, 1 },
	{ LINK_MESH, MAV_MSG_GPS_RAW_INT, 1 },
	{ LINK_MESH, MAV_MSG_STATUSTEXT, 5 },
	{ LINK_IP, MAV_MSG_HEARTBEAT, 0.2 },
	{ LINK_IP, MAV_MSG_GLOBAL_POSITION_INT, 0.2 },
	{ LINK_IP, MAV_MSG_SYS_STATUS, 0.2 },
	{ LINK_IP, MAV_MSG_STATUSTEXT, 1 },
};

/* Set cls/msgid's limit, replacing an earlier one. */
static void
rate_set(struct mavrate *r, enum link_class cls, uint32_t msgid, double hz)
{
	for (int i = 0; i < r->n_rates; i++)
		if (r->rates[i].cls == cls && r->rates[i].msgid == msgid) {
			r->rates[i].hz = hz;
			return;
		}
	if (r->n_rates < RATE_MAX)
		r->rates[r->n_rates++] = (struct rate){ cls, msgid, hz };
}

struct mavrate *
mavrate_new(const struct track_conf *conf)
{
	struct mavrate *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		rate_set(r, defaults[i].cls, defaults[i].msgid, defaults[i].hz);
	for (int i = 0; conf && i < conf->n_rate; i++) {
		const struct track_rate *c = &conf->rate[i];

		if ((unsigned)c->cls >= LINK_CLASS_COUNT || !(c->hz >= 0)) {
			free(r);
			errno = EINVAL;
			return NULL;
		}
		rate_set(r, c->cls, c->msgid, c->hz);
	}
	return r;
}

void
mavrate_free(struct mavrate *r)
{
	free(r);
}

double
mavrate_hz(const struct mavrate *r, enum link_class cls, uint32_t msgid)
{
	for (int i = 0; i < r->n_rates; i++)
		if (r->rates[i].cls == cls && r->rates[i].msgid == msgid)
			return r->rates[i].hz;
	return 0;
}

bool
mavrate_summary_class(enum link_class cls)
{
	return cls == LINK_SATELLITE || cls == LINK_NARROWBAND;
}

static bool
source_is(const struct source *s, enum link_class cls, uint8_t sysid, uint8_t compid, uint32_t msgid)
{
	return s->used && s->cls == cls && s->sysid == sysid && s->compid == compid && s->msgid == msgid;
}

/* The slot of a source, or the one to reuse (empty, else least recently passed). */
static struct source *
source_slot(struct mavrate *r, enum link_class cls, uint8_t sysid, uint8_t compid, uint32_t msgid)
{
	struct source *victim = &r->sources[0];

	for (int i = 0; i < SOURCE_SLOTS; i++) {
		struct source *s = &r->sources[i];

		if (source_is(s, cls, sysid, compid, msgid))
			return s;
		if (!s->used) {
			if (victim->used)
				victim = s;
		} else if (victim->used && s->seen_ms < victim->seen_ms) {
			victim = s;
		}
	}
	return victim;
}

bool
mavrate_pass(struct mavrate *r, enum link_class cls, uint8_t sysid, uint8_t compid, uint32_t msgid,
    int64_t now_ms)
{
	double hz = mavrate_hz(r, cls, msgid);
	struct source *s;
	int64_t interval;

	if (!(hz > 0))
		return false;
	interval = hz >= 1000 ? 1 : (int64_t)llround(1000.0 / hz);
	s = source_slot(r, cls, sysid, compid, msgid);
	if (!source_is(s, cls, sysid, compid, msgid)) {
		*s = (struct source){ .used = true, .cls = cls, .sysid = sysid, .compid = compid, .msgid = msgid,
			.next_ms = now_ms };
	} else if (now_ms <= s->next_ms - interval / 2) {
		return false;
	}
	/*
	 * A message may come up to half an interval early: a source sending at
	 * exactly hz, with jitter, passes each one.  next_ms moves by at least
	 * an interval per pass, so the average stays at most hz and two passes
	 * are more than half an interval apart; a late one moves the grid (no
	 * credit saved up over a pause).
	 */
	s->next_ms += interval;
	if (s->next_ms < now_ms + interval)
		s->next_ms = now_ms + interval;
	s->seen_ms = now_ms;
	return true;
}

/* The summary. */

#define MAVSUM_DRONES	16

struct drone {
	bool used;
	uint8_t sysid, compid;
	bool have_pos, news;
	int64_t heard_ms;	/* last message, for reuse of the slot */
	int64_t due_ms;		/* next summary no sooner than this */
	struct mav_heartbeat hb;
	bool have_hb;
	struct mav_global_position_int pos;
	struct mav_attitude att;
	bool have_att;
	struct mav_vfr_hud hud;
	bool have_hud;
	int8_t battery;		/* % or -1 */
	bool battery_from_status;	/* BATTERY_STATUS seen: it wins over SYS_STATUS */
	uint32_t h_acc_mm, v_acc_mm;
};

struct mavsum {
	uint32_t interval_ms;
	struct drone drones[MAVSUM_DRONES];
};

struct mavsum *
mavsum_new(uint32_t interval_ms)
{
	struct mavsum *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->interval_ms = interval_ms;
	return s;
}

void
mavsum_free(struct mavsum *s)
{
	free(s);
}

static struct drone *
drone_slot(struct mavsum *s, uint8_t sysid)
{
	struct drone *victim = &s->drones[0];

	for (int i = 0; i < MAVSUM_DRONES; i++) {
		struct drone *d = &s->drones[i];

		if (d->used && d->sysid == sysid)
			return d;
		if (!d->used) {
			if (victim->used)
				victim = d;
		} else if (victim->used && d->heard_ms < victim->heard_ms) {
			victim = d;
		}
	}
	memset(victim, 0, sizeof(*victim));
	victim->used = true;
	victim->sysid = sysid;
	victim->battery = -1;
	return victim;
}

void
mavsum_update(struct mavsum *s, const struct mav_frame *f, int64_t now_ms)
{
	struct mav_sys_status ss;
	struct mav_battery_status bs;
	struct mav_gps_raw_int gps;
	struct drone *d;

	switch (f->msgid) {
	case MAV_MSG_HEARTBEAT: case MAV_MSG_GLOBAL_POSITION_INT: case MAV_MSG_ATTITUDE:
	case MAV_MSG_VFR_HUD: case MAV_MSG_SYS_STATUS: case MAV_MSG_BATTERY_STATUS: case MAV_MSG_GPS_RAW_INT:
		break;
	default:
		return;
	}
	if (!f->checked)
		return;
	d = drone_slot(s, f->sysid);
	d->heard_ms = now_ms;
	switch (f->msgid) {
	case MAV_MSG_HEARTBEAT:
		mav_decode_heartbeat(f, &d->hb);
		d->have_hb = true;
		break;
	case MAV_MSG_GLOBAL_POSITION_INT:
		mav_decode_global_position_int(f, &d->pos);
		if (d->pos.lat == 0 && d->pos.lon == 0)
			return;
		if (!d->have_pos)
			d->due_ms = now_ms;	/* the first summary as soon as there is a position */
		d->have_pos = true;
		d->compid = f->compid;
		break;
	case MAV_MSG_ATTITUDE:
		mav_decode_attitude(f, &d->att);
		d->have_att = true;
		break;
	case MAV_MSG_VFR_HUD:
		mav_decode_vfr_hud(f, &d->hud);
		d->have_hud = true;
		break;
	case MAV_MSG_SYS_STATUS:
		mav_decode_sys_status(f, &ss);
		if (!d->battery_from_status)
			d->battery = ss.battery_remaining;
		break;
	case MAV_MSG_BATTERY_STATUS:
		mav_decode_battery_status(f, &bs);
		/* The first battery (id 0) speaks for the drone. */
		if (bs.id == 0) {
			d->battery = bs.battery_remaining;
			d->battery_from_status = true;
		}
		break;
	case MAV_MSG_GPS_RAW_INT:
		mav_decode_gps_raw_int(f, &gps);
		d->h_acc_mm = gps.h_acc;
		d->v_acc_mm = gps.v_acc;
		break;
	}
	d->news = true;
}

int64_t
mavsum_next_due(const struct mavsum *s)
{
	int64_t due = INT64_MAX;

	for (int i = 0; i < MAVSUM_DRONES; i++) {
		const struct drone *d = &s->drones[i];

		if (d->used && d->have_pos && d->news && d->due_ms < due)
			due = d->due_ms;
	}
	return due;
}

static uint8_t
clamp_u8(double v)
{
	if (!(v > 0))
		return 0;
	return v >= 255 ? 255 : (uint8_t)lround(v);
}

static int8_t
clamp_i8(double v)
{
	if (isnan(v))
		return 0;
	if (v <= -128)
		return -128;
	return v >= 127 ? 127 : (int8_t)lround(v);
}

static int16_t
clamp_i16(double v)
{
	if (v <= INT16_MIN)
		return INT16_MIN;
	return v >= INT16_MAX ? INT16_MAX : (int16_t)lround(v);
}

/* deg/2, 0..179, of a heading in degrees. */
static uint8_t
half_degrees(double deg)
{
	deg = fmod(deg, 360.0);
	if (deg < 0)
		deg += 360.0;
	return (uint8_t)((int)lround(deg / 2) % 180);
}

static void
summarise(const struct drone *d, struct mav_high_latency2 *hl)
{
	double gs = sqrt((double)d->pos.vx * d->pos.vx + (double)d->pos.vy * d->pos.vy) / 100.0;

	memset(hl, 0, sizeof(*hl));
	hl->timestamp = d->pos.time_boot_ms;
	hl->latitude = d->pos.lat;
	hl->longitude = d->pos.lon;
	hl->altitude = clamp_i16(d->pos.alt / 1000.0);
	if (d->have_hb) {
		hl->type = d->hb.type;
		hl->autopilot = d->hb.autopilot;
		hl->custom_mode = (uint16_t)d->hb.custom_mode;
	}
	if (d->pos.hdg != UINT16_MAX)
		hl->heading = half_degrees(d->pos.hdg / 100.0);
	else if (d->have_hud)
		hl->heading = half_degrees(d->hud.heading);
	else if (d->have_att)
		hl->heading = half_degrees(d->att.yaw * 180.0 / M_PI);
	if (d->have_hud) {
		hl->airspeed = clamp_u8(d->hud.airspeed * 5);
		hl->groundspeed = clamp_u8(d->hud.groundspeed * 5);
		hl->throttle = clamp_u8(d->hud.throttle > 100 ? 100 : d->hud.throttle);
		hl->climb_rate = clamp_i8(d->hud.climb * 10);
	} else {
		hl->groundspeed = clamp_u8(gs * 5);
		hl->climb_rate = clamp_i8(-d->pos.vz / 10.0);
	}
	hl->eph = clamp_u8(d->h_acc_mm / 100.0);
	hl->epv = clamp_u8(d->v_acc_mm / 100.0);
	hl->battery = d->battery;
}

int
mavsum_emit(struct mavsum *s, int64_t now_ms, struct mav_high_latency2 *hl, uint8_t *sysid, uint8_t *compid)
{
	struct drone *best = NULL;

	for (int i = 0; i < MAVSUM_DRONES; i++) {
		struct drone *d = &s->drones[i];

		if (d->used && d->have_pos && d->news && d->due_ms <= now_ms && (!best || d->due_ms < best->due_ms))
			best = d;
	}
	if (!best)
		return 0;
	summarise(best, hl);
	*sysid = best->sysid;
	*compid = best->compid;
	best->news = false;
	best->due_ms = now_ms + s->interval_ms;
	return 1;
}

ssize_t
mavsum_pack(const struct mav_high_latency2 *hl, uint8_t sysid, uint8_t compid, uint8_t *buf, size_t cap)
{
	uint8_t p[MAV_LEN_HIGH_LATENCY2];
	size_t len = mav_encode_high_latency2(hl, p);

	while (len > 1 && p[len - 1] == 0)
		len--;
	if (cap < 2 + len)
		return -ENOSPC;
	buf[0] = sysid;
	buf[1] = compid;
	memcpy(buf + 2, p, len);
	return (ssize_t)(2 + len);
}

ssize_t
mavsum_unpack(const uint8_t *p, size_t n, uint8_t seq, uint8_t *frame, size_t cap)
{
	uint8_t pl[MAV_LEN_HIGH_LATENCY2] = { 0 };

	if (n < 3 || n > MAVSUM_PACKED_MAX)
		return -EINVAL;
	memcpy(pl, p + 2, n - 2);
	return mav_build_v2(frame, cap, seq, p[0], p[1], MAV_MSG_HIGH_LATENCY2, pl, sizeof(pl));
}
