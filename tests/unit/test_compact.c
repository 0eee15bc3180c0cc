/*
 * test_compact.c - compact form of bundles (radio/compact.c): our bundles
 * and many generated ones over every field's range come back byte for byte;
 * bundles that would not (uD3TN's, unknown blocks, non-canonical CBOR, a
 * foreign previous node) are refused, so they travel in full; malformed
 * compact forms are rejected with a reason; corrupt and cut ones never read
 * out of bounds.
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
#include "compact.h"
#include "service.h"

#define SENDER		12
#define RECEIVER	7
#define BASE		(849234000000ULL)	/* a time base: DTN ms in 2026 */

static const struct compact_ctx ctx = { .sender = SENDER, .receiver = RECEIVER, .time_base = BASE };

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
 * Compact, rebuild, compare.  Returns the compact length; the compact form
 * is decoded from an exact-size copy so that ASan sees any over-read.
 */
static size_t
round_trip(const struct compact_ctx *c, const uint8_t *bundle, size_t len)
{
	uint8_t *form = malloc(len), *copy, *out = malloc(len + 1024);
	const char *why = NULL;
	ssize_t n, m;

	assert_non_null(form);
	assert_non_null(out);
	n = compact_encode(c, bundle, len, form, len, &why);
	if (n < 0)
		fail_msg("compact_encode: %zd (%s)", n, why ? why : "?");
	assert_int_equal(compact_encode(c, bundle, len, NULL, 0, &why), n);
	copy = malloc((size_t)n);
	assert_non_null(copy);
	memcpy(copy, form, (size_t)n);
	m = compact_decode(c, copy, (size_t)n, out, len + 1024, &why);
	if (m < 0)
		fail_msg("compact_decode of our own compact form: %s", why);
	assert_int_equal(m, len);
	assert_memory_equal(out, bundle, len);
	/* A buffer one byte short is refused, not overrun. */
	assert_int_equal(compact_decode(c, copy, (size_t)n, out, len - 1, &why), -ENOSPC);
	free(copy);
	free(out);
	free(form);
	return (size_t)n;
}

/* Our position report from ipn:SENDER.3 to ipn:RECEIVER.3, as node_send() makes it. */
static void
position_report(struct bundle *b, const uint8_t *payload, size_t plen)
{
	bundle_init(b);
	eid_ipn(&b->dst, RECEIVER, SVC_POSITION);
	eid_ipn(&b->src, SENDER, SVC_POSITION);
	eid_ipn(&b->report_to, SENDER, 0);
	b->ctime = BASE + 3600 * 1000 + 417;	/* an hour after the base */
	b->seq = 5000;
	b->lifetime = 24 * 3600 * 1000;
	b->priority = PRIO_POSITION;
	b->payload = payload;
	b->payload_len = plen;
}

