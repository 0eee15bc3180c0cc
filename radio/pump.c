/*
 * pump.c - what the link layer sends next (radio/link_int.h).
 *
 * Segments come from each neighbour's sending session (radio/session.c),
 * their bytes from a read-ahead of the owner's store.  On a fast medium
 * every neighbour's due segments go at once; on a paced one (a TNC that
 * queues, a duty cycle, a metered link) one segment at a time from the
 * neighbour with the most urgent one due, so that an alert overtakes bulk
 * within about one frame.  SEG_ACKs of what we receive are delayed and
 * cumulative, and on a paced radio held longer still (ack_hold), since each
 * costs a frame on the air.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "frame.h"
#include "link.h"
#include "link_int.h"
#include "log.h"
#include "loop.h"
#include "session.h"

static void
send_ack(struct link *l, struct neighbour *n, uint64_t xid)
{
	struct frame_msg m = { .type = FRAME_SEG_ACK };
	struct session_range r[FRAME_SACK_MAX];
	size_t k = session_rx_ack(n->rx, xid, &m.u.ack.cum, r, FRAME_SACK_MAX);

	m.u.ack.xid = xid;
	m.u.ack.n = (uint8_t)k;
	for (size_t i = 0; i < k; i++) {
		m.u.ack.sack[i].off = r[i].off;
		m.u.ack.sack[i].len = r[i].len;
	}
	link_send(l, n, &m);
}

/* Send every SEG_ACK owed to n. */
static void
acks_flush(struct link *l, struct neighbour *n)
{
	for (unsigned i = 0; i < n->n_acks; i++)
		send_ack(l, n, n->ack_xid[i]);
	n->n_acks = 0;
	n->ack_segs = 0;
	n->ack_due = 0;
}

/* ... and to every neighbour: the socket has no more for now. */
void
pump_acks_flush(struct link *l)
{
	if (!l->acks_owed)
		return;
	for (unsigned i = 0; i < l->n_nbr; i++)
		if (l->nbr[i].n_acks)
			acks_flush(l, &l->nbr[i]);
	l->acks_owed = false;
}

/* Paced: send the SEG_ACKs that are due, and wake for the next. */
static void
link_ack_timer(struct loop *loop, void *arg)
{
	struct link *l = arg;
	uint64_t t = loop_now(), next = UINT64_MAX;

	for (unsigned i = 0; i < l->n_nbr; i++) {
		struct neighbour *n = &l->nbr[i];

		if (n->n_acks == 0)
			continue;
		if (n->ack_due <= t)
			acks_flush(l, n);
		else if (n->ack_due < next)
			next = n->ack_due;
	}
	if (next != UINT64_MAX)
		loop_timer_set(loop, &l->ack_timer, next - t, link_ack_timer, l);
}

/*
 * Paced radio: a SEG_ACK costs a frame on the air (on a half-duplex channel
 * also the key-up of both radios, and it holds up the data), and segments
 * arrive a frame time apart, so that "nothing more to read" happens after
 * every one.  Hold it instead until LINK_ACK_EVERY_PACED segments came,
 * a segment of another transfer came (the sender's round-robin turn of this
 * one ended: a SEG_ACK answers one transfer, so one frame a turn), the
 * sender's burst paused (no segment for LINK_ACK_PAUSE_FRAMES frame times),
 * or the oldest owed one has waited LINK_ACK_EVERY_PACED frame times.
 * The sender's timeouts allow for that (session_tx_set_ack_delay).  Held
 * acks go in the order their segments came, so that the sender does not
 * take a segment whose ack is still held for lost (session.c lost()).
 */
