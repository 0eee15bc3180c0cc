/*
 * test_admin.c - bundle status reports (RFC 9171 6.1.1): known bytes, round
 * trips with and without times and fragment fields, every rejection path of
 * the decoder, every truncation, names, and the primary block read from a
 * stored bundle's first bytes (what reports about stored bundles start from).
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

#include "admin.h"
#include "bundle.h"

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

/* Decode an exact-size heap copy, so that ASan sees any over-read. */
static int
decode_copy(struct status_report *sr, const uint8_t *p, size_t n, const char **why)
{
	uint8_t *c = malloc(n ? n : 1);
	int e;

	assert_non_null(c);
	memcpy(c, p, n);
	*why = NULL;
	e = admin_decode_status(sr, c, n, why);
	free(c);
	return e;
}

static void
same_report(const struct status_report *a, const struct status_report *b)
{
	for (int i = 0; i < ADMIN_STATUS_N; i++) {
		assert_int_equal(a->asserted[i], b->asserted[i]);
		assert_int_equal(a->has_time[i], b->has_time[i]);
		if (a->has_time[i])
			assert_int_equal(a->time[i], b->time[i]);
	}
	assert_int_equal(a->reason, b->reason);
	assert_true(eid_equal(&a->src, &b->src));
	assert_int_equal(a->ctime, b->ctime);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->fragment, b->fragment);
	if (a->fragment) {
		assert_int_equal(a->frag_offset, b->frag_offset);
		assert_int_equal(a->payload_len, b->payload_len);
	}
}

/* A delivery report at DTN time 1000 for ipn:1.5, created 800000, seq 3. */
static const char delivered_hex[] =
	"82 01"				/* [1, report] */
	" 84"				/* report: 4 elements */
	" 84 81f4 81f4 82f5 1903e8 81f4"	/* received, forwarded, delivered at 1000, deleted */
	" 00"				/* no additional information */
	" 82 02 82 01 05"		/* ipn:1.5 */
	" 82 1a000c3500 03";		/* [800000, 3] */

static void
test_known_bytes(void **state)
{
	struct status_report sr = { 0 }, back;
	uint8_t want[64], out[64];
	size_t n = unhex(delivered_hex, want, sizeof(want));
	const char *why;
	ssize_t len;

	sr.asserted[ADMIN_DELIVERED] = true;
	sr.has_time[ADMIN_DELIVERED] = true;
	sr.time[ADMIN_DELIVERED] = 1000;
	eid_ipn(&sr.src, 1, 5);
	sr.ctime = 800000;
	sr.seq = 3;
	assert_int_equal(admin_encode_status(&sr, NULL, 0), (ssize_t)n);
	len = admin_encode_status(&sr, out, sizeof(out));
	assert_int_equal(len, (ssize_t)n);
	assert_memory_equal(out, want, n);
	assert_int_equal(admin_encode_status(&sr, out, n - 1), -ENOSPC);
	assert_int_equal(decode_copy(&back, want, n, &why), 0);
	same_report(&sr, &back);
}

static void
test_round_trips(void **state)
{
	static const char *const srcs[] = { "ipn:18446744073709551615.0", "dtn://center.dtn/alerts", "dtn:none" };
	struct status_report sr, back;
	uint8_t out[ADMIN_RECORD_MAX];
	const char *why;
	ssize_t len;

	for (unsigned v = 0; v < 3 * 16 * 2; v++) {
		memset(&sr, 0, sizeof(sr));
		assert_int_equal(eid_parse(&sr.src, srcs[v % 3]), 0);
		for (int i = 0; i < ADMIN_STATUS_N; i++) {
			sr.asserted[i] = (v / 3) >> i & 1;
			sr.has_time[i] = sr.asserted[i] && i % 2 == 0;
			sr.time[i] = sr.has_time[i] ? UINT64_MAX - (uint64_t)i : 0;
		}
		sr.reason = v % 12;
		sr.ctime = v * 1000003ull;
		sr.seq = UINT64_MAX - v;
		sr.fragment = v >= 3 * 16;
		sr.frag_offset = sr.fragment ? 65536 : 0;
		sr.payload_len = sr.fragment ? 1400 : 0;
		len = admin_encode_status(&sr, out, sizeof(out));
		assert_true(len > 0);
		assert_int_equal(decode_copy(&back, out, (size_t)len, &why), 0);
		same_report(&sr, &back);
	}
	/* The longest source EID still fits ADMIN_RECORD_MAX. */
	memset(&sr, 0xff, sizeof(sr));
	sr.src.scheme = EID_DTN;
	memset(sr.src.dtn, 'x', sizeof(sr.src.dtn));
	memcpy(sr.src.dtn, "//n/", 4);
	sr.src.dtn[BUNDLE_EID_MAX - 5] = '\0';
	for (int i = 0; i < ADMIN_STATUS_N; i++)
		sr.asserted[i] = sr.has_time[i] = true;
	sr.fragment = true;
	len = admin_encode_status(&sr, out, sizeof(out));
	assert_true(len > 0 && len <= ADMIN_RECORD_MAX);
	assert_int_equal(decode_copy(&back, out, (size_t)len, &why), 0);
	same_report(&sr, &back);
	sr.src.scheme = 0;
	assert_int_equal(admin_encode_status(&sr, out, sizeof(out)), -EINVAL);
}

