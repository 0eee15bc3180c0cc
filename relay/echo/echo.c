/*
 * echo.c - fieldrelay-echo, the echo responder agent (echo.h), and the
 * entry of both programs: started as fieldrelay-ping it is the ping client
 * (ping.c).
 *
 * The responder registers durably for its service, so pings that arrive
 * while it is stopped wait in the store; each bundle goes back to its
 * source with the same payload, class and what is left of its lifetime, and
 * is acked only once the reply is durable: a power cut in between means one
 * more reply, never none.  It follows the daemon through restarts.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "config_section.h"
#include "echo.h"
#include "fieldrelay.h"

extern const struct config_section echo_config_section;

static const char usage_text[] =
"Usage: fieldrelay-echo [-c CONFIG] [-v]\n"
"\n"
"The echo responder of fieldrelay: every bundle that comes for its service\n"
"(ipn:NODE.9 unless the config says otherwise) goes back to its source, with\n"
"the same payload, priority class and what is left of its lifetime.\n"
"`fieldrelay ping ipn:NODE` on any node measures the round trip through it.\n"
"\n"
"It registers durably (its registration name): pings that come while it is\n"
"not running wait in the store for it.  It waits for fieldrelayd and follows\n"
"it through restarts.  Run one per node, as its own user (systemd: the\n"
"fieldrelay-echo unit).\n"
"\n"
"Options:\n"
"  -c, --config FILE   the node's config file (default " FR_DEFAULT_CONFIG "):\n"
"                      the control socket and the [echo] section:\n"
"                        service = 9      the service it answers on\n"
"                        name = echo      its registration\n"
"  -v, --verbose       log every bundle echoed\n"
"  -h, --help          this text\n"
"\n"
"Exit status: 0 stopped by a signal, 2 bad usage or config.\n";

static bool verbose;

static void
logmsg(const char *fmt, ...)
{
	char when[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld fieldrelay-echo: ", when, (long)(tv.tv_usec / 1000));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- the payload of a ping ---- */

static uint8_t
fill_byte(uint32_t session, uint32_t seq, size_t i)
{
	return (uint8_t)(i * 31u + seq * 7u + session);
}

void
ping_payload(uint8_t *p, size_t len, uint32_t session, uint32_t seq)
{
	memset(p, 0, len < PING_HEADER ? len : PING_HEADER);
	memcpy(p, PING_MAGIC, len < sizeof(PING_MAGIC) ? len : sizeof(PING_MAGIC));
	for (int i = 0; i < 4 && 8 + i < (int)len; i++)
		p[8 + i] = (uint8_t)(session >> (24 - 8 * i));
	for (int i = 0; i < 4 && 12 + i < (int)len; i++)
		p[12 + i] = (uint8_t)(seq >> (24 - 8 * i));
	for (size_t i = PING_HEADER; i < len; i++)
		p[i] = fill_byte(session, seq, i);
}

bool
ping_parse(const uint8_t *p, size_t len, uint32_t session, uint32_t *seq, bool *intact)
{
	uint32_t s = 0, q = 0;

	if (len < PING_HEADER || memcmp(p, PING_MAGIC, sizeof(PING_MAGIC)) != 0)
		return false;
	for (int i = 0; i < 4; i++) {
		s = s << 8 | p[8 + i];
		q = q << 8 | p[12 + i];
	}
	if (s != session)
		return false;
	*seq = q;
	*intact = true;
	for (size_t i = PING_HEADER; i < len; i++)
		if (p[i] != fill_byte(session, q, i)) {
			*intact = false;
			break;
		}
	return true;
}

/* ---- the responder ---- */

struct body {
	uint8_t *p;
	size_t len;
};

