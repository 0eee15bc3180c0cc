/*
 * frame.c - link frame envelope and messages: encode, seal, check, open,
 * strictly decode.  See frame.h.
 */
#include <errno.h>
#include <string.h>

#include "crypto.h"
#include "frame.h"
#include "varint.h"

const char *
frame_drop_name(enum frame_drop why)
{
	static const char *const names[FRAME_DROP_N] = {
		[FRAME_OK] = "ok",
		[FRAME_DROP_TRUNCATED] = "truncated",
		[FRAME_DROP_BAD_VERSION] = "bad version",
		[FRAME_DROP_BAD_TYPE] = "unknown type",
		[FRAME_DROP_BAD_HEADER] = "bad header",
		[FRAME_DROP_POLICY] = "wrong mode for link",
		[FRAME_DROP_UNKNOWN_KEY] = "unknown key id",
		[FRAME_DROP_REPLAYED] = "replayed",
		[FRAME_DROP_BAD_TAG] = "bad tag",
		[FRAME_DROP_MALFORMED] = "malformed body",
		[FRAME_DROP_OWN] = "own node id",
		[FRAME_DROP_UNKNOWN_SENDER] = "compact from unknown sender",
	};

	return (unsigned)why < FRAME_DROP_N ? names[why] : "?";
}

const char *
frame_type_name(unsigned type)
{
	static const char *const names[FRAME_TYPE_MAX + 1] = {
		[FRAME_BEACON] = "beacon",
		[FRAME_SEGMENT] = "segment",
		[FRAME_SEG_ACK] = "seg-ack",
		[FRAME_COMMIT_ACK] = "commit-ack",
		[FRAME_VOICE] = "voice",
		[FRAME_ROUTE] = "route",
		[FRAME_ABORT] = "abort",
		[FRAME_BUNDLES] = "bundles",
		[FRAME_COMMITS] = "commits",
	};

	return type >= 1 && type <= FRAME_TYPE_MAX ? names[type] : "?";
}

/* ---- bodies ---- */

static bool
name_ok(const char *s, size_t n)
{
	/* UTF-8 passes unchecked; control characters would garble logs and listings. */
	for (size_t i = 0; i < n; i++)
		if ((uint8_t)s[i] < 0x20 || (uint8_t)s[i] == 0x7f)
			return false;
	return true;
}

/* The rules both directions enforce, so we never send what we would drop. */
static bool
segment_ok(uint64_t xid, uint64_t off, uint64_t total, size_t len)
{
	return xid >= 1 && total >= 1 && total <= FRAME_TRANSFER_MAX && off < total &&
	    len >= 1 && len <= total - off;
}

static bool
sacks_ok(uint64_t cum, const struct frame_sack *s, size_t n)
{
	uint64_t end = cum;

	if (cum > FRAME_TRANSFER_MAX || n > FRAME_SACK_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		/* Each range starts after a gap (else it would extend the previous one). */
		if (s[i].off <= end || s[i].len == 0 || s[i].off > FRAME_TRANSFER_MAX ||
		    s[i].len > FRAME_TRANSFER_MAX - s[i].off)
			return false;
		end = s[i].off + s[i].len;
	}
	return true;
}

static bool
route_ok(const struct frame_route *rt)
{
	if (rt->n < 1 || rt->n > FRAME_ROUTE_MAX)
		return false;
	for (size_t i = 0; i < rt->n; i++) {
		if (rt->e[i].cost > FRAME_COST_MAX)
			return false;
		for (size_t j = 0; j < i; j++)
			if (rt->e[j].node == rt->e[i].node)
				return false;
	}
	return true;
}

static bool
xid_ok(uint64_t xid)
{
	return xid >= 1 && xid < FRAME_XID_MAX;
}

static bool
bundles_ok(const struct frame_bundles *bs)
{
	if (bs->n < 1 || bs->n > FRAME_BUNDLES_MAX)
		return false;
	for (size_t i = 0; i < bs->n; i++) {
		if (!xid_ok(bs->b[i].xid) || bs->b[i].len < 1)
			return false;
		for (size_t j = 0; j < i; j++)
			if (bs->b[j].xid == bs->b[i].xid)
				return false;
	}
	return true;
}

