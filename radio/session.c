/* session.c - reliable transfers to one neighbour; see session.h. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "session.h"

/*
 * The timeout is the last resort: losses followed by anything that arrives
 * are repaired at once (see lost()).  Its floor is Linux TCP's: a standing
 * queue of a full window plus a sender or receiver descheduled for a moment
 * on a busy box made 20 ms fire spuriously and resend whole windows.
 */
#define RTO_MIN_MS		200
#define RTO_MAX_MS		60000
#define RX_MAX_TRANSFERS	512	/* partial transfers tracked per neighbour */
#define RX_COMMITTED_RING	1024	/* committed ids remembered to re-answer pokes */

struct xfer {
	TAILQ_ENTRY(xfer) entry;
	uint64_t xid, total, next_off;
	int prio;
	void *ctx;
	unsigned inflight;		/* its segments in the window */
	bool started;			/* a zero-length bundle still sends one segment */
	uint64_t poke_at;		/* all acked, no COMMIT_ACK yet: resend last segment then */
	unsigned pokes;
	uint64_t turn;			/* bytes sent in its current round-robin turn */
};

struct seg {
	struct xfer *x;
	uint64_t off;
	uint32_t len;
	uint64_t sent;			/* last transmission */
	unsigned tries;			/* transmissions on timeout (backoff) */
	bool resent;			/* sent more than once: no RTT sample (Karn) */
};

/*
 * Per segment sent, only what is due is looked at: with a full window and
 * hundreds of transfers waiting for their commit, a scan of every segment
 * and every transfer per segment was most of the sender's session time.
 * unsent and the two lower bounds below keep that O(1) in the common case.
 */
struct session_tx {
	uint32_t mss;
	unsigned window;
	uint64_t next_xid;
	TAILQ_HEAD(xfer_list, xfer) queue;	/* by priority, FIFO within */
	struct xfer *unsent;		/* every transfer before it has sent all its bytes */
	uint64_t rexmit_at;		/* no segment is due before this (0: look) */
	uint64_t poke_at;		/* no poke is due before this */
	uint64_t acked_sent;		/* latest send time of a segment known to have arrived */
	struct seg segs[SESSION_WINDOW_MAX];
	unsigned nseg;
	uint32_t srtt, rttvar, rto;	/* ms; srtt 0 = no sample yet */
	uint32_t ack_delay;		/* ms the receiver may hold a SEG_ACK */
	uint64_t quantum;		/* round-robin turn within a class, bytes */
	struct session_tx_stats st;
};

uint64_t
session_tx_next_id(const struct session_tx *s)
{
	return s->next_xid;
}

struct session_tx *
session_tx_new(uint32_t mss, unsigned window, uint32_t initial_rto_ms, uint64_t first_xid)
{
	struct session_tx *s;

	if (mss == 0 || window == 0)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->mss = mss;
	s->window = window > SESSION_WINDOW_MAX ? SESSION_WINDOW_MAX : window;
	s->quantum = mss;
	s->rto = initial_rto_ms < RTO_MIN_MS ? RTO_MIN_MS : initial_rto_ms;
	s->next_xid = first_xid ? first_xid : 1;
	s->rexmit_at = UINT64_MAX;
	s->poke_at = UINT64_MAX;
	TAILQ_INIT(&s->queue);
	return s;
}

void
session_tx_free(struct session_tx *s)
{
	struct xfer *x;

	if (s == NULL)
		return;
	while ((x = TAILQ_FIRST(&s->queue)) != NULL) {
		TAILQ_REMOVE(&s->queue, x, entry);
		free(x);
	}
	free(s);
}

uint64_t
session_tx_add(struct session_tx *s, uint64_t total, int prio, void *ctx)
{
	struct xfer *x, *it;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return 0;
	x->xid = s->next_xid++;
	x->total = total;
	x->prio = prio;
	x->ctx = ctx;
	TAILQ_FOREACH(it, &s->queue, entry)
		if (it->prio > prio)
			break;
	if (it)
		TAILQ_INSERT_BEFORE(it, x, entry);
	else
		TAILQ_INSERT_TAIL(&s->queue, x, entry);
	/* Those before x are all sent (they were before unsent) or x goes first. */
	if (s->unsent == NULL || x->prio < s->unsent->prio)
		s->unsent = x;
	s->st.queued++;
	return x->xid;
}

