/*
 * test_bundle.c - BPv7 codec: CRCs, EIDs, the two uD3TN bundles, round
 * trips of every block kind, head/tail streaming, and every rejection path
 * with a crafted input, plus every single-byte corruption and truncation of
 * valid bundles.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testdata.h"
#include "bundle.h"
#include "cbor.h"
#include "service.h"

/* Hex with optional spaces to bytes; returns the length. */
static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	while (*hex != '\0') {
		if (*hex == ' ') {
			hex++;
			continue;
		}
		assert_int_equal(sscanf(hex, "%2x", &v), 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

/* Decode a malloc'd exact-size copy, so ASan sees any over-read. */
static int
decode_copy(struct bundle *b, const uint8_t *p, size_t n, const char **why, uint8_t **keep)
{
	uint8_t *c = malloc(n ? n : 1);
	int e;

	assert_non_null(c);
	memcpy(c, p, n);
	*why = NULL;
	e = bundle_decode(b, c, n, why);
	if (keep != NULL)
		*keep = c;
	else
		free(c);
	return e;
}

static bool
bundles_equal(const struct bundle *a, const struct bundle *b)
{
	if (a->flags != b->flags || a->crc_type != b->crc_type ||
	    !eid_equal(&a->dst, &b->dst) || !eid_equal(&a->src, &b->src) ||
	    !eid_equal(&a->report_to, &b->report_to) || a->ctime != b->ctime ||
	    a->seq != b->seq || a->lifetime != b->lifetime)
		return false;
	if ((a->flags & BF_IS_FRAGMENT) &&
	    (a->frag_offset != b->frag_offset || a->adu_len != b->adu_len))
		return false;
	if (a->has_prev != b->has_prev || (a->has_prev && !eid_equal(&a->prev, &b->prev)))
		return false;
	if (a->has_age != b->has_age || (a->has_age && a->age != b->age))
		return false;
	if (a->has_hop != b->has_hop || (a->has_hop &&
	    (a->hop_limit != b->hop_limit || a->hop_count != b->hop_count)))
		return false;
	if (a->priority != b->priority || a->n_other != b->n_other)
		return false;
	for (size_t i = 0; i < a->n_other; i++) {
		const struct bundle_block *x = &a->other[i], *y = &b->other[i];

		if (x->type != y->type || x->number != y->number || x->flags != y->flags ||
		    x->crc_type != y->crc_type || x->len != y->len ||
		    (x->len && memcmp(x->data, y->data, x->len) != 0))
			return false;
	}
	return a->payload_flags == b->payload_flags && a->payload_crc == b->payload_crc &&
	    a->payload_len == b->payload_len &&
	    (a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0);
}

/* Encode into a new exact-size buffer. */
static uint8_t *
encode_new(const struct bundle *b, size_t *len)
{
	ssize_t n = bundle_encode(b, NULL, 0);
	uint8_t *buf;

	assert_true(n > 0);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(bundle_encode(b, buf, (size_t)n), n);
	*len = (size_t)n;
	return buf;
}

/*
 * encode -> decode gives back b; encoding the decoded bundle gives the same
 * bytes; and head || payload || tail is the same bytes too.
 */
static void
roundtrip(const struct bundle *b)
{
	struct bundle d;
	const char *why = NULL;
	size_t len, len2;
	uint8_t *buf = encode_new(b, &len), *buf2, *s;
	ssize_t h, t;
	int e;

	e = bundle_decode(&d, buf, len, &why);
	if (e != 0)
		fail_msg("decode of our own encoding: %s", why);
	assert_true(bundles_equal(b, &d));
	buf2 = encode_new(&d, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	if (b->payload_crc == CRC_NONE) {
		h = bundle_encode_head(b, NULL, 0);
		t = bundle_encode_tail(b, NULL, 0);
		assert_true(h > 0 && t > 0);
		assert_int_equal((size_t)h + b->payload_len + (size_t)t, len);
		s = malloc(len);
		assert_non_null(s);
		assert_int_equal(bundle_encode_head(b, s, (size_t)h), h);
		if (b->payload_len)
			memcpy(s + h, b->payload, b->payload_len);
		assert_int_equal(bundle_encode_tail(b, s + h + b->payload_len, (size_t)t), t);
		assert_memory_equal(s, buf, len);
		free(s);
	} else {
		assert_int_equal(bundle_encode_head(b, NULL, 0), -EINVAL);
		assert_int_equal(bundle_encode_tail(b, NULL, 0), -EINVAL);
	}
	free(buf);
	free(buf2);
}

static void
test_crc_check_values(void **state)
{
	const uint8_t *check = (const uint8_t *)"123456789";
	uint8_t v[256];

	/* The catalogued check values of CRC-16/X.25 and CRC-32C. */
	assert_int_equal(crc16_x25(check, 9), 0x906e);
	assert_int_equal(crc32c(check, 9), 0xe3069283);
	assert_int_equal(crc16_x25(check, 0), 0x0000);
	assert_int_equal(crc32c(check, 0), 0x00000000);

	/* RFC 3720 B.4's CRC-32C vectors, which touch every table entry. */
	memset(v, 0, 32);
	assert_int_equal(crc32c(v, 32), 0x8a9136aa);
	assert_int_equal(crc16_x25(v, 32), 0xcd70);
	memset(v, 0xff, 32);
	assert_int_equal(crc32c(v, 32), 0x62a8ab43);
	assert_int_equal(crc16_x25(v, 32), 0xe051);
	for (int i = 0; i < 32; i++)
		v[i] = (uint8_t)i;
	assert_int_equal(crc32c(v, 32), 0x46dd794e);
	assert_int_equal(crc16_x25(v, 32), 0x53e4);
	for (int i = 0; i < 32; i++)
		v[i] = (uint8_t)(31 - i);
	assert_int_equal(crc32c(v, 32), 0x113fdb5c);
	assert_int_equal(crc16_x25(v, 32), 0xc275);
	for (int i = 0; i < 256; i++)
		v[i] = (uint8_t)i;
	assert_int_equal(crc32c(v, 256), 0x9c44184b);
	assert_int_equal(crc16_x25(v, 256), 0x303c);
}

static void
test_eid_parse_format(void **state)
{
	static const char *const good[] = {
		"ipn:3.5", "ipn:0.0", "ipn:18446744073709551615.18446744073709551615",
		"dtn:none", "dtn://a.dtn/src", "dtn://node/", "dtn://n/a/b~c?d=e",
	};
	static const char *const bad[] = {
		"", "ipn:", "ipn:1", "ipn:1.", "ipn:.1", "ipn:1.2.3", "ipn:-1.2",
		"ipn:+1.2", "ipn: 1.2", "ipn:1.2 ", "ipn:18446744073709551616.1", "ipn:1x.2",
		"dtn:", "dtn:/x", "dtn://", "dtn:///x", "dtn://node", "dtn://no de/x",
		"dtn:nonex", "dtn:none/", "dtn:NONE", "http://x/y", "DTN://a/b", "dtn://a/\x7f",
	};
	char buf[BUNDLE_EID_MAX + 8], text[BUNDLE_EID_MAX + 8];
	struct eid e, f;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(eid_parse(&e, good[i]), 0);
		assert_int_equal(eid_format(&e, buf, sizeof(buf)), (int)strlen(good[i]));
		assert_string_equal(buf, good[i]);
		assert_int_equal(eid_parse(&f, buf), 0);
		assert_true(eid_equal(&e, &f));
	}
	eid_ipn(&f, 77, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = f;
		if (eid_parse(&e, bad[i]) != -EINVAL)
			fail_msg("eid_parse accepted \"%s\"", bad[i]);
		assert_true(eid_equal(&e, &f));	/* untouched on failure */
	}

	assert_int_equal(eid_parse(&e, "ipn:3.5"), 0);
	assert_int_equal(e.scheme, EID_IPN);
	assert_int_equal(e.node, 3);
	assert_int_equal(e.service, 5);
	assert_int_equal(eid_parse(&e, "dtn:none"), 0);
	assert_int_equal(e.scheme, EID_DTN);
	assert_string_equal(e.dtn, "none");
	eid_ipn(&f, 3, 5);
	assert_false(eid_equal(&e, &f));
	assert_int_equal(eid_parse(&e, "ipn:3.6"), 0);
	assert_false(eid_equal(&e, &f));

	/* The longest dtn EID fits BUNDLE_EID_MAX with its NUL; one more does not. */
	memset(text, 'a', sizeof(text));
	memcpy(text, "dtn://n/", 8);
	text[BUNDLE_EID_MAX - 1] = '\0';
	assert_int_equal(eid_parse(&e, text), 0);
	assert_int_equal(eid_format(&e, buf, sizeof(buf)), BUNDLE_EID_MAX - 1);
	text[BUNDLE_EID_MAX - 1] = 'a';
	text[BUNDLE_EID_MAX] = '\0';
	assert_int_equal(eid_parse(&e, text), -EINVAL);

	/* eid_format truncates like snprintf. */
	assert_int_equal(eid_parse(&e, "ipn:123.456"), 0);
	assert_int_equal(eid_format(&e, buf, 5), 11);
	assert_string_equal(buf, "ipn:");
}

static void
check_ud3tn(const char *name, size_t size, uint64_t ctime, const uint8_t *payload, size_t plen)
{
	struct bundle b;
	struct bundle_block blocks[BUNDLE_MAX_BLOCKS + 1];
	const char *why = NULL;
	char id[BUNDLE_ID_MAX];
	size_t len, len2;
	uint8_t *buf = test_data_read("bpv7", name, 4096, &len), *again;

	assert_int_equal(len, size);
	if (bundle_decode(&b, buf, len, &why) != 0)
		fail_msg("%s: %s", name, why);
	assert_int_equal(b.flags, 0);
	assert_int_equal(b.crc_type, CRC_16);
	assert_int_equal(b.dst.scheme, EID_DTN);
	assert_string_equal(b.dst.dtn, "//b.dtn/sink");
	assert_int_equal(b.src.scheme, EID_DTN);
	assert_string_equal(b.src.dtn, "//a.dtn/src");
	assert_int_equal(b.report_to.scheme, EID_DTN);
	assert_string_equal(b.report_to.dtn, "none");
	assert_int_equal(b.ctime, ctime);
	assert_int_equal(b.seq, 1);
	assert_int_equal(b.lifetime, 86400000);
	assert_false(b.has_prev || b.has_age || b.has_hop);
	assert_int_equal(b.priority, -1);
	assert_int_equal(b.n_other, 0);
	assert_int_equal(b.payload_flags, 0);
	assert_int_equal(b.payload_crc, CRC_NONE);
	assert_int_equal(b.payload_len, plen);
	assert_memory_equal(b.payload, payload, plen);
	assert_int_equal(bundle_blocks(buf, len, blocks, BUNDLE_MAX_BLOCKS + 1, &why), 1);
	assert_int_equal(blocks[0].type, BLOCK_PAYLOAD);
	assert_int_equal(blocks[0].number, 1);

	assert_int_equal(bundle_id(&b, id, sizeof(id)), 0);
	{
		char want[BUNDLE_ID_MAX];

		snprintf(want, sizeof(want), "dtn://a.dtn/src %llu 1", (unsigned long long)ctime);
		assert_string_equal(id, want);
	}

	/* Same fields, same deterministic CBOR: we re-encode it byte for byte. */
	again = encode_new(&b, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, buf, len);
	free(again);
	free(buf);
}

static void
test_ud3tn_bundles(void **state)
{
	uint8_t big[1024];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	check_ud3tn("dtn-mtcp-a2b-01.bpv7", 78, 849234522930ULL,
	    (const uint8_t *)"Hello uD3TN dtn", 15);
	check_ud3tn("dtn-mtcp-a2b-02.bpv7", 1089, 849234523044ULL, big, sizeof(big));
}

static const uint8_t other_data[3][5] = {
	{ 0x82, 0x01, 0x02 }, { 0xde, 0xad, 0xbe, 0xef, 0x00 }, { 0 },
};

/* A bundle with every kind of block, varied by the arguments. */
static void
full_bundle(struct bundle *b, int crc, bool dtn, bool frag, const uint8_t *payload, size_t plen)
{
	bundle_init(b);
	b->crc_type = (uint8_t)crc;
	b->flags = BF_NO_FRAGMENT | BF_RPT_DELIVERY | BF_STATUS_TIME;
	if (dtn) {
		assert_int_equal(eid_parse(&b->dst, "dtn://b.dtn/sink"), 0);
		assert_int_equal(eid_parse(&b->src, "dtn://a.dtn/src"), 0);
		assert_int_equal(eid_parse(&b->report_to, "dtn:none"), 0);
		assert_int_equal(eid_parse(&b->prev, "dtn://relay.dtn/"), 0);
	} else {
		eid_ipn(&b->dst, 2, SVC_MESSAGE);
		eid_ipn(&b->src, UINT64_MAX, 1);
		eid_ipn(&b->report_to, 1, 0);
		eid_ipn(&b->prev, 300, 0);
	}
	b->ctime = 849234522930ULL;
	b->seq = 1ULL << 40;
	b->lifetime = 3600000;
	if (frag) {
		b->flags = (b->flags & ~(uint64_t)BF_NO_FRAGMENT) | BF_IS_FRAGMENT;
		b->frag_offset = 1000;
		b->adu_len = 1000 + plen + 7;
	}
	b->has_prev = true;
	b->has_age = true;
	b->age = 123456;
	b->hop_limit = 255;
	b->hop_count = 254;
	b->priority = PRIO_BULK;
	/* Others' blocks whose numbers ours must step around. */
	b->n_other = 3;
	b->other[0] = (struct bundle_block){ 200, 2, BLF_REPLICATE, CRC_16, other_data[0], 3 };
	b->other[1] = (struct bundle_block){ 11, 4, BLF_DISCARD, CRC_32C, other_data[1], 5 };
	b->other[2] = (struct bundle_block){ 255, UINT64_MAX, 0, CRC_NONE, other_data[2], 0 };
	b->payload = payload;
	b->payload_len = plen;
}

static void
test_roundtrip(void **state)
{
	uint8_t payload[300];
	struct bundle b;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	for (int crc = CRC_NONE; crc <= CRC_32C; crc++)
		for (int dtn = 0; dtn < 2; dtn++)
			for (int frag = 0; frag < 2; frag++)
				for (int pcrc = CRC_NONE; pcrc <= CRC_32C; pcrc++)
					for (size_t plen = 0; plen <= sizeof(payload); plen += 150) {
						full_bundle(&b, crc, dtn, frag, payload, plen);
						b.payload_crc = (uint8_t)pcrc;
						roundtrip(&b);
					}

	/* The minimum: no extension blocks at all, clock-less with age only. */
	bundle_init(&b);
	b.has_hop = false;
	b.priority = -1;
	b.has_age = true;
	b.age = 0;
	roundtrip(&b);

	/* Our blocks take the lowest numbers others leave free. */
	full_bundle(&b, CRC_32C, false, false, payload, 10);
	{
		struct bundle_block list[BUNDLE_MAX_BLOCKS + 1];
		const char *why;
		size_t len;
		uint8_t *buf = encode_new(&b, &len);
		static const uint64_t want[][2] = {
			{ BLOCK_PREVIOUS_NODE, 3 }, { BLOCK_BUNDLE_AGE, 5 }, { BLOCK_HOP_COUNT, 6 },
			{ BLOCK_PRIORITY, 7 }, { 200, 2 }, { 11, 4 }, { 255, UINT64_MAX },
			{ BLOCK_PAYLOAD, 1 },
		};

		assert_int_equal(bundle_blocks(buf, len, list, BUNDLE_MAX_BLOCKS + 1, &why), 8);
		for (size_t i = 0; i < 8; i++) {
			assert_int_equal(list[i].type, want[i][0]);
			assert_int_equal(list[i].number, want[i][1]);
		}
		/* cap limits what is filled in, not the count. */
		assert_int_equal(bundle_blocks(buf, len, list, 2, &why), 8);
		/* Framing: indefinite outer array. */
		assert_int_equal(buf[0], 0x9f);
		assert_int_equal(buf[len - 1], 0xff);
		free(buf);
	}
}

static void
test_stream_large(void **state)
{
	size_t plen = 16u << 20, len;
	uint8_t *payload = malloc(plen), *whole, *s;
	struct bundle b;
	ssize_t h, t;

	assert_non_null(payload);
	for (size_t i = 0; i < plen; i++)
		payload[i] = (uint8_t)(i ^ i >> 8);
	full_bundle(&b, CRC_32C, false, false, payload, plen);
	whole = encode_new(&b, &len);
	h = bundle_encode_head(&b, NULL, 0);
	t = bundle_encode_tail(&b, NULL, 0);
	assert_int_equal(t, 1);
	assert_int_equal((size_t)h + plen + (size_t)t, len);
	s = malloc(len);
	assert_non_null(s);
	/* The head does not read b->payload. */
	b.payload = NULL;
	assert_int_equal(bundle_encode_head(&b, s, (size_t)h), h);
	memcpy(s + h, payload, plen);
	assert_int_equal(bundle_encode_tail(&b, s + h + plen, (size_t)t), t);
	assert_memory_equal(s, whole, len);
	assert_int_equal(bundle_encode(&b, NULL, 0), -EINVAL);	/* payload NULL */
	b.payload = payload;
	roundtrip(&b);

	/* Too small buffers. */
	assert_int_equal(bundle_encode_head(&b, s, (size_t)h - 1), -ENOSPC);
	assert_int_equal(bundle_encode_tail(&b, s, 0), -ENOSPC);

	/* A payload that makes the bundle exceed BUNDLE_MAX_SIZE. */
	b.payload_len = BUNDLE_MAX_SIZE - (size_t)h + 1;
	b.payload = NULL;
	assert_int_equal(bundle_encode_head(&b, NULL, 0), -EMSGSIZE);
	b.payload_len = SIZE_MAX;
	assert_int_equal(bundle_encode_head(&b, NULL, 0), -EMSGSIZE);
	free(s);
	free(whole);
	free(payload);
}

static void
test_encode_buffer_sizes(void **state)
{
	uint8_t payload[40] = "payload", buf[512], want[512];
	struct bundle b;
	ssize_t n, r;

	full_bundle(&b, CRC_16, true, false, payload, sizeof(payload));
	n = bundle_encode(&b, NULL, 0);
	assert_true(n > 0 && (size_t)n < sizeof(buf) - 16);
	assert_int_equal(bundle_encode(&b, want, sizeof(want)), n);
	for (size_t cap = 0; cap < (size_t)n; cap++) {
		memset(buf, 0xa5, sizeof(buf));
		assert_int_equal(bundle_encode(&b, buf, cap), -ENOSPC);
		/* Nothing written at all on -ENOSPC. */
		for (size_t i = 0; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0xa5);
	}
	memset(buf, 0xa5, sizeof(buf));
	r = bundle_encode(&b, buf, (size_t)n);
	assert_int_equal(r, n);
	assert_memory_equal(buf, want, (size_t)n);
	assert_int_equal(buf[n], 0xa5);
}

static void
test_encode_invalid(void **state)
{
	uint8_t payload[4] = "abc";
	struct bundle b, ok;

	full_bundle(&ok, CRC_32C, false, false, payload, 3);
	assert_true(bundle_encode(&ok, NULL, 0) > 0);

#define BAD(change, err) do {						\
	b = ok;								\
	change;								\
	assert_int_equal(bundle_encode(&b, NULL, 0), err);		\
	assert_int_equal(bundle_encode_head(&b, NULL, 0), err);	\
} while (0)
	BAD(b.crc_type = 3, -EINVAL);
	BAD(b.payload_crc = 3, -EINVAL);
	BAD(b.dst.scheme = 3, -EINVAL);
	BAD(b.src.scheme = 0, -EINVAL);
	BAD((b.report_to.scheme = EID_DTN, strcpy(b.report_to.dtn, "nonsense")), -EINVAL);
	BAD((b.prev.scheme = EID_DTN, memset(b.prev.dtn, 'a', sizeof(b.prev.dtn))), -EINVAL);
	BAD(b.hop_limit = 0, -EINVAL);
	BAD(b.hop_limit = 256, -EINVAL);
	BAD(b.priority = PRIO_COUNT, -EINVAL);
	BAD(b.priority = -2, -EINVAL);
	BAD((b.ctime = 0, b.has_age = false), -EINVAL);
	BAD((b.flags |= BF_IS_FRAGMENT, b.frag_offset = 5, b.adu_len = 7), -EINVAL);
	BAD((b.flags |= BF_IS_FRAGMENT, b.frag_offset = 8, b.adu_len = 7), -EINVAL);
	BAD(b.other[0].number = 0, -EINVAL);
	BAD(b.other[0].number = 1, -EINVAL);
	BAD(b.other[1].number = b.other[0].number, -EINVAL);
	BAD(b.other[0].type = 0, -EINVAL);
	BAD(b.other[0].type = BLOCK_PAYLOAD, -EINVAL);
	BAD(b.other[0].type = BLOCK_HOP_COUNT, -EINVAL);
	BAD(b.other[0].type = BLOCK_PRIORITY, -EINVAL);
	BAD(b.other[0].crc_type = 9, -EINVAL);
	BAD(b.other[0].data = NULL, -EINVAL);
	BAD(b.n_other = BUNDLE_MAX_BLOCKS - 3, -EINVAL);	/* 4 of ours + 13 */
	BAD(b.payload_len = BUNDLE_MAX_SIZE + 1, -EMSGSIZE);
#undef BAD
	b = ok;
	b.payload = NULL;
	assert_int_equal(bundle_encode(&b, NULL, 0), -EINVAL);
	assert_true(bundle_encode_head(&b, NULL, 0) > 0);
	b = ok;
	b.n_other = BUNDLE_MAX_BLOCKS - 4;
	for (size_t i = 3; i < b.n_other; i++)
		b.other[i] = (struct bundle_block){ 220, 100 + i, 0, 0, NULL, 0 };
	roundtrip(&b);
}

static void
test_bundle_id(void **state)
{
	struct bundle b;
	char id[BUNDLE_ID_MAX];

	bundle_init(&b);
	eid_ipn(&b.src, 12, 3);
	b.ctime = 5000;
	b.seq = 42;
	assert_int_equal(bundle_id(&b, id, sizeof(id)), 0);
	assert_string_equal(id, "ipn:12.3 5000 42");
	assert_int_equal(bundle_id(&b, id, 16), -ENOSPC);
	assert_int_equal(bundle_id(&b, id, 17), 0);
	b.flags |= BF_IS_FRAGMENT;
	b.frag_offset = 1024;
	b.adu_len = 4096;
	b.payload_len = 512;
	assert_int_equal(bundle_id(&b, id, sizeof(id)), 0);
	assert_string_equal(id, "ipn:12.3 5000 42 1024 512 4096");
	/* The longest possible identity fits BUNDLE_ID_MAX. */
	memset(b.src.dtn, 'x', sizeof(b.src.dtn));
	memcpy(b.src.dtn, "//n/", 4);
	b.src.dtn[BUNDLE_EID_MAX - 5] = '\0';
	b.src.scheme = EID_DTN;
	b.ctime = b.seq = b.frag_offset = b.adu_len = b.payload_len = UINT64_MAX;
	assert_int_equal(bundle_id(&b, id, sizeof(id)), 0);
}

/*
 * Crafted inputs.  P is a CRC-less primary block: ipn:2.1 <- ipn:1.1,
 * report-to dtn:none, created at DTN time 1000, sequence 0, lifetime 1 h.
 */
#define P_HEAD	"88 07 00 00"
#define P_DST	"82 02 82 02 01"
#define P_SRC	"82 02 82 01 01"
#define P_RPT	"82 01 00"
#define P_TS	"82 19 03 e8 00"
#define P_LIFE	"1a 00 36 ee 80"
#define P	P_HEAD P_DST P_SRC P_RPT P_TS P_LIFE
#define PAY	"85 01 01 00 00 43 61 62 63"
#define UNK2	"85 18 c8 02 00 00 41 00"
#define UNK3	"85 18 c8 03 00 00 41 00"

struct crafted {
	const char *name, *hex;
	int err;
	const char *why;	/* a substring of the reason */
};

static const struct crafted rejects[] = {
	{ "version 6", "9f 88 06 00 00" P_DST P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EPROTONOSUPPORT, "version" },
	{ "version 8", "9f 88 08 00 00" P_DST P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EPROTONOSUPPORT, "version" },
	{ "BPv6", "06 81 10 00", EPROTONOSUPPORT, "BPv6" },
	{ "not an array", "a1 01 02", EBADMSG, "not a CBOR array" },
	{ "empty", "", EBADMSG, "empty" },
	{ "no blocks", "9f ff", EBADMSG, "no primary" },
	{ "no blocks definite", "80", EBADMSG, "no primary" },
	{ "trailing byte", "9f" P PAY "ff 00", EBADMSG, "trailing" },
	{ "trailing bundle", "82" P PAY "82" P PAY, EBADMSG, "trailing" },
	{ "missing break", "9f" P PAY, EBADMSG, "truncated" },
	{ "definite count short", "83" P PAY, EBADMSG, "truncated" },
	{ "non-minimal version", "9f 88 18 07 00 00" P_DST P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "non-minimal" },
	{ "non-minimal lifetime", "9f" P_HEAD P_DST P_SRC P_RPT P_TS "1b 00 00 00 00 00 36 ee 80"
	    PAY "ff", EBADMSG, "non-minimal" },
	{ "non-minimal string length", "9f" P "85 01 01 00 00 58 03 61 62 63 ff",
	    EBADMSG, "non-minimal" },
	{ "non-minimal array head", "9f 98 08 07 00 00" P_DST P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "non-minimal" },
	{ "reserved additional info", "9f" P "85 01 01 00 00 5c ff", EBADMSG, "reserved" },
	{ "stray break", "9f" P "85 01 01 00 ff 43 61 62 63 ff", EBADMSG, "break" },
	{ "indefinite uint", "9f 88 07 1f 00" P_DST P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "indefinite" },
	{ "nesting too deep", "9f" P_HEAD "82 02 82 81 01 01" P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EMSGSIZE, "nested too deep" },
	{ "nesting too deep in a block", "9f" P "85 18 c8 02 00 00 81 81 81 81 00" PAY "ff",
	    EMSGSIZE, "nested too deep" },
	{ "primary not an array", "9f 01" PAY "ff", EBADMSG, "primary block is not an array" },
	{ "flags not uint", "9f 88 07 40 00" P_DST P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "processing flags" },
	{ "version not uint", "9f 88 61 37 00 00" P_DST P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "version is not" },
	{ "version float", "9f 88 f9 47 00 00 00" P_DST P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "version is not" },
	{ "unknown primary CRC type", "9f 88 07 00 03" P_DST P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "unknown CRC type" },
	{ "primary CRC wrong length", "9f 89 07 00 01" P_DST P_SRC P_RPT P_TS P_LIFE
	    "44 00 00 00 00" PAY "ff", EBADMSG, "CRC is not" },
	{ "primary CRC missing", "9f 88 07 00 01" P_DST P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "too few fields" },
	{ "EID not an array", "9f" P_HEAD "01" P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "destination EID is not" },
	{ "EID too long an array", "9f" P_HEAD "83 02 82 02 01 00" P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "destination EID is not" },
	{ "EID scheme 3", "9f" P_HEAD "82 03 00" P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "destination EID has an unknown scheme" },
	{ "EID scheme 0", "9f" P_HEAD P_DST "82 00 00" P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "source EID has an unknown scheme" },
	{ "EID scheme text", "9f" P_HEAD P_DST P_SRC "82 63 64 74 6e 00" P_TS P_LIFE PAY "ff",
	    EBADMSG, "report-to EID is not" },
	{ "ipn negative node", "9f" P_HEAD "82 02 82 20 01" P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "ipn EID" },
	{ "ipn text service", "9f" P_HEAD P_DST "82 02 82 01 61 31" P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "ipn EID" },
	{ "ipn three parts", "9f" P_HEAD P_DST "82 02 83 01 01 01" P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "ipn EID" },
	{ "ipn one part", "9f" P_HEAD P_DST "82 02 81 01" P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "ipn EID" },
	{ "ipn not an array", "9f" P_HEAD P_DST "82 02 01" P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "ipn EID" },
	{ "dtn none as text", "9f" P_HEAD P_DST P_SRC "82 01 64 6e 6f 6e 65" P_TS P_LIFE PAY "ff",
	    EBADMSG, "report-to dtn EID is malformed" },
	{ "dtn uint 1", "9f" P_HEAD P_DST P_SRC "82 01 01" P_TS P_LIFE PAY "ff",
	    EBADMSG, "report-to dtn EID is malformed" },
	{ "dtn without demux slash", "9f" P_HEAD "82 01 63 2f 2f 61" P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "destination dtn EID is malformed" },
	{ "dtn with a NUL", "9f" P_HEAD "82 01 65 2f 2f 61 2f 00" P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "destination dtn EID is malformed" },
	{ "dtn bytes not text", "9f" P_HEAD "82 01 44 2f 2f 61 2f" P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "destination dtn EID is malformed" },
	{ "timestamp not an array", "9f" P_HEAD P_DST P_SRC P_RPT "19 03 e8" P_LIFE PAY "ff",
	    EBADMSG, "creation timestamp" },
	{ "timestamp three parts", "9f" P_HEAD P_DST P_SRC P_RPT "83 01 02 03" P_LIFE PAY "ff",
	    EBADMSG, "creation timestamp" },
	{ "timestamp negative", "9f" P_HEAD P_DST P_SRC P_RPT "82 20 00" P_LIFE PAY "ff",
	    EBADMSG, "creation timestamp" },
	{ "lifetime text", "9f" P_HEAD P_DST P_SRC P_RPT P_TS "61 31" PAY "ff",
	    EBADMSG, "lifetime is not" },
	{ "lifetime negative", "9f" P_HEAD P_DST P_SRC P_RPT P_TS "20" PAY "ff",
	    EBADMSG, "lifetime is not" },
	{ "lifetime missing", "9f 87 07 00 00" P_DST P_SRC P_RPT P_TS PAY "ff",
	    EBADMSG, "too few fields" },
	{ "fragment fields missing", "9f 88 07 01 00" P_DST P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    EBADMSG, "too few fields" },
	{ "fragment ADU length missing", "9f 89 07 01 00" P_DST P_SRC P_RPT P_TS P_LIFE "00" PAY "ff",
	    EBADMSG, "too few fields" },
	{ "fragment offset not uint", "9f 8a 07 01 00" P_DST P_SRC P_RPT P_TS P_LIFE "40 10" PAY "ff",
	    EBADMSG, "fragment offset" },
	{ "fragment past ADU", "9f 8a 07 01 00" P_DST P_SRC P_RPT P_TS P_LIFE "02 04" PAY "ff",
	    EBADMSG, "fragment extends" },
	{ "primary too many fields", "9f 89 07 00 00" P_DST P_SRC P_RPT P_TS P_LIFE "00" PAY "ff",
	    EBADMSG, "primary block has too many fields" },
	{ "creation time 0, no age", "9f" P_HEAD P_DST P_SRC P_RPT "82 00 00" P_LIFE PAY "ff",
	    EBADMSG, "creation time 0" },
	{ "missing payload", "9f" P "ff", EBADMSG, "no payload" },
	{ "missing payload, others", "9f" P UNK2 "ff", EBADMSG, "no payload" },
	{ "payload not last", "9f" P PAY UNK2 "ff", EBADMSG, "not the last" },
	{ "two payloads", "9f" P PAY PAY "ff", EBADMSG, "not the last" },
	{ "payload number 2", "9f" P "85 01 02 00 00 43 61 62 63 ff", EBADMSG,
	    "payload block number is not 1" },
	{ "number 1 not payload", "9f" P "85 18 c8 01 00 00 41 00" PAY "ff", EBADMSG,
	    "block number 1 is not the payload" },
	{ "block number 0", "9f" P "85 18 c8 00 00 00 41 00" PAY "ff", EBADMSG, "block number 0" },
	{ "block type 0", "9f" P "85 00 02 00 00 41 00" PAY "ff", EBADMSG, "type 0" },
	{ "duplicate block numbers", "9f" P UNK2 UNK2 PAY "ff", EBADMSG, "duplicate block number" },
	{ "duplicate number of ours", "9f" P UNK2 "85 07 02 00 00 41 05" PAY "ff", EBADMSG,
	    "duplicate block number" },
	{ "block not an array", "9f" P "01" PAY "ff", EBADMSG, "block is not an array" },
	{ "block too few fields", "9f" P "84 18 c8 02 00 00" PAY "ff", EBADMSG, "block data missing" },
	{ "block too many fields", "9f" P "86 18 c8 02 00 00 41 00 00" PAY "ff", EBADMSG,
	    "block has too many fields" },
	{ "block type negative", "9f" P "85 20 02 00 00 41 00" PAY "ff", EBADMSG, "block type" },
	{ "block number text", "9f" P "85 18 c8 61 32 00 00 41 00" PAY "ff", EBADMSG, "block number" },
	{ "block flags bytes", "9f" P "85 18 c8 02 40 00 41 00" PAY "ff", EBADMSG, "block flags" },
	{ "block unknown CRC type", "9f" P "85 18 c8 02 00 03 41 00" PAY "ff", EBADMSG,
	    "unknown CRC type" },
	{ "block CRC missing", "9f" P "85 18 c8 02 00 02 41 00" PAY "ff", EBADMSG,
	    "block CRC missing" },
	{ "block CRC wrong length", "9f" P "86 18 c8 02 00 01 41 00 43 00 00 00" PAY "ff", EBADMSG,
	    "block CRC missing or not" },
	{ "block data text", "9f" P "85 18 c8 02 00 00 61 00" PAY "ff", EBADMSG, "block data" },
	{ "block data indefinite", "9f" P "85 01 01 00 00 5f 41 61 42 62 63 ff ff", EBADMSG,
	    "block data" },
	{ "two previous-node blocks", "9f" P "85 06 02 00 00 45 82 02 82 01 00"
	    "85 06 03 00 00 45 82 02 82 01 00" PAY "ff", EBADMSG, "more than one previous-node" },
	{ "two age blocks", "9f" P "85 07 02 00 00 41 05 85 07 03 00 00 41 06" PAY "ff",
	    EBADMSG, "more than one bundle-age" },
	{ "two hop-count blocks", "9f" P "85 0a 02 00 00 43 82 05 00 85 0a 03 00 00 43 82 05 00"
	    PAY "ff", EBADMSG, "more than one hop-count" },
	{ "two priority blocks", "9f" P "85 18 c1 02 00 00 41 01 85 18 c1 03 00 00 41 02" PAY "ff",
	    EBADMSG, "more than one priority" },
	{ "priority 7", "9f" P "85 18 c1 02 00 00 41 07" PAY "ff", EBADMSG, "priority outside 0..6" },
	{ "priority 2^64-1", "9f" P "85 18 c1 02 00 00 49 1b ff ff ff ff ff ff ff ff" PAY "ff",
	    EBADMSG, "priority outside 0..6" },
	{ "priority negative", "9f" P "85 18 c1 02 00 00 41 20" PAY "ff", EBADMSG,
	    "priority block is not" },
	{ "priority empty", "9f" P "85 18 c1 02 00 00 40" PAY "ff", EBADMSG, "priority block is not" },
	{ "priority trailing", "9f" P "85 18 c1 02 00 00 42 01 01" PAY "ff", EBADMSG, "bytes after" },
	{ "age not uint", "9f" P "85 07 02 00 00 41 40" PAY "ff", EBADMSG, "bundle-age block is not" },
	{ "age truncated", "9f" P "85 07 02 00 00 41 19" PAY "ff", EBADMSG, "bundle-age block is not" },
	{ "age non-minimal", "9f" P "85 07 02 00 00 42 18 05" PAY "ff", EBADMSG,
	    "bundle-age block is not" },
	{ "hop limit 0", "9f" P "85 0a 02 00 00 43 82 00 00" PAY "ff", EBADMSG, "hop limit" },
	{ "hop limit 256", "9f" P "85 0a 02 00 00 45 82 19 01 00 00" PAY "ff", EBADMSG, "hop limit" },
	{ "hop count not an array", "9f" P "85 0a 02 00 00 41 05" PAY "ff", EBADMSG, "hop-count block" },
	{ "hop count one part", "9f" P "85 0a 02 00 00 42 81 05" PAY "ff", EBADMSG, "hop-count block" },
	{ "hop count three parts", "9f" P "85 0a 02 00 00 44 83 05 00 00" PAY "ff", EBADMSG,
	    "hop-count block" },
	{ "hop count huge array", "9f" P "85 0a 02 00 00 45 9b ff ff ff ff" PAY "ff", EBADMSG,
	    "hop-count block" },
	{ "previous node bad scheme", "9f" P "85 06 02 00 00 43 82 05 00" PAY "ff", EBADMSG,
	    "previous-node EID has an unknown scheme" },
	{ "previous node bad ipn", "9f" P "85 06 02 00 00 45 82 02 82 01 40" PAY "ff", EBADMSG,
	    "previous-node ipn EID" },
	{ "previous node trailing", "9f" P "85 06 02 00 00 44 82 01 00 00" PAY "ff", EBADMSG,
	    "bytes after" },
	{ "previous node truncated text", "9f" P "85 06 02 00 00 44 82 01 65 2f" PAY "ff", EBADMSG,
	    "previous-node dtn EID is malformed" },
	{ "too many blocks, definite", "93" P UNK2 UNK2 UNK2 UNK2 UNK2 UNK2 UNK2 UNK2 UNK2 UNK2
	    UNK2 UNK2 UNK2 UNK2 UNK2 UNK2 UNK2 PAY, EMSGSIZE, "too many blocks" },
	{ "too many blocks, huge count", "9b 00 00 00 01 00 00 00 00" P PAY, EBADMSG,
	    "truncated" },
};

/* "too many blocks" with distinct numbers, and the largest count accepted. */
static size_t
many_blocks(uint8_t *buf, size_t cap, int n)
{
	size_t len = unhex("9f" P, buf, cap);

	for (int i = 0; i < n; i++) {
		len += unhex("85 18 c8 18 00 00 00 41 00", buf + len, cap - len);
		buf[len - 5] = (uint8_t)(30 + i);	/* block number */
	}
	len += unhex(PAY "ff", buf + len, cap - len);
	return len;
}

static void
expect_reject(const char *name, const uint8_t *p, size_t n, int err, const char *substr)
{
	struct bundle b;
	const char *why;
	int e = decode_copy(&b, p, n, &why, NULL);

	if (err == 0 && e == 0)
		return;
	if (e != -err || why == NULL || strstr(why, substr) == NULL)
		fail_msg("%s: got %d (%s), want %d (...%s...)", name, e, why ? why : "no reason",
		    -err, substr);
}

static void
test_rejects(void **state)
{
	uint8_t buf[2048];
	size_t n;

	for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
		n = unhex(rejects[i].hex, buf, sizeof(buf));
		expect_reject(rejects[i].name, buf, n, rejects[i].err, rejects[i].why);
	}

	n = many_blocks(buf, sizeof(buf), BUNDLE_MAX_BLOCKS);
	expect_reject("16 extension blocks", buf, n, 0, "");
	n = many_blocks(buf, sizeof(buf), BUNDLE_MAX_BLOCKS + 1);
	expect_reject("17 extension blocks", buf, n, EMSGSIZE, "too many blocks");

	/* dtn text: 251 characters fit "dtn:" + NUL in BUNDLE_EID_MAX, 252 do not. */
	for (int extra = 0; extra < 2; extra++) {
		size_t len = 251 + (size_t)extra;

		n = unhex("9f" P_HEAD "82 01 78", buf, sizeof(buf));
		buf[n++] = (uint8_t)len;
		memset(buf + n, 'a', len);
		memcpy(buf + n, "//n/", 4);
		n += len;
		n += unhex(P_SRC P_RPT P_TS P_LIFE PAY "ff", buf + n, sizeof(buf) - n);
		if (extra)
			expect_reject("dtn EID too long", buf, n, EMSGSIZE, "destination dtn EID is too long");
		else
			expect_reject("dtn EID longest", buf, n, 0, "");
	}

	/* Over BUNDLE_MAX_SIZE: refused before a byte is looked at. */
	{
		size_t big = (size_t)BUNDLE_MAX_SIZE + 1;
		uint8_t *p = calloc(1, big);
		struct bundle b;
		const char *why = NULL;

		assert_non_null(p);
		assert_int_equal(bundle_decode(&b, p, big, &why), -EMSGSIZE);
		assert_non_null(strstr(why, "BUNDLE_MAX_SIZE"));
		free(p);
	}
}

