/*
 * link.c - the generic link layer: neighbours from beacons, one reliable
 * session each way per neighbour, frames sealed and opened, incoming
 * bundles assembled in memory or spool files, outgoing ones read ahead from
 * the store.  Drivers below only move frames.  Live voice frames bypass all
 * of that: sealed and handed to the driver at once, delivered to the owner
 * as they come, never acked or kept.
 *
 * What a segment costs is what limits throughput, so nothing is done once
 * per segment that can be done once per bundle or per burst: SEG_ACKs are
 * delayed and cumulative, reads from the store are 256 KB at a time, small
 * bundles are assembled without a file.
 *
 * The layer is four files around one private header (radio/link_int.h):
 * this one, the pump (radio/pump.c), compact packing (radio/pack.c) and
 * metering (radio/meter.c).
 *
 * Failure detection: a neighbour not heard for dead_ms (3 beacons: 1.5 s at
 * the default 500 ms beacon, inside the 2 s of DESIGN.md section 5) is gone,
 * at that deadline to the millisecond (silence_timer), not at a later tick;
 * carrier loss (link_set_carrier, from netlink) makes every neighbour gone at
 * once.  Either way its unfinished transfers go back to the owner, who
 * reroutes them; nothing is lost, since the owner's store still holds them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "crypto.h"
#include "frame.h"
#include "link.h"
#include "link_int.h"
#include "log.h"
#include "loop.h"
#include "session.h"

_Static_assert(FRAME_DROP_N <= sizeof(((struct link_metrics *)0)->dropped) / sizeof(uint64_t),
    "link_metrics.dropped holds every frame_drop cause");

static void silence_arm(struct link *l);

const char *
link_name(const struct link *l)
{
	return l->conf.name;
}

static struct neighbour *
nbr_find(struct link *l, uint64_t node)
{
	for (unsigned i = 0; i < l->n_nbr; i++)
		if (l->nbr[i].node == node)
			return &l->nbr[i];
	return NULL;
}

bool
link_neighbour_up(const struct link *l, uint64_t node)
{
	struct neighbour *n;

	if (l->ext)
		return l->ext->neighbour_up(l->x, node);
	n = nbr_find((struct link *)l, node);

	return n && n->up;
}

void
link_neighbours(struct link *l, link_neighbour_fn *fn, void *arg)
{
	if (l->ext) {
		l->ext->neighbours(l->x, fn, arg);
		return;
	}
	for (unsigned i = 0; i < l->n_nbr; i++)
		if (l->nbr[i].up)
			fn(arg, l, l->nbr[i].node, &l->nbr[i].addr);
}

/* Seal m for neighbour n (NULL: everyone) and hand it to the driver. */
int
link_send(struct link *l, struct neighbour *n, const struct frame_msg *m)
{
	const struct crypto_key *key = crypto_keyring_send_key(l->p.keys);
	struct frame_hdr h = { .flags = l->p.flags, .sender = (uint32_t)l->p.node,
	    .boot = l->p.sender->boot };
	ssize_t len;
	int r;

	if (key == NULL)
		return -ENOKEY;
	if ((r = crypto_sender_next(l->p.sender, &h.counter)) < 0)
		return r;
	h.compact = compact_envelope(l, n, h.counter);
	if ((len = frame_seal(l->buf, sizeof(l->buf), &h, m, key)) < 0)
		return (int)len;
	if ((r = l->ops->send(l->drv, n ? &n->addr : NULL, l->buf, (size_t)len)) < 0) {
		l->m.send_errors++;
		return r;
	}
	for (unsigned i = 0; i < l->n_nbr; i++)
		if (n == NULL || &l->nbr[i] == n) {
			l->nbr[i].sent = true;
			l->nbr[i].last_counter = h.counter;
		}
	l->m.frames_tx++;
	l->m.bytes_tx += (uint64_t)len;
	if (m->type == FRAME_SEGMENT || m->type == FRAME_BUNDLES) {
		l->m.data_bytes_tx += (uint64_t)len;
		l->m.data_frames_tx++;
	} else if (m->type != FRAME_BEACON && m->type != FRAME_ROUTE && m->type != FRAME_VOICE) {
		l->m.ack_bytes_tx += (uint64_t)len;
		l->m.ack_frames_tx++;
	}
	meter_duty_charge(l, (size_t)len);
	meter_budget_charge(l, (size_t)len);
	return 0;
}

