/*
 * cot.h - Cursor on Target situational awareness (SA) over UDP multicast:
 * every position the agent stores goes out as one CoT event per datagram to
 * 239.2.3.1:6969, where ATAK, WinTAK and iTAK listen by default, so that a
 * TAK device on the command center's LAN shows every unit.
 */
#ifndef FIELDRELAY_TRACK_COT_H
#define FIELDRELAY_TRACK_COT_H

#include <stddef.h>
#include <stdint.h>

#include "trackdb.h"

#define COT_DEFAULT_DEST	"239.2.3.1:6969"	/* TAK's SA multicast group and port */
#define COT_DATAGRAM_MAX	2048			/* an event is about 450 bytes */

struct cot;

struct cot_opts {
	int ttl;		/* IP_MULTICAST_TTL / hops: 1 (this LAN only) when 0 */
	const char *ifaddr;	/* IPv4 address of the interface to send on, NULL: the route's */
	uint32_t stale_s;	/* an event's stale time after its time, 0: 120 s */
};

/*
 * A non-blocking UDP socket that sends to dest (HOST:PORT, [IPV6]:PORT;
 * NULL or "": COT_DEFAULT_DEST), multicast loop on so that a receiver on
 * this host hears it too.  o NULL: the defaults.  NULL with errno and a
 * sentence in err on a bad address or a socket error.  The name is resolved
 * here, once (start-up), never in the loop.
 */
struct cot *cot_new(const char *dest, const struct cot_opts *o, char *err, size_t errlen);
void cot_free(struct cot *c);

/*
 * Send row as one event.  0: sent; -EAGAIN: the socket's buffer is full and
 * the event dropped (counted: the next position supersedes it); other
 * -errno: sendto failed (counted).  Never blocks.
 */
int cot_send(struct cot *c, const struct track_row *row);

struct cot_stats {
	uint64_t sent, dropped, failed;
	uint64_t bytes;
};
void cot_get_stats(const struct cot *c, struct cot_stats *st);

#endif
