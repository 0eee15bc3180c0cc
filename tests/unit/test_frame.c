/* test_frame.c - link frames: round trips, every drop cause, forged/truncated/replayed/wrong-key frames. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "frame.h"

static struct crypto_keyring ring;	/* keys 1 and 2, sends with 2 */
static struct crypto_key other;		/* id 2, different bytes: a wrong key */
static uint8_t payload[1400];

static int
setup(void **state)
{
	uint8_t k[CRYPTO_KEY_LEN];

	if (crypto_init() < 0)
		return -1;
	crypto_keyring_init(&ring);
	memset(k, 0x11, sizeof(k));
	crypto_keyring_add(&ring, 1, k, false);
	memset(k, 0x22, sizeof(k));
	crypto_keyring_add(&ring, 2, k, false);
	other.id = 2;
	memset(other.key, 0x33, sizeof(other.key));
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = i * 7 + 3;
	return 0;
}

static struct frame_rx
rx_new(uint8_t flags)
{
	struct frame_rx rx = { .keys = &ring, .replay = crypto_replay_new(0), .flags = flags };

	assert_non_null(rx.replay);
	return rx;
}

static uint32_t next_counter = 1;

static struct frame_hdr
hdr(uint8_t flags)
{
	struct frame_hdr h = { .flags = flags, .sender = 42, .boot = 7, .counter = next_counter++ };

	return h;
}

/* One example message of each type. */
static void
example(unsigned type, struct frame_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	switch (type) {
	case FRAME_BEACON:
		m->u.beacon.node = 42;
		m->u.beacon.mtu = 1400;
		m->u.beacon.rate = 1200;
		strcpy(m->u.beacon.name, "Bergwacht Süd 2");
		m->u.beacon.name_len = strlen(m->u.beacon.name);
		break;
	case FRAME_SEGMENT:
		m->u.seg.xid = 300;
		m->u.seg.off = 100000;
		m->u.seg.total = 16u << 20;
		m->u.seg.seq = 129;
		m->u.seg.data = payload;
		m->u.seg.len = 1200;
		break;
	case FRAME_SEG_ACK:
		m->u.ack.xid = 300;
		m->u.ack.cum = 5000;
		m->u.ack.n = 3;
		m->u.ack.sack[0] = (struct frame_sack){ 6000, 1000 };
		m->u.ack.sack[1] = (struct frame_sack){ 7001, 1 };
		m->u.ack.sack[2] = (struct frame_sack){ 1u << 20, 4096 };
		break;
	case FRAME_COMMIT_ACK:
		m->u.commit.xid = 300;
		break;
	case FRAME_VOICE:
		m->u.voice.group = 3;
		m->u.voice.spurt = 77;
		m->u.voice.seq = 12;
		m->u.voice.data = payload;
		m->u.voice.len = 60;
		break;
	case FRAME_ROUTE:
		m->u.route.n = 3;
		m->u.route.e[0] = (struct frame_route_entry){ 42, 0 };
		m->u.route.e[1] = (struct frame_route_entry){ 1000000, 300 };
		m->u.route.e[2] = (struct frame_route_entry){ 9, FRAME_COST_MAX };
		break;
	case FRAME_ABORT:
		m->u.abort.xid = 300;
		m->u.abort.reason = ABORT_REFUSED_QUOTA;
		break;
	case FRAME_BUNDLES:
		m->u.bundles.n = 4;
		m->u.bundles.b[0] = (struct frame_bundle){ 300, payload, 40 };
		m->u.bundles.b[1] = (struct frame_bundle){ 301, payload + 40, 1 };
		m->u.bundles.b[2] = (struct frame_bundle){ 17, payload + 41, 200 };
		m->u.bundles.b[3] = (struct frame_bundle){ 100000, payload + 241, 63 };
		break;
	case FRAME_COMMITS:
		m->u.commits.n = 4;
		m->u.commits.xid[0] = 17;
		m->u.commits.xid[1] = 300;
		m->u.commits.xid[2] = 301;
		m->u.commits.xid[3] = (UINT64_C(1) << 48) - 1;
		break;
	}
}

