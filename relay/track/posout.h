/*
 * posout.h - reporting one unit's positions: this node's own, or a drone's
 * it hears over MAVLink.  For each fix it decides whether to send (beacon.h:
 * by the error of the live position the receivers extrapolate, within the
 * link class's intervals) and what the next bundle carries.
 *
 * History within the error: what the command center keeps is every fix it
 * received, joined by straight lines.  So posout keeps the true fixes since
 * the last send (up to POSOUT_HISTORY, every other one dropped when full) and
 * each bundle carries, before the newest fix, the fewest of them that keep
 * that line within the rule's error of every true fix (Douglas-Peucker,
 * the largest deviation split first, at most POSOUT_BATCH_MAX in all).  The
 * live position between sends follows the send rule; the history, once
 * arrived, is within error_m of the true track (the format's rounding
 * included), unless a bundle had to hold more than POSOUT_BATCH_MAX.
 *
 * Without speed and course on the air the receivers carry the unit on
 * along its last two fixes (beacon.h).  When the fix before the newest in
 * a bundle would be older than 2 * anchor_ms, the true fix anchor_ms before
 * the newest goes too: the receivers' speed is then the unit's speed of
 * late (standing, after a stop), not its average since the last send.
 *
 * The batch behind supersede: a position bundle supersedes the unit's older
 * one while that one still waits in this node's store.  So a new bundle
 * carries, besides its new fixes, the fixes of the one it replaces when no
 * neighbour has taken that one yet (the caller asks the daemon's flood view):
 * a fix is never lost to the supersede, and a unit that was out of reach for
 * an hour sends its hour as one delta-coded batch.  Beyond POSOUT_BATCH_MAX
 * fixes (or the caller's cap in bytes) the fix whose loss bends the track
 * least goes (the point nearest the line between its neighbours).
 *
 * Times: fix times and now_ms are Unix ms, now_ms the wall clock as the
 * bundle is made (posfmt.h: pass 0 when the bundle's creation time is 0).
 */
#ifndef FIELDRELAY_TRACK_POSOUT_H
#define FIELDRELAY_TRACK_POSOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "beacon.h"
#include "fix.h"
#include "posfmt.h"
#include "track.h"

#define POSOUT_BATCH_MAX	POSFMT_MAX_FIXES
#define POSOUT_HISTORY		7200	/* true fixes kept between sends: 2 h at 1 Hz */
#define POSOUT_ANCHOR_MS	20000	/* the default anchor_ms */

/* How strictly to report now: the link class's intervals, stretched on a low battery. */
struct posout_rule {
	double error_m;
	uint32_t min_ms, max_ms;
	bool motion;		/* put speed and course on the air (else receivers use the last two fixes) */
	uint32_t anchor_ms;	/* without motion: a fix this long before the newest goes too, for the speed */
};

/*
 * The rule for link class cls from the [track] section: its error and the
 * class's intervals; speed and course where they pay for their 4 bytes
 * (tests/bench/bench_track.c measures it: on mesh and ip, not on satellite
 * and narrowband), else an anchor fix POSOUT_ANCHOR_MS before the newest.
 */
void posout_rule_default(struct posout_rule *r, const struct track_conf *c, enum link_class cls);

/* A true fix kept for the history: what the history needs of it. */
struct posout_point {
	int64_t time_ms;
	double lat, lon;
	float alt, eph;		/* NAN: unknown */
};

struct posout {
	char unit[64];			/* its name (the node's own unit too) */
	bool own;			/* this node's own position: receivers know it by the source node */
	struct beacon beacon;		/* what the receivers have: the last two sent fixes */
	struct fix batch[POSOUT_BATCH_MAX];	/* what the last bundle carried */
	int n_batch;
	char last_id[384];		/* that bundle's id, "" none */
	struct fix next[POSOUT_BATCH_MAX];	/* what the bundle being built carries */
	struct fix next_rx[POSOUT_BATCH_MAX];	/* the same as the receivers decode it */
	int n_next;
	bool next_rx_ok;
	int64_t next_ms;		/* the now_ms it was built at */
	struct fix last;		/* the newest fix seen */
	bool have_last;
	int64_t last_sent_ms;		/* fix time of the last send */
	int64_t sent_at_ms;		/* when (now_ms) the last send was built; 0 never */
	double error_m;			/* the rule of the last offer: the history's tolerance */
	bool motion;
	uint32_t anchor_ms;
	struct posout_point hist[POSOUT_HISTORY];	/* true fixes, hist[0] the last sent */
	int n_hist;
	uint64_t offered, sent, thinned, hist_thinned;
};

/* About 240 kB (the history): keep it static or on the heap, not on a thread's stack. */
void posout_init(struct posout *p, const char *unit, bool own);

/* A fix came: is a report due under rule r? (It is kept as the newest, and in the history, either way.) */
bool posout_offer(struct posout *p, const struct fix *f, const struct posout_rule *r);
/* No fix for a while: is the heartbeat of the newest (stale) fix due at now_ms? */
bool posout_heartbeat_due(const struct posout *p, int64_t now_ms, const struct posout_rule *r);

/*
 * The payload of the next bundle: the history since the last send as above,
 * then the newest fix; before them the last bundle's fixes unless taken (a
 * neighbour has it, or it is gone from the store).  name: put the unit's
 * name in.  Thinned to fit cap.  Its length, -EINVAL (no fix yet) or
 * -ENOSPC (not even the newest fix alone fits).
 */
ssize_t posout_build(struct posout *p, bool taken, bool name, int64_t now_ms, uint8_t *out, size_t cap);
/* The bundle built last is durable with this id: the receivers will see what it carries. */
void posout_sent(struct posout *p, const char *id);

/* The fixes the last build put in (oldest first) and their number: for the track DB and the bench. */
const struct fix *posout_built(const struct posout *p, int *n);

#endif