/* expect_reject() with err 0 wants success: accepted variants. */
static void
test_accepts(void **state)
{
	static const struct crafted accepts[] = {
		{ "minimal", "9f" P PAY "ff", 0, "" },
		{ "definite outer array", "82" P PAY, 0, "" },
		{ "indefinite primary block", "9f 9f 07 00 00" P_DST P_SRC P_RPT P_TS P_LIFE "ff" PAY "ff",
		    0, "" },
		{ "indefinite blocks and EIDs", "9f 9f 07 00 00 9f 02 9f 02 01 ff ff" P_SRC P_RPT
		    "9f 19 03 e8 00 ff" P_LIFE "ff 9f 18 c8 02 00 00 41 00 ff 9f 01 01 00 00 40 ff ff",
		    0, "" },
		{ "chunked dtn text", "9f" P_HEAD "82 01 7f 62 2f 2f 63 61 2f 62 ff" P_SRC P_RPT P_TS P_LIFE
		    PAY "ff", 0, "" },
		{ "empty payload", "9f" P "85 01 01 00 00 40 ff", 0, "" },
		{ "creation time 0 with age", "9f" P_HEAD P_DST P_SRC P_RPT "82 00 00" P_LIFE
		    "85 07 02 00 00 41 05" PAY "ff", 0, "" },
		{ "hop count over limit", "9f" P "85 0a 02 00 00 43 82 01 05" PAY "ff", 0, "" },
		{ "BPSec-like unknown block", "9f" P "85 0b 05 01 00 44 81 01 00 00" PAY "ff", 0, "" },
		{ "reserved flag bits", "9f 88 07 1a 80 00 00 00 00" P_DST P_SRC P_RPT P_TS P_LIFE PAY "ff",
		    0, "" },
		{ "whole fragment", "9f 8a 07 01 00" P_DST P_SRC P_RPT P_TS P_LIFE "00 03" PAY "ff", 0, "" },
		/* Built by Python's cbor2 with its own CRCs (test_bundle_interop.py):
		 * CRC-32C primary and payload, CRC-16 and CRC-32C extension blocks. */
		{ "cbor2-built", "9f89070002820282020182016b2f2f612e64746e2f737263820100821b000000"
		    "c5ba527332031a0036ee8044f26da6d48618c80200014382010242d2b6860a030002438209"
		    "0144431e963486010100024563626f7232447772d35cff", 0, "" },
	};
	uint8_t buf[512], *keep, *enc;
	struct bundle b, c;
	const char *why;
	size_t n, len;

	for (size_t i = 0; i < sizeof(accepts) / sizeof(accepts[0]); i++) {
		n = unhex(accepts[i].hex, buf, sizeof(buf));
		if (decode_copy(&b, buf, n, &why, &keep) != 0)
			fail_msg("%s: rejected: %s", accepts[i].name, why);
		/* Whatever we accept we can write in our own form and read back. */
		enc = encode_new(&b, &len);
		assert_int_equal(bundle_decode(&c, enc, len, &why), 0);
		assert_true(bundles_equal(&b, &c));
		free(enc);
		free(keep);
	}

	n = unhex("9f" P_HEAD "82 01 7f 62 2f 2f 63 61 2f 62 ff" P_SRC P_RPT P_TS P_LIFE PAY "ff",
	    buf, sizeof(buf));
	assert_int_equal(bundle_decode(&b, buf, n, &why), 0);
	assert_string_equal(b.dst.dtn, "//a/b");
	assert_int_equal(b.ctime, 1000);
	assert_int_equal(b.lifetime, 3600000);
	assert_int_equal(b.payload_len, 3);
	assert_memory_equal(b.payload, "abc", 3);

	/* Unknown blocks are carried as they came, pointing into the input. */
	n = unhex("9f" P "86 18 c8 05 11 01 42 61 62 42 00 00" PAY "ff", buf, sizeof(buf));
	{
		/* Fix the CRC-16 of the unknown block, then decode. */
		uint8_t *blk = buf + unhex("9f" P, buf, sizeof(buf));
		uint16_t crc = crc16_x25(blk, 12);

		blk[10] = (uint8_t)(crc >> 8);
		blk[11] = (uint8_t)crc;
		assert_int_equal(bundle_decode(&b, buf, n, &why), 0);
		assert_int_equal(b.n_other, 1);
		assert_int_equal(b.other[0].type, 200);
		assert_int_equal(b.other[0].number, 5);
		assert_int_equal(b.other[0].flags, 0x11);
		assert_int_equal(b.other[0].crc_type, CRC_16);
		assert_ptr_equal(b.other[0].data, blk + 7);
		assert_int_equal(b.other[0].len, 2);
		/* Re-encoded: the very same block bytes. */
		enc = encode_new(&b, &len);
		assert_non_null(memmem(enc, len, blk, 12));
		free(enc);
		blk[11] ^= 1;
		expect_reject("unknown block bad CRC", buf, n, EBADMSG, "block CRC mismatch");
	}
}