static void
ack_hold(struct link *l, struct neighbour *n)
{
	uint64_t t = loop_now(), due;

	if (n->ack_due == 0)
		n->ack_first = t;
	due = t + (uint64_t)LINK_ACK_PAUSE_FRAMES * l->frame_ms;
	if (due > n->ack_first + (uint64_t)LINK_ACK_EVERY_PACED * l->frame_ms)
		due = n->ack_first + (uint64_t)LINK_ACK_EVERY_PACED * l->frame_ms;
	n->ack_due = due;
	link_ack_timer(l->loop, l);
}

/* A SEG_ACK for xid is owed to n; now sends it (and all owed to n) at once. */
void
pump_ack_owe(struct link *l, struct neighbour *n, uint64_t xid, bool now)
{
	unsigned i;

	for (i = 0; i < n->n_acks && n->ack_xid[i] != xid; i++)
		;
	if (i == n->n_acks) {
		/* Paced: another transfer's turn began, the last one's ack goes now: one SEG_ACK a turn. */
		if (n->n_acks == LINK_ACKS_PENDING || (l->frame_ms && n->n_acks > 0))
			acks_flush(l, n);
		n->ack_xid[n->n_acks++] = xid;
	}
	if (now || ++n->ack_segs >= (l->frame_ms ? LINK_ACK_EVERY_PACED : LINK_ACK_EVERY))
		acks_flush(l, n);
	else if (l->frame_ms)
		ack_hold(l, n);
	else
		l->acks_owed = true;
}

/* A commit ack for xid goes to n: it says more than a SEG_ACK of xid still owed. */
void
pump_ack_drop(struct neighbour *n, uint64_t xid)
{
	for (unsigned i = 0; i < n->n_acks; i++)
		if (n->ack_xid[i] == xid) {
			n->ack_xid[i] = n->ack_xid[--n->n_acks];
			break;
		}
	if (n->n_acks == 0) {
		n->ack_segs = 0;
		n->ack_due = 0;
	}
}

/*
 * The bytes of segment g: from the read-ahead, refilled from the owner's
 * store when g is not in it.  0 and *data set, or -errno (-EIO if the bundle
 * is shorter than it was announced).
 */
static long
segment_data(struct link *l, const struct neighbour *n, const struct session_seg *g, const uint8_t **data)
{
	struct readahead *ra = &l->ra;
	uint64_t want = g->total - g->off;
	long got;

	if (ra->nbr != n || ra->xid != g->xid || g->off < ra->off || g->off + g->len > ra->off + ra->len) {
		ra->nbr = NULL;
		if (want > LINK_READAHEAD)
			want = LINK_READAHEAD;
		if ((got = l->ev.read(l->ev.arg, g->ctx, g->off, ra->buf, (size_t)want)) < (long)g->len)
			return got < 0 ? got : -EIO;
		*ra = (struct readahead){ .nbr = n, .xid = g->xid, .off = g->off, .len = (size_t)got,
		    .buf = ra->buf };
	}
	*data = ra->buf + (g->off - ra->off);
	return 0;
}

/*
 * Is the medium still busy with what we gave it (a TNC's queue), or is the
 * duty cycle spent?  Then the pump timer wakes us when it takes frames
 * again: a segment taken from the session now would only be lost to
 * -EAGAIN and wait out a timeout, or overtake a more urgent one due later.
 */
static bool
link_medium_busy(struct link *l, uint64_t now)
{
	uint64_t t = meter_duty_ready_at(l, now), r;

	if (!meter_open(l, time(NULL)))
		t = now + 1000;	/* look again in a second: a window opens, a period begins */
	else if (l->conf.budget_bytes && l->budget_used > l->budget_saved && t < now + 1000)
		t = now + 1000;	/* the spend is being saved: link_budget_saved() pumps */
	if (l->ops->ready_at && (r = l->ops->ready_at(l->drv)) > t)
		t = r;
	if (t <= now)
		return false;
	loop_timer_set(l->loop, &l->pump_timer, t - now, pump_timer, l);
	return true;
}

