/*
 * bundle.h - Bundle Protocol version 7 (RFC 9171): encode, strictly decode.
 *
 * A bundle is a CBOR indefinite-length array: the primary block, then zero
 * or more extension blocks, then the payload block (block number 1), then
 * the break byte.  We decode everything RFC 9171 allows (both EID schemes,
 * both CRC types, definite or indefinite outer array, unknown extension
 * blocks, which are carried as they are) and reject anything malformed with
 * a reason.  The decoder never reads outside the buffer it is given and never
 * allocates: struct bundle points into that buffer.
 *
 * Our own bundles always carry a CRC on the primary block (we use no BPSec
 * integrity block), a hop-count block, a bundle-age block when the clock is
 * not trusted, and the priority-class block below.
 */
#ifndef FIELDRELAY_BUNDLE_H
#define FIELDRELAY_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BUNDLE_EID_MAX		256	/* longest EID text we carry, with NUL */
#define BUNDLE_MAX_BLOCKS	16	/* canonical blocks other than payload */
#define BUNDLE_MAX_SIZE		(17u << 20)	/* 16 MiB payload + blocks */
#define BUNDLE_ID_MAX		(BUNDLE_EID_MAX + 128)

/* Milliseconds from the Unix epoch to the DTN epoch, 2000-01-01T00:00:00Z. */
#define DTN_EPOCH_UNIX_MS	946684800000ULL

enum eid_scheme { EID_DTN = 1, EID_IPN = 2 };

struct eid {
	uint8_t scheme;			/* enum eid_scheme */
	uint64_t node, service;		/* ipn:node.service */
	char dtn[BUNDLE_EID_MAX];	/* dtn: text after "dtn:", "none" for dtn:none */
};

/* Bundle processing control flags (RFC 9171 4.2.3). */
#define BF_IS_FRAGMENT		0x000001
#define BF_ADMIN_RECORD		0x000002
#define BF_NO_FRAGMENT		0x000004
#define BF_ACK_REQUESTED	0x000020
#define BF_STATUS_TIME		0x000040
#define BF_RPT_RECEPTION	0x004000
#define BF_RPT_FORWARDING	0x010000
#define BF_RPT_DELIVERY		0x020000
#define BF_RPT_DELETION		0x040000

/* Block processing control flags (RFC 9171 4.2.4). */
#define BLF_REPLICATE		0x01	/* replicate the block in every fragment */
#define BLF_REPORT		0x02	/* status report if the block can't be processed */
#define BLF_DELETE_BUNDLE	0x04	/* delete the bundle if the block can't be processed */
#define BLF_DISCARD		0x10	/* discard the block if it can't be processed */

enum crc_type { CRC_NONE = 0, CRC_16 = 1, CRC_32C = 2 };

/* Defaults bundle_init() fills in. */
#define BUNDLE_HOP_LIMIT	32
#define BUNDLE_LIFETIME		(24ULL * 3600 * 1000)	/* ms */

/* Block type codes (RFC 9171 9.1) and our private priority-class block. */
#define BLOCK_PAYLOAD		1
#define BLOCK_PREVIOUS_NODE	6
#define BLOCK_BUNDLE_AGE	7
#define BLOCK_HOP_COUNT		10
#define BLOCK_PRIORITY		193	/* fieldrelay: data = CBOR uint, enum prio */

/* An extension block we do not interpret: carried as it came. */
struct bundle_block {
	uint64_t type, number, flags;
	uint8_t crc_type;
	const uint8_t *data;		/* block-type-specific data (inside the bstr) */
	size_t len;
};

struct bundle {
	uint64_t flags;			/* BF_* */
	uint8_t crc_type;		/* of the primary block */
	struct eid dst, src, report_to;
	uint64_t ctime;			/* DTN time in ms; 0 = node had no clock */
	uint64_t seq;			/* creation timestamp sequence number */
	uint64_t lifetime;		/* ms */
	uint64_t frag_offset;		/* if BF_IS_FRAGMENT */
	uint64_t adu_len;		/* total application data unit length, likewise */

	bool has_prev;			/* previous-node block */
	struct eid prev;
	bool has_age;			/* bundle-age block */
	uint64_t age;			/* ms */
	bool has_hop;			/* hop-count block */
	uint64_t hop_limit, hop_count;
	int priority;			/* enum prio, -1 if no priority block */

	size_t n_other;			/* unknown extension blocks, carried */
	struct bundle_block other[BUNDLE_MAX_BLOCKS];

	uint64_t payload_flags;		/* block processing control flags */
	uint8_t payload_crc;		/* crc type of the payload block */
	const uint8_t *payload;
	size_t payload_len;
};

