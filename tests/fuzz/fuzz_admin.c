/*
 * fuzz_admin.c - libFuzzer target for the status report decoder, and for
 * the primary-block reader that reports about stored bundles start from.
 *
 * Whatever admin_decode_status() accepts must encode, decode again to the
 * same fields and encode again to the same bytes, and format without
 * overflowing.  bundle_decode_primary() must agree with bundle_decode() on
 * every bundle the latter accepts.  Any mismatch aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_admin: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

static int
same(const struct status_report *a, const struct status_report *b)
{
	for (int i = 0; i < ADMIN_STATUS_N; i++)
		if (a->asserted[i] != b->asserted[i] || a->has_time[i] != b->has_time[i] ||
		    (a->has_time[i] && a->time[i] != b->time[i]))
			return 0;
	return a->reason == b->reason && eid_equal(&a->src, &b->src) && a->ctime == b->ctime &&
	    a->seq == b->seq && a->fragment == b->fragment &&
	    (!a->fragment || (a->frag_offset == b->frag_offset && a->payload_len == b->payload_len));
}

static void
check_report(const uint8_t *data, size_t size)
{
	struct status_report sr, back;
	uint8_t enc[ADMIN_RECORD_MAX], enc2[ADMIN_RECORD_MAX];
	char line[64];
	const char *why = NULL;
	ssize_t n, n2;
	int e;

	e = admin_decode_status(&sr, data, size, &why);
	if (e < 0) {
		CHECK(why != NULL);
		CHECK(e == -EBADMSG || e == -EMSGSIZE || e == -EPROTONOSUPPORT);
		return;
	}
	for (int i = 0; i < ADMIN_STATUS_N; i++)
		CHECK(!sr.has_time[i] || sr.asserted[i]);
	n = admin_encode_status(&sr, NULL, 0);
	CHECK(n > 0 && n <= ADMIN_RECORD_MAX);
	CHECK(admin_encode_status(&sr, enc, sizeof(enc)) == n);
	CHECK(admin_encode_status(&sr, enc, (size_t)n - 1) == -ENOSPC);
	CHECK(admin_decode_status(&back, enc, (size_t)n, &why) == 0);
	CHECK(same(&sr, &back));
	n2 = admin_encode_status(&back, enc2, sizeof(enc2));
	CHECK(n2 == n && memcmp(enc, enc2, (size_t)n) == 0);
	n = admin_format(&sr, line, sizeof(line));
	CHECK(n >= 0 && strlen(line) < sizeof(line));
}

static void
check_primary(const uint8_t *data, size_t size)
{
	struct bundle b, p;
	const char *why = NULL;
	int e;

	e = bundle_decode_primary(&p, data, size, &why);
	CHECK(e == 0 || (why != NULL && (e == -EBADMSG || e == -EMSGSIZE || e == -EPROTONOSUPPORT)));
	CHECK(p.payload == NULL);
	if (bundle_decode(&b, data, size, &why) != 0)
		return;
	CHECK(e == 0);
	CHECK(p.flags == b.flags && p.crc_type == b.crc_type && eid_equal(&p.dst, &b.dst) &&
	    eid_equal(&p.src, &b.src) && eid_equal(&p.report_to, &b.report_to) && p.ctime == b.ctime &&
	    p.seq == b.seq && p.lifetime == b.lifetime && p.frag_offset == b.frag_offset &&
	    p.adu_len == b.adu_len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_report(data, size);
	check_primary(data, size);
	return 0;
}
