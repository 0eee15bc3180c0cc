/*
 * posout.c - reporting one unit's positions (posout.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "geo.h"
#include "posfmt.h"
#include "posout.h"

#define RAD	(M_PI / 180.0)

void
posout_rule_default(struct posout_rule *r, const struct track_conf *c, enum link_class cls)
{
	r->error_m = c->error_m;
	r->min_ms = c->interval[cls].min_ms;
	r->max_ms = c->interval[cls].max_ms;
	/* Measured in bench_track: 4 bytes more a send buy fewer sends only where sends are cheap. */
	r->motion = cls == LINK_MESH || cls == LINK_IP;
	r->anchor_ms = r->motion ? 0 : POSOUT_ANCHOR_MS;
}

void
posout_init(struct posout *p, const char *unit, bool own)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->unit, sizeof(p->unit), "%s", unit ? unit : "");
	p->own = own;
	beacon_init(&p->beacon);
	fix_init(&p->last);
}

/* ---- the history since the last send ---- */

static struct posout_point
point_of(const struct fix *f)
{
	return (struct posout_point){ .time_ms = f->time_ms, .lat = f->lat, .lon = f->lon, .alt = (float)f->alt,
	    .eph = (float)f->eph };
}

/* Full: drop every other fix but the first (the last sent) and the newest. */
static void
hist_thin(struct posout *p)
{
	int k = 1;

	for (int i = 2; i < p->n_hist - 1; i += 2)
		p->hist[k++] = p->hist[i];
	p->hist[k++] = p->hist[p->n_hist - 1];
	p->n_hist = k;
	p->hist_thinned++;
}

static void
hist_add(struct posout *p, const struct fix *f)
{
	if (p->n_hist > 0) {
		int64_t newest = p->hist[p->n_hist - 1].time_ms;

		if (f->time_ms == newest) {
			p->hist[p->n_hist - 1] = point_of(f);
			return;
		}
		/* The clock went back: what came before is no line to this fix. */
		if (f->time_ms < newest)
			p->n_hist = 0;
	}
	if (p->n_hist == POSOUT_HISTORY)
		hist_thin(p);
	p->hist[p->n_hist++] = point_of(f);
}

bool
posout_offer(struct posout *p, const struct fix *f, const struct posout_rule *r)
{
	p->offered++;
	p->last = *f;
	p->have_last = true;
	p->error_m = r->error_m;
	p->motion = r->motion;
	p->anchor_ms = r->anchor_ms;
	hist_add(p, f);
	if (f->stale)
		/* The fix stopped: say so once, at once; the heartbeat repeats it. */
		return !p->beacon.sent || !p->beacon.last.stale;
	return beacon_due(&p->beacon, f, f->time_ms, r->error_m, r->min_ms, r->max_ms);
}

bool
posout_heartbeat_due(const struct posout *p, int64_t now_ms, const struct posout_rule *r)
{
	return p->have_last && p->sent_at_ms != 0 &&
	    (now_ms - p->sent_at_ms >= (int64_t)r->max_ms || now_ms < p->sent_at_ms);
}

/*
 * Douglas-Peucker over hist[0..n-1], the largest deviation split first: the
 * indices of the inner fixes to keep (ascending) into keep, at most max of
 * them, stopping when every fix is within tol metres of the line through
 * the kept ones.  On a plane tangent at the first fix: at the few km
 * between two sends its error is far below a metre.
 */
struct seg {
	int a, b;		/* kept ends */
	int far;		/* the inner fix farthest from a-b, or -1 */
	double d;		/* its distance */
};

static void
seg_far(const double *x, const double *y, struct seg *s)
{
	double ax = x[s->a], ay = y[s->a], dx = x[s->b] - ax, dy = y[s->b] - ay;
	double len2 = dx * dx + dy * dy;

	s->far = -1;
	s->d = 0;
	for (int i = s->a + 1; i < s->b; i++) {
		double px = x[i] - ax, py = y[i] - ay, t = len2 > 0 ? (px * dx + py * dy) / len2 : 0, d;

		if (t < 0)
			t = 0;
		if (t > 1)
			t = 1;
		d = hypot(px - t * dx, py - t * dy);
		if (d > s->d) {
			s->d = d;
			s->far = i;
		}
	}
}

