/*
 * cbor.c - bounded CBOR reader and writer (see cbor.h).
 *
 * An item starts with a head: one initial byte, major type in the top three
 * bits, "additional information" (ai) in the low five.  ai 0..23 is the
 * argument itself; 24, 25, 26, 27 mean it follows in 1, 2, 4, 8 big-endian
 * bytes; 31 marks an indefinite-length string, array or map (or, as the
 * byte 0xff, the break that ends one); 28..30 are reserved.
 */
#include <errno.h>
#include <string.h>

#include "cbor.h"

struct head {
	int major;
	uint64_t arg;		/* value, length or count */
	bool indef;		/* ai 31: indefinite length, or break */
	size_t len;		/* bytes of the head */
};

/* Parse the head at p without moving the reader; r->why on failure. */
static int
head_at(struct cbor_reader *r, const uint8_t *p, struct head *h)
{
	size_t avail = (size_t)(r->end - p), n;
	unsigned ai;

	if (avail == 0) {
		r->why = "truncated CBOR";
		return -EBADMSG;
	}
	h->major = p[0] >> 5;
	ai = p[0] & 0x1f;
	h->indef = false;
	if (ai < 24) {
		h->arg = ai;
		h->len = 1;
		return 0;
	}
	if (ai == 31) {
		if (h->major < CBOR_BYTES || h->major == CBOR_TAG) {
			r->why = "indefinite length on a CBOR integer or tag";
			return -EBADMSG;
		}
		h->indef = true;
		h->arg = 0;
		h->len = 1;
		return 0;
	}
	if (ai > 27) {
		r->why = "reserved CBOR additional information";
		return -EBADMSG;
	}
	n = (size_t)1 << (ai - 24);
	if (avail < 1 + n) {
		r->why = "truncated CBOR";
		return -EBADMSG;
	}
	h->arg = 0;
	for (size_t i = 0; i < n; i++)
		h->arg = h->arg << 8 | p[1 + i];
	h->len = 1 + n;
	if (h->major == CBOR_SIMPLE) {
		/* Floats have their own preferred-form rules; simple values
		 * below 32 must not use the one-byte extension. */
		if (ai == 24 && h->arg < 32) {
			r->why = "malformed CBOR simple value";
			return -EBADMSG;
		}
		return 0;
	}
	/* Preferred serialization: the shortest head that holds the value. */
	if ((ai == 24 && h->arg < 24) || (ai == 25 && h->arg <= 0xff) ||
	    (ai == 26 && h->arg <= 0xffff) || (ai == 27 && h->arg <= 0xffffffffu)) {
		r->why = "non-minimal CBOR integer or length";
		return -EBADMSG;
	}
	return 0;
}

void
cbor_reader_init(struct cbor_reader *r, const void *buf, size_t len)
{
	r->p = buf;
	r->end = r->p + len;
	r->why = NULL;
}

size_t
cbor_left(const struct cbor_reader *r)
{
	return (size_t)(r->end - r->p);
}

int
cbor_peek(const struct cbor_reader *r)
{
	if (r->p >= r->end)
		return -EBADMSG;
	return r->p[0] >> 5;
}

bool
cbor_at_break(const struct cbor_reader *r)
{
	return r->p < r->end && r->p[0] == CBOR_BREAK;
}

/* Read a head that must be of the given major type. */
static int
expect(struct cbor_reader *r, int major, struct head *h)
{
	int e;

	if ((e = head_at(r, r->p, h)) < 0)
		return e;
	if (h->major != major) {
		r->why = "unexpected CBOR type";
		return -EBADMSG;
	}
	return 0;
}

int
cbor_read_uint(struct cbor_reader *r, uint64_t *v)
{
	struct head h;
	int e;

	if ((e = expect(r, CBOR_UINT, &h)) < 0)
		return e;
	r->p += h.len;
	*v = h.arg;
	return 0;
}

int
cbor_read_array(struct cbor_reader *r, uint64_t *n)
{
	struct head h;
	int e;

	if ((e = expect(r, CBOR_ARRAY, &h)) < 0)
		return e;
	/* Every element takes at least a byte: a count the rest of the
	 * buffer cannot hold is a truncation, caught before anyone loops. */
	if (!h.indef && h.arg > cbor_left(r) - h.len) {
		r->why = "truncated CBOR array";
		return -EBADMSG;
	}
	r->p += h.len;
	*n = h.indef ? CBOR_INDEF : h.arg;
	return 0;
}