static void
test_our_bundles(void **state)
{
	uint8_t payload[30], *buf;
	struct bundle b;
	size_t len, n;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 37 + 1);

	position_report(&b, payload, sizeof(payload));
	buf = encode_new(&b, &len);
	n = round_trip(&ctx, buf, len);
	printf("# position report: %zu bytes full, %zu compact (header %zu instead of %zu)\n", len, n,
	    n - sizeof(payload), len - sizeof(payload));
	/* codes 2, service 1, time 4 (an hour), seq 2, lifetime 1, hop count 1 */
	assert_int_equal(n - sizeof(payload), 11);
	free(buf);

	/* Relayed one hop on: previous node = the sender, hop count 1, to a node beyond the receiver. */
	b.has_prev = true;
	eid_ipn(&b.prev, SENDER, 0);
	eid_ipn(&b.src, 40, SVC_POSITION);
	eid_ipn(&b.report_to, 40, 0);
	eid_ipn(&b.dst, 1, SVC_POSITION);
	b.hop_count = 1;
	buf = encode_new(&b, &len);
	n = round_trip(&ctx, buf, len);
	printf("# relayed position report: %zu bytes full, %zu compact\n", len, n);
	assert_int_equal(n - sizeof(payload), 13);
	free(buf);

	/* A unit with no trustworthy clock: creation time 0 and a bundle-age block. */
	position_report(&b, payload, sizeof(payload));
	b.ctime = 0;
	b.has_age = true;
	b.age = 0;
	buf = encode_new(&b, &len);
	n = round_trip(&ctx, buf, len);
	printf("# position report, no clock: %zu bytes full, %zu compact\n", len, n);
	assert_int_equal(n - sizeof(payload), 8);
	free(buf);

	/* An alert from the command center (ipn:1.2), with a delivery report asked for, CRC-16. */
	bundle_init(&b);
	eid_ipn(&b.dst, RECEIVER, SVC_ALERT);
	eid_ipn(&b.src, 1, SVC_ALERT);
	eid_ipn(&b.report_to, 1, 0);
	b.flags = BF_RPT_DELIVERY;
	b.crc_type = CRC_16;
	b.ctime = BASE - 5000;
	b.seq = 77;
	b.lifetime = 3600 * 1000;
	b.priority = PRIO_URGENT;
	b.has_prev = true;
	eid_ipn(&b.prev, SENDER, 0);
	b.hop_count = 3;
	b.hop_limit = 16;
	b.payload = (const uint8_t *)"Evacuate sector B now";
	b.payload_len = 21;
	buf = encode_new(&b, &len);
	n = round_trip(&ctx, buf, len);
	printf("# alert, 3 hops from the command center: %zu bytes full, %zu compact\n", len, n);
	free(buf);

	/* A fragment of a bundle to a dtn endpoint, reports to dtn:none. */
	position_report(&b, payload, sizeof(payload));
	b.flags = BF_IS_FRAGMENT;
	b.frag_offset = 300000;
	b.adu_len = 1u << 20;
	assert_int_equal(eid_parse(&b.dst, "dtn://command.dtn/inbox"), 0);
	assert_int_equal(eid_parse(&b.report_to, "dtn:none"), 0);
	buf = encode_new(&b, &len);
	n = round_trip(&ctx, buf, len);
	assert_true(n < len);
	free(buf);

	/* Empty payload. */
	position_report(&b, NULL, 0);
	buf = encode_new(&b, &len);
	round_trip(&ctx, buf, len);
	free(buf);
}

/* ---- generated bundles ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
	/* xorshift64*: reproducible everywhere. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

/* A value over the whole range, small ones and edges more often. */
static uint64_t
any_u64(void)
{
	switch (rnd() % 8) {
	case 0:
		return 0;
	case 1:
		return rnd() % 128;
	case 2:
		return rnd() % 70000;
	case 3:
		return UINT64_MAX - rnd() % 3;
	case 4:
		return rnd() >> (rnd() % 64);
	default:
		return rnd() % (UINT64_C(1) << (rnd() % 48));
	}
}

static void
any_eid(struct eid *e, char *text, uint64_t peer)
{
	switch (rnd() % 6) {
	case 0:
		eid_ipn(e, peer, any_u64());
		break;
	case 1:
	case 2:
		eid_ipn(e, any_u64(), rnd() % 3 ? rnd() % 10 : any_u64());
		break;
	case 3:
		assert_int_equal(eid_parse(e, "dtn:none"), 0);
		break;
	default: {
		size_t n = 1 + rnd() % 40;

		strcpy(text, "dtn://");
		for (size_t i = 0; i < n; i++) {
			text[6 + i] = (char)('!' + rnd() % 94);
			if (text[6 + i] == '/')
				text[6 + i] = 'x';
		}
		strcpy(text + 6 + n, rnd() % 2 ? "/" : "/svc/~x");
		assert_int_equal(eid_parse(e, text), 0);
	}
	}
}