static void
spool_close(struct link *l, struct spool *s)
{
	if (s->xid == 0)
		return;
	if (s->mem) {
		free(s->mem);
		l->spool_mem -= s->size;
		s->mem = NULL;
	} else {
		close(s->fd);
	}
	s->xid = 0;
}

/*
 * Hand every unfinished transfer back to the owner and drop our sending
 * session.  The receiving side (and its half-assembled bundles) is dropped
 * only when the neighbour itself restarted: after a short outage on our side
 * it simply goes on where it stopped.
 */
static void
nbr_reset(struct link *l, struct neighbour *n, int reason, bool restarted)
{
	void *ctx;

	if (n->tx) {
		n->next_xid = session_tx_next_id(n->tx);
		while ((ctx = session_tx_drain(n->tx)) != NULL)
			l->ev.returned(l->ev.arg, l, n->node, ctx, reason);
	}
	session_tx_free(n->tx);
	n->tx = NULL;
	if (l->ra.nbr == n)
		l->ra.nbr = NULL;	/* transfer ids may start again */
	if (!restarted)
		return;
	session_rx_free(n->rx);
	n->rx = NULL;
	n->n_acks = 0;
	n->ack_segs = 0;
	n->ack_due = 0;
	n->n_commits = 0;	/* ids of its old sending session */
	n->compact = false;	/* until its next beacon says */
	n->has_base = false;
	for (unsigned i = 0; i < LINK_SPOOLS; i++)
		spool_close(l, &n->spool[i]);
}

void
link_nbr_down(struct link *l, struct neighbour *n, const char *why)
{
	if (!n->up)
		return;
	n->up = false;
	n->route_sent = 0;
	log_info("link %s: neighbour ipn:%llu lost (%s)", l->conf.name, (unsigned long long)n->node, why);
	nbr_reset(l, n, -ENETDOWN, false);
	l->ev.neighbour(l->ev.arg, l, n->node, false);
}

/* A frame from node at addr passed every check: (re)learn the neighbour. */
static struct neighbour *
nbr_heard(struct link *l, const struct frame_hdr *h, const struct link_addr *from)
{
	struct neighbour *n = nbr_find(l, h->sender);
	char a[96];

	if (n == NULL) {
		if (l->n_nbr == LINK_MAX_NEIGHBOURS)
			return NULL;
		n = &l->nbr[l->n_nbr++];
		memset(n, 0, sizeof(*n));
		n->node = h->sender;
		n->boot = h->boot;
		/*
		 * It may have heard us before its restart and put its window for
		 * us up to CRYPTO_RESTART_MARGIN above what it saved (peerstate.h):
		 * go on above that, or it takes our frames for replays.
		 */
		crypto_sender_skip(l->p.sender, CRYPTO_RESTART_MARGIN);
	}
	if (n->boot != h->boot) {
		/* It restarted: its half-received transfers are gone; start ours again. */
		log_info("link %s: neighbour ipn:%llu restarted", l->conf.name, (unsigned long long)n->node);
		nbr_reset(l, n, -ECONNRESET, true);
		n->next_xid = 1;
		crypto_sender_skip(l->p.sender, CRYPTO_RESTART_MARGIN);	/* as above */
		n->sent = false;	/* full envelopes until it has heard one of ours */
	}
	n->boot = h->boot;
	n->addr = *from;
	n->heard = loop_now();
	if (n->tx == NULL) {
		if ((n->tx = session_tx_new(l->mss, l->p.window, l->rto0, n->next_xid)) == NULL)
			return NULL;
		session_tx_set_quantum(n->tx, l->rr_quantum);
		/*
		 * Its SEG_ACKs may be held up to LINK_ACK_EVERY_PACED frame times
		 * (ack_hold; a radio link is configured alike at both ends), then
		 * wait behind the frame on the air and take their own.
		 */
		if (l->frame_ms)
			session_tx_set_ack_delay(n->tx, (LINK_ACK_EVERY_PACED + 2) * l->frame_ms);
	}
	if (n->rx == NULL && (n->rx = session_rx_new()) == NULL)
		return NULL;
	if (!n->up && l->carrier) {
		n->up = true;
		link_addr_format(from, a, sizeof(a));
		log_info("link %s: neighbour ipn:%llu at %s", l->conf.name, (unsigned long long)n->node, a);
		if (!l->silence_timer.armed)
			silence_arm(l);	/* else it fires sooner, for a neighbour heard before */
		l->ev.neighbour(l->ev.arg, l, n->node, true);
	}
	return n;
}