/* Forms other encoders may use: indefinite arrays, a time on "false". */
static void
test_accepts(void **state)
{
	static const char *const ok[] = {
		"9f 01 9f 9f 9ff4ff 81f4 82f5 1903e8 81f4 ff 00 82 02 82 01 05 82 1a000c3500 03 ff ff",
		"82 01 84 84 82f4 05 81f4 82f5 1903e8 81f4 00 82 02 82 01 05 82 1a000c3500 03",
	};
	struct status_report sr, want;
	uint8_t buf[128];
	const char *why;
	size_t n;

	n = unhex(delivered_hex, buf, sizeof(buf));
	assert_int_equal(decode_copy(&want, buf, n, &why), 0);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		n = unhex(ok[i], buf, sizeof(buf));
		assert_int_equal(decode_copy(&sr, buf, n, &why), 0);
		same_report(&want, &sr);
		assert_false(sr.has_time[ADMIN_RECEIVED]);
	}
}

static void
test_rejects(void **state)
{
	static const struct { const char *hex; int err; const char *why; } bad[] = {
		{ "", -EBADMSG, "not an administrative record [type, content]" },
		{ "a0", -EBADMSG, "not an administrative record [type, content]" },
		{ "82 20 00", -EBADMSG, "not an administrative record [type, content]" },
		{ "82 04 80", -EPROTONOSUPPORT, "administrative record is not a status report" },
		{ "81 01", -EBADMSG, "administrative record without content" },
		{ "82 01 a0", -EBADMSG, "status report is not an array" },
		{ "82 01 84 00 00 00 00", -EBADMSG, "status information is not an array" },
		{ "82 01 84 83 81f4 81f4 81f4 00 82 02 82 01 05 82 01 03", -EBADMSG,
		  "status information has fewer than four assertions" },
		{ "82 01 84 85 81f4 81f4 81f4 81f4 81f4 00 82 02 82 01 05 82 01 03", -EBADMSG,
		  "status information has more than four assertions" },
		{ "82 01 84 84 f4 81f4 81f4 81f4 00 82 02 82 01 05 82 01 03", -EBADMSG,
		  "status assertion is not [true/false, (time)]" },
		{ "82 01 84 84 80 81f4 81f4 81f4 00 82 02 82 01 05 82 01 03", -EBADMSG,
		  "status assertion is not [true/false, (time)]" },
		{ "82 01 84 84 8101 81f4 81f4 81f4 00 82 02 82 01 05 82 01 03", -EBADMSG,
		  "status assertion is not [true/false, (time)]" },
		{ "82 01 84 84 82f5 20 81f4 81f4 81f4 00 82 02 82 01 05 82 01 03", -EBADMSG,
		  "status time is not an unsigned integer" },
		{ "82 01 84 84 83f5 01 02 81f4 81f4 81f4 00 82 02 82 01 05 82 01 03", -EBADMSG,
		  "status assertion has more than two elements" },
		{ "82 01 84 84 81f4 81f4 81f4 81f4 f4 82 02 82 01 05 82 01 03", -EBADMSG,
		  "reason code missing or not an unsigned integer" },
		{ "82 01 82 84 81f4 81f4 81f4 81f4 00", -EBADMSG, "subject source EID missing" },
		{ "82 01 84 84 81f4 81f4 81f4 81f4 00 82 03 00 82 01 03", -EBADMSG,
		  "subject source EID is malformed" },
		{ "82 01 84 84 81f4 81f4 81f4 81f4 00 82 02 82 01 05 81 01", -EBADMSG,
		  "subject creation timestamp is not [time, sequence]" },
		{ "82 01 83 84 81f4 81f4 81f4 81f4 00 82 02 82 01 05", -EBADMSG,
		  "subject creation timestamp is not [time, sequence]" },
		{ "82 01 85 84 81f4 81f4 81f4 81f4 00 82 02 82 01 05 82 01 03 07", -EBADMSG,
		  "fragment offset without a payload length" },
		{ "82 01 87 84 81f4 81f4 81f4 81f4 00 82 02 82 01 05 82 01 03 07 08 09", -EBADMSG,
		  "status report has more than six elements" },
		{ "82 01 86 84 81f4 81f4 81f4 81f4 00 82 02 82 01 05 82 01 03 07 40", -EBADMSG,
		  "fragment offset or length is not an unsigned integer" },
		{ "83 01 84 84 81f4 81f4 81f4 81f4 00 82 02 82 01 05 82 01 03 00", -EBADMSG,
		  "administrative record has more than two elements" },
		{ "82 01 84 84 81f4 81f4 81f4 81f4 00 82 02 82 01 05 82 01 03 00", -EBADMSG,
		  "trailing bytes after the administrative record" },
	};
	struct status_report sr;
	uint8_t buf[128];
	const char *why;
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = unhex(bad[i].hex, buf, sizeof(buf));
		assert_int_equal(decode_copy(&sr, buf, n, &why), bad[i].err);
		if (strcmp(why, bad[i].why) != 0)
			fail_msg("case %zu: \"%s\", wanted \"%s\"", i, why, bad[i].why);
	}
	/* Every proper prefix of a valid report is refused, never over-read. */
	n = unhex(delivered_hex, buf, sizeof(buf));
	for (size_t k = 0; k < n; k++)
		assert_int_equal(decode_copy(&sr, buf, k, &why), -EBADMSG);
}

