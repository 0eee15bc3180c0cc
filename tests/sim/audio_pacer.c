/*
 * audio_pacer.c - play raw audio from stdin into UDP datagrams at real time.
 *
 * Two Direwolf software TNCs talk to each other here without a sound card:
 * each one's ALSA output is a `type file` pcm whose file is "|audio_pacer
 * ...", so ALSA pipes the raw samples it would have played into our stdin,
 * and we send them to the other instance's `ADEVICE udp:PORT` input.
 *
 * Direwolf writes a transmission far faster than real time (the null pcm
 * behind the file plugin never blocks).  Sent as fast as it comes, a burst
 * of a second or more of audio overflows the receiver's socket buffer and
 * nothing decodes; so we send at the sample rate, in datagrams of at most
 * --size bytes, on an absolute schedule on CLOCK_MONOTONIC (a late wake-up
 * is caught up, never accumulated).  The pipe is the buffer: we read only
 * what is due, so a full pipe blocks Direwolf the way a sound card would.
 *
 * Between transmissions we send silence.  A radio's receiver keeps hearing
 * something; if the input just stopped, Direwolf's demodulator would stop
 * with it, its carrier detect would stay on after the last frame, and that
 * instance would wait for a clear channel that never comes.
 *
 * No audio byte is ever dropped or reordered.  Silence is only inserted
 * once the pipe has stayed empty for --gap ms after audio: the end of a
 * transmission, or a writer starved that long (which breaks the frame on
 * air anyway).  A shorter dry spell is bridged: audio goes on with no
 * silence in between ("bridged" in the exit line; it also counts a next
 * transmission that began within --gap of the last one).  When we fall
 * more than --max-behind behind the schedule (stopped, swapped out), the
 * schedule restarts instead of bursting.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NSEC		((int64_t)1000000000)
#define MAX_SIZE	2000	/* Direwolf's UDP audio buffer (SDR_UDP_BUF_MAXLEN) */

struct pacer {
	/* configuration */
	int64_t rate;		/* sample frames per second */
	int64_t frame;		/* bytes per sample frame */
	int64_t size;		/* payload bytes per datagram, a multiple of frame */
	int64_t gap;		/* ns to wait for more audio before silence */
	int64_t max_behind;	/* ns behind schedule before restarting it */
	int verbose;

	int sock;
	struct sockaddr_storage dst;
	socklen_t dst_len;

	int64_t t0;		/* schedule origin: byte 0 was due at t0 */
	int64_t start;		/* when we started, for the exit line */
	int64_t sent;		/* bytes on the schedule since t0 */
	uint8_t buf[MAX_SIZE];
	int64_t len;		/* audio bytes waiting in buf */
	bool eof;
	bool in_burst;		/* the last datagram carried audio */
	int64_t empty_since;	/* pipe found empty during a burst, or 0 */

	/* counters for the exit line */
	uint64_t datagrams, audio_bytes, silence_bytes, total_bytes;
	uint64_t bursts, bridged, resyncs, send_errors;
	int64_t late_max;	/* worst wake-up after a datagram was due, ns */
};

static volatile sig_atomic_t quit;

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
vlogmsg(const char *fmt, va_list ap)
{
	fputs("audio_pacer: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void
logmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogmsg(fmt, ap);
	va_end(ap);
}

static void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogmsg(fmt, ap);
	va_end(ap);
	exit(2);
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

static void
on_signal(int sig)
{
	quit = 1;
}

/* "PORT", "HOST:PORT" or "[V6HOST]:PORT" with a numeric host. */
static int
parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64] = "127.0.0.1";
	const char *port = s, *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	size_t hl;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':' || (hl = (size_t)(rb - s - 1)) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		port = rb + 2;
	} else if ((colon = strrchr(s, ':'))) {
		if ((hl = (size_t)(colon - s)) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hl);
		host[hl] = '\0';
		port = colon + 1;
	}
	if (!*port || strspn(port, "0123456789") != strlen(port) || atol(port) > 65535)
		return -EINVAL;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int64_t
parse_num(const char *s, const char *what, int64_t lo, int64_t hi)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		fatal("bad %s \"%s\" (want %" PRId64 "..%" PRId64 ")", what, s, lo, hi);
	return v;
}

