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

void
posout_init(struct posout *p, const char *unit, bool own)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->unit, sizeof(p->unit), "%s", unit ? unit : "");
	p->own = own;
	beacon_init(&p->beacon);
}

bool
posout_offer(struct posout *p, const struct fix *f, const struct posout_rule *r)
{
	p->offered++;
	p->last = *f;
	p->have_last = true;
	if (f->stale)
		/* The fix stopped: say so once, at once; the heartbeat repeats it. */
		return p->last_sent_ms == 0 || !p->beacon.sent || !p->beacon.last.stale;
	return beacon_due(&p->beacon, f, f->time_ms, r->error_m, r->min_ms, r->max_ms);
}

bool
posout_heartbeat_due(const struct posout *p, int64_t now_ms, const struct posout_rule *r)
{
	return p->have_last && p->last_sent_ms != 0 && now_ms - p->last_sent_ms >= (int64_t)r->max_ms;
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
posout_build(struct posout *p, bool taken, bool name, int64_t base_ms, uint8_t *out, size_t cap)
{
	if (!p->have_last)
		return -EINVAL;
	p->n_next = 0;
	if (!taken && p->last_id[0]) {
		memcpy(p->next, p->batch, (size_t)p->n_batch * sizeof(p->next[0]));
		p->n_next = p->n_batch;
		/* The same fix again (a heartbeat while still): once is enough. */
		if (p->n_next && p->next[p->n_next - 1].time_ms == p->last.time_ms)
			p->n_next--;
	}
	if (p->n_next == POSOUT_BATCH_MAX) {
		thin(p->next, &p->n_next);
		p->thinned++;
	}
	p->next[p->n_next++] = p->last;
	return posfmt_encode(p->next, p->n_next, base_ms, name && p->unit[0] ? p->unit : NULL, out, cap);
}

void
posout_sent(struct posout *p, const char *id)
{
	struct fix as_received[POSOUT_BATCH_MAX];
	uint8_t buf[512];
	char unit[64];
	ssize_t n;

	memcpy(p->batch, p->next, (size_t)p->n_next * sizeof(p->batch[0]));
	p->n_batch = p->n_next;
	snprintf(p->last_id, sizeof(p->last_id), "%s", id);
	p->sent++;
	p->last_sent_ms = p->last.time_ms;
	/* The receivers predict from the fix as they decode it, so must we. */
	n = posfmt_encode(&p->last, 1, p->last.time_ms, NULL, buf, sizeof(buf));
	if (n > 0 && posfmt_decode(buf, (size_t)n, p->last.time_ms, as_received, 1, unit, sizeof(unit)) == 1)
		beacon_sent(&p->beacon, &as_received[0]);
	else
		beacon_sent(&p->beacon, &p->last);
}
