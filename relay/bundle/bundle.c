/*
 * bundle.c - Bundle Protocol version 7 (RFC 9171) encoder and strict decoder.
 *
 * Wire format, as we write it (RFC 9171 section 4):
 *
 *   9f                               bundle: indefinite-length array
 *     8b / 89                        primary block, 11 or 9 elements
 *       07                           version 7
 *       flags                        bundle processing control flags (BF_*)
 *       crc-type                     1 CRC-16/X.25, 2 CRC-32C
 *       eid eid eid                  destination, source, report-to
 *       82 ctime seq                 creation timestamp: DTN ms, sequence
 *       lifetime                     ms
 *       [offset adu-len]             only if BF_IS_FRAGMENT
 *       42 xx xx / 44 xx xx xx xx    CRC, big-endian
 *     85 type number flags 00 bstr   extension blocks: previous node (6,
 *                                    data = eid), bundle age (7, uint ms),
 *                                    hop count (10, [limit, count]),
 *                                    priority (193, uint 0..6), then the
 *                                    blocks of others we carry
 *     85 01 01 flags 00 bstr         payload block, always block number 1
 *   ff                               break
 *
 *   eid = 82 01 00                   dtn:none
 *       | 82 01 text                 dtn:<text>, text = "//node/demux"
 *       | 82 02 82 node service      ipn:node.service
 *
 * A block's CRC covers the block's whole encoding with the CRC value bytes
 * taken as zero.  Every integer and length has its shortest form.
 *
 * The decoder works in two passes: first it checks that the input is one
 * well-formed CBOR array of at most BUNDLE_MAX_BLOCKS + 2 items nested no
 * deeper than a bundle can be and nothing after it, then it reads the
 * structure.  So a bound on work and depth holds before any field is looked
 * at, and the second pass can name the field at fault.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bundle.h"
#include "cbor.h"
#include "service.h"

/* Outer array, block, EID, ipn [node, service]: nothing nests deeper. */
#define BUNDLE_DEPTH		4
#define BUNDLE_MAX_ITEMS	(BUNDLE_MAX_BLOCKS + 2)	/* + primary and payload */
/* Longest dtn SSP: "dtn:" + SSP + NUL fit in BUNDLE_EID_MAX. */
#define DTN_SSP_MAX		(BUNDLE_EID_MAX - 5)
#define BUNDLE_VERSION		7

#define REJECT(err, reason) do {	\
	*why = (reason);		\
	return -(err);			\
} while (0)

/*
 * CRCs, reflected, four bits at a time: a 16-entry table each keeps this
 * short and still runs at a few hundred MB/s.
 */
static const uint16_t crc16_nibble[16] = {
	0x0000, 0x1081, 0x2102, 0x3183, 0x4204, 0x5285, 0x6306, 0x7387,
	0x8408, 0x9489, 0xa50a, 0xb58b, 0xc60c, 0xd68d, 0xe70e, 0xf78f,
};
static const uint32_t crc32c_nibble[16] = {
	0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1,
	0x417b1dbc, 0x5125dad3, 0x61c69362, 0x7198540d,
	0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9,
	0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75,
};

static uint16_t
crc16_step(uint16_t c, const uint8_t *p, size_t n)
{
	while (n-- > 0) {
		c ^= *p++;
		c = (uint16_t)(c >> 4 ^ crc16_nibble[c & 0xf]);
		c = (uint16_t)(c >> 4 ^ crc16_nibble[c & 0xf]);
	}
	return c;
}

static uint32_t
crc32c_step(uint32_t c, const uint8_t *p, size_t n)
{
	while (n-- > 0) {
		c ^= *p++;
		c = c >> 4 ^ crc32c_nibble[c & 0xf];
		c = c >> 4 ^ crc32c_nibble[c & 0xf];
	}
	return c;
}

uint16_t
crc16_x25(const uint8_t *p, size_t n)
{
	return crc16_step(0xffff, p, n) ^ 0xffff;
}

uint32_t
crc32c(const uint8_t *p, size_t n)
{
	return crc32c_step(0xffffffff, p, n) ^ 0xffffffff;
}

static size_t
crc_len(int type)
{
	return type == CRC_16 ? 2 : type == CRC_32C ? 4 : 0;
}