/* When byte `bytes` of the stream is due, rounded up to the nanosecond so
 * that due_bytes() of that time includes it.  Split in whole seconds and a
 * remainder, so no product overflows however long we run. */
static int64_t
due_time(const struct pacer *p, int64_t bytes)
{
	int64_t frames = bytes / p->frame;

	return p->t0 + frames / p->rate * NSEC + (frames % p->rate * NSEC + p->rate - 1) / p->rate;
}

/* How many bytes are due by `now`, in whole frames. */
static int64_t
due_bytes(const struct pacer *p, int64_t now)
{
	int64_t d = now - p->t0;

	return (d / NSEC * p->rate + d % NSEC * p->rate / NSEC) * p->frame;
}

/* Read what the pipe has, up to one datagram; never blocks. */
static void
fill(struct pacer *p)
{
	while (!p->eof && p->len < p->size) {
		ssize_t n = read(STDIN_FILENO, p->buf + p->len, (size_t)(p->size - p->len));

		if (n > 0) {
			p->len += n;
		} else if (n == 0) {
			p->eof = true;
		} else if (errno == EINTR) {
			if (quit)
				return;
		} else if (errno == EAGAIN) {
			return;
		} else {
			logmsg("reading audio: %s", strerror(errno));
			p->eof = true;
		}
	}
}

static void
send_datagram(struct pacer *p, const uint8_t *data, int64_t n)
{
	if (sendto(p->sock, data, (size_t)n, 0, (struct sockaddr *)&p->dst, p->dst_len) < 0) {
		/* The receiver is a local socket; an error here means lost audio. */
		if (p->send_errors++ < 10)
			logmsg("sending %" PRId64 " bytes: %s", n, strerror(errno));
	}
	p->datagrams++;
	p->sent += n;
	p->total_bytes += (uint64_t)n;
}

/* Send the audio waiting in buf, whole frames only (a partial frame stays). */
static void
send_audio(struct pacer *p, int64_t now)
{
	int64_t n = p->len / p->frame * p->frame;

	if (!p->in_burst) {
		p->bursts++;
		if (p->verbose)
			logmsg("burst %" PRIu64 " starts at %.3f s (monotonic %.3f)", p->bursts,
			       (double)(now - p->start) / NSEC, (double)now / NSEC);
	}
	if (p->empty_since)
		p->bridged++;
	p->empty_since = 0;
	p->in_burst = true;
	send_datagram(p, p->buf, n);
	p->audio_bytes += (uint64_t)n;
	memmove(p->buf, p->buf + n, (size_t)(p->len - n));
	p->len -= n;
}

static void
send_silence(struct pacer *p, int64_t now)
{
	static const uint8_t zero[MAX_SIZE];

	if (p->in_burst && p->verbose)
		logmsg("burst %" PRIu64 " ends at %.3f s (monotonic %.3f), audio so far %"
		       PRIu64 " bytes", p->bursts, (double)(now - p->start) / NSEC,
		       (double)now / NSEC, p->audio_bytes);
	p->in_burst = false;
	p->empty_since = 0;
	send_datagram(p, zero, p->size);
	p->silence_bytes += (uint64_t)p->size;
}

/* Sleep until the absolute monotonic time t (or a signal). */
static void
sleep_until(int64_t t)
{
	struct timespec ts = { .tv_sec = t / NSEC, .tv_nsec = t % NSEC };

	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/*
 * One datagram is due now.  Audio if the pipe has any; during a burst an
 * empty pipe gets up to --gap to refill (the schedule slips meanwhile and
 * is caught up after); otherwise silence.
 */
static void
send_due(struct pacer *p, int64_t now)
{
	fill(p);
	if (p->len >= p->frame) {
		send_audio(p, now);
		return;
	}
	if (p->in_burst && !p->eof) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int64_t left;

		if (!p->empty_since)
			p->empty_since = now;
		left = p->empty_since + p->gap - now;
		if (left > 0) {
			poll(&pfd, 1, (int)((left + 999999) / 1000000));
			return;		/* the caller comes back with a fresh clock */
		}
	}
	send_silence(p, now);
}

