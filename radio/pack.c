/*
 * pack.c - compact framing of the link layer (radio/link_int.h).
 *
 * Compact framing (narrow links, when the config enables it and the
 * neighbour's beacon says it speaks it): frames to that neighbour go in the
 * compact envelope (radio/frame.h), and bundles that fit one segment travel
 * in compact form (radio/compact.c) in BUNDLES frames, as many as fit the
 * MTU in one frame.  Nothing else changes: each keeps its own transfer id in
 * the sending session, so retransmission, pokes and the commit handshake
 * work per bundle as for segments; the receiver rebuilds the bundle and
 * hands it on exactly like a one-segment one.  Its commit acks are gathered
 * for one turn of the loop (a store group commit finishes many at once) and
 * leave together in one COMMITS frame.  To give aggregation something to
 * gather, a bundle queued for such a neighbour is sent at the end of the
 * loop turn, not at once.  Bundles compact_encode() refuses (not ours, not
 * canonical) go as ordinary segments.  The compact envelope is used only
 * while our frame counter is within 2^14 of the last frame that neighbour
 * could have heard from us, so that its 16 bits are resolved right; beacons
 * always go in full, and teach the neighbour our boot counter and time base.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compact.h"
#include "frame.h"
#include "link.h"
#include "link_int.h"
#include "log.h"
#include "loop.h"
#include "session.h"

/* Send the BUNDLES message being filled for n, if any: 0 or link_send()'s error. */
int
pack_flush(struct link *l, struct neighbour *n)
{
	unsigned k = l->pack.u.bundles.n;
	int r;

	if (k == 0)
		return 0;
	if (!n->up) {		/* gone meanwhile: its transfers went back to the owner */
		l->pack.u.bundles.n = 0;
		l->pack_len = 0;
		return 0;
	}
	r = link_send(l, n, &l->pack);
	if (r == 0)
		l->m.compact_tx += k;
	l->pack.u.bundles.n = 0;
	l->pack_len = 0;
	return r;
}

/*
 * Put the whole bundle of segment g into the BUNDLES message for n, in
 * compact form, sending the message first if the bundle would not fit in
 * the frame with it.  1 if it is in; 0 if it cannot travel compact (send
 * it as a segment); link_send()'s error if sending the full message failed.
 */
int
pack_add(struct link *l, struct neighbour *n, const struct session_seg *g, const uint8_t *data)
{
	struct compact_ctx c = { .sender = l->p.node, .receiver = n->node, .time_base = l->time_base };
	struct frame_bundles *bs = &l->pack.u.bundles;
	/* The envelope as it is now, and a byte for a counter that grows a varint byte before the flush. */
	size_t env = envelope_len(l, n) + 1, room = l->conf.mtu > env ? l->conf.mtu - env : 0;
	const char *why;
	ssize_t len, body;
	int r;

	l->pack.type = FRAME_BUNDLES;
	for (int tries = 0; tries < 2; tries++) {
		len = compact_encode(&c, data, g->len, l->pack_buf + l->pack_len, sizeof(l->pack_buf) - l->pack_len,
		    &why);
		if (len == -ENOTSUP || len == -ENOMEM || (len == -ENOSPC && bs->n == 0))
			return 0;
		if (len > 0 && bs->n < FRAME_BUNDLES_MAX) {
			bs->b[bs->n++] = (struct frame_bundle){ .xid = g->xid, .data = l->pack_buf + l->pack_len,
			    .len = (size_t)len };
			if ((body = frame_body_encode(&l->pack, NULL, 0)) > 0 && (size_t)body <= room) {
				l->pack_len += (size_t)len;
				return 1;
			}
			bs->n--;
			if (bs->n == 0)
				return 0;	/* alone it does not fit: as segments */
		}
		if ((r = pack_flush(l, n)) < 0)
			return r;
	}
	return 0;
}

/*
 * Bundles in compact form: each rebuilt into l->rebuilt and taken in like a
 * bundle that came in one segment.  The time base is the one the sender's
 * beacon of this boot announced; until we have it, nothing can be rebuilt
 * right, so the frame is left for the sender's retransmission (counted as
 * from an unknown sender).  A compact form that does not decode is counted
 * as a malformed body and refused, so that the sender lets it go.
 */
void
pack_on_bundles(struct link *l, struct neighbour *n, const struct frame_bundles *bs)
{
	struct compact_ctx c = { .sender = n->node, .receiver = l->p.node, .time_base = n->time_base };

	if (!n->has_base) {
		l->m.dropped[FRAME_DROP_UNKNOWN_SENDER]++;
		log_limited(&l->rl, "link %s: compact bundles from ipn:%llu before its beacon: left for a retransmission",
		    l->conf.name, (unsigned long long)n->node);
		return;
	}
	for (unsigned i = 0; i < bs->n; i++) {
		const struct frame_bundle *e = &bs->b[i];
		struct frame_segment s = { .xid = e->xid, .data = l->rebuilt };
		const char *why;
		ssize_t len = compact_decode(&c, e->data, e->len, l->rebuilt, sizeof(l->rebuilt), &why);

		if (len <= 0) {
			/* Authentic, so the sender's encoder and our decoder disagree: say so. */
			l->m.dropped[FRAME_DROP_MALFORMED]++;
			log_limited(&l->rl, "link %s: compact bundle %llu from ipn:%llu does not decode: %s",
			    l->conf.name, (unsigned long long)e->xid, (unsigned long long)n->node,
			    why ? why : "empty");
			session_rx_forget(n->rx, e->xid);
			link_send_simple(l, n, FRAME_ABORT, e->xid, ABORT_BAD_BUNDLE);
			continue;
		}
		l->m.compact_rx++;
		s.total = s.len = (size_t)len;
		link_on_segment(l, n, &s);
	}
}

static int
xid_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Send the COMMITS frame owed to n: its ids ascending. */
static void
commits_flush(struct link *l, struct neighbour *n)
{
	struct frame_msg m = { .type = FRAME_COMMITS };

	if (n->n_commits == 0)
		return;
	qsort(n->commits, n->n_commits, sizeof(n->commits[0]), xid_cmp);
	m.u.commits.n = (uint8_t)n->n_commits;
	memcpy(m.u.commits.xid, n->commits, n->n_commits * sizeof(n->commits[0]));
	n->n_commits = 0;
	link_send(l, n, &m);
}

static void
link_commit_timer(struct loop *loop, void *arg)
{
	struct link *l = arg;

	for (unsigned i = 0; i < l->n_nbr; i++)
		commits_flush(l, &l->nbr[i]);
}

/*
 * Tell n that transfer xid is durable here.  A neighbour that speaks
 * compact framing gets it in a COMMITS frame at the end of this loop turn,
 * with whatever else was committed meanwhile; others at once.
 */
void
pack_commit_owe(struct link *l, struct neighbour *n, uint64_t xid)
{
	pump_ack_drop(n, xid);
	if (!speaks_compact(l, n) || xid >= FRAME_XID_MAX) {
		link_send_simple(l, n, FRAME_COMMIT_ACK, xid, 0);
		return;
	}
	for (unsigned i = 0; i < n->n_commits; i++)
		if (n->commits[i] == xid)
			return;
	if (n->n_commits == FRAME_COMMITS_MAX)
		commits_flush(l, n);
	n->commits[n->n_commits++] = xid;
	if (!l->commit_timer.armed)
		loop_timer_set(l->loop, &l->commit_timer, 0, link_commit_timer, l);
}