static void
any_bundle(struct bundle *b, const uint8_t *payload, bool *compactable)
{
	char text[80];
	uint64_t d;

	bundle_init(b);
	b->crc_type = (uint8_t)(rnd() % 3);
	b->payload_crc = (uint8_t)(rnd() % 3);
	b->flags = rnd() % 4 == 0 ? any_u64() : (rnd() % 2 ? BF_RPT_DELIVERY : 0);
	b->flags &= ~(uint64_t)BF_IS_FRAGMENT;
	any_eid(&b->dst, text, RECEIVER);
	any_eid(&b->src, text, SENDER);
	switch (rnd() % 4) {
	case 0:
		if (b->src.scheme == EID_IPN)
			eid_ipn(&b->report_to, b->src.node, 0);
		break;
	case 1:
		b->report_to = b->src;
		break;
	case 2:
		any_eid(&b->report_to, text, SENDER);
		break;
	}
	switch (rnd() % 5) {
	case 0:
		b->ctime = 0;
		break;
	case 1:
		b->ctime = BASE + rnd() % 100000000;
		break;
	case 2:
		b->ctime = BASE - rnd() % 100000000;
		break;
	default:
		b->ctime = any_u64();
	}
	b->seq = any_u64();
	switch (rnd() % 5) {
	case 0:
		b->lifetime = (rnd() % 1000) * 3600000;
		break;
	case 1:
		b->lifetime = (rnd() % 100000) * 60000;
		break;
	case 2:
		b->lifetime = (rnd() % 100000) * 1000;
		break;
	default:
		b->lifetime = any_u64();
	}
	b->has_age = b->ctime == 0 || rnd() % 4 == 0;
	b->age = any_u64();
	b->has_hop = rnd() % 4 != 0;
	b->hop_limit = rnd() % 2 ? 32 : 1 + rnd() % 255;
	b->hop_count = rnd() % 2 ? rnd() % 40 : any_u64();
	b->priority = (int)(rnd() % 8) - 1;
	b->payload_flags = rnd() % 4 ? 0 : any_u64();
	b->payload = payload;
	b->payload_len = rnd() % 3 ? rnd() % 200 : 0;
	if (rnd() % 4 == 0) {
		b->flags |= BF_IS_FRAGMENT;
		b->adu_len = b->payload_len + any_u64() % (UINT64_MAX - b->payload_len);
		b->frag_offset = rnd() % (b->adu_len - b->payload_len + 1);
	}
	switch (rnd() % 3) {
	case 0:
		break;
	case 1:
		b->has_prev = true;
		eid_ipn(&b->prev, SENDER, 0);
		break;
	default:
		b->has_prev = true;
		any_eid(&b->prev, text, SENDER);
	}
	d = b->ctime > BASE ? b->ctime - BASE : BASE - b->ctime;
	*compactable = b->priority >= 0 && (!b->has_prev || (b->prev.scheme == EID_IPN && b->prev.node == SENDER &&
	    b->prev.service == 0)) && (b->ctime == 0 || d <= (uint64_t)INT64_MAX);
	/* A lifetime whose coarsest unit still leaves more than 62 bits has no compact code. */
	for (uint64_t u = 3600000; u >= 1; u = u == 3600000 ? 60000 : u == 60000 ? 1000 : u == 1000 ? 1 : 0) {
		if (b->lifetime % u == 0) {
			*compactable = *compactable && b->lifetime / u <= UINT64_MAX >> 2;
			break;
		}
		if (u == 1)
			break;
	}
}

static void
test_generated_bundles_byte_identical(void **state)
{
	uint8_t payload[200];
	unsigned compacted = 0, refused = 0, dtn = 0, frag = 0, age = 0;
	size_t full_bytes = 0, compact_bytes = 0;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)rnd();
	for (unsigned i = 0; i < 30000; i++) {
		struct bundle b;
		bool ok;
		const char *why = NULL;
		uint8_t *buf;
		size_t len, n;
		ssize_t r;

		any_bundle(&b, payload, &ok);
		if (bundle_encode(&b, NULL, 0) < 0)
			continue;	/* nothing a node would have */
		buf = encode_new(&b, &len);
		r = compact_encode(&ctx, buf, len, NULL, 0, &why);
		if (!ok) {
			if (r != -ENOTSUP)
				fail_msg("bundle %u: compacted (%zd) though it may not be", i, r);
			assert_non_null(why);
			refused++;
			free(buf);
			continue;
		}
		if (r < 0)
			fail_msg("bundle %u: refused: %s", i, why ? why : "?");
		n = round_trip(&ctx, buf, len);
		assert_true(n <= len);
		compacted++;
		full_bytes += len - b.payload_len;
		compact_bytes += n - b.payload_len;
		dtn += b.dst.scheme == EID_DTN || b.src.scheme == EID_DTN;
		frag += (b.flags & BF_IS_FRAGMENT) != 0;
		age += b.has_age;
		free(buf);
	}
	printf("# %u generated bundles rebuilt byte for byte (%u with dtn EIDs, %u fragments, %u with age), "
	    "%u refused; headers %zu -> %zu bytes\n", compacted, dtn, frag, age, refused, full_bytes, compact_bytes);
	/* Every kind was covered, not just the easy ones. */
	assert_true(compacted > 10000 && refused > 3000 && dtn > 3000 && frag > 2000 && age > 3000);
}

