/*
 * posfmt.h - positions on the air: the payload of a position bundle, one
 * fix or a delta-coded batch of fixes of ONE unit (format 2).  Byte for byte
 * in posfmt.c, next to the encoder.
 *
 * The unit is the bundle's source node, so its name is not in the payload,
 * except for a unit this node relays (a drone whose telemetry comes in
 * here), which carries a short name.
 *
 * Time.  The newest fix's time goes as its whole seconds modulo 128 when
 * the sender's clock says it is within 50 s of now: the receiver knows the
 * time to a minute already, from the bundle's creation time (its id
 * "ipn:N.S CTIME SEQ"), and takes the latest time with those seconds not
 * later than that reference + 60 s.  Otherwise, or when the time has tenths
 * of a second, the payload says more (an absolute time, tenths).  A single
 * fix with nothing else, on a whole second 0 to 2.5 s before now
 * (POSFMT_PLAIN_MS, a fix just taken), goes in the plain form, 6 bytes: its
 * seconds modulo 4, the receiver taking the latest such time not later
 * than its reference + 1 s.  So:
 *
 *   - the encoder's now_ms is the sender's wall clock as the bundle is made,
 *     and the bundle's creation time must be within [now - 10 s, now + 16 s]
 *     of it, and for the plain form within [now - 1 s, now + 0.5 s) (it is:
 *     the daemon stamps the bundle as the agent sends it);
 *   - a sender whose bundles go with creation time 0 (a clock not trusted:
 *     receivers then fall back on the receive time, maybe hours later)
 *     passes now_ms = 0, which makes every time absolute;
 *   - the decoder's ref_ms is the bundle's creation time in Unix ms, or the
 *     receive time when the creation time is 0.
 *
 * Precision on the air: latitude and longitude rounded to 2e-5 degree (a
 * decoded fix is at most 1.6 m from the fix, POSFMT_POS_ERROR_M), in the
 * plain form to 4.3e-5 degree (each coordinate at most 2.4 m off, the
 * point at most 3.4 m, POSFMT_PLAIN_ERROR_M), time
 * 100 ms, speed 0.05 m/s, course 0.18 degree, altitude and horizontal error
 * 1 m.  Speed and course go with the newest fix only (receivers dead-reckon
 * from it; the older fixes of a batch are history, whose motion is the line
 * between them), and only when the sender puts them in (posout: not on
 * narrowband and satellite links, where a plain fix is 6 bytes).  epv and
 * source are not carried (decoded NAN and FIX_GPSD).
 */
#ifndef FIELDRELAY_TRACK_POSFMT_H
#define FIELDRELAY_TRACK_POSFMT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fix.h"

#define POSFMT_MAX_FIXES	32	/* fixes in one payload */
#define POSFMT_UNIT_MAX		31	/* bytes of a relayed unit's name */
#define POSFMT_SPEED_MAX	409.5	/* m/s that speed holds */
#define POSFMT_NEAR_MS		50000	/* the newest fix this close to now: its time in 7 bits */
#define POSFMT_POS_ERROR_M	1.6	/* the most a decoded position moves (half a step, both ways) */
#define POSFMT_PLAIN_MS		2500	/* a fix this much before now at most: the plain form */
#define POSFMT_PLAIN_ERROR_M	3.4	/* the most the plain form moves a position */
/* Bytes a payload of n fixes may take at most (with a unit name). */
#define POSFMT_MAX_LEN(n)	(3 + 1 + POSFMT_UNIT_MAX + 1 + 10 + 1 + 6 + 10 + 3 + 3 + 4 + \
				 (size_t)(n) * (3 * 10 + 10 + 3))

/*
 * Encode fixes[0..n-1] (oldest first, times not going back, all of one
 * unit, n 1..POSFMT_MAX_FIXES) as a sender whose clock reads now_ms (see
 * above), and unit_or_null the name of a relayed unit (NULL or "" for this
 * node's own).  Speed and course of the newest fix go when known (NAN them
 * to leave them out).  Returns the payload's length, -EINVAL (a field out
 * of range: see posfmt.c; times going back; a unit name too long or not
 * printable ASCII; fixes of different kinds) or -ENOSPC (cap).
 */
ssize_t posfmt_encode(const struct fix *fixes, int n, int64_t now_ms, const char *unit_or_null, uint8_t *out,
    size_t cap);

/*
 * Decode a payload (hostile input: every length and range checked) with
 * the reference time ref_ms (see above) into out[0..cap-1], oldest first,
 * the relayed unit's name into unit (NUL-terminated; "" when the payload has
 * none; unit may be NULL with unitcap 0).  Returns the number of fixes,
 * -EBADMSG (malformed, truncated, trailing bytes, a value out of range), or
 * -ENOSPC (more fixes than cap, or a name longer than unitcap - 1).
 */
int posfmt_decode(const uint8_t *in, size_t len, int64_t ref_ms, struct fix *out, int cap, char *unit,
    size_t unitcap);

#endif
