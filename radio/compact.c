/*
 * compact.c - compact form of our bundles for narrow links; see compact.h.
 *
 * The compact form, byte by byte ("v" is an unsigned LEB128 varint as in
 * radio/varint.h; S is the sender's node, R the receiver's, B the sender's
 * time base):
 *
 *   M0     bits 0-2  priority class 0..6 (our priority block; 7 is invalid)
 *          bit 3     hop-count block: "hop" fields below
 *          bit 4     previous-node block naming ipn:S.0
 *          bit 5     bundle-age block: "age" below
 *          bit 6     creation time is not 0: "time" below
 *          bit 7     M1 follows; without it M1 is taken as 0
 *   [M1]   bits 0-1  primary block CRC type XOR 2 (so 0 is CRC-32C, our
 *                    default; 1 would be type 3: invalid)
 *          bit 2     fragment: "fragment" below
 *          bit 3     bundle flags other than is-fragment: "flags" below
 *          bit 4     payload block flags: "payload flags" below
 *          bit 5     hop limit other than 32: "hop" below
 *          bits 6-7  payload block CRC type
 *          (an M1 of 0 is written as no M1)
 *   E      bits 0-1  destination: 0 ipn:R.v, 1 ipn:v.v, 2 dtn:none, 3 dtn:text
 *          bits 2-3  source: 0 ipn:S.v, 1 ipn:v.v, 2 dtn:none, 3 dtn:text
 *          bit 4     the source's service is the destination's (both ipn):
 *                    its v is left out
 *          bits 5-6  report-to: 0 ipn:<source node>.0, 1 dtn:none, 2 the
 *                    source, 3 written out: "report-to" below
 *          bit 7     zero
 *   destination   form 0: v service; 1: v node, v service; 3: v len, text
 *   source        likewise (form 0 and 1 without the service if E bit 4)
 *   [report-to]   v form (0 ipn, 1 dtn), then as form 1 or 3 above
 *   [time]        v zigzag(creation time - B), DTN ms
 *   seq           v creation timestamp sequence number
 *   lifetime      v (value << 2 | unit), unit 0 ms, 1 s, 2 min, 3 h: the
 *                 coarsest unit that holds it exactly
 *   [fragment]    v offset, v total ADU length
 *   [flags]       v bundle processing flags without is-fragment, not 0
 *   [payload flags] v, not 0
 *   [age]         v bundle age, ms
 *   [hop]         v hop count, [v hop limit, if M1 bit 5: 1..255 and not 32]
 *   payload       the rest: the payload block's data
 *
 * Every bundle has exactly one compact form: a field that could have been
 * left out, or a code that a shorter one covers, is malformed.  So what
 * decodes re-encodes to the same bytes (the fuzz target checks it).
 *
 * Our own position report (ipn:S.3 to ipn:R.3, CRC-32C, hop-count and
 * priority blocks, 24 h lifetime) takes 2 bytes of codes, 1 of service, up
 * to 4 of creation time (within 3 days of B), the sequence number, 1 of
 * lifetime and 1 of hop count: about 10 bytes in place of 60-70.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "compact.h"
#include "service.h"
#include "varint.h"

#define HOP_LIMIT_DEFAULT	32

#define M0_PRIO			0x07
#define M0_HOP			0x08
#define M0_PREV			0x10
#define M0_AGE			0x20
#define M0_TIME			0x40
#define M0_M1			0x80

#define M1_CRC			0x03
#define M1_FRAGMENT		0x04
#define M1_FLAGS		0x08
#define M1_PAYLOAD_FLAGS	0x10
#define M1_HOP_LIMIT		0x20
#define M1_PAYLOAD_CRC_SHIFT	6

enum eid_form { FORM_PEER = 0, FORM_IPN = 1, FORM_NONE = 2, FORM_DTN = 3 };
enum rpt_form { RPT_SOURCE_NODE = 0, RPT_NONE = 1, RPT_SOURCE = 2, RPT_EXPLICIT = 3 };

#define E_SAME_SERVICE		0x10
#define E_RESERVED		0x80

static const uint64_t lifetime_unit[4] = { 1, 1000, 60 * 1000, 3600 * 1000 };

#define REJECT(err, reason) do {	\
	*why = (reason);		\
	return -(err);			\
} while (0)

static bool
is_none(const struct eid *e)
{
	return e->scheme == EID_DTN && strcmp(e->dtn, "none") == 0;
}

/* Form of an EID: peer is the node the form-0 shorthand names. */
static enum eid_form
eid_form(const struct eid *e, uint64_t peer)
{
	if (e->scheme == EID_IPN)
		return e->node == peer ? FORM_PEER : FORM_IPN;
	return is_none(e) ? FORM_NONE : FORM_DTN;
}