static int
simplify(const struct posout_point *h, int n, double tol, int max, int *keep)
{
	static double x[POSOUT_HISTORY], y[POSOUT_HISTORY];
	struct seg s[POSOUT_BATCH_MAX + 1];
	double k = GEO_EARTH_RADIUS * RAD, c = cos(h[0].lat * RAD);
	int ns = 1, nk = 0;

	if (n < 3 || max < 1)
		return 0;
	for (int i = 0; i < n; i++) {
		double dl = h[i].lon - h[0].lon;

		if (dl > 180)
			dl -= 360;
		if (dl < -180)
			dl += 360;
		x[i] = dl * c * k;
		y[i] = (h[i].lat - h[0].lat) * k;
	}
	s[0] = (struct seg){ .a = 0, .b = n - 1 };
	seg_far(x, y, &s[0]);
	while (nk < max) {
		int w = 0;

		for (int i = 1; i < ns; i++)
			if (s[i].d > s[w].d)
				w = i;
		if (s[w].far < 0 || !(s[w].d > tol))
			break;
		keep[nk++] = s[w].far;
		s[ns] = (struct seg){ .a = s[w].far, .b = s[w].b };
		s[w].b = s[w].far;
		seg_far(x, y, &s[w]);
		seg_far(x, y, &s[ns]);
		ns++;
	}
	/* Ascending. */
	for (int i = 1; i < nk; i++)
		for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];

			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	return nk;
}

/* The anchor (posout.h): a fix anchor_ms before the newest, when the one before the newest is much older. */
static int
anchor(const struct posout *p, int *keep, int nk)
{
	int last = nk ? keep[nk - 1] : 0, j = p->n_hist - 2;
	int64_t target = p->last.time_ms - p->anchor_ms;

	if (p->hist[last].time_ms >= target - (int64_t)p->anchor_ms)
		return nk;
	while (j > last + 1 && p->hist[j].time_ms > target)
		j--;
	if (j <= last)
		return nk;
	keep[nk] = j;
	return nk + 1;
}

/* Drop the inner fix that bends the track least, to make room. */
static void
thin(struct fix *b, int *n)
{
	int best = 1;
	double least = INFINITY;

	for (int i = 1; i + 1 < *n; i++) {
		double d = geo_segment_distance(b[i].lat, b[i].lon, b[i - 1].lat, b[i - 1].lon, b[i + 1].lat,
		    b[i + 1].lon);

		if (d < least) {
			least = d;
			best = i;
		}
	}
	memmove(&b[best], &b[best + 1], (size_t)(*n - best - 1) * sizeof(*b));
	(*n)--;
}

