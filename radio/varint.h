/*
 * varint.h - unsigned LEB128 varints (7 bits a byte, low group first, high
 * bit = more; minimal length only), the integers of every link frame
 * (radio/frame.c) and of compact bundle headers (radio/compact.c).
 *
 * The writer keeps counting past the end of its buffer (or with no buffer at
 * all), so one pass measures an encoding.  The reader never reads outside
 * its buffer.
 */
#ifndef FIELDRELAY_VARINT_H
#define FIELDRELAY_VARINT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct wr {
	uint8_t *buf;			/* NULL: only count */
	size_t cap, len;		/* len keeps counting past cap */
};

static inline void
put_u8(struct wr *w, uint8_t b)
{
	if (w->buf && w->len < w->cap)
		w->buf[w->len] = b;
	w->len++;
}

static inline void
put_varint(struct wr *w, uint64_t v)
{
	while (v >= 0x80) {
		put_u8(w, (v & 0x7f) | 0x80);
		v >>= 7;
	}
	put_u8(w, v);
}

static inline void
put_bytes(struct wr *w, const void *p, size_t n)
{
	if (n == 0)
		return;		/* p may be NULL then */
	if (w->buf && w->len < w->cap)
		memcpy(w->buf + w->len, p, n <= w->cap - w->len ? n : w->cap - w->len);
	w->len += n;
}

/* Signed differences: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ... (zigzag). */
static inline uint64_t
zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t
unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

struct rd {
	const uint8_t *p, *end;
};

/* 0, -ENODATA (the buffer ends inside it), -EBADMSG (not minimal, or beyond 64 bits). */
static inline int
get_varint(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < 10; i++) {
		uint8_t b;

		if (i >= (size_t)(r->end - r->p))
			return -ENODATA;
		b = r->p[i];
		if (i == 9 && b > 1)
			return -EBADMSG;
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0)
				return -EBADMSG;	/* a trailing zero group: not minimal */
			r->p += i + 1;
			*v = x;
			return 0;
		}
	}
	return -EBADMSG;
}

/* A varint at most max; any failure is -EBADMSG (inside a body). */
static inline int
get_bounded(struct rd *r, uint64_t max, uint64_t *v)
{
	if (get_varint(r, v) < 0 || *v > max)
		return -EBADMSG;
	return 0;
}

static inline size_t
left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

#endif
