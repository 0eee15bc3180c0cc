/*
 * mavrate.h - which MAVLink messages cross which links, how often: per link
 * class and message id rate limits (mavlink-router has none), and the
 * HIGH_LATENCY2 summary that crosses satellite and narrowband links instead
 * of raw messages.
 *
 * The defaults (conf->rate[] adds to and overrides them, per class and id):
 *
 *   mesh        HEARTBEAT, GLOBAL_POSITION_INT, ATTITUDE, SYS_STATUS,
 *               BATTERY_STATUS, VFR_HUD, GPS_RAW_INT 1 Hz each (what a
 *               ground station needs to show a drone: there, on the map,
 *               its attitude, battery, speeds and GPS state), STATUSTEXT
 *               5 Hz (warnings come in bursts); every other message 0 Hz
 *               (parameters, IMU and tuning streams stay on the drone's
 *               own radio) unless a rate names it.
 *   ip          HEARTBEAT, GLOBAL_POSITION_INT, SYS_STATUS 0.2 Hz,
 *               STATUSTEXT 1 Hz, the rest 0 Hz: a metered link.
 *   satellite,  no raw message (0 Hz); a summary per drone every
 *   narrowband  conf->summary_ms.
 */
#ifndef FIELDRELAY_TRACK_MAVRATE_H
#define FIELDRELAY_TRACK_MAVRATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mavlink.h"
#include "track.h"

struct mavrate;

/* The limits of conf (its rates over the defaults); NULL with errno. */
struct mavrate *mavrate_new(const struct track_conf *conf);
void mavrate_free(struct mavrate *r);
/* The limit for msgid on links of class cls, messages a second (0: never). */
double mavrate_hz(const struct mavrate *r, enum link_class cls, uint32_t msgid);
/*
 * Whether a message from sysid/compid may cross a link of class cls at
 * now_ms (monotonic): each source's each message at most hz a second on
 * average, never two closer than half the interval (a source sending at
 * exactly hz, with jitter of up to a quarter interval either way, passes
 * every message).  Updates the source's state when it passes.
 */
bool mavrate_pass(struct mavrate *r, enum link_class cls, uint8_t sysid, uint8_t compid, uint32_t msgid,
    int64_t now_ms);
/* Whether links of class cls carry summaries instead of raw messages. */
bool mavrate_summary_class(enum link_class cls);

/*
 * The summary: the latest position, attitude, battery, heartbeat, VFR_HUD
 * and GPS state of each drone (by system id), as a HIGH_LATENCY2.
 */
struct mavsum;

struct mavsum *mavsum_new(uint32_t interval_ms);
void mavsum_free(struct mavsum *s);
/* Remember what f says of its drone (other messages are ignored). */
void mavsum_update(struct mavsum *s, const struct mav_frame *f, int64_t now_ms);
/* When the next summary is due (monotonic ms), or INT64_MAX when none is. */
int64_t mavsum_next_due(const struct mavsum *s);
/*
 * A drone's summary due at now_ms (one with a position and news since its
 * last summary): 1 and the summary, its sysid and compid; 0 when none is due.
 */
int mavsum_emit(struct mavsum *s, int64_t now_ms, struct mav_high_latency2 *hl, uint8_t *sysid,
    uint8_t *compid);

/*
 * A summary as a bundle payload, byte by byte:
 *   0      sysid
 *   1      compid
 *   2..    the HIGH_LATENCY2 payload without its trailing zeros (1..42 B)
 * At most MAVSUM_PACKED_MAX (44) bytes; a whole v2 frame would be 54.  The
 * receiver rebuilds the frame (mavsum_unpack) for its ground station.
 */
#define MAVSUM_PACKED_MAX	(2 + MAV_LEN_HIGH_LATENCY2)
ssize_t mavsum_pack(const struct mav_high_latency2 *hl, uint8_t sysid, uint8_t compid, uint8_t *buf, size_t cap);
/* A packed summary into a v2 HIGH_LATENCY2 frame (seq given): its length, or -EINVAL / -ENOSPC. */
ssize_t mavsum_unpack(const uint8_t *p, size_t n, uint8_t seq, uint8_t *frame, size_t cap);

#endif
