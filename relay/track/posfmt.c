/*
 * posfmt.c - positions on the air (posfmt.h), format 2.
 *
 * A payload is one of two forms, told apart by the top bit of its first
 * byte.
 *
 * The plain form (top bit 0): one fix, nothing else, exactly 6 bytes,
 * big-endian 48 bits:
 *
 *   bit 47       0
 *   bits 45-46   the fix's whole Unix seconds modulo 4; the decoder takes
 *                the latest such time not later than its reference + 1 s
 *   bits 0-44    lat_i * 8372094 + lon_i (less than 2^45), where
 *                lat_i = (latitude + 90) / 4.3e-5, rounded, 90 degrees
 *                itself taken as 4186046 (0..4186046), and
 *                lon_i = (longitude + 180) / 4.3e-5, rounded, modulo
 *                8372094 (0..8372093); a larger lat_i is malformed
 *
 *   The encoder uses it for a single fix without alt, eph, speed, course,
 *   stale flag, drone kind or unit name, on a whole second, 0 to 2.5 s
 *   (POSFMT_PLAIN_MS) before now_ms.  A receiver whose reference is the
 *   bundle's creation time made 1 s before to 0.5 s after that clock
 *   decodes the exact time.  Each coordinate is at most 2.15e-5 degree
 *   (2.4 m) off, the point at most 3.4 m (POSFMT_PLAIN_ERROR_M).
 *
 * The extended form (top bit 1), byte by byte ("v" is an unsigned LEB128
 * varint: 7 bits a byte, low group first, high bit = more, at most 10
 * bytes; "z" a v of a zigzag-coded signed value: 0, -1, 1, -2, ... -> 0,
 * 1, 2, 3, ...).  The newest fix goes first, whole; each older one after it
 * as the difference from the one after it in time.
 *
 *   H        bit 7     1
 *            bits 0-6  the newest fix's time: its whole Unix seconds
 *                      modulo 128 (the same as since 2020-01-01, a
 *                      multiple of 128 seconds after the Unix epoch)
 *   E        bit 0     M: motion (speed and course of the newest) follows
 *            bit 1     N: count follows (a batch of 2 or more)
 *            bit 2     A: absolute time follows
 *            bit 3     T: tenths follow (the newest fix's time is not whole)
 *            bit 4     F: the older fixes' time steps are in 100 ms, not s
 *            bit 5     X follows
 *            bits 6-7  zero (a later format); an E of 0 is a single fix
 *                      with nothing else, within 50 s of now but not in
 *                      the plain form's 2.5 s
 *   [X]      bit 0     L: every fix has "alt"
 *            bit 1     P: every fix has "eph"
 *            bit 2     S: "stale" follows at the end
 *            bit 3     D: the fixes are of a drone (kind FIX_DRONE)
 *            bit 4     U: "unit" follows
 *            bits 5-7  zero; an X of 0 is not written
 *   [unit]   1 byte length 1..31, then that many bytes of printable ASCII
 *   [count]  1 byte: number of fixes - 2 (0..30)
 *   [abs]    z: (seconds since 2020-01-01 - H's 7 bits) / 128, so that the
 *            time is 2020-01-01 + abs * 128 + H's 7 bits seconds; without A
 *            the decoder takes the latest such time not later than its
 *            reference + 60 s
 *   [tenths] 1 byte 1..9: tenths of a second on top
 *   position 6 bytes, big-endian 48 bits: lat_i * 18000001 + lon_i, where
 *            lat_i = (latitude + 90) / 2e-5 (0..9000000) and
 *            lon_i = (longitude + 180) / 2e-5 (0..18000000), rounded
 *   [alt]    (L) v 0: unknown, else z(altitude in metres, rounded) + 1
 *   [eph]    (P) v 0: unknown, else metres rounded + 1 (at most 65535)
 *   [motion] 3 bytes, big-endian 24 bits: speed in 0.05 m/s in the top 13
 *            (0..8190; 8191: unknown), course in 0.18 degree in the low 11
 *            (0..1999; 2047: unknown)
 *   then each older fix, newest first, from the one after it:
 *     dt        v how much earlier, in seconds (F: 100 ms)
 *     lat, lon  z its lat_i, lon_i minus those of the one after it
 *     [alt] [eph] as above
 *   [stale]  (S) ceil(n / 8) bytes, bit k (byte k / 8, bit k % 8) the stale
 *            flag of the k-th fix in the payload's order (0: the newest);
 *            the bits past the last fix zero
 *
 * Nothing may follow.  One plain fix just taken: 6 bytes (35 B on a
 * narrowband KISS link, tests/unit/test_track_onair.c); one within 50 s of
 * now 8; with speed and course 11.  A later fix of a walking unit 30 s
 * before the next is 3.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "posfmt.h"

#define H_EXT		0x80
#define H_TIME		0x7f
#define E_MOTION	0x01
#define E_COUNT		0x02
#define E_ABS		0x04
#define E_TENTHS	0x08
#define E_FINE		0x10
#define E_X		0x20
#define E_RESERVED	0xc0
#define X_ALT		0x01
#define X_EPH		0x02
#define X_STALE		0x04
#define X_DRONE		0x08
#define X_UNIT		0x10
#define X_RESERVED	0xe0

#define Q		50000		/* steps of 2e-5 degree in a degree */
#define LAT_N		9000000		/* the largest lat_i */
#define LON_N		18000000	/* the largest lon_i */
#define SPEED_Q		0.05
#define SPEED_UNKNOWN	8191
#define COURSE_Q	0.18
#define COURSE_N	2000
#define COURSE_UNKNOWN	2047
#define EPH_MAX		65534
#define ALT_MAX		1e6		/* metres either way */
#define TICK_MS		100
#define TICKS_MAX	(INT64_C(1) << 40)	/* 100 ms units from the Unix epoch either way: 3500 years */
#define Y2020_S		INT64_C(1577836800)	/* 2020-01-01T00:00:00Z, 128 * 12326850 */
#define LATE_S		60		/* the decoder's window ends this long after its reference */
#define PLAIN_LEN	6
#define PLAIN_TIME_SHIFT 45
#define PLAIN_STEP	43		/* the plain form's step, in 1e-6 degree */
#define PLAIN_LAT_MAX	4186046		/* the largest lat_i of the plain form, 90 degrees taken as it */
#define PLAIN_LON_N	8372094		/* lon_i of the plain form modulo this */
#define PLAIN_LATE_MS	1000		/* its decoder's window ends this long after its reference */

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

