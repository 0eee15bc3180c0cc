/*
 * test_sbdmsg.c - bundles in SBD messages (radio/drivers/sbdmsg.c): several small
 * bundles share one message and come back byte for byte at the other end;
 * packing stops at the message size; a bundle the compact form cannot carry
 * goes alone in full form; the default fragment sizes fit a message in the
 * worst case; tampered, replayed and oversized messages are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bundle.h"
#include "config_sbd.h"
#include "crypto.h"
#include "sbd_at.h"
#include "sbdmsg.h"
#include "service.h"

#define UNIT	5
#define CC	1
#define NOW	(849234000000ULL)	/* DTN ms in 2026 */

static struct crypto_keyring ring;

struct got {
	unsigned n;
	uint64_t sender;
	size_t len[FRAME_BUNDLES_MAX];
	uint8_t data[FRAME_BUNDLES_MAX][SBDMSG_MAX];
};

static void
on_bundle(void *arg, uint64_t sender, uint64_t xid, const uint8_t *bundle, size_t len)
{
	struct got *g = arg;

	assert_true(g->n < FRAME_BUNDLES_MAX);
	assert_int_equal(xid, g->n + 1);
	g->sender = sender;
	g->len[g->n] = len;
	memcpy(g->data[g->n++], bundle, len);
}

static int
setup(void **state)
{
	uint8_t k[CRYPTO_KEY_LEN];

	if (crypto_init() < 0)
		return -1;
	memset(k, 0x42, sizeof(k));
	crypto_keyring_init(&ring);
	crypto_keyring_add(&ring, 1, k, true);
	return 0;
}

/* Encode a bundle from src to dst into a fresh buffer. */
static uint8_t *
make(uint64_t src, uint64_t dst, unsigned svc, int prio, size_t plen, uint64_t seq, size_t *len)
{
	static uint8_t payload[4096];
	struct bundle b;
	uint8_t *buf;
	ssize_t n;

	for (size_t i = 0; i < plen; i++)
		payload[i] = (uint8_t)('A' + (i * 7 + seq) % 26);
	bundle_init(&b);
	eid_ipn(&b.dst, dst, svc);
	eid_ipn(&b.src, src, svc);
	eid_ipn(&b.report_to, src, 0);
	b.ctime = NOW + seq * 1000;
	b.seq = seq;
	b.priority = prio;
	b.payload = payload;
	b.payload_len = plen;
	n = bundle_encode(&b, NULL, 0);
	assert_true(n > 0);
	buf = malloc((size_t)n);
	assert_int_equal(bundle_encode(&b, buf, (size_t)n), n);
	*len = (size_t)n;
	return buf;
}

static void
positions_share_a_message(void **state)
{
	struct crypto_sender snd;
	struct sbdmsg_tx tx = { .sender = &snd, .keys = &ring, .flags = FRAME_F_TAG8, .receiver = CC };
	struct frame_rx rx = { .keys = &ring, .replay = crypto_replay_new(0), .flags = FRAME_F_TAG8, .self = CC };
	struct sbdmsg_item items[20];
	uint8_t *b[20], msg[SBDMSG_MAX], scratch[SBDMSG_MAX + 1024];
	struct got *g = calloc(1, sizeof(*g));
	size_t off = 0, taken, raw = 0, on_air = 0, messages = 0;
	enum frame_drop drop;
	const char *why;
	ssize_t len;

	assert_int_equal(crypto_sender_init(&snd, UNIT, 3), 0);
	for (unsigned i = 0; i < 20; i++) {
		b[i] = make(UNIT, CC, SVC_POSITION, PRIO_POSITION, 30, i + 1, &items[i].len);
		items[i].bundle = b[i];
		raw += items[i].len;
	}
	/* Pack them all into messages of at most 340 bytes; every one comes back whole, in order. */
	while (off < 20) {
		len = sbdmsg_pack(&tx, items + off, 20 - off, SBD_MO_MAX, msg, sizeof(msg), &taken);
		assert_true(len > 0);
		assert_true((size_t)len <= SBD_MO_MAX);
		assert_true(taken >= 1 && off + taken <= 20);
		on_air += (size_t)len;
		messages++;
		g->n = 0;
		assert_int_equal(sbdmsg_open(&rx, CC, msg, (size_t)len, scratch, sizeof(scratch), on_bundle, g, &drop,
		    &why), (int)taken);
		assert_int_equal(g->sender, UNIT);
		for (size_t i = 0; i < taken; i++) {
			assert_int_equal(g->len[i], items[off + i].len);
			assert_memory_equal(g->data[i], items[off + i].bundle, items[off + i].len);
		}
		off += taken;
	}
	/* Several to a message, and far fewer bytes than the bundles in full form. */
	assert_true(messages <= 4);
	assert_true(on_air * 2 < raw);
	for (unsigned i = 0; i < 20; i++)
		free(b[i]);
	crypto_replay_free(rx.replay);
	free(g);
}

