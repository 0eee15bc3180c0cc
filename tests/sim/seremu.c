/*
 * seremu.c - a serial line emulator between two pseudo-terminals.
 *
 * A KISS TNC and its radio channel, seen from the host, are a serial line:
 * bytes go in at one end and come out at the other, at the line's pace,
 * sometimes damaged, sometimes not at all.  socat pty pairs ignore the baud
 * rate, so this program paces the bytes itself.  It opens two pty pairs and
 * keeps their master ends: node A opens side A's slave (/dev/pts/N) as its
 * serial device, node B side B's.  Bytes node A writes travel direction
 * "ab" and come out at side B, and the other way round.  Each direction has
 * its own bit rate (bits per byte: 10 for 8N1), bit-error rate, whole-frame
 * loss (frames are what lies between KISS FEND bytes), queue limit and
 * outage schedule, all changeable at run time; either side can be unplugged
 * and plugged in again (a new pty, the same symlink).  See usage().
 *
 * Half duplex (--duplex half): a radio channel, not a serial cable.  Both
 * directions share one medium; a byte in either direction occupies it, and
 * bytes take it in the order they were written (FIFO by arrival, across
 * both directions), so a side that writes while the other is sending waits
 * until the other's bytes written before it are through.  Nodes write a KISS
 * frame in one go, so frames are not interleaved.  --txdelay models the
 * transmitter's key-up: each transmission starts with that much dead air,
 * where a transmission is a run of one side's bytes not broken by the other
 * side's nor by the medium idle longer than --txtail (the TNC still keyed).
 * Collisions, carrier sense and p-persistence are not modelled: a side
 * never transmits over the other, it waits (as if carrier sense were
 * perfect and instantaneous).
 *
 * One thread, one epoll loop.  Every queued byte carries its due time (the
 * end of its stop bit); a timerfd wakes the loop when the next ones are due,
 * at most every --tick, so a node sees bytes arrive in small batches, the
 * way a UART's FIFO hands them over.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <unistd.h>

#include "emu.h"

#define FEND		0xc0		/* KISS frame delimiter */
#define CHUNK		4096		/* bytes per read or write */
#define QUEUE_MAX	(16u << 20)	/* largest --queue */
#define B_LOST		0x01		/* byte of a frame drawn as lost */

enum { AB, BA, NDIR };		/* A->B: written at side A, read at side B */
enum { SIDE_A, SIDE_B, NSIDE };
static const char *const dir_name[NDIR] = { "ab", "ba" };
static const char *const side_name[NSIDE] = { "a", "b" };

/* What can be set per direction, on the command line or at run time. */
struct shaping {
	uint64_t rate;		/* line bit/s (baud), 0 = unlimited */
	unsigned bits;		/* line bits per byte: 10 for 8N1 */
	double ber;		/* probability that a data bit flips */
	double loss;		/* probability that a whole frame is lost */
	uint64_t queue_limit;	/* bytes waiting for or on the line */
};

/* Bytes unless said otherwise.  Always
 * in = fwd + drop_loss + drop_outage + drop_queue + drop_blocked + drop_unplugged + pending. */
struct counters {
	uint64_t in, fwd;
	uint64_t drop_loss, drop_outage, drop_queue, drop_blocked, drop_unplugged;
	uint64_t frames, frames_lost;	/* FEND-delimited frames seen, and drawn as lost */
	uint64_t bit_errors, bytes_corrupted;
	uint64_t queue_max;		/* the most bytes that waited at once */
	uint64_t keyups;		/* transmissions begun (each cost --txdelay) */
	uint64_t waited_ns;		/* half duplex: time its bytes waited for the other side */
};

struct direction {
	struct shaping cfg;
	struct emu_outage outages[EMU_MAX_OUTAGES];
	int n_outages;
	int64_t down_until;	/* manual outage; INT64_MAX = until "up" */
	int64_t line_free;	/* the stop bit of the last queued byte ends here */
	/* Bytes on their way, in a ring: value, flags, due time. */
	uint8_t *q, *qflags;
	int64_t *due;
	size_t cap, head, len;
	bool in_frame, frame_lost;
	uint64_t rng_loss, rng_ber;
	uint64_t ber_gap;	/* good data bits before the next flipped one */
	struct counters st;
};

struct side {
	int master;		/* ours; -1 while unplugged */
	int slave;		/* held open, so the master never sees a hang-up
				 * while the node has its end closed */
	char path[64];		/* the slave, /dev/pts/N */
	const char *link;	/* a symlink kept pointing at the current slave */
};

