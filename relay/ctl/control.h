/*
 * control.h - the UNIX control socket that the `fieldrelay` CLI and the
 * agents (through libfieldrelay, relay/app/fieldrelay.h) talk to.  The wire
 * protocol is documented byte by byte in PROTOCOL.md next to this file:
 * length-prefixed JSON messages with optional raw bodies; send, recv/ack,
 * durable registrations, watch (events and live frames), live, and the views
 * (status, queue, links, ...).  The files: control.c (socket, framing),
 * ops.c (the op table), deliver.c, watch.c, views.c (ctl_int.h).
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
