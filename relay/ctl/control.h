/*
 * control.h - the UNIX control socket that the `fieldrelay` CLI (and any
 * local application) talks to.
 *
 * Wire format, both directions: a message is a 4-byte big-endian length N
 * (1 .. CONTROL_MAX_MSG) followed by N bytes of one JSON object.  A message
 * whose object has "body": M (an integer) is followed by exactly M raw bytes
 * (a payload; up to [store] max_bundle_size).  Requests may be pipelined:
 * responses to "send" come back in request order once each bundle is durable,
 * and echo the request's "tag".
 *
 * Requests ("op"):
 *   status                      -> node, uptime, boot, clock, store figures
 *   queue                       -> counts and bytes per class and per destination
 *   send {dst, service, priority, lifetime, report, supersede, tag, body}
 *                               report: true (delivery) or a list of received,
 *                               forwarded, delivered, deleted, all, time;
 *                               supersede: absent (positions for one destination
 *                               have a key), false (none) or a key (1..128 bytes)
 *                               -> {tag, ok, id} once durable, or {tag, ok:false, code, error}
 *   recv {service, count, wait} -> a stream of {event:"bundle", rowid, id, src, dst,
 *                                  priority, received, body} + body bytes, each to be
 *                                  answered {op:"ack", rowid}; then {event:"end"}.
 *                                  count 0 = no limit; wait: keep waiting when none
 *                                  is left (watch), else end.  Delivery is at least
 *                                  once: a bundle leaves the store only when acked.
 *                                  Service 0 holds the status reports sent to this
 *                                  node (payload: the administrative record).
 *   ack {rowid}
 *   config-check                -> {ok, errors, changes} for the daemon's config file
 *   neighbors                   -> {neighbors: [{link, node, addr, cost}]}
 *   links                       -> {links: [{name, kind, up, neighbours, frames/bytes
 *                                  tx/rx, segments, retransmissions, dropped{cause: n}}],
 *                                  in_flight, forwarding: {handed, flood_sent,
 *                                  flood_handed, flood_scanned, duplicates}}
 *   routes                      -> {routes: [{dst, via, link, cost, kind}]}
 *   flood                       -> {total, flood: [{id, src, dst, class, size, expires,
 *                                  local, holders: [{node, how, when}]}]}: the bundles
 *                                  for every node (at most 100, and as many as fit
 *                                  one message), and which neighbours
 *                                  have each (how: from, sent, offered)
 * Errors: {ok:false, code, error}; code is one of bad-request, bad-eid, too-big,
 * quota, disk-full, busy, io, shutting-down.  Every request gets an answer: a
 * field of the wrong type is a bad-request; a body on an op other than send
 * is read and dropped (bad-request); a "body" that is not a byte count is
 * answered, then the connection is closed (the next message cannot be
 * found).  Node and service numbers go up to 2^63-1 (service.h).
 */
#ifndef FIELDRELAY_CONTROL_H
#define FIELDRELAY_CONTROL_H

#include <sys/types.h>

#define CONTROL_MAX_MSG		(64u << 10)
#define CONTROL_PROTOCOL	1	/* the version a hello answers with (PROTOCOL.md) */

struct control;
struct node;
struct loop;

struct control *control_new(struct node *n, struct loop *l, char *err, size_t errlen);
struct forward;
/* Where neighbors, links and routes come from. */
void control_set_forward(struct control *c, struct forward *fw);
struct links;
/* Where live frames go and events come from. */
void control_set_links(struct control *c, struct links *ls);
/* Stop reading requests (SIGTERM): what is in flight still completes. */
void control_quiesce(struct control *c);
/* Write out what is buffered, as far as sockets take it without blocking. */
void control_flush(struct control *c);
/* Run the loop until every client has its answers, at most timeout_ms. */
void control_drain(struct control *c, struct loop *l, unsigned timeout_ms);
void control_free(struct control *c);

#endif