static struct xfer *
xfer_find(const struct session_tx *s, uint64_t xid)
{
	struct xfer *x;

	TAILQ_FOREACH(x, &s->queue, entry)
		if (x->xid == xid)
			return x;
	return NULL;
}

static void
seg_remove(struct session_tx *s, unsigned i)
{
	s->segs[i].x->inflight--;
	s->segs[i] = s->segs[--s->nseg];
}

/* Forget a transfer and its segments in flight; returns its ctx. */
static void *
xfer_remove(struct session_tx *s, struct xfer *x)
{
	void *ctx = x->ctx;

	for (unsigned i = 0; i < s->nseg;)
		if (s->segs[i].x == x)
			seg_remove(s, i);
		else
			i++;
	if (s->unsent == x)
		s->unsent = TAILQ_NEXT(x, entry);
	TAILQ_REMOVE(&s->queue, x, entry);
	s->st.queued--;
	free(x);
	return ctx;
}

/* Retransmission timeout of a segment already sent `tries` times. */
static uint64_t
backoff(const struct session_tx *s, unsigned tries)
{
	uint64_t t = (uint64_t)s->rto << (tries > 1 ? (tries - 1 < 10 ? tries - 1 : 10) : 0);

	return t > RTO_MAX_MS ? RTO_MAX_MS : t;
}

/* When g times out: its RTO with backoff, and the receiver's ack delay unless g is a whole bundle. */
static uint64_t
seg_due(const struct session_tx *s, const struct seg *g)
{
	return g->sent + backoff(s, g->tries) + (g->len < g->x->total ? s->ack_delay : 0);
}

static void
fill(struct session_seg *out, const struct xfer *x, uint64_t off, uint32_t len, bool re)
{
	out->xid = x->xid;
	out->total = x->total;
	out->off = off;
	out->len = len;
	out->retransmission = re;
	out->ctx = x->ctx;
}

static bool
xfer_unsent(const struct xfer *x)
{
	return !x->started || x->next_off < x->total;
}

/*
 * Was g lost?  A link delivers in order, so once a segment sent after g
 * (by more than a quarter round trip, for some reordering) has arrived, g
 * will not: send it again now rather than at its timeout (as RACK, RFC 8985).
 */
static bool
lost(const struct session_tx *s, const struct seg *g)
{
	uint64_t reo = s->srtt / 4 > 1 ? s->srtt / 4 : 1;

	return g->sent + reo < s->acked_sent;
}

/* g (sent once) arrived: later losses can be told from it. */
static void
arrived(struct session_tx *s, const struct seg *g)
{
	if (g->resent || g->sent <= s->acked_sent)
		return;	/* which copy arrived is unknown: it proves nothing */
	s->acked_sent = g->sent;
	s->rexmit_at = 0;	/* look for losses */
}

/*
 * A segment lost or whose timeout expired, if any: 1 and out filled, 0, or
 * -ETIMEDOUT.  Scans the window only once rexmit_at has come, and leaves
 * rexmit_at at the earliest deadline of what it scanned.
 */
static int
next_retransmission(struct session_tx *s, uint64_t now, struct session_seg *out, int upto)
{
	uint64_t first = UINT64_MAX;

	if (now < s->rexmit_at)
		return 0;
	for (unsigned i = 0; i < s->nseg; i++) {
		struct seg *g = &s->segs[i];
		uint64_t due = seg_due(s, g);

		if (g->x->prio > upto) {
			/* Skipped: the bound must stay a bound for the full scan. */
			first = 0;
			continue;
		}
		if (lost(s, g)) {
			/* Repair, not timeout: no backoff, and no giving up on a link that delivers. */
		} else if (due > now) {
			if (due < first)
				first = due;
			continue;
		} else if (g->tries >= SESSION_MAX_TRIES) {
			return -ETIMEDOUT;
		} else {
			g->tries++;
		}
		g->sent = now;
		g->resent = true;
		s->st.retransmissions++;
		s->st.segments++;
		s->rexmit_at = 0;	/* more may be due: look again next time */
		fill(out, g->x, g->off, g->len, true);
		return 1;
	}
	if (first != 0)
		s->rexmit_at = first;
	return 0;
}

