/*
 * ping.c - fieldrelay-ping (`fieldrelay ping`): numbered bundles to a node's
 * echo service, each round trip timed through store-and-forward and printed
 * as it comes back, like ping.  The time runs from handing the bundle to the
 * local daemon to its echo arriving here: storing, every hop, the echo agent
 * there, and the way back.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "echo.h"
#include "fieldrelay.h"

#define PING_MAX_SIZE		(1u << 20)
#define PING_MAX_COUNT		100000

static const char usage_text[] =
"Usage: fieldrelay ping [-c COUNT] [-s SIZE] [-p CLASS] [-i SECONDS] [-W SECONDS]\n"
"                       [-l LIFETIME] [-q] DST\n"
"\n"
"Send COUNT bundles to the echo service of node DST (ipn:NODE, or ipn:NODE.SERVICE\n"
"for another service than 9) and print each echo as it comes back, with its round\n"
"trip through store-and-forward: from handing the bundle to this node's daemon to\n"
"its echo arriving here.  The node must run fieldrelay-echo.  On a slow or broken\n"
"path the echoes come late, or after the link is back: -W waits longer.\n"
"\n"
"Options:\n"
"  -c, --count COUNT     bundles to send (default 5)\n"
"  -s, --size SIZE       payload bytes of each, 16 .. 1048576 (default 56)\n"
"  -p, --priority CLASS  urgent, position, voicemsg, message, telemetry, bulk\n"
"                        (default message)\n"
"  -i, --interval SECS   between sends (default 1; 0: all at once)\n"
"  -W, --wait SECS       how long to wait for echoes after the last send\n"
"                        (default 10)\n"
"  -l, --lifetime SECS   lifetime of each bundle, and of its echo (default 300)\n"
"  -q, --quiet           only the summary\n"
"      --socket PATH     the daemon's control socket\n"
"      --config FILE     the node's config file (for its control socket)\n"
"      --json            one JSON object per echo, then the summary\n"
"      --timeout SECS    how long to wait for the local daemon to answer\n"
"  -h, --help            this text\n"
"\n"
"Exit status: 0 some echo came back, 1 none did, 2 bad usage, 3 no daemon.\n"
"Examples:\n"
"  fieldrelay ping ipn:2                  five pings to node 2\n"
"  fieldrelay ping -c 1 -p urgent -W 600 ipn:40    one urgent ping over a slow path\n";

struct ping {
	struct fr *tx, *rx;
	uint32_t session;
	uint64_t reply_service;
	size_t size;
	unsigned count;
	bool quiet, json;
	double *sent_at;		/* ms, per sequence number (0: not sent) */
	bool *echoed;
	unsigned sent, received, duplicates, damaged;
	size_t got;			/* bytes of the echo being read */
	double min, max, sum, sum2;
	uint8_t *buf;
};

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	interrupted = 1;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fieldrelay ping: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'fieldrelay ping --help'.\n");
	return 2;
}

/* A non-negative number (seconds, count, bytes) with at most max: 0, or -1. */
static int
number(const char *s, double max, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	if (end == s || *end != '\0' || errno || !(*v >= 0) || *v > max)
		return -1;
	return 0;
}

static int
sink(void *arg, const void *data, size_t len)
{
	struct ping *p = arg;

	if (p->got + len <= p->size)
		memcpy(p->buf + p->got, data, len);
	p->got += len;
	return 0;
}

/* One bundle arrived on our service: is it one of our echoes? */
static int
take_reply(struct ping *p, const struct fr_bundle *b)
{
	uint32_t seq;
	bool intact, dup;
	double rtt;
	int r;

	p->got = 0;
	if ((r = fr_recv_body(p->rx, b, sink, p)) < 0 || (r = fr_ack(p->rx, b->rowid)) < 0)
		return r;
	if (p->got > p->size || !ping_parse(p->buf, p->got, p->session, &seq, &intact) || seq >= p->count ||
	    p->sent_at[seq] == 0)
		return 0;	/* not ours (an earlier run's, or cut): taken and dropped */
	intact = intact && p->got == p->size;
	rtt = now_ms() - p->sent_at[seq];
	dup = p->echoed[seq];
	if (dup) {
		p->duplicates++;
	} else {
		p->echoed[seq] = true;
		p->received++;
		if (!intact)
			p->damaged++;
		p->min = p->received == 1 || rtt < p->min ? rtt : p->min;
		p->max = rtt > p->max ? rtt : p->max;
		p->sum += rtt;
		p->sum2 += rtt * rtt;
	}
	if (p->json)
		printf("{\"event\":\"echo\",\"from\":\"%s\",\"seq\":%u,\"bytes\":%zu,\"time_ms\":%.1f,\"class\":\"%s\","
		    "\"duplicate\":%s,\"intact\":%s}\n", b->src, seq + 1, p->got, rtt, b->class,
		    dup ? "true" : "false", intact ? "true" : "false");
	else if (!p->quiet)
		printf("%zu bytes from %s: seq=%u time=%.1f ms%s%s\n", p->got, b->src, seq + 1, rtt,
		    dup ? " (DUP!)" : "", !intact ? " (payload damaged)" : "");
	fflush(stdout);
	return 0;
}

