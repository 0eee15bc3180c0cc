/* control.c - the control socket, see control.h for the protocol. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "admin.h"
#include "control.h"
#include "forward.h"
#include "frame.h"
#include "version.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "service.h"
#include "text.h"

#define INLINE_BODY_MAX		(64u << 10)	/* larger bodies are spooled to a file */
#define OUT_HIGH_WATER		(1u << 20)	/* stop reading requests above this */
#define STREAM_CHUNK		(64u << 10)
#define DELIVERY_WINDOW		32		/* unacked deliveries per connection */

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
	uint64_t body_len, body_got;
	uint8_t *body_mem;
	int body_fd;			/* spool file for large bodies */
	int body_err;			/* refuse once the body is read */

	uint8_t *out;			/* output not yet written */
	size_t out_len, out_off, out_cap;

	/* A recv/watch stream. */
	bool receiving;
	uint64_t service;
	int64_t cursor;			/* last rowid handed out */
	uint64_t wanted;		/* bundles still wanted, 0 = forever */
	bool wait;
	bool ending;			/* all wanted acked: "end" once deletes commit */
	unsigned unacked;
	unsigned deleting;		/* acked bundles whose delete is not committed */
	int64_t stream_rowid;		/* body being streamed out */
	uint64_t stream_off, stream_left;
};

struct control {
	struct node *node;
	struct loop *loop;
	int fd;
	char path[108];
	bool quiesced;
	struct forward *forward;
	uint64_t last_input;		/* monotonic ms of the last bytes from any client */
	LIST_HEAD(, conn) conns;
	struct log_ratelimit rl;
};

static void conn_io(struct loop *l, int fd, uint32_t events, void *arg);
static void conn_pump(struct conn *c);
static void conn_parse(struct conn *c);
static void conn_flush(struct conn *c);

static void
conn_unref(struct conn *c)
{
	if (--c->refs == 0 && c->closed) {
		free(c->in);
		free(c->out);
		free(c);
	}
}

static void
conn_close(struct conn *c)
{
	if (c->closed)
		return;
	loop_del_fd(c->ctl->loop, c->fd);
	close(c->fd);
	if (c->body_fd >= 0)
		close(c->body_fd);
	json_decref(c->body_req);
	free(c->body_mem);
	c->body_req = NULL;
	c->body_mem = NULL;
	c->body_fd = -1;
	LIST_REMOVE(c, entry);
	c->closed = true;
	conn_unref(c);		/* the reference the open fd held */
}

static size_t
conn_backlog(const struct conn *c)
{
	return c->out_len - c->out_off;
}

static int
out_reserve(struct conn *c, size_t n)
{
	uint8_t *p;
	size_t cap;

	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n <= c->out_cap)
		return 0;
	if (c->out_off > 0) {	/* slide down first */
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		if (c->out_len + n <= c->out_cap)
			return 0;
	}
	cap = c->out_cap ? c->out_cap : 4096;
	while (cap < c->out_len + n)
		cap *= 2;
	if ((p = realloc(c->out, cap)) == NULL)
		return -ENOMEM;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

/*
 * Queue one message (and steal the reference to msg).  An answer that could
 * not be built (msg NULL: json_pack() refuses text that is not UTF-8) or
 * encoded still gets one: a client must never wait for an answer that will
 * not come.
 */
static void
conn_send(struct conn *c, json_t *msg)
{
	char *s;
	size_t n;

	if (c->closed) {
		json_decref(msg);
		return;
	}
	s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	if (s == NULL) {
		log_limited(&c->ctl->rl, "control: an answer could not be encoded as JSON");
		s = strdup("{\"ok\":false,\"code\":\"io\",\"error\":\"the daemon could not encode its answer\"}");
	}
	if (s == NULL || (n = strlen(s)) > CONTROL_MAX_MSG || out_reserve(c, n + 4) < 0) {
		free(s);
		conn_close(c);
		return;
	}
	c->out[c->out_len++] = (uint8_t)(n >> 24);
	c->out[c->out_len++] = (uint8_t)(n >> 16);
	c->out[c->out_len++] = (uint8_t)(n >> 8);
	c->out[c->out_len++] = (uint8_t)n;
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	free(s);
}