static void
put_eid(struct wr *w, const struct eid *e, enum eid_form f, bool service)
{
	size_t n;

	switch (f) {
	case FORM_IPN:
		put_varint(w, e->node);
		/* fall through */
	case FORM_PEER:
		if (service)
			put_varint(w, e->service);
		break;
	case FORM_DTN:
		n = strlen(e->dtn);
		put_varint(w, n);
		put_bytes(w, e->dtn, n);
		break;
	case FORM_NONE:
		break;
	}
}

static enum rpt_form
rpt_form(const struct bundle *b)
{
	if (b->src.scheme == EID_IPN && b->report_to.scheme == EID_IPN &&
	    b->report_to.node == b->src.node && b->report_to.service == 0)
		return RPT_SOURCE_NODE;
	if (is_none(&b->report_to))
		return RPT_NONE;
	if (eid_equal(&b->report_to, &b->src))
		return RPT_SOURCE;
	return RPT_EXPLICIT;
}

static unsigned
lifetime_code_unit(uint64_t lifetime)
{
	unsigned u = 3;

	while (u > 0 && lifetime % lifetime_unit[u] != 0)
		u--;
	return u;
}

/* Why our encoding could not carry b; NULL if it can. */
static const char *
not_compactable(const struct compact_ctx *c, const struct bundle *b)
{
	struct eid prev;

	if (b->priority < 0)
		return "no priority block: not made by fieldrelay, travels in full form";
	if (b->n_other > 0)
		return "carries extension blocks we do not interpret";
	if (b->has_prev) {
		eid_ipn(&prev, c->sender, 0);
		if (!eid_equal(&b->prev, &prev))
			return "previous-node block does not name the sender";
	}
	if (b->ctime != 0 && (b->ctime > c->time_base ? b->ctime - c->time_base : c->time_base - b->ctime) >
	    (uint64_t)INT64_MAX)
		return "creation time too far from the time base";
	if (b->lifetime / lifetime_unit[lifetime_code_unit(b->lifetime)] > UINT64_MAX >> 2)
		return "lifetime beyond what the compact form holds";
	return NULL;
}