/* CRC of the block [start, end) with the crc_len bytes at val taken as 0. */
static uint32_t
block_crc(int type, const uint8_t *start, const uint8_t *val, const uint8_t *end)
{
	static const uint8_t zero[4];
	size_t n = crc_len(type);

	if (type == CRC_16) {
		uint16_t c = crc16_step(0xffff, start, (size_t)(val - start));

		c = crc16_step(c, zero, n);
		return crc16_step(c, val + n, (size_t)(end - val - n)) ^ 0xffff;
	} else {
		uint32_t c = crc32c_step(0xffffffff, start, (size_t)(val - start));

		c = crc32c_step(c, zero, n);
		return crc32c_step(c, val + n, (size_t)(end - val - n)) ^ 0xffffffff;
	}
}

static bool
crc_matches(int type, const uint8_t *start, const uint8_t *val, const uint8_t *end)
{
	uint32_t want = 0;

	for (size_t i = 0; i < crc_len(type); i++)
		want = want << 8 | val[i];
	return block_crc(type, start, val, end) == want;
}

/*
 * Endpoint IDs.  A dtn SSP is "//" node-name "/" demux in visible ASCII
 * (RFC 9171 4.2.5.1.1); dtn:none is kept as "none".
 */
static bool
dtn_ssp_valid(const char *s, size_t n)
{
	const char *slash;

	if (n < 4 || n > DTN_SSP_MAX || s[0] != '/' || s[1] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	slash = memchr(s + 2, '/', n - 2);
	return slash != NULL && slash > s + 2;
}

static bool
dtn_is_none(const struct eid *e)
{
	return strcmp(e->dtn, "none") == 0;
}

static bool
eid_valid(const struct eid *e)
{
	size_t n;

	if (e->scheme == EID_IPN)
		return true;
	if (e->scheme != EID_DTN)
		return false;
	n = strnlen(e->dtn, sizeof(e->dtn));
	if (n == sizeof(e->dtn))
		return false;
	return dtn_is_none(e) || dtn_ssp_valid(e->dtn, n);
}

/* Decimal uint64 with at least one digit and no overflow. */
static bool
parse_u64(const char **s, uint64_t *v)
{
	const char *p = *s;

	*v = 0;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (*v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return false;
		*v = *v * 10 + (uint64_t)(*p - '0');
	}
	*s = p;
	return true;
}

int
eid_parse(struct eid *e, const char *text)
{
	struct eid t;
	size_t n;

	memset(&t, 0, sizeof(t));
	if (strncmp(text, "ipn:", 4) == 0) {
		text += 4;
		if (!parse_u64(&text, &t.node) || *text++ != '.' ||
		    !parse_u64(&text, &t.service) || *text != '\0')
			return -EINVAL;
		t.scheme = EID_IPN;
	} else if (strncmp(text, "dtn:", 4) == 0) {
		text += 4;
		n = strlen(text);
		if (strcmp(text, "none") != 0 && !dtn_ssp_valid(text, n))
			return -EINVAL;
		memcpy(t.dtn, text, n + 1);
		t.scheme = EID_DTN;
	} else {
		return -EINVAL;
	}
	*e = t;
	return 0;
}

int
eid_format(const struct eid *e, char *out, size_t cap)
{
	if (e->scheme == EID_IPN)
		return snprintf(out, cap, "ipn:%" PRIu64 ".%" PRIu64, e->node, e->service);
	if (e->scheme == EID_DTN)
		return snprintf(out, cap, "dtn:%.*s", (int)sizeof(e->dtn), e->dtn);
	return snprintf(out, cap, "invalid:");
}

bool
eid_equal(const struct eid *a, const struct eid *b)
{
	if (a->scheme != b->scheme)
		return false;
	if (a->scheme == EID_IPN)
		return a->node == b->node && a->service == b->service;
	return strncmp(a->dtn, b->dtn, sizeof(a->dtn)) == 0;
}

void
eid_ipn(struct eid *e, uint64_t node, uint64_t service)
{
	memset(e, 0, sizeof(*e));
	e->scheme = EID_IPN;
	e->node = node;
	e->service = service;
}

enum eid_error { EID_OK, EID_SHAPE, EID_SCHEME, EID_BAD_IPN, EID_LONG, EID_BAD_DTN };
enum eid_field { F_DST, F_SRC, F_RPT, F_PREV };

#define EID_REASONS(f) {						\
	NULL,								\
	f " EID is not [scheme, SSP]",					\
	f " EID has an unknown scheme",					\
	f " ipn EID is not [node, service] unsigned integers",		\
	f " dtn EID is too long",					\
	f " dtn EID is malformed",					\
}
static const char *const eid_why[][6] = {
	[F_DST] = EID_REASONS("destination"),
	[F_SRC] = EID_REASONS("source"),
	[F_RPT] = EID_REASONS("report-to"),
	[F_PREV] = EID_REASONS("previous-node"),
};

