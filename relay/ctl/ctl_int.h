/*
 * ctl_int.h - what the files of the control socket share: a connection and
 * its output, the op table, and each file's entry points.  Private to
 * relay/ctl; the daemon uses control.h.
 *
 * control.c  the socket, connections, framing and bodies; dispatch by the table
 * ops.c      the op table and the requests answered at once (status, links, ...)
 * deliver.c  bundles in and out: send, recv/ack, registrations
 * watch.c    the event stream and live frames
 * views.c    the JSON views the answers are made of
 */
#ifndef FIELDRELAY_CTL_INT_H
#define FIELDRELAY_CTL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>

#include "control.h"
#include "log.h"

#define INLINE_BODY_MAX		(64u << 10)	/* larger bodies are spooled to a file */
#define OUT_HIGH_WATER		(1u << 20)	/* stop reading requests above this */
#define STREAM_CHUNK		(64u << 10)
#define DELIVERY_WINDOW		32		/* unacked deliveries per connection */

struct ctl_op;

struct conn {
	LIST_ENTRY(conn) entry;
	struct control *ctl;
	int fd;
	char agent[64];			/* the name it gave in its hello, "" none */
	unsigned refs;			/* store callbacks still to come */
	bool closed;			/* fd gone; free when refs reach 0 */
	bool closing;			/* close once the answers are out (input lost its framing) */

	uint8_t *in;			/* unparsed input */
	size_t in_len, in_cap;

	json_t *body_req;		/* request whose body is arriving */
	const struct ctl_op *body_op;	/* its op (NULL: the body is dropped) */
	uint64_t body_len, body_got;
	uint8_t *body_mem;
	int body_fd;			/* spool file for large bodies */
	int body_err;			/* refuse once the body is read */

	uint8_t *out;			/* output not yet written */
	size_t out_len, out_off, out_cap;
	uint8_t *later;			/* messages held back while a body streams out */
	size_t later_len, later_cap;

	/* A recv stream (deliver.c). */
	bool receiving;
	bool registering;		/* its registration is being made durable */
	uint64_t service;
	int64_t reg;			/* its registration, 0: none */
	int64_t cursor;			/* last rowid handed out */
	uint64_t wanted;		/* bundles still wanted, 0 = forever */
	bool wait;
	bool ending;			/* all wanted acked: "end" once deletes commit */
	unsigned unacked;
	unsigned deleting;		/* acked bundles whose delete is not committed */
	int64_t stream_rowid;		/* body being streamed out */
	uint64_t stream_off, stream_left;

	/* A watch stream (watch.c). */
	bool watch_events, watch_live;
	uint64_t events_dropped;	/* events not sent to a client that did not read */
};

struct control {
	struct node *node;
	struct loop *loop;
	int fd;
	char path[108];
	bool quiesced;
	struct forward *forward;
	struct links *links;
	uint64_t last_input;		/* monotonic ms of the last bytes from any client */
	LIST_HEAD(, conn) conns;
	struct log_ratelimit rl;
	struct watch *watch;		/* watch.c's state */
};

/* One request type: the table in ops.c. */
struct ctl_op {
	const char *name;
	/* A request without a body ... */
	void (*fn)(struct conn *c, json_t *req, json_t *tag);
	/* ... or one whose body (len bytes in mem, or in fd when big) has arrived. */
	void (*body_fn)(struct conn *c, json_t *req, const uint8_t *mem, int fd, uint64_t len);
	const char *summary;		/* for people: what it does */
};
const struct ctl_op *ops_find(const char *name);

/* control.c */
void conn_unref(struct conn *c);
void conn_close(struct conn *c);
size_t conn_backlog(const struct conn *c);
int conn_reserve(struct conn *c, size_t n);
/* Queue one message (steals msg); one that comes while a bundle's body is half out follows the body. */
void conn_send(struct conn *c, json_t *msg);
/* The body being streamed is out: what was held back follows. */
void conn_body_done(struct conn *c);
/* conn_send() of msg with the request's tag. */
void conn_answer(struct conn *c, json_t *tag, json_t *msg);
void conn_error(struct conn *c, json_t *tag, const char *code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
const char *conn_result_code(int r);
void conn_flush(struct conn *c);
void conn_parse(struct conn *c);

/* deliver.c */
void deliver_send(struct conn *c, json_t *req, const uint8_t *mem, int fd, uint64_t len);
void deliver_recv(struct conn *c, json_t *req, json_t *tag);
void deliver_ack(struct conn *c, json_t *req, json_t *tag);
void deliver_register(struct conn *c, json_t *req, json_t *tag);
void deliver_unregister(struct conn *c, json_t *req, json_t *tag);
void deliver_pump(struct conn *c);
void deliver_stop(struct conn *c);	/* the connection closes */

/* watch.c */
int watch_new(struct control *ctl);
void watch_free(struct control *ctl);
void watch_op(struct conn *c, json_t *req, json_t *tag);
void watch_live_send(struct conn *c, json_t *req, const uint8_t *mem, int fd, uint64_t len);
void watch_stop(struct conn *c);	/* the connection closes */

#endif
