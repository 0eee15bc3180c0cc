/* client.c - blocking control-protocol client, see client.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "control.h"

int
client_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "fieldrelay: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		fprintf(stderr, "fieldrelay: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			fprintf(stderr, "fieldrelay: fieldrelayd is not running (nothing listens on %s)\n"
			    "  start it (systemctl start fieldrelay, or fieldrelayd -c FILE), or point at its socket with -s PATH or -c CONFIG\n",
			    path);
		else if (errno == EACCES)
			fprintf(stderr, "fieldrelay: no permission to use %s (run as root or as a member of the socket's group)\n", path);
		else
			fprintf(stderr, "fieldrelay: cannot connect to %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
read_all(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t r = read(fd, b, n);

		if (r == 0)
			return -EPIPE;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
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
	int r;

	if (client_pack(msg, NULL, 0, &buf, &used, &cap) < 0)
		return -ENOMEM;
	r = write_all(fd, buf, used);
	free(buf);
	if (r < 0)
		return r;
	if (mem)
		return write_all(fd, mem, (size_t)len);
	while (done < len) {
		size_t want = len - done < sizeof(chunk) ? (size_t)(len - done) : sizeof(chunk);
		ssize_t n = pread(body_fd, chunk, want, (off_t)done);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;	/* the file shrank under us */
		if ((r = write_all(fd, chunk, (size_t)n)) < 0)
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
	int r;

	if ((r = read_all(fd, hdr, 4)) < 0) {
		errno = r == -EPIPE ? 0 : -r;
		return NULL;
	}
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > CONTROL_MAX_MSG || (buf = malloc(n)) == NULL) {
		errno = EPROTO;
		return NULL;
	}
	if ((r = read_all(fd, buf, n)) < 0) {
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

		if ((r = read_all(fd, chunk, want)) < 0)
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