/* Acknowledged but not yet committed: poke with the last segment (as above, for pokes). */
static int
next_poke(struct session_tx *s, uint64_t now, struct session_seg *out, int upto)
{
	uint64_t first = UINT64_MAX;
	struct xfer *x;

	if (now < s->poke_at)
		return 0;
	TAILQ_FOREACH(x, &s->queue, entry) {
		uint32_t len;

		if (x->poke_at == 0)
			continue;
		if (x->prio > upto) {
			first = 0;	/* as in next_retransmission */
			continue;
		}
		if (x->poke_at > now) {
			if (x->poke_at < first)
				first = x->poke_at;
			continue;
		}
		if (x->pokes >= SESSION_MAX_TRIES)
			return -ETIMEDOUT;
		x->pokes++;
		x->poke_at = now + backoff(s, x->pokes + 1);
		len = x->total < s->mss ? (uint32_t)x->total : s->mss;
		s->st.retransmissions++;
		s->st.segments++;
		s->poke_at = 0;
		fill(out, x, x->total - len, len, true);
		return 1;
	}
	if (first != 0)
		s->poke_at = first;
	return 0;
}

/*
 * Window slots a transfer of class prio may fill: the less urgent classes
 * (SESSION_PRIO_YIELD and after) leave a few free, so that an alert queued
 * behind a long bulk transfer finds room at once instead of waiting for
 * acknowledgements of a full window of bulk segments.
 */
static unsigned
window_for(const struct session_tx *s, int prio)
{
	unsigned reserve = s->window / 8 ? s->window / 8 : 1;

	if (prio < SESSION_PRIO_YIELD || s->window < 2)
		return s->window;
	return s->window - reserve;
}

/* The most urgent transfer with bytes not yet sent; moves unsent up to it. */
static struct xfer *
first_unsent(struct session_tx *s)
{
	struct xfer *x;

	while ((x = s->unsent) != NULL && !xfer_unsent(x))
		s->unsent = TAILQ_NEXT(x, entry);
	return x;
}

/*
 * Fair share within a class: once x, which still has bytes to send, has had
 * its turn (quantum bytes), it goes behind the next SESSION_RR_ACTIVE - 1
 * transfers of its class that have bytes to send, so that one long
 * transfer does not hold back the others of its class (other destinations)
 * until it is done.  Bounded, so that the receiver assembles a few
 * transfers at a time rather than every one queued.
 */
static void
round_robin(struct session_tx *s, struct xfer *x, uint32_t len)
{
	struct xfer *last = x, *it;
	unsigned n = 1;

	x->turn += len;
	if (x->turn + s->mss <= s->quantum)	/* another whole segment fits the turn */
		return;
	x->turn = 0;
	for (it = TAILQ_NEXT(x, entry); it != NULL && it->prio == x->prio && n < SESSION_RR_ACTIVE;
	    it = TAILQ_NEXT(it, entry))
		if (xfer_unsent(it)) {
			last = it;
			n++;
		}
	if (last == x)
		return;
	s->unsent = TAILQ_NEXT(x, entry);	/* those before it are all sent, as before */
	TAILQ_REMOVE(&s->queue, x, entry);
	TAILQ_INSERT_AFTER(&s->queue, last, x, entry);
}

void
session_tx_set_quantum(struct session_tx *s, uint64_t bytes)
{
	s->quantum = bytes ? bytes : 1;
}

void
session_tx_set_ack_delay(struct session_tx *s, uint32_t ms)
{
	s->ack_delay = ms > RTO_MAX_MS ? RTO_MAX_MS : ms;
	s->rexmit_at = 0;	/* deadlines moved: look again */
}

static int
next_new(struct session_tx *s, struct xfer *x, uint64_t now, struct session_seg *out)
{
	uint64_t left = x->total - x->next_off;
	struct seg *g = &s->segs[s->nseg++];

	*g = (struct seg){ .x = x, .off = x->next_off, .len = left < s->mss ? (uint32_t)left : s->mss,
	    .sent = now, .tries = 1 };
	if (now + backoff(s, 1) < s->rexmit_at)
		s->rexmit_at = now + backoff(s, 1);
	x->next_off += g->len;
	x->started = true;
	x->inflight++;
	s->st.segments++;
	s->st.bytes += g->len;
	fill(out, x, g->off, g->len, false);
	if (xfer_unsent(x))
		round_robin(s, x, g->len);
	return 1;
}

