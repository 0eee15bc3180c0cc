/*
 * posout.h - reporting one unit's positions: this node's own, or a drone's
 * it hears over MAVLink.  For each fix it decides whether to send (beacon.h:
 * by the error of the track receivers rebuild, within the link class's
 * intervals) and what the next bundle carries.
 *
 * The batch behind supersede: a position bundle supersedes the unit's older
 * one while that one still waits in this node's store.  So a new bundle
 * carries, besides the new fix, the fixes of the one it replaces when no
 * neighbour has taken that one yet (the caller asks the daemon's flood view):
 * a fix is never lost to the supersede, and a unit that was out of reach for
 * an hour sends its hour as one delta-coded batch.  A batch holds at most
 * POSOUT_BATCH_MAX fixes; beyond that the fix whose loss bends the track
 * least goes (the point nearest the line between its neighbours).
 */
#ifndef FIELDRELAY_TRACK_POSOUT_H
#define FIELDRELAY_TRACK_POSOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "beacon.h"
#include "fix.h"

#define POSOUT_BATCH_MAX	10

/* How strictly to report now: the link class's intervals, stretched on a low battery. */
struct posout_rule {
	double error_m;
	uint32_t min_ms, max_ms;
};

struct posout {
	char unit[64];			/* its name (the node's own unit too) */
	bool own;			/* this node's own position: receivers know it by the source node */
	struct beacon beacon;		/* what the receivers have: the last sent fix */
	struct fix batch[POSOUT_BATCH_MAX];	/* what the last bundle carried */
	int n_batch;
	char last_id[384];		/* that bundle's id, "" none */
	struct fix next[POSOUT_BATCH_MAX];	/* what the bundle being sent carries */
	int n_next;
	struct fix last;		/* the newest fix seen */
	bool have_last;
	int64_t last_sent_ms;		/* fix time of the last send */
	uint64_t offered, sent, thinned;
};

void posout_init(struct posout *p, const char *unit, bool own);

/* A fix came: is a report due under rule r? (It is kept as the newest either way.) */
bool posout_offer(struct posout *p, const struct fix *f, const struct posout_rule *r);
/* No fix for a while: is the heartbeat of the newest (stale) fix due at now_ms? */
bool posout_heartbeat_due(const struct posout *p, int64_t now_ms, const struct posout_rule *r);

/*
 * The payload of the next bundle, with the newest fix: carry the last
 * bundle's fixes too unless taken (a neighbour has it, or it is gone from
 * the store).  name: put the unit's name in.  Its length, or -ENOSPC.
 */
ssize_t posout_build(struct posout *p, bool taken, bool name, int64_t base_ms, uint8_t *out, size_t cap);
/* The bundle built last is durable with this id: the receivers will see what it carries. */
void posout_sent(struct posout *p, const char *id);

#endif
