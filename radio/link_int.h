/*
 * link_int.h - what the files of the link layer share (radio/link.c,
 * radio/pump.c, radio/pack.c, radio/meter.c) and nothing else includes:
 * the link's and its neighbours' state, and the calls between the files.
 *
 * link.c: neighbours from beacons, sealing and sending a frame, taking
 *   frames in, assembling bundles, the link's public calls (link.h).
 * pump.c: what goes next: segments from the sessions (paced media one at a
 *   time, most urgent first), the bytes read ahead from the store, and when
 *   the SEG_ACKs owed go.
 * pack.c: compact framing: small bundles packed into BUNDLES frames and
 *   rebuilt from them, commit acks gathered into COMMITS frames.
 * meter.c: what the medium allows: airtime duty cycle, byte budgets and
 *   contact windows of metered links, and the link's metrics.
 */
#ifndef FIELDRELAY_LINK_INT_H
#define FIELDRELAY_LINK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "compact.h"
#include "crypto.h"
#include "frame.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "varint.h"

struct session_seg;

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
	uint64_t ack_xid[LINK_ACKS_PENDING];	/* SEG_ACKs owed (delayed, see link_on_segment) */
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
	uint64_t airtime_us;		/* on the air in all (estimated, meter_airtime_us) */
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

/* ---- framing sizes (the envelope frame.c puts on each frame) ---- */

static inline bool
speaks_compact(const struct link *l, const struct neighbour *n)
{
	return l->compact && n->compact;
}

/* Within the span, its replay window resolves our 16 counter bits. */
static inline bool
compact_envelope(const struct link *l, const struct neighbour *n, uint32_t counter)
{
	return n != NULL && speaks_compact(l, n) && n->sent && counter - n->last_counter < LINK_COUNTER_SPAN;
}

static inline size_t
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
static inline size_t
envelope_len(const struct link *l, const struct neighbour *n)
{
	uint64_t next = l->p.sender->next;
	size_t tag = l->p.flags & FRAME_F_TAG8 ? CRYPTO_TAG_SHORT : CRYPTO_TAG_LEN;

	if (next <= UINT32_MAX && compact_envelope(l, n, (uint32_t)next))
		return 1 + varint_len(l->p.node) + 2 + tag;
	return 4 + varint_len(l->p.node) + varint_len(l->p.sender->boot) + varint_len(next) + tag;
}

/* ---- link.c ---- */

/* Seal m for neighbour n (NULL: everyone) and hand it to the driver: 0 or -errno. */
int link_send(struct link *l, struct neighbour *n, const struct frame_msg *m);
/* A COMMIT_ACK (xid) or an ABORT (xid, reason) to n. */
void link_send_simple(struct link *l, struct neighbour *n, uint8_t type, uint64_t xid, uint8_t reason);
/* A segment (or a whole bundle rebuilt from its compact form) from n. */
void link_on_segment(struct link *l, struct neighbour *n, const struct frame_segment *s);
/* n is gone: its transfers go back to the owner. */
void link_nbr_down(struct link *l, struct neighbour *n, const char *why);

/* ---- pump.c ---- */

/* Put due segments on the medium; re-arm the timer for the next deadline. */
void pump_run(struct link *l);
/* The pump timer's callback (arg: the link). */
void pump_timer(struct loop *loop, void *arg);
/* A SEG_ACK for xid is owed to n; now: send it (and all owed to n) at once. */
void pump_ack_owe(struct link *l, struct neighbour *n, uint64_t xid, bool now);
/* Send every SEG_ACK owed to every neighbour: the socket has no more for now. */
void pump_acks_flush(struct link *l);
/* A commit ack for xid goes to n: a SEG_ACK of xid still owed is not needed. */
void pump_ack_drop(struct neighbour *n, uint64_t xid);

/* ---- pack.c ---- */

/* Send the BUNDLES message being filled for n, if any: 0 or link_send()'s error. */
int pack_flush(struct link *l, struct neighbour *n);
/* Put the whole bundle of g into the BUNDLES message for n: 1 in, 0 not (send it as a segment), -errno. */
int pack_add(struct link *l, struct neighbour *n, const struct session_seg *g, const uint8_t *data);
/* A BUNDLES frame from n. */
void pack_on_bundles(struct link *l, struct neighbour *n, const struct frame_bundles *bs);
/* Tell n that transfer xid is durable here (COMMIT_ACK, or in a COMMITS frame). */
void pack_commit_owe(struct link *l, struct neighbour *n, uint64_t xid);

/* ---- meter.c ---- */

/* Airtime of a frame of n bytes on l. */
uint64_t meter_airtime_us(const struct link *l, size_t n);
/* A frame of n bytes went: the duty cycle's and the budget's share of it. */
void meter_duty_charge(struct link *l, size_t n);
void meter_budget_charge(struct link *l, size_t n);
/* When the duty cycle lets a segment go again (monotonic ms); now if it does. */
uint64_t meter_duty_ready_at(struct link *l, uint64_t now);
/* Is a metered link in contact with budget left at wall time (always, for others)? */
bool meter_open(struct link *l, time_t wall);
/* The contact timer's callback: open or close a metered link (arg: the link). */
void meter_contact(struct loop *loop, void *arg);

#endif
