/*
 * linkemu.c - a UDP link emulator placed between two nodes.
 *
 * The kernel here has no netem, so tests put this relay between two
 * fieldrelayd processes (or any two UDP endpoints).  Node A sends to our
 * side A socket believing it is node B; we forward out of side B to node B's
 * real address, and the other way round.  Each direction has its own rate
 * limit (serialization delay behind a drop-tail FIFO), one-way delay,
 * jitter, random loss and outage schedule, all changeable at run time from
 * stdin or a UNIX control socket.  See usage() for the full story.
 *
 * One thread, one epoll loop.  Pending deliveries sit in a binary heap keyed
 * by their delivery time on CLOCK_MONOTONIC; a timerfd armed to the earliest
 * one (absolute, nanosecond resolution) wakes the loop, so nothing polls.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "emu.h"

#define MAX_DGRAM	65536
#define SOCK_BUF	(8 << 20)

enum { AB, BA, NDIR };		/* A->B: in at side A, out at side B */
enum { SIDE_A, SIDE_B, NSIDE };
static const char *const dir_name[NDIR] = { "ab", "ba" };

/* What can be set per direction, on the command line or at run time. */
struct shaping {
	uint64_t rate;		/* bit/s, 0 = unlimited */
	int64_t delay, jitter;	/* ns */
	bool jitter_normal;
	double loss;
	uint64_t queue_limit;	/* bytes waiting for or in serialization */
	uint32_t overhead;	/* bytes added per datagram for the rate */
};

struct counters {
	uint64_t in, in_bytes, fwd, fwd_bytes;
	uint64_t drop_loss, drop_queue, drop_outage, drop_nopeer, send_errors;
};

/* Serialization backlog: when each admitted datagram finishes leaving the
 * transmitter.  FIFO in time order, so a ring we prune from the head. */
struct txrec {
	int64_t end;
	uint32_t bytes;
};

struct direction {
	struct shaping cfg;
	struct emu_outage outages[EMU_MAX_OUTAGES];
	int n_outages;
	int64_t down_until;	/* manual outage; INT64_MAX = until "up" */
	int64_t busy_until;	/* transmitter free from */
	int64_t last_delivery;	/* keeps order when reordering is off */
	uint64_t rng_loss, rng_jitter;
	struct txrec *ring;
	size_t ring_cap, ring_head, ring_len;
	uint64_t backlog_bytes;
	uint64_t pending, pending_bytes;	/* in the delivery heap */
	struct counters st;
};

struct packet {
	int64_t when;
	uint64_t seq;
	uint32_t len;
	uint8_t dir;
	uint8_t data[];
};

struct peer {
	struct sockaddr_storage ss;
	socklen_t len;
	bool known;
};

struct emu {
	int ep, tfd, sfd;
	int side_fd[NSIDE];
	struct sockaddr_storage side_addr[NSIDE];
	struct peer peer[NSIDE];	/* the real node behind each side */
	struct direction dir[NDIR];
	bool reorder;
	uint64_t max_pending;
	int64_t t0;
	int64_t armed;
	uint64_t seq;
	uint64_t seed;
	struct packet **heap;
	size_t heap_len, heap_cap;
	const char *ctl_path;
	bool use_stdin;
	struct emu_ctl ctl;
	int verbose;
	bool quit;
};

static uint8_t rxbuf[MAX_DGRAM];

/* Tags in epoll_event.data.u64: fd kind in the high bits, index below. */
enum { EV_SIDE = 1, EV_TIMER, EV_SIGNAL };

/* ---- parsing of values ------------------------------------------------ */

/* "PORT", "HOST:PORT" or "[V6HOST]:PORT" with a numeric host. */
static int
parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port, *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	size_t hl;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - s - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hl);
		port = rb + 2;
	} else if ((colon = strrchr(s, ':'))) {
		hl = (size_t)(colon - s);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hl);
		port = colon + 1;
	} else {
		hl = strlen("127.0.0.1");
		memcpy(host, "127.0.0.1", hl);
		port = s;
	}
	host[hl] = '\0';
	if (!*port || strspn(port, "0123456789") != strlen(port) || atol(port) > 65535)
		return -EINVAL;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static const char *