/*
 * Fill in a new bundle of ours with defaults: ipn:0.0 source and destination,
 * report-to dtn:none, CRC-32C, BUNDLE_LIFETIME, a hop-count block with
 * BUNDLE_HOP_LIMIT, priority PRIO_MESSAGE, no age block.  Creation time is
 * left 0: set ctime, or set has_age (RFC 9171 4.4.2 wants an age block in a
 * bundle with creation time 0; the encoder refuses one without).
 */
void bundle_init(struct bundle *b);

/*
 * Strict decoder.  On success returns 0; b points into buf, which must
 * outlive it.  On failure returns -EBADMSG (malformed), -EMSGSIZE (over a
 * limit) or -EPROTONOSUPPORT (not version 7) and sets *why to a static
 * human-readable reason.
 */
int bundle_decode(struct bundle *b, const uint8_t *buf, size_t len, const char **why);

/*
 * Encode the whole bundle into out (cap bytes).  Returns the length, or
 * -ENOSPC if cap is too small (call with out NULL / cap 0 to learn the size).
 * -EINVAL if b is not something the decoder would accept (bad EID, priority,
 * hop limit, duplicate or reserved block numbers in other[], creation time 0
 * without an age block...), -EMSGSIZE if it would exceed BUNDLE_MAX_SIZE.
 * Our extension blocks get the lowest block numbers from 2 up that other[]
 * does not use, with block flags 0 and no block CRC.
 */
ssize_t bundle_encode(const struct bundle *b, uint8_t *out, size_t cap);

/*
 * Streaming form for payloads too big to hold in memory (up to 16 MB):
 * head = every byte before the payload data (primary block, extension
 * blocks, payload block header including the byte-string length of
 * payload_len bytes; b->payload is not read); tail = the bytes after it.
 * head || payload || tail == bundle_encode().  Only for payload_crc CRC_NONE
 * (ours always is); otherwise -EINVAL.
 */
ssize_t bundle_encode_head(const struct bundle *b, uint8_t *out, size_t cap);
ssize_t bundle_encode_tail(const struct bundle *b, uint8_t *out, size_t cap);

/*
 * The canonical blocks of an encoded bundle in wire order (payload last),
 * for dissection: bundle_decode() folds the blocks it knows into fields.
 * Validates exactly like bundle_decode().  Fills at most cap entries and
 * returns the number of blocks, or bundle_decode()'s errors and *why.
 */
int bundle_blocks(const uint8_t *buf, size_t len, struct bundle_block *blocks, size_t cap,
    const char **why);

/*
 * Bundle identity (DESIGN.md section 2): source EID, creation time, sequence,
 * and for fragments offset and payload length (RFC 9171 6.1.1 names a
 * fragment by those two: with the total ADU length instead, the first piece
 * of a fragment split again would collide with the fragment itself), then
 * the total ADU length, which reassembly needs: "ipn:1.2 T S OFF LEN ADU".
 */
int bundle_id(const struct bundle *b, char *out, size_t cap);	/* 0 or -ENOSPC */

/* "ipn:3.5", "dtn://a.dtn/src", "dtn:none".  Returns 0 or -EINVAL. */
int eid_parse(struct eid *e, const char *text);
/* Returns the length written (truncated like snprintf). */
int eid_format(const struct eid *e, char *out, size_t cap);
bool eid_equal(const struct eid *a, const struct eid *b);
void eid_ipn(struct eid *e, uint64_t node, uint64_t service);

/*
 * Only the primary block of an encoded bundle, from a prefix of it (the
 * first bytes of a stored bundle): flags, EIDs, creation time, lifetime,
 * fragment fields, CRC checked.  Nothing after the primary block is read;
 * b->payload stays NULL.  Same results and reasons as bundle_decode().
 */
int bundle_decode_primary(struct bundle *b, const uint8_t *buf, size_t len, const char **why);

/* An EID as RFC 9171 4.2.5.1 encodes it, for other CBOR structures that
 * carry one (status reports).  Read: 0, -EBADMSG or -EMSGSIZE, r->why set. */
struct cbor_reader;
struct cbor_writer;
int eid_cbor_read(struct cbor_reader *r, struct eid *e);
void eid_cbor_put(struct cbor_writer *w, const struct eid *e);

/* CRC-16/X.25 and CRC-32C as RFC 9171 4.2.1 uses them. */
uint16_t crc16_x25(const uint8_t *p, size_t n);
uint32_t crc32c(const uint8_t *p, size_t n);

#endif
