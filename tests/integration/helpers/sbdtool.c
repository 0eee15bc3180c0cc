/*
 * sbdtool - drive radio/drivers/sbd.c and radio/drivers/directip.c from the integration tests.
 *
 *   sbdtool modem DEVICE [--baud N] [--mailbox-interval MS] [--backoff MIN:MAX]
 *           [--restart MIN:MAX] [--session-timeout MS] [--command-timeout MS]
 *           [--signal-poll MS] [--min-signal N] [--no-ring]
 *           [--budget-messages N] [--budget-bytes N] [--budget-period MS]
 *           [--bill MIN:UNIT] [--price N]
 *       The driver (sbd_port) on the modem at DEVICE.  Commands on stdin, one a
 *       line: "send ID PRIO HEX", "mailbox", "stats", "quit" (EOF too).  One
 *       JSON object a line on stdout, each with "t" (CLOCK_MONOTONIC seconds,
 *       the clock of Python's time.monotonic()) and "event": "sent" (the answer
 *       to send: id, rc), "delivered" (id, momsn), "failed" (id, why),
 *       "received" (mtmsn, hex), "link" (up, why), "stats".
 *
 *   sbdtool listen PORT
 *       A command center's DirectIP MO listener on 127.0.0.1:PORT (0: any;
 *       prints {"event":"listening","port":P}).  Each connection carries one
 *       message: decoded, checked against the IMEI+MOMSN duplicate filter,
 *       printed as {"event":"mo", imei, momsn, mtmsn, status, cdr, dup,
 *       payload (hex, absent for a mailbox check), raw (hex)} or
 *       {"event":"bad", raw}, then the connection is closed.
 *
 * Logs (debug level) go to stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "directip.h"
#include "log.h"
#include "loop.h"
#include "sbd.h"

static struct sbd_port *port;
static char line[2048];
static size_t linelen;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

/* A string for JSON: our own messages only, but quotes and backslashes are escaped anyway. */
static void
print_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar((unsigned char)*s >= 0x20 ? *s : '?');
	}
	putchar('"');
}

static void
on_delivered(void *arg, void *ctx, uint16_t momsn)
{
	printf("{\"t\":%.6f,\"event\":\"delivered\",\"id\":%ld,\"momsn\":%u}\n", now_s(),
	    (long)(intptr_t)ctx, momsn);
}

static void
on_failed(void *arg, void *ctx, const char *why)
{
	printf("{\"t\":%.6f,\"event\":\"failed\",\"id\":%ld,\"why\":", now_s(), (long)(intptr_t)ctx);
	print_str(why);
	printf("}\n");
}

static void
on_received(void *arg, const uint8_t *msg, size_t len, uint16_t mtmsn)
{
	printf("{\"t\":%.6f,\"event\":\"received\",\"mtmsn\":%u,\"hex\":\"", now_s(), mtmsn);
	print_hex(msg, len);
	printf("\"}\n");
}

static void
on_link(void *arg, bool up, const char *why)
{
	printf("{\"t\":%.6f,\"event\":\"link\",\"up\":%s,\"why\":", now_s(), up ? "true" : "false");
	print_str(why);
	printf("}\n");
}

static void
print_stats(void)
{
	struct sbd_stats st;

	sbd_port_stats(port, &st);
	printf("{\"t\":%.6f,\"event\":\"stats\",\"state\":\"%s\",\"imei\":\"%s\",\"signal\":%d,"
	    "\"queued\":%u,\"queued_bytes\":%llu,\"mt_waiting\":%u,\"sessions\":%llu,"
	    "\"sessions_ok\":%llu,\"sessions_failed\":%llu,\"mailbox_checks\":%llu,\"rings\":%llu,"
	    "\"last_mo_status\":%u,\"failures_in_row\":%u,\"backoff_left_ms\":%llu,"
	    "\"mo_messages\":%llu,\"mo_bytes\":%llu,\"mt_messages\":%llu,\"mt_bytes\":%llu,"
	    "\"billed_bytes\":%llu,\"cost\":%llu,\"period_messages\":%llu,\"period_bytes\":%llu,"
	    "\"budget_spent\":%s,\"restarts\":%llu,\"timeouts\":%llu,\"errors\":%llu,"
	    "\"bad_lines\":%llu,\"mt_bad\":%llu,\"refused\":%llu,\"last_error\":",
	    now_s(), st.state, st.imei, st.signal, st.queued, (unsigned long long)st.queued_bytes,
	    st.mt_waiting, (unsigned long long)st.sessions, (unsigned long long)st.sessions_ok,
	    (unsigned long long)st.sessions_failed, (unsigned long long)st.mailbox_checks,
	    (unsigned long long)st.rings, st.last_mo_status, st.failures_in_row,
	    (unsigned long long)st.backoff_left_ms, (unsigned long long)st.mo_messages,
	    (unsigned long long)st.mo_bytes, (unsigned long long)st.mt_messages,
	    (unsigned long long)st.mt_bytes, (unsigned long long)st.billed_bytes,
	    (unsigned long long)st.cost, (unsigned long long)st.period_messages,
	    (unsigned long long)st.period_bytes, st.budget_spent ? "true" : "false",
	    (unsigned long long)st.restarts, (unsigned long long)st.timeouts,
	    (unsigned long long)st.errors, (unsigned long long)st.bad_lines,
	    (unsigned long long)st.mt_bad, (unsigned long long)st.refused);
	print_str(st.last_error);
	printf("}\n");
}