/* ---- full form ---- */

static void
expect_full(const uint8_t *buf, size_t len, const char *reason)
{
	const char *why = NULL;
	uint8_t out[4096];

	assert_int_equal(compact_encode(&ctx, buf, len, out, sizeof(out), &why), -ENOTSUP);
	assert_non_null(why);
	if (strstr(why, reason) == NULL)
		fail_msg("refused for '%s', expected '%s'", why, reason);
}

static void
test_full_form(void **state)
{
	static const char *const ud3tn[] = { "dtn-mtcp-a2b-01.bpv7", "dtn-mtcp-a2b-02.bpv7" };
	uint8_t payload[30] = { 1, 2, 3 }, *buf, *nc;
	struct bundle b, d;
	const char *why;
	size_t len;

	/* uD3TN's bundles: no priority block, so not ours. */
	for (size_t i = 0; i < 2; i++) {
		buf = test_data_read("bpv7", ud3tn[i], 4096, &len);
		assert_int_equal(bundle_decode(&b, buf, len, &why), 0);
		expect_full(buf, len, "no priority block");
		free(buf);
	}

	/* An extension block we do not interpret. */
	position_report(&b, payload, sizeof(payload));
	b.n_other = 1;
	b.other[0] = (struct bundle_block){ .type = 200, .number = 9, .data = (const uint8_t *)"\x01", .len = 1 };
	buf = encode_new(&b, &len);
	expect_full(buf, len, "extension blocks");
	free(buf);

	/* A previous-node block that names another node. */
	position_report(&b, payload, sizeof(payload));
	b.has_prev = true;
	eid_ipn(&b.prev, 99, 0);
	buf = encode_new(&b, &len);
	expect_full(buf, len, "previous-node");
	eid_ipn(&b.prev, SENDER, 1);	/* right node, wrong service */
	free(buf);
	buf = encode_new(&b, &len);
	expect_full(buf, len, "previous-node");
	free(buf);

	/* Valid, but not as our encoder writes it: a definite-length outer array. */
	position_report(&b, payload, sizeof(payload));
	buf = encode_new(&b, &len);
	assert_int_equal(buf[0], 0x9f);
	assert_int_equal(buf[len - 1], 0xff);
	nc = malloc(len - 1);
	assert_non_null(nc);
	nc[0] = 0x80 | 4;	/* primary, hop count, priority, payload */
	memcpy(nc + 1, buf + 1, len - 2);
	assert_int_equal(bundle_decode(&d, nc, len - 1, &why), 0);
	expect_full(nc, len - 1, "canonical");
	free(nc);

	/* ... or the hop-count block with a block flag set (ours are 0). */
	{
		size_t off;

		/* 85 0a <number> 00 00 ...: the hop-count block header. */
		for (off = 0; off + 4 < len && !(buf[off] == 0x85 && buf[off + 1] == 0x0a); off++)
			;
		assert_true(off + 4 < len);
		nc = malloc(len);
		assert_non_null(nc);
		memcpy(nc, buf, len);
		nc[off + 3] = BLF_DISCARD;
		assert_int_equal(bundle_decode(&d, nc, len, &why), 0);
		expect_full(nc, len, "canonical");
		free(nc);
	}
	free(buf);

	/* Not a bundle at all. */
	expect_full((const uint8_t *)"\x01\x02\x03\x04", 4, "");
}

/* ---- malformed compact forms ---- */

struct bad {
	const char *hex;
	const char *reason;
};

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	for (; *hex; hex++) {
		if (*hex == ' ')
			continue;
		assert_int_equal(sscanf(hex, "%2x", &v), 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
		hex++;
	}
	return n;
}

