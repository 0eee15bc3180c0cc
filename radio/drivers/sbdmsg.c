/*
 * sbdmsg.c - bundles in Iridium SBD messages; see sbdmsg.h for the format
 * (one link frame; the frame's own bytes are in radio/frame.c, the compact
 * bundles' in radio/compact.c).
 */
#include <errno.h>
#include <string.h>

#include "compact.h"
#include "crypto.h"
#include "frame.h"
#include "sbdmsg.h"

static size_t
varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/*
 * The sealed size of m from this sender now: the full header (version,
 * type, key id, flags, then node, boot and the next frame counter as
 * varints), the body and the tag.  Exact, since the counter is the one
 * sbdmsg_seal() takes next.
 */
static ssize_t
sealed_len(const struct sbdmsg_tx *t, const struct frame_msg *m)
{
	ssize_t body = frame_body_encode(m, NULL, 0);

	if (body < 0)
		return body;
	return (ssize_t)(4 + varint_len(t->sender->node) + varint_len(t->sender->boot) +
	    varint_len(t->sender->next) + (size_t)body + (t->flags & FRAME_F_TAG8 ? CRYPTO_TAG_SHORT : CRYPTO_TAG_LEN));
}

static ssize_t
seal(const struct sbdmsg_tx *t, const struct frame_msg *m, uint8_t *out, size_t cap)
{
	const struct crypto_key *key = crypto_keyring_send_key(t->keys);
	struct frame_hdr h = { .flags = t->flags, .sender = t->sender->node, .boot = t->sender->boot };
	int r;

	if (key == NULL)
		return -ENOKEY;
	if ((r = crypto_sender_next(t->sender, &h.counter)) < 0)
		return r;
	return frame_seal(out, cap, &h, m, key);
}

/* The first item alone in full form, as one whole segment. */
static void
full_form(struct frame_msg *m, const struct sbdmsg_item *it)
{
	m->type = FRAME_SEGMENT;
	m->u.seg = (struct frame_segment){ .xid = 1, .off = 0, .total = it->len, .seq = 1, .data = it->bundle,
	    .len = it->len };
}

/*
 * The ack record, one entry of a BUNDLES frame after the bundles (its
 * transfer id the next after theirs), byte by byte:
 *
 *   0x07      marker: as a compact bundle's first byte (M0, radio/compact.c)
 *             it would be priority class 7, which no bundle has, so a
 *             receiver can never take it for a bundle
 *   then, once per MT message acknowledged (1..SBDMSG_ACKS_MAX):
 *   4         the message's id: the last 4 bytes of its sealed frame (of its
 *             tag), which the command center kept when it sent it
 *   v         refused: LEB128 bitmap, bit i = its i-th bundle was not stored
 *             (send it again); 0 = every one is stored (or was a duplicate)
 *
 * An ack for a message whose bundles were all stored costs 5 bytes, plus 2
 * for the record (the marker, and its entry's length in the frame: transfer
 * ids that follow on cost nothing) when it rides on a message of bundles
 * that goes anyway.
 */
#define ACK_MARKER	0x07

size_t
sbdmsg_ack_record_len(const struct sbdmsg_ack *acks, size_t n)
{
	size_t len = 1;

	for (size_t i = 0; i < n; i++)
		len += SBDMSG_ID_LEN + varint_len(acks[i].refused);
	return len;
}