struct emu {
	int ep, tfd, sfd;
	struct side side[NSIDE];
	struct direction dir[NDIR];
	int64_t t0, armed, tick;
	bool half;		/* one medium for both directions */
	int64_t txdelay, txtail;	/* key-up dead air; idle time that ends a transmission */
	int64_t medium_free;	/* half duplex: the medium is free from here */
	int last_dir;		/* who sent the last byte scheduled (-1: nobody yet) */
	uint64_t seed;
	const char *ctl_path;
	bool use_stdin;
	struct emu_ctl ctl;
	int verbose;
	bool quit;
};

enum { EV_SIDE = 1, EV_TIMER, EV_SIGNAL };

static uint8_t chunk[CHUNK];

/* ---- the line ---- */

static bool
dir_down(const struct emu *e, const struct direction *d, int64_t t)
{
	return t < d->down_until || emu_outage_on(d->outages, d->n_outages, t - e->t0);
}

/* Good data bits before the next error: geometric with parameter ber. */
static uint64_t
draw_gap(struct direction *d)
{
	double u, g;

	if (d->cfg.ber <= 0)
		return UINT64_MAX;
	if (d->cfg.ber >= 1)
		return 0;
	u = 1.0 - emu_rng_uniform(&d->rng_ber);	/* (0, 1] */
	g = floor(log(u) / log1p(-d->cfg.ber));
	return g >= 0x1p62 ? (uint64_t)1 << 62 : (uint64_t)g;
}

/* Flip the data bits of b that the error process hits. */
static uint8_t
ber_apply(struct direction *d, uint8_t b)
{
	unsigned pos = 0;
	bool hit = false;

	while (d->ber_gap < 8 - pos) {
		pos += (unsigned)d->ber_gap;
		b ^= (uint8_t)(1u << pos);
		d->st.bit_errors++;
		hit = true;
		pos++;
		d->ber_gap = draw_gap(d);
	}
	d->ber_gap -= 8 - pos;
	if (hit)
		d->st.bytes_corrupted++;
	return b;
}

static void
ring_grow(struct direction *d, size_t want)
{
	uint8_t *q, *fl;
	int64_t *due;

	if (want <= d->cap)
		return;
	q = malloc(want);
	fl = malloc(want);
	due = malloc(want * sizeof(*due));
	if (!q || !fl || !due)
		emu_fatal("out of memory");
	for (size_t i = 0; i < d->len; i++) {
		size_t k = (d->head + i) % d->cap;

		q[i] = d->q[k];
		fl[i] = d->qflags[k];
		due[i] = d->due[k];
	}
	free(d->q);
	free(d->qflags);
	free(d->due);
	d->q = q;
	d->qflags = fl;
	d->due = due;
	d->cap = want;
	d->head = 0;
}

/* Bytes a node wrote: frame loss is drawn here, when a frame starts; each
 * byte gets the time its stop bit leaves the line. */
static void
enqueue(struct emu *e, int dir, const uint8_t *data, size_t n, int64_t now)
{
	struct direction *d = &e->dir[dir];
	double byte_ns = d->cfg.rate ? (double)d->cfg.bits * 1e9 / (double)d->cfg.rate : 0;
	int64_t *line = e->half ? &e->medium_free : &d->line_free;

	for (size_t i = 0; i < n; i++) {
		uint8_t flags = 0;
		size_t k;

		d->st.in++;
		if (data[i] == FEND) {
			d->in_frame = false;
		} else {
			if (!d->in_frame) {
				d->in_frame = true;
				d->st.frames++;
				d->frame_lost = d->cfg.loss > 0 && emu_rng_uniform(&d->rng_loss) < d->cfg.loss;
				d->st.frames_lost += d->frame_lost;
			}
			if (d->frame_lost)
				flags = B_LOST;
		}
		if (d->len >= d->cfg.queue_limit || d->len >= d->cap) {
			d->st.drop_queue++;
			continue;
		}
		if (e->half && e->last_dir >= 0 && e->last_dir != dir && *line > now)
			d->st.waited_ns += (uint64_t)(*line - now);
		/* A new transmission: the other side spoke last, or the line fell idle. */
		if ((e->half && e->last_dir != dir) || now > *line + e->txtail) {
			if (*line < now)
				*line = now;
			*line += e->txdelay;
			d->st.keyups++;
		} else if (*line < now) {
			*line = now;
		}
		e->last_dir = dir;
		*line += (int64_t)llround(byte_ns);
		k = (d->head + d->len++) % d->cap;
		d->q[k] = data[i];
		d->qflags[k] = flags;
		d->due[k] = *line;
		if (d->len > d->st.queue_max)
			d->st.queue_max = d->len;
	}
}