static int
unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

static void
command(struct loop *l, char *cmd)
{
	char hex[1024];
	uint8_t msg[512];
	long id;
	int prio, n;

	if (sscanf(cmd, "send %ld %d %1023s", &id, &prio, hex) == 3) {
		int rc = -EINVAL;

		if ((n = unhex(hex, msg, sizeof(msg))) >= 0)
			rc = sbd_port_send(port, msg, (size_t)n, prio, (void *)(intptr_t)id);
		printf("{\"t\":%.6f,\"event\":\"sent\",\"id\":%ld,\"rc\":%d}\n", now_s(), id, rc);
	} else if (strcmp(cmd, "mailbox") == 0) {
		sbd_port_mailbox_check(port);
	} else if (strcmp(cmd, "stats") == 0) {
		print_stats();
	} else if (strcmp(cmd, "quit") == 0) {
		loop_stop(l);
	} else {
		printf("{\"event\":\"error\",\"what\":\"unknown command\"}\n");
	}
}

static void
on_stdin(struct loop *l, int fd, uint32_t events, void *arg)
{
	ssize_t n = read(fd, line + linelen, sizeof(line) - 1 - linelen);
	char *nl;

	if (n <= 0) {
		loop_stop(l);
		return;
	}
	linelen += (size_t)n;
	line[linelen] = '\0';
	while ((nl = strchr(line, '\n')) != NULL) {
		*nl = '\0';
		command(l, line);
		linelen -= (size_t)(nl + 1 - line);
		memmove(line, nl + 1, linelen + 1);
	}
	if (linelen == sizeof(line) - 1)
		linelen = 0;
}

static void
on_term(struct loop *l, int signo, void *arg)
{
	loop_stop(l);
}

static int
two(const char *s, uint32_t *a, uint32_t *b)
{
	return sscanf(s, "%u:%u", a, b) == 2 ? 0 : -1;
}