static size_t
crc_bytes(int type)
{
	return type == CRC_16 ? 2 : type == CRC_32C ? 4 : 0;
}

static void
test_bad_crc(void **state)
{
	uint8_t payload[64], *buf;
	struct cbor_reader r;
	struct bundle b;
	size_t len, prim_end, n;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	for (int crc = CRC_16; crc <= CRC_32C; crc++) {
		full_bundle(&b, crc, crc == CRC_16, false, payload, sizeof(payload));
		b.payload_crc = (uint8_t)crc;
		buf = encode_new(&b, &len);
		n = crc_bytes(crc);
		cbor_reader_init(&r, buf + 1, len - 1);
		assert_int_equal(cbor_skip(&r, 8), 0);
		prim_end = (size_t)(r.p - buf);
		assert_int_equal(buf[prim_end - n - 1], 0x40 | n);

		/* Each CRC byte of the primary block, and a lifetime bit. */
		for (size_t i = prim_end - n; i < prim_end; i++) {
			buf[i] ^= 0x10;
			expect_reject("primary CRC byte", buf, len, EBADMSG, "primary block CRC mismatch");
			buf[i] ^= 0x10;
		}
		buf[prim_end - n - 2] ^= 0x01;	/* low byte of the lifetime */
		expect_reject("primary field bit", buf, len, EBADMSG, "primary block CRC mismatch");
		buf[prim_end - n - 2] ^= 0x01;

		/* Payload CRC bytes, and the last payload byte. */
		for (size_t i = len - 1 - n; i < len - 1; i++) {
			buf[i] ^= 0x80;
			expect_reject("payload CRC byte", buf, len, EBADMSG, "block CRC mismatch");
			buf[i] ^= 0x80;
		}
		buf[len - 1 - n - 2] ^= 0x01;
		expect_reject("payload bit", buf, len, EBADMSG, "block CRC mismatch");
		buf[len - 1 - n - 2] ^= 0x01;
		expect_reject("restored", buf, len, 0, "");
		free(buf);
	}
}

