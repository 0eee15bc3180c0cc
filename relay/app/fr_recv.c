/* fr_recv.c - libfieldrelay: receiving bundles, live frames and events (fieldrelay.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_int.h"

static uint64_t
u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static void
text(char *dst, size_t cap, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	snprintf(dst, cap, "%s", s ? s : "");
}

/* A refusal from the daemon as this call's error. */
static int
refused(struct fr *c, json_t *m)
{
	const char *code = json_string_value(json_object_get(m, "code"));
	const char *e = json_string_value(json_object_get(m, "error"));

	return fr_fail(c, -EREMOTEIO, "%s: %s", code ? code : "refused", e ? e : "refused");
}

static json_t *
next_msg(struct fr *c, int *r)
{
	json_t *m = fr_evq_pop(c);

	if (m) {
		*r = 0;
		return m;
	}
	return fr_read_json(c, r);
}

int
fr_recv_start(struct fr *c, uint64_t service, const char *name, uint64_t count, bool wait)
{
	json_t *req;
	int r;

	if (c->streaming)
		return fr_fail(c, -EBUSY, "this connection carries a stream already: open another");
	req = json_pack("{s:s, s:I, s:I, s:b}", "op", "recv", "service", (json_int_t)service,
	    "count", (json_int_t)count, "wait", wait);
	if (name && (json_object_set_new(req, "name", json_string(name)) < 0)) {
		json_decref(req);
		return fr_fail(c, -EINVAL, "the registration name is not UTF-8 text");
	}
	if ((r = fr_flush_out(c)) == 0)
		r = fr_send_msg(c, req, NULL, -1, 0);
	json_decref(req);
	if (r == 0)
		c->streaming = true;
	return r;
}

int
fr_recv_next(struct fr *c, struct fr_bundle *b)
{
	json_t *m;
	const char *ev;
	int r;

	for (;;) {
		if ((m = next_msg(c, &r)) == NULL)
			return r;
		if (json_is_integer(json_object_get(m, "tag")) && c->pend_n > 0) {
			fr_sent_answer(c, m);	/* a send pipelined on this connection */
			json_decref(m);
			continue;
		}
		ev = json_string_value(json_object_get(m, "event"));
		if (ev && strcmp(ev, "bundle") == 0) {
			memset(b, 0, sizeof(*b));
			b->rowid = (int64_t)u64(m, "rowid");
			text(b->id, sizeof(b->id), m, "id");
			text(b->src, sizeof(b->src), m, "src");
			text(b->dst, sizeof(b->dst), m, "dst");
			text(b->class, sizeof(b->class), m, "class");
			b->received = u64(m, "received");
			b->expires = u64(m, "expires");
			b->len = u64(m, "body");
			json_decref(m);
			return 1;
		}
		if (ev && strcmp(ev, "end") == 0) {
			json_decref(m);
			c->streaming = false;
			return 0;
		}
		if (ev == NULL && json_is_false(json_object_get(m, "ok"))) {
			r = refused(c, m);
			json_decref(m);
			c->streaming = false;
			return r;
		}
		json_decref(m);	/* something newer than this library: skipped */
	}
}

int
fr_recv_body(struct fr *c, const struct fr_bundle *b, fr_sink_fn *sink, void *arg)
{
	return fr_read_body(c, b->len, sink, arg);
}

int
fr_ack(struct fr *c, int64_t rowid)
{
	json_t *req = json_pack("{s:s, s:I}", "op", "ack", "rowid", (json_int_t)rowid);
	int r = fr_queue_msg(c, req, NULL, 0);

	json_decref(req);
	return r < 0 ? r : fr_flush_out(c);
}

int
fr_live_send(struct fr *c, uint64_t node, uint64_t group, uint64_t spurt, uint64_t seq, const void *data,
    size_t len)
{
	json_t *req;
	int r;

	if (len == 0 || len > FR_LIVE_MAX)
		return fr_fail(c, -EMSGSIZE, "a live frame is 1 .. %u bytes, not %zu", FR_LIVE_MAX, len);
	req = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "op", "live", "node", (json_int_t)node,
	    "group", (json_int_t)group, "spurt", (json_int_t)spurt, "seq", (json_int_t)seq, "body", (json_int_t)len);
	r = fr_queue_msg(c, req, data, len);
	json_decref(req);
	return r < 0 ? r : fr_flush_out(c);
}