static bool
commits_ok(const struct frame_commits *c)
{
	if (c->n < 1 || c->n > FRAME_COMMITS_MAX)
		return false;
	for (size_t i = 0; i < c->n; i++)
		if (!xid_ok(c->xid[i]) || (i > 0 && c->xid[i] <= c->xid[i - 1]))
			return false;
	return true;
}

/*
 * Bodies, after the header.  "v" is a varint, "rest" runs to the tag.
 *
 * BEACON       v node | v mtu (<= 2^32-1) | v rate bit/s | v name_len (0..32) | name
 * SEGMENT      v xid (>= 1) | v off | v total (1..2^32) | v seq | rest: data,
 *              1 <= len <= total - off
 * SEG_ACK      v xid | v cum | v n (0..8) | n x (v gap (>= 1) | v len (>= 1)):
 *              range i starts gap bytes after the end of range i-1 (range 0:
 *              after cum), so ranges are ascending and disjoint by
 *              construction; ends <= 2^32
 * COMMIT_ACK   v xid (>= 1)
 * VOICE        v talk group | v spurt id | v seq | rest: one Opus packet (1..1275)
 * ROUTE        v n (1..64) | n x (v node | v cost (<= 0xffff)); nodes distinct
 * ABORT        v xid (>= 1) | v reason (1..255)
 * BUNDLES      v (xid << 1 | several), xid 1..2^48-1, then
 *                several = 0: rest: one bundle in compact form (>= 1 byte)
 *                several = 1: rest: 2..32 entries, each
 *                  v (len << 1 | jump) | [jump: v zigzag(xid - (previous xid + 1))] | len bytes
 *                where "previous xid" is xid - 1 for the first entry, whose
 *                jump is 0, as is any jump of 0; len >= 1; ids distinct
 * COMMITS      v xid (>= 1) | (v gap)*: each further id is the previous + 1 +
 *              gap, so ascending; 1..64 ids, all below 2^48
 *
 * A beacon may go on after its name (only senders with capabilities do):
 *              v caps (FRAME_CAP_*, != 0) | [caps & FRAME_CAP_COMPACT: v time
 *              base] | [caps with bits we do not know: rest, theirs: kept as
 *              it is, so that a newer sender's fields do not make us drop
 *              its beacons]
 * One bundle costs 1 (xid < 64) + its compact form; in a shared frame, 1
 * byte per entry for one below 64 bytes that follows its predecessor's id.
 *
 * Nothing may follow the last field of a body without "rest".
 */
static int
encode_bundles(const struct frame_bundles *bs, struct wr *w)
{
	uint64_t prev;

	if (!bundles_ok(bs))
		return -EINVAL;
	put_varint(w, bs->b[0].xid << 1 | (bs->n > 1));
	if (bs->n == 1) {
		put_bytes(w, bs->b[0].data, bs->b[0].len);
		return 0;
	}
	prev = bs->b[0].xid - 1;
	for (size_t i = 0; i < bs->n; i++) {
		const struct frame_bundle *e = &bs->b[i];
		bool jump = e->xid != prev + 1;

		put_varint(w, (uint64_t)e->len << 1 | jump);
		if (jump)
			put_varint(w, zigzag((int64_t)e->xid - (int64_t)(prev + 1)));
		put_bytes(w, e->data, e->len);
		prev = e->xid;
	}
	return 0;
}

static int
encode_commits(const struct frame_commits *c, struct wr *w)
{
	if (!commits_ok(c))
		return -EINVAL;
	put_varint(w, c->xid[0]);
	for (size_t i = 1; i < c->n; i++)
		put_varint(w, c->xid[i] - c->xid[i - 1] - 1);
	return 0;
}