/*
 * Take what comes for ms (the last wait: until every echo is in); -errno if
 * the daemon went away.
 */
static int
listen_for(struct ping *p, double ms, bool last)
{
	double until = now_ms() + ms;
	struct fr_bundle b;
	int r;

	while (!interrupted && (!last || p->received < p->sent)) {
		double left = until - now_ms();

		if (left <= 0)
			return 0;
		if ((r = fr_poll(p->rx, (int)(left + 1))) < 0)
			return interrupted ? 0 : r;
		if (r == 0)
			continue;
		if ((r = fr_recv_next(p->rx, &b)) < 0)
			return r;
		if (r == 0)
			return -EPIPE;	/* the stream ended: it should not */
		if ((r = take_reply(p, &b)) < 0)
			return r;
	}
	return 0;
}

static void
summary(const struct ping *p, const char *dst, double elapsed)
{
	unsigned lost = p->sent - p->received;
	double avg = p->received ? p->sum / p->received : 0;
	double mdev = p->received ? sqrt(fmax(0, p->sum2 / p->received - avg * avg)) : 0;

	if (p->json) {
		printf("{\"event\":\"summary\",\"dst\":\"%s\",\"sent\":%u,\"received\":%u,\"duplicates\":%u,"
		    "\"damaged\":%u,\"loss\":%.3f,\"time_ms\":%.0f", dst, p->sent, p->received, p->duplicates,
		    p->damaged, p->sent ? (double)lost / p->sent : 0, elapsed);
		if (p->received)
			printf(",\"rtt_ms\":{\"min\":%.1f,\"avg\":%.1f,\"max\":%.1f,\"mdev\":%.1f}", p->min, avg, p->max, mdev);
		printf("}\n");
		return;
	}
	printf("--- %s ping statistics ---\n", dst);
	printf("%u bundles sent, %u echoed, %.0f%% without echo", p->sent, p->received,
	    p->sent ? 100.0 * lost / p->sent : 0);
	if (p->duplicates)
		printf(", %u duplicates", p->duplicates);
	if (p->damaged)
		printf(", %u damaged", p->damaged);
	printf(", time %.0f ms\n", elapsed);
	if (p->received)
		printf("rtt min/avg/max/mdev = %.1f/%.1f/%.1f/%.1f ms\n", p->min, avg, p->max, mdev);
}

/* ipn:N -> ipn:N.9; ipn:N.S as it is. */
static int
destination(const char *arg, char *dst, size_t len)
{
	unsigned long long node, svc;
	char tail;

	if (sscanf(arg, "ipn:%llu.%llu%c", &node, &svc, &tail) == 2)
		return snprintf(dst, len, "ipn:%llu.%llu", node, svc) < (int)len && node > 0 ? 0 : -1;
	if (sscanf(arg, "ipn:%llu%c", &node, &tail) == 1 && node > 0)
		return snprintf(dst, len, "ipn:%llu.%d", node, ECHO_SERVICE) < (int)len ? 0 : -1;
	return -1;
}

