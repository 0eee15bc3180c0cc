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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "compact.h"
#include "crypto.h"
#include "frame.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "session.h"
#include "varint.h"

#define LINK_MAX_NEIGHBOURS	32
#define LINK_FRAME_MAX		65536
#define LINK_SPOOLS		64	/* bundles being assembled per neighbour */
#define LINK_READAHEAD		(256 * 1024)	/* bytes of a bundle read from the store at once */
#define LINK_MEM_BUNDLE		(256 * 1024)	/* bundles up to this are assembled in memory ... */
#define LINK_MEM_BUDGET		(4u << 20)	/* ... while the link's buffers stay under this */
#define LINK_ACK_EVERY		16	/* in-order segments between SEG_ACKs of a neighbour */
#define LINK_ACKS_PENDING	4	/* transfers with a SEG_ACK owed, per neighbour */
#define LINK_ACK_EVERY_PACED	8	/* paced radio: segments between SEG_ACKs, at most ... */
#define LINK_ACK_PAUSE_FRAMES	2	/* ... or after this many frame times without a segment */
#define LINK_COUNTER_SPAN	(1u << 14)	/* compact envelope within this of the last frame sent */
#define LINK_REBUILT_MAX	(LINK_FRAME_MAX + COMPACT_EXPANSION_MAX)	/* a bundle rebuilt from its compact form */
#define LINK_COMPACT_MTU	512	/* compact = auto: on at or below this MTU ... */
#define LINK_COMPACT_RATE	64000	/* ... or this bit rate */

_Static_assert(FRAME_DROP_N <= sizeof(((struct link_metrics *)0)->dropped) / sizeof(uint64_t),
    "link_metrics.dropped holds every frame_drop cause");

/* A bundle being assembled: in memory if small, else in an unlinked file. */
struct spool {
	uint64_t xid;
	int fd;				/* -1: in mem */
	uint8_t *mem;
	size_t size;			/* of mem */
};

/*
 * Bytes of the bundle being sent, read ahead from the owner's store: one
 * store read serves many segments (a read per segment opened a blob and a
 * read transaction each time).  Keyed by neighbour and transfer id, which
 * is unique until the neighbour's sending session is reset.
 */
struct readahead {
	const struct neighbour *nbr;	/* NULL: empty */
	uint64_t xid, off;
	size_t len;
	uint8_t *buf;
};

struct neighbour {
	uint64_t node;
	struct link_addr addr;
	uint32_t boot;
	uint64_t heard;			/* monotonic ms */
	bool up;
	uint64_t seq;			/* per-hop segment sequence */
	uint64_t next_xid;		/* transfer ids continue across our session resets */
	uint64_t route_sent;		/* when our last distance vector went to it */
	struct session_tx *tx;
	struct session_rx *rx;
	struct spool spool[LINK_SPOOLS];
	uint64_t ack_xid[LINK_ACKS_PENDING];	/* SEG_ACKs owed (delayed, see on_segment) */
	unsigned n_acks, ack_segs;
	uint64_t ack_first, ack_due;	/* paced: when the oldest owed SEG_ACK became owed; when it goes */
	char name[FRAME_NAME_MAX + 1];
	bool compact;			/* its beacon says it speaks compact framing */
	bool has_base;			/* time_base is from its beacon in this boot */
	uint64_t time_base;		/* its creation-time base for compact bundles */
	bool sent;			/* last_counter is set */
	uint32_t last_counter;		/* our newest frame it could have heard */
	uint64_t commits[FRAME_COMMITS_MAX];	/* commit acks owed, for one COMMITS frame */
	unsigned n_commits;
};