static int
encode_body(const struct frame_msg *m, struct wr *w)
{
	switch (m->type) {
	case FRAME_BEACON: {
		const struct frame_beacon *b = &m->u.beacon;

		if (b->name_len > FRAME_NAME_MAX || !name_ok(b->name, b->name_len))
			return -EINVAL;
		put_varint(w, b->node);
		put_varint(w, b->mtu);
		put_varint(w, b->rate);
		put_varint(w, b->name_len);
		put_bytes(w, b->name, b->name_len);
		if (b->caps == 0 && b->ext_len == 0)
			return 0;
		if (b->caps == 0 || (!(b->caps & ~(uint64_t)FRAME_CAP_KNOWN) && b->ext_len > 0))
			return -EINVAL;
		put_varint(w, b->caps);
		if (b->caps & FRAME_CAP_COMPACT)
			put_varint(w, b->time_base);
		put_bytes(w, b->ext, b->ext_len);
		return 0;
	}
	case FRAME_SEGMENT: {
		const struct frame_segment *s = &m->u.seg;

		if (!segment_ok(s->xid, s->off, s->total, s->len))
			return -EINVAL;
		put_varint(w, s->xid);
		put_varint(w, s->off);
		put_varint(w, s->total);
		put_varint(w, s->seq);
		put_bytes(w, s->data, s->len);
		return 0;
	}
	case FRAME_SEG_ACK: {
		const struct frame_seg_ack *a = &m->u.ack;
		uint64_t end = a->cum;

		if (!sacks_ok(a->cum, a->sack, a->n))
			return -EINVAL;
		put_varint(w, a->xid);
		put_varint(w, a->cum);
		put_varint(w, a->n);
		for (size_t i = 0; i < a->n; i++) {
			put_varint(w, a->sack[i].off - end);
			put_varint(w, a->sack[i].len);
			end = a->sack[i].off + a->sack[i].len;
		}
		return 0;
	}
	case FRAME_COMMIT_ACK:
		if (m->u.commit.xid < 1)
			return -EINVAL;
		put_varint(w, m->u.commit.xid);
		return 0;
	case FRAME_VOICE: {
		const struct frame_voice *v = &m->u.voice;

		if (v->len < 1 || v->len > FRAME_VOICE_MAX)
			return -EINVAL;
		put_varint(w, v->group);
		put_varint(w, v->spurt);
		put_varint(w, v->seq);
		put_bytes(w, v->data, v->len);
		return 0;
	}
	case FRAME_ROUTE:
		if (!route_ok(&m->u.route))
			return -EINVAL;
		put_varint(w, m->u.route.n);
		for (size_t i = 0; i < m->u.route.n; i++) {
			put_varint(w, m->u.route.e[i].node);
			put_varint(w, m->u.route.e[i].cost);
		}
		return 0;
	case FRAME_ABORT:
		if (m->u.abort.xid < 1 || m->u.abort.reason < 1)
			return -EINVAL;
		put_varint(w, m->u.abort.xid);
		put_varint(w, m->u.abort.reason);
		return 0;
	case FRAME_BUNDLES:
		return encode_bundles(&m->u.bundles, w);
	case FRAME_COMMITS:
		return encode_commits(&m->u.commits, w);
	}
	return -EINVAL;
}

ssize_t
frame_body_encode(const struct frame_msg *m, uint8_t *buf, size_t cap)
{
	struct wr w = { buf, cap, 0 };
	int r = encode_body(m, &w);

	if (r < 0)
		return r;
	if (buf && w.len > cap)
		return -EMSGSIZE;
	return w.len;
}

static int
decode_bundles(struct rd *r, struct frame_bundles *bs)
{
	uint64_t x, prev, len, d;

	if (get_varint(r, &x) < 0 || left(r) == 0)
		return -EBADMSG;
	bs->b[0].xid = x >> 1;
	if (!(x & 1)) {
		bs->n = 1;
		bs->b[0].data = r->p;
		bs->b[0].len = left(r);
		return bundles_ok(bs) ? 0 : -EBADMSG;
	}
	if (!xid_ok(bs->b[0].xid))
		return -EBADMSG;
	prev = bs->b[0].xid - 1;
	for (bs->n = 0; left(r) > 0; bs->n++) {
		struct frame_bundle *e = &bs->b[bs->n];

		if (bs->n == FRAME_BUNDLES_MAX || get_varint(r, &len) < 0)
			return -EBADMSG;
		e->xid = prev + 1;
		if (len & 1) {
			/* |d| < 2^48 keeps the sum in range; a jump of 0, or one in
			 * the first entry, has a shorter form. */
			if (bs->n == 0 || get_bounded(r, FRAME_XID_MAX * 2, &d) < 0 || d == 0)
				return -EBADMSG;
			e->xid = (uint64_t)((int64_t)e->xid + unzigzag(d));
		}
		len >>= 1;
		if (len < 1 || len > left(r))
			return -EBADMSG;
		e->data = r->p;
		e->len = len;
		r->p += len;
		prev = e->xid;
	}
	return bs->n >= 2 && bundles_ok(bs) ? 0 : -EBADMSG;
}

