/*
 * posfmt.c - positions on the air (posfmt.h).
 *
 * The payload, byte by byte ("v" is an unsigned LEB128 varint: 7 bits a
 * byte, low group first, high bit = more, at most 10 bytes; "z" a v of a
 * zigzag-coded signed value: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...):
 *
 *   H        bits 6-7  format version: 0
 *            bit 5     M: the newest fix has speed and course ("motion")
 *            bit 4     X follows
 *            bits 0-3  number of fixes - 1 (1..16)
 *   [X]      bit 0     A: every fix has "alt"
 *            bit 1     P: every fix has "eph"
 *            bit 2     S: every fix's "time" carries its stale flag
 *            bit 3     D: the fixes are of a drone (kind FIX_DRONE)
 *            bit 4     U: "unit" follows
 *            bit 5     T: "time" of the second and later fixes in seconds
 *            bits 6-7  zero
 *            (an X of 0 is not written: no X, all its bits 0)
 *   [unit]   1 byte length 1..31, then that many bytes of printable ASCII
 *   then each fix, oldest first; the first:
 *     position  7 bytes, big-endian 56 bits: latitude * 1e5 + 9000000 in the
 *               top 25 bits (0..18000000), longitude * 1e5 + 18000000 in the
 *               next 26 (0..36000000), the low 5 bits zero
 *     time      z (time - base) in 100 ms units, rounded; with S: that << 1
 *               | stale
 *   each later one, from the one before it (its rounded values):
 *     time      z difference in 100 ms units (T: seconds), with S << 1 | stale
 *     lat, lon  z difference in 1e-5 degree each
 *   and for each fix, after its time and position:
 *     [alt]     v 0: unknown, else z(altitude in metres, rounded) + 1
 *     [eph]     v 0: unknown, else metres rounded + 1 (at most 65535)
 *   and after the newest fix's fields, with M:
 *     motion    3 bytes, big-endian 24 bits: speed in 0.05 m/s in the top
 *               13 (0..8190; 8191: unknown), course in 0.18 degree in the
 *               low 11 (0..1999; 2047: unknown)
 *
 * Nothing may follow.  One plain fix (position, time, speed, course) is
 * H, 7 bytes of position, 1 of time (within 6.4 s of base) and 3 of motion:
 * 12 bytes.  A later fix of a walking unit 30 s after the one before is 3.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "posfmt.h"

#define H_VERSION	0xc0
#define H_MOTION	0x20
#define H_X		0x10
#define H_COUNT		0x0f
#define X_ALT		0x01
#define X_EPH		0x02
#define X_STALE		0x04
#define X_DRONE		0x08
#define X_UNIT		0x10
#define X_SECONDS	0x20
#define X_RESERVED	0xc0

#define LAT_OFF		9000000
#define LON_OFF		18000000
#define SPEED_Q		0.05
#define SPEED_UNKNOWN	8191
#define COURSE_Q	0.18
#define COURSE_N	2000
#define COURSE_UNKNOWN	2047
#define EPH_MAX		65534
#define ALT_MAX		1e6		/* metres either way */
#define TIME_Q		100		/* ms */
#define TICKS_MAX	(INT64_C(1) << 40)	/* 100 ms units either way: 3500 years */

/* ---- varints ---- */

struct wr {
	uint8_t *buf;
	size_t cap, len;	/* len counts on past cap */
};

static void
put_u8(struct wr *w, uint8_t b)
{
	if (w->len < w->cap)
		w->buf[w->len] = b;
	w->len++;
}

