/*
 * deliver.c - bundles through the control socket (PROTOCOL.md): send (made
 * durable, then answered with its id), the recv stream with its acks (at
 * least once: a bundle leaves only when acked), and durable registrations.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin.h"
#include "ctl_int.h"
#include "log.h"
#include "node.h"
#include "service.h"
#include "text.h"

struct send_req {
	struct conn *conn;
	json_t *tag;
};

static void
send_done(void *arg, int result, const char *id)
{
	struct send_req *sr = arg;
	struct conn *c = sr->conn;
	json_t *o;

	if (result == 0 || result == -EEXIST) {
		o = json_pack("{s:b, s:s}", "ok", 1, "id", id);
		if (sr->tag)
			json_object_set(o, "tag", sr->tag);
		conn_send(c, o);
	} else {
		conn_error(c, sr->tag, conn_result_code(result), "bundle not accepted: %s",
		    store_strerror(result));
	}
	json_decref(sr->tag);
	free(sr);
	if (!c->closed) {
		conn_flush(c);
		conn_parse(c);	/* we may have stopped reading at the high-water mark */
	}
	conn_unref(c);
}

/* "report": absent, true (delivery, as before), or ["delivered", "time", ...]. */
static int
report_flags(json_t *v, uint64_t *flags)
{
	uint64_t f;
	size_t i;
	json_t *x;

	*flags = 0;
	if (v == NULL || json_is_false(v))
		return 0;
	if (json_is_true(v)) {
		*flags = BF_RPT_DELIVERY;
		return 0;
	}
	if (!json_is_array(v))
		return -EINVAL;
	json_array_foreach(v, i, x) {
		if (!json_is_string(x) || admin_report_flag(json_string_value(x), &f) < 0)
			return -EINVAL;
		*flags |= f;
	}
	return 0;
}

/* The request and its body are complete: make a bundle of them. */
void
deliver_send(struct conn *c, json_t *req, const uint8_t *mem, int fd, uint64_t len)
{
	const struct config *cfg = node_config(c->ctl->node);
	struct node_send s = { .payload = mem, .payload_fd = fd, .payload_len = len, .priority = -1 };
	json_t *tag = json_object_get(req, "tag");
	json_t *jdst = json_object_get(req, "dst"), *jprio = json_object_get(req, "priority");
	const char *dst = json_string_value(jdst);
	const char *prio = json_string_value(jprio);
	json_t *v;
	struct send_req *sr;
	int r;

	if (jdst == NULL) {
		conn_error(c, tag, "bad-request", "send needs \"dst\"");
		return;
	}
	if (dst == NULL || strlen(dst) != json_string_length(jdst)) {
		conn_error(c, tag, "bad-request", "\"dst\" must be a string: an endpoint ID (ipn:NODE.SERVICE or dtn://...)");
		return;
	}
	if (eid_parse(&s.dst, dst) < 0) {
		conn_error(c, tag, "bad-eid", "'%s' is not an endpoint ID (ipn:NODE.SERVICE or dtn://...)", dst);
		return;
	}
	if (s.dst.scheme == EID_IPN && (s.dst.node > NODE_MAX || s.dst.service > SERVICE_MAX)) {
		conn_error(c, tag, "bad-eid", "'%s': node and service numbers go up to " NODE_MAX_TEXT, dst);
		return;
	}
	if (jprio && (prio == NULL || (s.priority = prio_parse(prio)) < 0)) {
		conn_error(c, tag, "bad-request", "\"priority\" must be a class name (urgent, position, voicemsg,"
		    " message, telemetry, bulk)");
		return;
	}
	if ((v = json_object_get(req, "service")) && (!json_is_integer(v) || json_integer_value(v) < 0)) {
		conn_error(c, tag, "bad-request", "\"service\" must be a non-negative integer");
		return;
	}
	s.src_service = v ? (uint64_t)json_integer_value(v) :
	    (s.dst.scheme == EID_IPN ? s.dst.service : SVC_MESSAGE);
	if ((v = json_object_get(req, "lifetime")) &&
	    (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > 365 * 86400)) {
		conn_error(c, tag, "bad-request", "\"lifetime\" must be 1 .. 31536000 seconds");
		return;
	}
	s.lifetime = v ? (uint64_t)json_integer_value(v) : 0;
	if (report_flags(json_object_get(req, "report"), &s.report_flags) < 0) {
		conn_error(c, tag, "bad-request", "\"report\" must be true (delivery) or a list of:"
		    " received, forwarded, delivered, deleted, all, time");
		return;
	}
	/* "supersede": absent (the class's default), false (none), or a key. */
	if ((v = json_object_get(req, "supersede")) && json_is_false(v)) {
		s.supersede = "";
	} else if (v && (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > SUPERSEDE_KEY_MAX || strlen(json_string_value(v)) != json_string_length(v))) {
		conn_error(c, tag, "bad-request", "\"supersede\" must be false or a key of 1 .. %d characters",
		    SUPERSEDE_KEY_MAX);
		return;
	} else if (v) {
		s.supersede = json_string_value(v);
	}
	if (len > cfg->max_bundle_size) {
		conn_error(c, tag, "too-big", "payload of %" PRIu64 " bytes is over the limit of %" PRIu64 " bytes",
		    len, cfg->max_bundle_size);
		return;
	}
	if ((sr = calloc(1, sizeof(*sr))) == NULL) {
		conn_error(c, tag, "io", "out of memory");
		return;
	}
	sr->conn = c;
	sr->tag = json_incref(tag);
	c->refs++;
	if ((r = node_send(c->ctl->node, &s, send_done, sr)) < 0) {
		c->refs--;
		json_decref(sr->tag);
		free(sr);
		if (r == -EMSGSIZE)
			conn_error(c, tag, "too-big", "payload too big");
		else if (r == -EINVAL)
			conn_error(c, tag, "bad-request", "that bundle cannot be stored (realtime class is for live voice only)");
		else if (r == -EADDRNOTAVAIL)
			conn_error(c, tag, "bad-eid", "ipn:0.%llu: only the alert (2) and position (3) services go"
			    " to every node", (unsigned long long)s.dst.service);
		else if (r == -ENOBUFS)
			conn_error(c, tag, "busy", "the store's write queue is full: try again shortly");
		else
			conn_error(c, tag, "io", "cannot queue the bundle: %s", strerror(-r));
	}
}

