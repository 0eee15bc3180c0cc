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

ssize_t
sbdmsg_pack(const struct sbdmsg_tx *t, const struct sbdmsg_item *items, size_t n, size_t max, uint8_t *out,
    size_t cap, size_t *taken)
{
	struct compact_ctx c = { .sender = t->sender->node, .receiver = t->receiver, .time_base = SBDMSG_TIME_BASE };
	struct frame_msg m = { .type = FRAME_BUNDLES };
	struct frame_bundles *bs = &m.u.bundles;
	uint8_t tmp[SBDMSG_MAX];
	size_t used = 0;
	const char *why;
	ssize_t len;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n && bs->n < FRAME_BUNDLES_MAX; i++) {
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
	if (bs->n == 0) {
		full_form(&m, &items[0]);
		if ((len = sealed_len(t, &m)) < 0)
			return len;
		if ((size_t)len > max)
			return -EMSGSIZE;
		*taken = 1;
	} else {
		*taken = bs->n;
	}
	return seal(t, &m, out, cap);
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
	struct frame_hdr h;
	struct frame_msg m;
	struct compact_ctx c = { .receiver = receiver, .time_base = SBDMSG_TIME_BASE };
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
	/* Check every bundle before handing any on: a message is taken whole or not at all. */
	for (unsigned i = 0; i < m.u.bundles.n; i++) {
		const struct frame_bundle *b = &m.u.bundles.b[i];

		if (compact_decode(&c, b->data, b->len, scratch, scap, why) <= 0) {
			if (*why == NULL)
				*why = "empty bundle";
			return -EBADMSG;
		}
	}
	for (unsigned i = 0; i < m.u.bundles.n; i++) {
		const struct frame_bundle *b = &m.u.bundles.b[i];
		ssize_t k = compact_decode(&c, b->data, b->len, scratch, scap, why);

		fn(arg, h.sender, b->xid, scratch, (size_t)k);
		handed++;
	}
	return handed;
}