static void
put_v(struct wr *w, uint64_t v)
{
	while (v >= 0x80) {
		put_u8(w, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	put_u8(w, (uint8_t)v);
}

static uint64_t
zig(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t
unzig(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static void
put_z(struct wr *w, int64_t v)
{
	put_v(w, zig(v));
}

struct rd {
	const uint8_t *p, *end;
};

static int
get_u8(struct rd *r, uint8_t *b)
{
	if (r->p >= r->end)
		return -EBADMSG;
	*b = *r->p++;
	return 0;
}

static int
get_v(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 70; shift += 7) {
		uint8_t b;

		if (get_u8(r, &b) < 0)
			return -EBADMSG;
		/* The tenth byte holds bit 63 only. */
		if (shift == 63 && b > 1)
			return -EBADMSG;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -EBADMSG;
}

static int
get_z(struct rd *r, int64_t *v)
{
	uint64_t u;

	if (get_v(r, &u) < 0)
		return -EBADMSG;
	*v = unzig(u);
	return 0;
}

/* ---- encoder ---- */

/* Round-half-up division by q for any sign (q > 0), so shifts by whole units stay exact. */
static int64_t
div_round(int64_t x, int64_t q)
{
	int64_t y = x + q / 2;

	return y >= 0 ? y / q : -((-y + q - 1) / q);
}

/* What the encoder writes of a fix, in the payload's units. */
struct qfix {
	int64_t lat, lon, ticks;
	bool stale;
	bool has_alt, has_eph;
	int64_t alt;
	uint64_t eph;
};

static int
quantise(const struct fix *f, int64_t base_ms, struct qfix *q)
{
	if (!isfinite(f->lat) || !isfinite(f->lon) || fabs(f->lat) > 90 || fabs(f->lon) > 180)
		return -EINVAL;
	q->lat = llround(f->lat * 1e5);
	q->lon = llround(f->lon * 1e5);
	if (__builtin_sub_overflow(f->time_ms, base_ms, &q->ticks))
		return -EINVAL;
	q->ticks = div_round(q->ticks, TIME_Q);
	if (q->ticks > TICKS_MAX || q->ticks < -TICKS_MAX)
		return -EINVAL;
	q->stale = f->stale;
	q->has_alt = !isnan(f->alt);
	if (q->has_alt) {
		if (!(fabs(f->alt) <= ALT_MAX))
			return -EINVAL;
		q->alt = llround(f->alt);
	}
	q->has_eph = !isnan(f->eph);
	if (q->has_eph) {
		if (!(f->eph >= 0))
			return -EINVAL;
		/* An error estimate beyond 65 km says "no idea": keep it at the top. */
		q->eph = f->eph > EPH_MAX ? EPH_MAX : (uint64_t)llround(f->eph);
	}
	return 0;
}

static int
motion(const struct fix *f, uint32_t *m)
{
	uint32_t s = SPEED_UNKNOWN, c = COURSE_UNKNOWN;

	if (!isnan(f->speed)) {
		if (!(f->speed >= 0) || f->speed > POSFMT_SPEED_MAX)
			return -EINVAL;
		s = (uint32_t)lround(f->speed / SPEED_Q);
	}
	if (!isnan(f->course)) {
		double d;

		if (!isfinite(f->course))
			return -EINVAL;
		d = fmod(f->course, 360.0);
		if (d < 0)
			d += 360.0;
		c = (uint32_t)lround(d / COURSE_Q) % COURSE_N;
	}
	*m = s << 11 | c;
	return 0;
}

static int
unit_ok(const char *u, size_t *len)
{
	*len = strlen(u);
	if (*len > POSFMT_UNIT_MAX)
		return -EINVAL;
	for (size_t i = 0; i < *len; i++)
		if (u[i] < 0x20 || u[i] > 0x7e)
			return -EINVAL;
	return 0;
}

ssize_t
posfmt_encode(const struct fix *fixes, int n, int64_t base_ms, const char *unit_or_null, uint8_t *out,
    size_t cap)
{
	struct qfix q[POSFMT_MAX_FIXES];
	struct wr w = { .buf = out, .cap = out ? cap : 0 };
	const struct fix *last;
	uint8_t h, x = 0;
	bool any_motion;
	size_t ulen = 0;
	uint32_t m = 0;
	uint64_t pos;

	if (n < 1 || n > POSFMT_MAX_FIXES)
		return -EINVAL;
	last = &fixes[n - 1];
	if (unit_or_null && unit_or_null[0]) {
		if (unit_ok(unit_or_null, &ulen) < 0)
			return -EINVAL;
		x |= X_UNIT;
	}
	if (fixes[0].kind == FIX_DRONE)
		x |= X_DRONE;
	x |= X_SECONDS;
	for (int i = 0; i < n; i++) {
		if (fixes[i].kind != fixes[0].kind || quantise(&fixes[i], base_ms, &q[i]) < 0)
			return -EINVAL;
		if (q[i].has_alt)
			x |= X_ALT;
		if (q[i].has_eph)
			x |= X_EPH;
		if (q[i].stale)
			x |= X_STALE;
		if (i > 0 && (q[i].ticks - q[i - 1].ticks) % 10 != 0)
			x &= ~X_SECONDS;
	}
	/* Seconds only pay with a later fix; one fix alone needs no X for it. */
	if (n == 1)
		x &= ~X_SECONDS;
	any_motion = !isnan(last->speed) || !isnan(last->course);
	if (any_motion && motion(last, &m) < 0)
		return -EINVAL;

	h = (uint8_t)(n - 1) | (any_motion ? H_MOTION : 0) | (x ? H_X : 0);
	put_u8(&w, h);
	if (x)
		put_u8(&w, x);
	if (x & X_UNIT) {
		put_u8(&w, (uint8_t)ulen);
		for (size_t i = 0; i < ulen; i++)
			put_u8(&w, (uint8_t)unit_or_null[i]);
	}
	for (int i = 0; i < n; i++) {
		int64_t t;

		if (i == 0) {
			pos = (uint64_t)(q[0].lat + LAT_OFF) << 31 | (uint64_t)(q[0].lon + LON_OFF) << 5;
			for (int k = 6; k >= 0; k--)
				put_u8(&w, (uint8_t)(pos >> (8 * k)));
			t = q[0].ticks;
		} else {
			t = q[i].ticks - q[i - 1].ticks;
			if (x & X_SECONDS)
				t /= 10;
		}
		put_v(&w, x & X_STALE ? zig(t) << 1 | q[i].stale : zig(t));
		if (i > 0) {
			put_z(&w, q[i].lat - q[i - 1].lat);
			put_z(&w, q[i].lon - q[i - 1].lon);
		}
		if (x & X_ALT)
			put_v(&w, q[i].has_alt ? zig(q[i].alt) + 1 : 0);
		if (x & X_EPH)
			put_v(&w, q[i].has_eph ? q[i].eph + 1 : 0);
	}
	if (any_motion) {
		put_u8(&w, (uint8_t)(m >> 16));
		put_u8(&w, (uint8_t)(m >> 8));
		put_u8(&w, (uint8_t)m);
	}
	if (w.len > w.cap)
		return -ENOSPC;
	return (ssize_t)w.len;
}

/* ---- decoder ---- */

static int
decode_time(struct rd *r, uint8_t x, int64_t *t, bool *stale)
{
	uint64_t v;

	if (get_v(r, &v) < 0)
		return -EBADMSG;
	*stale = false;
	if (x & X_STALE) {
		*stale = v & 1;
		v >>= 1;
	}
	*t = unzig(v);
	if (*t > TICKS_MAX || *t < -TICKS_MAX)
		return -EBADMSG;
	return 0;
}

int
posfmt_decode(const uint8_t *in, size_t len, int64_t base_ms, struct fix *out, int cap, char *unit,
    size_t unitcap)
{
	struct rd r = { .p = in, .end = in + len };
	int64_t lat = 0, lon = 0, ticks = 0, ms;
	uint8_t h, x = 0, b;
	int n;

	if (unit && unitcap)
		unit[0] = '\0';
	if (get_u8(&r, &h) < 0 || (h & H_VERSION) != 0)
		return -EBADMSG;
	n = (h & H_COUNT) + 1;
	if (h & H_X) {
		if (get_u8(&r, &x) < 0 || x == 0 || (x & X_RESERVED))
			return -EBADMSG;
	}
	if (x & X_UNIT) {
		uint8_t ul;

		if (get_u8(&r, &ul) < 0 || ul < 1 || ul > POSFMT_UNIT_MAX || (size_t)(r.end - r.p) < ul)
			return -EBADMSG;
		for (unsigned i = 0; i < ul; i++)
			if (r.p[i] < 0x20 || r.p[i] > 0x7e)
				return -EBADMSG;
		if (unit && unitcap) {
			if (unitcap <= ul)
				return -ENOSPC;
			memcpy(unit, r.p, ul);
			unit[ul] = '\0';
		}
		r.p += ul;
	}
	if (n > cap)
		return -ENOSPC;
	for (int i = 0; i < n; i++) {
		struct fix *f = &out[i];
		int64_t t;
		bool stale;

		fix_init(f);
		f->kind = x & X_DRONE ? FIX_DRONE : FIX_PERSON;
		if (i == 0) {
			uint64_t pos = 0;

			for (int k = 0; k < 7; k++) {
				if (get_u8(&r, &b) < 0)
					return -EBADMSG;
				pos = pos << 8 | b;
			}
			if (pos & 0x1f)
				return -EBADMSG;
			lat = (int64_t)(pos >> 31) - LAT_OFF;
			lon = (int64_t)(pos >> 5 & 0x3ffffff) - LON_OFF;
			if (decode_time(&r, x, &ticks, &stale) < 0)
				return -EBADMSG;
		} else {
			int64_t dlat, dlon;

			if (decode_time(&r, x, &t, &stale) < 0)
				return -EBADMSG;
			if (x & X_SECONDS)
				t *= 10;
			ticks += t;
			if (get_z(&r, &dlat) < 0 || get_z(&r, &dlon) < 0)
				return -EBADMSG;
			/* Bounded before adding, so no sum can overflow. */
			if (dlat > 2 * LAT_OFF || dlat < -2 * LAT_OFF || dlon > 2 * LON_OFF || dlon < -2 * LON_OFF)
				return -EBADMSG;
			lat += dlat;
			lon += dlon;
		}
		if (lat > LAT_OFF || lat < -LAT_OFF || lon > LON_OFF || lon < -LON_OFF)
			return -EBADMSG;
		if (ticks > TICKS_MAX || ticks < -TICKS_MAX)
			return -EBADMSG;
		if (__builtin_add_overflow(base_ms, ticks * TIME_Q, &ms))
			return -EBADMSG;
		f->time_ms = ms;
		f->lat = (double)lat / 1e5;
		f->lon = (double)lon / 1e5;
		f->stale = stale;
		if (x & X_ALT) {
			uint64_t v;

			if (get_v(&r, &v) < 0)
				return -EBADMSG;
			if (v) {
				int64_t a = unzig(v - 1);

				if (a > ALT_MAX || a < -ALT_MAX)
					return -EBADMSG;
				f->alt = (double)a;
			}
		}
		if (x & X_EPH) {
			uint64_t v;

			if (get_v(&r, &v) < 0 || v > EPH_MAX + 1)
				return -EBADMSG;
			if (v)
				f->eph = (double)(v - 1);
		}
	}
	if (h & H_MOTION) {
		uint32_t m = 0, s, c;

		for (int k = 0; k < 3; k++) {
			if (get_u8(&r, &b) < 0)
				return -EBADMSG;
			m = m << 8 | b;
		}
		s = m >> 11;
		c = m & 0x7ff;
		if (c >= COURSE_N && c != COURSE_UNKNOWN)
			return -EBADMSG;
		if (s != SPEED_UNKNOWN)
			out[n - 1].speed = s * SPEED_Q;
		if (c != COURSE_UNKNOWN)
			out[n - 1].course = c * COURSE_Q;
	}
	if (r.p != r.end)
		return -EBADMSG;
	return n;
}
