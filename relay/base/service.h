/*
 * service.h - the one priority enum and the well-known service numbers.
 *
 * Every bundle carries one priority class (in our private extension block,
 * see bundle.h).  Queues on every link are ordered by it: a lower number
 * always leaves first.  See DESIGN.md section 2.
 */
#ifndef FIELDRELAY_SERVICE_H
#define FIELDRELAY_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum prio {
	PRIO_REALTIME = 0,	/* live voice frames: never stored, never retried */
	PRIO_URGENT = 1,	/* alerts, evacuation orders (signed) */
	PRIO_POSITION = 2,	/* position reports; newer supersedes queued older */
	PRIO_VOICEMSG = 3,	/* a whole talk spurt as Ogg Opus */
	PRIO_MESSAGE = 4,	/* text and small files from people */
	PRIO_TELEMETRY = 5,	/* drone MAVLink summaries */
	PRIO_BULK = 6,		/* SQLite changesets, photos */
	PRIO_COUNT
};

/* Well-known ipn service numbers of a fieldrelay node. */
enum service {
	SVC_ADMIN = 0,		/* administrative records (status reports) */
	SVC_VOICE = 1,
	SVC_ALERT = 2,
	SVC_POSITION = 3,
	SVC_VOICEMSG = 4,
	SVC_MESSAGE = 5,
	SVC_TELEMETRY = 6,
	SVC_SYNC = 7,
	SVC_FILE = 8,
	SVC_FIRST_USER = 64	/* services from here on are free for applications */
};

/*
 * The node and service numbers people and applications may use: one range
 * for the config, the CLI and the control socket.  JSON integers (the
 * control protocol) are signed 64-bit, so both end at 2^63-1; RFC 9171
 * allows 2^64-1, which no local interface could carry.  A node with links
 * has a number below 2^32: it is part of every frame's nonce.
 */
#define NODE_MAX	((uint64_t)INT64_MAX)
#define SERVICE_MAX	((uint64_t)INT64_MAX)
#define LINK_NODE_MAX	((uint64_t)UINT32_MAX)
#define NODE_MAX_TEXT	"2^63-1"

/* Short names used in config files, the CLI and logs ("urgent", "bulk"). */
const char *prio_name(int prio);
/* Parse a class name or number; returns the class or -1. */
int prio_parse(const char *s);
/* The default class of a service (message for unknown ones). */
int service_default_prio(unsigned long long service);

/*
 * Broadcast services (DESIGN.md section 5: alerts and positions) go to every
 * node: their destination is ipn:0.SERVICE, node number 0 standing for "all
 * nodes" (no node has that number: ipn:0.0 is the null endpoint).  Such
 * bundles flood with dedup; see relay/daemon/forward.c.
 */
#define NODE_EVERYONE	0
bool service_broadcast(unsigned long long service);

/*
 * The supersede key (DESIGN.md section 2: a newer position report replaces
 * a queued older one) of a bundle of class prio from src to dst (EID texts,
 * which carry the services): "position SRC DST", one unit's position stream
 * to one destination.  Derived from the bundle alone, so every relay on the
 * way finds the same key.  0, -ENOENT if bundles of that class are never
 * superseded by default, -ENOSPC if out is too small.
 */
int service_supersede_key(char *out, size_t cap, int prio, const char *src, const char *dst);
/* Longest key an application may give instead (fieldrelay send --supersede KEY). */
#define SUPERSEDE_KEY_MAX	128

#endif