/* A send request announced a body of len bytes: get ready to take it. */

static void
ack_done(void *arg, int result, int64_t rowid)
{
	struct conn *c = arg;

	if (result < 0 && result != -ENOENT)
		log_warnx("control: cannot let go of delivered bundle %" PRId64 ": %s", rowid,
		    store_strerror(result));
	c->deleting--;
	if (!c->closed && c->receiving)
		deliver_pump(c);	/* an "end" may have waited for this */
	conn_unref(c);
}

/*
 * The stream is over: say so once every acknowledged bundle has really left
 * the store, so that a client that saw "end" never sees those bundles again.
 */
static bool
conn_end(struct conn *c)
{
	if (c->deleting > 0)
		return false;
	conn_send(c, json_pack("{s:s, s:b}", "event", "end", "ok", 1));
	deliver_stop(c);
	c->receiving = false;
	return true;
}

/* Hand out bundles while the window, the wish and the socket allow. */
void
deliver_pump(struct conn *c)
{
	struct store *st = node_store(c->ctl->node);
	uint8_t chunk[STREAM_CHUNK];
	struct store_entry e;
	json_t *o;
	long n;
	int r;

	if (c->registering)
		return;		/* the stream starts once its registration is durable */
	while (!c->closed && c->receiving && conn_backlog(c) < OUT_HIGH_WATER) {
		if (c->stream_left > 0) {
			size_t want = c->stream_left < sizeof(chunk) ? (size_t)c->stream_left : sizeof(chunk);

			n = store_read(st, c->stream_rowid, c->stream_off, chunk, want);
			if (n <= 0 || conn_reserve(c, (size_t)n) < 0) {
				/* The bundle vanished mid-stream (expired): the client sees a short body. */
				log_warnx("control: cannot stream bundle %" PRId64 ": %s", c->stream_rowid,
				    n < 0 ? strerror((int)-n) : "short read");
				conn_close(c);
				return;
			}
			memcpy(c->out + c->out_len, chunk, (size_t)n);
			c->out_len += (size_t)n;
			c->stream_off += (uint64_t)n;
			c->stream_left -= (uint64_t)n;
			if (c->stream_left == 0)
				conn_body_done(c);
			continue;
		}
		if (c->ending) {
			conn_end(c);
			break;
		}
		if (c->unacked >= DELIVERY_WINDOW)
			break;
		if (c->wanted > 0 && c->unacked >= c->wanted)
			break;	/* all wanted are out: wait for their acks */
		r = c->reg ? store_next_pending(st, c->reg, c->cursor, &e) :
		    store_next_local(st, c->service, c->cursor, &e);
		if (r == -ENOENT) {
			if (!c->wait && c->unacked == 0)
				conn_end(c);
			break;
		}
		if (r < 0) {
			conn_error(c, NULL, "io", "cannot read the store: %s", store_strerror(r));
			deliver_stop(c);
			c->receiving = false;
			break;
		}
		c->cursor = e.rowid;
		c->unacked++;
		o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "event", "bundle",
		    "rowid", (json_int_t)e.rowid, "id", e.id, "src", e.src, "dst", e.dst,
		    "class", prio_name(e.priority), "received", (json_int_t)e.received,
		    "expires", (json_int_t)e.expires, "body", (json_int_t)e.payload_len);
		conn_send(c, o);
		c->stream_rowid = e.rowid;
		c->stream_off = e.head_len;
		c->stream_left = e.payload_len;
	}
	if (!c->closed)
		conn_flush(c);
}