static void
assert_same(const struct frame_msg *a, const struct frame_msg *b)
{
	assert_int_equal(a->type, b->type);
	switch (a->type) {
	case FRAME_BEACON:
		assert_int_equal(a->u.beacon.node, b->u.beacon.node);
		assert_int_equal(a->u.beacon.mtu, b->u.beacon.mtu);
		assert_int_equal(a->u.beacon.rate, b->u.beacon.rate);
		assert_int_equal(a->u.beacon.name_len, b->u.beacon.name_len);
		assert_string_equal(a->u.beacon.name, b->u.beacon.name);
		assert_int_equal(a->u.beacon.caps, b->u.beacon.caps);
		assert_int_equal(a->u.beacon.time_base, b->u.beacon.time_base);
		break;
	case FRAME_SEGMENT:
		assert_int_equal(a->u.seg.xid, b->u.seg.xid);
		assert_int_equal(a->u.seg.off, b->u.seg.off);
		assert_int_equal(a->u.seg.total, b->u.seg.total);
		assert_int_equal(a->u.seg.seq, b->u.seg.seq);
		assert_int_equal(a->u.seg.len, b->u.seg.len);
		assert_memory_equal(a->u.seg.data, b->u.seg.data, a->u.seg.len);
		break;
	case FRAME_SEG_ACK:
		assert_int_equal(a->u.ack.xid, b->u.ack.xid);
		assert_int_equal(a->u.ack.cum, b->u.ack.cum);
		assert_int_equal(a->u.ack.n, b->u.ack.n);
		for (int i = 0; i < a->u.ack.n; i++) {
			assert_int_equal(a->u.ack.sack[i].off, b->u.ack.sack[i].off);
			assert_int_equal(a->u.ack.sack[i].len, b->u.ack.sack[i].len);
		}
		break;
	case FRAME_COMMIT_ACK:
		assert_int_equal(a->u.commit.xid, b->u.commit.xid);
		break;
	case FRAME_VOICE:
		assert_int_equal(a->u.voice.group, b->u.voice.group);
		assert_int_equal(a->u.voice.spurt, b->u.voice.spurt);
		assert_int_equal(a->u.voice.seq, b->u.voice.seq);
		assert_int_equal(a->u.voice.len, b->u.voice.len);
		assert_memory_equal(a->u.voice.data, b->u.voice.data, a->u.voice.len);
		break;
	case FRAME_ROUTE:
		assert_int_equal(a->u.route.n, b->u.route.n);
		for (int i = 0; i < a->u.route.n; i++) {
			assert_int_equal(a->u.route.e[i].node, b->u.route.e[i].node);
			assert_int_equal(a->u.route.e[i].cost, b->u.route.e[i].cost);
		}
		break;
	case FRAME_ABORT:
		assert_int_equal(a->u.abort.xid, b->u.abort.xid);
		assert_int_equal(a->u.abort.reason, b->u.abort.reason);
		break;
	case FRAME_BUNDLES:
		assert_int_equal(a->u.bundles.n, b->u.bundles.n);
		for (int i = 0; i < a->u.bundles.n; i++) {
			assert_int_equal(a->u.bundles.b[i].xid, b->u.bundles.b[i].xid);
			assert_int_equal(a->u.bundles.b[i].len, b->u.bundles.b[i].len);
			assert_memory_equal(a->u.bundles.b[i].data, b->u.bundles.b[i].data, a->u.bundles.b[i].len);
		}
		break;
	case FRAME_COMMITS:
		assert_int_equal(a->u.commits.n, b->u.commits.n);
		for (int i = 0; i < a->u.commits.n; i++)
			assert_int_equal(a->u.commits.xid[i], b->u.commits.xid[i]);
		break;
	default:
		fail();
	}
}

static void
test_round_trip_all_types_all_modes(void **state)
{
	static const uint8_t modes[] = { 0, FRAME_F_TAG8, FRAME_F_AUTH_ONLY, FRAME_F_AUTH_ONLY | FRAME_F_TAG8 };

	for (size_t mi = 0; mi < sizeof(modes); mi++) {
		struct frame_rx rx = rx_new(modes[mi]);

		for (unsigned type = 1; type <= FRAME_TYPE_MAX; type++) {
			struct frame_msg m, got;
			struct frame_hdr h = hdr(modes[mi]), gh;
			uint8_t buf[2048];
			ssize_t n, blen;

			example(type, &m);
			n = frame_seal(buf, sizeof(buf), &h, &m, crypto_keyring_send_key(&ring));
			assert_true(n > 0);
			blen = frame_body_encode(&m, NULL, 0);
			assert_true(blen > 0);
			/* Exactly header + body + tag, never more than the advertised overhead. */
			assert_true((size_t)n <= (size_t)blen + frame_overhead(modes[mi]));
			assert_int_equal(buf[0], FRAME_VERSION);
			assert_int_equal(buf[1], type);
			assert_int_equal(buf[2], 2);
			assert_int_equal(buf[3], modes[mi]);
			/* Encrypted bodies do not show the payload; auth-only ones do. */
			if (type == FRAME_SEGMENT) {
				bool clear = memmem(buf, n, payload, 64) != NULL;
				assert_int_equal(clear, !!(modes[mi] & FRAME_F_AUTH_ONLY));
			}
			assert_int_equal(frame_open(&rx, buf, n, &gh, &got), FRAME_OK);
			assert_int_equal(gh.type, type);
			assert_int_equal(gh.key_id, 2);
			assert_int_equal(gh.flags, modes[mi]);
			assert_int_equal(gh.sender, 42);
			assert_int_equal(gh.boot, 7);
			assert_int_equal(gh.counter, h.counter);
			assert_same(&m, &got);
		}
		assert_int_equal(rx.count[FRAME_OK], FRAME_TYPE_MAX);
		crypto_replay_free(rx.replay);
	}
}

/* Sizes of the envelope: small counters give a small header. */
static void
test_overhead(void **state)
{
	struct frame_msg m;
	struct frame_hdr h = { .flags = FRAME_F_TAG8, .sender = 5, .boot = 1, .counter = 3 };
	uint8_t buf[64];

	example(FRAME_COMMIT_ACK, &m);
	/* 4 fixed + 3 one-byte varints + xid 300 (2 bytes) + 8-byte tag */
	assert_int_equal(frame_seal(buf, sizeof(buf), &h, &m, &ring.keys[0]), 4 + 3 + 2 + 8);
	h.flags = 0;
	h.sender = UINT32_MAX;
	h.boot = UINT32_MAX;
	h.counter = UINT32_MAX;
	assert_int_equal(frame_seal(buf, sizeof(buf), &h, &m, &ring.keys[0]), FRAME_HDR_MAX + 2 + 16);
	assert_int_equal(frame_overhead(0), FRAME_HDR_MAX + 16);
	assert_int_equal(frame_overhead(FRAME_F_TAG8), FRAME_HDR_MAX + 8);
	/* Too small a buffer, at every size. */
	for (size_t cap = 0; cap < FRAME_HDR_MAX + 2 + 16; cap++)
		assert_int_equal(frame_seal(buf, cap, &h, &m, &ring.keys[0]), -EMSGSIZE);
	h.flags = 0x04;
	assert_int_equal(frame_seal(buf, sizeof(buf), &h, &m, &ring.keys[0]), -EINVAL);
}