static void
encode_fields(const struct compact_ctx *c, const struct bundle *b, struct wr *w)
{
	enum eid_form df = eid_form(&b->dst, c->receiver), sf = eid_form(&b->src, c->sender);
	enum rpt_form rf = rpt_form(b);
	bool same = b->dst.scheme == EID_IPN && b->src.scheme == EID_IPN && b->src.service == b->dst.service;
	uint64_t flags = b->flags & ~(uint64_t)BF_IS_FRAGMENT;
	unsigned unit = lifetime_code_unit(b->lifetime);
	uint8_t m0, m1;

	m0 = (uint8_t)b->priority | (b->has_hop ? M0_HOP : 0) | (b->has_prev ? M0_PREV : 0) |
	    (b->has_age ? M0_AGE : 0) | (b->ctime != 0 ? M0_TIME : 0);
	m1 = (uint8_t)((b->crc_type ^ 2) | (b->flags & BF_IS_FRAGMENT ? M1_FRAGMENT : 0) |
	    (flags ? M1_FLAGS : 0) | (b->payload_flags ? M1_PAYLOAD_FLAGS : 0) |
	    (b->has_hop && b->hop_limit != HOP_LIMIT_DEFAULT ? M1_HOP_LIMIT : 0) |
	    b->payload_crc << M1_PAYLOAD_CRC_SHIFT);
	put_u8(w, m0 | (m1 ? M0_M1 : 0));
	if (m1)
		put_u8(w, m1);
	put_u8(w, (uint8_t)(df | sf << 2 | (same ? E_SAME_SERVICE : 0) | rf << 5));
	put_eid(w, &b->dst, df, true);
	put_eid(w, &b->src, sf, !same);
	if (rf == RPT_EXPLICIT) {
		enum eid_form f = b->report_to.scheme == EID_IPN ? FORM_IPN : FORM_DTN;

		put_varint(w, f == FORM_IPN ? 0 : 1);
		put_eid(w, &b->report_to, f, true);
	}
	if (b->ctime != 0)
		put_varint(w, b->ctime >= c->time_base ? zigzag((int64_t)(b->ctime - c->time_base)) :
		    zigzag(-(int64_t)(c->time_base - b->ctime)));
	put_varint(w, b->seq);
	put_varint(w, b->lifetime / lifetime_unit[unit] << 2 | unit);
	if (b->flags & BF_IS_FRAGMENT) {
		put_varint(w, b->frag_offset);
		put_varint(w, b->adu_len);
	}
	if (flags)
		put_varint(w, flags);
	if (b->payload_flags)
		put_varint(w, b->payload_flags);
	if (b->has_age)
		put_varint(w, b->age);
	if (b->has_hop) {
		put_varint(w, b->hop_count);
		if (b->hop_limit != HOP_LIMIT_DEFAULT)
			put_varint(w, b->hop_limit);
	}
	put_bytes(w, b->payload, b->payload_len);
}

ssize_t
compact_encode(const struct compact_ctx *c, const uint8_t *bundle, size_t len, uint8_t *out, size_t cap,
    const char **why)
{
	struct wr w = { NULL, 0, 0 };
	const char *dwhy;
	struct bundle b;
	uint8_t *form, *again;
	ssize_t n = -ENOTSUP;

	if (bundle_decode(&b, bundle, len, why) < 0)
		return -ENOTSUP;
	if ((*why = not_compactable(c, &b)) != NULL)
		return -ENOTSUP;
	/* This is the cheap kind of bundle: both copies fit in a frame or so. */
	encode_fields(c, &b, &w);
	if ((form = malloc(w.len + len)) == NULL)
		return -ENOMEM;
	again = form + w.len;
	w = (struct wr){ form, w.len, 0 };
	encode_fields(c, &b, &w);
	/* The receiver rebuilds with our encoder: only if that gives these very bytes may it go. */
	if (compact_decode(c, form, w.len, again, len, &dwhy) != (ssize_t)len || memcmp(again, bundle, len) != 0) {
		*why = "not in our canonical encoding: would not be rebuilt byte for byte";
		goto out;
	}
	n = (ssize_t)w.len;
	if (out != NULL) {
		if (w.len > cap)
			n = -ENOSPC;
		else
			memcpy(out, form, w.len);
	}
out:
	free(form);
	return n;
}

/* ---- decoder ---- */

static int
get_text_eid(struct rd *r, struct eid *e, const char **why)
{
	uint64_t n;

	if (get_bounded(r, sizeof(e->dtn) - 1, &n) < 0 || n > left(r))
		REJECT(EBADMSG, "dtn EID length out of range or past the end");
	memset(e, 0, sizeof(*e));
	e->scheme = EID_DTN;
	memcpy(e->dtn, r->p, n);
	if (memchr(e->dtn, '\0', n) != NULL || strcmp(e->dtn, "none") == 0)
		REJECT(EBADMSG, "dtn EID text holds a NUL, or is dtn:none written out");
	r->p += n;
	return 0;
}

/* An EID of form f (peer: the node form 0 names); the service only if service. */
static int
get_eid(struct rd *r, struct eid *e, unsigned f, uint64_t peer, bool service, const char **why)
{
	uint64_t node = peer, svc = 0;

	switch (f) {
	case FORM_IPN:
		if (get_varint(r, &node) < 0)
			REJECT(EBADMSG, "ipn node number truncated or not minimal");
		if (node == peer)
			REJECT(EBADMSG, "ipn node number written out where the shorthand names it");
		/* fall through */
	case FORM_PEER:
		if (service && get_varint(r, &svc) < 0)
			REJECT(EBADMSG, "ipn service number truncated or not minimal");
		eid_ipn(e, node, svc);
		return 0;
	case FORM_NONE:
		eid_parse(e, "dtn:none");
		return 0;
	default:
		return get_text_eid(r, e, why);
	}
}