/* Floor division and the matching non-negative remainder (q > 0). */
static int64_t
floor_div(int64_t x, int64_t q)
{
	return x >= 0 ? x / q : -((-(x + 1)) / q) - 1;
}

static int64_t
floor_mod(int64_t x, int64_t q)
{
	return x - floor_div(x, q) * q;
}

/* ---- encoder ---- */

/* What the encoder writes of a fix, in the payload's units. */
struct qfix {
	int64_t lat, lon, ticks;
	bool stale;
	bool has_alt, has_eph;
	int64_t alt;
	uint64_t eph;
};

static int
quantise(const struct fix *f, struct qfix *q)
{
	if (!isfinite(f->lat) || !isfinite(f->lon) || fabs(f->lat) > 90 || fabs(f->lon) > 180)
		return -EINVAL;
	q->lat = llround(f->lat * Q) + LAT_N / 2;
	q->lon = llround(f->lon * Q) + LON_N / 2;
	/* Rounded to the nearest 100 ms, half up, for either sign. */
	if (f->time_ms > TICKS_MAX * TICK_MS || f->time_ms < -TICKS_MAX * TICK_MS)
		return -EINVAL;
	q->ticks = floor_div(f->time_ms + TICK_MS / 2, TICK_MS);
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

/* Whether the newest fix's time (ticks) is within POSFMT_NEAR_MS of now_ms, without overflow. */
static bool
near_now(int64_t ticks, int64_t now_ms)
{
	int64_t d;

	if (__builtin_sub_overflow(now_ms, ticks * TICK_MS, &d))
		return false;
	return d <= POSFMT_NEAR_MS && d >= -POSFMT_NEAR_MS;
}

/* Whether a fix at whole second sec may go in the plain form: 0 to POSFMT_PLAIN_MS before now_ms. */
static bool
plain_now(int64_t sec, int64_t now_ms)
{
	int64_t d;

	if (__builtin_sub_overflow(now_ms, sec * 1000, &d))
		return false;
	return d >= 0 && d <= POSFMT_PLAIN_MS;
}

/* The plain form's 45 bits of position (fields checked by quantise()). */
static uint64_t
plain_pos(const struct fix *f)
{
	int64_t lat = llround((f->lat + 90) * 1e6 / PLAIN_STEP);
	int64_t lon = llround((f->lon + 180) * 1e6 / PLAIN_STEP) % PLAIN_LON_N;

	if (lat > PLAIN_LAT_MAX)
		lat = PLAIN_LAT_MAX;
	return (uint64_t)lat * PLAIN_LON_N + (uint64_t)lon;
}

static void
put_extras(struct wr *w, uint8_t x, const struct qfix *q)
{
	if (x & X_ALT)
		put_v(w, q->has_alt ? zig(q->alt) + 1 : 0);
	if (x & X_EPH)
		put_v(w, q->has_eph ? q->eph + 1 : 0);
}

ssize_t
posfmt_encode(const struct fix *fixes, int n, int64_t now_ms, const char *unit_or_null, uint8_t *out,
    size_t cap)
{
	struct qfix q[POSFMT_MAX_FIXES];
	struct wr w = { .buf = out, .cap = out ? cap : 0 };
	const struct fix *last;
	const struct qfix *nq;
	uint8_t e = 0, x = 0;
	int64_t sec, tenth;
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
	for (int i = 0; i < n; i++) {
		if (fixes[i].kind != fixes[0].kind || quantise(&fixes[i], &q[i]) < 0)
			return -EINVAL;
		if (q[i].has_alt)
			x |= X_ALT;
		if (q[i].has_eph)
			x |= X_EPH;
		if (q[i].stale)
			x |= X_STALE;
		if (i > 0 && q[i].ticks < q[i - 1].ticks)
			return -EINVAL;
		if (i > 0 && (q[i].ticks - q[i - 1].ticks) % 10 != 0)
			e |= E_FINE;
	}
	nq = &q[n - 1];
	sec = floor_div(nq->ticks, 10);
	tenth = nq->ticks - sec * 10;
	if (!isnan(last->speed) || !isnan(last->course)) {
		if (motion(last, &m) < 0)
			return -EINVAL;
		e |= E_MOTION;
	}
	if (n > 1)
		e |= E_COUNT;
	if (tenth)
		e |= E_TENTHS;
	if (x)
		e |= E_X;
	if (!e && plain_now(sec, now_ms)) {
		pos = (uint64_t)floor_mod(sec, 4) << PLAIN_TIME_SHIFT | plain_pos(last);
		for (int k = PLAIN_LEN - 1; k >= 0; k--)
			put_u8(&w, (uint8_t)(pos >> (8 * k)));
		return w.len > w.cap ? -ENOSPC : (ssize_t)w.len;
	}
	if (!near_now(nq->ticks, now_ms))
		e |= E_ABS;

	put_u8(&w, (uint8_t)(H_EXT | floor_mod(sec, 128)));
	put_u8(&w, e);
	if (x)
		put_u8(&w, x);
	if (x & X_UNIT) {
		put_u8(&w, (uint8_t)ulen);
		for (size_t i = 0; i < ulen; i++)
			put_u8(&w, (uint8_t)unit_or_null[i]);
	}
	if (e & E_COUNT)
		put_u8(&w, (uint8_t)(n - 2));
	if (e & E_ABS)
		put_z(&w, floor_div(sec - Y2020_S, 128));
	if (e & E_TENTHS)
		put_u8(&w, (uint8_t)tenth);
	pos = (uint64_t)nq->lat * (LON_N + 1) + (uint64_t)nq->lon;
	for (int k = 5; k >= 0; k--)
		put_u8(&w, (uint8_t)(pos >> (8 * k)));
	put_extras(&w, x, nq);
	if (e & E_MOTION) {
		put_u8(&w, (uint8_t)(m >> 16));
		put_u8(&w, (uint8_t)(m >> 8));
		put_u8(&w, (uint8_t)m);
	}
	for (int i = n - 2; i >= 0; i--) {
		int64_t dt = q[i + 1].ticks - q[i].ticks;

		put_v(&w, (uint64_t)(e & E_FINE ? dt : dt / 10));
		put_z(&w, q[i].lat - q[i + 1].lat);
		put_z(&w, q[i].lon - q[i + 1].lon);
		put_extras(&w, x, &q[i]);
	}
	if (x & X_STALE) {
		for (int k = 0; k < n; k += 8) {
			uint8_t b = 0;

			for (int j = 0; j < 8 && k + j < n; j++)
				if (q[n - 1 - (k + j)].stale)
					b |= (uint8_t)(1 << j);
			put_u8(&w, b);
		}
	}
	if (w.len > w.cap)
		return -ENOSPC;
	return (ssize_t)w.len;
}

/* ---- decoder ---- */

static int
get_extras(struct rd *r, uint8_t x, struct fix *f)
{
	uint64_t v;

	if (x & X_ALT) {
		if (get_v(r, &v) < 0)
			return -EBADMSG;
		if (v) {
			int64_t a = unzig(v - 1);

			if (a > ALT_MAX || a < -ALT_MAX)
				return -EBADMSG;
			f->alt = (double)a;
		}
	}
	if (x & X_EPH) {
		if (get_v(r, &v) < 0 || v > EPH_MAX + 1)
			return -EBADMSG;
		if (v)
			f->eph = (double)(v - 1);
	}
	return 0;
}

/* The plain form (6 bytes, checked): the latest time with its seconds mod 4 not after ref + 1 s. */
static int
plain_decode(const uint8_t *in, int64_t ref_ms, struct fix *f)
{
	uint64_t v = 0, pos;
	int64_t lim, sec, lat, lon;

	for (int k = 0; k < PLAIN_LEN; k++)
		v = v << 8 | in[k];
	pos = v & ((UINT64_C(1) << PLAIN_TIME_SHIFT) - 1);
	lat = (int64_t)(pos / PLAIN_LON_N);
	lon = (int64_t)(pos % PLAIN_LON_N);
	if (lat > PLAIN_LAT_MAX)
		return -EBADMSG;
	if (ref_ms > TICKS_MAX * TICK_MS || ref_ms < -TICKS_MAX * TICK_MS)
		return -EBADMSG;
	lim = floor_div(ref_ms + PLAIN_LATE_MS, 1000);
	sec = lim - floor_mod(lim - (int64_t)(v >> PLAIN_TIME_SHIFT), 4);
	if (sec * 10 > TICKS_MAX || sec * 10 < -TICKS_MAX)
		return -EBADMSG;
	fix_init(f);
	f->kind = FIX_PERSON;
	f->lat = (double)(lat * PLAIN_STEP - 90000000) / 1e6;
	f->lon = (double)(lon * PLAIN_STEP - 180000000) / 1e6;
	f->time_ms = sec * 1000;
	return 0;
}

/* The newest fix's time in ticks: absolute, or the latest with its seconds not after ref + 60 s. */
static int
newest_ticks(struct rd *r, uint8_t h, uint8_t e, int64_t ref_ms, int64_t *ticks)
{
	int64_t low = h & H_TIME, sec, z;
	uint8_t tenth = 0;

	if (e & E_ABS) {
		if (get_z(r, &z) < 0 || z > TICKS_MAX / 1280 + 1 || z < -TICKS_MAX / 1280 - 1)
			return -EBADMSG;
		sec = Y2020_S + z * 128 + low;
	} else {
		int64_t lim;

		if (ref_ms > TICKS_MAX * TICK_MS || ref_ms < -TICKS_MAX * TICK_MS)
			return -EBADMSG;
		lim = floor_div(ref_ms + LATE_S * 1000, 1000);
		sec = lim - floor_mod(lim - low, 128);
	}
	if (e & E_TENTHS) {
		if (get_u8(r, &tenth) < 0 || tenth < 1 || tenth > 9)
			return -EBADMSG;
	}
	*ticks = sec * 10 + tenth;
	if (*ticks > TICKS_MAX || *ticks < -TICKS_MAX)
		return -EBADMSG;
	return 0;
}

static void
place(struct fix *f, int64_t lat, int64_t lon, int64_t ticks, uint8_t x)
{
	fix_init(f);
	f->kind = x & X_DRONE ? FIX_DRONE : FIX_PERSON;
	f->lat = (double)(lat - LAT_N / 2) / Q;
	f->lon = (double)(lon - LON_N / 2) / Q;
	f->time_ms = ticks * TICK_MS;
}

int
posfmt_decode(const uint8_t *in, size_t len, int64_t ref_ms, struct fix *out, int cap, char *unit,
    size_t unitcap)
{
	struct rd r = { .p = in, .end = in + len };
	int64_t lat, lon, ticks;
	uint8_t h, e = 0, x = 0, b;
	uint64_t pos = 0;
	int n = 1;

	if (unit && unitcap)
		unit[0] = '\0';
	if (get_u8(&r, &h) < 0)
		return -EBADMSG;
	if (!(h & H_EXT)) {
		struct fix f;

		if (len != PLAIN_LEN || plain_decode(in, ref_ms, &f) < 0)
			return -EBADMSG;
		if (cap < 1)
			return -ENOSPC;
		out[0] = f;
		return 1;
	}
	if (get_u8(&r, &e) < 0 || (e & E_RESERVED))
		return -EBADMSG;
	if (e & E_X) {
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
	if (e & E_COUNT) {
		if (get_u8(&r, &b) < 0 || b > POSFMT_MAX_FIXES - 2)
			return -EBADMSG;
		n = b + 2;
	} else if (e & E_FINE) {
		/* Steps between fixes, with one fix. */
		return -EBADMSG;
	}
	if (newest_ticks(&r, h, e, ref_ms, &ticks) < 0)
		return -EBADMSG;
	for (int k = 0; k < 6; k++) {
		if (get_u8(&r, &b) < 0)
			return -EBADMSG;
		pos = pos << 8 | b;
	}
	lat = (int64_t)(pos / (LON_N + 1));
	lon = (int64_t)(pos % (LON_N + 1));
	if (lat > LAT_N)
		return -EBADMSG;
	if (n > cap)
		return -ENOSPC;
	place(&out[n - 1], lat, lon, ticks, x);
	if (get_extras(&r, x, &out[n - 1]) < 0)
		return -EBADMSG;
	if (e & E_MOTION) {
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
	for (int i = n - 2; i >= 0; i--) {
		int64_t dlat, dlon;
		uint64_t dt;

		if (get_v(&r, &dt) < 0 || get_z(&r, &dlat) < 0 || get_z(&r, &dlon) < 0)
			return -EBADMSG;
		/* Bounded before use, so nothing can overflow. */
		if (dt > 2 * TICKS_MAX || dlat > LAT_N || dlat < -LAT_N || dlon > LON_N || dlon < -LON_N)
			return -EBADMSG;
		ticks -= (int64_t)(e & E_FINE ? dt : dt * 10);
		lat += dlat;
		lon += dlon;
		if (ticks < -TICKS_MAX || lat < 0 || lat > LAT_N || lon < 0 || lon > LON_N)
			return -EBADMSG;
		place(&out[i], lat, lon, ticks, x);
		if (get_extras(&r, x, &out[i]) < 0)
			return -EBADMSG;
	}
	if (x & X_STALE) {
		for (int k = 0; k < n; k += 8) {
			if (get_u8(&r, &b) < 0)
				return -EBADMSG;
			for (int j = 0; j < 8; j++) {
				if (!(b & (1 << j)))
					continue;
				if (k + j >= n)
					return -EBADMSG;
				out[n - 1 - (k + j)].stale = true;
			}
		}
	}
	if (r.p != r.end)
		return -EBADMSG;
	return n;
}