struct link {
	struct loop *loop;
	struct link_conf conf;
	const struct link_driver_ops *ops;
	struct link_driver *drv;
	struct link_params p;
	struct link_events ev;
	struct frame_rx rx;
	bool carrier;
	uint32_t mss;
	uint64_t rr_quantum;		/* round-robin turn of a transfer in its class, bytes */
	uint32_t rto0;			/* retransmission timeout before a round trip is measured */
	unsigned route_ms;		/* least time between two distance vectors to a neighbour */
	struct neighbour nbr[LINK_MAX_NEIGHBOURS];
	unsigned n_nbr;
	struct loop_timer beacon_timer, pump_timer;
	struct link_metrics m;
	bool acks_owed;			/* some neighbour has n_acks > 0 */
	uint32_t frame_ms;		/* paced radio: airtime of a full frame, key-up included; else 0 */
	struct loop_timer ack_timer;	/* paced: sends the SEG_ACKs whose time has come */
	size_t spool_mem;		/* bytes of bundles assembled in memory */
	struct readahead ra;
	bool compact;			/* compact framing on: the config resolved */
	uint64_t time_base;		/* ours, in beacons: DTN ms when the link opened */
	struct loop_timer commit_timer;	/* sends the COMMITS frames owed */
	struct frame_msg pack;		/* a BUNDLES message being filled ... */
	size_t pack_len;		/* ... with this much of pack_buf */
	struct neighbour *pack_for;	/* ... for it, waiting for a paced medium */
	unsigned rr;			/* paced media: the neighbour whose turn is next */
	uint64_t airtime_us;		/* on the air in all (estimated, frame_airtime_us) */
	int64_t duty_us;		/* duty-cycle bucket: airtime we may still use */
	uint64_t duty_at;		/* when it was last filled (monotonic ms) */
	uint64_t budget_used;		/* bytes sent in budget period budget_period */
	uint64_t budget_period;
	uint64_t budget_saved;		/* of budget_used, what the owner saved durably */
	bool closed;			/* metered: budget spent or out of contact (link_open) */
	struct loop_timer silence_timer;	/* the first neighbour's dead_ms deadline */
	struct loop_timer contact_timer;	/* metered: when it may open or close */
	uint8_t buf[LINK_FRAME_MAX];	/* one frame in or out at a time */
	uint8_t seg[LINK_FRAME_MAX];
	uint8_t pack_buf[LINK_FRAME_MAX];
	uint8_t rebuilt[LINK_REBUILT_MAX];
	struct log_ratelimit rl;
	const struct link_ext_ops *ext;	/* a medium that delivers by itself (link.h): all goes to it */
	void *x;
};

static void link_pump(struct link *l);
static void duty_charge(struct link *l, size_t n);
static bool metered_open(struct link *l, time_t wall);
static void budget_charge(struct link *l, size_t n);
static void silence_arm(struct link *l);
static void link_pump_timer(struct loop *loop, void *arg);
static void on_segment(struct link *l, struct neighbour *n, const struct frame_segment *s);

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

static bool
speaks_compact(const struct link *l, const struct neighbour *n)
{
	return l->compact && n->compact;
}

/* Within the span, its replay window resolves our 16 counter bits. */
static bool
compact_envelope(const struct link *l, const struct neighbour *n, uint32_t counter)
{
	return n != NULL && speaks_compact(l, n) && n->sent && counter - n->last_counter < LINK_COUNTER_SPAN;
}

static size_t
varint_len(uint64_t v)
{
	struct wr w = { NULL, 0, 0 };

	put_varint(&w, v);
	return w.len;
}

/*
 * Header and tag of the next frame link_send() seals for n, exactly
 * (frame.c put_header): the frame counter it will draw is the sender's next.
 */
static size_t
envelope_len(const struct link *l, const struct neighbour *n)
{
	uint64_t next = l->p.sender->next;
	size_t tag = l->p.flags & FRAME_F_TAG8 ? CRYPTO_TAG_SHORT : CRYPTO_TAG_LEN;

	if (next <= UINT32_MAX && compact_envelope(l, n, (uint32_t)next))
		return 1 + varint_len(l->p.node) + 2 + tag;
	return 4 + varint_len(l->p.node) + varint_len(l->p.sender->boot) + varint_len(next) + tag;
}

/* Data bytes that fill the next frame to n at the MTU with segment s's header; 0 if none fit. */
static size_t
segment_room(const struct link *l, const struct neighbour *n, const struct frame_segment *s)
{
	size_t used = envelope_len(l, n) + varint_len(s->xid) + varint_len(s->off) + varint_len(s->total) +
	    varint_len(s->seq);

	return used < l->conf.mtu ? l->conf.mtu - used : 0;
}

/* Seal m for neighbour n (NULL: everyone) and hand it to the driver. */
static int
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
	duty_charge(l, (size_t)len);
	budget_charge(l, (size_t)len);
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

static void
nbr_down(struct link *l, struct neighbour *n, const char *why)
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
static void
acks_flush_all(struct link *l)
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
static void
ack_owe(struct link *l, struct neighbour *n, uint64_t xid, bool now)
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
static void
ack_drop(struct neighbour *n, uint64_t xid)
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