/* A medium where frames wait for one another: hand segments out one at a time, most urgent first. */
static bool
link_paced(const struct link *l)
{
	return l->ops->ready_at != NULL || l->conf.duty_permille != 0 || l->conf.budget_bytes != 0 ||
	    l->conf.n_windows != 0;
}

/* Data bytes that fill the next frame to n at the MTU with segment s's header; 0 if none fit. */
static size_t
segment_room(const struct link *l, const struct neighbour *n, const struct frame_segment *s)
{
	size_t used = envelope_len(l, n) + varint_len(s->xid) + varint_len(s->off) + varint_len(s->total) +
	    varint_len(s->seq);

	return used < l->conf.mtu ? l->conf.mtu - used : 0;
}

/*
 * A fresh segment carries as many bytes as fill its frame at the MTU with
 * the header it will go with (the session's mss is for the largest header:
 * every varint at its widest, a full envelope).  On a 256-byte radio frame
 * that is about 10 % more data a frame.
 */
static void
segment_fill(struct link *l, struct neighbour *n, struct session_seg *g)
{
	struct frame_segment s = { .xid = g->xid, .off = g->off, .total = g->total, .seq = n->seq + 1 };
	size_t room;

	if (g->retransmission || g->off + g->len >= g->total)
		return;
	room = segment_room(l, n, &s);
	if (room > g->len)
		session_tx_grow(n->tx, g, room > UINT32_MAX ? UINT32_MAX : (uint32_t)room);
}

/*
 * Segment g to n, in one frame, or in several if its frame no longer fits
 * the MTU: a retransmission of a segment that filled its first frame, when
 * the header has grown since (a longer sequence number or frame counter, a
 * full envelope instead of a compact one).  The receiver takes byte ranges,
 * so the session need not know; it resends g whole if a part is lost.
 */
static int
send_segment(struct link *l, struct neighbour *n, const struct session_seg *g, const uint8_t *data)
{
	struct frame_msg m = { .type = FRAME_SEGMENT };
	struct frame_segment *s = &m.u.seg;
	uint32_t done = 0;
	size_t room;
	int e;

	do {
		*s = (struct frame_segment){ .xid = g->xid, .off = g->off + done, .total = g->total,
		    .seq = ++n->seq, .data = data ? data + done : NULL, .len = g->len - done };
		room = segment_room(l, n, s);
		if (room > 0 && s->len > room)
			s->len = room;
		if ((e = link_send(l, n, &m)) < 0)
			return e;
		done += (uint32_t)s->len;
	} while (done < g->len);
	return 0;
}

/*
 * Send n's next segment, if one is due.  1 sent, 0 nothing due (or n's
 * session failed: n is down), -EAGAIN the medium is full (stop pumping).
 */
static int
pump_one(struct link *l, struct neighbour *n, uint64_t now)
{
	struct session_seg g;
	const uint8_t *data;
	long got;
	int r, e;

	for (;;) {
		data = NULL;
		e = 0;
		if ((r = session_tx_next(n->tx, now, &g)) != 1)
			break;
		segment_fill(l, n, &g);
		if (g.len > 0 && (got = segment_data(l, n, &g, &data)) < 0) {
			/* The bundle left the store under us (expired): give it back. */
			void *ctx = session_tx_abort(n->tx, g.xid);

			if (ctx)
				l->ev.returned(l->ev.arg, l, n->node, ctx, (int)got);
			continue;
		}
		/* A whole small bundle to a neighbour that speaks compact: into the shared frame. */
		if (speaks_compact(l, n) && g.off == 0 && g.len == g.total && g.len > 0 &&
		    (e = pack_add(l, n, &g, data)) == 1)
			return 1;
		/* Small bundles packed before g go first, and g only if the medium still takes it. */
		if (e == 0 && l->pack.u.bundles.n > 0 && (e = pack_flush(l, n)) == 0 &&
		    link_paced(l) && link_medium_busy(l, now) && session_tx_unsend(n->tx, &g))
			return -EAGAIN;
		if (e == 0)
			e = send_segment(l, n, &g, data);
		if (e == -EAGAIN) {
			/* The medium is full: wake when it is not; a new segment goes then, a
			 * retransmission at its timeout. */
			session_tx_unsend(n->tx, &g);
			pack_flush(l, n);
			if (!link_medium_busy(l, now))
				loop_mod_fd(l->loop, l->ops->fd(l->drv), EPOLLIN | EPOLLOUT);
			return -EAGAIN;
		}
		return 1;
	}
	if (r == -ETIMEDOUT)
		link_nbr_down(l, n, "no acknowledgements");
	return 0;
}