/* A fragment with the default fragment size fits, for the biggest numbers in its header. */
static void
check_fragment_fits(size_t frag, size_t max, uint64_t sender, uint64_t receiver)
{
	static uint8_t payload[SBD_FRAGMENT_MO];
	struct crypto_sender snd;
	struct sbdmsg_tx tx = { .sender = &snd, .keys = &ring, .flags = 0, .receiver = receiver };
	struct frame_rx rx = { .keys = &ring, .replay = crypto_replay_new(0), .flags = 0, .self = (uint32_t)receiver };
	struct sbdmsg_item it;
	struct bundle b;
	uint8_t buf[2048], msg[SBDMSG_MAX], scratch[SBDMSG_MAX + 1024];
	struct got *g = calloc(1, sizeof(*g));
	size_t taken;
	enum frame_drop drop;
	const char *why;
	ssize_t n, len;

	memset(payload, 0xa5, sizeof(payload));
	assert_int_equal(crypto_sender_init(&snd, sender, UINT32_MAX - 1), 0);
	snd.next = UINT32_MAX - 1;	/* the longest frame counter */
	bundle_init(&b);
	eid_ipn(&b.dst, UINT32_MAX - 3, SVC_FIRST_USER + 100000);
	eid_ipn(&b.src, UINT32_MAX - 2, SVC_FIRST_USER + 200000);
	eid_ipn(&b.report_to, UINT32_MAX - 4, 0);
	eid_ipn(&b.prev, sender, 0);
	b.has_prev = true;
	b.flags |= BF_IS_FRAGMENT;
	b.frag_offset = 16 * 1024 * 1024 - frag;
	b.adu_len = 16 * 1024 * 1024;
	b.ctime = NOW + 365ULL * 86400 * 1000 * 20;	/* 20 years on */
	b.seq = UINT32_MAX;
	b.lifetime = 7ULL * 86400 * 1000 + 1;	/* not a whole unit: the finest */
	b.hop_count = 31;
	b.priority = PRIO_BULK;
	b.payload = payload;
	b.payload_len = frag;
	n = bundle_encode(&b, buf, sizeof(buf));
	assert_true(n > 0);
	it = (struct sbdmsg_item){ buf, (size_t)n };
	len = sbdmsg_measure(&tx, buf, (size_t)n);
	assert_true(len > 0);
	if ((size_t)len > max)
		fail_msg("a %zu-byte fragment needs %zd bytes, more than %zu", frag, len, max);
	assert_int_equal(sbdmsg_pack(&tx, &it, 1, max, msg, sizeof(msg), &taken), len);
	assert_int_equal(sbdmsg_open(&rx, receiver, msg, (size_t)len, scratch, sizeof(scratch), on_bundle, g, &drop,
	    &why), 1);
	assert_memory_equal(g->data[0], buf, (size_t)n);
	crypto_replay_free(rx.replay);
	free(g);
}

static void
default_fragments_fit(void **state)
{
	check_fragment_fits(SBD_FRAGMENT_MO, SBD_MO_MAX, UINT32_MAX - 5, UINT32_MAX - 6);
	check_fragment_fits(SBD_FRAGMENT_MT, SBD_MT_MAX, UINT32_MAX - 6, UINT32_MAX - 5);
}

