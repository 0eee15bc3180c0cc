/*
 * sbdmsg.h - bundles in Iridium SBD messages (issue 5 item 3): what a
 * field unit puts in one mobile-originated message (at most 340 bytes) and
 * the command center in one mobile-terminated one (at most 270).
 *
 * A message is one link frame (radio/frame.h) in a full envelope, sealed
 * with the network key and the link's tag length like any other frame, so
 * the other end checks sender, tag and replay window as on every link.
 * There are no beacons on a paid link, so both ends use a fixed time base
 * (SBDMSG_TIME_BASE) for the compact form.  The body is either
 *   - BUNDLES: one or more whole bundles in compact form (radio/compact.c),
 *     transfer ids 1, 2, ... within the message; or
 *   - SEGMENT: one whole bundle in full form (off 0, len = total), for a
 *     bundle the compact form cannot carry (not made by our encoder).
 * MO: the modem's successful session is the hop acknowledgement of the
 * bundles in it (radio/drivers/sbd.h).  MT: the gateway's confirmation is not, since
 * the field node's store may still refuse a bundle (full); the field node
 * acknowledges each MT message in a later MO message with an ack record
 * (byte by byte in sbdmsg.c), one more entry of a BUNDLES frame, after its
 * bundles, that starts with a byte no compact bundle starts with.
 */
#ifndef FIELDRELAY_SBDMSG_H
#define FIELDRELAY_SBDMSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "frame.h"

#define SBDMSG_TIME_BASE	0	/* DTN ms: creation times count from the DTN epoch */
#define SBDMSG_MAX		1960	/* largest DirectIP MO payload: room for any message */

#define SBDMSG_ID_LEN		4	/* an MT message's id in an ack: the last bytes of its tag */
#define SBDMSG_ACKS_MAX		16	/* acks in one message */

/* One MT message acknowledged: which of its bundles the store refused. */
struct sbdmsg_ack {
	uint8_t id[SBDMSG_ID_LEN];	/* sbdmsg_id() of the MT message */
	uint32_t refused;		/* bit i: its i-th bundle (0-based, in message order) was not
					 * stored and should come again; 0: every one is stored */
};

struct crypto_sender;
struct crypto_keyring;

/* The sending end. */
struct sbdmsg_tx {
	struct crypto_sender *sender;	/* our node, boot and frame counter */
	const struct crypto_keyring *keys;
	uint8_t flags;			/* FRAME_F_TAG8, FRAME_F_AUTH_ONLY */
	uint64_t receiver;		/* node at the other end */
};

/* One bundle that may go: its encoded bytes. */
struct sbdmsg_item {
	const uint8_t *bundle;
	size_t len;
};

/*
 * Pack items, in their order, into one sealed message of at most max bytes
 * in out (cap): as many as fit in compact form, stopping at the first that
 * does not fit or cannot go compact; if the first cannot go compact, it
 * alone in full form.  Returns the message length with *taken set (>= 1);
 * -EMSGSIZE if the first item alone does not fit max; -ENOKEY; -errno.
 */
ssize_t sbdmsg_pack(const struct sbdmsg_tx *t, const struct sbdmsg_item *items, size_t n, size_t max,
    uint8_t *out, size_t cap, size_t *taken);

/*
 * The same with acks: the bundles as sbdmsg_pack() takes them, then as many
 * of the n_acks acks as still fit in max, in one ack record (*acks_taken;
 * none beside a bundle in full form).  n may be 0 (a message of acks only,
 * n_acks >= 1; *taken 0).
 */
ssize_t sbdmsg_pack_acks(const struct sbdmsg_tx *t, const struct sbdmsg_item *items, size_t n,
    const struct sbdmsg_ack *acks, size_t n_acks, size_t max, uint8_t *out, size_t cap, size_t *taken,
    size_t *acks_taken);

/* The id of a sealed message (len >= SBDMSG_ID_LEN): what an ack names it by.  Take it before opening. */
void sbdmsg_id(const uint8_t *msg, size_t len, uint8_t id[SBDMSG_ID_LEN]);

/* The size of an ack record of n acks, as encoded (its entry in the frame not counted). */
size_t sbdmsg_ack_record_len(const struct sbdmsg_ack *acks, size_t n);

/*
 * How many bytes sbdmsg_pack() would need for the first item alone
 * (compact if it can, else full form): -errno if it cannot measure.
 */
ssize_t sbdmsg_measure(const struct sbdmsg_tx *t, const uint8_t *bundle, size_t len);

/*
 * The bytes of a message around its bundles (header, tag, first transfer
 * id): a bundle alone needs sbdmsg_measure(); sharing a message, that less
 * this plus its length (a 1- or 2-byte varint).
 */
size_t sbdmsg_overhead(const struct sbdmsg_tx *t);

/* A bundle taken from a message: the rebuilt bundle, valid during the call. */
typedef void sbdmsg_bundle_fn(void *arg, uint64_t sender, uint64_t xid, const uint8_t *bundle, size_t len);
/* An ack taken from a message. */
typedef void sbdmsg_ack_fn(void *arg, uint64_t sender, const struct sbdmsg_ack *ack);

/*
 * Open a received message (decrypted in place) for receiver (our node) and
 * hand each bundle to fn.  Returns the bundles handed on (>= 1), or
 * -EBADMSG with *drop (why frame_open() refused it, FRAME_OK if the frame
 * was authentic but its bundles do not decode) and *why.  scratch (scap,
 * at least SBDMSG_MAX + COMPACT_EXPANSION_MAX) holds a rebuilt bundle.
 * A frame of another type than BUNDLES or one whole SEGMENT is refused
 * as malformed.
 */
int sbdmsg_open(struct frame_rx *rx, uint64_t receiver, uint8_t *msg, size_t len, uint8_t *scratch,
    size_t scap, sbdmsg_bundle_fn *fn, void *arg, enum frame_drop *drop, const char **why);

/*
 * The same, and each ack of an ack record to afn (after the bundles; NULL:
 * ack records are checked and skipped).  Returns the bundles handed on, 0
 * for a message of acks only.  A malformed ack record, or two, refuse the
 * whole message like a malformed bundle.
 */
int sbdmsg_open_acks(struct frame_rx *rx, uint64_t receiver, uint8_t *msg, size_t len, uint8_t *scratch,
    size_t scap, sbdmsg_bundle_fn *fn, sbdmsg_ack_fn *afn, void *arg, enum frame_drop *drop,
    const char **why);

#endif