/*
 * A paced medium: one segment at a time from the neighbour with the most
 * urgent one due, neighbours of equal urgency in turn (fair share between
 * destinations), until the medium is busy.  So at most about one frame of
 * bulk is ahead of an alert, whichever neighbour either is for.
 */
static bool
pump_paced(struct link *l, uint64_t now)
{
	struct neighbour *packed = NULL;	/* whose bundles the BUNDLES frame holds */
	bool busy;

	if ((packed = l->pack_for) != NULL) {
		/* Filled last time while another frame took the medium: it goes first. */
		if (link_medium_busy(l, now))
			return true;
		l->pack_for = NULL;
		pack_flush(l, packed);
		return link_medium_busy(l, now);
	}
	for (;;) {
		struct neighbour *best = NULL;
		int bp = INT_MAX, r;

		for (unsigned k = 0; k < l->n_nbr; k++) {
			struct neighbour *n = &l->nbr[(l->rr + k) % l->n_nbr];
			int p;

			if (n->up && n->tx && (p = session_tx_next_prio(n->tx, now)) >= 0 && p < bp) {
				best = n;
				bp = p;
			}
		}
		if (best == NULL || link_medium_busy(l, now)) {
			busy = best != NULL;
			break;
		}
		l->rr = (unsigned)(best - l->nbr + 1) % l->n_nbr;
		if (packed != NULL && packed != best)
			pack_flush(l, packed);
		packed = best;
		if ((r = pump_one(l, best, now)) != 1) {
			busy = r < 0;	/* 0: its session failed or gave nothing; the timer looks again */
			break;
		}
	}
	/* Offered to a busy medium, its bundles would wait for their timeout. */
	if (packed != NULL && packed->up && l->pack.u.bundles.n > 0 && link_medium_busy(l, now))
		l->pack_for = packed;
	else if (packed != NULL && packed->up)
		pack_flush(l, packed);	/* -EAGAIN: what it held goes again at its timeout */
	return busy;
}

/* Put due segments on the medium; re-arm the timer for the next deadline. */
void
pump_run(struct link *l)
{
	uint64_t now = loop_now(), next = UINT64_MAX, d;
	int r;

	if (link_paced(l) && pump_paced(l, now))
		return;	/* the medium is busy: its timer or EPOLLOUT wakes us */
	for (unsigned i = 0; i < l->n_nbr; i++) {
		struct neighbour *n = &l->nbr[i];

		if (!n->up || n->tx == NULL)
			continue;
		if (!link_paced(l)) {
			while ((r = pump_one(l, n, now)) == 1)
				;
			if (r == 0 && pack_flush(l, n) == -EAGAIN) {
				if (!link_medium_busy(l, now))
					loop_mod_fd(l->loop, l->ops->fd(l->drv), EPOLLIN | EPOLLOUT);
				return;
			}
			if (r < 0)
				return;
			if (!n->up || n->tx == NULL)
				continue;
		}
		if ((d = session_tx_deadline(n->tx)) < next)
			next = d;
	}
	if (next != UINT64_MAX)
		loop_timer_set(l->loop, &l->pump_timer, next > now ? next - now : 1, pump_timer, l);
}

void
pump_timer(struct loop *loop, void *arg)
{
	pump_run(arg);
}