/* Another implementation's bundle (an extension block we do not know) goes alone, in full form. */
static void
foreign_bundle_goes_in_full(void **state)
{
	struct crypto_sender snd;
	struct sbdmsg_tx tx = { .sender = &snd, .keys = &ring, .flags = FRAME_F_TAG8, .receiver = CC };
	struct frame_rx rx = { .keys = &ring, .replay = crypto_replay_new(0), .flags = FRAME_F_TAG8, .self = CC };
	static const uint8_t ext[] = { 0x43, 1, 2, 3 };
	uint8_t buf[1024], msg[SBDMSG_MAX], scratch[SBDMSG_MAX + 1024], pl[40];
	struct got *g = calloc(1, sizeof(*g));
	struct sbdmsg_item items[2];
	struct bundle b;
	size_t taken, l2;
	enum frame_drop drop;
	const char *why;
	ssize_t n, len;

	memset(pl, 'x', sizeof(pl));
	assert_int_equal(crypto_sender_init(&snd, UNIT, 1), 0);
	bundle_init(&b);
	eid_ipn(&b.dst, CC, SVC_MESSAGE);
	eid_ipn(&b.src, UNIT, SVC_MESSAGE);
	b.ctime = NOW;
	b.n_other = 1;
	b.other[0] = (struct bundle_block){ .type = 200, .number = 5, .data = ext, .len = sizeof(ext) };
	b.payload = pl;
	b.payload_len = sizeof(pl);
	n = bundle_encode(&b, buf, sizeof(buf));
	assert_true(n > 0);
	items[0] = (struct sbdmsg_item){ buf, (size_t)n };
	items[1].bundle = make(UNIT, CC, SVC_POSITION, PRIO_POSITION, 20, 9, &l2);
	items[1].len = l2;
	len = sbdmsg_pack(&tx, items, 2, SBD_MO_MAX, msg, sizeof(msg), &taken);
	assert_true(len > (ssize_t)n);
	assert_int_equal(taken, 1);
	assert_int_equal(sbdmsg_open(&rx, CC, msg, (size_t)len, scratch, sizeof(scratch), on_bundle, g, &drop, &why), 1);
	assert_int_equal(g->len[0], (size_t)n);
	assert_memory_equal(g->data[0], buf, (size_t)n);
	/* The position after it goes compact, on its own. */
	len = sbdmsg_pack(&tx, items + 1, 1, SBD_MO_MAX, msg, sizeof(msg), &taken);
	assert_true(len > 0 && len < (ssize_t)l2);
	free((void *)items[1].bundle);
	crypto_replay_free(rx.replay);
	free(g);
}

static void
refused(void **state)
{
	struct crypto_sender snd;
	struct sbdmsg_tx tx = { .sender = &snd, .keys = &ring, .flags = FRAME_F_TAG8, .receiver = CC };
	struct frame_rx rx = { .keys = &ring, .replay = crypto_replay_new(0), .flags = FRAME_F_TAG8, .self = CC };
	uint8_t msg[SBDMSG_MAX], copy[SBDMSG_MAX], scratch[SBDMSG_MAX + 1024];
	struct got *g = calloc(1, sizeof(*g));
	struct sbdmsg_item it;
	size_t taken, l;
	enum frame_drop drop;
	const char *why;
	ssize_t len;

	assert_int_equal(crypto_sender_init(&snd, UNIT, 1), 0);
	/* Too big for one message, even compact. */
	it.bundle = make(UNIT, CC, SVC_MESSAGE, PRIO_MESSAGE, 600, 1, &l);
	it.len = l;
	assert_int_equal(sbdmsg_pack(&tx, &it, 1, SBD_MO_MAX, msg, sizeof(msg), &taken), -EMSGSIZE);
	assert_true(sbdmsg_measure(&tx, it.bundle, it.len) > SBD_MO_MAX);
	free((void *)it.bundle);
	it.bundle = make(UNIT, CC, SVC_MESSAGE, PRIO_MESSAGE, 100, 2, &l);
	it.len = l;
	len = sbdmsg_pack(&tx, &it, 1, SBD_MO_MAX, msg, sizeof(msg), &taken);
	assert_true(len > 0);
	/* One flipped bit: a bad tag, nothing handed on. */
	memcpy(copy, msg, (size_t)len);
	copy[len / 2] ^= 0x10;
	assert_int_equal(sbdmsg_open(&rx, CC, copy, (size_t)len, scratch, sizeof(scratch), on_bundle, g, &drop, &why),
	    -EBADMSG);
	assert_int_equal(drop, FRAME_DROP_BAD_TAG);
	assert_int_equal(g->n, 0);
	/* Wrong tag length for the link. */
	rx.flags = 0;
	memcpy(copy, msg, (size_t)len);
	assert_int_equal(sbdmsg_open(&rx, CC, copy, (size_t)len, scratch, sizeof(scratch), on_bundle, g, &drop, &why),
	    -EBADMSG);
	assert_int_equal(drop, FRAME_DROP_POLICY);
	rx.flags = FRAME_F_TAG8;
	/* The real one, then the same again (a gateway's second delivery): replayed. */
	memcpy(copy, msg, (size_t)len);
	assert_int_equal(sbdmsg_open(&rx, CC, copy, (size_t)len, scratch, sizeof(scratch), on_bundle, g, &drop, &why), 1);
	memcpy(copy, msg, (size_t)len);
	assert_int_equal(sbdmsg_open(&rx, CC, copy, (size_t)len, scratch, sizeof(scratch), on_bundle, g, &drop, &why),
	    -EBADMSG);
	assert_int_equal(drop, FRAME_DROP_REPLAYED);
	assert_int_equal(g->n, 1);
	/* Cut short. */
	memcpy(copy, msg, (size_t)len);
	assert_int_equal(sbdmsg_open(&rx, CC, copy, (size_t)len - 3, scratch, sizeof(scratch), on_bundle, g, &drop,
	    &why), -EBADMSG);
	free((void *)it.bundle);
	crypto_replay_free(rx.replay);
	free(g);
}