static int
get_u(struct rd *r, uint64_t *v, const char *what, const char **why)
{
	if (get_varint(r, v) < 0)
		REJECT(EBADMSG, what);
	return 0;
}

static int
decode_eids(const struct compact_ctx *c, struct rd *r, uint8_t e, struct bundle *b, const char **why)
{
	bool same = e & E_SAME_SERVICE;
	unsigned rf = e >> 5 & 3;
	uint64_t form;
	int err;

	if (e & E_RESERVED)
		REJECT(EBADMSG, "reserved EID code bit set");
	if ((err = get_eid(r, &b->dst, e & 3, c->receiver, true, why)) < 0 ||
	    (err = get_eid(r, &b->src, e >> 2 & 3, c->sender, !same, why)) < 0)
		return err;
	if (same) {
		if (b->dst.scheme != EID_IPN || b->src.scheme != EID_IPN)
			REJECT(EBADMSG, "same-service code on a dtn EID");
		b->src.service = b->dst.service;
	} else if (b->dst.scheme == EID_IPN && b->src.scheme == EID_IPN && b->src.service == b->dst.service) {
		REJECT(EBADMSG, "source service written out where the same-service code says it");
	}
	switch (rf) {
	case RPT_SOURCE_NODE:
		if (b->src.scheme != EID_IPN)
			REJECT(EBADMSG, "report-to code names the source node of a dtn source");
		eid_ipn(&b->report_to, b->src.node, 0);
		return 0;
	case RPT_NONE:
		eid_parse(&b->report_to, "dtn:none");
		return 0;
	case RPT_SOURCE:
		b->report_to = b->src;
		break;
	default:
		if (get_bounded(r, 1, &form) < 0)
			REJECT(EBADMSG, "report-to form is not 0 (ipn) or 1 (dtn)");
		if (form == 0 && get_varint(r, &b->report_to.node) == 0 &&
		    get_varint(r, &b->report_to.service) == 0) {
			eid_ipn(&b->report_to, b->report_to.node, b->report_to.service);
		} else if (form == 0) {
			REJECT(EBADMSG, "report-to ipn EID truncated or not minimal");
		} else if ((err = get_text_eid(r, &b->report_to, why)) < 0) {
			return err;
		}
		break;
	}
	if (rpt_form(b) != rf)
		REJECT(EBADMSG, "report-to written out where a shorter code says it");
	return 0;
}