static int
modem_main(int argc, char **argv)
{
	struct sbd_events ev = { .delivered = on_delivered, .failed = on_failed,
		.received = on_received, .link = on_link };
	struct sbd_params p;
	struct loop *l;
	int rc = 1;

	sbd_params_default(&p);
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (strcmp(o, "--no-ring") == 0) {
			p.ring_alerts = false;
			continue;
		}
		if (!v) {
			fprintf(stderr, "sbdtool: %s needs a value\n", o);
			return 2;
		}
		i++;
		if (strcmp(o, "--baud") == 0)
			p.baud = (unsigned)atoi(v);
		else if (strcmp(o, "--mailbox-interval") == 0)
			p.mailbox_interval_ms = (uint32_t)atol(v);
		else if (strcmp(o, "--backoff") == 0)
			bad = two(v, &p.backoff_min_ms, &p.backoff_max_ms);
		else if (strcmp(o, "--restart") == 0)
			bad = two(v, &p.restart_min_ms, &p.restart_max_ms);
		else if (strcmp(o, "--session-timeout") == 0)
			p.session_timeout_ms = (uint32_t)atol(v);
		else if (strcmp(o, "--command-timeout") == 0)
			p.command_timeout_ms = p.signal_timeout_ms = (uint32_t)atol(v);
		else if (strcmp(o, "--signal-poll") == 0)
			p.signal_poll_ms = (uint32_t)atol(v);
		else if (strcmp(o, "--min-signal") == 0)
			p.min_signal = (unsigned)atoi(v);
		else if (strcmp(o, "--budget-messages") == 0)
			p.budget_messages = (uint32_t)atol(v);
		else if (strcmp(o, "--budget-bytes") == 0)
			p.budget_bytes = (uint64_t)atoll(v);
		else if (strcmp(o, "--budget-period") == 0)
			p.budget_period_ms = (uint64_t)atoll(v);
		else if (strcmp(o, "--bill") == 0)
			bad = two(v, &p.bill_min_bytes, &p.bill_unit_bytes);
		else if (strcmp(o, "--price") == 0)
			p.price_per_unit = (uint64_t)atoll(v);
		else
			bad = 1;
		if (bad) {
			fprintf(stderr, "sbdtool: bad option %s %s\n", o, v);
			return 2;
		}
	}
	if ((l = loop_new()) == NULL)
		fatal("loop_new");
	if ((port = sbd_port_new(l, argv[0], &p, &ev, NULL)) == NULL) {
		log_warn("sbd_port_new %s", argv[0]);
		goto out;
	}
	if (loop_add_fd(l, STDIN_FILENO, EPOLLIN, on_stdin, NULL) < 0 ||
	    loop_signal(l, SIGTERM, on_term, NULL) < 0 || loop_signal(l, SIGINT, on_term, NULL) < 0) {
		log_warnx("loop setup");
		goto out;
	}
	printf("{\"t\":%.6f,\"event\":\"started\"}\n", now_s());
	rc = loop_run(l) < 0;
	print_stats();
out:
	sbd_port_free(port);
	loop_free(l);
	return rc;
}

/* ---- the command center's DirectIP MO listener ---------------------- */

static void
serve_one(int fd, struct directip_dedup *dd)
{
	static uint8_t buf[DIRECTIP_MSG_MAX];
	struct timeval tv = { .tv_sec = 5 };
	struct directip_mo mo;
	size_t have = 0;
	ssize_t need = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		ssize_t n = recv(fd, buf + have, sizeof(buf) - have, 0);

		if (n <= 0)
			break;
		have += (size_t)n;
		need = directip_msg_len(buf, have);
		if (need < 0 || (need > 0 && have >= (size_t)need))
			break;
	}
	if (need > 0 && have >= (size_t)need && directip_mo_decode(buf, (size_t)need, &mo) == 0) {
		struct timespec ts;
		bool dup;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		dup = directip_dedup_seen(dd, mo.imei, mo.momsn,
		    mo.has_payload ? directip_payload_digest(mo.payload, mo.payload_len) : 0,
		    (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
		printf("{\"t\":%.6f,\"event\":\"mo\",\"imei\":\"%s\",\"momsn\":%u,\"mtmsn\":%u,"
		    "\"status\":%u,\"cdr\":%u,\"time\":%u,\"dup\":%s,", now_s(), mo.imei, mo.momsn,
		    mo.mtmsn, mo.session_status, mo.cdr_ref, mo.session_time, dup ? "true" : "false");
		if (mo.has_payload) {
			printf("\"payload\":\"");
			print_hex(mo.payload, mo.payload_len);
			printf("\",");
		}
	} else {
		printf("{\"t\":%.6f,\"event\":\"bad\",", now_s());
	}
	printf("\"raw\":\"");
	print_hex(buf, have);
	printf("\"}\n");
	close(fd);
}

static int
listen_main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct directip_dedup *dd;
	socklen_t l = sizeof(sin);
	int fd, one = 1;

	if (argc != 1)
		return 2;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)atoi(argv[0]));
	if ((dd = directip_dedup_new(1024, 4096, 0)) == NULL)
		fatal("directip_dedup_new");
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		fatal("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 16) < 0)
		fatal("listen on port %s", argv[0]);
	getsockname(fd, (struct sockaddr *)&sin, &l);
	printf("{\"event\":\"listening\",\"port\":%u}\n", ntohs(sin.sin_port));
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0 && errno == EINTR)
			continue;
		if (c < 0)
			fatal("accept");
		serve_one(c, dd);
	}
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init(true, "sbdtool");
	log_setlevel(LOG_LVL_DEBUG);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && strcmp(argv[1], "modem") == 0)
		return modem_main(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "listen") == 0)
		return listen_main(argc - 2, argv + 2);
	fprintf(stderr, "usage: sbdtool modem DEVICE [options] | sbdtool listen PORT\n");
	return 2;
}