int
frame_body_decode(unsigned type, const uint8_t *buf, size_t len, struct frame_msg *m)
{
	struct rd r = { buf, buf + len };
	uint64_t v;

	memset(m, 0, sizeof(*m));
	m->type = type;
	switch (type) {
	case FRAME_BEACON: {
		struct frame_beacon *b = &m->u.beacon;

		if (get_varint(&r, &b->node) < 0 || get_bounded(&r, UINT32_MAX, &v) < 0)
			return -EBADMSG;
		b->mtu = v;
		if (get_varint(&r, &b->rate) < 0 || get_bounded(&r, FRAME_NAME_MAX, &v) < 0 ||
		    left(&r) < v || !name_ok((const char *)r.p, v))
			return -EBADMSG;
		b->name_len = v;
		memcpy(b->name, r.p, v);
		b->name[v] = '\0';
		r.p += v;
		if (left(&r) == 0)
			return 0;
		if (get_varint(&r, &b->caps) < 0 || b->caps == 0 ||
		    ((b->caps & FRAME_CAP_COMPACT) && get_varint(&r, &b->time_base) < 0))
			return -EBADMSG;
		if (!(b->caps & ~(uint64_t)FRAME_CAP_KNOWN))
			return left(&r) == 0 ? 0 : -EBADMSG;
		b->ext = r.p;
		b->ext_len = left(&r);
		return 0;
	}
	case FRAME_SEGMENT: {
		struct frame_segment *s = &m->u.seg;

		if (get_varint(&r, &s->xid) < 0 || get_varint(&r, &s->off) < 0 ||
		    get_varint(&r, &s->total) < 0 || get_varint(&r, &s->seq) < 0)
			return -EBADMSG;
		s->data = r.p;
		s->len = left(&r);
		return segment_ok(s->xid, s->off, s->total, s->len) ? 0 : -EBADMSG;
	}
	case FRAME_SEG_ACK: {
		struct frame_seg_ack *a = &m->u.ack;
		uint64_t end, gap;

		if (get_varint(&r, &a->xid) < 0 || get_bounded(&r, FRAME_TRANSFER_MAX, &a->cum) < 0 ||
		    get_bounded(&r, FRAME_SACK_MAX, &v) < 0)
			return -EBADMSG;
		a->n = v;
		end = a->cum;
		for (size_t i = 0; i < a->n; i++) {
			/* Bounding each by 2^32 keeps end + gap + len far from overflow. */
			if (get_bounded(&r, FRAME_TRANSFER_MAX, &gap) < 0 ||
			    get_bounded(&r, FRAME_TRANSFER_MAX, &a->sack[i].len) < 0)
				return -EBADMSG;
			a->sack[i].off = end + gap;
			end = a->sack[i].off + a->sack[i].len;
		}
		if (left(&r) != 0 || !sacks_ok(a->cum, a->sack, a->n))
			return -EBADMSG;
		return 0;
	}
	case FRAME_COMMIT_ACK:
		if (get_varint(&r, &m->u.commit.xid) < 0 || m->u.commit.xid < 1 || left(&r) != 0)
			return -EBADMSG;
		return 0;
	case FRAME_VOICE: {
		struct frame_voice *vo = &m->u.voice;

		if (get_varint(&r, &vo->group) < 0 || get_varint(&r, &vo->spurt) < 0 ||
		    get_varint(&r, &vo->seq) < 0)
			return -EBADMSG;
		vo->data = r.p;
		vo->len = left(&r);
		return vo->len >= 1 && vo->len <= FRAME_VOICE_MAX ? 0 : -EBADMSG;
	}
	case FRAME_ROUTE: {
		struct frame_route *rt = &m->u.route;

		if (get_bounded(&r, FRAME_ROUTE_MAX, &v) < 0)
			return -EBADMSG;
		rt->n = v;
		for (size_t i = 0; i < rt->n; i++) {
			if (get_varint(&r, &rt->e[i].node) < 0 || get_bounded(&r, FRAME_COST_MAX, &v) < 0)
				return -EBADMSG;
			rt->e[i].cost = v;
		}
		return left(&r) == 0 && route_ok(rt) ? 0 : -EBADMSG;
	}
	case FRAME_ABORT:
		if (get_varint(&r, &m->u.abort.xid) < 0 || m->u.abort.xid < 1 ||
		    get_bounded(&r, 255, &v) < 0 || v < 1 || left(&r) != 0)
			return -EBADMSG;
		m->u.abort.reason = v;
		return 0;
	case FRAME_BUNDLES:
		return decode_bundles(&r, &m->u.bundles);
	case FRAME_COMMITS: {
		struct frame_commits *c = &m->u.commits;

		if (get_bounded(&r, FRAME_XID_MAX - 1, &c->xid[0]) < 0)
			return -EBADMSG;
		for (c->n = 1; left(&r) > 0; c->n++) {
			/* The bound keeps the sum below 2^64; commits_ok() checks the rest. */
			if (c->n == FRAME_COMMITS_MAX || get_bounded(&r, FRAME_XID_MAX, &v) < 0)
				return -EBADMSG;
			c->xid[c->n] = c->xid[c->n - 1] + 1 + v;
		}
		return commits_ok(c) ? 0 : -EBADMSG;
	}
	}
	return -EBADMSG;
}