bool
cbor_next(struct cbor_reader *r, uint64_t *left)
{
	if (*left == CBOR_INDEF) {
		if (cbor_at_break(r)) {
			r->p++;
			*left = 0;
			return false;
		}
		return true;	/* at the end of the buffer the next read fails */
	}
	if (*left == 0)
		return false;
	(*left)--;
	return true;
}

int
cbor_read_bool(struct cbor_reader *r, bool *v)
{
	if (r->p >= r->end || (r->p[0] != 0xf4 && r->p[0] != 0xf5)) {
		r->why = r->p >= r->end ? "truncated CBOR" : "unexpected CBOR type";
		return -EBADMSG;
	}
	*v = *r->p++ == 0xf5;
	return 0;
}

/* A definite string of the given major type. */
static int
read_string(struct cbor_reader *r, int major, const uint8_t **p, size_t *n)
{
	struct head h;
	int e;

	if ((e = expect(r, major, &h)) < 0)
		return e;
	if (h.indef) {
		r->why = "indefinite-length CBOR string";
		return -EBADMSG;
	}
	if (h.arg > cbor_left(r) - h.len) {
		r->why = "truncated CBOR string";
		return -EBADMSG;
	}
	*p = r->p + h.len;
	*n = (size_t)h.arg;
	r->p += h.len + (size_t)h.arg;
	return 0;
}

int
cbor_read_bytes(struct cbor_reader *r, const uint8_t **p, size_t *n)
{
	return read_string(r, CBOR_BYTES, p, n);
}

int
cbor_read_text(struct cbor_reader *r, const char **p, size_t *n)
{
	const uint8_t *s;
	int e;

	if ((e = read_string(r, CBOR_TEXT, &s, n)) < 0)
		return e;
	*p = (const char *)s;
	return 0;
}

int
cbor_read_text_copy(struct cbor_reader *r, char *buf, size_t cap, size_t *n)
{
	struct cbor_reader c = *r;
	const char *s;
	size_t len = 0, sn;
	struct head h;
	int e;

	if (cap == 0)
		return -EMSGSIZE;
	if ((e = expect(&c, CBOR_TEXT, &h)) < 0) {
		r->why = c.why;
		return e;
	}
	if (!h.indef) {
		if ((e = cbor_read_text(&c, &s, &sn)) < 0) {
			r->why = c.why;
			return e;
		}
		if (sn >= cap) {
			r->why = "CBOR text too long";
			return -EMSGSIZE;
		}
		memcpy(buf, s, sn);
		len = sn;
	} else {
		/* Chunks are definite text strings up to the break. */
		c.p += h.len;
		while (!cbor_at_break(&c)) {
			if ((e = cbor_read_text(&c, &s, &sn)) < 0) {
				r->why = c.why;
				return e;
			}
			if (sn >= cap - len) {
				r->why = "CBOR text too long";
				return -EMSGSIZE;
			}
			memcpy(buf + len, s, sn);
			len += sn;
		}
		c.p++;
	}
	buf[len] = '\0';
	*n = len;
	r->p = c.p;
	return 0;
}

/* Skip the chunks of an indefinite string of the given major type. */
static int
skip_chunks(struct cbor_reader *r, int major)
{
	struct head h;
	int e;

	for (;;) {
		if ((e = head_at(r, r->p, &h)) < 0)
			return e;
		if (h.major == CBOR_SIMPLE && h.indef) {
			r->p++;
			return 0;
		}
		if (h.major != major || h.indef) {
			r->why = "malformed chunk in indefinite CBOR string";
			return -EBADMSG;
		}
		if (h.arg > cbor_left(r) - h.len) {
			r->why = "truncated CBOR string";
			return -EBADMSG;
		}
		r->p += h.len + (size_t)h.arg;
	}
}

