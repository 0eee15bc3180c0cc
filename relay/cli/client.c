/* client.c - blocking control-protocol client, see client.h. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "control.h"

static int timeout_ms = CLIENT_TIMEOUT_MS;

void
client_set_timeout(int ms)
{
	timeout_ms = ms;
}

int
client_timeout(void)
{
	return timeout_ms;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The deadline of a call that starts now (-1: none). */
static int64_t
deadline(void)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* Wait until fd is ready for events or the deadline passes: 0 or -ETIMEDOUT. */
static int
wait_fd(int fd, short events, int64_t until)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int left, r;

	for (;;) {
		left = until < 0 ? -1 : until - now_ms() > 0 ? (int)(until - now_ms()) : 0;
		if ((r = poll(&pfd, 1, left)) > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int
client_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000 };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* A daemon too busy to accept: connect() waits as long as a send may (af_unix). */
	if (timeout_ms >= 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			snprintf(err, errlen, "fieldrelayd is not running (nothing listens on %s)\n"
			    "  start it (systemctl start fieldrelay, or fieldrelayd -c FILE), or point at its socket with -s PATH or -c CONFIG",
			    path);
		else if (errno == EACCES)
			snprintf(err, errlen, "no permission to use %s (run as root or as a member of the socket's group)", path);
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			snprintf(err, errlen, "fieldrelayd did not take the connection on %s within %d.%03d s"
			    " (--timeout SECONDS waits longer)", path, timeout_ms / 1000, timeout_ms % 1000);
		else
			snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
write_all(int fd, const void *p, size_t n, int64_t until)
{
	const uint8_t *b = p;
	int r;

	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			if ((r = wait_fd(fd, POLLOUT, until)) < 0)
				return r;
			continue;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
read_all(int fd, void *p, size_t n, int64_t until)
{
	uint8_t *b = p;
	int r;

	while (n > 0) {
		ssize_t got = recv(fd, b, n, MSG_DONTWAIT);

		if (got == 0)
			return -EPIPE;
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			if ((r = wait_fd(fd, POLLIN, until)) < 0)
				return r;
			continue;
		}
		b += got;
		n -= (size_t)got;
	}
	return 0;
}

int
client_write(int fd, const void *p, size_t n)
{
	return write_all(fd, p, n, deadline());
}

int
client_pack(json_t *msg, const void *body, size_t len, char **buf, size_t *used, size_t *cap)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	size_t n, need;

	if (s == NULL)
		return -1;
	n = strlen(s);
	need = *used + 4 + n + len;
	if (need > *cap) {
		size_t c = *cap ? *cap : 65536;
		char *p;

		while (c < need)
			c *= 2;
		if ((p = realloc(*buf, c)) == NULL) {
			free(s);
			return -1;
		}
		*buf = p;
		*cap = c;
	}
	(*buf)[(*used)++] = (char)(n >> 24);
	(*buf)[(*used)++] = (char)(n >> 16);
	(*buf)[(*used)++] = (char)(n >> 8);
	(*buf)[(*used)++] = (char)n;
	memcpy(*buf + *used, s, n);
	*used += n;
	if (len)
		memcpy(*buf + *used, body, len);
	*used += len;
	free(s);
	return (int)(4 + n + len);
}

int
client_send(int fd, json_t *msg, const void *mem, int body_fd, uint64_t len,
    void (*progress)(uint64_t done, uint64_t total))
{
	char *buf = NULL;
	size_t used = 0, cap = 0;
	uint8_t chunk[65536];
	uint64_t done = 0;
	int64_t until = deadline();
	int r;

	if (client_pack(msg, NULL, 0, &buf, &used, &cap) < 0)
		return -ENOMEM;
	r = write_all(fd, buf, used, until);
	free(buf);
	if (r < 0)
		return r;
	if (mem)
		return write_all(fd, mem, (size_t)len, until);
	while (done < len) {
		size_t want = len - done < sizeof(chunk) ? (size_t)(len - done) : sizeof(chunk);
		ssize_t n = pread(body_fd, chunk, want, (off_t)done);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;	/* the file shrank under us */
		/* A big file takes its time: the deadline is for the daemon to take each chunk. */
		if ((r = write_all(fd, chunk, (size_t)n, deadline())) < 0)
			return r;
		done += (uint64_t)n;
		if (progress)
			progress(done, len);
	}
	return 0;
}

json_t *
client_recv(int fd)
{
	uint8_t hdr[4];
	uint32_t n;
	char *buf;
	json_t *o;
	int64_t until = deadline();
	int r;

	if ((r = read_all(fd, hdr, 4, until)) < 0) {
		errno = r == -EPIPE ? 0 : -r;
		return NULL;
	}
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > CONTROL_MAX_MSG || (buf = malloc(n)) == NULL) {
		errno = EPROTO;
		return NULL;
	}
	if ((r = read_all(fd, buf, n, until)) < 0) {
		free(buf);
		errno = -r;
		return NULL;
	}
	o = json_loadb(buf, n, 0, NULL);
	free(buf);
	if (!json_is_object(o)) {
		json_decref(o);
		errno = EPROTO;
		return NULL;
	}
	return o;
}

int
client_body(int fd, uint64_t len, void (*sink)(void *arg, const uint8_t *p, size_t n), void *arg)
{
	uint8_t chunk[65536];
	int r;

	while (len > 0) {
		size_t want = len < sizeof(chunk) ? (size_t)len : sizeof(chunk);

		if ((r = read_all(fd, chunk, want, deadline())) < 0)
			return r;
		if (sink)
			sink(arg, chunk, want);
		len -= want;
	}
	return 0;
}

json_t *
client_call(int fd, json_t *req)
{
	int r = client_send(fd, req, NULL, -1, 0, NULL);

	json_decref(req);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	return client_recv(fd);
}
