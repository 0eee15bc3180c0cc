/* fr.c - libfieldrelay: the connection, its messages and requests (fieldrelay.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fr_int.h"

int
fr_fail(struct fr *c, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	errno = -r;
	return r;
}

int64_t
fr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
fr_deadline(const struct fr *c)
{
	return c->timeout_ms < 0 ? -1 : fr_now_ms() + c->timeout_ms;
}

/* Wait until the socket is ready for events or the deadline passes: 0 or -ETIMEDOUT. */
static int
wait_fd(int fd, short events, int64_t until)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int left, r;

	for (;;) {
		left = until < 0 ? -1 : until - fr_now_ms() > 0 ? (int)(until - fr_now_ms()) : 0;
		if ((r = poll(&pfd, 1, left)) > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int
io_error(struct fr *c, int r)
{
	if (r == -ETIMEDOUT)
		return fr_fail(c, r, "fieldrelayd stopped answering (within %d.%03d s)", c->timeout_ms / 1000,
		    c->timeout_ms % 1000);
	if (r == -EPIPE || r == -ECONNRESET)
		return fr_fail(c, -EPIPE, "lost the connection to fieldrelayd");
	return fr_fail(c, r, "control socket: %s", strerror(-r));
}

int
fr_write_all(struct fr *c, const void *p, size_t n, int64_t until)
{
	const uint8_t *b = p;
	int r;

	while (n > 0) {
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return io_error(c, -errno);
			if ((r = wait_fd(c->fd, POLLOUT, until)) < 0)
				return io_error(c, r);
			continue;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Fill the read-ahead buffer with what the socket has (waiting until until for something). */
static int
fill(struct fr *c, int64_t until)
{
	ssize_t got;
	int r;

	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	for (;;) {
		got = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
		if (got > 0) {
			c->in_len += (size_t)got;
			return 0;
		}
		if (got == 0)
			return io_error(c, -EPIPE);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return io_error(c, -errno);
		if ((r = wait_fd(c->fd, POLLIN, until)) < 0)
			return io_error(c, r);
	}
}

int
fr_read_all(struct fr *c, void *p, size_t n, int64_t until)
{
	uint8_t *b = p;
	int r;

	while (n > 0) {
		size_t have = c->in_len - c->in_off;

		if (have == 0) {
			if ((r = fill(c, until)) < 0)
				return r;
			continue;
		}
		if (have > n)
			have = n;
		memcpy(b, c->in + c->in_off, have);
		c->in_off += have;
		b += have;
		n -= have;
	}
	return 0;
}

int
fr_wait_input(struct fr *c, int timeout_ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int r;

	if (c->evq_n > 0 || c->in_len > c->in_off)
		return 1;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return fr_fail(c, -errno, "poll: %s", strerror(errno));
	return r > 0;
}

int
fr_poll(struct fr *c, int timeout_ms)
{
	return fr_wait_input(c, timeout_ms);
}

/* ---- connecting ---- */

static int
connect_once(const char *path, int timeout_ms, char *err, size_t errlen, int *fdp)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000 };
	int fd, e;

	if (path == NULL || *path == '\0')
		path = FR_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		e = errno;
		snprintf(err, errlen, "socket: %s", strerror(e));
		return -e;
	}
	/* A daemon too busy to accept: connect() waits as long as a send may (af_unix). */
	if (timeout_ms >= 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		e = errno;
		if (e == ENOENT || e == ECONNREFUSED)
			snprintf(err, errlen, "fieldrelayd is not running (nothing listens on %s)\n"
			    "  start it (systemctl start fieldrelay, or fieldrelayd -c FILE), or point at its socket with -s PATH or -c CONFIG",
			    path);
		else if (e == EACCES)
			snprintf(err, errlen, "no permission to use %s (run as root or as a member of the socket's group)", path);
		else if (e == EAGAIN || e == EWOULDBLOCK)
			snprintf(err, errlen, "fieldrelayd did not take the connection on %s within %d.%03d s"
			    " (--timeout SECONDS waits longer)", path, timeout_ms / 1000, timeout_ms % 1000);
		else
			snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	*fdp = fd;
	return 0;
}

static struct fr *
fr_new(int fd, int timeout_ms)
{
	struct fr *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	c->next_ticket = 1;
	return c;
}

struct fr *
fr_open(const char *socket_path, int timeout_ms, char *err, size_t errlen)
{
	int fd, r;

	if ((r = connect_once(socket_path, timeout_ms, err, errlen, &fd)) < 0) {
		errno = -r;
		return NULL;
	}
	return fr_new(fd, timeout_ms);
}

struct fr *
fr_open_wait(const char *socket_path, int timeout_ms, int wait_ms, char *err, size_t errlen)
{
	int64_t until = wait_ms < 0 ? -1 : fr_now_ms() + wait_ms;
	int fd, r;

	for (;;) {
		r = connect_once(socket_path, timeout_ms, err, errlen, &fd);
		if (r == 0)
			return fr_new(fd, timeout_ms);
		if ((r != -ENOENT && r != -ECONNREFUSED && r != -EAGAIN) || (until >= 0 && fr_now_ms() >= until)) {
			errno = -r;
			return NULL;
		}
		usleep(until >= 0 && until - fr_now_ms() < 1000 ? (useconds_t)(until - fr_now_ms()) * 1000 + 1000 :
		    1000000);
	}
}

void
fr_close(struct fr *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c->out);
	while (c->evq_n > 0)
		json_decref(fr_evq_pop(c));
	free(c->evq);
	json_decref(c->ev);
	free(c->ev_text);
	free(c->live);
	free(c);
}

int
fr_fd(const struct fr *c)
{
	return c->fd;
}

void
fr_set_timeout(struct fr *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

int
fr_timeout(const struct fr *c)
{
	return c->timeout_ms;
}

const char *
fr_error(const struct fr *c)
{
	return c->err;
}

/* ---- messages ---- */

static int
put_header(uint8_t *p, size_t n)
{
	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
	return 4;
}

int
fr_queue_msg(struct fr *c, json_t *msg, const void *body, size_t len)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	size_t n, need;

	if (s == NULL)
		return fr_fail(c, -EINVAL, "the request cannot be encoded as JSON (text that is not UTF-8?)");
	if ((n = strlen(s)) > FR_MAX_MSG) {
		free(s);
		return fr_fail(c, -EMSGSIZE, "request of %zu bytes is over the limit of %u", n, FR_MAX_MSG);
	}
	need = c->out_len + 4 + n + len;
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 65536;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		if ((p = realloc(c->out, cap)) == NULL) {
			free(s);
			return fr_fail(c, -ENOMEM, "out of memory");
		}
		c->out = p;
		c->out_cap = cap;
	}
	c->out_len += (size_t)put_header(c->out + c->out_len, n);
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	if (len)
		memcpy(c->out + c->out_len, body, len);
	c->out_len += len;
	free(s);
	return 0;
}