static enum eid_error
eid_read(struct cbor_reader *r, struct eid *e)
{
	uint64_t n, m, scheme, v;
	size_t len;
	int t;

	if (cbor_read_array(r, &n) < 0 || !cbor_next(r, &n) ||
	    cbor_read_uint(r, &scheme) < 0 || !cbor_next(r, &n))
		return EID_SHAPE;
	memset(e, 0, sizeof(*e));
	if (scheme == EID_DTN) {
		t = cbor_peek(r);
		if (t == CBOR_UINT) {
			if (cbor_read_uint(r, &v) < 0 || v != 0)
				return EID_BAD_DTN;
			strcpy(e->dtn, "none");
		} else if (t == CBOR_TEXT) {
			t = cbor_read_text_copy(r, e->dtn, DTN_SSP_MAX + 1, &len);
			if (t == -EMSGSIZE)
				return EID_LONG;
			if (t < 0 || !dtn_ssp_valid(e->dtn, len))
				return EID_BAD_DTN;
		} else {
			return EID_BAD_DTN;
		}
	} else if (scheme == EID_IPN) {
		if (cbor_read_array(r, &m) < 0 ||
		    !cbor_next(r, &m) || cbor_read_uint(r, &e->node) < 0 ||
		    !cbor_next(r, &m) || cbor_read_uint(r, &e->service) < 0 ||
		    cbor_next(r, &m))
			return EID_BAD_IPN;
	} else {
		return EID_SCHEME;
	}
	if (cbor_next(r, &n))
		return EID_SHAPE;
	e->scheme = (uint8_t)scheme;
	return EID_OK;
}

static void
eid_put(struct cbor_writer *w, const struct eid *e)
{
	cbor_put_array(w, 2);
	cbor_put_uint(w, e->scheme);
	if (e->scheme == EID_IPN) {
		cbor_put_array(w, 2);
		cbor_put_uint(w, e->node);
		cbor_put_uint(w, e->service);
	} else if (dtn_is_none(e)) {
		cbor_put_uint(w, 0);
	} else {
		cbor_put_text(w, e->dtn, strlen(e->dtn));
	}
}

void
bundle_init(struct bundle *b)
{
	memset(b, 0, sizeof(*b));
	b->crc_type = CRC_32C;
	eid_ipn(&b->dst, 0, 0);
	eid_ipn(&b->src, 0, 0);
	b->report_to.scheme = EID_DTN;
	strcpy(b->report_to.dtn, "none");
	b->lifetime = BUNDLE_LIFETIME;
	b->has_hop = true;
	b->hop_limit = BUNDLE_HOP_LIMIT;
	b->priority = PRIO_MESSAGE;
	b->payload_crc = CRC_NONE;
}

/*
 * Pass one: one CBOR array (definite or not) of at most BUNDLE_MAX_ITEMS
 * well-formed items, nothing nested deeper than BUNDLE_DEPTH, nothing after.
 */
static int
check_outline(const uint8_t *buf, size_t len, const char **why)
{
	struct cbor_reader r;
	uint64_t n, items = 0;
	int e;

	cbor_reader_init(&r, buf, len);
	if (cbor_peek(&r) != CBOR_ARRAY) {
		/* BPv6 (RFC 5050) bundles start with their version byte. */
		if (buf[0] == 0x06)
			REJECT(EPROTONOSUPPORT, "BPv6 bundle: only version 7 is supported");
		REJECT(EBADMSG, "not a CBOR array");
	}
	if (cbor_read_array(&r, &n) < 0)
		REJECT(EBADMSG, r.why);
	if (n != CBOR_INDEF && n > BUNDLE_MAX_ITEMS)
		REJECT(EMSGSIZE, "too many blocks");
	while (cbor_next(&r, &n)) {
		if (++items > BUNDLE_MAX_ITEMS)
			REJECT(EMSGSIZE, "too many blocks");
		if ((e = cbor_skip(&r, BUNDLE_DEPTH - 1)) < 0)
			REJECT(-e, r.why);
	}
	if (cbor_left(&r) > 0)
		REJECT(EBADMSG, "trailing bytes after the bundle");
	return 0;
}