/* Hand the bytes due by now to the node at the far end. */
static void
deliver(struct emu *e, int dir, int64_t now)
{
	struct direction *d = &e->dir[dir];
	struct side *out = &e->side[dir == AB ? SIDE_B : SIDE_A];

	while (d->len && d->due[d->head] <= now) {
		size_t k = 0;
		ssize_t w;

		while (d->len && d->due[d->head] <= now && k < CHUNK) {
			uint8_t b = d->q[d->head], fl = d->qflags[d->head];
			int64_t due = d->due[d->head];

			d->head = (d->head + 1) % d->cap;
			d->len--;
			if (fl & B_LOST)
				d->st.drop_loss++;
			else if (dir_down(e, d, due))
				d->st.drop_outage++;
			else if (out->master < 0)
				d->st.drop_unplugged++;
			else
				chunk[k++] = ber_apply(d, b);
		}
		if (k == 0)
			continue;
		/* A node that does not read loses what its input buffer cannot hold. */
		w = write(out->master, chunk, k);
		if (w < 0) {
			if (errno != EAGAIN && d->st.drop_blocked < 10)
				emu_log("write side %s: %s", side_name[out - e->side], strerror(errno));
			w = 0;
		}
		d->st.fwd += (uint64_t)w;
		d->st.drop_blocked += k - (size_t)w;
	}
}