struct acks_got {
	struct got g;
	unsigned n;
	struct sbdmsg_ack a[SBDMSG_ACKS_MAX + 1];
};

static void
on_bundle_a(void *arg, uint64_t sender, uint64_t xid, const uint8_t *bundle, size_t len)
{
	struct acks_got *ag = arg;

	on_bundle(&ag->g, sender, xid, bundle, len);
}

static void
on_ack(void *arg, uint64_t sender, const struct sbdmsg_ack *a)
{
	struct acks_got *ag = arg;

	assert_int_equal(sender, UNIT);
	assert_true(ag->n < SBDMSG_ACKS_MAX);
	ag->a[ag->n++] = *a;
}

/* Issue 11 item 2: acks of MT messages ride on MO messages, byte for byte, and alone. */
static void
acks_ride_along(void **state)
{
	struct crypto_sender snd;
	struct sbdmsg_tx tx = { .sender = &snd, .keys = &ring, .flags = FRAME_F_TAG8, .receiver = CC };
	struct frame_rx rx = { .keys = &ring, .replay = crypto_replay_new(0), .flags = FRAME_F_TAG8, .self = CC };
	struct sbdmsg_ack acks[SBDMSG_ACKS_MAX + 2];
	struct sbdmsg_item it[2];
	uint8_t *b0, *b1, msg[SBDMSG_MAX], copy[SBDMSG_MAX], scratch[SBDMSG_MAX + 1024], id[SBDMSG_ID_LEN];
	struct acks_got *ag = calloc(1, sizeof(*ag));
	size_t taken, acks_taken, plain_len;
	enum frame_drop drop;
	const char *why;
	ssize_t len, plain;

	assert_int_equal(crypto_sender_init(&snd, UNIT, 3), 0);
	for (unsigned i = 0; i < SBDMSG_ACKS_MAX + 2; i++) {
		for (unsigned k = 0; k < SBDMSG_ID_LEN; k++)
			acks[i].id[k] = (uint8_t)(i * 16 + k);
		acks[i].refused = i == 1 ? 0x5 : i == 2 ? 0x80000001u : 0;
	}
	b0 = make(UNIT, CC, SVC_POSITION, PRIO_POSITION, 30, 1, &it[0].len);
	b1 = make(UNIT, CC, SVC_POSITION, PRIO_POSITION, 30, 2, &it[1].len);
	it[0].bundle = b0;
	it[1].bundle = b1;
	assert_int_equal(sbdmsg_ack_record_len(acks, 1), 1 + 4 + 1);
	assert_int_equal(sbdmsg_ack_record_len(acks + 2, 1), 1 + 4 + 5);

	/* beside two bundles: 3 acks cost the record's entry (its length, 1 byte) + the marker + 5 + 5 + 9 */
	plain = sbdmsg_pack(&tx, it, 2, SBD_MO_MAX, msg, sizeof(msg), &taken);
	assert_true(plain > 0);
	plain_len = (size_t)plain;
	len = sbdmsg_pack_acks(&tx, it, 2, acks, 3, SBD_MO_MAX, msg, sizeof(msg), &taken, &acks_taken);
	assert_int_equal(taken, 2);
	assert_int_equal(acks_taken, 3);
	assert_int_equal((size_t)len, plain_len + 1 + 1 + 4 + 1 + 4 + 1 + 4 + 5);
	sbdmsg_id(msg, (size_t)len, id);
	assert_memory_equal(id, msg + len - 4, 4);
	assert_int_equal(sbdmsg_open_acks(&rx, CC, msg, (size_t)len, scratch, sizeof(scratch), on_bundle_a, on_ack,
	    ag, &drop, &why), 2);
	assert_int_equal(ag->g.n, 2);
	assert_memory_equal(ag->g.data[0], b0, it[0].len);
	assert_int_equal(ag->n, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_memory_equal(ag->a[i].id, acks[i].id, SBDMSG_ID_LEN);
		assert_int_equal(ag->a[i].refused, acks[i].refused);
	}

	/* acks alone; at most SBDMSG_ACKS_MAX in one record */
	ag->n = 0;
	ag->g.n = 0;
	len = sbdmsg_pack_acks(&tx, NULL, 0, acks, SBDMSG_ACKS_MAX + 2, SBD_MO_MAX, msg, sizeof(msg), &taken,
	    &acks_taken);
	assert_true(len > 0);
	assert_int_equal(taken, 0);
	assert_int_equal(acks_taken, SBDMSG_ACKS_MAX);
	memcpy(copy, msg, (size_t)len);
	assert_int_equal(sbdmsg_open_acks(&rx, CC, msg, (size_t)len, scratch, sizeof(scratch), on_bundle_a, on_ack,
	    ag, &drop, &why), 0);
	assert_int_equal(ag->n, SBDMSG_ACKS_MAX);
	assert_int_equal(ag->a[2].refused, 0x80000001u);
	/* a receiver that does not want acks skips them */
	assert_int_equal(sbdmsg_pack_acks(&tx, NULL, 0, acks, 1, SBD_MO_MAX, msg, sizeof(msg), &taken,
	    &acks_taken) > 0, 1);
	len = sbdmsg_pack_acks(&tx, NULL, 0, acks, 1, SBD_MO_MAX, msg, sizeof(msg), &taken, &acks_taken);
	assert_int_equal(sbdmsg_open(&rx, CC, msg, (size_t)len, scratch, sizeof(scratch), on_bundle, &ag->g, &drop,
	    &why), 0);
	/* acks do not fit a tiny max: fewer go, or none and -EMSGSIZE */
	len = sbdmsg_pack_acks(&tx, NULL, 0, acks, 3, (size_t)sbdmsg_overhead(&tx) + 1 + 5, msg, sizeof(msg),
	    &taken, &acks_taken);
	assert_true(len > 0);
	assert_int_equal(acks_taken, 1);
	assert_int_equal(sbdmsg_pack_acks(&tx, NULL, 0, acks, 3, 10, msg, sizeof(msg), &taken, &acks_taken),
	    -EMSGSIZE);
	assert_int_equal(sbdmsg_pack_acks(&tx, NULL, 0, NULL, 0, SBD_MO_MAX, msg, sizeof(msg), &taken,
	    &acks_taken), -EINVAL);
	free(b0);
	free(b1);
	free(ag);
	crypto_replay_free(rx.replay);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(positions_share_a_message),
		cmocka_unit_test(default_fragments_fit),
		cmocka_unit_test(foreign_bundle_goes_in_full),
		cmocka_unit_test(refused),
		cmocka_unit_test(acks_ride_along),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