/*
 * Order: repairs of the most urgent class with data waiting (and of more
 * urgent ones), then that class's new segments, then repairs of less urgent
 * classes.  So an alert goes before the next bulk segment, resent or not.
 */
int
session_tx_next(struct session_tx *s, uint64_t now, struct session_seg *out)
{
	struct xfer *x = first_unsent(s);
	int r;

	if (x != NULL && s->nseg < window_for(s, x->prio)) {
		if ((r = next_retransmission(s, now, out, x->prio)) != 0 ||
		    (r = next_poke(s, now, out, x->prio)) != 0)
			return r;
		return next_new(s, x, now, out);
	}
	if ((r = next_retransmission(s, now, out, INT_MAX)) != 0)
		return r;
	return next_poke(s, now, out, INT_MAX);
}

int
session_tx_next_prio(struct session_tx *s, uint64_t now)
{
	struct xfer *x = first_unsent(s);
	int best = INT_MAX;

	if (x != NULL && s->nseg < window_for(s, x->prio))
		best = x->prio;
	if (now >= s->rexmit_at)
		for (unsigned i = 0; i < s->nseg; i++) {
			const struct seg *g = &s->segs[i];

			if (g->x->prio < best && (lost(s, g) || seg_due(s, g) <= now))
				best = g->x->prio;
		}
	if (now >= s->poke_at)
		TAILQ_FOREACH(x, &s->queue, entry)
			if (x->poke_at != 0 && x->poke_at <= now && x->prio < best)
				best = x->prio;
	return best == INT_MAX ? -1 : best;
}

uint32_t
session_tx_grow(struct session_tx *s, struct session_seg *seg, uint32_t len)
{
	struct seg *g = s->nseg ? &s->segs[s->nseg - 1] : NULL;
	struct xfer *x;
	uint64_t max;

	/* next_new() put it last in the window; anything else is not a fresh segment. */
	if (g == NULL || seg->retransmission || g->x->xid != seg->xid || g->off != seg->off ||
	    g->len != seg->len || g->resent || g->tries != 1)
		return seg->len;
	x = g->x;
	if (x->next_off != g->off + g->len || len <= g->len)
		return seg->len;
	max = x->total - g->off;
	if (len > max)
		len = (uint32_t)max;
	s->st.bytes += len - g->len;
	x->turn += len - g->len;
	x->next_off = g->off + len;
	g->len = len;
	seg->len = len;
	return len;
}

bool
session_tx_unsend(struct session_tx *s, const struct session_seg *seg)
{
	struct seg *g = s->nseg ? &s->segs[s->nseg - 1] : NULL;
	struct xfer *x;

	if (g == NULL || seg->retransmission || g->x->xid != seg->xid || g->off != seg->off ||
	    g->len != seg->len || g->resent || g->tries != 1 || g->x->next_off != g->off + g->len)
		return false;
	x = g->x;
	x->next_off = g->off;
	if (g->off == 0)
		x->started = false;
	x->turn = x->turn > g->len ? x->turn - g->len : 0;
	s->st.segments--;
	s->st.bytes -= g->len;
	seg_remove(s, s->nseg - 1);
	/* x has bytes to send again, wherever round_robin() put it: look from the start. */
	s->unsent = TAILQ_FIRST(&s->queue);
	return true;
}

/* RFC 6298: smoothed RTT and its variance, from segments sent once (Karn). */
static void
rtt_sample(struct session_tx *s, uint64_t r)
{
	uint32_t rtt = r > RTO_MAX_MS ? RTO_MAX_MS : (uint32_t)r;
	uint32_t var, old = s->rto;

	s->st.rtt_samples++;
	if (s->srtt == 0) {
		s->srtt = rtt ? rtt : 1;
		s->rttvar = rtt / 2;
	} else {
		uint32_t diff = s->srtt > rtt ? s->srtt - rtt : rtt - s->srtt;

		s->rttvar = (3 * s->rttvar + diff) / 4;
		s->srtt = (7 * s->srtt + rtt) / 8;
	}
	var = 4 * s->rttvar > 1 ? 4 * s->rttvar : 1;
	s->rto = s->srtt + var;
	if (s->rto < RTO_MIN_MS)
		s->rto = RTO_MIN_MS;
	if (s->rto > RTO_MAX_MS)
		s->rto = RTO_MAX_MS;
	/* A shorter timeout brings deadlines forward: the lower bounds no longer hold. */
	if (s->rto < old) {
		s->rexmit_at = 0;
		s->poke_at = 0;
	}
}