static int
decode_primary(struct bundle *b, struct cbor_reader *r, const char **why)
{
	const uint8_t *start = r->p, *crc = NULL;
	uint64_t n, version, crc_type, t;
	enum eid_error ee;
	size_t crc_n;

#define FIELD(what) do {						\
	if (!cbor_next(r, &n))						\
		REJECT(EBADMSG, "primary block has too few fields (" what ")"); \
} while (0)
#define UINT_FIELD(v, what) do {					\
	FIELD(what);							\
	if (cbor_read_uint(r, (v)) < 0)					\
		REJECT(EBADMSG, what " is not an unsigned integer");	\
} while (0)
#define EID_FIELD(e, f, what) do {					\
	FIELD(what);							\
	if ((ee = eid_read(r, (e))) != EID_OK)				\
		REJECT(ee == EID_LONG ? EMSGSIZE : EBADMSG, eid_why[f][ee]); \
} while (0)

	if (cbor_read_array(r, &n) < 0)
		REJECT(EBADMSG, "primary block is not an array");
	UINT_FIELD(&version, "version");
	if (version != BUNDLE_VERSION)
		REJECT(EPROTONOSUPPORT, "bundle protocol version is not 7");
	UINT_FIELD(&b->flags, "bundle processing flags");
	UINT_FIELD(&crc_type, "primary block CRC type");
	if (crc_type > CRC_32C)
		REJECT(EBADMSG, "primary block has an unknown CRC type");
	b->crc_type = (uint8_t)crc_type;
	EID_FIELD(&b->dst, F_DST, "destination");
	EID_FIELD(&b->src, F_SRC, "source");
	EID_FIELD(&b->report_to, F_RPT, "report-to");
	FIELD("creation timestamp");
	if (cbor_read_array(r, &t) < 0 ||
	    !cbor_next(r, &t) || cbor_read_uint(r, &b->ctime) < 0 ||
	    !cbor_next(r, &t) || cbor_read_uint(r, &b->seq) < 0 ||
	    cbor_next(r, &t))
		REJECT(EBADMSG, "creation timestamp is not [time, sequence] unsigned integers");
	UINT_FIELD(&b->lifetime, "lifetime");
	if (b->flags & BF_IS_FRAGMENT) {
		UINT_FIELD(&b->frag_offset, "fragment offset");
		UINT_FIELD(&b->adu_len, "total ADU length");
	}
	if (b->crc_type != CRC_NONE) {
		FIELD("CRC");
		if (cbor_read_bytes(r, &crc, &crc_n) < 0 || crc_n != crc_len(b->crc_type))
			REJECT(EBADMSG, "primary block CRC is not a byte string of its type's length");
	}
	if (cbor_next(r, &n))
		REJECT(EBADMSG, "primary block has too many fields");
	if (crc != NULL && !crc_matches(b->crc_type, start, crc, r->p))
		REJECT(EBADMSG, "primary block CRC mismatch");
	return 0;
#undef FIELD
#undef UINT_FIELD
#undef EID_FIELD
}