static void
conn_error(struct conn *c, json_t *tag, const char *code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
conn_error(struct conn *c, json_t *tag, const char *code, const char *fmt, ...)
{
	char msg[512], text[512];
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* What the client sent may be in it, cut anywhere by vsnprintf: keep it UTF-8, or there is no answer. */
	text_escape(text, sizeof(text), msg, strlen(msg));
	o = json_pack("{s:b, s:s, s:s}", "ok", 0, "code", code, "error", text);
	if (tag)
		json_object_set(o, "tag", tag);
	conn_send(c, o);
}

static const char *
result_code(int r)
{
	switch (r) {
	case -EDQUOT:	return "quota";
	case -ENOSPC:	return "disk-full";
	case -EMSGSIZE:	return "too-big";
	case -EINVAL:	return "bad-request";
	default:	return "io";
	}
}

/* Write what the socket takes; keep EPOLLOUT armed only while output waits. */
static void
conn_flush(struct conn *c)
{
	ssize_t w;

	while (!c->closed && conn_backlog(c) > 0) {
		w = send(c->fd, c->out + c->out_off, conn_backlog(c), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(c);
			return;
		}
		c->out_off += (size_t)w;
	}
	if (c->closed)
		return;
	if (c->closing && conn_backlog(c) == 0) {
		conn_close(c);
		return;
	}
	/* A body still to stream needs a writable event even when all is sent. */
	loop_mod_fd(c->ctl->loop, c->fd, EPOLLIN |
	    (conn_backlog(c) || (c->receiving && c->stream_left) ? EPOLLOUT : 0));
}

/*
 * The input cannot be framed any more (a "body" that is not a byte count):
 * answer what was asked, then hang up, rather than hang up in silence.
 */
static void
conn_close_after_answers(struct conn *c)
{
	c->closing = true;
	conn_flush(c);
}

/* ---- status, queue, config-check ---- */

static json_t *
class_array(const uint64_t *count, const uint64_t *bytes)
{
	json_t *a = json_array();

	for (int i = 0; i < PRIO_COUNT; i++)
		json_array_append_new(a, json_pack("{s:s, s:i, s:I, s:I}", "class", prio_name(i),
		    "priority", i, "count", (json_int_t)count[i], "bytes", (json_int_t)bytes[i]));
	return a;
}

static void
op_status(struct conn *c, json_t *tag)
{
	const struct config *cfg = node_config(c->ctl->node);
	struct store_stats st;
	json_t *o, *st_o;
	int r;

	if ((r = store_stats(node_store(c->ctl->node), &st)) < 0) {
		conn_error(c, tag, "io", "cannot read the store: %s", store_strerror(r));
		return;
	}
	o = json_pack("{s:b, s:s, s:I, s:s, s:I, s:I, s:b, s:i, s:{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}}",
	    "ok", 1,
	    "version", FIELDRELAY_VERSION,
	    "node", (json_int_t)cfg->node_id,
	    "name", cfg->name,
	    "uptime", (json_int_t)((loop_now() - node_started(c->ctl->node)) / 1000),
	    "boot", (json_int_t)st.boot,
	    "clock_trusted", node_clock_trusted(c->ctl->node),
	    "pid", (int)getpid(),
	    "store",
	    "path", cfg->store_path,
	    "bundles", (json_int_t)st.bundles,
	    "bytes", (json_int_t)st.bytes,
	    "used", (json_int_t)st.used,
	    "quota", (json_int_t)st.quota,
	    "reserve", (json_int_t)st.reserve,
	    "seen", (json_int_t)st.seen,
	    "classes", class_array(st.count, st.class_bytes));
	st_o = json_object_get(o, "store");
	if (st.fs_free != UINT64_MAX)
		json_object_set_new(st_o, "fs_free", json_integer((json_int_t)st.fs_free));
	json_object_set_new(st_o, "disk_full", json_boolean(st.disk_full));
	json_object_set_new(st_o, "fs_short", json_boolean(st.fs_short));
	if (tag)
		json_object_set(o, "tag", tag);
	conn_send(c, o);
}

static void
queue_row(void *arg, const char *dst, int priority, uint64_t count, uint64_t bytes)
{
	json_array_append_new(arg, json_pack("{s:s, s:s, s:i, s:I, s:I}", "dst", dst,
	    "class", prio_name(priority), "priority", priority,
	    "count", (json_int_t)count, "bytes", (json_int_t)bytes));
}

static void
op_queue(struct conn *c, json_t *tag)
{
	struct store_stats st;
	json_t *rows = json_array(), *o;
	int r;

	if ((r = store_stats(node_store(c->ctl->node), &st)) < 0 ||
	    (r = store_queue(node_store(c->ctl->node), queue_row, rows)) < 0) {
		json_decref(rows);
		conn_error(c, tag, "io", "cannot read the store: %s", store_strerror(r));
		return;
	}
	o = json_pack("{s:b, s:I, s:I, s:o, s:o}", "ok", 1,
	    "bundles", (json_int_t)st.bundles, "bytes", (json_int_t)st.bytes,
	    "classes", class_array(st.count, st.class_bytes), "destinations", rows);
	if (tag)
		json_object_set(o, "tag", tag);
	conn_send(c, o);
}

static void
op_config_check(struct conn *c, json_t *tag)
{
	const struct config *cur = node_config(c->ctl->node);
	static struct config fresh;	/* big: keep it off the stack */
	char err[4096], changes[2048] = "";
	json_t *o;
	int r;

	char path[sizeof(cur->path) * 4];

	r = config_load(cur->path, &fresh, err, sizeof(err));
	if (r == 0)
		config_reloadable(cur, &fresh, changes, sizeof(changes));
	/* config_load() escapes what came from the file; the path came from the command line. */
	text_escape(path, sizeof(path), cur->path, strlen(cur->path));
	o = json_pack("{s:b, s:s, s:s, s:s}", "ok", r == 0, "path", path,
	    "errors", r == 0 ? "" : err, "changes", changes);
	if (tag)
		json_object_set(o, "tag", tag);
	conn_send(c, o);
}

/* ---- hello ---- */

static void
op_hello(struct conn *c, json_t *req, json_t *tag)
{
	const struct config *cfg = node_config(c->ctl->node);
	json_t *v = json_object_get(req, "protocol"), *agent = json_object_get(req, "agent"), *o;

	if (v && (!json_is_integer(v) || json_integer_value(v) < 1)) {
		conn_error(c, tag, "bad-request", "\"protocol\" must be a version number (1 or more)");
		return;
	}
	if (agent && (!json_is_string(agent) || json_string_length(agent) == 0 ||
	    json_string_length(agent) >= sizeof(c->agent) || strlen(json_string_value(agent)) != json_string_length(agent))) {
		conn_error(c, tag, "bad-request", "\"agent\" must be a name of 1 .. %zu characters", sizeof(c->agent) - 1);
		return;
	}
	if (agent) {
		text_escape(c->agent, sizeof(c->agent), json_string_value(agent), json_string_length(agent));
		log_info("control: %s connected (protocol %d)", c->agent, (int)(v ? json_integer_value(v) : 1));
	}
	o = json_pack("{s:b, s:i, s:s, s:I, s:s}", "ok", v == NULL || json_integer_value(v) <= CONTROL_PROTOCOL,
	    "protocol", CONTROL_PROTOCOL, "version", FIELDRELAY_VERSION, "node", (json_int_t)cfg->node_id,
	    "name", cfg->name);
	if (v && json_integer_value(v) > CONTROL_PROTOCOL) {
		json_object_set_new(o, "code", json_string("protocol"));
		json_object_set_new(o, "error", json_sprintf("this fieldrelayd speaks protocol %d, not %d: upgrade it",
		    CONTROL_PROTOCOL, (int)json_integer_value(v)));
	}
	if (tag)
		json_object_set(o, "tag", tag);
	conn_send(c, o);
}

/* ---- send ---- */

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
		conn_error(c, sr->tag, result_code(result), "bundle not accepted: %s",
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
static void
send_finish(struct conn *c, json_t *req, const uint8_t *mem, int fd, uint64_t len)
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
body_begin(struct conn *c, json_t *req, uint64_t len)
{
	const struct config *cfg = node_config(c->ctl->node);

	c->body_req = json_incref(req);
	c->body_len = len;
	c->body_got = 0;
	c->body_err = 0;
	if (c->ctl->quiesced) {
		c->body_err = -ESHUTDOWN;	/* read and drop it, then say why */
	} else if (len > cfg->max_bundle_size) {
		c->body_err = -EMSGSIZE;	/* read and drop it, then say why */
	} else if (len <= INLINE_BODY_MAX) {
		if ((c->body_mem = malloc(len ? len : 1)) == NULL)
			c->body_err = -ENOMEM;
	} else {
		/* Spool to an unnamed file next to the store, never whole in memory. */
		c->body_fd = open(cfg->data_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (c->body_fd < 0)
			c->body_err = -errno;
	}
}

static void
body_end(struct conn *c)
{
	json_t *req = c->body_req;
	json_t *tag = json_object_get(req, "tag");
	const struct config *cfg = node_config(c->ctl->node);

	if (c->body_err == -EPROTO)
		conn_error(c, tag, "bad-request", "only send takes a body (it was read and dropped)");
	else if (c->body_err == -ESHUTDOWN)
		conn_error(c, tag, "shutting-down", "not stored: the daemon is shutting down");
	else if (c->body_err == -EMSGSIZE)
		conn_error(c, tag, "too-big", "payload of %" PRIu64 " bytes is over the limit of %" PRIu64 " bytes",
		    c->body_len, cfg->max_bundle_size);
	else if (c->body_err == -ENOSPC || c->body_err == -EDQUOT)
		conn_error(c, tag, "disk-full", "cannot spool the payload: %s", strerror(-c->body_err));
	else if (c->body_err)
		conn_error(c, tag, "io", "cannot take the payload: %s", strerror(-c->body_err));
	else
		send_finish(c, req, c->body_mem, c->body_fd, c->body_len);
	if (c->body_fd >= 0)
		close(c->body_fd);
	free(c->body_mem);
	json_decref(req);
	c->body_req = NULL;
	c->body_mem = NULL;
	c->body_fd = -1;
}

/* Take up to n body bytes from p; returns how many were used. */
static size_t
body_take(struct conn *c, const uint8_t *p, size_t n)
{
	uint64_t left = c->body_len - c->body_got;

	if (n > left)
		n = (size_t)left;
	if (c->body_err == 0) {
		if (c->body_mem) {
			memcpy(c->body_mem + c->body_got, p, n);
		} else if (c->body_fd >= 0) {
			ssize_t w = pwrite(c->body_fd, p, n, (off_t)c->body_got);

			if (w != (ssize_t)n)
				c->body_err = w < 0 ? -errno : -ENOSPC;
		}
	}
	c->body_got += n;
	if (c->body_got == c->body_len)
		body_end(c);
	return n;
}

/* ---- recv / watch ---- */

static void
ack_done(void *arg, int result, int64_t rowid)
{
	struct conn *c = arg;

	if (result < 0 && result != -ENOENT)
		log_warnx("control: cannot let go of delivered bundle %" PRId64 ": %s", rowid,
		    store_strerror(result));
	c->deleting--;
	if (!c->closed && c->receiving)
		conn_pump(c);	/* an "end" may have waited for this */
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
	c->receiving = false;
	return true;
}

/* Hand out bundles while the window, the wish and the socket allow. */
static void
conn_pump(struct conn *c)
{
	struct store *st = node_store(c->ctl->node);
	uint8_t chunk[STREAM_CHUNK];
	struct store_entry e;
	json_t *o;
	long n;
	int r;

	while (!c->closed && c->receiving && conn_backlog(c) < OUT_HIGH_WATER) {
		if (c->stream_left > 0) {
			size_t want = c->stream_left < sizeof(chunk) ? (size_t)c->stream_left : sizeof(chunk);

			n = store_read(st, c->stream_rowid, c->stream_off, chunk, want);
			if (n <= 0 || out_reserve(c, (size_t)n) < 0) {
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
		r = store_next_local(st, c->service, c->cursor, &e);
		if (r == -ENOENT) {
			if (!c->wait && c->unacked == 0)
				conn_end(c);
			break;
		}
		if (r < 0) {
			conn_error(c, NULL, "io", "cannot read the store: %s", store_strerror(r));
			c->receiving = false;
			break;
		}
		c->cursor = e.rowid;
		c->unacked++;
		o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:I}", "event", "bundle",
		    "rowid", (json_int_t)e.rowid, "id", e.id, "src", e.src, "dst", e.dst,
		    "class", prio_name(e.priority), "received", (json_int_t)e.received,
		    "body", (json_int_t)e.payload_len);
		conn_send(c, o);
		c->stream_rowid = e.rowid;
		c->stream_off = e.head_len;
		c->stream_left = e.payload_len;
	}
	if (!c->closed)
		conn_flush(c);
}

static void
op_recv(struct conn *c, json_t *req, json_t *tag)
{
	json_t *svc = json_object_get(req, "service");
	json_t *count = json_object_get(req, "count");

	if (c->receiving) {
		conn_error(c, tag, "bad-request", "this connection is already receiving");
		return;
	}
	json_t *wait = json_object_get(req, "wait");

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
	c->receiving = true;
	c->service = (uint64_t)json_integer_value(svc);
	c->wanted = count ? (uint64_t)json_integer_value(count) : 0;
	c->wait = json_is_true(wait);
	c->cursor = 0;
	c->unacked = 0;
	c->ending = false;
	conn_pump(c);
}

static void
op_ack(struct conn *c, json_t *req, json_t *tag)
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
	if (node_delivered(c->ctl->node, json_integer_value(v), ack_done, c) < 0) {
		c->refs--;
		c->deleting--;
	}
	c->unacked--;
	if (c->wanted > 0 && --c->wanted == 0)
		c->ending = true;
	conn_pump(c);
}

/* A local bundle became durable: wake the readers of its service. */
static void
control_local(void *arg, uint64_t service)
{
	struct control *ctl = arg;
	struct conn *c, *next;

	for (c = LIST_FIRST(&ctl->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		if (c->receiving && c->service == service) {
			c->refs++;
			conn_pump(c);
			next = c->closed ? next : LIST_NEXT(c, entry);
			conn_unref(c);
		}
	}
}

/* ---- neighbors, links, routes ---- */

void
control_set_forward(struct control *ctl, struct forward *fw)
{
	ctl->forward = fw;
}

static void
nbr_row(void *arg, const char *link, uint64_t node, const char *addr, uint32_t cost)
{
	json_array_append_new(arg, json_pack("{s:s, s:I, s:s, s:I}", "link", link,
	    "node", (json_int_t)node, "addr", addr, "cost", (json_int_t)cost));
}

/*
 * "radio": one line for people; "wireless": true, false, or null when it
 * cannot be known (no interface, no nl80211); signal and tx bitrate only
 * when nl80211 reported them.
 */
static void
radio_fields(json_t *row, const struct forward_link_info *li)
{
	char text[160];

	netlink_wireless_format(li->ifname, li->wireless_rc, &li->w, text, sizeof(text));
	json_object_set_new(row, "radio", json_string(text));
	json_object_set_new(row, "interface", li->ifname[0] ? json_string(li->ifname) : json_null());
	if (!li->ifname[0] || li->wireless_rc < 0) {
		json_object_set_new(row, "wireless", json_null());
		return;
	}
	json_object_set_new(row, "wireless", json_boolean(li->w.wireless));
	if (!li->w.wireless)
		return;
	json_object_set_new(row, "stations", json_integer(li->w.stations));
	if (li->w.has_signal)
		json_object_set_new(row, "signal_dbm", json_integer(li->w.signal_dbm));
	if (li->w.has_bitrate)
		json_object_set_new(row, "tx_bitrate_kbps", json_integer((json_int_t)li->w.tx_bitrate * 100));
}

static void
link_row(void *arg, const struct forward_link_info *li)
{
	const struct link_metrics *m = &li->m;
	json_t *drops = json_object(), *row;

	for (int i = 1; i < FRAME_DROP_N; i++)
		json_object_set_new(drops, frame_drop_name(i), json_integer((json_int_t)m->dropped[i]));
	row = json_pack("{s:s, s:s, s:b, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
	    "name", li->name, "kind", li->kind, "up", m->up, "neighbours", (int)m->neighbours,
	    "frames_tx", (json_int_t)m->frames_tx, "frames_rx", (json_int_t)m->frames_rx,
	    "bytes_tx", (json_int_t)m->bytes_tx, "bytes_rx", (json_int_t)m->bytes_rx,
	    "segments", (json_int_t)m->segments, "retransmissions", (json_int_t)m->retransmissions,
	    "voice_tx", (json_int_t)m->voice_tx, "voice_rx", (json_int_t)m->voice_rx,
	    "send_errors", (json_int_t)m->send_errors, "dropped", drops);
	json_object_set_new(row, "mtu", json_integer(m->mtu));
	json_object_set_new(row, "rate_bps", json_integer((json_int_t)m->rate_bps));
	json_object_set_new(row, "airtime_ms", json_integer((json_int_t)m->airtime_ms));
	json_object_set_new(row, "in_window", json_boolean(m->in_window));
	json_object_set_new(row, "open", json_boolean(m->open));
	if (m->budget_bytes) {
		json_object_set_new(row, "budget_bytes", json_integer((json_int_t)m->budget_bytes));
		json_object_set_new(row, "budget_used", json_integer((json_int_t)m->budget_used));
	}
	json_object_set_new(row, "rtt_ms", m->rtt_ms >= 0 ? json_integer(m->rtt_ms) : json_null());
	/* Segments sent again, of all sent: what the medium loses (and what timeouts misjudge). */
	json_object_set_new(row, "loss", m->segments ? json_real((double)m->retransmissions / (double)m->segments) :
	    json_null());
	json_object_set_new(row, "compact", json_boolean(m->compact));
	json_object_set_new(row, "compact_tx", json_integer((json_int_t)m->compact_tx));
	json_object_set_new(row, "compact_rx", json_integer((json_int_t)m->compact_rx));
	json_object_set_new(row, "data_bytes_tx", json_integer((json_int_t)m->data_bytes_tx));
	json_object_set_new(row, "ack_bytes_tx", json_integer((json_int_t)m->ack_bytes_tx));
	/* A medium's own figures (an SBD modem, the DirectIP side), under its kind's name. */
	if (m->ext_json[0]) {
		json_t *x = json_loads(m->ext_json, 0, NULL);

		if (x)
			json_object_set_new(row, li->kind, x);
	}
	json_object_set_new(row, "data_frames_tx", json_integer((json_int_t)m->data_frames_tx));
	json_object_set_new(row, "ack_frames_tx", json_integer((json_int_t)m->ack_frames_tx));
	radio_fields(row, li);
	json_array_append_new(arg, row);
}

struct route_rows {
	const struct forward *fw;
	json_t *rows;
};

static void
route_row(void *arg, uint64_t dst, const struct route_hop *hop)
{
	static const char *const kinds[] = { "none", "direct", "learned", "static", "default" };
	struct route_rows *r = arg;

	if (hop == NULL) {
		json_array_append_new(r->rows, json_pack("{s:I, s:n, s:s}", "dst", (json_int_t)dst, "via", "kind", "unreachable"));
		return;
	}
	json_array_append_new(r->rows, json_pack("{s:I, s:I, s:s, s:I, s:s}", "dst", (json_int_t)dst,
	    "via", (json_int_t)hop->via, "link", forward_link_name(r->fw, hop->link),
	    "cost", (json_int_t)hop->cost, "kind", kinds[hop->kind]));
}

static void
op_network(struct conn *c, const char *op, json_t *tag)
{
	json_t *rows = json_array(), *o;
	struct route_rows rr = { c->ctl->forward, rows };

	if (c->ctl->forward != NULL) {
		if (strcmp(op, "neighbors") == 0)
			forward_neighbours(c->ctl->forward, nbr_row, rows);
		else if (strcmp(op, "links") == 0)
			forward_links(c->ctl->forward, link_row, rows);
		else
			forward_routes(c->ctl->forward, route_row, &rr);
	}
	o = json_pack("{s:b, s:o}", "ok", 1, op, rows);
	if (c->ctl->forward != NULL) {
		struct forward_counters fc;

		forward_counters(c->ctl->forward, &fc);
		json_object_set_new(o, "in_flight", json_integer(forward_in_flight(c->ctl->forward)));
		json_object_set_new(o, "forwarding", json_pack("{s:I, s:I, s:I, s:I, s:I}",
		    "handed", (json_int_t)fc.handed, "flood_sent", (json_int_t)fc.flood_sent,
		    "flood_handed", (json_int_t)fc.flood_handed, "flood_scanned", (json_int_t)fc.flood_scanned,
		    "duplicates", (json_int_t)fc.duplicates));
	}
	if (tag)
		json_object_set(o, "tag", tag);
	conn_send(c, o);
}

/* ---- flood ---- */

#define FLOOD_LIST_MAX		100	/* bundles per answer */
#define FLOOD_LIST_BYTES	(CONTROL_MAX_MSG - 4096)	/* and what one message can carry */
#define FLOOD_HOLDERS_SHOWN	32

/* The bundles for every node, each with the neighbours known to have it. */
static void
op_flood(struct conn *c, json_t *tag)
{
	static const char *const hows[] = { "?", "from", "sent", "offered" };
	struct store *st = node_store(c->ctl->node);
	struct store_holder held[FLOOD_HOLDERS_SHOWN];
	struct store_stats ss;
	struct store_entry e;
	json_t *rows = json_array(), *o, *row;
	size_t bytes = 0;
	int prio = 0, n;
	int64_t after = 0;

	while (json_array_size(rows) < FLOOD_LIST_MAX && store_next_flood(st, prio, after, 0, &e) == 0) {
		json_t *hs = json_array();

		prio = e.priority;
		after = e.rowid;
		n = store_holders(st, e.rowid, held, FLOOD_HOLDERS_SHOWN);
		for (int i = 0; i < n && i < FLOOD_HOLDERS_SHOWN; i++)
			json_array_append_new(hs, json_pack("{s:I, s:s, s:I}", "node", (json_int_t)held[i].node,
			    "how", hows[held[i].how >= 1 && held[i].how <= 3 ? held[i].how : 0],
			    "when", (json_int_t)held[i].when));
		row = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:o}",
		    "id", e.id, "src", e.src, "dst", e.dst, "class", prio_name(e.priority),
		    "size", (json_int_t)e.size, "expires", (json_int_t)e.expires,
		    "local", e.state == STORE_FLOOD_LOCAL, "holders", hs);
		if ((bytes += json_dumpb(row, NULL, 0, JSON_COMPACT) + 1) > FLOOD_LIST_BYTES) {
			json_decref(row);
			break;
		}
		json_array_append_new(rows, row);
	}
	if (store_stats(st, &ss) < 0)
		ss.flood = json_array_size(rows);
	o = json_pack("{s:b, s:I, s:o}", "ok", 1, "total", (json_int_t)ss.flood, "flood", rows);
	if (tag)
		json_object_set(o, "tag", tag);
	conn_send(c, o);
}

/* ---- framing ---- */

static void
conn_request(struct conn *c, json_t *req)
{
	json_t *tag = json_object_get(req, "tag");
	json_t *jop = json_object_get(req, "op");
	const char *op = json_string_value(jop);
	json_t *body = json_object_get(req, "body");

	if (body && (!json_is_integer(body) || json_integer_value(body) < 0)) {
		conn_error(c, tag, "bad-request", "\"body\" must be a byte count: closing the connection,"
		    " whose next message cannot be found");
		conn_close_after_answers(c);
		return;
	}
	if (body && (op == NULL || strcmp(op, "send") != 0)) {
		/* The body's length is known: read past it, and the connection stays usable. */
		c->body_req = json_incref(req);
		c->body_len = (uint64_t)json_integer_value(body);
		c->body_got = 0;
		c->body_err = -EPROTO;
		if (c->body_len == 0)
			body_end(c);
		return;
	}
	if (jop && op == NULL) {
		conn_error(c, tag, "bad-request", "\"op\" must be a string");
	} else if (op == NULL) {
		conn_error(c, tag, "bad-request", "request without \"op\"");
	} else if (strcmp(op, "send") == 0) {
		body_begin(c, req, body ? (uint64_t)json_integer_value(body) : 0);
		if (c->body_len == 0)
			body_end(c);
	} else if (c->ctl->quiesced) {
		conn_error(c, tag, "shutting-down", "the daemon is shutting down");
	} else if (strcmp(op, "hello") == 0) {
		op_hello(c, req, tag);
	} else if (strcmp(op, "status") == 0) {
		op_status(c, tag);
	} else if (strcmp(op, "queue") == 0) {
		op_queue(c, tag);
	} else if (strcmp(op, "recv") == 0) {
		op_recv(c, req, tag);
	} else if (strcmp(op, "ack") == 0) {
		op_ack(c, req, tag);
	} else if (strcmp(op, "config-check") == 0) {
		op_config_check(c, tag);
	} else if (strcmp(op, "flood") == 0) {
		op_flood(c, tag);
	} else if (strcmp(op, "neighbors") == 0 || strcmp(op, "links") == 0 || strcmp(op, "routes") == 0) {
		op_network(c, op, tag);
	} else {
		conn_error(c, tag, "bad-request", "unknown op '%s'", op);
	}
}

/* Consume whole messages (and bodies) from the input buffer. */
static void
conn_parse(struct conn *c)
{
	size_t off = 0;

	while (!c->closed && !c->closing && off < c->in_len) {
		if (c->body_req) {
			off += body_take(c, c->in + off, c->in_len - off);
			continue;
		}
		/* Backpressure: a client that does not read its answers waits. */
		if (conn_backlog(c) >= OUT_HIGH_WATER)
			break;
		if (c->in_len - off < 4)
			break;
		uint32_t n = (uint32_t)c->in[off] << 24 | (uint32_t)c->in[off + 1] << 16 |
		    (uint32_t)c->in[off + 2] << 8 | c->in[off + 3];
		if (n == 0 || n > CONTROL_MAX_MSG) {
			log_limited(&c->ctl->rl, "control: message of %u bytes, closing the connection", n);
			conn_close(c);
			return;
		}
		if (c->in_len - off - 4 < n)
			break;
		json_error_t je;
		json_t *req = json_loadb((const char *)c->in + off + 4, n, 0, &je);
		off += 4 + n;
		if (!json_is_object(req)) {
			json_decref(req);
			conn_error(c, NULL, "bad-request", "not a JSON object: %s", je.text);
			continue;
		}
		conn_request(c, req);
		json_decref(req);
	}
	if (c->closed)
		return;
	if (c->closing)
		off = c->in_len;	/* what follows cannot be framed: dropped */
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	conn_flush(c);
}

static void
conn_io(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;
	ssize_t r;

	c->refs++;	/* callbacks below may close it */
	if (events & EPOLLOUT) {
		conn_flush(c);
		if (!c->closed && c->receiving)
			conn_pump(c);
		if (!c->closed)
			conn_parse(c);
	}
	if (!c->closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		if (c->in_cap - c->in_len < 65536) {
			uint8_t *p = realloc(c->in, c->in_len + 65536 + 4);

			if (p == NULL) {
				conn_close(c);
				goto out;
			}
			c->in = p;
			c->in_cap = c->in_len + 65536 + 4;
		}
		/* Do not buffer more while answers pile up unread. */
		if (conn_backlog(c) >= OUT_HIGH_WATER && !c->body_req && c->in_len >= 4)
			goto out;
		r = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(c);
			goto out;
		}
		if (r > 0) {
			c->ctl->last_input = loop_now();
			c->in_len += (size_t)r;
			conn_parse(c);
		}
	}
out:
	conn_unref(c);
}