static size_t
ack_record_encode(const struct sbdmsg_ack *acks, size_t n, uint8_t *out)
{
	size_t k = 0;

	out[k++] = ACK_MARKER;
	for (size_t i = 0; i < n; i++) {
		uint64_t v = acks[i].refused;

		memcpy(out + k, acks[i].id, SBDMSG_ID_LEN);
		k += SBDMSG_ID_LEN;
		do {
			out[k++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
			v >>= 7;
		} while (v);
	}
	return k;
}

/* Check (afn NULL) or hand on an ack record: 0, or -EBADMSG with *why. */
static int
ack_record_decode(const uint8_t *p, size_t len, uint64_t sender, sbdmsg_ack_fn *afn, void *arg,
    const char **why)
{
	size_t k = 1, n = 0;

	if (len < 1 + SBDMSG_ID_LEN + 1) {
		*why = "an empty ack record";
		return -EBADMSG;
	}
	while (k < len) {
		struct sbdmsg_ack a;
		uint64_t v = 0;
		unsigned shift = 0;
		size_t start;

		if (++n > SBDMSG_ACKS_MAX || len - k < SBDMSG_ID_LEN + 1) {
			*why = n > SBDMSG_ACKS_MAX ? "an ack record of too many acks" : "a truncated ack";
			return -EBADMSG;
		}
		memcpy(a.id, p + k, SBDMSG_ID_LEN);
		k += SBDMSG_ID_LEN;
		start = k;
		for (;;) {
			if (k == len || shift > 28) {
				*why = "an ack's refused bitmap truncated or too long";
				return -EBADMSG;
			}
			v |= (uint64_t)(p[k] & 0x7f) << shift;
			shift += 7;
			if (!(p[k++] & 0x80))
				break;
		}
		if (v > UINT32_MAX || (k - start > 1 && p[k - 1] == 0)) {
			*why = "an ack's refused bitmap out of range or not minimal";
			return -EBADMSG;
		}
		a.refused = (uint32_t)v;
		if (afn)
			afn(arg, sender, &a);
	}
	return 0;
}

static bool
is_ack_record(const struct frame_bundle *b)
{
	return b->len >= 1 && b->data[0] == ACK_MARKER;
}

ssize_t
sbdmsg_pack_acks(const struct sbdmsg_tx *t, const struct sbdmsg_item *items, size_t n,
    const struct sbdmsg_ack *acks, size_t n_acks, size_t max, uint8_t *out, size_t cap, size_t *taken,
    size_t *acks_taken)
{
	struct compact_ctx c = { .sender = t->sender->node, .receiver = t->receiver, .time_base = SBDMSG_TIME_BASE };
	struct frame_msg m = { .type = FRAME_BUNDLES };
	struct frame_bundles *bs = &m.u.bundles;
	uint8_t tmp[SBDMSG_MAX];
	uint8_t rec[1 + SBDMSG_ACKS_MAX * (SBDMSG_ID_LEN + 5)];
	size_t used = 0, room = n_acks ? FRAME_BUNDLES_MAX - 1u : FRAME_BUNDLES_MAX;
	const char *why;
	ssize_t len;

	*taken = *acks_taken = 0;
	if (n == 0 && n_acks == 0)
		return -EINVAL;
	if (n_acks > SBDMSG_ACKS_MAX)
		n_acks = SBDMSG_ACKS_MAX;
	for (size_t i = 0; i < n && bs->n < room; i++) {
		if ((len = compact_encode(&c, items[i].bundle, items[i].len, tmp + used, sizeof(tmp) - used,
		    &why)) <= 0)
			break;
		bs->b[bs->n] = (struct frame_bundle){ .xid = bs->n + 1u, .data = tmp + used, .len = (size_t)len };
		bs->n++;
		if ((len = sealed_len(t, &m)) < 0 || (size_t)len > max) {
			bs->n--;
			break;
		}
		used += (size_t)bs->b[bs->n - 1].len;
	}
	if (bs->n == 0 && n > 0) {
		full_form(&m, &items[0]);
		if ((len = sealed_len(t, &m)) < 0)
			return len;
		if ((size_t)len > max)
			return -EMSGSIZE;
		*taken = 1;
		return seal(t, &m, out, cap);
	}
	*taken = bs->n;
	/* Then as many acks as fit: fewer and fewer until the record fits. */
	for (size_t k = n_acks; k > 0; k--) {
		bs->b[bs->n] = (struct frame_bundle){ .xid = bs->n + 1u, .data = rec,
		    .len = ack_record_encode(acks, k, rec) };
		bs->n++;
		if ((len = sealed_len(t, &m)) >= 0 && (size_t)len <= max) {
			*acks_taken = k;
			break;
		}
		bs->n--;
	}
	if (bs->n == 0)
		return -EMSGSIZE;
	return seal(t, &m, out, cap);
}

ssize_t
sbdmsg_pack(const struct sbdmsg_tx *t, const struct sbdmsg_item *items, size_t n, size_t max, uint8_t *out,
    size_t cap, size_t *taken)
{
	size_t acks_taken;

	if (n == 0)
		return -EINVAL;
	return sbdmsg_pack_acks(t, items, n, NULL, 0, max, out, cap, taken, &acks_taken);
}

void
sbdmsg_id(const uint8_t *msg, size_t len, uint8_t id[SBDMSG_ID_LEN])
{
	memset(id, 0, SBDMSG_ID_LEN);
	if (len >= SBDMSG_ID_LEN)
		memcpy(id, msg + len - SBDMSG_ID_LEN, SBDMSG_ID_LEN);
}

size_t
sbdmsg_overhead(const struct sbdmsg_tx *t)
{
	struct frame_msg m = { .type = FRAME_BUNDLES };
	static const uint8_t one = 0;
	ssize_t with;

	/* A message of one 1-byte bundle, less that byte: header, tag, the first transfer id. */
	m.u.bundles.n = 1;
	m.u.bundles.b[0] = (struct frame_bundle){ .xid = 1, .data = &one, .len = 1 };
	return (with = sealed_len(t, &m)) > 1 ? (size_t)with - 1 : 0;
}

ssize_t
sbdmsg_measure(const struct sbdmsg_tx *t, const uint8_t *bundle, size_t len)
{
	struct compact_ctx c = { .sender = t->sender->node, .receiver = t->receiver, .time_base = SBDMSG_TIME_BASE };
	struct frame_msg m = { .type = FRAME_BUNDLES };
	struct sbdmsg_item it = { bundle, len };
	uint8_t tmp[SBDMSG_MAX];
	const char *why;
	ssize_t k = compact_encode(&c, bundle, len, tmp, sizeof(tmp), &why);

	if (k > 0) {
		m.u.bundles.n = 1;
		m.u.bundles.b[0] = (struct frame_bundle){ .xid = 1, .data = tmp, .len = (size_t)k };
	} else {
		full_form(&m, &it);
	}
	return sealed_len(t, &m);
}

int
sbdmsg_open(struct frame_rx *rx, uint64_t receiver, uint8_t *msg, size_t len, uint8_t *scratch, size_t scap,
    sbdmsg_bundle_fn *fn, void *arg, enum frame_drop *drop, const char **why)
{
	return sbdmsg_open_acks(rx, receiver, msg, len, scratch, scap, fn, NULL, arg, drop, why);
}

int
sbdmsg_open_acks(struct frame_rx *rx, uint64_t receiver, uint8_t *msg, size_t len, uint8_t *scratch,
    size_t scap, sbdmsg_bundle_fn *fn, sbdmsg_ack_fn *afn, void *arg, enum frame_drop *drop, const char **why)
{
	struct frame_hdr h;
	struct frame_msg m;
	struct compact_ctx c = { .receiver = receiver, .time_base = SBDMSG_TIME_BASE };
	const struct frame_bundle *acks = NULL;
	int handed = 0;

	*drop = frame_open(rx, msg, len, &h, &m);
	*why = NULL;
	if (*drop != FRAME_OK) {
		*why = frame_drop_name(*drop);
		return -EBADMSG;
	}
	c.sender = h.sender;
	if (m.type == FRAME_SEGMENT) {
		if (m.u.seg.off != 0 || m.u.seg.len != m.u.seg.total) {
			*why = "a segment that is not a whole bundle";
			return -EBADMSG;
		}
		fn(arg, h.sender, m.u.seg.xid, m.u.seg.data, m.u.seg.len);
		return 1;
	}
	if (m.type != FRAME_BUNDLES) {
		*why = "a frame type SBD messages do not carry";
		return -EBADMSG;
	}
	/* Check every bundle and ack before handing any on: a message is taken whole or not at all. */
	for (unsigned i = 0; i < m.u.bundles.n; i++) {
		const struct frame_bundle *b = &m.u.bundles.b[i];

		if (is_ack_record(b)) {
			if (acks != NULL) {
				*why = "two ack records";
				return -EBADMSG;
			}
			acks = b;
			if (ack_record_decode(b->data, b->len, h.sender, NULL, NULL, why) < 0)
				return -EBADMSG;
			continue;
		}
		if (compact_decode(&c, b->data, b->len, scratch, scap, why) <= 0) {
			if (*why == NULL)
				*why = "empty bundle";
			return -EBADMSG;
		}
	}
	for (unsigned i = 0; i < m.u.bundles.n; i++) {
		const struct frame_bundle *b = &m.u.bundles.b[i];
		ssize_t k;

		if (b == acks)
			continue;
		k = compact_decode(&c, b->data, b->len, scratch, scap, why);
		fn(arg, h.sender, b->xid, scratch, (size_t)k);
		handed++;
	}
	if (acks && afn)
		ack_record_decode(acks->data, acks->len, h.sender, afn, arg, why);
	return handed;
}