/* One canonical block: [type, number, flags, crc type, data, (crc)]. */
static int
read_block(struct bundle_block *blk, struct cbor_reader *r, const char **why)
{
	const uint8_t *start = r->p, *crc = NULL;
	uint64_t n, crc_type;
	size_t crc_n;

	if (cbor_read_array(r, &n) < 0)
		REJECT(EBADMSG, "block is not an array");
	if (!cbor_next(r, &n) || cbor_read_uint(r, &blk->type) < 0)
		REJECT(EBADMSG, "block type missing or not an unsigned integer");
	if (!cbor_next(r, &n) || cbor_read_uint(r, &blk->number) < 0)
		REJECT(EBADMSG, "block number missing or not an unsigned integer");
	if (!cbor_next(r, &n) || cbor_read_uint(r, &blk->flags) < 0)
		REJECT(EBADMSG, "block flags missing or not an unsigned integer");
	if (!cbor_next(r, &n) || cbor_read_uint(r, &crc_type) < 0)
		REJECT(EBADMSG, "block CRC type missing or not an unsigned integer");
	if (crc_type > CRC_32C)
		REJECT(EBADMSG, "block has an unknown CRC type");
	blk->crc_type = (uint8_t)crc_type;
	if (!cbor_next(r, &n) || cbor_read_bytes(r, &blk->data, &blk->len) < 0)
		REJECT(EBADMSG, "block data missing or not a definite-length byte string");
	if (blk->crc_type != CRC_NONE) {
		if (!cbor_next(r, &n) || cbor_read_bytes(r, &crc, &crc_n) < 0 ||
		    crc_n != crc_len(blk->crc_type))
			REJECT(EBADMSG, "block CRC missing or not a byte string of its type's length");
	}
	if (cbor_next(r, &n))
		REJECT(EBADMSG, "block has too many fields");
	if (crc != NULL && !crc_matches(blk->crc_type, start, crc, r->p))
		REJECT(EBADMSG, "block CRC mismatch");
	return 0;
}

/* The extension blocks we interpret; each may occur once. */
static int
decode_known(struct bundle *b, const struct bundle_block *blk, const char **why)
{
	struct cbor_reader r;
	enum eid_error ee;
	uint64_t n, v;

	cbor_reader_init(&r, blk->data, blk->len);
	switch (blk->type) {
	case BLOCK_PREVIOUS_NODE:
		if (b->has_prev)
			REJECT(EBADMSG, "more than one previous-node block");
		if ((ee = eid_read(&r, &b->prev)) != EID_OK)
			REJECT(ee == EID_LONG ? EMSGSIZE : EBADMSG, eid_why[F_PREV][ee]);
		b->has_prev = true;
		break;
	case BLOCK_BUNDLE_AGE:
		if (b->has_age)
			REJECT(EBADMSG, "more than one bundle-age block");
		if (cbor_read_uint(&r, &b->age) < 0)
			REJECT(EBADMSG, "bundle-age block is not an unsigned integer");
		b->has_age = true;
		break;
	case BLOCK_HOP_COUNT:
		if (b->has_hop)
			REJECT(EBADMSG, "more than one hop-count block");
		if (cbor_read_array(&r, &n) < 0 ||
		    !cbor_next(&r, &n) || cbor_read_uint(&r, &b->hop_limit) < 0 ||
		    !cbor_next(&r, &n) || cbor_read_uint(&r, &b->hop_count) < 0 ||
		    cbor_next(&r, &n))
			REJECT(EBADMSG, "hop-count block is not [limit, count] unsigned integers");
		if (b->hop_limit < 1 || b->hop_limit > 255)
			REJECT(EBADMSG, "hop limit outside 1..255");
		b->has_hop = true;
		break;
	case BLOCK_PRIORITY:
		if (b->priority >= 0)
			REJECT(EBADMSG, "more than one priority block");
		if (cbor_read_uint(&r, &v) < 0)
			REJECT(EBADMSG, "priority block is not an unsigned integer");
		if (v >= PRIO_COUNT)
			REJECT(EBADMSG, "priority outside 0..6");
		b->priority = (int)v;
		break;
	default:
		return 0;
	}
	if (cbor_left(&r) > 0)
		REJECT(EBADMSG, "extension block has bytes after its data item");
	return 1;
}

static int
decode(struct bundle *b, const uint8_t *buf, size_t len, const char **why,
    struct bundle_block *list, size_t cap)
{
	uint64_t numbers[BUNDLE_MAX_ITEMS], n;
	struct bundle_block blk;
	struct cbor_reader r;
	size_t nblocks = 0;
	bool payload = false;
	int e;

	memset(b, 0, sizeof(*b));
	b->priority = -1;
	if (len > BUNDLE_MAX_SIZE)
		REJECT(EMSGSIZE, "bundle larger than BUNDLE_MAX_SIZE");
	if (len == 0)
		REJECT(EBADMSG, "empty input");
	if ((e = check_outline(buf, len, why)) < 0)
		return e;

