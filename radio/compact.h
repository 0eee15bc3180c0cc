/*
 * compact.h - the compact form of a bundle for narrow links (DESIGN.md
 * section 5): what a BUNDLES frame (radio/frame.h) carries instead of the
 * bundle's BPv7 encoding, between two neighbours that already know each
 * other.
 *
 * It leaves out what the receiver can rebuild: the CBOR structure, block
 * numbers, the CRCs (recomputed), the previous-node block (the sender is
 * the previous node), the sender's and receiver's node numbers where an EID
 * names them, a source service equal to the destination's, the usual
 * report-to, the default hop limit and CRC type; it writes node numbers and
 * services as varints, the creation time as an offset from a base the
 * sender announces in its beacon, the lifetime in the coarsest unit that
 * holds it exactly, and the priority in three bits.  Byte for byte in
 * compact.c, next to the encoder.
 *
 * The receiver decodes the compact form and re-encodes the bundle with our
 * canonical encoder (bundle_encode), which gives back the very bytes the
 * sender had only if the sender's bundle was in that encoding.  So the
 * encoder does that round trip itself before it answers, and a bundle that
 * would not come back byte-identical (made by another implementation, with
 * blocks we do not interpret, non-canonical CBOR, a previous-node block that
 * does not name the sender) is refused: it travels in full form.
 */
#ifndef FIELDRELAY_COMPACT_H
#define FIELDRELAY_COMPACT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What both ends know without it being sent. */
struct compact_ctx {
	uint64_t sender;		/* node that sends it: the previous node */
	uint64_t receiver;		/* node that receives it */
	uint64_t time_base;		/* the sender's creation-time base, DTN ms */
};

/*
 * The compact form is never longer than the bundle; the bundle rebuilt from
 * a compact form is at most this much longer than it (tests/fuzz checks).
 */
#define COMPACT_EXPANSION_MAX	512

/*
 * The compact form of the encoded bundle (len bytes) into out: its length,
 * -ENOSPC (cap; out NULL, cap 0: only measure), -ENOTSUP with *why if the
 * bundle must travel in full form, -ENOMEM.
 */
ssize_t compact_encode(const struct compact_ctx *c, const uint8_t *bundle, size_t len, uint8_t *out,
    size_t cap, const char **why);

/*
 * Rebuild the bundle from its compact form (len bytes) into out: its
 * length, -EBADMSG with *why (malformed, or fields no bundle may have),
 * -ENOSPC (cap).  out must not overlap in.
 */
ssize_t compact_decode(const struct compact_ctx *c, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
    const char **why);

#endif