/* ---- envelope ---- */

static size_t
taglen_of(uint8_t flags)
{
	return flags & FRAME_F_TAG8 ? CRYPTO_TAG_SHORT : CRYPTO_TAG_LEN;
}

size_t
frame_overhead(uint8_t flags)
{
	return FRAME_HDR_MAX + taglen_of(flags);
}

/*
 * A frame, byte by byte:
 *
 *   0      version, FRAME_VERSION (1)
 *   1      frame type, enum frame_type
 *   2      key id of the network key that sealed it
 *   3      flags: bit 0 FRAME_F_AUTH_ONLY, bit 1 FRAME_F_TAG8, bits 2-7 zero
 *   4..    sender node id, varint (< 2^32)
 *   ..     boot counter, varint (< 2^32)
 *   ..     frame counter, varint (< 2^32)
 *          -- bytes 0 up to here are the header: the AEAD's associated data
 *   ..     body (see encode_body), ChaCha20-encrypted unless AUTH_ONLY
 *   last 16 (or 8 with TAG8) bytes: the tag
 *
 * or, in a compact envelope (any type but BEACON):
 *
 *   0      bit 7 set (FRAME_COMPACT), bits 6-3 frame type, bit 2 the key
 *          id's lowest bit, bits 1-0 the flags above
 *   1..    sender node id, varint (< 2^32)
 *   ..     frame counter, its low 16 bits, big-endian
 *          -- the header, the associated data, ends here; body and tag follow
 *          as above.  The boot counter and the counter's high bits are the
 *          receiver's to fill in from its replay window: the counter is the
 *          one with these low bits nearest the highest seen from that sender.
 *          The key is whichever of the receiver's keys with that lowest id
 *          bit verifies the tag.
 *
 * Nonce: sender || boot || counter, 32 bits each, big-endian (crypto.h).
 * Authenticate-only: the tag is crypto_authonly_tag(header, body).
 * The body has at least one byte; its length is what is left between
 * header and tag.
 */
static void
put_header(struct wr *w, const struct frame_hdr *h)
{
	if (h->compact) {
		put_u8(w, FRAME_COMPACT | h->type << 3 | (h->key_id & 1) << 2 | h->flags);
		put_varint(w, h->sender);
		put_u8(w, (uint8_t)(h->counter >> 8));
		put_u8(w, (uint8_t)h->counter);
		return;
	}
	put_u8(w, FRAME_VERSION);
	put_u8(w, h->type);
	put_u8(w, h->key_id);
	put_u8(w, h->flags);
	put_varint(w, h->sender);
	put_varint(w, h->boot);
	put_varint(w, h->counter);
}