int
fr_flush_out(struct fr *c)
{
	int r;

	if (c->out_len == 0)
		return 0;
	r = fr_write_all(c, c->out, c->out_len, fr_deadline(c));
	c->out_len = 0;
	return r;
}

int
fr_send_msg(struct fr *c, json_t *msg, const void *body, int body_fd, uint64_t len)
{
	uint8_t chunk[65536];
	uint64_t done = 0;
	int r;

	if (body && len <= sizeof(chunk)) {
		if ((r = fr_queue_msg(c, msg, body, (size_t)len)) < 0)
			return r;
		return fr_flush_out(c);
	}
	if ((r = fr_queue_msg(c, msg, NULL, 0)) < 0 || (r = fr_flush_out(c)) < 0)
		return r;
	if (body)
		return fr_write_all(c, body, (size_t)len, fr_deadline(c));
	while (done < len) {
		size_t want = len - done < sizeof(chunk) ? (size_t)(len - done) : sizeof(chunk);
		ssize_t n = pread(body_fd, chunk, want, (off_t)done);

		if (n <= 0)	/* the file shrank under us: the connection cannot go on */
			return fr_fail(c, n < 0 ? -errno : -EIO, "reading the payload: %s",
			    n < 0 ? strerror(errno) : "the file got shorter");
		/* A big file takes its time: the deadline is for the daemon to take each chunk. */
		if ((r = fr_write_all(c, chunk, (size_t)n, fr_deadline(c))) < 0)
			return r;
		done += (uint64_t)n;
		if (c->progress)
			c->progress(c->progress_arg, done, len);
	}
	return 0;
}

int
fr_write_msg(struct fr *c, const char *json, const void *body, int body_fd, uint64_t body_len)
{
	json_t *msg = json_loads(json, 0, NULL);
	int r;

	if (!json_is_object(msg)) {
		json_decref(msg);
		return fr_fail(c, -EINVAL, "not a JSON object");
	}
	if (body_len)
		json_object_set_new(msg, "body", json_integer((json_int_t)body_len));
	r = fr_send_msg(c, msg, body, body_fd, body_len);
	json_decref(msg);
	return r;
}

json_t *
fr_read_json(struct fr *c, int *r)
{
	uint8_t hdr[4];
	uint32_t n;
	char *buf;
	json_t *o;
	int64_t until = fr_deadline(c);

	if ((*r = fr_read_all(c, hdr, 4, until)) < 0)
		return NULL;
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > FR_MAX_MSG) {
		*r = fr_fail(c, -EPROTO, "the daemon sent a message of %u bytes: not the fieldrelay protocol", n);
		return NULL;
	}
	if ((buf = malloc(n)) == NULL) {
		*r = fr_fail(c, -ENOMEM, "out of memory");
		return NULL;
	}
	if ((*r = fr_read_all(c, buf, n, until)) < 0) {
		free(buf);
		return NULL;
	}
	o = json_loadb(buf, n, 0, NULL);
	free(buf);
	if (!json_is_object(o)) {
		json_decref(o);
		*r = fr_fail(c, -EPROTO, "the daemon sent something that is not a JSON object");
		return NULL;
	}
	*r = 0;
	return o;
}

