/*
 * linkclass.h - which class of link a position must get through, read off
 * the daemon's links view (relay/ctl/PROTOCOL.md, section 4), and the other
 * facts the agent reads off its views (routes, flood, status).
 *
 * A position to everyone (ipn:0.3) is flooded over every link that is up,
 * so the agent reports at the pace of the narrowest of them: a KISS radio
 * or a link of 64 kbit/s or less is narrowband, SBD and DirectIP are
 * satellite, a link with a byte budget (metered) is scarce IP, the rest
 * (UDP and pcap over mesh Wi-Fi or Ethernet) is mesh.
 */
#ifndef FIELDRELAY_TRACK_LINKCLASS_H
#define FIELDRELAY_TRACK_LINKCLASS_H

#include <stdbool.h>
#include <stdint.h>

#include "track.h"

#define LINKCLASS_NARROW_BPS	64000

/* The class of one link, from its kind, rate (0: unknown) and budget. */
enum link_class linkclass_of(const char *kind, uint64_t rate_bps, bool metered);

/* What the links view says. */
struct linkclass_view {
	int up;				/* links up */
	int links;			/* links in all */
	enum link_class narrowest;	/* of those up (LINK_MESH when none is) */
	char narrowest_link[32];	/* its name */
};
/* Read the links view's JSON answer; 0 or -EBADMSG. */
int linkclass_parse(const char *json, struct linkclass_view *v);

/* The routes view: the link toward node, into link[cap]; 0, -ENOENT, -EBADMSG. */
int linkclass_route_link(const char *json, uint64_t node, char *link, size_t cap);

/*
 * The flood view: has bundle id been taken by some neighbour?  1 yes, 0 no
 * (it waits here), -ENOENT not listed (the view shows at most 100 bundles:
 * gone, or beyond the list), -EBADMSG.
 */
int linkclass_flood_taken(const char *json, const char *id);

/* The status view: is the daemon's clock trusted (its bundles carry its time, not 0)?  false when unsure. */
bool linkclass_clock_trusted(const char *json);

#endif