/*
 * Every single-byte corruption of a valid bundle either fails with a reason
 * or decodes to something we can write and read back unchanged.
 */
static void
flip_every_byte(const char *name, const uint8_t *valid, size_t len, size_t *accepted)
{
	static const uint8_t masks[] = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff };
	uint8_t *p = malloc(len), *enc;
	struct bundle b, c;
	const char *why;
	size_t n;
	int e;

	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			memcpy(p, valid, len);
			p[i] ^= masks[m];
			why = NULL;
			e = bundle_decode(&b, p, len, &why);
			if (e < 0) {
				if (why == NULL || (e != -EBADMSG && e != -EMSGSIZE &&
				    e != -EPROTONOSUPPORT))
					fail_msg("%s: byte %zu ^ %#x: %d without a reason", name, i,
					    masks[m], e);
				continue;
			}
			assert_int_equal(e, 0);
			(*accepted)++;
			enc = encode_new(&b, &n);
			if (bundle_decode(&c, enc, n, &why) != 0)
				fail_msg("%s: byte %zu ^ %#x: re-encoding rejected: %s", name, i,
				    masks[m], why);
			assert_true(bundles_equal(&b, &c));
			free(enc);
		}
	}
	free(p);
}

static void
truncate_everywhere(const char *name, const uint8_t *valid, size_t len)
{
	struct bundle b;
	const char *why;
	int e;

	for (size_t n = 0; n < len; n++) {
		e = decode_copy(&b, valid, n, &why, NULL);
		if (e >= 0 || why == NULL)
			fail_msg("%s: truncated to %zu of %zu bytes: %d", name, n, len, e);
	}
}