static void
run(struct pacer *p)
{
	while (!quit) {
		int64_t now = now_ns();
		int64_t next = p->sent + p->size;

		if (now - due_time(p, p->sent) > p->max_behind) {
			/* Restart the schedule rather than flood the receiver. */
			logmsg("%.3f s behind the schedule, restarting it",
			       (double)(now - due_time(p, p->sent)) / NSEC);
			p->resyncs++;
			p->t0 += now - due_time(p, p->sent);
		}
		if (due_bytes(p, now) < next) {
			int64_t t = due_time(p, next);

			sleep_until(t);
			if (now_ns() - t > p->late_max)
				p->late_max = now_ns() - t;
			continue;
		}
		send_due(p, now);
		if (p->eof && p->len < p->frame)
			break;
	}
}

static void
print_totals(const struct pacer *p)
{
	double secs = (double)(now_ns() - p->start) / NSEC;

	logmsg("%.3f s: %" PRIu64 " datagrams, %" PRIu64 " bytes (%.1f B/s); audio %" PRIu64
	       " bytes in %" PRIu64 " bursts, silence %" PRIu64 " bytes; %" PRIu64 " bridged, %"
	       PRIu64 " resyncs, %" PRIu64 " send errors; latest wake-up %.1f ms%s",
	       secs, p->datagrams, p->total_bytes, secs > 0 ? (double)p->total_bytes / secs : 0,
	       p->audio_bytes, p->bursts, p->silence_bytes, p->bridged, p->resyncs, p->send_errors,
	       (double)p->late_max / 1e6, p->eof ? "; end of audio" : "; stopped");
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: audio_pacer [options] [HOST:]PORT\n"
"Send raw audio read from stdin to HOST:PORT (default host 127.0.0.1) over UDP\n"
"at real time, silence while stdin has nothing, until stdin ends or SIGTERM.\n"
"Made to be an ALSA `type file` pcm's \"|command\" feeding Direwolf's udp: input.\n"
"  -r, --rate N        sample frames per second (44100)\n"
"  -f, --frame N       bytes per sample frame, all channels (2: S16 mono)\n"
"  -s, --size N        payload bytes per datagram, at most %d (1024)\n"
"  -g, --gap MS        wait this long for more audio before filling silence (40)\n"
"  -m, --max-behind MS further behind than this, restart the schedule (500)\n"
"  -v, --verbose       log when each burst of audio starts and ends\n"
"At exit one line on stderr sums up: bytes and rate, bursts, bridged (dry spells\n"
"shorter than --gap, no silence sent), resyncs, send errors, latest wake-up.\n",
		MAX_SIZE);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "frame", required_argument, NULL, 'f' },
		{ "size", required_argument, NULL, 's' },
		{ "gap", required_argument, NULL, 'g' },
		{ "max-behind", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct pacer pacer;
	struct pacer *p = &pacer;
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART */
	int c;

	p->rate = 44100;
	p->frame = 2;
	p->size = 1024;
	p->gap = 40 * NSEC / 1000;
	p->max_behind = 500 * NSEC / 1000;
	while ((c = getopt_long(argc, argv, "r:f:s:g:m:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'r': p->rate = parse_num(optarg, "--rate", 1, 10000000); break;
		case 'f': p->frame = parse_num(optarg, "--frame", 1, 64); break;
		case 's': p->size = parse_num(optarg, "--size", 1, MAX_SIZE); break;
		case 'g': p->gap = parse_num(optarg, "--gap", 0, 10000) * NSEC / 1000; break;
		case 'm': p->max_behind = parse_num(optarg, "--max-behind", 1, 60000) * NSEC / 1000;
			break;
		case 'v': p->verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	if (parse_addr(argv[optind], &p->dst, &p->dst_len))
		fatal("bad address \"%s\"", argv[optind]);
	if (p->size < p->frame)
		fatal("--size %" PRId64 " is less than one frame of %" PRId64 " bytes",
		      p->size, p->frame);
	p->size -= p->size % p->frame;

	/* ALSA's popen() hands us every descriptor Direwolf had open (its
	 * audio and KISS sockets among them); hold none of them. */
	close_range(3, ~0U, 0);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((p->sock = socket(p->dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		fatal("socket: %s", strerror(errno));
	if (fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK) < 0)
		fatal("stdin: %s", strerror(errno));

	p->start = p->t0 = now_ns();
	run(p);
	print_totals(p);
	return 0;
}
