/*
 * fuzz_compact.c - libFuzzer target for the compact bundle form
 * (radio/compact.c).
 *
 * The first input byte picks the context (sender, receiver, time base) from
 * its low bits and a mode from its top bit:
 *  - 0: the rest is a compact form.  Whatever compact_decode() accepts must
 *    be a bundle bundle_decode() accepts, at most COMPACT_EXPANSION_MAX
 *    longer than the compact form, and compact_encode() must give back
 *    exactly the input (one compact form per bundle), never refusing it;
 *  - 1: the rest is a bundle.  Whatever compact_encode() accepts must be no
 *    longer than the bundle and decode back to it byte for byte.
 * Any mismatch aborts, which libFuzzer reports as a crash.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "compact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_compact: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

#define BUF_MAX	70000

static const struct compact_ctx contexts[4] = {
	{ .sender = 12, .receiver = 7, .time_base = 849234000000ULL },
	{ .sender = 1, .receiver = 2, .time_base = 0 },
	{ .sender = UINT32_MAX, .receiver = 127, .time_base = UINT64_MAX },
	{ .sender = 300, .receiver = 128, .time_base = 1 },
};

static void
from_compact(const struct compact_ctx *c, const uint8_t *in, size_t len)
{
	static uint8_t out[BUF_MAX + COMPACT_EXPANSION_MAX], again[BUF_MAX];
	struct bundle b;
	const char *why;
	ssize_t n, m;

	n = compact_decode(c, in, len, out, sizeof(out), &why);
	if (n < 0) {
		CHECK(n == -EBADMSG && why != NULL);
		return;
	}
	CHECK((size_t)n <= len + COMPACT_EXPANSION_MAX);
	CHECK(bundle_decode(&b, out, (size_t)n, &why) == 0);
	m = compact_encode(c, out, (size_t)n, again, sizeof(again), &why);
	if (m < 0)
		fprintf(stderr, "fuzz_compact: refused what it decoded: %s\n", why);
	CHECK(m == (ssize_t)len);
	CHECK(memcmp(again, in, len) == 0);
}

static void
from_bundle(const struct compact_ctx *c, const uint8_t *in, size_t len)
{
	static uint8_t form[BUF_MAX], out[BUF_MAX];
	const char *why;
	ssize_t n, m;

	n = compact_encode(c, in, len, form, sizeof(form), &why);
	if (n < 0) {
		CHECK(n == -ENOTSUP);
		return;
	}
	CHECK((size_t)n <= len);
	m = compact_decode(c, form, (size_t)n, out, sizeof(out), &why);
	CHECK(m == (ssize_t)len);
	CHECK(memcmp(out, in, len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size < 1 || size > BUF_MAX)
		return 0;
	/* An exact-size copy, so that ASan sees any read past the end. */
	if ((copy = malloc(size - 1 ? size - 1 : 1)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 0x80)
		from_bundle(&contexts[data[0] & 3], copy, size - 1);
	else
		from_compact(&contexts[data[0] & 3], copy, size - 1);
	free(copy);
	return 0;
}