static void
send_simple(struct link *l, struct neighbour *n, uint8_t type, uint64_t xid, uint8_t reason)
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
static void
commit_owe(struct link *l, struct neighbour *n, uint64_t xid)
{
	ack_drop(n, xid);
	if (!speaks_compact(l, n) || xid >= FRAME_XID_MAX) {
		send_simple(l, n, FRAME_COMMIT_ACK, xid, 0);
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
static void
on_segment(struct link *l, struct neighbour *n, const struct frame_segment *s)
{
	int r = session_rx_segment(n->rx, s->xid, s->total, s->off, s->len);
	struct spool *sp;
	uint64_t cum;
	int e = 0;

	switch (r) {
	case RX_COMMITTED:
		commit_owe(l, n, s->xid);
		return;
	case RX_BAD:
		if ((sp = spool_get(l, n, s->xid, 0, false)) != NULL)
			spool_close(l, sp);
		session_rx_forget(n->rx, s->xid);
		send_simple(l, n, FRAME_ABORT, s->xid, ABORT_BAD_TRANSFER);
		return;
	case RX_DUP:
		ack_owe(l, n, s->xid, true);
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
		send_simple(l, n, FRAME_ABORT, s->xid, ABORT_REFUSED_QUOTA);
		return;
	}
	session_rx_ack(n->rx, s->xid, &cum, NULL, 0);
	/* Complete: the commit follows within a group commit; a paced radio leaves the answer to it. */
	ack_owe(l, n, s->xid, (r == RX_COMPLETE && !l->frame_ms) || cum != s->off + s->len);
	if (r == RX_COMPLETE) {
		l->ev.bundle(l->ev.arg, l, n->node, s->xid, sp->fd, sp->mem, s->total);
		/* The owner may have committed or refused synchronously; either way the spool is done. */
		sp = spool_get(l, n, s->xid, 0, false);
		if (sp)
			spool_close(l, sp);
	}
}

/*
 * Bundles in compact form: each rebuilt into l->rebuilt and taken in like a
 * bundle that came in one segment.  The time base is the one the sender's
 * beacon of this boot announced; until we have it, nothing can be rebuilt
 * right, so the frame is left for the sender's retransmission (counted as
 * from an unknown sender).  A compact form that does not decode is counted
 * as a malformed body and refused, so that the sender lets it go.
 */
static void
on_bundles(struct link *l, struct neighbour *n, const struct frame_bundles *bs)
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
			send_simple(l, n, FRAME_ABORT, e->xid, ABORT_BAD_BUNDLE);
			continue;
		}
		l->m.compact_rx++;
		s.total = s.len = (size_t)len;
		on_segment(l, n, &s);
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
		on_bundles(l, n, &m.u.bundles);
		break;
	case FRAME_COMMITS:
		for (unsigned i = 0; i < m.u.commits.n; i++)
			if ((ctx = session_tx_commit(n->tx, m.u.commits.xid[i])) != NULL)
				l->ev.delivered(l->ev.arg, l, n->node, ctx);
		break;
	case FRAME_SEGMENT:
		on_segment(l, n, &m.u.seg);
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
	link_pump(l);
}

