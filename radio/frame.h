/*
 * frame.h - the link frame (DESIGN.md sections 5 and 6): an envelope that
 * every link kind carries, and the messages inside it.
 *
 * Envelope (wire format byte by byte in frame.c): version, frame type, key
 * id, flags, sender node, boot counter and frame counter form the header,
 * which is the AEAD's associated data; then the body (encrypted, or in clear
 * on authenticate-only links) and an 8- or 16-byte tag.
 *
 * frame_open() checks version, type, length, flags, key id, tag, sender and
 * replay window, in that order, before it parses a single byte of the body,
 * and says why it dropped a frame so the link layer can count each cause.
 * The tag goes before the replay window so that "replayed" means an
 * authentic copy: a corrupted or cut copy of a frame already seen is a bad
 * tag (a forgery with a fresh counter costs the same tag check, so checking
 * the window first would save an attacker nothing).  It decrypts in place:
 * the decoded message points into the caller's buffer.
 *
 * Integers are unsigned LEB128 varints (7 bits a byte, low group first, high
 * bit = more), minimal length only.  Why not CBOR heads: frame counters and
 * offsets grow through every size, and LEB128 is never longer and mostly
 * shorter (1 byte below 128 where CBOR needs 2 from 24; 2 bytes below 16384
 * where CBOR needs 3 from 256; 3 bytes below 2^21 where CBOR needs 5), which
 * matters on a 1200 bit/s link; the decoder is a dozen lines.
 *
 * Compact envelope (narrow links, DESIGN.md section 5): between neighbours
 * that already know each other, a frame may instead start with a byte whose
 * high bit is set (a full frame's version byte is 1), which also holds the
 * type, the low bit of the key id and the flags; then the sender node and
 * only the low 16 bits of the frame counter.  The receiver takes the
 * sender's boot counter and the counter's high bits from its replay window
 * (crypto_replay_peek): 4 header bytes for a node id below 128 instead of
 * 7 to 19.  A beacon always travels in a full envelope, so that every
 * neighbour learns our boot counter from it.  The sender falls back to a
 * full envelope when the receiver's window may be too far behind for the 16
 * bits to be resolved (radio/link.c decides); if it was anyway, the nonce
 * comes out wrong and the frame fails its tag: dropped, never misread.
 *
 * Two messages serve compact framing (the link sends them only to
 * neighbours whose beacon says they speak it, FRAME_CAP_COMPACT):
 * BUNDLES carries one or more whole small bundles, each in the compact
 * form of radio/compact.c under its own transfer id, and COMMITS
 * acknowledges several durably stored transfers at once.
 *
 * Nothing here allocates.  A retransmission is a new frame (new counter).
 */
#ifndef FIELDRELAY_FRAME_H
#define FIELDRELAY_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto.h"

#define FRAME_VERSION		1

enum frame_type {
	FRAME_BEACON = 1,	/* neighbour discovery */
	FRAME_SEGMENT = 2,	/* reliable bundle segment */
	FRAME_SEG_ACK = 3,	/* segments received */
	FRAME_COMMIT_ACK = 4,	/* bundle durably stored: the sender may let go */
	FRAME_VOICE = 5,	/* live voice, unreliable, never acked */
	FRAME_ROUTE = 6,	/* distance-vector entries */
	FRAME_ABORT = 7,	/* transfer refused or given up (NACK) */
	FRAME_BUNDLES = 8,	/* whole small bundles in compact form */
	FRAME_COMMITS = 9,	/* several bundles durably stored */
};
#define FRAME_TYPE_MAX		FRAME_COMMITS

/* Header flags. */
#define FRAME_F_AUTH_ONLY	0x01	/* body in clear, authenticated only */
#define FRAME_F_TAG8		0x02	/* 8-byte tag instead of 16 */
#define FRAME_F_ALL		(FRAME_F_AUTH_ONLY | FRAME_F_TAG8)

/* First byte of a compact envelope: 1tttt k ff (type, key id & 1, flags). */
#define FRAME_COMPACT		0x80

#define FRAME_HDR_MIN		7	/* 4 fixed bytes + three 1-byte varints */
#define FRAME_HDR_MAX		19	/* 4 fixed bytes + three 5-byte varints */
#define FRAME_HDR_COMPACT_MAX	8	/* 1 byte + 5-byte sender + 2-byte counter */

