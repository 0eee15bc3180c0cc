/*
 * frame.c - link frame envelope and messages: encode, seal, check, open,
 * strictly decode.  See frame.h.
 */
#include <errno.h>
#include <string.h>

#include "crypto.h"
#include "frame.h"

/* ---- varints (unsigned LEB128, minimal) ---- */

struct wr {
	uint8_t *buf;			/* NULL: only count */
	size_t cap, len;		/* len keeps counting past cap */
};

static void
put_u8(struct wr *w, uint8_t b)
{
	if (w->buf && w->len < w->cap)
		w->buf[w->len] = b;
	w->len++;
}

static void
put_varint(struct wr *w, uint64_t v)
{
	while (v >= 0x80) {
		put_u8(w, (v & 0x7f) | 0x80);
		v >>= 7;
	}
	put_u8(w, v);
}

static void
put_bytes(struct wr *w, const void *p, size_t n)
{
	if (w->buf && w->len < w->cap)
		memcpy(w->buf + w->len, p, n <= w->cap - w->len ? n : w->cap - w->len);
	w->len += n;
}

struct rd {
	const uint8_t *p, *end;
};

/* 0, -ENODATA (the buffer ends inside it), -EBADMSG (not minimal, or beyond 64 bits). */
static int
get_varint(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < 10; i++) {
		uint8_t b;

		if (i >= (size_t)(r->end - r->p))
			return -ENODATA;
		b = r->p[i];
		if (i == 9 && b > 1)
			return -EBADMSG;
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0)
				return -EBADMSG;	/* a trailing zero group: not minimal */
			r->p += i + 1;
			*v = x;
			return 0;
		}
	}
	return -EBADMSG;
}

/* A varint at most max; any failure is -EBADMSG (inside a body). */
static int
get_bounded(struct rd *r, uint64_t max, uint64_t *v)
{
	if (get_varint(r, v) < 0 || *v > max)
		return -EBADMSG;
	return 0;
}

static size_t
left(const struct rd *r)
{
	return r->end - r->p;
}

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
 *
 * Nothing may follow the last field of a body without "rest".
 */
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
		    left(&r) != v || !name_ok((const char *)r.p, v))
			return -EBADMSG;
		b->name_len = v;
		memcpy(b->name, r.p, v);
		b->name[v] = '\0';
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
 * Nonce: sender || boot || counter, 32 bits each, big-endian (crypto.h).
 * Authenticate-only: the tag is crypto_authonly_tag(header, body).
 * The body has at least one byte; its length is what is left between
 * header and tag.
 */
static void
put_header(struct wr *w, const struct frame_hdr *h)
{
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

	if (h->flags & ~FRAME_F_ALL)
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

static enum frame_drop
open_frame(struct frame_rx *rx, uint8_t *buf, size_t len, struct frame_hdr *h, struct frame_msg *m)
{
	struct rd r = { buf, buf + len };
	const struct crypto_key *key;
	uint8_t nonce[CRYPTO_NONCE_LEN];
	enum frame_drop why;
	size_t hlen, taglen, blen;
	uint8_t *body;
	int e;

	if (len < 1)
		return FRAME_DROP_TRUNCATED;
	if (buf[0] != FRAME_VERSION)
		return FRAME_DROP_BAD_VERSION;
	if (len < 4)
		return FRAME_DROP_TRUNCATED;
	memset(h, 0, sizeof(*h));
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
	hlen = r.p - buf;
	taglen = taglen_of(h->flags);
	if (len - hlen < taglen + 1)
		return FRAME_DROP_TRUNCATED;
	if (h->flags != rx->flags)
		return FRAME_DROP_POLICY;
	if ((key = crypto_keyring_find(rx->keys, h->key_id)) == NULL)
		return FRAME_DROP_UNKNOWN_KEY;

	body = buf + hlen;
	blen = len - hlen - taglen;
	crypto_nonce(nonce, h->sender, h->boot, h->counter);
	if (h->flags & FRAME_F_AUTH_ONLY)
		e = crypto_authonly_verify(body + blen, taglen, buf, hlen, body, blen, nonce, key->key);
	else
		e = crypto_open(body, body, blen, body + blen, taglen, buf, hlen, nonce, key->key);
	if (e < 0)
		return FRAME_DROP_BAD_TAG;
	/* Our own frame: never a neighbour's, and not to be recorded as one. */
	if (rx->self != 0 && h->sender == rx->self)
		return FRAME_DROP_OWN;
	if (crypto_replay_check(rx->replay, h->sender, h->boot, h->counter) != REPLAY_FRESH)
		return FRAME_DROP_REPLAYED;
	/* Authentic and fresh: this counter is now spent, whatever the body holds. */
	crypto_replay_update(rx->replay, h->sender, h->boot, h->counter);

	if (frame_body_decode(h->type, body, blen, m) < 0)
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