ssize_t
frame_seal(uint8_t *buf, size_t cap, const struct frame_hdr *h, const struct frame_msg *m,
    const struct crypto_key *key)
{
	struct frame_hdr hh = *h;
	uint8_t nonce[CRYPTO_NONCE_LEN];
	size_t hlen, taglen = taglen_of(h->flags);
	ssize_t blen;
	struct wr w = { buf, cap, 0 };

	if (h->flags & ~FRAME_F_ALL || (h->compact && (m->type == FRAME_BEACON || m->type > FRAME_TYPE_MAX)))
		return -EINVAL;
	hh.type = m->type;
	hh.key_id = key->id;
	put_header(&w, &hh);
	hlen = w.len;
	if (hlen + taglen > cap)
		return -EMSGSIZE;
	blen = frame_body_encode(m, buf + hlen, cap - hlen - taglen);
	if (blen < 0)
		return blen;
	crypto_nonce(nonce, hh.sender, hh.boot, hh.counter);
	if (hh.flags & FRAME_F_AUTH_ONLY)
		crypto_authonly_tag(buf + hlen + blen, taglen, buf, hlen, buf + hlen, blen, nonce, key->key);
	else
		crypto_seal(buf + hlen, buf + hlen + blen, taglen, buf + hlen, blen, buf, hlen, nonce, key->key);
	return hlen + blen + taglen;
}

/* Header fields: TRUNCATED if the frame ends inside one, BAD_HEADER if not minimal or too big. */
static enum frame_drop
get_hdr_u32(struct rd *r, uint32_t *out)
{
	uint64_t v;
	int e = get_varint(r, &v);

	if (e == -ENODATA)
		return FRAME_DROP_TRUNCATED;
	if (e < 0 || v > UINT32_MAX)
		return FRAME_DROP_BAD_HEADER;
	*out = v;
	return FRAME_OK;
}

/* The counter with these low 16 bits nearest top (the highest seen). */
static uint32_t
counter_near(uint32_t top, uint16_t low)
{
	int64_t c = (int64_t)((top & 0xffff0000u) | low), t = top;

	if (c - t > 0x8000 && c >= 0x10000)
		c -= 0x10000;
	else if (t - c > 0x8000 && c + 0x10000 <= UINT32_MAX)
		c += 0x10000;
	return (uint32_t)c;
}

/*
 * The header of either envelope, up to the tag check: h filled in, *hlen
 * set; a compact one's boot and counter come from the replay window.
 */
static enum frame_drop
read_header(const struct frame_rx *rx, const uint8_t *buf, size_t len, struct frame_hdr *h, size_t *hlen)
{
	struct rd r = { buf, buf + len };
	enum frame_drop why;
	uint32_t top;

	if (len < 1)
		return FRAME_DROP_TRUNCATED;
	memset(h, 0, sizeof(*h));
	if (buf[0] & FRAME_COMPACT) {
		h->compact = true;
		h->type = buf[0] >> 3 & 0x0f;
		h->key_id = buf[0] >> 2 & 1;	/* the lowest bit only, for now */
		h->flags = buf[0] & FRAME_F_ALL;
		if (h->type < 1 || h->type > FRAME_TYPE_MAX || h->type == FRAME_BEACON)
			return FRAME_DROP_BAD_TYPE;
		r.p++;
		if ((why = get_hdr_u32(&r, &h->sender)) != FRAME_OK)
			return why;
		if (left(&r) < 2)
			return FRAME_DROP_TRUNCATED;
		h->counter = (uint32_t)r.p[0] << 8 | r.p[1];
		r.p += 2;
	} else {
		if (buf[0] != FRAME_VERSION)
			return FRAME_DROP_BAD_VERSION;
		if (len < 4)
			return FRAME_DROP_TRUNCATED;
		h->type = buf[1];
		h->key_id = buf[2];
		h->flags = buf[3];
		if (h->type < 1 || h->type > FRAME_TYPE_MAX)
			return FRAME_DROP_BAD_TYPE;
		if (h->flags & ~FRAME_F_ALL)
			return FRAME_DROP_BAD_HEADER;
		r.p += 4;
		if ((why = get_hdr_u32(&r, &h->sender)) != FRAME_OK ||
		    (why = get_hdr_u32(&r, &h->boot)) != FRAME_OK ||
		    (why = get_hdr_u32(&r, &h->counter)) != FRAME_OK)
			return why;
	}
	*hlen = (size_t)(r.p - buf);
	if (len - *hlen < taglen_of(h->flags) + 1)
		return FRAME_DROP_TRUNCATED;
	if (h->flags != rx->flags)
		return FRAME_DROP_POLICY;
	if (h->compact) {
		if (!crypto_replay_peek(rx->replay, h->sender, &h->boot, &top))
			return FRAME_DROP_UNKNOWN_SENDER;
		h->counter = counter_near(top, (uint16_t)h->counter);
	}
	return FRAME_OK;
}