static void
test_malformed_rejected(void **state)
{
	/*
	 * Made from a valid one: M0 = priority 2, hop-count block, creation time;
	 * E = ipn:R.v to, ipn:S.<same service> from, reports to ipn:S.0; service 3,
	 * time base + 0, seq 5, lifetime 24 h, hop count 0, payload "hi".
	 */
	static const char valid[] = "4a 10 03 00 05 63 00 68 69";
	static const struct bad bad[] = {
		{ "", "shorter than its codes" },
		{ "4a", "shorter than its codes" },
		{ "4f 10 03 00 05 63 00", "priority class 7" },
		{ "ca 00 10 03 00 05 63 00", "second code byte present but 0" },
		{ "ca 01 10 03 00 05 63 00", "primary block CRC type 3" },
		{ "ca c0 10 03 00 05 63 00", "payload block CRC type 3" },
		{ "4a 90 03 00 05 63 00", "reserved EID code bit" },
		{ "4a 10 83 00 00 05 63 00", "service number truncated or not minimal" },
		{ "4a 11 07 03 00 05 63 00", "written out where the shorthand names it" },
		{ "4a 13 05 2f 2f 61 2f", "dtn EID length out of range" },
		{ "4a 13 04 6e 6f 6e 65 00 05 63 00", "dtn:none written out" },
		{ "4a 12 00 05 63 00", "same-service code on a dtn EID" },
		{ "4a 00 03 03 00 05 63 00", "same-service code says it" },
		{ "4a 70 03 00 0c 00 00 05 63 00", "report-to written out where a shorter code says it" },
		{ "4a 70 03 05 00 05 63 00", "report-to form is not 0" },
		{ "4a 70 03 00 0c", "report-to ipn EID truncated" },
		{ "4a 08 03 00 05 63 00", "report-to code names the source node of a dtn source" },
		{ "4a 10 03", "creation time truncated" },
		{ "4a 10 03 00", "sequence number truncated" },
		{ "4a 10 03 00 05", "lifetime truncated" },
		{ "4a 10 03 00 05 80 00 00", "lifetime truncated or not minimal" },
		{ "4a 10 03 00 05 a0 1f 00", "lifetime not in the coarsest unit" },
		{ "4a 10 03 00 05 ff ff ff ff ff ff ff ff ff 01 00", "lifetime beyond" },
		{ "4a 10 03 00 05 63", "hop count truncated" },
		{ "ca 20 10 03 00 05 63 00 20", "default written out" },
		{ "ca 20 10 03 00 05 63 00 00", "hop limit outside" },
		{ "c2 20 10 03 00 05 63", "hop limit without a hop-count block" },
		{ "ca 08 10 03 00 05 63 00 00", "bundle flags 0" },
		{ "ca 08 10 03 00 05 63 01 00", "is-fragment" },
		{ "ca 10 10 03 00 05 63 00 00", "payload flags marked present are 0" },
		{ "ca 04 10 03 00 05 63 05", "total ADU length truncated" },
		{ "6a 10 03 00 05 63", "bundle age truncated" },
		{ "4a 10 03 ff ff ff ff ff ff ff ff ff 01 05 63 00", "-2^63" },
		/* Fields that decode but no bundle may have. */
		{ "0a 10 03 05 63 00 68 69", "creation time 0 without age" },
		{ "ca 04 10 03 00 05 63 05 01 00 68 69", "fragment past its ADU" },
	};
	struct compact_ctx zero = ctx;
	uint8_t in[64], out[512];
	const char *why;
	struct bundle d;
	ssize_t r;
	size_t n;

	n = unhex(valid, in, sizeof(in));
	r = compact_decode(&ctx, in, n, out, sizeof(out), &why);
	assert_true(r > 0);
	assert_int_equal(bundle_decode(&d, out, (size_t)r, &why), 0);
	assert_int_equal(d.ctime, BASE);
	assert_int_equal(d.src.node, SENDER);
	assert_int_equal(d.src.service, 3);
	assert_int_equal(d.dst.node, RECEIVER);
	assert_int_equal(d.report_to.node, SENDER);
	assert_int_equal(d.lifetime, 24 * 3600 * 1000);
	assert_int_equal(d.priority, 2);
	assert_int_equal(d.payload_len, 2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = unhex(bad[i].hex, in, sizeof(in));
		why = NULL;
		r = compact_decode(&ctx, in, n, out, sizeof(out), &why);
		if (r != -EBADMSG || why == NULL || strstr(why, bad[i].reason) == NULL)
			fail_msg("case %zu (%s): got %zd '%s', expected -EBADMSG '%s'", i, bad[i].hex, r,
			    why ? why : "(none)", bad[i].reason);
	}
	/* An offset that takes the creation time below 0: -(BASE + 1), zigzag 2 * BASE + 1. */
	{
		uint64_t v = 2 * BASE + 1;

		n = 0;
		in[n++] = 0x4a;
		in[n++] = 0x10;
		in[n++] = 0x03;
		for (; v >= 0x80; v >>= 7)
			in[n++] = (uint8_t)(v | 0x80);
		in[n++] = (uint8_t)v;
		in[n++] = 0x05;
		in[n++] = 0x63;
		in[n++] = 0x00;
		assert_int_equal(compact_decode(&ctx, in, n, out, sizeof(out), &why), -EBADMSG);
		assert_non_null(strstr(why, "creation time outside"));
	}
	/* With a time base of 0, an offset of 0 would be creation time 0: written without the time bit. */
	zero.time_base = 0;
	n = unhex(valid, in, sizeof(in));
	assert_int_equal(compact_decode(&zero, in, n, out, sizeof(out), &why), -EBADMSG);
	assert_non_null(strstr(why, "creation time marked non-zero is 0"));
}