addr_str(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	char h[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
		snprintf(buf, n, "[%s]:%u", h, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const void *)ss;

		inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
		snprintf(buf, n, "%s:%u", h, ntohs(a->sin_port));
	}
	return buf;
}

/* ---- link state ------------------------------------------------------- */

static bool
link_down(const struct emu *e, const struct direction *d, int64_t now)
{
	return now < d->down_until || emu_outage_on(d->outages, d->n_outages, now - e->t0);
}

/* Forget datagrams that have finished serializing by `now`. */
static void
backlog_prune(struct direction *d, int64_t now)
{
	while (d->ring_len && d->ring[d->ring_head].end <= now) {
		d->backlog_bytes -= d->ring[d->ring_head].bytes;
		d->ring_head = (d->ring_head + 1) % d->ring_cap;
		d->ring_len--;
	}
}

static void
backlog_push(struct direction *d, int64_t end, uint32_t bytes)
{
	if (d->ring_len == d->ring_cap) {
		size_t ncap = d->ring_cap ? d->ring_cap * 2 : 256;
		struct txrec *n = malloc(ncap * sizeof(*n));

		if (!n)
			emu_fatal("out of memory");
		for (size_t i = 0; i < d->ring_len; i++)
			n[i] = d->ring[(d->ring_head + i) % d->ring_cap];
		free(d->ring);
		d->ring = n;
		d->ring_cap = ncap;
		d->ring_head = 0;
	}
	d->ring[(d->ring_head + d->ring_len) % d->ring_cap] = (struct txrec){ end, bytes };
	d->ring_len++;
	d->backlog_bytes += bytes;
}

/* ---- delivery heap ---------------------------------------------------- */

static bool
pkt_before(const struct packet *a, const struct packet *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void
heap_push(struct emu *e, struct packet *p)
{
	size_t i;

	if (e->heap_len == e->heap_cap) {
		size_t ncap = e->heap_cap ? e->heap_cap * 2 : 1024;
		struct packet **n = realloc(e->heap, ncap * sizeof(*n));

		if (!n)
			emu_fatal("out of memory");
		e->heap = n;
		e->heap_cap = ncap;
	}
	i = e->heap_len++;
	while (i > 0 && pkt_before(p, e->heap[(i - 1) / 2])) {
		e->heap[i] = e->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	e->heap[i] = p;
}

static struct packet *
heap_pop(struct emu *e)
{
	struct packet *top = e->heap[0], *last = e->heap[--e->heap_len];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= e->heap_len)
			break;
		if (c + 1 < e->heap_len && pkt_before(e->heap[c + 1], e->heap[c]))
			c++;
		if (!pkt_before(e->heap[c], last))
			break;
		e->heap[i] = e->heap[c];
		i = c;
	}
	if (e->heap_len)
		e->heap[i] = last;
	return top;
}

/* ---- forwarding ------------------------------------------------------- */

/* Put a datagram on the wire towards the far node (unless the link broke
 * while it was in the air). */
static void
transmit(struct emu *e, int dir, const uint8_t *data, size_t len, int64_t now)
{
	struct direction *d = &e->dir[dir];
	int out = dir == AB ? SIDE_B : SIDE_A;
	struct peer *p = &e->peer[out];

	if (link_down(e, d, now)) {
		d->st.drop_outage++;
		return;
	}
	if (!p->known) {
		d->st.drop_nopeer++;
		return;
	}
	if (sendto(e->side_fd[out], data, len, 0, (struct sockaddr *)&p->ss, p->len) < 0) {
		if (d->st.send_errors++ < 10)
			emu_log("send %s: %s", dir_name[dir], strerror(errno));
		return;
	}
	d->st.fwd++;
	d->st.fwd_bytes += len;
}