static size_t
seal(uint8_t *buf, size_t cap, unsigned type, uint8_t flags, const struct crypto_key *key)
{
	struct frame_msg m;
	struct frame_hdr h = hdr(flags);
	ssize_t n;

	example(type, &m);
	n = frame_seal(buf, cap, &h, &m, key);
	assert_true(n > 0);
	return n;
}

static enum frame_drop
open_copy(struct frame_rx *rx, const uint8_t *frame, size_t len)
{
	uint8_t buf[2048];
	struct frame_hdr h;
	struct frame_msg m;

	memcpy(buf, frame, len);
	return frame_open(rx, buf, len, &h, &m);
}

static void
test_every_drop_cause(void **state)
{
	struct frame_rx rx = rx_new(0);
	uint8_t f[2048], g[2048];
	size_t n;

	n = seal(f, sizeof(f), FRAME_SEGMENT, 0, &ring.keys[1]);

	/* Truncated, at every length: never parsed, never ok. */
	assert_int_equal(open_copy(&rx, f, 0), FRAME_DROP_TRUNCATED);
	for (size_t len = 1; len < n; len++) {
		enum frame_drop d = open_copy(&rx, f, len);

		assert_true(d == FRAME_DROP_TRUNCATED || d == FRAME_DROP_BAD_TAG);
	}
	/* Header + tag only: no body. */
	assert_int_equal(open_copy(&rx, f, 7 + 16), FRAME_DROP_TRUNCATED);
	assert_int_equal(open_copy(&rx, f, 3), FRAME_DROP_TRUNCATED);

	memcpy(g, f, n);
	g[0] = 2;
	assert_int_equal(open_copy(&rx, g, n), FRAME_DROP_BAD_VERSION);
	g[0] = 0;
	assert_int_equal(open_copy(&rx, g, 1), FRAME_DROP_BAD_VERSION);

	memcpy(g, f, n);
	g[1] = 0;
	assert_int_equal(open_copy(&rx, g, n), FRAME_DROP_BAD_TYPE);
	g[1] = FRAME_TYPE_MAX + 1;
	assert_int_equal(open_copy(&rx, g, n), FRAME_DROP_BAD_TYPE);

	memcpy(g, f, n);
	g[3] = 0x80;
	assert_int_equal(open_copy(&rx, g, n), FRAME_DROP_BAD_HEADER);
	/* Non-minimal sender varint: 42 as 0xaa 0x00. */
	g[3] = 0;
	memcpy(g + 5, f + 4, n - 4);
	g[4] = 0x80 | 42;
	g[5] = 0x00;
	assert_int_equal(open_copy(&rx, g, n + 1), FRAME_DROP_BAD_HEADER);
	/* A sender above 2^32 - 1. */
	{
		uint8_t big[64] = { 1, FRAME_COMMIT_ACK, 2, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 1 };
		assert_int_equal(open_copy(&rx, big, 40), FRAME_DROP_BAD_HEADER);
		assert_int_equal(open_copy(&rx, big, 7), FRAME_DROP_TRUNCATED);	/* inside the varint */
	}

	/* Policy: the link encrypts with full tags; auth-only or tag-8 frames are refused. */
	n = seal(g, sizeof(g), FRAME_SEGMENT, FRAME_F_AUTH_ONLY, &ring.keys[1]);
	assert_int_equal(open_copy(&rx, g, n), FRAME_DROP_POLICY);
	n = seal(g, sizeof(g), FRAME_SEGMENT, FRAME_F_TAG8, &ring.keys[1]);
	assert_int_equal(open_copy(&rx, g, n), FRAME_DROP_POLICY);

	/* Unknown key id. */
	struct crypto_key k9 = { .id = 9 };
	memset(k9.key, 0x99, sizeof(k9.key));
	n = seal(g, sizeof(g), FRAME_SEGMENT, 0, &k9);
	assert_int_equal(open_copy(&rx, g, n), FRAME_DROP_UNKNOWN_KEY);

	/* Wrong key behind a known id. */
	n = seal(g, sizeof(g), FRAME_SEGMENT, 0, &other);
	assert_int_equal(open_copy(&rx, g, n), FRAME_DROP_BAD_TAG);

	/* The rotation case: an old key id still opens. */
	n = seal(g, sizeof(g), FRAME_SEGMENT, 0, &ring.keys[0]);
	assert_int_equal(open_copy(&rx, g, n), FRAME_OK);

	/* Replayed. */
	n = seal(f, sizeof(f), FRAME_COMMIT_ACK, 0, &ring.keys[1]);
	assert_int_equal(open_copy(&rx, f, n), FRAME_OK);
	assert_int_equal(open_copy(&rx, f, n), FRAME_DROP_REPLAYED);

	/* Malformed but authentic body: sealed by hand with an extra byte after the xid. */
	{
		uint8_t h[7] = { 1, FRAME_COMMIT_ACK, 2, 0, 42, 7, 0x7f }, fr[64], nonce[12];

		memcpy(fr, h, 7);
		fr[7] = 5;	/* xid 5 */
		fr[8] = 0;	/* trailing */
		crypto_nonce(nonce, 42, 7, 0x7f);
		crypto_seal(fr + 7, fr + 9, 16, fr + 7, 2, fr, 7, nonce, ring.keys[1].key);
		assert_int_equal(open_copy(&rx, fr, 25), FRAME_DROP_MALFORMED);
		/* Its counter is spent all the same. */
		assert_int_equal(open_copy(&rx, fr, 25), FRAME_DROP_REPLAYED);
	}

	assert_int_equal(rx.count[FRAME_DROP_BAD_VERSION], 2);
	assert_int_equal(rx.count[FRAME_DROP_BAD_TYPE], 2);
	assert_int_equal(rx.count[FRAME_DROP_BAD_HEADER], 3);
	assert_int_equal(rx.count[FRAME_DROP_POLICY], 2);
	assert_int_equal(rx.count[FRAME_DROP_UNKNOWN_KEY], 1);
	assert_int_equal(rx.count[FRAME_DROP_REPLAYED], 2);
	assert_int_equal(rx.count[FRAME_DROP_MALFORMED], 1);
	assert_int_equal(rx.count[FRAME_OK], 2);
	for (int d = 0; d < FRAME_DROP_N; d++)
		assert_string_not_equal(frame_drop_name(d), "?");
	crypto_replay_free(rx.replay);
}