/* The fields after the codes, into b; the payload points into r's buffer. */
static int
decode_fields(const struct compact_ctx *c, struct rd *r, uint8_t m0, uint8_t m1, struct bundle *b,
    const char **why)
{
	uint64_t v, unit;
	int e;

	if (m0 & M0_TIME) {
		if ((e = get_u(r, &v, "creation time truncated or not minimal", why)) < 0)
			return e;
		if (v == UINT64_MAX)
			REJECT(EBADMSG, "creation time offset -2^63: beyond what an encoder writes");
		b->ctime = c->time_base + (uint64_t)unzigzag(v);
		if (unzigzag(v) < 0 ? b->ctime >= c->time_base : b->ctime < c->time_base)
			REJECT(EBADMSG, "creation time outside 0 .. 2^64-1");
		if (b->ctime == 0)
			REJECT(EBADMSG, "creation time marked non-zero is 0");
	}
	if ((e = get_u(r, &b->seq, "sequence number truncated or not minimal", why)) < 0 ||
	    (e = get_u(r, &v, "lifetime truncated or not minimal", why)) < 0)
		return e;
	unit = v & 3;
	v >>= 2;
	if (v > UINT64_MAX / lifetime_unit[unit])
		REJECT(EBADMSG, "lifetime beyond 2^64-1 ms");
	b->lifetime = v * lifetime_unit[unit];
	if (lifetime_code_unit(b->lifetime) != unit)
		REJECT(EBADMSG, "lifetime not in the coarsest unit that holds it");
	if (m1 & M1_FRAGMENT) {
		b->flags |= BF_IS_FRAGMENT;
		if ((e = get_u(r, &b->frag_offset, "fragment offset truncated or not minimal", why)) < 0 ||
		    (e = get_u(r, &b->adu_len, "total ADU length truncated or not minimal", why)) < 0)
			return e;
	}
	if (m1 & M1_FLAGS) {
		if ((e = get_u(r, &v, "bundle flags truncated or not minimal", why)) < 0)
			return e;
		if (v == 0 || (v & BF_IS_FRAGMENT))
			REJECT(EBADMSG, "bundle flags 0, or holding is-fragment");
		b->flags |= v;
	}
	if (m1 & M1_PAYLOAD_FLAGS) {
		if ((e = get_u(r, &b->payload_flags, "payload flags truncated or not minimal", why)) < 0)
			return e;
		if (b->payload_flags == 0)
			REJECT(EBADMSG, "payload flags marked present are 0");
	}
	if (m0 & M0_AGE) {
		if ((e = get_u(r, &b->age, "bundle age truncated or not minimal", why)) < 0)
			return e;
		b->has_age = true;
	}
	if (m0 & M0_HOP) {
		b->has_hop = true;
		b->hop_limit = HOP_LIMIT_DEFAULT;
		if ((e = get_u(r, &b->hop_count, "hop count truncated or not minimal", why)) < 0)
			return e;
		if (m1 & M1_HOP_LIMIT) {
			if (get_bounded(r, 255, &b->hop_limit) < 0 || b->hop_limit < 1 ||
			    b->hop_limit == HOP_LIMIT_DEFAULT)
				REJECT(EBADMSG, "hop limit outside 1..255, or the default written out");
		}
	} else if (m1 & M1_HOP_LIMIT) {
		REJECT(EBADMSG, "hop limit without a hop-count block");
	}
	b->payload = r->p;
	b->payload_len = left(r);
	return 0;
}

ssize_t
compact_decode(const struct compact_ctx *c, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
    const char **why)
{
	struct rd r = { in, in + len };
	struct bundle b;
	uint8_t m0, m1 = 0;
	ssize_t n;
	int e;

	*why = NULL;
	bundle_init(&b);
	if (left(&r) < 2)
		REJECT(EBADMSG, "shorter than its codes");
	m0 = *r.p++;
	if (m0 & M0_M1) {
		m1 = *r.p++;
		if (m1 == 0)
			REJECT(EBADMSG, "second code byte present but 0");
		if ((m1 & M1_CRC) == 1)
			REJECT(EBADMSG, "primary block CRC type 3");
		if ((m1 >> M1_PAYLOAD_CRC_SHIFT) > CRC_32C)
			REJECT(EBADMSG, "payload block CRC type 3");
	}
	if ((m0 & M0_PRIO) >= PRIO_COUNT)
		REJECT(EBADMSG, "priority class 7");
	b.priority = m0 & M0_PRIO;
	b.crc_type = (m1 & M1_CRC) ^ 2;
	b.payload_crc = m1 >> M1_PAYLOAD_CRC_SHIFT;
	b.has_hop = false;
	if (left(&r) < 1)
		REJECT(EBADMSG, "shorter than its codes");
	if ((e = decode_eids(c, &r, *r.p++, &b, why)) < 0 ||
	    (e = decode_fields(c, &r, m0, m1, &b, why)) < 0)
		return e;
	if (m0 & M0_PREV) {
		eid_ipn(&b.prev, c->sender, 0);
		b.has_prev = true;
	}
	if ((n = bundle_encode(&b, out, cap)) == -ENOSPC)
		REJECT(ENOSPC, "rebuilt bundle larger than the buffer");
	if (n < 0)
		REJECT(EBADMSG, "fields no bundle may have (creation time 0 without age, fragment past its ADU, bad dtn EID)");
	return n;
}