/* A datagram came in at one side: decide its fate and when it arrives. */
static void
on_datagram(struct emu *e, int dir, const uint8_t *data, size_t len, int64_t now)
{
	struct direction *d = &e->dir[dir];
	const struct shaping *c = &d->cfg;
	int64_t t = now, delay;
	struct packet *p;

	d->st.in++;
	d->st.in_bytes += len;
	if (link_down(e, d, now)) {
		d->st.drop_outage++;
		return;
	}
	if (c->rate) {
		uint64_t wire = len + c->overhead;
		int64_t start;

		backlog_prune(d, now);
		if (d->backlog_bytes + wire > c->queue_limit) {
			d->st.drop_queue++;
			return;
		}
		start = d->busy_until > now ? d->busy_until : now;
		t = start + (int64_t)(wire * 8 * (uint64_t)EMU_NSEC / c->rate);
		d->busy_until = t;
		backlog_push(d, t, (uint32_t)wire);
	}
	/* A lost frame still took its airtime, hence after the rate. */
	if (c->loss > 0 && emu_rng_uniform(&d->rng_loss) < c->loss) {
		d->st.drop_loss++;
		return;
	}
	delay = c->delay;
	if (c->jitter) {
		double j = c->jitter_normal ? emu_rng_normal(&d->rng_jitter)
					    : 2 * emu_rng_uniform(&d->rng_jitter) - 1;

		/* Clamp the normal tail at 3 sigma so the worst case is known. */
		if (j > 3)
			j = 3;
		if (j < -3)
			j = -3;
		delay += (int64_t)(j * (double)c->jitter);
		if (delay < 0)
			delay = 0;
	}
	t += delay;
	if (!e->reorder && t < d->last_delivery)
		t = d->last_delivery;
	if (t > d->last_delivery)
		d->last_delivery = t;

	if (t <= now && d->pending == 0) {
		transmit(e, dir, data, len, now);
		return;
	}
	if (e->max_pending && d->pending_bytes + len > e->max_pending) {
		d->st.drop_queue++;
		return;
	}
	p = malloc(sizeof(*p) + len);
	if (!p)
		emu_fatal("out of memory");
	p->when = t;
	p->seq = e->seq++;
	p->len = (uint32_t)len;
	p->dir = (uint8_t)dir;
	memcpy(p->data, data, len);
	heap_push(e, p);
	d->pending++;
	d->pending_bytes += len;
}

static void
run_due(struct emu *e)
{
	int64_t now = emu_now();

	while (e->heap_len && e->heap[0]->when <= now) {
		struct packet *p = heap_pop(e);
		struct direction *d = &e->dir[p->dir];

		d->pending--;
		d->pending_bytes -= p->len;
		transmit(e, p->dir, p->data, p->len, now);
		free(p);
	}
}