	cbor_reader_init(&r, buf, len);
	(void)cbor_read_array(&r, &n);	/* checked above */
	if (!cbor_next(&r, &n))
		REJECT(EBADMSG, "no primary block");
	if ((e = decode_primary(b, &r, why)) < 0)
		return e;
	while (cbor_next(&r, &n)) {
		if (payload)
			REJECT(EBADMSG, "payload block is not the last block");
		if ((e = read_block(&blk, &r, why)) < 0)
			return e;
		if (blk.number == 0)
			REJECT(EBADMSG, "block number 0 (reserved for the primary block)");
		if (blk.type == 0)
			REJECT(EBADMSG, "block type 0 is reserved");
		/* check_outline() bounds nblocks by BUNDLE_MAX_ITEMS - 1. */
		for (size_t i = 0; i < nblocks; i++)
			if (numbers[i] == blk.number)
				REJECT(EBADMSG, "duplicate block number");
		numbers[nblocks] = blk.number;
		if (list != NULL && nblocks < cap)
			list[nblocks] = blk;
		nblocks++;

		if (blk.type == BLOCK_PAYLOAD) {
			if (blk.number != 1)
				REJECT(EBADMSG, "payload block number is not 1");
			payload = true;
			b->payload_flags = blk.flags;
			b->payload_crc = blk.crc_type;
			b->payload = blk.data;
			b->payload_len = blk.len;
			continue;
		}
		if (blk.number == 1)
			REJECT(EBADMSG, "block number 1 is not the payload block");
		if ((e = decode_known(b, &blk, why)) < 0)
			return e;
		if (e == 0) {
			if (b->n_other >= BUNDLE_MAX_BLOCKS)
				REJECT(EMSGSIZE, "too many blocks");
			b->other[b->n_other++] = blk;
		}
	}
	if (!payload)
		REJECT(EBADMSG, "no payload block");
	if (b->ctime == 0 && !b->has_age)
		REJECT(EBADMSG, "creation time 0 without a bundle-age block");
	if ((b->flags & BF_IS_FRAGMENT) &&
	    (b->frag_offset > b->adu_len || b->payload_len > b->adu_len - b->frag_offset))
		REJECT(EBADMSG, "fragment extends past the total ADU length");
	return (int)nblocks;
}

int
bundle_decode(struct bundle *b, const uint8_t *buf, size_t len, const char **why)
{
	int e = decode(b, buf, len, why, NULL, 0);

	return e < 0 ? e : 0;
}

int
bundle_blocks(const uint8_t *buf, size_t len, struct bundle_block *blocks, size_t cap,
    const char **why)
{
	struct bundle b;

	return decode(&b, buf, len, why, blocks, cap);
}

static bool
is_known_type(uint64_t type)
{
	return type == BLOCK_PAYLOAD || type == BLOCK_PREVIOUS_NODE ||
	    type == BLOCK_BUNDLE_AGE || type == BLOCK_HOP_COUNT || type == BLOCK_PRIORITY;
}

/* Would the decoder accept what we are about to write? */
static int
check(const struct bundle *b)
{
	size_t known = b->has_prev + b->has_age + b->has_hop + (b->priority >= 0);

	if (b->crc_type > CRC_32C || b->payload_crc > CRC_32C)
		return -EINVAL;
	if (!eid_valid(&b->dst) || !eid_valid(&b->src) || !eid_valid(&b->report_to) ||
	    (b->has_prev && !eid_valid(&b->prev)))
		return -EINVAL;
	if (b->has_hop && (b->hop_limit < 1 || b->hop_limit > 255))
		return -EINVAL;
	if (b->priority < -1 || b->priority >= PRIO_COUNT)
		return -EINVAL;
	if (b->ctime == 0 && !b->has_age)
		return -EINVAL;
	if ((b->flags & BF_IS_FRAGMENT) &&
	    (b->frag_offset > b->adu_len || b->payload_len > b->adu_len - b->frag_offset))
		return -EINVAL;
	if (b->n_other > BUNDLE_MAX_BLOCKS - known)
		return -EINVAL;
	for (size_t i = 0; i < b->n_other; i++) {
		const struct bundle_block *o = &b->other[i];

		if (o->type == 0 || is_known_type(o->type) || o->number < 2 ||
		    o->crc_type > CRC_32C || (o->data == NULL && o->len > 0))
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (b->other[j].number == o->number)
				return -EINVAL;
	}
	if (b->payload_len > BUNDLE_MAX_SIZE)
		return -EMSGSIZE;
	return 0;
}