static bool
covered(uint64_t off, uint32_t len, uint64_t cum, const struct session_range *r, size_t n)
{
	if (off + len <= cum)
		return true;
	for (size_t i = 0; i < n; i++)
		if (off >= r[i].off && off + len <= r[i].off + r[i].len)
			return true;
	return false;
}

void
session_tx_ack(struct session_tx *s, uint64_t xid, uint64_t cum,
    const struct session_range *ranges, size_t n, uint64_t now)
{
	struct xfer *x = xfer_find(s, xid);

	if (x == NULL)
		return;	/* late ack of a finished transfer */
	for (unsigned i = 0; i < s->nseg;) {
		struct seg *g = &s->segs[i];

		if (g->x != x || !covered(g->off, g->len, cum, ranges, n)) {
			i++;
			continue;
		}
		if (!g->resent)
			rtt_sample(s, now - g->sent);
		arrived(s, g);
		seg_remove(s, i);
	}
	/* Every byte sent and acknowledged: wait for the commit, poke if it is lost. */
	if (x->started && x->next_off == x->total && x->inflight == 0 && x->poke_at == 0) {
		x->poke_at = now + backoff(s, 2);
		if (x->poke_at < s->poke_at)
			s->poke_at = x->poke_at;
	}
}

void *
session_tx_commit(struct session_tx *s, uint64_t xid)
{
	struct xfer *x = xfer_find(s, xid);

	if (x == NULL)
		return NULL;
	/* Its segments in the window arrived too (a one-segment bundle gets no SEG_ACK). */
	for (unsigned i = 0; i < s->nseg; i++)
		if (s->segs[i].x == x)
			arrived(s, &s->segs[i]);
	s->st.transfers_done++;
	return xfer_remove(s, x);
}

void *
session_tx_abort(struct session_tx *s, uint64_t xid)
{
	struct xfer *x = xfer_find(s, xid);

	return x ? xfer_remove(s, x) : NULL;
}

void *
session_tx_drain(struct session_tx *s)
{
	struct xfer *x = TAILQ_FIRST(&s->queue);

	return x ? xfer_remove(s, x) : NULL;
}

int
session_tx_withdraw(struct session_tx *s, void *ctx)
{
	struct xfer *x;

	TAILQ_FOREACH(x, &s->queue, entry) {
		if (x->ctx != ctx)
			continue;
		if (x->started)
			return -EBUSY;
		xfer_remove(s, x);
		return 0;
	}
	return -ENOENT;
}

void *
session_tx_drain_unsent(struct session_tx *s)
{
	struct xfer *x;

	TAILQ_FOREACH(x, &s->queue, entry)
		if (xfer_unsent(x))
			return xfer_remove(s, x);
	return NULL;
}

/* Lower bounds are enough here: at worst the caller wakes early and finds nothing due. */
uint64_t
session_tx_deadline(const struct session_tx *s)
{
	const struct xfer *x;

	for (x = s->unsent; x != NULL; x = TAILQ_NEXT(x, entry))
		if (xfer_unsent(x)) {
			if (s->nseg < window_for(s, x->prio))
				return 0;	/* new data and room for it: now */
			break;	/* the most urgent has no room: those after it neither */
		}
	return s->rexmit_at < s->poke_at ? s->rexmit_at : s->poke_at;
}

void
session_tx_stats(const struct session_tx *s, struct session_tx_stats *st)
{
	*st = s->st;
	st->srtt_ms = s->srtt;
	st->rto_ms = s->rto;
	st->inflight = s->nseg;
}

/* ---- receiver ---- */

struct rx {
	uint64_t xid, total;
	unsigned n;			/* ranges, sorted, disjoint, not adjacent */
	struct session_range r[SESSION_RX_RANGES];
};

