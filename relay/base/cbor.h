/*
 * cbor.h - a small bounded CBOR (RFC 8949) reader and writer.
 *
 * The reader walks a buffer it is given and never reads outside it, never
 * allocates and never recurses deeper than its caller allows.  It reads
 * only preferred ("shortest form") heads, as RFC 9171 section 4.1 requires
 * of bundles: a non-minimal integer or length is rejected.  Arrays and maps
 * may be definite or indefinite; byte and text strings are returned as
 * pointers into the buffer, so only definite strings can be read that way
 * (cbor_read_text_copy() also joins indefinite, chunked text).
 *
 * Every read is all or nothing: on failure the reader has not moved and
 * r->why names the problem with a static string.
 *
 * The writer appends to a caller's buffer and keeps counting past its end,
 * so one pass with a NULL buffer gives the size of an encoding.
 */
#ifndef FIELDRELAY_CBOR_H
#define FIELDRELAY_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cbor_major {
	CBOR_UINT = 0,
	CBOR_NINT = 1,
	CBOR_BYTES = 2,
	CBOR_TEXT = 3,
	CBOR_ARRAY = 4,
	CBOR_MAP = 5,
	CBOR_TAG = 6,
	CBOR_SIMPLE = 7,	/* false, true, null, undefined, floats, break */
};

/* Element count of an indefinite-length array, from cbor_read_array(). */
#define CBOR_INDEF	UINT64_MAX
#define CBOR_BREAK	0xff

struct cbor_reader {
	const uint8_t *p, *end;
	const char *why;	/* static reason of the last failure */
};

void cbor_reader_init(struct cbor_reader *r, const void *buf, size_t len);
size_t cbor_left(const struct cbor_reader *r);

/* Major type of the next item, or -EBADMSG at the end of the buffer. */
int cbor_peek(const struct cbor_reader *r);
/* True if the next byte is the break that ends an indefinite item. */
bool cbor_at_break(const struct cbor_reader *r);

/*
 * The readers below return 0 or -EBADMSG (wrong type, truncated,
 * non-minimal or otherwise malformed).
 */
int cbor_read_uint(struct cbor_reader *r, uint64_t *v);
/* The simple values false (0xf4) and true (0xf5). */
int cbor_read_bool(struct cbor_reader *r, bool *v);
/* *n is the element count, or CBOR_INDEF; iterate with cbor_next(). */
int cbor_read_array(struct cbor_reader *r, uint64_t *n);
/* A definite byte / text string: pointer into the buffer and length. */
int cbor_read_bytes(struct cbor_reader *r, const uint8_t **p, size_t *n);
int cbor_read_text(struct cbor_reader *r, const char **p, size_t *n);
/*
 * A text string, definite or chunked, copied and NUL-terminated into buf.
 * -EMSGSIZE (nothing consumed) if it does not fit in cap - 1 bytes.
 */
int cbor_read_text_copy(struct cbor_reader *r, char *buf, size_t cap, size_t *n);

/*
 * Whether an array opened with cbor_read_array() has another element; *left
 * is the count it returned and is decremented here.  At the end of an
 * indefinite array it consumes the break.  True when the buffer ends before
 * the break, so that the caller's next read fails (as truncated).
 */
bool cbor_next(struct cbor_reader *r, uint64_t *left);

/*
 * Skip one well-formed item.  Arrays, maps and tags may be nested at most
 * max_depth deep (0: only scalars and strings).  Returns 0, -EBADMSG
 * (malformed or truncated) or -EMSGSIZE (nested too deep).  Work is linear
 * in the bytes skipped; the recursion never exceeds max_depth.
 */
int cbor_skip(struct cbor_reader *r, unsigned max_depth);

struct cbor_writer {
	uint8_t *buf;		/* NULL: only count */
	size_t cap;
	size_t len;		/* bytes written, or that would have been */
};

void cbor_writer_init(struct cbor_writer *w, uint8_t *buf, size_t cap);
/* True while everything written so far fit in the buffer. */
bool cbor_writer_ok(const struct cbor_writer *w);

void cbor_put_uint(struct cbor_writer *w, uint64_t v);
void cbor_put_bool(struct cbor_writer *w, bool v);
void cbor_put_array(struct cbor_writer *w, uint64_t n);
void cbor_put_array_indef(struct cbor_writer *w);
void cbor_put_break(struct cbor_writer *w);
void cbor_put_bytes(struct cbor_writer *w, const void *p, size_t n);
/* Only the head of a byte string of n bytes: the caller writes the bytes. */
void cbor_put_bytes_head(struct cbor_writer *w, uint64_t n);
void cbor_put_text(struct cbor_writer *w, const char *s, size_t n);
/* Bytes that already are CBOR (or string contents after a head). */
void cbor_put_raw(struct cbor_writer *w, const void *p, size_t n);

#endif