static void
link_readable(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct link *l = arg;
	struct link_addr from;
	ssize_t n;

	if (events & EPOLLOUT) {
		loop_mod_fd(loop, fd, EPOLLIN);
		link_pump(l);
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
	acks_flush_all(l);
	/* A driver that watches its device (a KISS TNC) says here when it went or came back. */
	if (l->ops->up)
		link_set_carrier(l, l->ops->up(l->drv));
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
 * Airtime duty cycle (link_conf duty_permille): a token bucket of airtime
 * that fills at duty_permille of real time, up to that share of duty_window_ms,
 * and that every frame sent drains by its airtime (frame_airtime_us).  While
 * it is empty, segments wait (beacons and acks are counted, not held).  So
 * over any long stretch the link is on the air at most the configured share;
 * after a quiet spell it may send one bucket (share x window) at once.
 */
static void
duty_refill(struct link *l, uint64_t now)
{
	int64_t cap = (int64_t)l->conf.duty_window_ms * l->conf.duty_permille;	/* us */

	if (now > l->duty_at) {
		l->duty_us += (int64_t)(now - l->duty_at) * l->conf.duty_permille;
		if (l->duty_us > cap)
			l->duty_us = cap;
	}
	l->duty_at = now;
}

/* Airtime of a frame of n bytes: the TNC's keying delay and 10 bits a byte (flags, stuffing, HDLC). */
static uint64_t
frame_airtime_us(const struct link *l, size_t n)
{
	uint64_t us = l->conf.kind == LINK_KISS ? (uint64_t)l->conf.kiss.txdelay_ms * 1000 : 0;

	return us + (l->conf.rate_bps ? (uint64_t)n * 10 * 1000000 / l->conf.rate_bps : 0);
}

static void
duty_charge(struct link *l, size_t n)
{
	uint64_t us = frame_airtime_us(l, n);

	l->m.airtime_ms = (l->airtime_us += us) / 1000;
	if (l->conf.duty_permille == 0)
		return;
	duty_refill(l, loop_now());
	l->duty_us -= (int64_t)us;
}

/* When the duty cycle lets a segment go again (monotonic ms); now if it does. */
static uint64_t
duty_ready_at(struct link *l, uint64_t now)
{
	if (l->conf.duty_permille == 0)
		return now;
	duty_refill(l, now);
	if (l->duty_us > 0)
		return now;
	return now + 1 + (uint64_t)(-l->duty_us) / l->conf.duty_permille;
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
	uint64_t t = duty_ready_at(l, now), r;

	if (!metered_open(l, time(NULL)))
		t = now + 1000;	/* look again in a second: a window opens, a period begins */
	else if (l->conf.budget_bytes && l->budget_used > l->budget_saved && t < now + 1000)
		t = now + 1000;	/* the spend is being saved: link_budget_saved() pumps */
	if (l->ops->ready_at && (r = l->ops->ready_at(l->drv)) > t)
		t = r;
	if (t <= now)
		return false;
	loop_timer_set(l->loop, &l->pump_timer, t - now, link_pump_timer, l);
	return true;
}

/* Send the BUNDLES message being filled for n, if any: 0 or link_send()'s error. */
static int
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
static int
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
 * A metered link (a satellite terminal): bytes per period (budget_bytes per
 * budget_period_s, periods from the epoch: UTC days) and contact windows
 * (UTC time of day).  Outside a window, or with the period's budget spent,
 * neither beacons nor segments go: the neighbour goes silent on both sides
 * and the bundles take another link or wait.  Acks of what we receive still
 * go (they are small, and the sender paid for the data).  What was spent
 * goes to the owner (ev.spent), who saves it; no segment goes until the last
 * spend is saved, and a restart starts from the saved count (link_params).
 */
static bool
window_open(const struct link_conf *c, time_t wall)
{
	unsigned minute = (unsigned)((wall % 86400) / 60);
	bool in = c->n_windows == 0;

	for (unsigned i = 0; i < c->n_windows && !in; i++) {
		unsigned from = c->windows[i].from, to = c->windows[i].to;

		in = from <= to ? minute >= from && minute < to : minute >= from || minute < to;
	}
	return in;
}

static bool
metered_open(struct link *l, time_t wall)
{
	bool in = window_open(&l->conf, wall);

	if (l->conf.budget_bytes == 0)
		return in;
	if ((uint64_t)wall / l->conf.budget_period_s != l->budget_period) {
		l->budget_period = (uint64_t)wall / l->conf.budget_period_s;
		l->budget_used = 0;
		l->budget_saved = 0;
	}
	return in && l->budget_used < l->conf.budget_bytes;
}

/*
 * Open or close a metered link as its window and budget say.  Closed, it is
 * no route for any class (the owner hears it through ev.contact) and what
 * was queued on it and not yet sent whole goes back to the owner, so that
 * urgent bundles take another link at once instead of waiting for the next
 * period; what was sent whole waits there for its commit.  Windows are
 * whole minutes and periods whole hours or days from the epoch, so a look
 * at every minute's turn (and when the budget runs out) sees each change.
 */
static void
link_contact(struct loop *loop, void *arg)
{
	struct link *l = arg;
	time_t wall = time(NULL);
	bool open = metered_open(l, wall);
	void *ctx;

	loop_timer_set(loop, &l->contact_timer, 60000 - loop_wallclock_ms() % 60000 + 5, link_contact, l);
	if (open != l->closed)
		return;
	l->closed = !open;
	log_info("link %s: %s", l->conf.name, open ? "open: in contact, budget left" :
	    !window_open(&l->conf, wall) ? "closed: outside its contact windows" :
	    "closed: budget of this period spent");
	if (l->ev.contact)
		l->ev.contact(l->ev.arg, l, open);
	for (unsigned i = 0; i < l->n_nbr && !open; i++)
		while (l->nbr[i].tx && (ctx = session_tx_drain_unsent(l->nbr[i].tx)) != NULL)
			l->ev.returned(l->ev.arg, l, l->nbr[i].node, ctx, -ENETDOWN);
	if (open)
		link_pump(l);
}

bool
link_open(const struct link *l)
{
	return !l->closed;
}

/* A metered link sent n bytes: count them, have them saved, close it when the budget is spent. */
static void
budget_charge(struct link *l, size_t n)
{
	l->budget_used += (uint64_t)n;
	if (l->conf.budget_bytes == 0)
		return;
	if (l->ev.spent)
		l->ev.spent(l->ev.arg, l, l->budget_period, l->budget_used);
	else
		l->budget_saved = l->budget_used;
	if (l->budget_used >= l->conf.budget_bytes && !l->closed)
		loop_timer_set(l->loop, &l->contact_timer, 0, link_contact, l);
}

void
link_budget_saved(struct link *l, uint64_t period, uint64_t spent)
{
	if (period != l->budget_period || spent <= l->budget_saved)
		return;
	l->budget_saved = spent;
	if (l->budget_saved >= l->budget_used)
		link_pump(l);
}

/* A medium where frames wait for one another: hand segments out one at a time, most urgent first. */
static bool
link_paced(const struct link *l)
{
	return l->ops->ready_at != NULL || l->conf.duty_permille != 0 || l->conf.budget_bytes != 0 ||
	    l->conf.n_windows != 0;
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
		nbr_down(l, n, "no acknowledgements");
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
static void
link_pump(struct link *l)
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
		loop_timer_set(l->loop, &l->pump_timer, next > now ? next - now : 1, link_pump_timer, l);
}

static void
link_pump_timer(struct loop *loop, void *arg)
{
	link_pump(arg);
}

/* Beacon, and notice neighbours that fell silent (a radio fade keeps the carrier up). */
static void
link_beacon(struct loop *loop, void *arg)
{
	struct link *l = arg;
	struct frame_msg m = { .type = FRAME_BEACON };

	if (l->carrier && metered_open(l, time(NULL))) {
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
			nbr_down(l, &l->nbr[i], "silent");
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
			nbr_down(l, &l->nbr[i], "carrier lost");
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
		loop_timer_set(l->loop, &l->pump_timer, 0, link_pump_timer, l);
	else
		link_pump(l);
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
	commit_owe(l, n, xid);
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
	send_simple(l, n, FRAME_ABORT, xid, (uint8_t)reason);
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
	if (!metered_open(l, time(NULL)))
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

void
link_metrics(const struct link *l, struct link_metrics *out)
{
	if (l->ext) {
		memset(out, 0, sizeof(*out));
		out->mtu = l->conf.mtu;
		out->rate_bps = l->conf.rate_bps;
		out->rtt_ms = -1;
		out->in_window = true;
		l->ext->metrics(l->x, out);
		return;
	}
	*out = l->m;
	out->up = l->carrier;
	out->compact = l->compact;
	out->neighbours = 0;
	out->mtu = l->conf.mtu;
	out->rate_bps = l->conf.rate_bps;
	out->budget_bytes = l->conf.budget_bytes;
	out->budget_used = l->conf.budget_bytes ? l->budget_used : 0;
	out->in_window = window_open(&l->conf, time(NULL));
	out->open = !l->closed;
	out->rtt_ms = -1;
	for (unsigned i = 0; i < l->n_nbr; i++) {
		struct session_tx_stats st;

		if (!l->nbr[i].up)
			continue;
		out->neighbours++;
		session_tx_stats(l->nbr[i].tx, &st);
		out->segments += st.segments;
		out->retransmissions += st.retransmissions;
		if (st.rtt_samples > 0 && (int32_t)st.srtt_ms > out->rtt_ms)
			out->rtt_ms = (int32_t)st.srtt_ms;
	}
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
		l->frame_ms = (uint32_t)((frame_airtime_us(l, l->conf.mtu) + 999) / 1000);
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
	/* Paced radio: a turn as long as an ack is held, so that one SEG_ACK answers one turn (ack_owe). */
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
	l->closed = !metered_open(l, time(NULL));
	if (l->conf.budget_bytes || l->conf.n_windows)
		link_contact(loop, l);
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
