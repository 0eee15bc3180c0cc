/*
 * session.h - reliable transfer of bundles to one neighbour over one link
 * (DESIGN.md section 5): segments, acknowledgements, retransmission with
 * backoff, a send window, and the commit handshake.
 *
 * Pure logic with an explicit clock: the link layer turns what this module
 * decides into SEGMENT / SEG_ACK / COMMIT_ACK frames and feeds received ones
 * back in.  No data passes through here, only offsets and lengths: the
 * sender reads segment bytes from its store, the receiver writes them into
 * its store's partial-transfer table.
 *
 * Sender: transfers are queued by priority class (lower first; within a
 * class round robin among the first SESSION_RR_ACTIVE transfers, a quantum
 * of bytes each, so a long transfer shares the link with the others of its
 * class, other destinations); segments of several transfers share one window of segments in
 * flight, so small bundles do not go one per round trip.  A segment that a
 * later one overtook (acknowledged, or its bundle committed, while it was
 * not) was lost, since links deliver in order: it is sent again at once.
 * A segment not acknowledged within the retransmission timeout (RFC 6298
 * estimator, Karn's rule, at least 200 ms) is sent again, as a new frame,
 * with the timeout doubled; after SESSION_MAX_TRIES timeouts the session
 * fails (the link layer treats the neighbour as gone).  A transfer whose every byte was acknowledged is kept until the
 * receiver's COMMIT_ACK says the bundle is durably stored: only then may the
 * sender let its copy go.  If that ack is lost, the last segment is sent
 * again after a timeout and the receiver answers with COMMIT_ACK once more.
 *
 * Receiver: per transfer, the byte ranges received; the cumulative offset
 * and up to SESSION_SACK_RANGES further ranges go back in each SEG_ACK.  The
 * link layer decides when (not for every segment: see radio/pump.c).
 *
 * Transfer ids count from 1 in each sender session, so a session lives for
 * one boot of the sender: when a neighbour's boot counter (in every frame
 * header) changes, the link layer replaces that neighbour's session_rx.
 */
#ifndef FIELDRELAY_SESSION_H
#define FIELDRELAY_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESSION_MAX_TRIES	8	/* transmissions of one segment before giving up */
#define SESSION_SACK_RANGES	4	/* ranges beyond the cumulative ack, per SEG_ACK */
#define SESSION_RX_RANGES	64	/* discontiguous ranges a receiver tracks per transfer */
#define SESSION_WINDOW_MAX	256	/* segments in flight, hard cap */
/*
 * Classes from this one on (telemetry, bulk: enum prio in relay/base/service.h)
 * fill the window only up to window - max(1, window / 8): an alert or a
 * position queued behind them finds room at once.  Segments are handed out
 * most urgent class first, repairs included (see session_tx_next).
 */
#define SESSION_PRIO_YIELD	5
#define SESSION_RR_ACTIVE	4	/* transfers of one class sharing the link at a time */

struct session_tx;
struct session_rx;

struct session_range {
	uint64_t off, len;
};

/* A segment to put on the air now. */
struct session_seg {
	uint64_t xid;			/* transfer id (per hop, per session) */
	uint64_t total;			/* bundle length */
	uint64_t off;
	uint32_t len;
	bool retransmission;
	void *ctx;			/* the transfer's caller context */
};

struct session_tx_stats {
	uint64_t segments, retransmissions, bytes, transfers_done;
	uint64_t rtt_samples;		/* round trips measured (srtt_ms means something) */
	uint32_t srtt_ms, rto_ms;
	unsigned inflight, queued;
};

/*
 * mss: payload bytes per segment; window: segments in flight
 * (1..SESSION_WINDOW_MAX); first_xid: transfer ids start here.  A sender
 * that replaces a session while the receiver keeps its own (our side lost
 * the neighbour for a moment, it did not restart) must continue the ids
 * (session_tx_next_id) so that no id is reused within the receiver's memory.
 */
struct session_tx *session_tx_new(uint32_t mss, unsigned window, uint32_t initial_rto_ms, uint64_t first_xid);
uint64_t session_tx_next_id(const struct session_tx *s);
/* Round-robin turn of a transfer within its class, bytes (default: one segment). */
void session_tx_set_quantum(struct session_tx *s, uint64_t bytes);
/*
 * The receiver may hold a SEG_ACK up to ms (a paced radio link thins its
 * acknowledgements, radio/link.c): a segment of a bundle of several
 * segments times out that much later than the RTO says.  A bundle sent
 * whole in one segment is answered by its commit, which is not held: its
 * timeout stays the RTO.  Default 0.
 */