int
ping_main(int argc, char **argv)
{
	enum { OPT_SOCKET = 256, OPT_CONFIG, OPT_JSON, OPT_TIMEOUT };
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "priority", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "wait", required_argument, NULL, 'W' },
		{ "lifetime", required_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ping p = { .count = 5, .size = 56 };
	const char *socket = NULL, *config = NULL, *prio = "message";
	double v, interval = 1, wait = 10, lifetime = 300, timeout = FR_TIMEOUT_MS / 1000.0, start;
	char dst[64], err[1024], id[384];
	struct fr_conf *conf = NULL;
	int ch, r, rc;

	while ((ch = getopt_long(argc, argv, "c:s:p:i:W:l:qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (number(optarg, PING_MAX_COUNT, &v) < 0 || v < 1 || v != floor(v))
				return usage_error("-c: '%s' is not a count of 1 .. 100000", optarg);
			p.count = (unsigned)v;
			break;
		case 's':
			if (number(optarg, PING_MAX_SIZE, &v) < 0 || v < PING_HEADER || v != floor(v))
				return usage_error("-s: '%s' is not a size of 16 .. 1048576 bytes", optarg);
			p.size = (size_t)v;
			break;
		case 'p':
			prio = optarg;
			break;
		case 'i':
			if (number(optarg, 3600, &interval) < 0)
				return usage_error("-i: '%s' is not a number of seconds (0 .. 3600)", optarg);
			break;
		case 'W':
			if (number(optarg, 86400 * 7, &wait) < 0)
				return usage_error("-W: '%s' is not a number of seconds", optarg);
			break;
		case 'l':
			if (number(optarg, 365 * 86400, &lifetime) < 0 || lifetime < 1)
				return usage_error("-l: '%s' is not a lifetime in seconds (1 .. 31536000)", optarg);
			break;
		case 'q':
			p.quiet = true;
			break;
		case OPT_SOCKET:
			socket = optarg;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case OPT_JSON:
			p.json = true;
			break;
		case OPT_TIMEOUT:
			if (number(optarg, 86400, &timeout) < 0)
				return usage_error("--timeout: '%s' is not a number of seconds", optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs("Try 'fieldrelay ping --help'.\n", stderr);
			return 2;
		}
	}
	if (optind + 1 != argc)
		return usage_error("%s", optind < argc ? "one destination, please (ipn:NODE)" : "which node? (ipn:NODE)");
	if (destination(argv[optind], dst, sizeof(dst)) < 0)
		return usage_error("'%s' is not a node (ipn:NODE or ipn:NODE.SERVICE)", argv[optind]);
	if (socket == NULL) {
		if ((conf = fr_conf_load(config, NULL, err, sizeof(err))) == NULL) {
			fprintf(stderr, "fieldrelay ping: %s\n", err);
			return 2;
		}
		socket = getenv("FIELDRELAY_SOCKET") && !config && *getenv("FIELDRELAY_SOCKET") ?
		    getenv("FIELDRELAY_SOCKET") : fr_conf_socket(conf);
	}
	if ((p.tx = fr_open(socket, timeout == 0 ? -1 : (int)(timeout * 1000), err, sizeof(err))) == NULL ||
	    (p.rx = fr_open(socket, -1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fieldrelay ping: %s\n", err);
		fr_close(p.tx);
		fr_conf_free(conf);
		return 3;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	p.session = (uint32_t)rand() ^ (uint32_t)getpid() << 16;
	/* Echoes come back to a service of our own, out of the applications' way. */
	p.reply_service = 0x40000000u + ((uint64_t)getpid() & 0x3fffffff);
	p.sent_at = calloc(p.count, sizeof(*p.sent_at));
	p.echoed = calloc(p.count, sizeof(*p.echoed));
	p.buf = malloc(p.size);
	if (p.sent_at == NULL || p.echoed == NULL || p.buf == NULL) {
		fprintf(stderr, "fieldrelay ping: out of memory\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	rc = 3;
	if (fr_recv_start(p.rx, p.reply_service, NULL, 0, true) < 0) {
		fprintf(stderr, "fieldrelay ping: %s\n", fr_error(p.rx));
		goto out;
	}
	if (!p.quiet && !p.json)
		printf("PING %s: %zu bytes, class %s, echoes to service %" PRIu64 "\n", dst, p.size, prio,
		    p.reply_service);
	fflush(stdout);
	start = now_ms();
	for (unsigned seq = 0; seq < p.count && !interrupted; seq++) {
		struct fr_send s = { .dst = dst, .service = p.reply_service, .priority = prio,
		    .lifetime = (uint64_t)lifetime, .supersede = "" };
		double next = start + interval * 1000.0 * (seq + 1);

		ping_payload(p.buf, p.size, p.session, seq);
		p.sent_at[seq] = now_ms();
		if ((r = fr_send(p.tx, &s, p.buf, -1, p.size, id, sizeof(id))) < 0) {
			p.sent_at[seq] = 0;
			fprintf(stderr, "fieldrelay ping: seq=%u not sent: %s\n", seq + 1, fr_error(p.tx));
			if (r != -EREMOTEIO)
				goto out;
			if (seq == 0 && p.count == 1) {
				rc = 1;
				goto out;
			}
		} else {
			p.sent++;
		}
		if (seq + 1 < p.count && (r = listen_for(&p, next - now_ms(), false)) < 0) {
			fprintf(stderr, "fieldrelay ping: %s\n", fr_error(p.rx));
			goto out;
		}
	}
	if ((r = listen_for(&p, wait * 1000.0, true)) < 0) {
		fprintf(stderr, "fieldrelay ping: %s\n", fr_error(p.rx));
		goto out;
	}
	summary(&p, dst, now_ms() - start);
	rc = p.received > 0 ? 0 : 1;
out:
	fr_close(p.tx);
	fr_close(p.rx);
	fr_conf_free(conf);
	free(p.sent_at);
	free(p.echoed);
	free(p.buf);
	return rc;
}