ssize_t
posout_build(struct posout *p, bool taken, bool name, int64_t now_ms, uint8_t *out, size_t cap)
{
	int keep[POSOUT_BATCH_MAX], nk, n_carry = 0;
	const char *unit = name && p->unit[0] ? p->unit : NULL;
	int64_t newest = p->last.time_ms;
	ssize_t len;

	if (!p->have_last)
		return -EINVAL;
	p->n_next = 0;
	p->next_rx_ok = false;
	p->next_ms = now_ms;
	if (!taken && p->last_id[0]) {
		/* Only what is older than the new fixes: a fix again (a heartbeat while still) goes once. */
		for (int i = 0; i < p->n_batch; i++)
			if (p->batch[i].time_ms < newest && (p->n_hist == 0 || p->batch[i].time_ms <= p->hist[0].time_ms))
				p->next[n_carry++] = p->batch[i];
	}
	p->n_next = n_carry;
	/* The history between the last sent fix (hist[0]) and the newest (the last). */
	nk = p->n_hist >= 3 && p->hist[p->n_hist - 1].time_ms == newest ?
	    simplify(p->hist, p->n_hist, p->error_m - POSFMT_POS_ERROR_M, POSOUT_BATCH_MAX - 2, keep) : 0;
	if (!p->motion && p->anchor_ms && p->n_hist >= 3 && p->hist[p->n_hist - 1].time_ms == newest)
		nk = anchor(p, keep, nk);
	for (int i = 0; i < nk; i++) {
		const struct posout_point *h = &p->hist[keep[i]];
		struct fix *f = &p->next[p->n_next];

		while (p->n_next >= POSOUT_BATCH_MAX - 1) {
			thin(p->next, &p->n_next);
			p->thinned++;
			f = &p->next[p->n_next];
		}
		*f = p->last;
		f->time_ms = h->time_ms;
		f->lat = h->lat;
		f->lon = h->lon;
		f->alt = h->alt;
		f->eph = h->eph;
		f->speed = f->course = NAN;
		f->stale = false;
		p->n_next++;
	}
	/* Room for the newest. */
	while (p->n_next >= POSOUT_BATCH_MAX) {
		thin(p->next, &p->n_next);
		p->thinned++;
	}
	p->next[p->n_next] = p->last;
	if (!p->motion)
		p->next[p->n_next].speed = p->next[p->n_next].course = NAN;
	p->n_next++;
	/* Thinner until it fits. */
	while ((len = posfmt_encode(p->next, p->n_next, now_ms, unit, out, cap)) == -ENOSPC && p->n_next > 1) {
		if (p->n_next == 2) {
			p->next[0] = p->next[1];
			p->n_next = 1;
		} else {
			thin(p->next, &p->n_next);
		}
		p->thinned++;
	}
	if (len < 0)
		return len;
	/* What the receivers will have: decoded as they decode it (the creation time is now_ms). */
	p->next_rx_ok = posfmt_decode(out, (size_t)len, now_ms, p->next_rx, POSOUT_BATCH_MAX, NULL, 0) == p->n_next;
	if (!p->next_rx_ok)
		memcpy(p->next_rx, p->next, (size_t)p->n_next * sizeof(p->next[0]));
	return len;
}

const struct fix *
posout_built(const struct posout *p, int *n)
{
	*n = p->n_next;
	return p->next_rx;
}

void
posout_sent(struct posout *p, const char *id)
{
	const struct fix *newest;
	int64_t t;
	int k = 0;

	if (p->n_next < 1)
		return;
	newest = &p->next_rx[p->n_next - 1];
	t = p->next[p->n_next - 1].time_ms;
	memcpy(p->batch, p->next, (size_t)p->n_next * sizeof(p->batch[0]));
	p->n_batch = p->n_next;
	snprintf(p->last_id, sizeof(p->last_id), "%s", id);
	p->sent++;
	/* The receivers predict from the fixes as they decode them, so must we: the new ones, in order. */
	if (p->beacon.sent && newest->time_ms < p->beacon.last.time_ms)
		/* The clock went back: start over from what this bundle says. */
		beacon_init(&p->beacon);
	if (p->beacon.sent && newest->time_ms == p->beacon.last.time_ms) {
		/* The same fix again (a heartbeat, the stale mark): it stays the last. */
		p->beacon.last = *newest;
	} else {
		for (int i = 0; i < p->n_next; i++)
			if (!p->beacon.sent || p->next_rx[i].time_ms > p->beacon.last.time_ms)
				beacon_sent(&p->beacon, &p->next_rx[i]);
	}
	/*
	 * The intervals count from the fix's own time, not its time as decoded
	 * (rounded to 100 ms, maybe later): the same fix offered again must not
	 * look like a clock that went back.
	 */
	p->beacon.last_ms = t;
	p->last_sent_ms = t;
	p->sent_at_ms = p->next_ms;
	/* The history starts again at the fix just sent (and keeps what came since). */
	while (k < p->n_hist && p->hist[k].time_ms < t)
		k++;
	if (k < p->n_hist) {
		memmove(p->hist, &p->hist[k], (size_t)(p->n_hist - k) * sizeof(p->hist[0]));
		p->n_hist -= k;
	}
}