int
fr_watch(struct fr *c, unsigned what)
{
	char *reply = NULL;
	char req[96];
	json_t *m;
	int r;

	if (c->streaming)
		return fr_fail(c, -EBUSY, "this connection carries a stream already: open another");
	snprintf(req, sizeof(req), "{\"op\":\"watch\",\"events\":%s,\"live\":%s}",
	    what & FR_WATCH_EVENTS ? "true" : "false", what & FR_WATCH_LIVE ? "true" : "false");
	if ((r = fr_request(c, req, &reply)) < 0)
		return r;
	m = json_loads(reply, 0, NULL);
	free(reply);
	if (!json_is_true(json_object_get(m, "ok"))) {
		r = refused(c, m);
		json_decref(m);
		return r;
	}
	json_decref(m);
	c->streaming = true;
	return 0;
}

static enum fr_event_kind
event_kind(json_t *m)
{
	const char *ev = json_string_value(json_object_get(m, "event"));
	bool up = json_is_true(json_object_get(m, "up"));

	if (ev == NULL)
		return json_is_false(json_object_get(m, "ok")) ? FR_EV_ERROR : FR_EV_OTHER;
	if (strcmp(ev, "link") == 0)
		return up ? FR_EV_LINK_UP : FR_EV_LINK_DOWN;
	if (strcmp(ev, "neighbour") == 0)
		return up ? FR_EV_NEIGHBOUR_UP : FR_EV_NEIGHBOUR_DOWN;
	if (strcmp(ev, "route") == 0)
		return FR_EV_ROUTE;
	if (strcmp(ev, "store") == 0)
		return FR_EV_STORE;
	if (strcmp(ev, "live") == 0)
		return FR_EV_LIVE;
	return FR_EV_OTHER;
}

int
fr_next(struct fr *c, struct fr_event *e, int timeout_ms)
{
	json_t *m, *v;
	int r;

	json_decref(c->ev);
	c->ev = NULL;
	free(c->ev_text);
	c->ev_text = NULL;
	memset(e, 0, sizeof(*e));
	for (;;) {
		if ((r = fr_wait_input(c, timeout_ms)) <= 0)
			return r;
		if ((m = next_msg(c, &r)) == NULL)
			return r;
		if (json_is_integer(json_object_get(m, "tag")) && c->pend_n > 0) {
			fr_sent_answer(c, m);
			json_decref(m);
			continue;
		}
		break;
	}
	c->ev = m;
	e->kind = event_kind(m);
	text(e->link, sizeof(e->link), m, "link");
	e->node = u64(m, e->kind == FR_EV_LIVE ? "from" : "node");
	e->rate_bps = u64(m, "rate_bps");
	e->mtu = (uint32_t)u64(m, "mtu");
	v = json_object_get(m, "loss");
	e->loss = json_is_number(v) ? json_number_value(v) : -1;
	v = json_object_get(m, "rtt_ms");
	e->rtt_ms = json_is_integer(v) ? (int)json_integer_value(v) : -1;
	e->disk_full = json_is_true(json_object_get(m, "disk_full"));
	e->bundles = u64(m, "bundles");
	e->bytes = u64(m, "bytes");
	e->quota = u64(m, "quota");
	e->group = u64(m, "group");
	e->spurt = u64(m, "spurt");
	e->seq = u64(m, "seq");
	if (e->kind == FR_EV_ERROR)
		refused(c, m);
	if ((e->len = (size_t)u64(m, "body")) > FR_MAX_MSG)
		return fr_fail(c, -EPROTO, "the daemon sent a live frame of %zu bytes", e->len);
	if (e->len > 0) {
		uint8_t *p = realloc(c->live, e->len);

		if (p == NULL)
			return fr_fail(c, -ENOMEM, "out of memory");
		c->live = p;
		if ((r = fr_read_all(c, p, e->len, fr_deadline(c))) < 0)
			return r;
		e->data = p;
	}
	c->ev_text = json_dumps(m, JSON_COMPACT);
	e->json = c->ev_text ? c->ev_text : "{}";
	return 1;
}
