/*
 * tlog.h - MAVLink telemetry logs (.tlog, as Mission Planner, QGroundControl
 * and MAVProxy write them): a sequence of records, each an 8-byte big-endian
 * Unix time in microseconds (when the ground station received the frame)
 * followed by one MAVLink v1 or v2 frame.
 */
#ifndef FIELDRELAY_TRACK_TLOG_H
#define FIELDRELAY_TRACK_TLOG_H

#include <stdint.h>

#include "mavlink.h"

#define TLOG_TS_LEN	8

struct tlog;

struct tlog_stats {
	uint64_t records;		/* frames read (checked or not) */
	uint64_t skipped;		/* bytes skipped to find the next record */
	struct mav_stats mav;		/* good, unknown, bad_crc of the frames */
};

/* Open a tlog for reading: NULL with errno on failure. */
struct tlog *tlog_open(const char *path);
void tlog_free(struct tlog *t);
/*
 * The next record: 1 and its time and frame, 0 at the end, -errno on a
 * read error.  A record that does not parse (bad CRC, a cut or corrupt
 * header) is skipped, counted, and the reader looks for the next record
 * whose frame parses and whose time is within an hour of the last one.
 */
int tlog_next(struct tlog *t, uint64_t *ts_us, struct mav_frame *f);
/* Back to the first record (stats kept). */
int tlog_rewind(struct tlog *t);
const struct tlog_stats *tlog_stats(const struct tlog *t);

#endif