/* Capability bits in a beacon. */
#define FRAME_CAP_COMPACT	0x01	/* takes compact envelopes, BUNDLES and COMMITS */
#define FRAME_CAP_KNOWN		FRAME_CAP_COMPACT
#define FRAME_NAME_MAX		32	/* beacon name bytes */
#define FRAME_SACK_MAX		8	/* SACK ranges in one SEG_ACK */
#define FRAME_ROUTE_MAX		64	/* entries in one ROUTE frame */
#define FRAME_COST_MAX		0xffffu	/* = ROUTE_INFINITY: withdrawn */
#define FRAME_VOICE_MAX		1275	/* one Opus frame at most (RFC 6716 3.2.1) */
#define FRAME_TRANSFER_MAX	(UINT64_C(1) << 32)	/* largest bundle a transfer may announce */
#define FRAME_BUNDLES_MAX	32	/* bundles in one BUNDLES frame */
#define FRAME_COMMITS_MAX	64	/* transfer ids in one COMMITS frame */
#define FRAME_XID_MAX		(UINT64_C(1) << 48)	/* transfer ids BUNDLES and COMMITS carry */

struct frame_hdr {
	uint8_t type;			/* enum frame_type */
	uint8_t key_id;
	uint8_t flags;			/* FRAME_F_* */
	uint32_t sender;		/* node id (ipn node number) */
	uint32_t boot;			/* sender's boot counter */
	uint32_t counter;		/* sender's frame counter in that boot */
	bool compact;			/* compact envelope (not for beacons) */
};

struct frame_beacon {
	uint64_t node;			/* must equal the header's sender */
	uint32_t mtu;			/* largest frame the sender takes on this link */
	uint64_t rate;			/* link bit rate hint, bit/s (0: unknown) */
	uint8_t name_len;		/* 0: no name */
	char name[FRAME_NAME_MAX + 1];	/* NUL-terminated, no control characters */
	uint64_t caps;			/* FRAME_CAP_*, 0: none (older senders) */
	uint64_t time_base;		/* with FRAME_CAP_COMPACT: creation times in our
					 * compact bundles count from here (DTN ms) */
	const uint8_t *ext;		/* with caps we do not know: their fields, kept */
	size_t ext_len;
};

struct frame_segment {
	uint64_t xid;			/* transfer id, >= 1 */
	uint64_t off;			/* of data in the bundle */
	uint64_t total;			/* bundle length, 1..FRAME_TRANSFER_MAX */
	uint64_t seq;			/* per-hop segment sequence number */
	const uint8_t *data;		/* 1.. bytes, off + len <= total */
	size_t len;
};

struct frame_sack {
	uint64_t off, len;
};

struct frame_seg_ack {
	uint64_t xid;
	uint64_t cum;			/* every byte below cum has arrived */
	uint8_t n;			/* ranges beyond cum, ascending, disjoint, not adjacent */
	struct frame_sack sack[FRAME_SACK_MAX];
};

struct frame_commit_ack {
	uint64_t xid;
};

struct frame_bundle {
	uint64_t xid;			/* transfer id, 1..FRAME_XID_MAX-1 */
	const uint8_t *data;		/* the bundle in compact form (radio/compact.c) */
	size_t len;			/* >= 1 */
};

struct frame_bundles {
	uint8_t n;			/* 1..FRAME_BUNDLES_MAX */
	struct frame_bundle b[FRAME_BUNDLES_MAX];	/* transfer ids distinct */
};

struct frame_commits {
	uint8_t n;			/* 1..FRAME_COMMITS_MAX */
	uint64_t xid[FRAME_COMMITS_MAX];	/* ascending, 1..FRAME_XID_MAX-1 */
};

struct frame_voice {
	uint64_t group;			/* talk group */
	uint64_t spurt;			/* talk spurt id */
	uint64_t seq;			/* within the spurt */
	const uint8_t *data;		/* one Opus packet, 1..FRAME_VOICE_MAX bytes */
	size_t len;
};

struct frame_route_entry {
	uint64_t node;
	uint32_t cost;			/* 0..FRAME_COST_MAX */
};

struct frame_route {
	uint8_t n;			/* 1..FRAME_ROUTE_MAX */
	struct frame_route_entry e[FRAME_ROUTE_MAX];
};