/* Every cut and every flipped byte of valid compact forms: a reason or a valid bundle, never an over-read. */
static void
test_cut_and_corrupt(void **state)
{
	uint8_t payload[30] = { 9, 8, 7 }, form[256], *copy, out[1024];
	struct bundle b, d;
	const char *why;
	size_t len;
	uint8_t *buf;
	ssize_t n;

	position_report(&b, payload, sizeof(payload));
	b.has_prev = true;
	eid_ipn(&b.prev, SENDER, 0);
	assert_int_equal(eid_parse(&b.report_to, "dtn://x/y"), 0);
	buf = encode_new(&b, &len);
	n = compact_encode(&ctx, buf, len, form, sizeof(form), &why);
	assert_true(n > 0);
	for (ssize_t cut = 0; cut <= n; cut++) {
		ssize_t r;

		copy = malloc(cut ? (size_t)cut : 1);
		memcpy(copy, form, (size_t)cut);
		r = compact_decode(&ctx, copy, (size_t)cut, out, sizeof(out), &why);
		assert_true(r > 0 || (r == -EBADMSG && why != NULL));
		if (r > 0)
			assert_int_equal(bundle_decode(&d, out, (size_t)r, &why), 0);
		free(copy);
	}
	for (ssize_t i = 0; i < n; i++)
		for (unsigned bit = 0; bit < 8; bit++) {
			ssize_t r;

			copy = malloc((size_t)n);
			memcpy(copy, form, (size_t)n);
			copy[i] ^= (uint8_t)(1u << bit);
			r = compact_decode(&ctx, copy, (size_t)n, out, sizeof(out), &why);
			assert_true(r > 0 || (r == -EBADMSG && why != NULL));
			if (r > 0)
				assert_int_equal(bundle_decode(&d, out, (size_t)r, &why), 0);
			free(copy);
		}
	free(buf);
}

/* The shorthands mean what both ends know: another context gives another bundle. */
static void
test_context(void **state)
{
	uint8_t payload[4] = { 1 }, form[128], out[512];
	struct compact_ctx other = ctx;
	struct bundle b, d;
	const char *why;
	uint8_t *buf;
	size_t len;
	ssize_t n, r;

	position_report(&b, payload, sizeof(payload));
	b.has_prev = true;
	eid_ipn(&b.prev, SENDER, 0);
	buf = encode_new(&b, &len);
	n = compact_encode(&ctx, buf, len, form, sizeof(form), &why);
	assert_true(n > 0);
	other.time_base = BASE + 1000;
	other.sender = 13;
	other.receiver = 8;
	r = compact_decode(&other, form, (size_t)n, out, sizeof(out), &why);
	assert_true(r > 0);
	assert_int_equal(bundle_decode(&d, out, (size_t)r, &why), 0);
	assert_int_equal(d.ctime, b.ctime + 1000);
	assert_int_equal(d.src.node, 13);
	assert_int_equal(d.dst.node, 8);
	assert_int_equal(d.prev.node, 13);
	/* Too small an output buffer for the rebuilt bundle. */
	assert_int_equal(compact_decode(&ctx, form, (size_t)n, out, 10, &why), -ENOSPC);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_our_bundles),
		cmocka_unit_test(test_generated_bundles_byte_identical),
		cmocka_unit_test(test_full_form),
		cmocka_unit_test(test_malformed_rejected),
		cmocka_unit_test(test_cut_and_corrupt),
		cmocka_unit_test(test_context),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