/* Flip any bit of a sealed frame: never FRAME_OK, and traffic continues after. */
static void
test_forged_frames(void **state)
{
	static const uint8_t modes[] = { 0, FRAME_F_TAG8, FRAME_F_AUTH_ONLY | FRAME_F_TAG8 };

	for (size_t mi = 0; mi < sizeof(modes); mi++) {
		struct frame_rx rx = rx_new(modes[mi]);
		uint8_t f[2048], g[2048];
		size_t n = seal(f, sizeof(f), FRAME_VOICE, modes[mi], &ring.keys[1]);
		uint64_t total = 0;

		for (size_t bit = 0; bit < n * 8; bit++) {
			memcpy(g, f, n);
			g[bit / 8] ^= 1 << bit % 8;
			assert_int_not_equal(open_copy(&rx, g, n), FRAME_OK);
			total++;
		}
		assert_int_equal(rx.count[FRAME_OK], 0);
		/* Body and tag bits can only fail the tag. */
		assert_true(rx.count[FRAME_DROP_BAD_TAG] >= (n - FRAME_HDR_MAX) * 8);
		/* The genuine frame still opens: forgeries did not advance the window. */
		assert_int_equal(open_copy(&rx, f, n), FRAME_OK);
		uint64_t sum = 0;
		for (int d = 0; d < FRAME_DROP_N; d++)
			sum += rx.count[d];
		assert_int_equal(sum, total + 1);
		crypto_replay_free(rx.replay);
	}
}

/* Retransmissions are new frames; reordering within the window is fine. */
static void
test_replay_order(void **state)
{
	struct frame_rx rx = rx_new(FRAME_F_TAG8);
	uint8_t f[10][256];
	size_t n[10];

	for (int i = 0; i < 10; i++)
		n[i] = seal(f[i], sizeof(f[i]), FRAME_SEG_ACK, FRAME_F_TAG8, &ring.keys[1]);
	for (int i = 9; i >= 0; i--)
		assert_int_equal(open_copy(&rx, f[i], n[i]), FRAME_OK);
	for (int i = 0; i < 10; i++)
		assert_int_equal(open_copy(&rx, f[i], n[i]), FRAME_DROP_REPLAYED);
	crypto_replay_free(rx.replay);
}

static void
expect_body(unsigned type, const char *hex, int want)
{
	uint8_t b[256];
	size_t n = strlen(hex) / 2;
	struct frame_msg m;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		b[i] = v;
	}
	if (frame_body_decode(type, b, n, &m) != want)
		fail_msg("%s body %s: expected %d", frame_type_name(type), hex, want);
	if (want == 0) {
		/* Strict decoding is canonical: it encodes back to the same bytes. */
		uint8_t e[256];
		assert_int_equal(frame_body_encode(&m, e, sizeof(e)), n);
		assert_memory_equal(e, b, n);
	}
}