/*
 * The assembly of transfer xid; with create, a new one for a bundle of total
 * bytes if there is none.  Small bundles are assembled in memory, within
 * the link's budget: a file per bundle and a write per segment cost more
 * than the rest of the receiving path.  Large ones go to an unlinked file.
 */
static struct spool *
spool_get(struct link *l, struct neighbour *n, uint64_t xid, uint64_t total, bool create)
{
	struct spool *free_slot = NULL;

	for (unsigned i = 0; i < LINK_SPOOLS; i++) {
		if (n->spool[i].xid == xid)
			return &n->spool[i];
		if (n->spool[i].xid == 0 && free_slot == NULL)
			free_slot = &n->spool[i];
	}
	if (!create || free_slot == NULL) {
		errno = ENOBUFS;
		return NULL;
	}
	free_slot->mem = NULL;
	free_slot->fd = -1;
	if (total <= LINK_MEM_BUNDLE && l->spool_mem + total <= LINK_MEM_BUDGET &&
	    (free_slot->mem = malloc(total)) != NULL) {
		free_slot->size = (size_t)total;
		l->spool_mem += free_slot->size;
	} else if ((free_slot->fd = open(l->p.spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) < 0) {
		return NULL;
	}
	free_slot->xid = xid;
	return free_slot;
}

static int
spool_write(struct spool *sp, const struct frame_segment *s)
{
	if (sp->mem) {
		if (s->off > sp->size || s->len > sp->size - s->off)
			return -EINVAL;	/* the session checked it already */
		memcpy(sp->mem + s->off, s->data, s->len);
		return 0;
	}
	if (pwrite(sp->fd, s->data, s->len, (off_t)s->off) != (ssize_t)s->len)
		return errno ? -errno : -ENOSPC;
	return 0;
}

void
link_send_simple(struct link *l, struct neighbour *n, uint8_t type, uint64_t xid, uint8_t reason)
{
	struct frame_msg m = { .type = type };

	if (type == FRAME_COMMIT_ACK) {
		m.u.commit.xid = xid;
	} else {
		m.u.abort.xid = xid;
		m.u.abort.reason = reason;
	}
	link_send(l, n, &m);
}

/*
 * SEG_ACKs are cumulative (with SACK ranges), so they need not answer every
 * segment: one answers the in-order segments that arrived since the last,
 * sent once LINK_ACK_EVERY have come or the socket has nothing more to read
 * (link_readable), which adds no delay a sender could wait on.  A segment
 * that leaves or fills a gap, a duplicate, and the last segment of a bundle
 * are answered at once, so that loss recovery and the window do not wait.
 * A paced radio holds them longer (ack_hold), and leaves the last segment's
 * answer to the bundle's commit ack.
 */
void
link_on_segment(struct link *l, struct neighbour *n, const struct frame_segment *s)
{
	int r = session_rx_segment(n->rx, s->xid, s->total, s->off, s->len);
	struct spool *sp;
	uint64_t cum;
	int e = 0;

	switch (r) {
	case RX_COMMITTED:
		pack_commit_owe(l, n, s->xid);
		return;
	case RX_BAD:
		if ((sp = spool_get(l, n, s->xid, 0, false)) != NULL)
			spool_close(l, sp);
		session_rx_forget(n->rx, s->xid);
		link_send_simple(l, n, FRAME_ABORT, s->xid, ABORT_BAD_TRANSFER);
		return;
	case RX_DUP:
		pump_ack_owe(l, n, s->xid, true);
		return;
	}
	if (r == RX_COMPLETE && s->off == 0 && s->len == s->total) {
		/* A small bundle in one segment: straight from the frame, no spool, and
		 * no SEG_ACK either: its COMMIT_ACK follows within a group commit. */
		l->ev.bundle(l->ev.arg, l, n->node, s->xid, -1, s->data, s->total);
		return;
	}
	sp = spool_get(l, n, s->xid, s->total, true);
	if (sp == NULL || (e = spool_write(sp, s)) < 0) {
		/* No room to assemble it: refuse, the sender keeps its copy. */
		log_limited(&l->rl, "link %s: cannot spool a bundle from ipn:%llu: %s", l->conf.name,
		    (unsigned long long)n->node, strerror(sp ? -e : errno));
		if (sp)
			spool_close(l, sp);
		session_rx_forget(n->rx, s->xid);
		link_send_simple(l, n, FRAME_ABORT, s->xid, ABORT_REFUSED_QUOTA);
		return;
	}
	session_rx_ack(n->rx, s->xid, &cum, NULL, 0);
	/* Complete: the commit follows within a group commit; a paced radio leaves the answer to it. */
	pump_ack_owe(l, n, s->xid, (r == RX_COMPLETE && !l->frame_ms) || cum != s->off + s->len);
	if (r == RX_COMPLETE) {
		l->ev.bundle(l->ev.arg, l, n->node, s->xid, sp->fd, sp->mem, s->total);
		/* The owner may have committed or refused synchronously; either way the spool is done. */
		sp = spool_get(l, n, s->xid, 0, false);
		if (sp)
			spool_close(l, sp);
	}
}

static void
on_frame(struct link *l, uint8_t *buf, size_t len, const struct link_addr *from)
{
	struct frame_hdr h;
	struct frame_msg m;
	struct neighbour *n;
	enum frame_drop why = frame_open(&l->rx, buf, len, &h, &m);
	struct route_entry v[FRAME_ROUTE_MAX];
	void *ctx;

	if (why != FRAME_OK) {
		if ((unsigned)why < sizeof(l->m.dropped) / sizeof(l->m.dropped[0]))
			l->m.dropped[why]++;
		if (why == FRAME_DROP_OWN)
			log_limited(&l->rl, "link %s: a frame with our own node id %llu: reflected back, "
			    "or another node is configured with this id (its frame nonces collide with ours)",
			    l->conf.name, (unsigned long long)l->p.node);
		else
			log_limited(&l->rl, "link %s: dropped a frame: %s", l->conf.name, frame_drop_name(why));
		return;
	}
	l->m.frames_rx++;
	l->m.bytes_rx += len;
	if ((n = nbr_heard(l, &h, from)) == NULL || !n->up)
		return;
	switch (m.type) {
	case FRAME_BEACON:
		snprintf(n->name, sizeof(n->name), "%s", m.u.beacon.name);
		n->compact = (m.u.beacon.caps & FRAME_CAP_COMPACT) != 0;
		if (n->compact) {
			n->time_base = m.u.beacon.time_base;
			n->has_base = true;
		}
		break;
	case FRAME_BUNDLES:
		pack_on_bundles(l, n, &m.u.bundles);
		break;
	case FRAME_COMMITS:
		for (unsigned i = 0; i < m.u.commits.n; i++)
			if ((ctx = session_tx_commit(n->tx, m.u.commits.xid[i])) != NULL)
				l->ev.delivered(l->ev.arg, l, n->node, ctx);
		break;
	case FRAME_SEGMENT:
		link_on_segment(l, n, &m.u.seg);
		break;
	case FRAME_SEG_ACK: {
		struct session_range r[FRAME_SACK_MAX];

		for (unsigned i = 0; i < m.u.ack.n; i++) {
			r[i].off = m.u.ack.sack[i].off;
			r[i].len = m.u.ack.sack[i].len;
		}
		session_tx_ack(n->tx, m.u.ack.xid, m.u.ack.cum, r, m.u.ack.n, loop_now());
		break;
	}
	case FRAME_COMMIT_ACK:
		if ((ctx = session_tx_commit(n->tx, m.u.commit.xid)) != NULL)
			l->ev.delivered(l->ev.arg, l, n->node, ctx);
		break;
	case FRAME_ABORT:
		if ((ctx = session_tx_abort(n->tx, m.u.abort.xid)) != NULL)
			l->ev.returned(l->ev.arg, l, n->node, ctx, -m.u.abort.reason);
		break;
	case FRAME_ROUTE:
		for (unsigned i = 0; i < m.u.route.n; i++) {
			v[i].node = m.u.route.e[i].node;
			v[i].cost = m.u.route.e[i].cost;
		}
		if (l->ev.route)
			l->ev.route(l->ev.arg, l, n->node, v, m.u.route.n);
		break;
	case FRAME_VOICE:
		l->m.voice_rx++;
		if (l->ev.voice)
			l->ev.voice(l->ev.arg, l, n->node, m.u.voice.group, m.u.voice.spurt, m.u.voice.seq,
			    m.u.voice.data, m.u.voice.len);
		return;	/* no ack, no session state: nothing for the pump to do */
	default:
		break;
	}
	pump_run(l);
}

static void
link_readable(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct link *l = arg;
	struct link_addr from;
	ssize_t n;

	if (events & EPOLLOUT) {
		loop_mod_fd(loop, fd, EPOLLIN);
		pump_run(l);
	}
	/* A bounded batch per wake-up, so one busy link cannot starve the loop. */
	for (int i = 0; i < 64 && (events & EPOLLIN); i++) {
		if ((n = l->ops->recv(l->drv, &from, l->seg, sizeof(l->seg))) == -EAGAIN)
			break;
		if (n == -EMSGSIZE) {
			l->m.dropped[FRAME_DROP_TRUNCATED]++;
			log_limited(&l->rl, "link %s: dropped a frame: %s", l->conf.name,
			    frame_drop_name(FRAME_DROP_TRUNCATED));
			continue;
		}
		if (n < 0) {
			log_limited(&l->rl, "link %s: receive: %s", l->conf.name, strerror((int)-n));
			break;
		}
		if (l->carrier)
			on_frame(l, l->seg, (size_t)n, &from);
	}
	pump_acks_flush(l);
	/* A driver that watches its device (a KISS TNC) says here when it went or came back. */
	if (l->ops->up)
		link_set_carrier(l, l->ops->up(l->drv));
}

/* Beacon, and notice neighbours that fell silent (a radio fade keeps the carrier up). */
static void
link_beacon(struct loop *loop, void *arg)
{
	struct link *l = arg;
	struct frame_msg m = { .type = FRAME_BEACON };

	if (l->carrier && meter_open(l, time(NULL))) {
		m.u.beacon.node = l->p.node;
		m.u.beacon.mtu = l->conf.mtu;
		m.u.beacon.rate = l->conf.rate_bps;
		snprintf(m.u.beacon.name, sizeof(m.u.beacon.name), "%s", l->p.name ? l->p.name : "");
		m.u.beacon.name_len = (uint8_t)strlen(m.u.beacon.name);
		if (l->compact) {
			m.u.beacon.caps = FRAME_CAP_COMPACT;
			m.u.beacon.time_base = l->time_base;
		}
		link_send(l, NULL, &m);
	}
	loop_timer_set(loop, &l->beacon_timer, l->p.beacon_ms, link_beacon, l);
}

/* Neighbours whose dead_ms ran out are gone (a radio fade keeps the carrier up). */
static void
link_silence(struct loop *loop, void *arg)
{
	struct link *l = arg;
	uint64_t now = loop_now();

	for (unsigned i = 0; i < l->n_nbr; i++)
		if (l->nbr[i].up && l->nbr[i].heard + l->p.dead_ms <= now)
			link_nbr_down(l, &l->nbr[i], "silent");
	silence_arm(l);
}

/*
 * Wake at the first neighbour's deadline.  Frames heard only move deadlines
 * later, so they need not re-arm it: when it fires early it arms again.
 */
static void
silence_arm(struct link *l)
{
	uint64_t next = UINT64_MAX, now = loop_now();

	for (unsigned i = 0; i < l->n_nbr; i++)
		if (l->nbr[i].up && l->nbr[i].heard + l->p.dead_ms < next)
			next = l->nbr[i].heard + l->p.dead_ms;
	if (next == UINT64_MAX)
		loop_timer_cancel(l->loop, &l->silence_timer);
	else
		loop_timer_set(l->loop, &l->silence_timer, next > now ? next - now : 0, link_silence, l);
}

void
link_set_carrier(struct link *l, bool up)
{
	if (l->ext || up == l->carrier)
		return;
	l->carrier = up;
	log_info("link %s: carrier %s", l->conf.name, up ? "up" : "down");
	if (!up) {
		for (unsigned i = 0; i < l->n_nbr; i++)
			link_nbr_down(l, &l->nbr[i], "carrier lost");
	} else {
		link_beacon(l->loop, l);	/* be heard at once, not at the next tick */
	}
	if (l->ev.carrier)
		l->ev.carrier(l->ev.arg, l, up);
}

int
link_enqueue(struct link *l, uint64_t node, uint64_t total, int prio, void *ctx)
{
	struct neighbour *n;

	if (l->ext)
		return l->ext->enqueue(l->x, node, total, prio, ctx);
	n = nbr_find(l, node);

	if (n == NULL || !n->up)
		return -EHOSTUNREACH;
	if (total >= FRAME_TRANSFER_MAX)
		return -EMSGSIZE;
	if (session_tx_add(n->tx, total, prio, ctx) == 0)
		return -ENOMEM;
	/* Compact: at the end of this loop turn, with whatever else is queued in it. */
	if (speaks_compact(l, n))
		loop_timer_set(l->loop, &l->pump_timer, 0, pump_timer, l);
	else
		pump_run(l);
	return 0;
}

int
link_withdraw(struct link *l, uint64_t node, void *ctx)
{
	struct neighbour *n;

	if (l->ext)
		return l->ext->withdraw ? l->ext->withdraw(l->x, node, ctx) : -EBUSY;
	if ((n = nbr_find(l, node)) == NULL || n->tx == NULL)
		return -ENOENT;
	return session_tx_withdraw(n->tx, ctx);
}

void
link_committed(struct link *l, uint64_t node, uint64_t xid)
{
	struct neighbour *n;

	if (l->ext) {
		l->ext->committed(l->x, node, xid);
		return;
	}
	n = nbr_find(l, node);

	if (n == NULL || n->rx == NULL)
		return;
	session_rx_committed(n->rx, xid);
	pack_commit_owe(l, n, xid);
}

void
link_refused(struct link *l, uint64_t node, uint64_t xid, int reason)
{
	struct neighbour *n;

	if (l->ext) {
		l->ext->refused(l->x, node, xid, reason);
		return;
	}
	n = nbr_find(l, node);

	if (n == NULL || n->rx == NULL)
		return;
	session_rx_forget(n->rx, xid);
	link_send_simple(l, n, FRAME_ABORT, xid, (uint8_t)reason);
}

int
link_send_voice(struct link *l, uint64_t node, uint64_t talkgroup, uint64_t spurt, uint64_t seq,
    const void *data, size_t len)
{
	struct frame_msg m = { .type = FRAME_VOICE, .u.voice = { .group = talkgroup, .spurt = spurt,
	    .seq = seq, .data = data, .len = len } };
	ssize_t blen;
	int r, sent = 0, first = -EHOSTUNREACH;

	if (l->ext)
		return -EHOSTUNREACH;	/* no live voice over paid messages */
	if (len < 1 || len > FRAME_VOICE_MAX)
		return -EINVAL;
	/* Checked before sealing, with the longest header: no counter spent on a frame that cannot go. */
	if ((blen = frame_body_encode(&m, NULL, 0)) < 0)
		return (int)blen;
	if ((size_t)blen + frame_overhead(l->p.flags) > l->conf.mtu)
		return -EMSGSIZE;
	for (unsigned i = 0; i < l->n_nbr; i++) {
		struct neighbour *n = &l->nbr[i];

		if (!n->up || (node != 0 && n->node != node))
			continue;
		if ((r = link_send(l, n, &m)) == 0) {
			l->m.voice_tx++;
			sent++;
		} else if (first == -EHOSTUNREACH) {
			first = r;
		}
	}
	return sent > 0 ? 0 : first;
}

int
link_send_route(struct link *l, uint64_t node, const struct route_entry *v, size_t n)
{
	struct neighbour *nb = nbr_find(l, node);
	struct frame_msg m = { .type = FRAME_ROUTE };
	uint64_t now = loop_now();
	int r = 0;

	if (l->ext)
		return 0;	/* no distance vectors over paid messages: routes there are configured */
	if (nb == NULL || !nb->up)
		return -EHOSTUNREACH;
	if (!meter_open(l, time(NULL)))
		return -EAGAIN;	/* out of contact or budget: the next vector goes when it is back */
	if (nb->route_sent && now < nb->route_sent + l->route_ms)
		return 0;	/* a slow link: the last vector is recent enough */
	nb->route_sent = now;
	/* At most FRAME_ROUTE_MAX entries per frame: split longer vectors. */
	for (size_t off = 0; off < n && r == 0; off += FRAME_ROUTE_MAX) {
		size_t k = n - off < FRAME_ROUTE_MAX ? n - off : FRAME_ROUTE_MAX;

		m.u.route.n = (uint8_t)k;
		for (size_t i = 0; i < k; i++) {
			m.u.route.e[i].node = v[off + i].node;
			m.u.route.e[i].cost = v[off + i].cost;
		}
		r = link_send(l, nb, &m);
	}
	return r;
}

/*
 * The most a segment frame from this sender adds to its data: the full header
 * (4 bytes, our node id, boot and frame counter below 2^32: 5 bytes each), the
 * tag, and the segment's varints: transfer id (a per-hop counter, below 2^49: 7
 * bytes), offset and total (at most FRAME_TRANSFER_MAX: 5 each), sequence
 * number (10).  A compact envelope is smaller.  On a 256-byte radio frame the
 * worst case of every varint (41 bytes) would cost 7 % of the airtime.
 */
static size_t
segment_overhead(uint32_t node, uint8_t flags)
{
	struct wr w = { NULL, 0, 0 };

	put_varint(&w, node);
	return frame_overhead(flags) - FRAME_HDR_MAX + 4 + w.len + 5 + 5 + 7 + 5 + 5 + 10;
}

struct link *
link_new(struct loop *loop, const struct link_conf *c, const struct link_driver_ops *ops,
    const struct link_params *p, const struct link_events *ev, char *err, size_t errlen)
{
	struct link *l;
	size_t overhead;

	if (p->node == 0 || p->node > UINT32_MAX) {
		snprintf(err, errlen, "link %s: node id %llu does not fit the frame nonce (1 .. 2^32-1)",
		    c->name, (unsigned long long)p->node);
		return NULL;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->loop = loop;
	l->conf = *c;
	l->ops = ops;
	l->p = *p;
	l->ev = *ev;
	if (l->p.beacon_ms == 0)
		l->p.beacon_ms = 500;
	if (l->p.dead_ms == 0)
		l->p.dead_ms = 3 * l->p.beacon_ms;
	if (l->p.window == 0)
		l->p.window = 64;
	l->rx.keys = p->keys;
	l->rx.flags = p->flags;
	l->rx.self = (uint32_t)p->node;
	if ((l->rx.replay = crypto_replay_new(0)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((l->drv = ops->open(c, err, errlen)) == NULL)
		goto fail;
	/* A medium that knows its frame size (an Ethernet interface) has the last word. */
	if (ops->mtu)
		l->conf.mtu = ops->mtu(l->drv);
	/* Vectors to a neighbour no more often than beacons, yet often enough to keep routes (route.h). */
	l->route_ms = l->p.beacon_ms < ROUTE_HOLD_MS / 3 ? l->p.beacon_ms : ROUTE_HOLD_MS / 3;
	if (l->conf.mtu == 0)
		l->conf.mtu = 1400;
	/* Segment data: the MTU less the frame's envelope and the segment's own header. */
	overhead = segment_overhead((uint32_t)p->node, p->flags);
	if (l->conf.mtu <= overhead + 16 || l->conf.mtu > LINK_FRAME_MAX) {
		snprintf(err, errlen, "link %s: mtu %u out of range", c->name, l->conf.mtu);
		goto fail;
	}
	l->mss = (uint32_t)(l->conf.mtu - overhead);
	/* 1 s before the first round trip is measured (RFC 6298 2.1: a satellite hop takes 600 ms),
	 * plus, on a slow link, three full frames: ours, one ahead of it, the ack behind the peer's. */
	l->rto0 = 1000;
	if (l->conf.rate_bps)
		l->rto0 += (uint32_t)(3ULL * l->conf.mtu * 10 * 1000 / l->conf.rate_bps);
	/* A radio behind a TNC (the driver paces to its airtime) at a known rate thins its acks (ack_hold). */
	if (ops->ready_at && l->conf.rate_bps)
		l->frame_ms = (uint32_t)((meter_airtime_us(l, l->conf.mtu) + 999) / 1000);
	l->compact = p->compact == LINK_COMPACT_YES || (p->compact == LINK_COMPACT_AUTO &&
	    (l->conf.mtu <= LINK_COMPACT_MTU || (l->conf.rate_bps > 0 && l->conf.rate_bps <= LINK_COMPACT_RATE)));
	if (loop_wallclock_ms() > DTN_EPOCH_UNIX_MS)
		l->time_base = loop_wallclock_ms() - DTN_EPOCH_UNIX_MS;
	/* A turn is about a second of the link's rate: fair on a radio, one read-ahead on a mesh hop. */
	l->rr_quantum = l->conf.rate_bps ? l->conf.rate_bps / 8 : LINK_READAHEAD;
	if (l->rr_quantum < l->mss)
		l->rr_quantum = l->mss;
	if (l->rr_quantum > LINK_READAHEAD)
		l->rr_quantum = LINK_READAHEAD;
	/* Paced radio: a turn as long as an ack is held, so that one SEG_ACK answers one turn (pump_ack_owe). */
	if (l->frame_ms && l->rr_quantum < (uint64_t)LINK_ACK_EVERY_PACED * l->mss)
		l->rr_quantum = (uint64_t)LINK_ACK_EVERY_PACED * l->mss;
	if (l->conf.duty_permille && l->conf.duty_window_ms == 0)
		l->conf.duty_window_ms = 60000;
	l->duty_at = loop_now();
	l->duty_us = (int64_t)l->conf.duty_window_ms * l->conf.duty_permille;
	/* A metered link goes on with what it spent before a restart, in the same period. */
	l->budget_period = p->budget_period;
	l->budget_used = l->budget_saved = p->budget_spent;
	if ((l->ra.buf = malloc(LINK_READAHEAD)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (loop_add_fd(loop, ops->fd(l->drv), EPOLLIN, link_readable, l) < 0) {
		snprintf(err, errlen, "link %s: cannot watch its socket", c->name);
		goto fail;
	}
	l->carrier = ops->up ? ops->up(l->drv) : true;
	l->closed = !meter_open(l, time(NULL));
	if (l->conf.budget_bytes || l->conf.n_windows)
		meter_contact(loop, l);
	link_beacon(loop, l);
	return l;
fail:
	if (l->drv)
		ops->close(l->drv);
	crypto_replay_free(l->rx.replay);
	free(l->ra.buf);
	free(l);
	return NULL;
}

struct crypto_replay *
link_replay(struct link *l)
{
	return l->ext ? NULL : l->rx.replay;
}

struct link *
link_new_ext(struct loop *loop, const struct link_conf *c, const struct link_ext_ops *ops,
    const struct link_params *p, const struct link_events *ev, char *err, size_t errlen)
{
	struct link *l;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->loop = loop;
	l->conf = *c;
	l->p = *p;
	l->ev = *ev;
	l->ext = ops;
	if ((l->x = ops->open(l, loop, c, p, ev, err, errlen)) == NULL) {
		free(l);
		return NULL;
	}
	return l;
}

void
link_free(struct link *l)
{
	if (l == NULL)
		return;
	if (l->ext) {
		l->ext->close(l->x);
		free(l);
		return;
	}
	loop_timer_cancel(l->loop, &l->beacon_timer);
	loop_timer_cancel(l->loop, &l->pump_timer);
	loop_timer_cancel(l->loop, &l->commit_timer);
	loop_timer_cancel(l->loop, &l->ack_timer);
	loop_timer_cancel(l->loop, &l->silence_timer);
	loop_timer_cancel(l->loop, &l->contact_timer);
	for (unsigned i = 0; i < l->n_nbr; i++) {
		session_tx_free(l->nbr[i].tx);
		session_rx_free(l->nbr[i].rx);
		for (unsigned k = 0; k < LINK_SPOOLS; k++)
			spool_close(l, &l->nbr[i].spool[k]);
	}
	loop_del_fd(l->loop, l->ops->fd(l->drv));
	l->ops->close(l->drv);
	crypto_replay_free(l->rx.replay);
	free(l->ra.buf);
	free(l);
}