struct session_rx {
	struct rx *rx[RX_MAX_TRANSFERS];
	unsigned n;
	uint64_t committed[RX_COMMITTED_RING];
	unsigned ring;
};

struct session_rx *
session_rx_new(void)
{
	return calloc(1, sizeof(struct session_rx));
}

void
session_rx_free(struct session_rx *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->n; i++)
		free(s->rx[i]);
	free(s);
}

static int
rx_index(const struct session_rx *s, uint64_t xid)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->rx[i]->xid == xid)
			return (int)i;
	return -1;
}

static bool
rx_was_committed(const struct session_rx *s, uint64_t xid)
{
	for (unsigned i = 0; i < RX_COMMITTED_RING; i++)
		if (s->committed[i] == xid)
			return true;
	return false;
}

/* Add [off, off+len) to the ranges; returns bytes that were new, or -1 if too fragmented. */
static int64_t
rx_merge(struct rx *x, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, before = 0, after = 0;
	struct session_range out[SESSION_RX_RANGES + 1];
	unsigned n = 0, i = 0;

	for (unsigned k = 0; k < x->n; k++)
		before += x->r[k].len;
	/* Ranges wholly before the new one stay; overlapping or touching ones merge. */
	while (i < x->n && x->r[i].off + x->r[i].len < off)
		out[n++] = x->r[i++];
	while (i < x->n && x->r[i].off <= end) {
		if (x->r[i].off < off)
			off = x->r[i].off;
		if (x->r[i].off + x->r[i].len > end)
			end = x->r[i].off + x->r[i].len;
		i++;
	}
	out[n++] = (struct session_range){ off, end - off };
	while (i < x->n)
		out[n++] = x->r[i++];
	if (n > SESSION_RX_RANGES)
		return -1;	/* the sender will retransmit it once the gaps fill */
	memcpy(x->r, out, n * sizeof(out[0]));
	x->n = n;
	for (unsigned k = 0; k < n; k++)
		after += x->r[k].len;
	return (int64_t)(after - before);
}

int
session_rx_segment(struct session_rx *s, uint64_t xid, uint64_t total, uint64_t off, uint64_t len)
{
	struct rx *x;
	int64_t fresh;
	int i;

	if (rx_was_committed(s, xid))
		return RX_COMMITTED;
	if (off > total || len > total - off)
		return RX_BAD;
	if ((i = rx_index(s, xid)) >= 0) {
		x = s->rx[i];
		if (x->total != total)
			return RX_BAD;
	} else {
		if (s->n == RX_MAX_TRANSFERS || (x = calloc(1, sizeof(*x))) == NULL)
			return RX_BAD;
		x->xid = xid;
		x->total = total;
		s->rx[s->n++] = x;
		if (total == 0)
			return RX_COMPLETE;
	}
	if (len == 0)
		return RX_DUP;
	if ((fresh = rx_merge(x, off, len)) <= 0)
		return RX_DUP;
	if (x->n == 1 && x->r[0].off == 0 && x->r[0].len == total)
		return RX_COMPLETE;
	return RX_NEW;
}

size_t
session_rx_ack(const struct session_rx *s, uint64_t xid, uint64_t *cum,
    struct session_range *ranges, size_t cap)
{
	int i = rx_index(s, xid);
	const struct rx *x;
	size_t n = 0;
	unsigned k = 0;

	*cum = 0;
	if (i < 0)
		return 0;
	x = s->rx[i];
	if (x->n > 0 && x->r[0].off == 0) {
		*cum = x->r[0].len;
		k = 1;
	}
	for (; k < x->n && n < cap && n < SESSION_SACK_RANGES; k++)
		ranges[n++] = x->r[k];
	return n;
}

void
session_rx_forget(struct session_rx *s, uint64_t xid)
{
	int i = rx_index(s, xid);

	if (i < 0)
		return;
	free(s->rx[i]);
	s->rx[i] = s->rx[--s->n];
}

void
session_rx_committed(struct session_rx *s, uint64_t xid)
{
	session_rx_forget(s, xid);
	s->committed[s->ring] = xid;
	s->ring = (s->ring + 1) % RX_COMMITTED_RING;
}
