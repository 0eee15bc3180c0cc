/*
 * fuzz_bundle.c - libFuzzer target for the BPv7 decoder and the CBOR reader.
 *
 * Whatever bundle_decode() accepts must encode, decode again to the same
 * fields, and re-encode to the same bytes; head || payload || tail must equal
 * the whole encoding; bundle_blocks() must agree with bundle_decode().  Any
 * mismatch aborts, which libFuzzer reports as a crash.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_bundle: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

static bool
same(const struct bundle *a, const struct bundle *b)
{
	if (a->flags != b->flags || a->crc_type != b->crc_type ||
	    !eid_equal(&a->dst, &b->dst) || !eid_equal(&a->src, &b->src) ||
	    !eid_equal(&a->report_to, &b->report_to) || a->ctime != b->ctime ||
	    a->seq != b->seq || a->lifetime != b->lifetime ||
	    a->frag_offset != b->frag_offset || a->adu_len != b->adu_len ||
	    a->has_prev != b->has_prev || (a->has_prev && !eid_equal(&a->prev, &b->prev)) ||
	    a->has_age != b->has_age || a->age != b->age || a->has_hop != b->has_hop ||
	    a->hop_limit != b->hop_limit || a->hop_count != b->hop_count ||
	    a->priority != b->priority || a->n_other != b->n_other ||
	    a->payload_flags != b->payload_flags || a->payload_crc != b->payload_crc ||
	    a->payload_len != b->payload_len ||
	    (a->payload_len && memcmp(a->payload, b->payload, a->payload_len) != 0))
		return false;
	for (size_t i = 0; i < a->n_other; i++) {
		const struct bundle_block *x = &a->other[i], *y = &b->other[i];

		if (x->type != y->type || x->number != y->number || x->flags != y->flags ||
		    x->crc_type != y->crc_type || x->len != y->len ||
		    (x->len && memcmp(x->data, y->data, x->len) != 0))
			return false;
	}
	return true;
}

static void
check_cbor(const uint8_t *data, size_t size)
{
	struct cbor_reader r;
	const uint8_t *p;
	char text[64];
	uint64_t v;
	size_t n;

	/* Skip items at a generous depth until something fails. */
	cbor_reader_init(&r, data, size);
	while (cbor_left(&r) > 0 && cbor_skip(&r, 64) == 0)
		;
	CHECK(r.p >= data && r.p <= data + size);

	/* The typed readers on the same bytes never move past the end. */
	cbor_reader_init(&r, data, size);
	while (cbor_left(&r) > 0) {
		const uint8_t *before = r.p;

		switch (cbor_peek(&r)) {
		case CBOR_UINT:
			(void)cbor_read_uint(&r, &v);
			break;
		case CBOR_BYTES:
			if (cbor_read_bytes(&r, &p, &n) == 0)
				CHECK(p >= data && p + n <= data + size);
			break;
		case CBOR_TEXT:
			if (cbor_read_text_copy(&r, text, sizeof(text), &n) == 0)
				CHECK(n < sizeof(text) && text[n] == '\0');
			break;
		case CBOR_ARRAY:
			(void)cbor_read_array(&r, &v);
			break;
		default:
			break;
		}
		CHECK(r.p <= data + size);
		if (r.p == before)
			r.p++;		/* not a type we read: step over a byte */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_block blocks[BUNDLE_MAX_BLOCKS + 1];
	struct bundle b, c;
	const char *why = NULL;
	uint8_t *enc, *enc2, *s;
	ssize_t n, n2, h, t;
	char id[BUNDLE_ID_MAX];
	int e, nb;

	check_cbor(data, size);

	e = bundle_decode(&b, data, size, &why);
	nb = bundle_blocks(data, size, blocks, BUNDLE_MAX_BLOCKS + 1, &why);
	if (e < 0) {
		CHECK(why != NULL);
		CHECK(e == -EBADMSG || e == -EMSGSIZE || e == -EPROTONOSUPPORT);
		CHECK(nb == e);
		return 0;
	}
	CHECK(e == 0);
	CHECK(nb >= 1 && nb <= BUNDLE_MAX_BLOCKS + 1);
	CHECK(blocks[nb - 1].type == BLOCK_PAYLOAD && blocks[nb - 1].number == 1);
	CHECK(bundle_id(&b, id, sizeof(id)) == 0);

	n = bundle_encode(&b, NULL, 0);
	CHECK(n > 0);
	enc = malloc((size_t)n);
	CHECK(enc != NULL);
	CHECK(bundle_encode(&b, enc, (size_t)n) == n);
	CHECK(bundle_encode(&b, enc, (size_t)n - 1) == -ENOSPC);
	CHECK(bundle_decode(&c, enc, (size_t)n, &why) == 0);
	CHECK(same(&b, &c));

	n2 = bundle_encode(&c, NULL, 0);
	CHECK(n2 == n);
	enc2 = malloc((size_t)n2);
	CHECK(enc2 != NULL);
	CHECK(bundle_encode(&c, enc2, (size_t)n2) == n2);
	CHECK(memcmp(enc, enc2, (size_t)n) == 0);

	if (b.payload_crc == CRC_NONE) {
		h = bundle_encode_head(&b, NULL, 0);
		t = bundle_encode_tail(&b, NULL, 0);
		CHECK(h > 0 && t > 0 && (size_t)h + b.payload_len + (size_t)t == (size_t)n);
		s = malloc((size_t)n);
		CHECK(s != NULL);
		CHECK(bundle_encode_head(&b, s, (size_t)h) == h);
		if (b.payload_len > 0)
			memcpy(s + h, b.payload, b.payload_len);
		CHECK(bundle_encode_tail(&b, s + h + b.payload_len, (size_t)t) == t);
		CHECK(memcmp(s, enc, (size_t)n) == 0);
		free(s);
	}
	free(enc2);
	free(enc);
	return 0;
}