/* A bundle for a local service became durable: wake this reader. */
static void
deliver_local(void *arg, int kind, uint64_t service)
{
	struct conn *c = arg;

	c->refs++;
	deliver_pump(c);
	conn_unref(c);
}

void
deliver_stop(struct conn *c)
{
	if (c->receiving)
		node_unwatch(c->ctl->node, deliver_local, c);
}

/* A registration's name: 1 .. STORE_REG_NAME_MAX bytes of UTF-8 without NUL; NULL if not. */
static const char *
reg_name(json_t *v)
{
	const char *s = json_string_value(v);

	if (s == NULL || json_string_length(v) == 0 || json_string_length(v) > STORE_REG_NAME_MAX ||
	    strlen(s) != json_string_length(v))
		return NULL;
	return s;
}

/* The stream of a named recv starts once its registration is durable. */
static void
reg_ready(void *arg, int result, int64_t id)
{
	struct conn *c = arg;

	c->registering = false;
	if (!c->closed) {
		if (result < 0) {
			conn_error(c, NULL, conn_result_code(result), "cannot make the registration durable: %s",
			    store_strerror(result));
			deliver_stop(c);
			c->receiving = false;
			conn_flush(c);
		} else {
			c->reg = id;
			deliver_pump(c);
		}
	}
	conn_unref(c);
}

void
deliver_recv(struct conn *c, json_t *req, json_t *tag)
{
	struct store *st = node_store(c->ctl->node);
	json_t *svc = json_object_get(req, "service");
	json_t *count = json_object_get(req, "count");
	json_t *wait = json_object_get(req, "wait");
	json_t *jname = json_object_get(req, "name");
	const char *name = reg_name(jname);
	uint64_t service;
	int n, r;

	if (c->receiving || c->watch_events || c->watch_live) {
		conn_error(c, tag, "bad-request", "this connection is already receiving");
		return;
	}
	if (!json_is_integer(svc) || json_integer_value(svc) < 0 || (uint64_t)json_integer_value(svc) > SERVICE_MAX) {
		conn_error(c, tag, "bad-request", "recv needs \"service\", an integer 0 .. " NODE_MAX_TEXT);
		return;
	}
	if (count && (!json_is_integer(count) || json_integer_value(count) < 0)) {
		conn_error(c, tag, "bad-request", "\"count\" must be a non-negative integer");
		return;
	}
	if (wait && !json_is_boolean(wait)) {
		conn_error(c, tag, "bad-request", "\"wait\" must be true or false");
		return;
	}
	if (jname && name == NULL) {
		conn_error(c, tag, "bad-request", "\"name\" must be a registration name of 1 .. %d bytes",
		    STORE_REG_NAME_MAX);
		return;
	}
	service = (uint64_t)json_integer_value(svc);
	if (name == NULL && (n = store_reg_count(st, service)) != 0) {
		if (n < 0)
			conn_error(c, tag, "io", "cannot read the store");
		else
			conn_error(c, tag, "bad-request", "service %" PRIu64 " has %d registration%s: its bundles wait for"
			    " them; receive with a \"name\" (see `fieldrelay registrations`)", service, n, n == 1 ? "" : "s");
		return;
	}
	if (node_watch(c->ctl->node, NODE_LOCAL, service, deliver_local, c) < 0) {
		conn_error(c, tag, "io", "out of memory");
		return;
	}
	c->receiving = true;
	c->service = service;
	c->wanted = count ? (uint64_t)json_integer_value(count) : 0;
	c->wait = json_is_true(wait);
	c->cursor = 0;
	c->unacked = 0;
	c->ending = false;
	c->reg = 0;
	if (name) {
		c->registering = true;
		c->refs++;
		if ((r = store_reg_add(st, service, name, reg_ready, c)) < 0) {
			c->refs--;
			c->registering = false;
			deliver_stop(c);
			c->receiving = false;
			conn_error(c, tag, r == -ENOBUFS ? "busy" : "io", "cannot make the registration durable: %s",
			    strerror(-r));
		}
		return;
	}
	deliver_pump(c);
}