int
fr_read_msg(struct fr *c, char **json)
{
	json_t *o;
	int r;

	o = c->evq_n > 0 ? fr_evq_pop(c) : fr_read_json(c, &r);
	if (o == NULL)
		return r;
	*json = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return *json ? 0 : fr_fail(c, -ENOMEM, "out of memory");
}

int
fr_read_body(struct fr *c, uint64_t len, fr_sink_fn *sink, void *arg)
{
	uint8_t chunk[65536];
	int r;

	while (len > 0) {
		size_t want = len < sizeof(chunk) ? (size_t)len : sizeof(chunk);

		if ((r = fr_read_all(c, chunk, want, fr_deadline(c))) < 0)
			return r;
		if (sink && (r = sink(arg, chunk, want)) < 0)
			return fr_fail(c, r, "writing the payload: %s", strerror(-r));
		len -= want;
	}
	return 0;
}

void
fr_evq_push(struct fr *c, json_t *msg)
{
	if (c->evq_n == c->evq_cap) {
		size_t cap = c->evq_cap ? c->evq_cap * 2 : 16;
		json_t **q = realloc(c->evq, cap * sizeof(*q));

		if (q == NULL) {
			json_decref(msg);	/* out of memory: an event is lost, a stream goes on */
			return;
		}
		c->evq = q;
		c->evq_cap = cap;
	}
	c->evq[c->evq_n++] = msg;
}

json_t *
fr_evq_pop(struct fr *c)
{
	json_t *m;

	if (c->evq_n == 0)
		return NULL;
	m = c->evq[0];
	memmove(c->evq, c->evq + 1, --c->evq_n * sizeof(*c->evq));
	return m;
}

/* A send's answer carries the integer tag we gave it; a request's, a "rN" string. */
int
fr_dispatch(struct fr *c, json_t *msg)
{
	json_t *tag = json_object_get(msg, "tag");

	if (json_is_integer(tag) && c->pend_n > 0) {
		fr_sent_answer(c, msg);
		json_decref(msg);
		return 1;
	}
	fr_evq_push(c, msg);
	return 0;
}

/* Send req (stolen) with tag rN and wait for its answer, dispatching what else comes. */
static json_t *
call(struct fr *c, json_t *req, int *r)
{
	char tag[24];
	json_t *m;

	if (req == NULL) {
		*r = fr_fail(c, -ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(tag, sizeof(tag), "r%llu", (unsigned long long)++c->next_req);
	json_object_set_new(req, "tag", json_string(tag));
	if ((*r = fr_flush_out(c)) < 0 || (*r = fr_send_msg(c, req, NULL, -1, 0)) < 0) {
		json_decref(req);
		return NULL;
	}
	json_decref(req);
	for (;;) {
		if ((m = fr_read_json(c, r)) == NULL)
			return NULL;
		const char *t = json_string_value(json_object_get(m, "tag"));

		if (t && strcmp(t, tag) == 0) {
			json_object_del(m, "tag");
			return m;
		}
		/* An error for something we sent without a tag (an ack): it is the answer if it has none. */
		if (json_object_get(m, "tag") == NULL && json_is_false(json_object_get(m, "ok")) &&
		    json_object_get(m, "event") == NULL) {
			return m;
		}
		fr_dispatch(c, m);
	}
}

int
fr_request(struct fr *c, const char *json, char **reply)
{
	json_t *req = json_loads(json, 0, NULL), *m;
	int r;

	*reply = NULL;
	if (!json_is_object(req)) {
		json_decref(req);
		return fr_fail(c, -EINVAL, "the request is not a JSON object");
	}
	if ((m = call(c, req, &r)) == NULL)
		return r;
	*reply = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	return *reply ? 0 : fr_fail(c, -ENOMEM, "out of memory");
}

static void
copy(char *dst, size_t cap, json_t *v)
{
	snprintf(dst, cap, "%s", json_is_string(v) ? json_string_value(v) : "");
}

int
fr_hello(struct fr *c, const char *agent, struct fr_hello *h)
{
	struct fr_hello dummy;
	json_t *m;
	int r;

	if (h == NULL)
		h = &dummy;
	memset(h, 0, sizeof(*h));
	m = call(c, json_pack("{s:s, s:i, s:s}", "op", "hello", "protocol", FR_PROTOCOL,
	    "agent", agent ? agent : "?"), &r);
	if (m == NULL)
		return r;
	h->protocol = (int)json_integer_value(json_object_get(m, "protocol"));
	h->node = (uint64_t)json_integer_value(json_object_get(m, "node"));
	copy(h->name, sizeof(h->name), json_object_get(m, "name"));
	copy(h->version, sizeof(h->version), json_object_get(m, "version"));
	if (!json_is_true(json_object_get(m, "ok"))) {
		const char *code = json_string_value(json_object_get(m, "code"));
		const char *text = json_string_value(json_object_get(m, "error"));

		r = fr_fail(c, code && strcmp(code, "protocol") == 0 ? -EPROTONOSUPPORT : -EREMOTEIO,
		    "fieldrelayd: %s", text ? text : "hello refused");
		json_decref(m);
		return r;
	}
	json_decref(m);
	return 0;
}