static void
test_corruption(void **state)
{
	uint8_t payload[40], small[128], *buf;
	size_t len, accepted = 0;
	struct bundle b;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(0x41 + i);

	/* uD3TN's, CRC-16 on the primary block. */
	buf = test_data_read("bpv7", "dtn-mtcp-a2b-01.bpv7", 4096, &len);
	flip_every_byte("uD3TN", buf, len, &accepted);
	truncate_everywhere("uD3TN", buf, len);
	free(buf);

	/* Ours without any CRC: corruption reaches the structure checks. */
	for (int dtn = 0; dtn < 2; dtn++)
		for (int frag = 0; frag < 2; frag++) {
			full_bundle(&b, CRC_NONE, dtn, frag, payload, sizeof(payload));
			buf = encode_new(&b, &len);
			flip_every_byte("no CRC", buf, len, &accepted);
			truncate_everywhere("no CRC", buf, len);
			free(buf);
		}

	/* Ours with CRC-32C everywhere. */
	full_bundle(&b, CRC_32C, false, true, payload, sizeof(payload));
	b.payload_crc = CRC_32C;
	buf = encode_new(&b, &len);
	flip_every_byte("CRC-32C", buf, len, &accepted);
	truncate_everywhere("CRC-32C", buf, len);
	free(buf);

	/* Crafted, with indefinite arrays inside. */
	len = unhex("9f 9f 07 00 00 9f 02 9f 02 01 ff ff" P_SRC P_RPT "9f 19 03 e8 00 ff" P_LIFE
	    "ff 9f 18 c8 02 00 00 41 00 ff" PAY "ff", small, sizeof(small));
	flip_every_byte("indefinite", small, len, &accepted);
	truncate_everywhere("indefinite", small, len);

	/* Some flips must survive (payload bytes without CRC), or we tested nothing. */
	assert_true(accepted > 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_check_values),
		cmocka_unit_test(test_eid_parse_format),
		cmocka_unit_test(test_ud3tn_bundles),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_stream_large),
		cmocka_unit_test(test_encode_buffer_sizes),
		cmocka_unit_test(test_encode_invalid),
		cmocka_unit_test(test_bundle_id),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_bad_crc),
		cmocka_unit_test(test_corruption),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
