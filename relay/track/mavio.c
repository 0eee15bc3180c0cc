/*
 * mavio.c - MAVLink endpoints: UDP listen and connect, tlog replay (mavio.h).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include "hostport.h"
#include "mavio.h"
#include "tlog.h"

#define DGRAM_MAX	65536
#define TLOG_BATCH	512	/* records per mavio_read at most */
#define DGRAM_BATCH	256	/* datagrams per mavio_read at most: a flood cannot hold the loop */

enum mavio_kind { IO_LISTEN, IO_CONNECT, IO_TLOG };

struct mavio {
	enum mavio_kind kind;
	int fd;
	/* listen: whoever sent last, replies go there */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	struct mav_parser parser;
	uint8_t *dgram;		/* DGRAM_MAX: one datagram */
	/* tlog */
	struct tlog *tlog;
	double speed;
	int64_t start_ms;	/* monotonic ms of the first record */
	uint64_t first_us;
	bool have_first, pending, done;
	uint64_t pending_us;
	struct mav_frame frame;	/* the record read ahead */
	/* the callback of the current mavio_read (the parser's callback has one argument) */
	mavio_frame_cb *cb;
	void *cb_arg;
	struct mavio_rx rx;
	int n_read;
};

/* A non-blocking UDP socket bound (listen) or connected to hostport. */
static int
udp_socket(const char *hostport, bool listen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV }, *res = NULL, *ai;
	char host[256], port[16];
	int r, fd = -1;

	if ((r = hostport_split(hostport, host, sizeof(host), port, sizeof(port))) < 0)
		return r;
	if (listen) {
		hints.ai_flags |= AI_PASSIVE;
		if (!host[0]) {
			/* Every IPv4 address, as mavlink-router's "0.0.0.0". */
			snprintf(host, sizeof(host), "0.0.0.0");
		}
	} else if (!host[0]) {
		return -EINVAL;
	}
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0)
		return r == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	r = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		if (listen) {
			int one = 1;

			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
				break;
		} else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			break;
		}
		r = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : r;
}

static struct mavio *
socket_endpoint(const char *hostport, enum mavio_kind kind)
{
	struct mavio *e = calloc(1, sizeof(*e));
	int fd;

	if (!e)
		return NULL;
	fd = udp_socket(hostport, kind == IO_LISTEN);
	if (fd < 0) {
		free(e);
		errno = -fd;
		return NULL;
	}
	e->dgram = malloc(DGRAM_MAX);
	if (!e->dgram) {
		close(fd);
		free(e);
		errno = ENOMEM;
		return NULL;
	}
	e->kind = kind;
	e->fd = fd;
	mav_parser_init(&e->parser);
	return e;
}

struct mavio *
mavio_listen(const char *hostport)
{
	return socket_endpoint(hostport, IO_LISTEN);
}

struct mavio *
mavio_connect(const char *hostport)
{
	return socket_endpoint(hostport, IO_CONNECT);
}

static void tlog_ahead(struct mavio *e);

