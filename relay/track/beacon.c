/*
 * beacon.c - when to send this unit's position (beacon.h).
 */
#include <math.h>
#include <string.h>

#include "beacon.h"
#include "geo.h"

#define MPH	0.44704		/* m/s */

void
beacon_init(struct beacon *b)
{
	memset(b, 0, sizeof(*b));
	fix_init(&b->last);
}

bool
beacon_predict(const struct beacon *b, int64_t now_ms, double *lat, double *lon)
{
	const struct fix *f = &b->last, *p = &b->prev;
	double dt, speed, course;
	int64_t span;

	if (!b->sent)
		return false;
	*lat = f->lat;
	*lon = f->lon;
	dt = (double)(now_ms - f->time_ms) / 1000.0;
	if (!(dt > 0))
		return true;
	/* Further on than this, a guess of where it went is worse than where it was last seen going. */
	if (dt > BEACON_PREDICT_MAX_MS / 1000.0)
		dt = BEACON_PREDICT_MAX_MS / 1000.0;
	if (!isnan(f->speed) && !isnan(f->course)) {
		speed = f->speed;
		course = f->course;
	} else {
		/* The line through the last two; a clock that went back between them says nothing. */
		span = f->time_ms - p->time_ms;
		if (!b->have_prev || span <= 0 || span >= BEACON_LINEAR_MAX_MS)
			return true;
		speed = geo_distance(p->lat, p->lon, f->lat, f->lon) / ((double)span / 1000.0);
		course = geo_bearing(p->lat, p->lon, f->lat, f->lon);
	}
	/* !(x >= y) also holds for NAN. */
	if (!(speed >= BEACON_DR_MIN_SPEED))
		return true;
	geo_destination(f->lat, f->lon, course, speed * dt, lat, lon);
	return true;
}

bool
beacon_due(const struct beacon *b, const struct fix *f, int64_t now_ms, double error_m, uint32_t min_ms,
    uint32_t max_ms)
{
	double lat, lon;
	int64_t since;

	if (!b->sent)
		return true;
	since = now_ms - b->last_ms;
	/* The clock went back past the last send (a GPS time jump): start over rather than fall silent. */
	if (since < 0 || since >= (int64_t)max_ms)
		return true;
	if (since < (int64_t)min_ms)
		return false;
	beacon_predict(b, f->time_ms, &lat, &lon);
	return geo_distance(lat, lon, f->lat, f->lon) > error_m;
}

void
beacon_sent(struct beacon *b, const struct fix *f)
{
	if (b->sent) {
		b->prev = b->last;
		b->have_prev = true;
	}
	b->sent = true;
	b->last = *f;
	b->last_ms = f->time_ms;
}

bool
beacon_fixed_due(const struct beacon *b, int64_t now_ms, uint32_t every_ms)
{
	return !b->sent || now_ms - b->last_ms >= (int64_t)every_ms;
}

/* ---- SmartBeaconing ---- */

void
beacon_smart_init(struct beacon_smart *s)
{
	memset(s, 0, sizeof(*s));
	/* Direwolf's defaults (its config.c): 60 mph / 180 s, 5 mph / 1800 s, 30 deg, 15 s, 255. */
	s->fast_speed = 60 * MPH;
	s->fast_ms = 180 * 1000;
	s->slow_speed = 5 * MPH;
	s->slow_ms = 1800 * 1000;
	s->turn_min = 30;
	s->turn_ms = 15 * 1000;
	s->turn_slope = 255;
	s->last_course = NAN;
}

uint32_t
beacon_smart_rate(const struct beacon_smart *s, double speed)
{
	/* Direwolf rounds the rate to whole seconds: so do we. */
	if (isnan(speed))
		return (uint32_t)lround((s->fast_ms + s->slow_ms) / 2000.0) * 1000;
	if (speed > s->fast_speed)
		return s->fast_ms;
	if (speed < s->slow_speed)
		return s->slow_ms;
	return (uint32_t)lround(s->fast_ms / 1000.0 * s->fast_speed / speed) * 1000;
}

/* Heading change between two courses, 0..180. */
static double
heading_change(double a, double b)
{
	double d = fabs(a - b);

	return d <= 180 ? d : 360 - d;
}

bool
beacon_smart_due(const struct beacon_smart *s, const struct fix *f, int64_t now_ms)
{
	double mph = f->speed / MPH;

	if (!s->sent)
		return true;
	if (now_ms >= s->last_ms + (int64_t)beacon_smart_rate(s, f->speed))
		return true;
	/* Corner pegging, when moving at 1 mph or more with a course now and at the last send. */
	if (mph >= 1.0 && !isnan(f->course) && !isnan(s->last_course) &&
	    heading_change(f->course, s->last_course) > s->turn_min + s->turn_slope / mph &&
	    now_ms >= s->last_ms + (int64_t)s->turn_ms)
		return true;
	return false;
}

void
beacon_smart_sent(struct beacon_smart *s, const struct fix *f, int64_t now_ms)
{
	s->sent = true;
	s->last_ms = now_ms;
	s->last_course = f->course;
}