/* 0 if key sealed body (decrypted in place then) and tag; -EBADMSG, body untouched. */
static int
verify(const struct frame_hdr *h, const struct crypto_key *key, uint8_t *buf, size_t hlen, size_t blen)
{
	size_t taglen = taglen_of(h->flags);
	uint8_t nonce[CRYPTO_NONCE_LEN], *body = buf + hlen;

	crypto_nonce(nonce, h->sender, h->boot, h->counter);
	if (h->flags & FRAME_F_AUTH_ONLY)
		return crypto_authonly_verify(body + blen, taglen, buf, hlen, body, blen, nonce, key->key);
	return crypto_open(body, body, blen, body + blen, taglen, buf, hlen, nonce, key->key);
}

static enum frame_drop
open_frame(struct frame_rx *rx, uint8_t *buf, size_t len, struct frame_hdr *h, struct frame_msg *m)
{
	const struct crypto_key *key = NULL;
	enum frame_drop why;
	size_t hlen, blen;
	bool any = false;

	if ((why = read_header(rx, buf, len, h, &hlen)) != FRAME_OK)
		return why;
	blen = len - hlen - taglen_of(h->flags);
	if (!h->compact) {
		if ((key = crypto_keyring_find(rx->keys, h->key_id)) == NULL)
			return FRAME_DROP_UNKNOWN_KEY;
		if (verify(h, key, buf, hlen, blen) < 0)
			return FRAME_DROP_BAD_TAG;
	} else {
		/* Usually one key matches the bit; during a key rotation, two or three. */
		key = NULL;
		for (unsigned i = 0; i < rx->keys->n && key == NULL; i++) {
			const struct crypto_key *k = &rx->keys->keys[i];

			if ((k->id & 1) != h->key_id)
				continue;
			any = true;
			if (verify(h, k, buf, hlen, blen) == 0)
				key = k;
		}
		if (key == NULL)
			return any ? FRAME_DROP_BAD_TAG : FRAME_DROP_UNKNOWN_KEY;
		h->key_id = key->id;
	}
	/* Our own frame: never a neighbour's, and not to be recorded as one. */
	if (rx->self != 0 && h->sender == rx->self)
		return FRAME_DROP_OWN;
	if (crypto_replay_check(rx->replay, h->sender, h->boot, h->counter) != REPLAY_FRESH)
		return FRAME_DROP_REPLAYED;
	/* Authentic and fresh: this counter is now spent, whatever the body holds. */
	crypto_replay_update(rx->replay, h->sender, h->boot, h->counter);

	if (frame_body_decode(h->type, buf + hlen, blen, m) < 0)
		return FRAME_DROP_MALFORMED;
	if (h->type == FRAME_BEACON && m->u.beacon.node != h->sender)
		return FRAME_DROP_MALFORMED;
	return FRAME_OK;
}

enum frame_drop
frame_open(struct frame_rx *rx, uint8_t *buf, size_t len, struct frame_hdr *h, struct frame_msg *m)
{
	enum frame_drop why = open_frame(rx, buf, len, h, m);

	rx->count[why]++;
	return why;
}
