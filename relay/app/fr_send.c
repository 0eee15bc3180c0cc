/*
 * fr_send.c - libfieldrelay: pipelined sends (fieldrelay.h).
 *
 * Small sends are packed into one buffer and written in blocks, so that a
 * client pays about one system call per few hundred bundles; the daemon
 * answers in order once each is durable.  A window bounds the unanswered
 * sends: without it a client that only writes and a daemon whose answers
 * are not read would wait for each other for ever.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_int.h"

void
fr_send_progress(struct fr *c, void (*fn)(void *arg, uint64_t done, uint64_t total), void *arg)
{
	c->progress = fn;
	c->progress_arg = arg;
}

unsigned
fr_send_pending(const struct fr *c)
{
	return c->pend_n;
}

void
fr_sent_answer(struct fr *c, json_t *msg)
{
	struct fr_pending p = c->pend[c->pend_head];
	struct fr_sent s = { .ticket = p.ticket };

	c->pend_head = (c->pend_head + 1) % FR_SEND_WINDOW;
	c->pend_n--;
	s.ok = json_is_true(json_object_get(msg, "ok"));
	s.id = json_string_value(json_object_get(msg, "id"));
	s.code = json_string_value(json_object_get(msg, "code"));
	s.error = json_string_value(json_object_get(msg, "error"));
	if (s.ok && s.id == NULL)
		s.id = "";
	if (!s.ok) {
		s.code = s.code ? s.code : "io";
		s.error = s.error ? s.error : "refused";
	}
	if (p.fn)
		p.fn(p.arg, &s);
}

/* Read messages until the oldest pending send is answered. */
static int
answer_one(struct fr *c)
{
	json_t *m;
	int r;

	if ((r = fr_flush_out(c)) < 0)
		return r;
	while (c->pend_n > 0) {
		unsigned before = c->pend_n;

		if ((m = fr_read_json(c, &r)) == NULL)
			return r;
		/* An answer without a tag is a refusal of a message that could not be read as a send. */
		if (json_object_get(m, "tag") == NULL && json_object_get(m, "event") == NULL &&
		    json_is_false(json_object_get(m, "ok"))) {
			fr_sent_answer(c, m);
			json_decref(m);
		} else {
			fr_dispatch(c, m);
		}
		if (c->pend_n < before)
			return 0;
	}
	return 0;
}

int
fr_send_wait(struct fr *c, unsigned max)
{
	int r;

	if ((r = fr_flush_out(c)) < 0)
		return r;
	while (c->pend_n > max)
		if ((r = answer_one(c)) < 0)
			return r;
	return 0;
}

int
fr_send_flush(struct fr *c)
{
	return fr_flush_out(c);
}

static json_t *
send_request(struct fr *c, const struct fr_send *s, uint64_t ticket, uint64_t len)
{
	json_t *req, *v;

	if (s->dst == NULL) {
		fr_fail(c, -EINVAL, "send needs a destination");
		return NULL;
	}
	req = json_pack("{s:s, s:s, s:I, s:I}", "op", "send", "dst", s->dst, "tag", (json_int_t)ticket,
	    "body", (json_int_t)len);
	if (req == NULL) {
		fr_fail(c, -EINVAL, "the destination is not UTF-8 text");
		return NULL;
	}
	if (s->service || s->service_set)
		json_object_set_new(req, "service", json_integer((json_int_t)s->service));
	if (s->priority)
		json_object_set_new(req, "priority", json_string(s->priority));
	if (s->lifetime)
		json_object_set_new(req, "lifetime", json_integer((json_int_t)s->lifetime));
	if (s->report) {
		if ((v = json_loads(s->report, JSON_DECODE_ANY, NULL)) == NULL) {
			json_decref(req);
			fr_fail(c, -EINVAL, "report: not a JSON value: %s", s->report);
			return NULL;
		}
		json_object_set_new(req, "report", v);
	}
	if (s->supersede)
		json_object_set_new(req, "supersede", *s->supersede ? json_string(s->supersede) : json_false());
	return req;
}

int
fr_send_async(struct fr *c, const struct fr_send *s, const void *mem, int fd, uint64_t len,
    fr_sent_fn *done, void *arg, uint64_t *ticket)
{
	uint64_t t = c->next_ticket;
	json_t *req;
	int r;

	if (c->pend_n >= FR_SEND_WINDOW && (r = answer_one(c)) < 0)
		return r;
	if ((req = send_request(c, s, t, len)) == NULL)
		return -errno;
	if (mem == NULL && fd < 0 && len > 0) {
		json_decref(req);
		return fr_fail(c, -EINVAL, "a payload needs memory or a file");
	}
	if (mem || len == 0) {
		r = fr_queue_msg(c, req, mem, mem ? (size_t)len : 0);
		if (r == 0 && c->out_len >= FR_OUT_FLUSH)
			r = fr_flush_out(c);
	} else {
		r = fr_flush_out(c);	/* what was queued goes first: answers come in order */
		if (r == 0)
			r = fr_send_msg(c, req, NULL, fd, len);
	}
	json_decref(req);
	if (r < 0)
		return r;
	c->next_ticket++;
	c->pend[(c->pend_head + c->pend_n) % FR_SEND_WINDOW] = (struct fr_pending){ t, done, arg };
	c->pend_n++;
	if (ticket)
		*ticket = t;
	return 0;
}

struct one {
	bool answered, ok;
	char *id;
	size_t idlen;
	char code[32], error[400];
};

static void
one_done(void *arg, const struct fr_sent *s)
{
	struct one *o = arg;

	o->answered = true;
	o->ok = s->ok;
	if (s->ok) {
		if (o->id)
			snprintf(o->id, o->idlen, "%s", s->id);
	} else {
		snprintf(o->code, sizeof(o->code), "%s", s->code);
		snprintf(o->error, sizeof(o->error), "%s", s->error);
	}
}

int
fr_send(struct fr *c, const struct fr_send *s, const void *mem, int fd, uint64_t len, char *id, size_t idlen)
{
	struct one o = { .id = id, .idlen = idlen };
	int r;

	if ((r = fr_send_async(c, s, mem, fd, len, one_done, &o, NULL)) < 0 || (r = fr_send_wait(c, 0)) < 0)
		return r;
	if (!o.ok)
		return fr_fail(c, -EREMOTEIO, "%s: %s", o.code, o.error);
	return 0;
}