/* Append the CRC field of the block that started at offset start. */
static void
put_crc(struct cbor_writer *w, size_t start, int type)
{
	static const uint8_t zero[4];
	size_t n = crc_len(type);
	uint32_t c;

	if (n == 0)
		return;
	cbor_put_bytes(w, zero, n);
	if (!cbor_writer_ok(w))
		return;		/* only counting */
	c = block_crc(type, w->buf + start, w->buf + w->len - n, w->buf + w->len);
	for (size_t i = 0; i < n; i++)
		w->buf[w->len - 1 - i] = (uint8_t)(c >> (8 * i));
}

static void
put_block(struct cbor_writer *w, uint64_t type, uint64_t number, uint64_t flags, int crc,
    const uint8_t *data, size_t len)
{
	size_t start = w->len;

	cbor_put_array(w, crc != CRC_NONE ? 6 : 5);
	cbor_put_uint(w, type);
	cbor_put_uint(w, number);
	cbor_put_uint(w, flags);
	cbor_put_uint(w, (uint64_t)crc);
	cbor_put_bytes(w, data, len);
	put_crc(w, start, crc);
}

/* The lowest block number from 'from' up that no carried block uses. */
static uint64_t
free_number(const struct bundle *b, uint64_t from)
{
	for (;; from++) {
		size_t i;

		for (i = 0; i < b->n_other && b->other[i].number != from; i++)
			;
		if (i == b->n_other)
			return from;
	}
}

/*
 * Everything up to the payload bytes; returns the offset at which the
 * payload block starts (for its CRC).
 */
static size_t
put_head(const struct bundle *b, struct cbor_writer *w)
{
	uint8_t data[BUNDLE_EID_MAX + 32];
	struct cbor_writer d;
	uint64_t number = 1;
	size_t start;

	cbor_put_array_indef(w);

	start = w->len;
	cbor_put_array(w, 8 + (b->flags & BF_IS_FRAGMENT ? 2 : 0) + (b->crc_type ? 1 : 0));
	cbor_put_uint(w, BUNDLE_VERSION);
	cbor_put_uint(w, b->flags);
	cbor_put_uint(w, b->crc_type);
	eid_put(w, &b->dst);
	eid_put(w, &b->src);
	eid_put(w, &b->report_to);
	cbor_put_array(w, 2);
	cbor_put_uint(w, b->ctime);
	cbor_put_uint(w, b->seq);
	cbor_put_uint(w, b->lifetime);
	if (b->flags & BF_IS_FRAGMENT) {
		cbor_put_uint(w, b->frag_offset);
		cbor_put_uint(w, b->adu_len);
	}
	put_crc(w, start, b->crc_type);

	if (b->has_prev) {
		cbor_writer_init(&d, data, sizeof(data));
		eid_put(&d, &b->prev);
		number = free_number(b, number + 1);
		put_block(w, BLOCK_PREVIOUS_NODE, number, 0, CRC_NONE, data, d.len);
	}
	if (b->has_age) {
		cbor_writer_init(&d, data, sizeof(data));
		cbor_put_uint(&d, b->age);
		number = free_number(b, number + 1);
		put_block(w, BLOCK_BUNDLE_AGE, number, 0, CRC_NONE, data, d.len);
	}
	if (b->has_hop) {
		cbor_writer_init(&d, data, sizeof(data));
		cbor_put_array(&d, 2);
		cbor_put_uint(&d, b->hop_limit);
		cbor_put_uint(&d, b->hop_count);
		number = free_number(b, number + 1);
		put_block(w, BLOCK_HOP_COUNT, number, 0, CRC_NONE, data, d.len);
	}
	if (b->priority >= 0) {
		cbor_writer_init(&d, data, sizeof(data));
		cbor_put_uint(&d, (uint64_t)b->priority);
		number = free_number(b, number + 1);
		put_block(w, BLOCK_PRIORITY, number, 0, CRC_NONE, data, d.len);
	}
	for (size_t i = 0; i < b->n_other; i++) {
		const struct bundle_block *o = &b->other[i];

		put_block(w, o->type, o->number, o->flags, o->crc_type, o->data, o->len);
	}

	start = w->len;
	cbor_put_array(w, b->payload_crc != CRC_NONE ? 6 : 5);
	cbor_put_uint(w, BLOCK_PAYLOAD);
	cbor_put_uint(w, 1);
	cbor_put_uint(w, b->payload_flags);
	cbor_put_uint(w, b->payload_crc);
	cbor_put_bytes_head(w, b->payload_len);
	return start;
}

