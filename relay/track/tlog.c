/*
 * tlog.c - reading MAVLink telemetry logs (tlog.h).
 *
 * A record, byte by byte:
 *
 *   0..7   receive time, Unix microseconds, big-endian
 *   8..    one MAVLink frame (mavlink.c: v1 0xfe or v2 0xfd, its own length)
 *
 * Records follow each other with nothing between.  The file is read through
 * a window large enough for one whole record, so a tlog of any size costs
 * the same memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlog.h"

#define TLOG_WINDOW	(16 * 1024)	/* > TLOG_TS_LEN + MAV_FRAME_MAX */
/* After a bad record, a candidate's time must be this close to the last good one. */
#define TLOG_RESYNC_US	(3600ULL * 1000 * 1000)

struct tlog {
	FILE *fp;
	size_t off, len;	/* the unread bytes: buf[off .. len) */
	bool eof;
	bool resyncing;		/* looking for a record after a bad one */
	bool have_last;
	uint64_t last_ts;
	struct tlog_stats stats;
	uint8_t buf[TLOG_WINDOW];
};

struct tlog *
tlog_open(const char *path)
{
	struct tlog *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->fp = fopen(path, "rb");
	if (!t->fp) {
		int e = errno;

		free(t);
		errno = e;
		return NULL;
	}
	return t;
}

void
tlog_free(struct tlog *t)
{
	if (!t)
		return;
	fclose(t->fp);
	free(t);
}

int
tlog_rewind(struct tlog *t)
{
	if (fseek(t->fp, 0, SEEK_SET) < 0)
		return -errno;
	t->off = t->len = 0;
	t->eof = t->resyncing = t->have_last = false;
	return 0;
}

const struct tlog_stats *
tlog_stats(const struct tlog *t)
{
	return &t->stats;
}

/* At least want bytes unread, unless the file ends first. */
static int
fill(struct tlog *t, size_t want)
{
	if (t->len - t->off >= want || t->eof)
		return 0;
	memmove(t->buf, t->buf + t->off, t->len - t->off);
	t->len -= t->off;
	t->off = 0;
	while (t->len < sizeof(t->buf) && !t->eof) {
		size_t n = fread(t->buf + t->len, 1, sizeof(t->buf) - t->len, t->fp);

		t->len += n;
		if (n == 0) {
			if (ferror(t->fp))
				return -EIO;
			t->eof = true;
		}
	}
	return 0;
}

static uint64_t
be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static bool
near_last(const struct tlog *t, uint64_t ts)
{
	if (!t->have_last)
		return true;
	return ts > t->last_ts ? ts - t->last_ts < TLOG_RESYNC_US : t->last_ts - ts < TLOG_RESYNC_US;
}

int
tlog_next(struct tlog *t, uint64_t *ts_us, struct mav_frame *f)
{
	for (;;) {
		struct mav_stats one = { 0 };
		size_t avail, used;
		uint64_t ts;
		int r;

		if ((r = fill(t, TLOG_TS_LEN + MAV_FRAME_MAX)) < 0)
			return r;
		avail = t->len - t->off;
		if (avail == 0)
			return 0;
		if (avail <= TLOG_TS_LEN) {
			/* A record cut short at the end of the file. */
			t->stats.skipped += avail;
			t->off = t->len;
			return 0;
		}
		ts = be64(t->buf + t->off);
		r = mav_frame_parse(t->buf + t->off + TLOG_TS_LEN, avail - TLOG_TS_LEN, f, &used, &one);
		if (r == 0 && (!t->resyncing || near_last(t, ts))) {
			t->stats.mav.good += one.good;
			t->stats.mav.unknown += one.unknown;
			t->stats.mav.v1 += one.v1;
			t->stats.mav.v2 += one.v2;
			t->stats.mav.signed_frames += one.signed_frames;
			t->stats.records++;
			t->off += TLOG_TS_LEN + used;
			t->resyncing = false;
			t->have_last = true;
			t->last_ts = ts;
			*ts_us = ts;
			return 1;
		}
		if (r == -EAGAIN && t->eof) {
			t->stats.skipped += avail;
			t->off = t->len;
			return 0;
		}
		/* Count the record that broke, not each false start after it. */
		if (!t->resyncing) {
			t->stats.mav.bad_crc += one.bad_crc;
			t->stats.mav.bad_header += one.bad_header;
			t->resyncing = true;
		}
		t->stats.skipped++;
		t->off++;
	}
}