void session_tx_set_ack_delay(struct session_tx *s, uint32_t ms);
void session_tx_free(struct session_tx *s);

/* Queue a bundle of total bytes; returns its transfer id (>= 1). */
uint64_t session_tx_add(struct session_tx *s, uint64_t total, int prio, void *ctx);

/*
 * The next segment to send at now, if any: of the most urgent class with
 * something due, a repair (lost, or its timeout expired) before a new
 * segment, and a new segment only while the window has room for its class
 * (SESSION_PRIO_YIELD).  Returns 1
 * and fills seg; 0 if nothing is due (see session_tx_deadline); -ETIMEDOUT
 * if a segment exhausted its tries (the neighbour is gone: the caller takes
 * the transfers back with session_tx_drain and requeues them elsewhere).
 */
int session_tx_next(struct session_tx *s, uint64_t now, struct session_seg *seg);

/*
 * The class of what session_tx_next would give at now (the link layer
 * serves the neighbours sharing a slow medium most urgent first); -1 when
 * nothing is due.  May name a more urgent class than the segment it then
 * gives when a repair's tries ran out (the session fails anyway).
 */
int session_tx_next_prio(struct session_tx *s, uint64_t now);

/*
 * Make the new segment session_tx_next just gave (seg) carry up to len
 * bytes, so that its frame is full: the link knows the exact header of
 * that frame, the session's mss is for the largest header.  Only grows,
 * never past the bundle's end, and only a first transmission that is still
 * the last segment of its transfer; seg->len is updated.  Returns the new
 * length.  A retransmission keeps the length the segment first went with.
 */
uint32_t session_tx_grow(struct session_tx *s, struct session_seg *seg, uint32_t len);

/*
 * Take back the new segment session_tx_next just gave (the medium turned
 * out busy before it went): as if it had not been handed out, so it goes
 * at the next turn rather than at its timeout.  false (nothing changed)
 * for a retransmission or any segment but the last one handed out.
 */
bool session_tx_unsend(struct session_tx *s, const struct session_seg *seg);

/* A SEG_ACK: everything below cum and inside ranges has arrived. */
void session_tx_ack(struct session_tx *s, uint64_t xid, uint64_t cum,
    const struct session_range *ranges, size_t n, uint64_t now);

/* A COMMIT_ACK: returns the transfer's ctx (now durable over there) or NULL if unknown. */
void *session_tx_commit(struct session_tx *s, uint64_t xid);

/* Abort one transfer (the receiver refused it); returns its ctx or NULL. */
void *session_tx_abort(struct session_tx *s, uint64_t xid);

/* Take back the transfer of ctx if none of it was sent yet (its bundle was
 * superseded): 0, -EBUSY once it started, -ENOENT if there is none. */
int session_tx_withdraw(struct session_tx *s, void *ctx);

/* Take back every unfinished transfer's ctx, one per call; NULL when empty. */
void *session_tx_drain(struct session_tx *s);
/* The same for the transfers not yet sent whole (a metered link closed):
 * those sent whole stay for their acks and commit. */
void *session_tx_drain_unsent(struct session_tx *s);

/* When session_tx_next may next have something (ms, monotonic); UINT64_MAX if never. */
uint64_t session_tx_deadline(const struct session_tx *s);

void session_tx_stats(const struct session_tx *s, struct session_tx_stats *st);

/* ---- receiver ---- */

enum session_rx_result {
	RX_NEW = 0,		/* new bytes: store them */
	RX_DUP,			/* nothing new (ack again) */
	RX_COMPLETE,		/* new bytes, and now every byte is here: store, commit, COMMIT_ACK */
	RX_COMMITTED,		/* a transfer already committed: answer COMMIT_ACK again */
	RX_BAD,			/* inconsistent (length changed, beyond total, too fragmented) */
};

struct session_rx *session_rx_new(void);
void session_rx_free(struct session_rx *s);

int session_rx_segment(struct session_rx *s, uint64_t xid, uint64_t total, uint64_t off, uint64_t len);
/* The SEG_ACK to send for xid: cumulative offset and up to cap further ranges. */
size_t session_rx_ack(const struct session_rx *s, uint64_t xid, uint64_t *cum,
    struct session_range *ranges, size_t cap);
/* The bundle is durably stored: forget its ranges, remember it was committed. */
void session_rx_committed(struct session_rx *s, uint64_t xid);
/* Give up on an incomplete transfer (expired, refused). */
void session_rx_forget(struct session_rx *s, uint64_t xid);

#endif