void
deliver_ack(struct conn *c, json_t *req, json_t *tag)
{
	json_t *v = json_object_get(req, "rowid");

	if (!json_is_integer(v)) {
		conn_error(c, tag, "bad-request", "ack needs \"rowid\", an integer");
		return;
	}
	if (!c->receiving || c->unacked == 0 ||
	    json_integer_value(v) > c->cursor) {
		conn_error(c, tag, "bad-request", "ack of a bundle that was not handed out");
		return;
	}
	c->refs++;
	c->deleting++;
	if ((c->reg ? node_reg_delivered(c->ctl->node, c->reg, json_integer_value(v), ack_done, c) :
	    node_delivered(c->ctl->node, json_integer_value(v), ack_done, c)) < 0) {
		c->refs--;
		c->deleting--;
	}
	c->unacked--;
	if (c->wanted > 0 && --c->wanted == 0)
		c->ending = true;
	deliver_pump(c);
}

/* ---- registrations ---- */

struct reg_req {
	struct conn *conn;
	json_t *tag;
	bool remove;
	uint64_t service;
	char name[STORE_REG_NAME_MAX * 4 + 1];	/* escaped for the answer */
};

static void
reg_done(void *arg, int result, int64_t id)
{
	struct reg_req *rr = arg;
	struct conn *c = rr->conn;

	if (result == 0)
		conn_answer(c, rr->tag, json_pack("{s:b, s:I, s:s, s:I}", "ok", 1, "service", (json_int_t)rr->service,
		    "name", rr->name, "id", (json_int_t)id));
	else if (result == -ENOENT)
		conn_error(c, rr->tag, "not-found", "no registration '%s' for service %" PRIu64, rr->name, rr->service);
	else
		conn_error(c, rr->tag, conn_result_code(result), "registration not changed: %s", store_strerror(result));
	if (!c->closed)
		conn_flush(c);
	if (rr->remove && result == 0)
		log_info("control: registration '%s' of service %" PRIu64 " removed", rr->name, rr->service);
	json_decref(rr->tag);
	free(rr);
	conn_unref(c);
}

static void
reg_change(struct conn *c, json_t *req, json_t *tag, bool remove)
{
	json_t *svc = json_object_get(req, "service"), *jname = json_object_get(req, "name");
	const char *name = reg_name(jname);
	struct reg_req *rr;
	int r;

	if (!json_is_integer(svc) || json_integer_value(svc) < 0 || (uint64_t)json_integer_value(svc) > SERVICE_MAX) {
		conn_error(c, tag, "bad-request", "%s needs \"service\", an integer 0 .. " NODE_MAX_TEXT,
		    remove ? "unregister" : "register");
		return;
	}
	if (name == NULL) {
		conn_error(c, tag, "bad-request", "%s needs \"name\", a registration name of 1 .. %d bytes",
		    remove ? "unregister" : "register", STORE_REG_NAME_MAX);
		return;
	}
	if ((rr = calloc(1, sizeof(*rr))) == NULL) {
		conn_error(c, tag, "io", "out of memory");
		return;
	}
	rr->conn = c;
	rr->tag = json_incref(tag);
	rr->remove = remove;
	rr->service = (uint64_t)json_integer_value(svc);
	text_escape(rr->name, sizeof(rr->name), name, strlen(name));
	c->refs++;
	r = remove ? store_reg_remove(node_store(c->ctl->node), rr->service, name, reg_done, rr) :
	    store_reg_add(node_store(c->ctl->node), rr->service, name, reg_done, rr);
	if (r < 0) {
		c->refs--;
		json_decref(rr->tag);
		free(rr);
		conn_error(c, tag, r == -ENOBUFS ? "busy" : "io", "registration not changed: %s", strerror(-r));
	}
}

void
deliver_register(struct conn *c, json_t *req, json_t *tag)
{
	reg_change(c, req, tag, false);
}

void
deliver_unregister(struct conn *c, json_t *req, json_t *tag)
{
	reg_change(c, req, tag, true);
}