static void
arm_timer(struct emu *e)
{
	struct itimerspec its = { 0 };
	int64_t when = e->heap_len ? e->heap[0]->when : 0;

	if (when == e->armed)
		return;
	/* A zero it_value disarms; a due time is never zero in practice. */
	its.it_value.tv_sec = when / EMU_NSEC;
	its.it_value.tv_nsec = when % EMU_NSEC;
	if (timerfd_settime(e->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		emu_fatal("timerfd_settime: %s", strerror(errno));
	e->armed = when;
}

static void
on_side_readable(struct emu *e, int side)
{
	int dir = side == SIDE_A ? AB : BA;

	/* Bounded batch so deliveries due meanwhile are not held up. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage src;
		socklen_t sl = sizeof(src);
		ssize_t n = recvfrom(e->side_fd[side], rxbuf, sizeof(rxbuf), MSG_DONTWAIT,
				     (struct sockaddr *)&src, &sl);
		struct peer *p = &e->peer[side];

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				emu_log("recv side %c: %s", "AB"[side], strerror(errno));
			return;
		}
		if (!p->known) {
			char b[64];

			memcpy(&p->ss, &src, sl);
			p->len = sl;
			p->known = true;
			emu_log("learned node %c at %s", "AB"[side], addr_str(&src, b, sizeof(b)));
		}
		on_datagram(e, dir, rxbuf, (size_t)n, emu_now());
	}
}

/* ---- control ---------------------------------------------------------- */

static int
stats_json(const struct emu *e, const char *event, char *buf, size_t n)
{
	int64_t now = emu_now();
	int off = snprintf(buf, n, "{\"event\":\"%s\",\"t\":%.6f", event,
			   (double)(now - e->t0) / EMU_NSEC);

	for (int i = 0; i < NDIR && off > 0 && (size_t)off < n; i++) {
		const struct direction *d = &e->dir[i];
		const struct counters *s = &d->st;

		off += snprintf(buf + off, n - (size_t)off,
			",\"%s\":{\"up\":%s,\"in\":%" PRIu64 ",\"in_bytes\":%" PRIu64
			",\"fwd\":%" PRIu64 ",\"fwd_bytes\":%" PRIu64
			",\"drop_loss\":%" PRIu64 ",\"drop_queue\":%" PRIu64
			",\"drop_outage\":%" PRIu64 ",\"drop_nopeer\":%" PRIu64
			",\"send_errors\":%" PRIu64 ",\"pending\":%" PRIu64
			",\"rate\":%" PRIu64 ",\"delay_ms\":%.3f,\"jitter_ms\":%.3f,\"loss\":%g"
			",\"queue_limit\":%" PRIu64 "}",
			dir_name[i], link_down(e, d, now) ? "false" : "true",
			s->in, s->in_bytes, s->fwd, s->fwd_bytes, s->drop_loss,
			s->drop_queue, s->drop_outage, s->drop_nopeer, s->send_errors,
			d->pending, d->cfg.rate, (double)d->cfg.delay / 1e6,
			(double)d->cfg.jitter / 1e6, d->cfg.loss, d->cfg.queue_limit);
	}
	if (off > 0 && (size_t)off < n)
		off += snprintf(buf + off, n - (size_t)off, "}\n");
	return off > 0 && (size_t)off < n ? off : -ENOSPC;
}

/* Apply one option value to the directions in mask; 0 or -EINVAL. */
static int
set_param(struct emu *e, unsigned mask, const char *what, const char *val)
{
	struct shaping tmp;

	for (int i = 0; i < NDIR; i++) {
		if (!(mask & (1u << i)))
			continue;
		tmp = e->dir[i].cfg;
		if (strcmp(what, "rate") == 0) {
			if (emu_parse_rate(val, &tmp.rate))
				return -EINVAL;
		} else if (strcmp(what, "delay") == 0) {
			if (emu_parse_duration(val, &tmp.delay))
				return -EINVAL;
		} else if (strcmp(what, "jitter") == 0) {
			if (emu_parse_duration(val, &tmp.jitter))
				return -EINVAL;
		} else if (strcmp(what, "jitter-dist") == 0) {
			if (strcmp(val, "normal") && strcmp(val, "uniform"))
				return -EINVAL;
			tmp.jitter_normal = val[0] == 'n';
		} else if (strcmp(what, "loss") == 0) {
			if (emu_parse_prob(val, &tmp.loss))
				return -EINVAL;
		} else if (strcmp(what, "queue") == 0) {
			if (emu_parse_size(val, &tmp.queue_limit))
				return -EINVAL;
		} else if (strcmp(what, "overhead") == 0) {
			uint64_t v;

			if (emu_parse_size(val, &v) || v > 65536)
				return -EINVAL;
			tmp.overhead = (uint32_t)v;
		} else {
			return -EINVAL;
		}
		e->dir[i].cfg = tmp;
	}
	return 0;
}

/* Run one control command; the reply (one line, newline included) goes to buf. */
static void
command(void *arg, char *line, char *reply, size_t n)
{
	struct emu *e = arg;
	char *tok[7], *w;
	int ntok = 0;
	unsigned mask;
	int64_t now = emu_now();

	if ((ntok = emu_split_command(line, &w, tok, 7, e->verbose)) < 0) {
		reply[0] = '\0';
		return;
	}
	mask = emu_take_dirs(tok, &ntok);

	if (strcmp(w, "stats") == 0 && ntok == 0 && mask == 3) {
		if (stats_json(e, "stats", reply, n) < 0)
			snprintf(reply, n, "error: stats too long\n");
		return;
	} else if (strcmp(w, "down") == 0 && ntok <= 1) {
		int64_t until = INT64_MAX, dur;

		if (ntok == 1) {
			if (emu_parse_duration(tok[0], &dur))
				goto bad;
			until = now + dur;
		}
		for (int i = 0; i < NDIR; i++)
			if (mask & (1u << i))
				e->dir[i].down_until = until;
	} else if (strcmp(w, "up") == 0 && ntok == 0) {
		for (int i = 0; i < NDIR; i++)
			if (mask & (1u << i))
				e->dir[i].down_until = 0;
	} else if (strcmp(w, "reset") == 0 && ntok == 0) {
		for (int i = 0; i < NDIR; i++)
			if (mask & (1u << i))
				memset(&e->dir[i].st, 0, sizeof(e->dir[i].st));
	} else if (strcmp(w, "quit") == 0 && ntok == 0) {
		e->quit = true;
	} else if (strcmp(w, "help") == 0) {
		snprintf(reply, n, "commands: stats | down [DIR] [FOR] | up [DIR] | rate|delay|jitter|"
			 "jitter-dist|loss|queue|overhead [DIR] VALUE | reset [DIR] | quit\n");
		return;
	} else if (ntok == 1 && set_param(e, mask, w, tok[0]) == 0) {
		/* done */
	} else {
		goto bad;
	}
	snprintf(reply, n, "ok\n");
	return;
bad:
	snprintf(reply, n, "error: bad command (try \"help\")\n");
}

/* ---- set-up ----------------------------------------------------------- */

static int
open_side(const struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int sz = SOCK_BUF;

	if (fd < 0)
		return -1;
	if (ss->ss_family == AF_INET6) {
		int one = 1;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	/* Bursts at full loopback speed must not overflow our receive queue;
	 * the FORCE variants need root and are only a best effort. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (bind(fd, (const struct sockaddr *)ss, len) < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static void
usage(FILE *f)
{
	fputs(
"NAME\n"
"    linkemu - emulate a lossy, slow, delayed, intermittent link between two UDP nodes\n"
"\n"
"SYNOPSIS\n"
"    linkemu [-a ADDR] [-b ADDR] [-A ADDR] [-B ADDR] [-c PATH] [-r RATE] [-d TIME]\n"
"            [-j TIME] [-l PROB] [-q SIZE] [-o SCHEDULE] [-s SEED] [options]\n"
"\n"
"DESCRIPTION\n"
"    linkemu relays UDP datagrams between node A and node B through two sockets.\n"
"    Node A is configured to send to side A (it takes it for node B's address);\n"
"    node B sends to side B.  A datagram received on side A travels direction\n"
"    \"ab\" and leaves side B towards node B's real address; \"ba\" is the way\n"
"    back.  Each direction behaves like a radio link:\n"
"\n"
"    rate      a datagram of n bytes occupies the link for (n+overhead)*8/rate s;\n"
"              datagrams wait behind each other in a FIFO of at most --queue\n"
"              bytes (including the one being sent); beyond that, drop-tail.\n"
"    loss      each datagram is lost with the given probability, after it used\n"
"              its airtime.\n"
"    delay     one-way propagation delay added after serialization.\n"
"    jitter    the delay varies by up to +-J (uniform) or with standard deviation\n"
"              J, clamped at +-3J (normal); never below zero.  Unless --reorder\n"
"              is given, a datagram never overtakes an earlier one: it is held\n"
"              until the one before it has arrived.\n"
"    outages   while a direction is down, datagrams arriving are dropped, and so\n"
"              are those still in the air when they would have arrived.\n"
"\n"
"    Addresses of the nodes are given with -A/-B or learned from the first\n"
"    datagram received on that side (until then, datagrams towards an unknown\n"
"    node are dropped and counted as drop_nopeer).  IPv4 and IPv6 work, even one\n"
"    of each on the two sides.\n"
"\n"
"    Once both sockets are bound, one JSON line is printed on stdout:\n"
"      {\"event\":\"ready\",\"a\":ADDR,\"b\":ADDR,\"seed\":N,\"t0\":SECONDS}\n"
"    with the bound addresses (useful with port 0) and t0, the CLOCK_MONOTONIC\n"
"    time that outage schedules count from.\n"
"\n"
"OPTIONS\n"
"    Options that shape a direction take an optional prefix \"ab:\" or \"ba:\";\n"
"    without it they apply to both directions.  Later options override earlier.\n"
"\n"
"    -a, --listen-a ADDR    side A socket (default 127.0.0.1:0, a free port)\n"
"    -b, --listen-b ADDR    side B socket (default 127.0.0.1:0)\n"
"    -A, --peer-a ADDR      node A's real address (default: learned)\n"
"    -B, --peer-b ADDR      node B's real address (default: learned)\n"
"    -r, --rate [DIR:]RATE  bit/s with k, M, G (x1000), e.g. 9600, 100k, 1.5M;\n"
"                           0 or \"off\" for no limit (default)\n"
"    -d, --delay [DIR:]TIME one-way delay (default 0)\n"
"    -j, --jitter [DIR:]TIME  jitter (default 0)\n"
"        --jitter-dist [DIR:]uniform|normal  (default uniform)\n"
"    -l, --loss [DIR:]PROB  loss probability, 0.05 or 5% (default 0)\n"
"    -q, --queue [DIR:]SIZE queue limit in bytes with k, M (x1024) (default 64k);\n"
"                           only used when the rate is limited\n"
"        --overhead [DIR:]SIZE  bytes counted per datagram on top of the UDP\n"
"                           payload for the rate, e.g. 28 for IPv4+UDP (default 0)\n"
"    -o, --outage [DIR:]AT+FOR[@EVERY]\n"
"                           down AT after start for FOR, and again every EVERY\n"
"                           if given; repeat the option for more (at most 32)\n"
"        --reorder          let jitter reorder datagrams\n"
"    -s, --seed N           seed for loss and jitter (default random; printed in\n"
"                           the ready line), for reproducible runs\n"
"    -c, --control PATH     UNIX stream socket that takes commands (see below)\n"
"        --no-stdin         do not read commands from stdin\n"
"        --max-pending SIZE bytes held for delayed delivery per direction before\n"
"                           dropping (counted as drop_queue) (default 64M)\n"
"    -v, --verbose          log commands on stderr\n"
"    -h, --help             this text\n"
"\n"
"    TIME is a number with ns, us, ms, s or min; a bare number is ms.\n"
"\n"
"COMMANDS\n"
"    One per line, on stdin (replies on stdout) or on the control socket\n"
"    (replies on the same connection).  DIR is ab, ba or both (the default).\n"
"    Each command is answered with one line: \"ok\", \"error: ...\" or JSON.\n"
"\n"
"    stats                  counters as one JSON line (see STATISTICS)\n"
"    down [DIR] [FOR]       cut the link, until \"up\" or for FOR\n"
"    up [DIR]               end a \"down\" (scheduled outages still apply)\n"
"    rate [DIR] RATE        also delay, jitter, jitter-dist, loss, queue, overhead\n"
"    reset [DIR]            zero the counters\n"
"    quit                   exit as on SIGTERM\n"
"\n"
"STATISTICS\n"
"    {\"event\":\"stats\",\"t\":SECONDS,\"ab\":{...},\"ba\":{...}}, per direction:\n"
"    up, in, in_bytes (received), fwd, fwd_bytes (sent on), drop_loss,\n"
"    drop_queue, drop_outage, drop_nopeer, send_errors, pending (still in the\n"
"    emulated link), and the current settings.  Always\n"
"      in = fwd + drop_loss + drop_queue + drop_outage + drop_nopeer\n"
"           + send_errors + pending.\n"
"    On SIGTERM, SIGINT or \"quit\", the same line with \"event\":\"final\" is\n"
"    printed on stdout, and linkemu exits with status 0.\n"
"\n"
"EXAMPLE\n"
"    Node A sends to port 7001, node B to 7002; the nodes listen on 6001, 6002:\n"
"      linkemu -a 7001 -b 7002 -A 6001 -B 6002 -r 9600 -d 300ms -l 5% \\\n"
"              -o 10s+30s -c /tmp/link.sock\n"
"      echo down | socat - UNIX-CONNECT:/tmp/link.sock\n"
"\n"
"EXIT STATUS\n"
"    0 after a signal or \"quit\"; 2 on a usage or set-up error.\n", f);
}

static void
parse_dir_opt(struct emu *e, const char *name, const char *arg)
{
	const char *val;
	unsigned mask = emu_dir_prefix(arg, &val);

	if (strcmp(name, "outage") == 0) {
		struct emu_outage *o[2] = { e->dir[0].outages, e->dir[1].outages };
		int *n[2] = { &e->dir[0].n_outages, &e->dir[1].n_outages };

		emu_add_outage(arg, o, n);
		return;
	}
	if (set_param(e, mask, name, val))
		emu_fatal("bad --%s \"%s\"", name, arg);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen-a", required_argument, NULL, 'a' },
		{ "listen-b", required_argument, NULL, 'b' },
		{ "peer-a", required_argument, NULL, 'A' },
		{ "peer-b", required_argument, NULL, 'B' },
		{ "rate", required_argument, NULL, 'r' },
		{ "delay", required_argument, NULL, 'd' },
		{ "jitter", required_argument, NULL, 'j' },
		{ "jitter-dist", required_argument, NULL, 'J' },
		{ "loss", required_argument, NULL, 'l' },
		{ "queue", required_argument, NULL, 'q' },
		{ "overhead", required_argument, NULL, 'O' },
		{ "outage", required_argument, NULL, 'o' },
		{ "reorder", no_argument, NULL, 'R' },
		{ "seed", required_argument, NULL, 's' },
		{ "control", required_argument, NULL, 'c' },
		{ "no-stdin", no_argument, NULL, 'N' },
		{ "max-pending", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct emu emu;
	struct emu *e = &emu;
	socklen_t side_len[NSIDE];
	bool seeded = false;
	char line[2048], sa[64], sb[64];
	sigset_t sigs;
	int c;

	memset(e, 0, sizeof(*e));
	emu_progname = "linkemu";
	e->use_stdin = true;
	e->max_pending = 64 << 20;
	for (int i = 0; i < NDIR; i++)
		e->dir[i].cfg.queue_limit = 64 << 10;
	parse_addr("127.0.0.1:0", &e->side_addr[SIDE_A], &side_len[SIDE_A]);
	parse_addr("127.0.0.1:0", &e->side_addr[SIDE_B], &side_len[SIDE_B]);

	while ((c = getopt_long(argc, argv, "a:b:A:B:r:d:j:l:q:o:s:c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': case 'b':
			if (parse_addr(optarg, &e->side_addr[c - 'a'], &side_len[c - 'a']))
				emu_fatal("bad address \"%s\"", optarg);
			break;
		case 'A': case 'B': {
			struct peer *p = &e->peer[c - 'A'];

			if (parse_addr(optarg, &p->ss, &p->len))
				emu_fatal("bad address \"%s\"", optarg);
			p->known = true;
			break;
		}
		case 'r': parse_dir_opt(e, "rate", optarg); break;
		case 'd': parse_dir_opt(e, "delay", optarg); break;
		case 'j': parse_dir_opt(e, "jitter", optarg); break;
		case 'J': parse_dir_opt(e, "jitter-dist", optarg); break;
		case 'l': parse_dir_opt(e, "loss", optarg); break;
		case 'q': parse_dir_opt(e, "queue", optarg); break;
		case 'O': parse_dir_opt(e, "overhead", optarg); break;
		case 'o': parse_dir_opt(e, "outage", optarg); break;
		case 'R': e->reorder = true; break;
		case 's': {
			char *end;

			e->seed = strtoull(optarg, &end, 0);
			if (end == optarg || *end)
				emu_fatal("bad --seed \"%s\"", optarg);
			seeded = true;
			break;
		}
		case 'c': e->ctl_path = optarg; break;
		case 'N': e->use_stdin = false; break;
		case 'P':
			if (emu_parse_size(optarg, &e->max_pending))
				emu_fatal("bad --max-pending \"%s\"", optarg);
			break;
		case 'v': e->verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	for (int s = 0; s < NSIDE; s++)
		if (e->peer[s].known && e->peer[s].ss.ss_family != e->side_addr[s].ss_family)
			emu_fatal("node %c and side %c must both be IPv4 or both IPv6", "AB"[s], "AB"[s]);
	if (!seeded)
		e->seed = emu_random_seed();
	{
		/* Independent streams, so changing the loss does not move jitter. */
		uint64_t s = e->seed;

		for (int i = 0; i < NDIR; i++) {
			e->dir[i].rng_loss = emu_rng_next(&s);
			e->dir[i].rng_jitter = emu_rng_next(&s);
		}
	}

	/* Signals arrive through signalfd so the loop ends cleanly. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Deliveries should leave within microseconds of their time. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

	if ((e->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		emu_fatal("epoll_create1: %s", strerror(errno));
	if ((e->sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		emu_fatal("signalfd: %s", strerror(errno));
	if ((e->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0)
		emu_fatal("timerfd_create: %s", strerror(errno));
	for (int s = 0; s < NSIDE; s++) {
		socklen_t l = sizeof(e->side_addr[s]);

		e->side_fd[s] = open_side(&e->side_addr[s], side_len[s]);
		if (e->side_fd[s] < 0)
			emu_fatal("side %c %s: %s", "AB"[s],
			      addr_str(&e->side_addr[s], sa, sizeof(sa)), strerror(errno));
		getsockname(e->side_fd[s], (struct sockaddr *)&e->side_addr[s], &l);
		emu_epoll_add(e->ep, e->side_fd[s], EMU_EV(EV_SIDE, s));
	}
	emu_ctl_open(&e->ctl, e->ep, e->ctl_path, e->use_stdin, command, e);
	emu_epoll_add(e->ep, e->sfd, EMU_EV(EV_SIGNAL, 0));
	emu_epoll_add(e->ep, e->tfd, EMU_EV(EV_TIMER, 0));

	e->t0 = emu_now();
	printf("{\"event\":\"ready\",\"a\":\"%s\",\"b\":\"%s\",\"seed\":%" PRIu64 ",\"t0\":%" PRId64
	       ".%09" PRId64 "}\n",
	       addr_str(&e->side_addr[SIDE_A], sa, sizeof(sa)),
	       addr_str(&e->side_addr[SIDE_B], sb, sizeof(sb)),
	       e->seed, e->t0 / EMU_NSEC, e->t0 % EMU_NSEC);
	fflush(stdout);

	while (!e->quit) {
		struct epoll_event evs[16];
		int n;

		run_due(e);
		arm_timer(e);
		n = epoll_wait(e->ep, evs, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			emu_fatal("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			uint32_t kind = EMU_EV_KIND(evs[i].data.u64);
			uint32_t idx = EMU_EV_IDX(evs[i].data.u64);

			if (emu_ctl_event(&e->ctl, evs[i].data.u64))
				continue;
			switch (kind) {
			case EV_SIDE:
				on_side_readable(e, (int)idx);
				break;
			case EV_TIMER: {
				uint64_t exp;

				if (read(e->tfd, &exp, sizeof(exp)) < 0 && errno != EAGAIN)
					emu_fatal("timerfd read: %s", strerror(errno));
				e->armed = -1;
				break;
			}
			case EV_SIGNAL: {
				struct signalfd_siginfo si;

				if (read(e->sfd, &si, sizeof(si)) == sizeof(si))
					e->quit = true;
				break;
			}
			}
		}
	}

	if (stats_json(e, "final", line, sizeof(line)) > 0)
		fputs(line, stdout);
	fflush(stdout);
	while (e->heap_len)
		free(heap_pop(e));
	free(e->heap);
	for (int i = 0; i < NDIR; i++)
		free(e->dir[i].ring);
	emu_ctl_close(&e->ctl);
	for (int s = 0; s < NSIDE; s++)
		close(e->side_fd[s]);
	close(e->tfd);
	close(e->sfd);
	close(e->ep);
	return 0;
}
