/*
 * posfmt.h - positions on the air: the payload of a position bundle, one
 * fix or a delta-coded batch of fixes of ONE unit.  Byte for byte in
 * posfmt.c, next to the encoder.
 *
 * The unit is the bundle's source node, so its name is not in the payload,
 * except for a unit this node relays (a drone whose telemetry comes in
 * here), which carries a short name.  Times count from base_ms, which both
 * ends take from the bundle (its creation time): a fix a second old costs
 * one byte of time.
 *
 * Precision on the air: latitude and longitude rounded to 1e-5 degree
 * (1.1 m of latitude: a decoded fix is at most 0.8 m from the fix), time
 * 100 ms, speed 0.05 m/s, course 0.18 degree, altitude and
 * horizontal error 1 m.  Speed and course go with the newest (last) fix
 * only: receivers dead-reckon from it, and the older fixes of a batch are
 * history, whose motion is the line between them.  epv and source are not
 * carried (decoded NAN and FIX_GPSD).
 */
#ifndef FIELDRELAY_TRACK_POSFMT_H
#define FIELDRELAY_TRACK_POSFMT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fix.h"

#define POSFMT_MAX_FIXES	16	/* fixes in one payload */
#define POSFMT_UNIT_MAX		31	/* bytes of a relayed unit's name */
#define POSFMT_SPEED_MAX	409.5	/* m/s that speed holds */
/* Bytes a payload of n fixes may take at most (with a unit name). */
#define POSFMT_MAX_LEN(n)	(2 + 1 + POSFMT_UNIT_MAX + 7 + 3 + (size_t)(n) * (3 * 10 + 2 * 3))

/*
 * Encode fixes[0..n-1] (oldest first, all of one unit, n 1..POSFMT_MAX_FIXES)
 * with times from base_ms, and unit_or_null the name of a relayed unit
 * (NULL or "" for this node's own).  Returns the payload's length,
 * -EINVAL (a field out of range: see posfmt.c; a unit name too long or not
 * printable ASCII; fixes of different kinds) or -ENOSPC (cap).
 */
ssize_t posfmt_encode(const struct fix *fixes, int n, int64_t base_ms, const char *unit_or_null, uint8_t *out,
    size_t cap);

/*
 * Decode a payload (hostile input: every length and range checked) into
 * out[0..cap-1], the relayed unit's name into unit (NUL-terminated; "" when
 * the payload has none; unit may be NULL with unitcap 0).  Returns the
 * number of fixes, -EBADMSG (malformed, truncated, trailing bytes, a value
 * out of range), or -ENOSPC (more fixes than cap, or a name longer than
 * unitcap - 1).
 */
int posfmt_decode(const uint8_t *in, size_t len, int64_t base_ms, struct fix *out, int cap, char *unit,
    size_t unitcap);

#endif