enum frame_abort_reason {
	ABORT_REFUSED_QUOTA = 1,	/* no room in the receiver's store */
	ABORT_REFUSED_SIZE = 2,		/* bundle too big for the receiver */
	ABORT_EXPIRED = 3,		/* bundle lifetime ended */
	ABORT_CANCELLED = 4,		/* sender gave up (rerouted, deleted) */
	ABORT_BAD_TRANSFER = 5,		/* segments inconsistent */
	ABORT_BAD_BUNDLE = 6,		/* reassembled bundle does not decode */
};

struct frame_abort {
	uint64_t xid;
	uint8_t reason;			/* enum frame_abort_reason, or a newer 1..255 */
};

struct frame_msg {
	uint8_t type;			/* enum frame_type: which member is valid */
	union {
		struct frame_beacon beacon;
		struct frame_segment seg;
		struct frame_seg_ack ack;
		struct frame_commit_ack commit;
		struct frame_voice voice;
		struct frame_route route;
		struct frame_abort abort;
		struct frame_bundles bundles;
		struct frame_commits commits;
	} u;
};

/* Why frame_open() dropped a frame (FRAME_OK: it did not). */
enum frame_drop {
	FRAME_OK = 0,
	FRAME_DROP_TRUNCATED,		/* shorter than its header + tag + 1 */
	FRAME_DROP_BAD_VERSION,
	FRAME_DROP_BAD_TYPE,		/* unknown frame type */
	FRAME_DROP_BAD_HEADER,		/* reserved flags, non-minimal or oversized varint */
	FRAME_DROP_POLICY,		/* mode or tag length not what this link uses */
	FRAME_DROP_UNKNOWN_KEY,
	FRAME_DROP_REPLAYED,		/* duplicate, too old, or from an older boot */
	FRAME_DROP_BAD_TAG,		/* forged, corrupted, or sent with another key */
	FRAME_DROP_MALFORMED,		/* authentic, but the body does not decode */
	FRAME_DROP_OWN,			/* authentic, from our own node id: reflected
					 * back to us, or another node has our id */
	FRAME_DROP_UNKNOWN_SENDER,	/* compact envelope from a node whose boot
					 * counter we have not learned (no beacon yet) */
	FRAME_DROP_N
};

const char *frame_drop_name(enum frame_drop why);
const char *frame_type_name(unsigned type);

/* What a link needs to open frames. */
struct frame_rx {
	const struct crypto_keyring *keys;
	struct crypto_replay *replay;
	uint8_t flags;			/* FRAME_F_* this link uses; others are dropped */
	uint32_t self;			/* our node id: authentic frames from it are
					 * FRAME_DROP_OWN (0: no such check) */
	uint64_t count[FRAME_DROP_N];	/* frames per outcome, frame_open() counts */
};

/*
 * The body of m alone: its length, -EMSGSIZE if it does not fit in cap
 * (buf NULL, cap 0: only measure), -EINVAL if m breaks a rule the decoder
 * enforces (so whatever we send, we would also accept).
 */
ssize_t frame_body_encode(const struct frame_msg *m, uint8_t *buf, size_t cap);
/* Strictly decode a body of the given type: 0 or -EBADMSG.  m points into buf. */
int frame_body_decode(unsigned type, const uint8_t *buf, size_t len, struct frame_msg *m);

/*
 * Build a frame into buf: header from h (type from m, key id from key,
 * flags FRAME_F_*, compact envelope if h->compact), body from m, sealed
 * with key.  Returns the frame length, -EMSGSIZE (cap), -EINVAL (bad
 * message or flags, or a beacon in a compact envelope).
 */
ssize_t frame_seal(uint8_t *buf, size_t cap, const struct frame_hdr *h, const struct frame_msg *m,
    const struct crypto_key *key);

/*
 * Check and open a received frame in place (buf is decrypted).  On FRAME_OK
 * h and m are filled in and m points into buf; the frame was authentic,
 * fresh and well-formed, and the replay window has recorded it.  Every call
 * adds one to rx->count[result].
 */
enum frame_drop frame_open(struct frame_rx *rx, uint8_t *buf, size_t len, struct frame_hdr *h,
    struct frame_msg *m);

/* Bytes a frame adds around its body, at most, for these flags (either envelope). */
size_t frame_overhead(uint8_t flags);

#endif