static int
skip_item(struct cbor_reader *r, unsigned depth)
{
	struct head h;
	uint64_t n;
	int e;

	if ((e = head_at(r, r->p, &h)) < 0)
		return e;
	switch (h.major) {
	case CBOR_UINT:
	case CBOR_NINT:
		r->p += h.len;
		return 0;
	case CBOR_BYTES:
	case CBOR_TEXT:
		if (h.indef) {
			r->p += h.len;
			return skip_chunks(r, h.major);
		}
		if (h.arg > cbor_left(r) - h.len) {
			r->why = "truncated CBOR string";
			return -EBADMSG;
		}
		r->p += h.len + (size_t)h.arg;
		return 0;
	case CBOR_ARRAY:
	case CBOR_MAP:
		if (depth == 0) {
			r->why = "CBOR nested too deep";
			return -EMSGSIZE;
		}
		r->p += h.len;
		if (h.indef) {
			for (n = 0; !cbor_at_break(r); n++)
				if ((e = skip_item(r, depth - 1)) < 0)
					return e;
			if (h.major == CBOR_MAP && n % 2 != 0) {
				r->why = "CBOR map with a key but no value";
				return -EBADMSG;
			}
			r->p++;
			return 0;
		}
		/* Bound the count by the bytes left before looping (and
		 * before doubling it for a map's keys and values). */
		if (h.arg > cbor_left(r)) {
			r->why = "truncated CBOR container";
			return -EBADMSG;
		}
		n = h.major == CBOR_MAP ? 2 * h.arg : h.arg;
		while (n-- > 0)
			if ((e = skip_item(r, depth - 1)) < 0)
				return e;
		return 0;
	case CBOR_TAG:
		if (depth == 0) {
			r->why = "CBOR nested too deep";
			return -EMSGSIZE;
		}
		r->p += h.len;
		return skip_item(r, depth - 1);
	default:
		if (h.indef) {
			r->why = "unexpected CBOR break";
			return -EBADMSG;
		}
		r->p += h.len;
		return 0;
	}
}

int
cbor_skip(struct cbor_reader *r, unsigned max_depth)
{
	const uint8_t *start = r->p;
	int e;

	if ((e = skip_item(r, max_depth)) < 0)
		r->p = start;
	return e;
}

void
cbor_writer_init(struct cbor_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf != NULL ? cap : 0;
	w->len = 0;
}

bool
cbor_writer_ok(const struct cbor_writer *w)
{
	return w->buf != NULL && w->len <= w->cap;
}

void
cbor_put_raw(struct cbor_writer *w, const void *p, size_t n)
{
	if (n > 0 && w->buf != NULL && w->len <= w->cap && n <= w->cap - w->len)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

/* The shortest head for a major type and argument. */
static void
put_head(struct cbor_writer *w, int major, uint64_t v)
{
	uint8_t b[9];
	size_t n;

	if (v < 24) {
		b[0] = (uint8_t)(major << 5 | (int)v);
		n = 1;
	} else if (v <= 0xff) {
		b[0] = (uint8_t)(major << 5 | 24);
		n = 2;
	} else if (v <= 0xffff) {
		b[0] = (uint8_t)(major << 5 | 25);
		n = 3;
	} else if (v <= 0xffffffffu) {
		b[0] = (uint8_t)(major << 5 | 26);
		n = 5;
	} else {
		b[0] = (uint8_t)(major << 5 | 27);
		n = 9;
	}
	for (size_t i = n - 1; i >= 1; i--, v >>= 8)
		b[i] = (uint8_t)v;
	cbor_put_raw(w, b, n);
}

void
cbor_put_uint(struct cbor_writer *w, uint64_t v)
{
	put_head(w, CBOR_UINT, v);
}

void
cbor_put_array(struct cbor_writer *w, uint64_t n)
{
	put_head(w, CBOR_ARRAY, n);
}

void
cbor_put_array_indef(struct cbor_writer *w)
{
	uint8_t b = CBOR_ARRAY << 5 | 31;

	cbor_put_raw(w, &b, 1);
}

void
cbor_put_break(struct cbor_writer *w)
{
	uint8_t b = CBOR_BREAK;

	cbor_put_raw(w, &b, 1);
}

void
cbor_put_bytes_head(struct cbor_writer *w, uint64_t n)
{
	put_head(w, CBOR_BYTES, n);
}

void
cbor_put_bytes(struct cbor_writer *w, const void *p, size_t n)
{
	put_head(w, CBOR_BYTES, n);
	cbor_put_raw(w, p, n);
}

void
cbor_put_text(struct cbor_writer *w, const char *s, size_t n)
{
	put_head(w, CBOR_TEXT, n);
	cbor_put_raw(w, s, n);
}

void
cbor_put_bool(struct cbor_writer *w, bool v)
{
	uint8_t b = v ? 0xf5 : 0xf4;

	cbor_put_raw(w, &b, 1);
}