static void
arm_timer(struct emu *e, int64_t now)
{
	struct itimerspec its = { 0 };
	int64_t when = 0;

	for (int i = 0; i < NDIR; i++) {
		const struct direction *d = &e->dir[i];

		if (d->len && (when == 0 || d->due[d->head] < when))
			when = d->due[d->head];
	}
	if (when && when < now + e->tick)
		when = now + e->tick;	/* batch: a UART hands over a few bytes at a time */
	if (when == e->armed)
		return;
	/* A zero it_value disarms. */
	its.it_value.tv_sec = when / EMU_NSEC;
	its.it_value.tv_nsec = when % EMU_NSEC;
	if (timerfd_settime(e->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		emu_fatal("timerfd_settime: %s", strerror(errno));
	e->armed = when;
}

/* ---- the ptys ---- */

static void
side_unplug(struct emu *e, int s)
{
	struct side *sd = &e->side[s];

	if (sd->master < 0)
		return;
	epoll_ctl(e->ep, EPOLL_CTL_DEL, sd->master, NULL);
	close(sd->master);
	close(sd->slave);
	sd->master = sd->slave = -1;
	/* Like a USB adapter pulled out: the device path is gone too. */
	if (sd->link)
		unlink(sd->link);
}

/* A new pty for side s, raw, its symlink updated; 0 or -errno. */
static int
side_plug(struct emu *e, int s)
{
	struct side *sd = &e->side[s];
	struct termios t;
	char tmp[4200];
	int m, sl = -1, err;

	if (sd->master >= 0)
		return 0;
	if ((m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0)
		return -errno;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, sd->path, sizeof(sd->path)) != 0)
		goto fail;
	if ((sl = open(sd->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0)
		goto fail;
	/* Raw before the node opens it: no echo, no line editing, no CR/LF games. */
	if (tcgetattr(sl, &t) < 0)
		goto fail;
	cfmakeraw(&t);
	if (tcsetattr(sl, TCSANOW, &t) < 0)
		goto fail;
	if (sd->link) {
		snprintf(tmp, sizeof(tmp), "%s.new", sd->link);
		unlink(tmp);
		if (symlink(sd->path, tmp) < 0 || rename(tmp, sd->link) < 0)
			goto fail;
	}
	sd->master = m;
	sd->slave = sl;
	emu_epoll_add(e->ep, m, EMU_EV(EV_SIDE, s));
	return 0;
fail:
	err = -errno;
	if (sl >= 0)
		close(sl);
	close(m);
	return err;
}

static void
on_side_readable(struct emu *e, int s)
{
	struct side *sd = &e->side[s];
	ssize_t n;

	/* Bounded batch so that deliveries due meanwhile are not held up. */
	for (int i = 0; i < 16 && sd->master >= 0; i++) {
		n = read(sd->master, chunk, sizeof(chunk));
		if (n > 0) {
			enqueue(e, s == SIDE_A ? AB : BA, chunk, (size_t)n, emu_now());
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* We hold the slave open, so this should not happen: treat it as a pulled plug. */
		emu_log("read side %s: %s: unplugged", side_name[s], n == 0 ? "end of file" : strerror(errno));
		side_unplug(e, s);
	}
}

/* ---- control ---- */

static int
side_json(const struct emu *e, int s, char *buf, size_t n)
{
	const struct side *sd = &e->side[s];

	return snprintf(buf, n, ",\"%s\":{\"path\":\"%s\",\"plugged\":%s}", side_name[s],
	    sd->master >= 0 ? sd->path : "", sd->master >= 0 ? "true" : "false");
}

static int
stats_json(const struct emu *e, const char *event, char *buf, size_t n)
{
	int64_t now = emu_now();
	int off = snprintf(buf, n, "{\"event\":\"%s\",\"t\":%.6f", event, (double)(now - e->t0) / EMU_NSEC);

	for (int s = 0; s < NSIDE && off > 0 && (size_t)off < n; s++)
		off += side_json(e, s, buf + off, n - (size_t)off);
	for (int i = 0; i < NDIR && off > 0 && (size_t)off < n; i++) {
		const struct direction *d = &e->dir[i];
		const struct counters *c = &d->st;

		off += snprintf(buf + off, n - (size_t)off,
		    ",\"%s\":{\"up\":%s,\"in\":%" PRIu64 ",\"fwd\":%" PRIu64
		    ",\"drop_loss\":%" PRIu64 ",\"drop_outage\":%" PRIu64 ",\"drop_queue\":%" PRIu64
		    ",\"drop_blocked\":%" PRIu64 ",\"drop_unplugged\":%" PRIu64 ",\"pending\":%zu"
		    ",\"frames\":%" PRIu64 ",\"frames_lost\":%" PRIu64
		    ",\"bit_errors\":%" PRIu64 ",\"bytes_corrupted\":%" PRIu64 ",\"queue_max\":%" PRIu64
		    ",\"keyups\":%" PRIu64 ",\"waited\":%.6f"
		    ",\"rate\":%" PRIu64 ",\"bits\":%u,\"ber\":%g,\"loss\":%g,\"queue_limit\":%" PRIu64 "}",
		    dir_name[i], dir_down(e, d, now) ? "false" : "true", c->in, c->fwd,
		    c->drop_loss, c->drop_outage, c->drop_queue, c->drop_blocked, c->drop_unplugged, d->len,
		    c->frames, c->frames_lost, c->bit_errors, c->bytes_corrupted, c->queue_max,
		    c->keyups, (double)c->waited_ns / EMU_NSEC,
		    d->cfg.rate, d->cfg.bits, d->cfg.ber, d->cfg.loss, d->cfg.queue_limit);
	}
	if (off > 0 && (size_t)off < n)
		off += snprintf(buf + off, n - (size_t)off, ",\"duplex\":\"%s\",\"txdelay\":%.6f,\"txtail\":%.6f}\n",
		    e->half ? "half" : "full", (double)e->txdelay / EMU_NSEC, (double)e->txtail / EMU_NSEC);
	return off > 0 && (size_t)off < n ? off : -ENOSPC;
}

/* Both directions on one medium (half) or each on its own (full); 0 or -EINVAL. */
static int
set_duplex(struct emu *e, const char *val)
{
	bool half;

	if (strcmp(val, "half") == 0)
		half = true;
	else if (strcmp(val, "full") == 0)
		half = false;
	else
		return -EINVAL;
	if (half && !e->half) {
		/* The medium is busy until both directions' bytes queued so far are through. */
		e->medium_free = e->dir[AB].line_free > e->dir[BA].line_free ? e->dir[AB].line_free :
		    e->dir[BA].line_free;
	} else if (!half && e->half) {
		e->dir[AB].line_free = e->dir[BA].line_free = e->medium_free;
	}
	e->half = half;
	return 0;
}

/* Apply one setting to the directions in mask; 0 or -EINVAL. */
static int
set_param(struct emu *e, unsigned mask, const char *what, const char *val)
{
	struct shaping tmp;
	uint64_t v;

	for (int i = 0; i < NDIR; i++) {
		struct direction *d = &e->dir[i];

		if (!(mask & (1u << i)))
			continue;
		tmp = d->cfg;
		if (strcmp(what, "rate") == 0) {
			if (emu_parse_rate(val, &tmp.rate))
				return -EINVAL;
		} else if (strcmp(what, "bits") == 0) {
			if (emu_parse_size(val, &v) || v < 8 || v > 16)
				return -EINVAL;
			tmp.bits = (unsigned)v;
		} else if (strcmp(what, "ber") == 0) {
			if (emu_parse_prob(val, &tmp.ber))
				return -EINVAL;
		} else if (strcmp(what, "loss") == 0) {
			if (emu_parse_prob(val, &tmp.loss))
				return -EINVAL;
		} else if (strcmp(what, "queue") == 0) {
			if (emu_parse_size(val, &tmp.queue_limit) || tmp.queue_limit < 1 || tmp.queue_limit > QUEUE_MAX)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
		d->cfg = tmp;
		ring_grow(d, (size_t)d->cfg.queue_limit);
		d->ber_gap = draw_gap(d);
	}
	return 0;
}

static int
parse_side(const char *s)
{
	if (strcmp(s, "a") == 0)
		return SIDE_A;
	if (strcmp(s, "b") == 0)
		return SIDE_B;
	return -1;
}

/* "inject [DIR] HEX": bytes on the line as if the node at DIR's start wrote them. */
static int
inject(struct emu *e, unsigned mask, const char *hex)
{
	uint8_t buf[EMU_LINE_MAX / 2];
	size_t n = strlen(hex) / 2;

	if (mask == 3 || strlen(hex) % 2 || n == 0 || n > sizeof(buf))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		buf[i] = (uint8_t)v;
	}
	enqueue(e, mask == 1 ? AB : BA, buf, n, emu_now());
	return 0;
}

/* Run one control command; the reply (one line, newline included) goes to reply. */
static void
command(void *arg, char *line, char *reply, size_t n)
{
	struct emu *e = arg;
	char *tok[7], *w;
	int ntok = 0, s, r;
	unsigned mask;
	int64_t now = emu_now(), dur;

	reply[0] = '\0';
	if ((ntok = emu_split_command(line, &w, tok, 7, e->verbose)) < 0)
		return;
	if ((strcmp(w, "plug") == 0 || strcmp(w, "unplug") == 0) && ntok == 1 && (s = parse_side(tok[0])) >= 0) {
		if (w[0] == 'u') {
			side_unplug(e, s);
		} else if ((r = side_plug(e, s)) < 0) {
			snprintf(reply, n, "error: plug %s: %s\n", side_name[s], strerror(-r));
			return;
		}
		snprintf(reply, n, "{\"event\":\"%s\"", w);
		side_json(e, s, reply + strlen(reply), n - strlen(reply));
		strncat(reply, "}\n", n - strlen(reply) - 1);
		return;
	}
	mask = emu_take_dirs(tok, &ntok);
	if (strcmp(w, "stats") == 0 && ntok == 0 && mask == 3) {
		if (stats_json(e, "stats", reply, n) < 0)
			snprintf(reply, n, "error: stats too long\n");
		return;
	} else if (strcmp(w, "down") == 0 && ntok <= 1) {
		int64_t until = INT64_MAX;

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
			if (mask & (1u << i)) {
				/* What is on its way counts as come in, so the sums still add up. */
				memset(&e->dir[i].st, 0, sizeof(e->dir[i].st));
				e->dir[i].st.in = e->dir[i].st.queue_max = e->dir[i].len;
			}
	} else if (strcmp(w, "tick") == 0 && ntok == 1 && mask == 3) {
		if (emu_parse_duration(tok[0], &dur))
			goto bad;
		e->tick = dur;
	} else if ((strcmp(w, "txdelay") == 0 || strcmp(w, "txtail") == 0) && ntok == 1 && mask == 3) {
		if (emu_parse_duration(tok[0], &dur))
			goto bad;
		*(w[2] == 'd' ? &e->txdelay : &e->txtail) = dur;
	} else if (strcmp(w, "duplex") == 0 && ntok == 1 && mask == 3) {
		if (set_duplex(e, tok[0]) < 0)
			goto bad;
	} else if (strcmp(w, "inject") == 0 && ntok == 1) {
		if (inject(e, mask, tok[0]) < 0)
			goto bad;
	} else if (strcmp(w, "quit") == 0 && ntok == 0) {
		e->quit = true;
	} else if (strcmp(w, "help") == 0) {
		snprintf(reply, n, "commands: stats | down [DIR] [FOR] | up [DIR] | rate|bits|ber|loss|queue [DIR] VALUE"
		    " | tick TIME | duplex half|full | txdelay TIME | txtail TIME | inject ab|ba HEX | unplug a|b | plug a|b | reset [DIR] | quit\n");
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

/* ---- set-up ---- */

static void
usage(FILE *f)
{
	fputs(
"NAME\n"
"    seremu - emulate a slow, noisy, intermittent serial line between two ptys\n"
"\n"
"SYNOPSIS\n"
"    seremu [-a LINK] [-b LINK] [-r BAUD] [-e BER] [-l PROB] [-q SIZE]\n"
"           [-o SCHEDULE] [-t TIME] [-s SEED] [-c PATH] [options]\n"
"\n"
"DESCRIPTION\n"
"    seremu opens two pseudo-terminal pairs, A and B, and prints their slave\n"
"    device paths.  Node A opens side A's path as its serial device (a KISS\n"
"    TNC, say), node B side B's.  Bytes node A writes travel direction \"ab\"\n"
"    and come out at side B; \"ba\" is the way back.  Each direction behaves\n"
"    like a serial line, or a radio channel seen through one:\n"
"\n"
"    rate      each byte occupies the line for bits/rate seconds (bits = 10 for\n"
"              8N1) and comes out when its stop bit ends; bytes wait behind\n"
"              each other in a FIFO of at most --queue bytes (including the one\n"
"              on the line); beyond that, drop-tail.\n"
"    ber       each data bit flips with this probability (errors are drawn as\n"
"              a Bernoulli process, independently of loss).\n"
"    loss      each frame, i.e. the bytes between two KISS FEND (0xC0) bytes, is\n"
"              lost whole with this probability: its bytes still take their\n"
"              time on the line, but never come out (the FENDs do).  A stream\n"
"              without FENDs is one long frame.\n"
"    outages   bytes that would come out while a direction is down are dropped.\n"
"\n"
"    With --duplex half the two directions share one medium, as on a radio\n"
"    channel: bytes take it in the order they were written, whichever side\n"
"    wrote them, so a side waits while the other is sending (frames written\n"
"    whole are not interleaved; collisions are not modelled: carrier sense is\n"
"    taken as perfect).  --txdelay adds dead air at the start of each\n"
"    transmission (a radio keying up): a transmission is a run of one side's\n"
"    bytes not broken by the other side's (half duplex) nor by the line idle\n"
"    longer than --txtail.  Full duplex applies --txdelay per direction.\n"
"\n"
"    Bytes come out in batches at most --tick apart, as from a UART's FIFO.  A\n"
"    node that does not read its end loses what the pty's buffer cannot hold\n"
"    (drop_blocked).  seremu keeps each slave open itself, so a node may close\n"
"    and reopen its end at any time; \"unplug\" closes the pty for good (the node\n"
"    reads end-of-file or an error, and the symlink goes away, like a USB\n"
"    adapter pulled out), \"plug\" makes a new one and points the symlink at it.\n"
"\n"
"    Once both ptys exist, one JSON line is printed on stdout:\n"
"      {\"event\":\"ready\",\"a\":PATH,\"b\":PATH,\"seed\":N,\"t0\":SECONDS}\n"
"    with t0 the CLOCK_MONOTONIC time that outage schedules count from.\n"
"\n"
"OPTIONS\n"
"    Options that shape a direction take an optional prefix \"ab:\" or \"ba:\";\n"
"    without it they apply to both directions.  Later options override earlier.\n"
"\n"
"    -a, --link-a PATH      keep a symlink to side A's device at PATH\n"
"    -b, --link-b PATH      the same for side B\n"
"    -r, --rate [DIR:]BAUD  line bit/s with k, M (x1000), e.g. 1200, 9600, 115.2k;\n"
"                           0 or \"off\" for no pacing (default 9600)\n"
"        --bits [DIR:]N     line bits per byte, 8..16 (default 10: start, 8 data,\n"
"                           stop)\n"
"    -e, --ber [DIR:]PROB   bit-error rate, e.g. 1e-4 (default 0)\n"
"    -l, --loss [DIR:]PROB  frame loss probability, 0.01 or 1% (default 0)\n"
"    -q, --queue [DIR:]SIZE queue limit in bytes with k, M (x1024) (default 64k,\n"
"                           at most 16M)\n"
"    -o, --outage [DIR:]AT+FOR[@EVERY]\n"
"                           down AT after start for FOR, and again every EVERY\n"
"                           if given; repeat the option for more (at most 32)\n"
"    -t, --tick TIME        longest wait between batches (default 4ms; 0: each\n"
"                           byte exactly when due)\n"
"    -d, --duplex full|half one medium each way (default) or one shared\n"
"        --txdelay TIME     key-up dead air per transmission (default 0)\n"
"        --txtail TIME      idle time after which a side's next byte begins a\n"
"                           new transmission (default 10ms)\n"
"    -s, --seed N           seed for loss and bit errors (default random; printed\n"
"                           in the ready line), for reproducible runs\n"
"    -c, --control PATH     UNIX stream socket that takes commands (see below)\n"
"        --no-stdin         do not read commands from stdin\n"
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
"    down [DIR] [FOR]       cut the line, until \"up\" or for FOR\n"
"    up [DIR]               end a \"down\" (scheduled outages still apply)\n"
"    rate [DIR] VALUE       also bits, ber, loss, queue\n"
"    tick TIME              batching of deliveries\n"
"    duplex half|full       share one medium or not, from now on\n"
"    txdelay TIME           also txtail\n"
"    inject ab|ba HEX       put bytes on the line as if the node at the start\n"
"                           of that direction had written them\n"
"    unplug a|b             close that side's pty: the node's device is gone\n"
"    plug a|b               a new pty for that side (its path in the reply)\n"
"    reset [DIR]            zero the counters (bytes on their way count as in)\n"
"    quit                   exit as on SIGTERM\n"
"\n"
"STATISTICS\n"
"    {\"event\":\"stats\",\"t\":SECONDS,\"a\":SIDE,\"b\":SIDE,\"ab\":{...},\"ba\":{...}}\n"
"    with SIDE = {\"path\":PATH,\"plugged\":BOOL} and, per direction, in bytes:\n"
"    in (written by the node), fwd (handed to the other node), drop_loss,\n"
"    drop_outage, drop_queue, drop_blocked, drop_unplugged, pending (on their\n"
"    way); frames and frames_lost (KISS frames seen and drawn as lost);\n"
"    bit_errors, bytes_corrupted; queue_max (the most bytes waiting at once);\n"
"    keyups (transmissions begun); waited (seconds its bytes waited for the\n"
"    other side's, half duplex);\n"
"    and the current settings; then \"duplex\", \"txdelay\", \"txtail\".  Always\n"
"      in = fwd + drop_loss + drop_outage + drop_queue + drop_blocked\n"
"           + drop_unplugged + pending.\n"
"    On SIGTERM, SIGINT or \"quit\", the same line with \"event\":\"final\" is\n"
"    printed on stdout, and seremu exits with status 0.\n"
"\n"
"EXAMPLE\n"
"    A 1200 baud line with 1% frame loss, down 60 s after start for 20 s:\n"
"      seremu -a /tmp/ttyA -b /tmp/ttyB -r 1200 -l 1% -o 60s+20s -c /tmp/ser.sock\n"
"      echo 'unplug a' | socat - UNIX-CONNECT:/tmp/ser.sock\n"
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

static void
main_loop(struct emu *e)
{
	while (!e->quit) {
		struct epoll_event evs[16];
		int64_t now = emu_now();
		int n;

		for (int i = 0; i < NDIR; i++)
			deliver(e, i, now);
		arm_timer(e, now);
		n = epoll_wait(e->ep, evs, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			emu_fatal("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;

			if (emu_ctl_event(&e->ctl, tag))
				continue;
			switch (EMU_EV_KIND(tag)) {
			case EV_SIDE:
				on_side_readable(e, (int)EMU_EV_IDX(tag));
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
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "link-a", required_argument, NULL, 'a' },
		{ "link-b", required_argument, NULL, 'b' },
		{ "rate", required_argument, NULL, 'r' },
		{ "bits", required_argument, NULL, 'B' },
		{ "ber", required_argument, NULL, 'e' },
		{ "loss", required_argument, NULL, 'l' },
		{ "queue", required_argument, NULL, 'q' },
		{ "outage", required_argument, NULL, 'o' },
		{ "tick", required_argument, NULL, 't' },
		{ "duplex", required_argument, NULL, 'd' },
		{ "txdelay", required_argument, NULL, 'D' },
		{ "txtail", required_argument, NULL, 'T' },
		{ "seed", required_argument, NULL, 's' },
		{ "control", required_argument, NULL, 'c' },
		{ "no-stdin", no_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct emu emu;
	struct emu *e = &emu;
	bool seeded = false;
	char line[4096];
	sigset_t sigs;
	uint64_t s;
	int c, r;

	emu_progname = "seremu";
	e->use_stdin = true;
	e->tick = 4 * 1000000;
	e->txtail = 10 * 1000000;
	e->last_dir = -1;
	for (int i = 0; i < NSIDE; i++)
		e->side[i].master = e->side[i].slave = -1;
	for (int i = 0; i < NDIR; i++) {
		e->dir[i].cfg = (struct shaping){ .rate = 9600, .bits = 10, .queue_limit = 64 << 10 };
		ring_grow(&e->dir[i], 64 << 10);
	}
	while ((c = getopt_long(argc, argv, "a:b:r:e:l:q:o:t:d:s:c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': e->side[SIDE_A].link = optarg; break;
		case 'b': e->side[SIDE_B].link = optarg; break;
		case 'r': parse_dir_opt(e, "rate", optarg); break;
		case 'B': parse_dir_opt(e, "bits", optarg); break;
		case 'e': parse_dir_opt(e, "ber", optarg); break;
		case 'l': parse_dir_opt(e, "loss", optarg); break;
		case 'q': parse_dir_opt(e, "queue", optarg); break;
		case 'o': parse_dir_opt(e, "outage", optarg); break;
		case 't':
			if (emu_parse_duration(optarg, &e->tick))
				emu_fatal("bad --tick \"%s\"", optarg);
			break;
		case 'd':
			if (set_duplex(e, optarg) < 0)
				emu_fatal("bad --duplex \"%s\" (full or half)", optarg);
			break;
		case 'D':
		case 'T':
			if (emu_parse_duration(optarg, c == 'D' ? &e->txdelay : &e->txtail))
				emu_fatal("bad --%s \"%s\"", c == 'D' ? "txdelay" : "txtail", optarg);
			break;
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
		case 'v': e->verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!seeded)
		e->seed = emu_random_seed();
	/* Independent streams, so changing the loss does not move the bit errors. */
	s = e->seed;
	for (int i = 0; i < NDIR; i++) {
		e->dir[i].rng_loss = emu_rng_next(&s);
		e->dir[i].rng_ber = emu_rng_next(&s);
		e->dir[i].ber_gap = draw_gap(&e->dir[i]);
	}

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	if ((e->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		emu_fatal("epoll_create1: %s", strerror(errno));
	if ((e->sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		emu_fatal("signalfd: %s", strerror(errno));
	if ((e->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0)
		emu_fatal("timerfd_create: %s", strerror(errno));
	for (int i = 0; i < NSIDE; i++)
		if ((r = side_plug(e, i)) < 0)
			emu_fatal("side %s: cannot make a pty%s%s: %s", side_name[i], e->side[i].link ? " linked at " : "",
			    e->side[i].link ? e->side[i].link : "", strerror(-r));
	emu_ctl_open(&e->ctl, e->ep, e->ctl_path, e->use_stdin, command, e);
	emu_epoll_add(e->ep, e->sfd, EMU_EV(EV_SIGNAL, 0));
	emu_epoll_add(e->ep, e->tfd, EMU_EV(EV_TIMER, 0));

	e->t0 = emu_now();
	printf("{\"event\":\"ready\",\"a\":\"%s\",\"b\":\"%s\",\"seed\":%" PRIu64 ",\"t0\":%" PRId64 ".%09" PRId64 "}\n",
	    e->side[SIDE_A].path, e->side[SIDE_B].path, e->seed, e->t0 / EMU_NSEC, e->t0 % EMU_NSEC);
	fflush(stdout);

	main_loop(e);

	if (stats_json(e, "final", line, sizeof(line)) > 0)
		fputs(line, stdout);
	fflush(stdout);
	emu_ctl_close(&e->ctl);
	for (int i = 0; i < NSIDE; i++)
		side_unplug(e, i);
	for (int i = 0; i < NDIR; i++) {
		free(e->dir[i].q);
		free(e->dir[i].qflags);
		free(e->dir[i].due);
	}
	close(e->tfd);
	close(e->sfd);
	close(e->ep);
	return 0;
}