static void
test_names_and_format(void **state)
{
	struct status_report sr = { 0 };
	uint64_t f = 0;
	char line[512];
	int n;

	assert_string_equal(admin_status_name(ADMIN_FORWARDED), "forwarded");
	assert_string_equal(admin_status_name(9), "?");
	assert_string_equal(admin_reason_name(REASON_HOP_LIMIT_EXCEEDED), "hop limit exceeded");
	assert_string_equal(admin_reason_name(REASON_LIFETIME_EXPIRED), "lifetime expired");
	assert_string_equal(admin_reason_name(12), "unknown reason");
	assert_int_equal(admin_report_flag("delivered", &f), 0);
	assert_int_equal(f, BF_RPT_DELIVERY);
	assert_int_equal(admin_report_flag("time", &f), 0);
	assert_int_equal(f, BF_STATUS_TIME);
	assert_int_equal(admin_report_flag("all", &f), 0);
	assert_int_equal(f, BF_RPT_RECEPTION | BF_RPT_FORWARDING | BF_RPT_DELIVERY | BF_RPT_DELETION);
	assert_int_equal(admin_report_flag("custody", &f), -EINVAL);

	eid_ipn(&sr.src, 1, 2);
	sr.ctime = 5;
	sr.seq = 6;
	admin_format(&sr, line, sizeof(line));
	assert_string_equal(line, "ipn:1.2 5 6: nothing asserted (no additional information)");
	sr.asserted[ADMIN_RECEIVED] = sr.asserted[ADMIN_DELETED] = true;
	sr.reason = REASON_HOP_LIMIT_EXCEEDED;
	sr.fragment = true;
	sr.frag_offset = 100;
	sr.payload_len = 50;
	n = admin_format(&sr, line, sizeof(line));
	assert_int_equal(n, (int)strlen(line));
	assert_string_equal(line, "ipn:1.2 5 6 (fragment at 100, 50 bytes): received, deleted (hop limit exceeded)");
	/* Truncated like snprintf: the length it would have had. */
	assert_int_equal(admin_format(&sr, line, 10), (int)strlen("ipn:1.2 5 6 (fragment at 100, 50 bytes):"
	    " received, deleted (hop limit exceeded)"));
	assert_string_equal(line, "ipn:1.2 5");
}

/* What the node reads back from a stored bundle: its first bytes only. */
static void
test_primary_from_prefix(void **state)
{
	struct bundle b, p;
	uint8_t payload[3000], *buf;
	const char *why;
	ssize_t n;

	memset(payload, 'p', sizeof(payload));
	bundle_init(&b);
	eid_ipn(&b.dst, 3, 5);
	eid_ipn(&b.src, 1, 5);
	eid_ipn(&b.report_to, 1, 0);
	b.flags = BF_RPT_DELIVERY | BF_RPT_FORWARDING | BF_STATUS_TIME | BF_IS_FRAGMENT;
	b.frag_offset = 1000;
	b.adu_len = 10000;
	b.ctime = 123456789;
	b.seq = 77;
	b.payload = payload;
	b.payload_len = sizeof(payload);
	n = bundle_encode(&b, NULL, 0);
	assert_true(n > 0);
	assert_non_null(buf = malloc((size_t)n));
	assert_int_equal(bundle_encode(&b, buf, (size_t)n), n);
	assert_int_equal(bundle_decode_primary(&p, buf, 1024, &why), 0);
	assert_int_equal(p.flags, b.flags);
	assert_true(eid_equal(&p.src, &b.src) && eid_equal(&p.report_to, &b.report_to));
	assert_int_equal(p.ctime, b.ctime);
	assert_int_equal(p.seq, b.seq);
	assert_int_equal(p.frag_offset, 1000);
	assert_int_equal(p.adu_len, 10000);
	assert_null(p.payload);
	/* The primary block itself cut short, or its CRC wrong: refused. */
	assert_int_equal(bundle_decode_primary(&p, buf, 20, &why), -EBADMSG);
	buf[5] ^= 1;
	assert_int_equal(bundle_decode_primary(&p, buf, 1024, &why), -EBADMSG);
	assert_string_equal(why, "primary block CRC mismatch");
	assert_int_equal(bundle_decode_primary(&p, (const uint8_t *)"\x01", 1, &why), -EBADMSG);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_bytes),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_names_and_format),
		cmocka_unit_test(test_primary_from_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