static void
test_body_decoders_strict(void **state)
{
	/* beacon: node 42, mtu 1400, rate 1200, name "ab" */
	expect_body(FRAME_BEACON, "2af80ab00902" "6162", 0);
	expect_body(FRAME_BEACON, "2af80ab00900", 0);
	expect_body(FRAME_BEACON, "2af80ab00902" "61", -EBADMSG);	/* name cut */
	expect_body(FRAME_BEACON, "2af80ab00902" "616263", -EBADMSG);	/* trailing */
	expect_body(FRAME_BEACON, "2af80ab00902" "610a", -EBADMSG);	/* control char */
	expect_body(FRAME_BEACON, "2af80ab00921", -EBADMSG);		/* name_len 33 */
	expect_body(FRAME_BEACON, "2a8080808010b00900", -EBADMSG);	/* mtu 2^32 */
	expect_body(FRAME_BEACON, "aa00f80ab00900", -EBADMSG);		/* non-minimal node */
	/* segment: xid 1, off 0, total 3, seq 0, data */
	expect_body(FRAME_SEGMENT, "01000300" "aabbcc", 0);
	expect_body(FRAME_SEGMENT, "01000300" "aabbccdd", -EBADMSG);	/* beyond total */
	expect_body(FRAME_SEGMENT, "01020300" "aa", 0);
	expect_body(FRAME_SEGMENT, "01030300" "aa", -EBADMSG);		/* off == total */
	expect_body(FRAME_SEGMENT, "01000300", -EBADMSG);		/* no data */
	expect_body(FRAME_SEGMENT, "00000300" "aa", -EBADMSG);		/* xid 0 */
	expect_body(FRAME_SEGMENT, "0100000000" "aa", -EBADMSG);	/* total 0 */
	expect_body(FRAME_SEGMENT, "0100ffffffffffffffffff0100" "aa", -EBADMSG); /* total huge */
	expect_body(FRAME_SEGMENT, "0100ffffffffffffffffff0200" "aa", -EBADMSG); /* 65+ bits */
	expect_body(FRAME_SEGMENT, "01ff", -EBADMSG);			/* cut varint */
	/* seg-ack: xid 1, cum 10, 2 ranges: gap 5 len 2 -> [15,17), gap 1 len 1 -> [18,19) */
	expect_body(FRAME_SEG_ACK, "010a02" "0502" "0101", 0);
	expect_body(FRAME_SEG_ACK, "010a00", 0);
	expect_body(FRAME_SEG_ACK, "010a02" "0502" "0001", -EBADMSG);	/* gap 0: adjacent */
	expect_body(FRAME_SEG_ACK, "010a01" "0500", -EBADMSG);		/* empty range */
	expect_body(FRAME_SEG_ACK, "010a02" "0502", -EBADMSG);		/* count says 2 */
	expect_body(FRAME_SEG_ACK, "010a09", -EBADMSG);			/* 9 > FRAME_SACK_MAX */
	expect_body(FRAME_SEG_ACK, "010a01" "0502" "00", -EBADMSG);	/* trailing */
	expect_body(FRAME_SEG_ACK, "01" "8080808010" "01" "0101", -EBADMSG);	/* end beyond 2^32 */
	/* commit-ack, abort */
	expect_body(FRAME_COMMIT_ACK, "ac02", 0);
	expect_body(FRAME_COMMIT_ACK, "00", -EBADMSG);
	expect_body(FRAME_COMMIT_ACK, "", -EBADMSG);
	expect_body(FRAME_COMMIT_ACK, "0101", -EBADMSG);
	expect_body(FRAME_ABORT, "0501", 0);
	expect_body(FRAME_ABORT, "05ff01", 0);
	expect_body(FRAME_ABORT, "0500", -EBADMSG);
	expect_body(FRAME_ABORT, "058002", -EBADMSG);			/* 256 */
	expect_body(FRAME_ABORT, "05", -EBADMSG);
	/* voice */
	expect_body(FRAME_VOICE, "030102" "fc", 0);
	expect_body(FRAME_VOICE, "030102", -EBADMSG);
	/* route: 2 entries */
	expect_body(FRAME_ROUTE, "02" "2a00" "09ffff03", 0);
	expect_body(FRAME_ROUTE, "02" "2a00" "2a01", -EBADMSG);		/* same node twice */
	expect_body(FRAME_ROUTE, "01" "2a808004", -EBADMSG);		/* cost 65536 */
	expect_body(FRAME_ROUTE, "00", -EBADMSG);
	expect_body(FRAME_ROUTE, "41", -EBADMSG);			/* 65 entries */
	expect_body(FRAME_ROUTE, "02" "2a00", -EBADMSG);
	/* beacon capabilities: compact with time base 1000; unknown bits keep the rest */
	expect_body(FRAME_BEACON, "2af80ab00900" "01e807", 0);
	expect_body(FRAME_BEACON, "2af80ab00900" "01", -EBADMSG);	/* no time base */
	expect_body(FRAME_BEACON, "2af80ab00900" "00", -EBADMSG);	/* caps 0 written */
	expect_body(FRAME_BEACON, "2af80ab00900" "01e80700", -EBADMSG);	/* trailing */
	expect_body(FRAME_BEACON, "2af80ab00900" "03e807" "c0ffee", 0);	/* a newer sender's */
	expect_body(FRAME_BEACON, "2af80ab00900" "02", 0);
	/* bundles: one (xid 5), or several: xid 5 (2 bytes), 6 (1 byte), jump to 3 (1 byte) */
	expect_body(FRAME_BUNDLES, "0a" "aabb", 0);
	expect_body(FRAME_BUNDLES, "0a", -EBADMSG);			/* no bundle */
	expect_body(FRAME_BUNDLES, "00" "aa", -EBADMSG);		/* xid 0 */
	expect_body(FRAME_BUNDLES, "0b" "04aabb" "02cc" "0307dd", 0);
	expect_body(FRAME_BUNDLES, "0b" "04aabb", -EBADMSG);		/* one entry written as several */
	expect_body(FRAME_BUNDLES, "0b" "05" "02aabb" "02cc", -EBADMSG);	/* the first one jumps */
	expect_body(FRAME_BUNDLES, "0b" "04aabb" "0300cc", -EBADMSG);	/* a jump of 0 */
	expect_body(FRAME_BUNDLES, "0b" "04aabb" "0301cc", -EBADMSG);	/* jump back to 5: twice */
	expect_body(FRAME_BUNDLES, "0b" "04aabb" "00", -EBADMSG);	/* empty entry */
	expect_body(FRAME_BUNDLES, "0b" "04aabb" "06cc", -EBADMSG);	/* entry past the end */
	expect_body(FRAME_BUNDLES, "0b" "04aabb" "030bcc", -EBADMSG);	/* jump to xid 0 */
	expect_body(FRAME_BUNDLES, "8080808080808001" "aa", -EBADMSG);	/* xid 2^48 */
	/* commits: 5, 6, 10 */
	expect_body(FRAME_COMMITS, "05" "00" "03", 0);
	expect_body(FRAME_COMMITS, "05", 0);
	expect_body(FRAME_COMMITS, "00", -EBADMSG);
	expect_body(FRAME_COMMITS, "", -EBADMSG);
	expect_body(FRAME_COMMITS, "05" "80", -EBADMSG);		/* cut */
	expect_body(FRAME_COMMITS, "ffffffffffff3f" "00", -EBADMSG);	/* past 2^48 - 1 */
	{
		char many[2 * (FRAME_COMMITS_MAX + 2)] = "01";

		for (int i = 1; i < FRAME_COMMITS_MAX; i++)
			strcat(many, "00");
		expect_body(FRAME_COMMITS, many, 0);
		strcat(many, "00");
		expect_body(FRAME_COMMITS, many, -EBADMSG);		/* 65 ids */
	}
	/* unknown type */
	expect_body(0, "00", -EBADMSG);
	expect_body(FRAME_TYPE_MAX + 1, "00", -EBADMSG);
}

