/*
 * fr_int.h - what the files of libfieldrelay share: the connection and its
 * buffered I/O.  Private to relay/app; agents use fieldrelay.h.
 */
#ifndef FIELDRELAY_FR_INT_H
#define FIELDRELAY_FR_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "fieldrelay.h"

#define FR_IN_BUF	(64u << 10)
#define FR_OUT_FLUSH	(256u << 10)	/* queued sends are written in blocks of about this */

struct fr_pending {
	uint64_t ticket;
	fr_sent_fn *fn;
	void *arg;
};

struct fr {
	int fd;
	int timeout_ms;
	char err[512];

	uint8_t in[FR_IN_BUF];		/* read ahead */
	size_t in_off, in_len;

	uint8_t *out;			/* queued writes (pipelined sends) */
	size_t out_len, out_cap;

	struct fr_pending pend[FR_SEND_WINDOW];	/* sends not answered yet, oldest first */
	unsigned pend_head, pend_n;
	uint64_t next_ticket, next_req;
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;

	json_t **evq;			/* messages read while waiting for another */
	size_t evq_n, evq_cap;
	json_t *ev;			/* the message fr_next() returned last */
	char *ev_text;
	uint8_t *live;			/* its live frame */
	bool streaming;			/* recv or watch started */
};

/* Set c->err (and return r, a -errno). */
int fr_fail(struct fr *c, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Deadline of a call that starts now (-1: none), and the clock. */
int64_t fr_deadline(const struct fr *c);
int64_t fr_now_ms(void);
/* Blocking I/O with the connection's deadline. */
int fr_write_all(struct fr *c, const void *p, size_t n, int64_t until);
int fr_read_all(struct fr *c, void *p, size_t n, int64_t until);
/* Is input waiting (buffered, or on the socket within timeout_ms)? 1, 0, -errno. */
int fr_wait_input(struct fr *c, int timeout_ms);
/* Queue (not write) one message with its in-memory body. */
int fr_queue_msg(struct fr *c, json_t *msg, const void *body, size_t len);
int fr_flush_out(struct fr *c);
/* Read and parse one message; NULL with *r set. */
json_t *fr_read_json(struct fr *c, int *r);
/* A message that is not the one waited for: a send's answer is dispatched, the rest kept for fr_next(). */
int fr_dispatch(struct fr *c, json_t *msg);
/* The answer to a send: the oldest pending one. */
void fr_sent_answer(struct fr *c, json_t *msg);
void fr_evq_push(struct fr *c, json_t *msg);
json_t *fr_evq_pop(struct fr *c);
/* Write a message now, with a body from memory or an fd. */
int fr_send_msg(struct fr *c, json_t *msg, const void *body, int body_fd, uint64_t len);

#endif