static int
body_sink(void *arg, const void *data, size_t len)
{
	struct body *b = arg;

	if (b->p)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Echo one bundle; 0 (then ack it) or -errno when the daemon is gone. */
static int
echo_one(struct fr *rx, struct fr *tx, const struct echo_conf *cf, const struct fr_bundle *b)
{
	struct body body = { NULL, 0 };
	struct fr_send s = { .dst = b->src, .service = cf->service, .priority = b->class };
	uint64_t now = wall_ms();
	char id[384];
	int r;

	if (b->len <= ECHO_MAX_BYTES && (body.p = malloc(b->len ? b->len : 1)) == NULL)
		return -ENOMEM;
	if ((r = fr_recv_body(rx, b, body_sink, &body)) < 0) {
		free(body.p);
		return r;
	}
	if (body.p == NULL) {
		logmsg("%s: %" PRIu64 " bytes from %s: too big to echo (at most %u), taken", b->id, b->len, b->src,
		    ECHO_MAX_BYTES);
		return 0;
	}
	if (strncmp(b->src, "ipn:", 4) != 0 || strncmp(b->src, "ipn:0.", 6) == 0) {
		logmsg("%s: from %s, which cannot be answered: taken", b->id, b->src);
		free(body.p);
		return 0;
	}
	if (b->expires && b->expires <= now + 1000) {
		logmsg("%s: from %s: its lifetime is over, not echoed", b->id, b->src);
		free(body.p);
		return 0;
	}
	s.lifetime = b->expires ? (b->expires - now) / 1000 : 0;
	r = fr_send(tx, &s, body.p, -1, body.len, id, sizeof(id));
	free(body.p);
	if (r == -EREMOTEIO) {
		/* Refused (the store is full, say): the ping is not echoed, but kept for later. */
		logmsg("%s: reply to %s refused: %s; trying again in 5 s", b->id, b->src, fr_error(tx));
		sleep(5);
		return -EAGAIN;
	}
	if (r < 0)
		return r;
	if (verbose)
		logmsg("%s: %zu bytes back to %s as %s", b->id, body.len, b->src, id);
	return 0;
}

/* One session with the daemon: until it goes away. */
static void
serve(const char *sock, const struct echo_conf *cf)
{
	char err[512];
	struct fr *rx, *tx;
	struct fr_hello h;
	struct fr_bundle b;
	int r;

	if ((rx = fr_open_wait(sock, FR_TIMEOUT_MS, -1, err, sizeof(err))) == NULL) {
		logmsg("%s", err);
		sleep(5);
		return;
	}
	if ((tx = fr_open(sock, FR_TIMEOUT_MS, err, sizeof(err))) == NULL) {
		logmsg("%s", err);
		fr_close(rx);
		return;
	}
	if ((r = fr_hello(rx, "fieldrelay-echo", &h)) < 0) {
		logmsg("%s", fr_error(rx));
		goto out;
	}
	if ((r = fr_recv_start(rx, cf->service, cf->name, 0, true)) < 0) {
		logmsg("%s", fr_error(rx));
		goto out;
	}
	logmsg("answering on ipn:%" PRIu64 ".%" PRIu64 " as '%s' (fieldrelayd %s, protocol %d)", h.node, cf->service,
	    cf->name, h.version, h.protocol);
	fr_set_timeout(rx, -1);		/* the stream waits for bundles by design */
	while ((r = fr_recv_next(rx, &b)) == 1) {
		if ((r = echo_one(rx, tx, cf, &b)) == -EAGAIN)
			break;	/* start over: the bundle comes again */
		if (r < 0 || (r = fr_ack(rx, b.rowid)) < 0)
			break;
	}
	if (r < 0 && r != -EAGAIN)
		logmsg("%s: waiting for fieldrelayd to come back", fr_error(rx)[0] ? fr_error(rx) : fr_error(tx));
out:
	fr_close(tx);
	fr_close(rx);
	if (r < 0)
		sleep(1);
}

static int
echo_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	struct echo_conf cf;
	struct fr_conf *conf;
	char err[1024];
	int ch;

	while ((ch = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs("Try 'fieldrelay-echo --help'.\n", stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fieldrelay-echo: unexpected argument '%s'\nTry 'fieldrelay-echo --help'.\n", argv[optind]);
		return 2;
	}
	if ((conf = fr_conf_load(config, "echo", err, sizeof(err))) == NULL) {
		fprintf(stderr, "fieldrelay-echo: %s\n", err);
		return 2;
	}
	echo_conf_defaults(&cf);
	if (fr_conf_each(conf, echo_config_section.set, &cf, err, sizeof(err)) < 0) {
		fprintf(stderr, "fieldrelay-echo: %s\n", err);
		fr_conf_free(conf);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	for (;;)
		serve(fr_conf_socket(conf), &cf);
}

int
main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/');

	name = name ? name + 1 : argv[0];
	if (strcmp(name, "fieldrelay-ping") == 0)
		return ping_main(argc, argv);
	return echo_main(argc, argv);
}