/* The encoder refuses what the decoder would refuse. */
static void
test_encoder_refuses_invalid(void **state)
{
	struct frame_msg m;
	uint8_t buf[2048];

	example(FRAME_SEGMENT, &m);
	m.u.seg.off = m.u.seg.total;
	assert_int_equal(frame_body_encode(&m, buf, sizeof(buf)), -EINVAL);
	example(FRAME_SEG_ACK, &m);
	m.u.ack.sack[1].off = 7000;	/* adjacent to the range before */
	assert_int_equal(frame_body_encode(&m, buf, sizeof(buf)), -EINVAL);
	example(FRAME_BEACON, &m);
	m.u.beacon.name[0] = '\n';
	assert_int_equal(frame_body_encode(&m, buf, sizeof(buf)), -EINVAL);
	example(FRAME_VOICE, &m);
	m.u.voice.len = FRAME_VOICE_MAX + 1;
	assert_int_equal(frame_body_encode(&m, buf, sizeof(buf)), -EINVAL);
	example(FRAME_ROUTE, &m);
	m.u.route.e[2].cost = FRAME_COST_MAX + 1;
	assert_int_equal(frame_body_encode(&m, buf, sizeof(buf)), -EINVAL);
	example(FRAME_ABORT, &m);
	m.u.abort.reason = 0;
	assert_int_equal(frame_body_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.type = 0;
	assert_int_equal(frame_body_encode(&m, buf, sizeof(buf)), -EINVAL);
	example(FRAME_BUNDLES, &m);
	m.u.bundles.b[2].xid = 300;	/* twice */
	assert_int_equal(frame_body_encode(&m, buf, sizeof(buf)), -EINVAL);
	example(FRAME_BUNDLES, &m);
	m.u.bundles.b[1].len = 0;
	assert_int_equal(frame_body_encode(&m, buf, sizeof(buf)), -EINVAL);
	example(FRAME_COMMITS, &m);
	m.u.commits.xid[2] = 300;	/* not ascending */
	assert_int_equal(frame_body_encode(&m, buf, sizeof(buf)), -EINVAL);
	example(FRAME_COMMITS, &m);
	m.u.commits.xid[3] = UINT64_C(1) << 48;
	assert_int_equal(frame_body_encode(&m, buf, sizeof(buf)), -EINVAL);
	example(FRAME_BEACON, &m);
	m.u.beacon.caps = FRAME_CAP_COMPACT;
	m.u.beacon.ext_len = 1;		/* no unknown capability to own it */
	m.u.beacon.ext = payload;
	assert_int_equal(frame_body_encode(&m, buf, sizeof(buf)), -EINVAL);
	example(FRAME_SEGMENT, &m);
	assert_int_equal(frame_body_encode(&m, buf, 100), -EMSGSIZE);
}

/* A beacon must come from the node it names. */
static void
test_beacon_sender_mismatch(void **state)
{
	struct frame_rx rx = rx_new(0);
	struct frame_msg m;
	struct frame_hdr h = hdr(0);
	uint8_t buf[256];
	ssize_t n;

	example(FRAME_BEACON, &m);
	m.u.beacon.node = 43;
	n = frame_seal(buf, sizeof(buf), &h, &m, &ring.keys[1]);
	assert_true(n > 0);
	assert_int_equal(open_copy(&rx, buf, n), FRAME_DROP_MALFORMED);
	crypto_replay_free(rx.replay);
}

/* A newer boot of the sender resets its window; frames of the older boot are refused. */
static void
test_boot_change(void **state)
{
	struct frame_rx rx = rx_new(0);
	struct frame_msg m;
	struct frame_hdr h = { .sender = 5, .boot = 1, .counter = 1000 };
	uint8_t old[256], neu[256];
	ssize_t no, nn;

	example(FRAME_COMMIT_ACK, &m);
	no = frame_seal(old, sizeof(old), &h, &m, &ring.keys[1]);
	h.boot = 2;
	h.counter = 0;
	nn = frame_seal(neu, sizeof(neu), &h, &m, &ring.keys[1]);
	assert_int_equal(open_copy(&rx, old, no), FRAME_OK);
	assert_int_equal(open_copy(&rx, neu, nn), FRAME_OK);
	h.boot = 1;
	h.counter = 1001;
	no = frame_seal(old, sizeof(old), &h, &m, &ring.keys[1]);
	assert_int_equal(open_copy(&rx, old, no), FRAME_DROP_REPLAYED);
	crypto_replay_free(rx.replay);
}

/*
 * Causes of authentic-looking copies: a cut or corrupted copy of a frame
 * already seen is a bad tag, not a replay (only an exact copy is); a frame
 * from our own node id is counted as such, however often it comes back.
 */
static void
test_copies_and_own_frames(void **state)
{
	struct frame_rx rx = rx_new(0);
	uint8_t f[2048], g[2048];
	size_t n = seal(f, sizeof(f), FRAME_SEGMENT, 0, &ring.keys[1]);

	assert_int_equal(open_copy(&rx, f, n), FRAME_OK);
	assert_int_equal(open_copy(&rx, f, n), FRAME_DROP_REPLAYED);
	assert_int_equal(open_copy(&rx, f, n - 1), FRAME_DROP_BAD_TAG);
	assert_int_equal(open_copy(&rx, f, 7 + 16 + 1), FRAME_DROP_BAD_TAG);
	memcpy(g, f, n);
	g[n / 2] ^= 0x10;
	assert_int_equal(open_copy(&rx, g, n), FRAME_DROP_BAD_TAG);
	g[n / 2] ^= 0x10;
	g[n - 1] ^= 0x01;
	assert_int_equal(open_copy(&rx, g, n), FRAME_DROP_BAD_TAG);
	assert_int_equal(rx.count[FRAME_DROP_REPLAYED], 1);
	assert_int_equal(rx.count[FRAME_DROP_BAD_TAG], 4);

	/* Sender 42 is us now: its authentic frames are ours, fresh or not. */
	rx.self = 42;
	n = seal(f, sizeof(f), FRAME_COMMIT_ACK, 0, &ring.keys[1]);
	assert_int_equal(open_copy(&rx, f, n), FRAME_DROP_OWN);
	assert_int_equal(open_copy(&rx, f, n), FRAME_DROP_OWN);
	/* A forgery claiming our id is a bad tag like any other. */
	memcpy(g, f, n);
	g[n - 1] ^= 0x80;
	assert_int_equal(open_copy(&rx, g, n), FRAME_DROP_BAD_TAG);
	assert_int_equal(rx.count[FRAME_DROP_OWN], 2);
	/* Not recorded as ours in the window: another sender id opens it fine. */
	rx.self = 43;
	assert_int_equal(open_copy(&rx, f, n), FRAME_OK);
	crypto_replay_free(rx.replay);
}

/* Seal m from sender 42, boot 7 with this counter, in a compact envelope. */
static size_t
seal_compact(uint8_t *buf, size_t cap, const struct frame_msg *m, uint8_t flags, uint32_t counter,
    const struct crypto_key *key)
{
	struct frame_hdr h = { .flags = flags, .sender = 42, .boot = 7, .counter = counter, .compact = true };
	ssize_t n = frame_seal(buf, cap, &h, m, key);

	assert_true(n > 0);
	return (size_t)n;
}

/* The compact envelope: 4 bytes of header, boot and counter from the window, and its own drops. */
static void
test_compact_envelope(void **state)
{
	static const uint8_t modes[] = { 0, FRAME_F_TAG8, FRAME_F_AUTH_ONLY, FRAME_F_AUTH_ONLY | FRAME_F_TAG8 };
	uint8_t buf[2048], f[2048];
	struct frame_msg m, got;
	struct frame_hdr gh;
	size_t n;

	for (size_t mi = 0; mi < sizeof(modes); mi++) {
		struct frame_rx rx = rx_new(modes[mi]);
		uint32_t c = 0x1fff0;

		/* Nothing known of node 42 yet: its compact frames cannot be opened. */
		example(FRAME_COMMIT_ACK, &m);
		n = seal_compact(buf, sizeof(buf), &m, modes[mi], c, &ring.keys[1]);
		assert_int_equal(open_copy(&rx, buf, n), FRAME_DROP_UNKNOWN_SENDER);
		/* A full frame (a beacon) teaches boot 7 and counter c. */
		{
			struct frame_hdr h = { .flags = modes[mi], .sender = 42, .boot = 7, .counter = c };

			example(FRAME_BEACON, &m);
			n = frame_seal(buf, sizeof(buf), &h, &m, &ring.keys[1]);
			assert_int_equal(open_copy(&rx, buf, n), FRAME_OK);
		}
		for (unsigned type = 2; type <= FRAME_TYPE_MAX; type++) {
			ssize_t blen;

			example(type, &m);
			c += 7;		/* across the 16-bit boundary at 0x20000 */
			n = seal_compact(buf, sizeof(buf), &m, modes[mi], c, &ring.keys[type & 1]);
			blen = frame_body_encode(&m, NULL, 0);
			/* 1 byte of type/key/flags, sender 42, 16 counter bits; the tag the link chose. */
			assert_int_equal(n, 4 + blen + (modes[mi] & FRAME_F_TAG8 ? 8 : 16));
			assert_int_equal(buf[0], FRAME_COMPACT | type << 3 | (ring.keys[type & 1].id & 1) << 2 | modes[mi]);
			assert_int_equal(buf[1], 42);
			assert_int_equal(buf[2] << 8 | buf[3], c & 0xffff);
			assert_true(n <= (size_t)blen + frame_overhead(modes[mi]));
			memcpy(f, buf, n);
			assert_int_equal(frame_open(&rx, buf, n, &gh, &got), FRAME_OK);
			assert_true(gh.compact);
			assert_int_equal(gh.type, type);
			assert_int_equal(gh.sender, 42);
			assert_int_equal(gh.boot, 7);
			assert_int_equal(gh.counter, c);
			assert_int_equal(gh.key_id, ring.keys[type & 1].id);
			assert_int_equal(gh.flags, modes[mi]);
			assert_same(&m, &got);
			assert_int_equal(open_copy(&rx, f, n), FRAME_DROP_REPLAYED);
		}
		assert_true(c > 0x20000);
		/* Older than the window but within 16 bits: resolved, then too old. */
		example(FRAME_COMMIT_ACK, &m);
		n = seal_compact(buf, sizeof(buf), &m, modes[mi], c - 100, &ring.keys[1]);
		assert_int_equal(open_copy(&rx, buf, n), FRAME_DROP_REPLAYED);
		/* Far ahead: the low bits resolve to another counter, so the tag fails. */
		n = seal_compact(buf, sizeof(buf), &m, modes[mi], c + 40000, &ring.keys[1]);
		assert_int_equal(open_copy(&rx, buf, n), FRAME_DROP_BAD_TAG);
		/* Not far ahead: fine. */
		n = seal_compact(buf, sizeof(buf), &m, modes[mi], c + 30000, &ring.keys[1]);
		assert_int_equal(open_copy(&rx, buf, n), FRAME_OK);
		crypto_replay_free(rx.replay);
	}

	{
		struct frame_rx rx = rx_new(FRAME_F_TAG8);
		struct frame_rx rx16 = rx_new(0);
		struct frame_hdr h = { .flags = FRAME_F_TAG8, .sender = 42, .boot = 7, .counter = 5 };
		struct crypto_keyring even;
		struct crypto_key k3 = { .id = 3 };
		uint8_t b0;

		example(FRAME_BEACON, &m);
		n = frame_seal(buf, sizeof(buf), &h, &m, &ring.keys[1]);
		assert_int_equal(open_copy(&rx, buf, n), FRAME_OK);
		h.flags = 0;
		n = frame_seal(buf, sizeof(buf), &h, &m, &ring.keys[1]);
		assert_int_equal(open_copy(&rx16, buf, n), FRAME_OK);
		/* A beacon never travels compact: it is what teaches the boot counter. */
		h.compact = true;
		assert_int_equal(frame_seal(buf, sizeof(buf), &h, &m, &ring.keys[1]), -EINVAL);

		example(FRAME_COMMITS, &m);
		/* The tag length is the link's: an 8-byte-tag frame on a 16-byte link is refused. */
		n = seal_compact(buf, sizeof(buf), &m, FRAME_F_TAG8, 6, &ring.keys[1]);
		assert_int_equal(open_copy(&rx16, buf, n), FRAME_DROP_POLICY);
		assert_int_equal(open_copy(&rx, buf, n), FRAME_OK);
		/* A key we do not have behind a known parity: tried, tag fails. */
		memset(k3.key, 0x77, sizeof(k3.key));
		n = seal_compact(buf, sizeof(buf), &m, FRAME_F_TAG8, 7, &k3);
		assert_int_equal(open_copy(&rx, buf, n), FRAME_DROP_BAD_TAG);
		/* No key with that parity at all. */
		crypto_keyring_init(&even);
		crypto_keyring_add(&even, 2, ring.keys[1].key, false);
		rx.keys = &even;
		n = seal_compact(buf, sizeof(buf), &m, FRAME_F_TAG8, 8, &ring.keys[0]);
		assert_int_equal(open_copy(&rx, buf, n), FRAME_DROP_UNKNOWN_KEY);
		n = seal_compact(buf, sizeof(buf), &m, FRAME_F_TAG8, 9, &ring.keys[1]);
		assert_int_equal(open_copy(&rx, buf, n), FRAME_OK);
		rx.keys = &ring;
		/* Types a compact envelope cannot hold. */
		n = seal_compact(buf, sizeof(buf), &m, FRAME_F_TAG8, 10, &ring.keys[1]);
		memcpy(f, buf, n);
		b0 = buf[0];
		for (unsigned t = 0; t < 16; t++) {
			if (t >= 2 && t <= FRAME_TYPE_MAX)
				continue;
			f[0] = (uint8_t)((b0 & 0x87) | t << 3);
			assert_int_equal(open_copy(&rx, f, n), FRAME_DROP_BAD_TYPE);
		}
		/* Cut anywhere: never opened. */
		for (size_t len = 0; len < n; len++) {
			enum frame_drop d = open_copy(&rx, buf, len);

			assert_true(d == FRAME_DROP_TRUNCATED || d == FRAME_DROP_BAD_TAG);
		}
		assert_int_equal(open_copy(&rx, buf, n), FRAME_OK);
		/* Every bit flipped: never opened. */
		n = seal_compact(buf, sizeof(buf), &m, FRAME_F_TAG8, 11, &ring.keys[1]);
		for (size_t bit = 0; bit < n * 8; bit++) {
			memcpy(f, buf, n);
			f[bit / 8] ^= (uint8_t)(1 << bit % 8);
			assert_int_not_equal(open_copy(&rx, f, n), FRAME_OK);
		}
		assert_int_equal(open_copy(&rx, buf, n), FRAME_OK);
		crypto_replay_free(rx.replay);
		crypto_replay_free(rx16.replay);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_all_types_all_modes),
		cmocka_unit_test(test_overhead),
		cmocka_unit_test(test_every_drop_cause),
		cmocka_unit_test(test_forged_frames),
		cmocka_unit_test(test_replay_order),
		cmocka_unit_test(test_body_decoders_strict),
		cmocka_unit_test(test_encoder_refuses_invalid),
		cmocka_unit_test(test_beacon_sender_mismatch),
		cmocka_unit_test(test_boot_change),
		cmocka_unit_test(test_copies_and_own_frames),
		cmocka_unit_test(test_compact_envelope),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