enum part { PART_ALL, PART_HEAD, PART_TAIL };

static ssize_t
encode(const struct bundle *b, uint8_t *out, size_t cap, enum part part)
{
	struct cbor_writer w;
	size_t head, tail, need, start;
	int e;

	if ((e = check(b)) < 0)
		return e;
	if (part != PART_ALL && b->payload_crc != CRC_NONE)
		return -EINVAL;
	if (part == PART_ALL && b->payload_len > 0 && b->payload == NULL)
		return -EINVAL;

	/* Sizes first: the head is small, counting it costs little. */
	cbor_writer_init(&w, NULL, 0);
	put_head(b, &w);
	head = w.len;
	tail = crc_len(b->payload_crc) + (b->payload_crc != CRC_NONE ? 1 : 0) + 1;
	if (head + tail > BUNDLE_MAX_SIZE || b->payload_len > BUNDLE_MAX_SIZE - head - tail)
		return -EMSGSIZE;
	need = part == PART_HEAD ? head : part == PART_TAIL ? tail :
	    head + b->payload_len + tail;
	if (out == NULL)
		return (ssize_t)need;
	if (need > cap)
		return -ENOSPC;

	cbor_writer_init(&w, out, cap);
	if (part == PART_TAIL) {
		cbor_put_break(&w);
		return (ssize_t)w.len;
	}
	start = put_head(b, &w);
	if (part == PART_ALL) {
		cbor_put_raw(&w, b->payload, b->payload_len);
		put_crc(&w, start, b->payload_crc);
		cbor_put_break(&w);
	}
	return (ssize_t)w.len;
}

ssize_t
bundle_encode(const struct bundle *b, uint8_t *out, size_t cap)
{
	return encode(b, out, cap, PART_ALL);
}

ssize_t
bundle_encode_head(const struct bundle *b, uint8_t *out, size_t cap)
{
	return encode(b, out, cap, PART_HEAD);
}

ssize_t
bundle_encode_tail(const struct bundle *b, uint8_t *out, size_t cap)
{
	return encode(b, out, cap, PART_TAIL);
}

int
bundle_id(const struct bundle *b, char *out, size_t cap)
{
	char src[BUNDLE_EID_MAX];
	int n;

	eid_format(&b->src, src, sizeof(src));
	if (b->flags & BF_IS_FRAGMENT)
		n = snprintf(out, cap, "%s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
		    src, b->ctime, b->seq, b->frag_offset, (uint64_t)b->payload_len, b->adu_len);
	else
		n = snprintf(out, cap, "%s %" PRIu64 " %" PRIu64, src, b->ctime, b->seq);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return 0;
}

int
bundle_decode_primary(struct bundle *b, const uint8_t *buf, size_t len, const char **why)
{
	struct cbor_reader r;
	uint64_t n;

	memset(b, 0, sizeof(*b));
	b->priority = -1;
	cbor_reader_init(&r, buf, len);
	if (cbor_peek(&r) != CBOR_ARRAY || cbor_read_array(&r, &n) < 0 || !cbor_next(&r, &n))
		REJECT(EBADMSG, "not a CBOR array with a primary block");
	return decode_primary(b, &r, why);
}

int
eid_cbor_read(struct cbor_reader *r, struct eid *e)
{
	enum eid_error ee = eid_read(r, e);

	if (ee == EID_OK)
		return 0;
	r->why = eid_why[F_SRC][ee] + strlen("source ");
	return ee == EID_LONG ? -EMSGSIZE : -EBADMSG;
}

void
eid_cbor_put(struct cbor_writer *w, const struct eid *e)
{
	eid_put(w, e);
}