static void
control_accept(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct control *ctl = arg;
	struct conn *c;
	int cfd;

	while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (ctl->quiesced || (c = calloc(1, sizeof(*c))) == NULL) {
			close(cfd);
			continue;
		}
		c->ctl = ctl;
		c->fd = cfd;
		c->refs = 1;
		c->body_fd = -1;
		if (loop_add_fd(l, cfd, EPOLLIN, conn_io, c) < 0) {
			close(cfd);
			free(c);
			continue;
		}
		LIST_INSERT_HEAD(&ctl->conns, c, entry);
	}
}

struct control *
control_new(struct node *n, struct loop *l, char *err, size_t errlen)
{
	const struct config *cfg = node_config(n);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct control *ctl;
	struct stat sb;
	int probe;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ctl->node = n;
	ctl->loop = l;
	LIST_INIT(&ctl->conns);
	memcpy(ctl->path, cfg->socket_path, sizeof(ctl->path));
	memcpy(sun.sun_path, ctl->path, sizeof(ctl->path));

	/* A socket file left by a crash is removed; one a live daemon answers on is not. */
	if (lstat(ctl->path, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(probe);
			snprintf(err, errlen, "%s: another fieldrelayd is already running on this socket", ctl->path);
			free(ctl);
			return NULL;
		}
		if (probe >= 0)
			close(probe);
		unlink(ctl->path);
	}
	if ((ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(ctl->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(err, errlen, "control socket %s: %s", ctl->path, strerror(errno));
		goto fail;
	}
	if (chmod(ctl->path, cfg->socket_mode) < 0) {
		snprintf(err, errlen, "chmod %s: %s", ctl->path, strerror(errno));
		goto fail;
	}
	if (cfg->socket_group[0]) {
		struct group *gr = getgrnam(cfg->socket_group);

		if (gr == NULL || chown(ctl->path, (uid_t)-1, gr->gr_gid) < 0) {
			snprintf(err, errlen, "control socket group %s: %s", cfg->socket_group,
			    gr ? strerror(errno) : "no such group");
			goto fail;
		}
	}
	if (listen(ctl->fd, 64) < 0 || loop_add_fd(l, ctl->fd, EPOLLIN, control_accept, ctl) < 0) {
		snprintf(err, errlen, "control socket %s: %s", ctl->path, strerror(errno));
		goto fail;
	}
	node_on_local(n, control_local, ctl);
	return ctl;
fail:
	if (ctl->fd >= 0)
		close(ctl->fd);
	unlink(ctl->path);
	free(ctl);
	return NULL;
}

void
control_quiesce(struct control *ctl)
{
	ctl->quiesced = true;
	loop_del_fd(ctl->loop, ctl->fd);
}

/*
 * After control_quiesce(): keep the loop turning so that clients get every
 * answer (accepted, or "shutting-down" for what came too late) until all is
 * written and clients have gone quiet, or until timeout_ms.
 */
void
control_drain(struct control *ctl, struct loop *l, unsigned timeout_ms)
{
	uint64_t end = loop_now() + timeout_ms;
	struct conn *c;
	bool busy;

	control_flush(ctl);
	for (;;) {
		uint64_t now = loop_now();

		busy = now < ctl->last_input + 100;
		LIST_FOREACH(c, &ctl->conns, entry)
			if (conn_backlog(c) > 0 || c->body_req)
				busy = true;
		if (!busy || now >= end)
			break;
		loop_once(l, (int)(end - now < 50 ? end - now : 50));
	}
}

void
control_flush(struct control *ctl)
{
	struct conn *c, *next;

	for (c = LIST_FIRST(&ctl->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		c->refs++;
		conn_flush(c);
		conn_unref(c);
	}
}

void
control_free(struct control *ctl)
{
	struct conn *c;

	if (ctl == NULL)
		return;
	node_on_local(ctl->node, NULL, NULL);
	while ((c = LIST_FIRST(&ctl->conns)) != NULL)
		conn_close(c);
	if (!ctl->quiesced)
		loop_del_fd(ctl->loop, ctl->fd);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl);
}