struct mavio *
mavio_tlog(const char *path, double speed, int64_t now_ms)
{
	struct mavio *e;

	if (!(speed >= 0)) {
		errno = EINVAL;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->tlog = tlog_open(path);
	if (!e->tlog) {
		int err = errno;

		free(e);
		errno = err;
		return NULL;
	}
	e->kind = IO_TLOG;
	e->fd = -1;
	e->speed = speed;
	e->start_ms = now_ms;
	mav_parser_init(&e->parser);
	tlog_ahead(e);
	return e;
}

struct mavio *
mavio_new(const struct track_mav_endpoint *ep, int64_t now_ms)
{
	switch (ep->kind) {
	case MAV_LISTEN:
		return mavio_listen(ep->addr);
	case MAV_CONNECT:
		return mavio_connect(ep->addr);
	case MAV_TLOG:
		return mavio_tlog(ep->addr, ep->speed > 0 ? ep->speed : 1.0, now_ms);
	}
	errno = EINVAL;
	return NULL;
}

void
mavio_free(struct mavio *e)
{
	if (!e)
		return;
	if (e->fd >= 0)
		close(e->fd);
	free(e->dgram);
	tlog_free(e->tlog);
	free(e);
}

int
mavio_fd(const struct mavio *e)
{
	return e->fd;
}

/* Read the next record ahead, if there is none pending. */
static void
tlog_ahead(struct mavio *e)
{
	int r;

	if (e->pending || e->done)
		return;
	r = tlog_next(e->tlog, &e->pending_us, &e->frame);
	if (r <= 0) {
		e->done = true;
		return;
	}
	if (!e->have_first) {
		e->first_us = e->pending_us;
		e->have_first = true;
	}
	e->pending = true;
}

/* When the pending record is due (monotonic ms). */
static int64_t
tlog_due(const struct mavio *e)
{
	double since_ms;

	if (e->speed == 0)
		return e->start_ms;
	/* A record older than the first (clocks step back) is due at once. */
	since_ms = e->pending_us > e->first_us ? (double)(e->pending_us - e->first_us) / 1000.0 : 0;
	return e->start_ms + (int64_t)(since_ms / e->speed);
}

int64_t
mavio_next_deadline(const struct mavio *e)
{
	if (e->kind != IO_TLOG || !e->pending)
		return INT64_MAX;
	return tlog_due(e);
}

static void
parser_cb(const struct mav_frame *f, void *arg)
{
	struct mavio *e = arg;

	e->n_read++;
	e->cb(e, f, &e->rx, e->cb_arg);
}

int
mavio_read(struct mavio *e, int64_t now_ms, mavio_frame_cb *cb, void *arg)
{
	uint8_t *buf = e->dgram;

	e->cb = cb;
	e->cb_arg = arg;
	e->n_read = 0;
	if (e->kind == IO_TLOG) {
		for (int i = 0; i < TLOG_BATCH && e->pending && tlog_due(e) <= now_ms; i++) {
			e->rx.wall_ms = now_wall_ms();
			e->rx.tlog_us = e->pending_us;
			e->n_read++;
			cb(e, &e->frame, &e->rx, arg);
			e->pending = false;
			tlog_ahead(e);
		}
		return e->n_read;
	}
	for (int i = 0; i < DGRAM_BATCH; i++) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(e->fd, buf, DGRAM_MAX, 0, (struct sockaddr *)&from, &flen);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR) {
				i--;
				continue;
			}
			/* A connected socket hears ICMP port unreachable as ECONNREFUSED: not fatal. */
			if (errno == ECONNREFUSED)
				break;
			return -errno;
		}
		if (e->kind == IO_LISTEN) {
			memcpy(&e->peer, &from, flen);
			e->peer_len = flen;
		}
		e->rx.wall_ms = now_wall_ms();
		e->rx.tlog_us = 0;
		mav_parser_reset(&e->parser);
		mav_parser_push(&e->parser, buf, (size_t)n, parser_cb, e);
		mav_parser_reset(&e->parser);
	}
	return e->n_read;
}

int
mavio_send(struct mavio *e, const uint8_t *buf, size_t len)
{
	ssize_t n;

	if (e->kind == IO_TLOG)
		return -EBADF;
	if (e->kind == IO_LISTEN) {
		if (!e->peer_len)
			return -ENOTCONN;
		n = sendto(e->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&e->peer, e->peer_len);
	} else {
		n = send(e->fd, buf, len, MSG_DONTWAIT);
		/*
		 * An ICMP port unreachable from an earlier datagram (the ground
		 * station was not up yet) fails this send, which is then not sent:
		 * the error is taken now, send again, or the first frame after a
		 * restart of QGroundControl (a summary due once a minute) is lost.
		 */
		if (n < 0 && errno == ECONNREFUSED)
			n = send(e->fd, buf, len, MSG_DONTWAIT);
	}
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

bool
mavio_done(const struct mavio *e)
{
	return e->kind == IO_TLOG && e->done && !e->pending;
}

const struct mav_stats *
mavio_stats(const struct mavio *e)
{
	return e->kind == IO_TLOG ? &tlog_stats(e->tlog)->mav : &e->parser.stats;
}
