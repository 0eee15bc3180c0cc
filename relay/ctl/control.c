/*
 * control.c - the control socket (control.h, PROTOCOL.md): the listening
 * socket, the connections, their framing and bodies; each request goes to
 * its op in the table of ops.c.
 */
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

#include "control.h"
#include "ctl_int.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "text.h"

static void conn_io(struct loop *l, int fd, uint32_t events, void *arg);

void
control_set_forward(struct control *ctl, struct forward *fw)
{
	ctl->forward = fw;
}

void
conn_unref(struct conn *c)
{
	if (--c->refs == 0 && c->closed) {
		free(c->in);
		free(c->out);
		free(c->later);
		free(c);
	}
}

void
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
	deliver_stop(c);
	watch_stop(c);
	conn_unref(c);		/* the reference the open fd held */
}

size_t
conn_backlog(const struct conn *c)
{
	return c->out_len - c->out_off;
}

int
conn_reserve(struct conn *c, size_t n)
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
static size_t
put_header(uint8_t *p, size_t n)
{
	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
	return 4;
}

/* A message that must wait until the body being streamed is out. */
static int
later_add(struct conn *c, const char *s, size_t n)
{
	if (c->later_len + n + 4 > c->later_cap) {
		size_t cap = c->later_cap ? c->later_cap : 4096;
		uint8_t *p;

		while (cap < c->later_len + n + 4)
			cap *= 2;
		if ((p = realloc(c->later, cap)) == NULL)
			return -ENOMEM;
		c->later = p;
		c->later_cap = cap;
	}
	c->later_len += put_header(c->later + c->later_len, n);
	memcpy(c->later + c->later_len, s, n);
	c->later_len += n;
	return 0;
}

void
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
	if (s == NULL || (n = strlen(s)) > CONTROL_MAX_MSG) {
		free(s);
		conn_close(c);
		return;
	}
	/* Never inside a bundle's body that is half out: after it. */
	if (c->stream_left > 0) {
		if (later_add(c, s, n) < 0)
			conn_close(c);
		free(s);
		return;
	}
	if (conn_reserve(c, n + 4) < 0) {
		free(s);
		conn_close(c);
		return;
	}
	c->out_len += put_header(c->out + c->out_len, n);
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	free(s);
}

void
conn_body_done(struct conn *c)
{
	if (c->later_len == 0)
		return;
	if (conn_reserve(c, c->later_len) < 0) {
		conn_close(c);
		return;
	}
	memcpy(c->out + c->out_len, c->later, c->later_len);
	c->out_len += c->later_len;
	c->later_len = 0;
}

void
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

const char *
conn_result_code(int r)
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
void
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
void
conn_answer(struct conn *c, json_t *tag, json_t *msg)
{
	if (msg && tag)
		json_object_set(msg, "tag", tag);
	conn_send(c, msg);
}

static void
conn_close_after_answers(struct conn *c)
{
	c->closing = true;
	conn_flush(c);
}

static void
body_begin(struct conn *c, const struct ctl_op *op, json_t *req, uint64_t len)
{
	const struct config *cfg = node_config(c->ctl->node);

	c->body_req = json_incref(req);
	c->body_op = op;
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
		conn_error(c, tag, "bad-request", "only send and live take a body (it was read and dropped)");
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
		c->body_op->body_fn(c, req, c->body_mem, c->body_fd, c->body_len);
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

/* ---- framing ---- */

static void
conn_request(struct conn *c, json_t *req)
{
	json_t *tag = json_object_get(req, "tag");
	json_t *jop = json_object_get(req, "op");
	const char *op = json_string_value(jop);
	json_t *body = json_object_get(req, "body");
	const struct ctl_op *o = op ? ops_find(op) : NULL;

	if (body && (!json_is_integer(body) || json_integer_value(body) < 0)) {
		conn_error(c, tag, "bad-request", "\"body\" must be a byte count: closing the connection,"
		    " whose next message cannot be found");
		conn_close_after_answers(c);
		return;
	}
	if (body && (o == NULL || o->body_fn == NULL)) {
		/* The body's length is known: read past it, and the connection stays usable. */
		c->body_req = json_incref(req);
		c->body_op = NULL;
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
	} else if (o && o->body_fn) {
		body_begin(c, o, req, body ? (uint64_t)json_integer_value(body) : 0);
		if (c->body_len == 0)
			body_end(c);
	} else if (c->ctl->quiesced) {
		conn_error(c, tag, "shutting-down", "the daemon is shutting down");
	} else if (o == NULL) {
		conn_error(c, tag, "bad-request", "unknown op '%s'", op);
	} else {
		o->fn(c, req, tag);
	}
}

/* Consume whole messages (and bodies) from the input buffer. */
void
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
			deliver_pump(c);
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
	if (watch_new(ctl) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
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
	while ((c = LIST_FIRST(&ctl->conns)) != NULL)
		conn_close(c);
	watch_free(ctl);
	if (!ctl->quiesced)
		loop_del_fd(ctl->loop, ctl->fd);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl);
}

