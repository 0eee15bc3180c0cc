/*
 * fieldrelay - the command-line client of fieldrelayd.
 *
 * Talks to the daemon over its control socket (relay/ctl/control.h).  Human
 * output by default, --json for scripts.  Exit status: 0 ok, 1 the daemon
 * refused or failed, 2 bad usage or input, 3 the daemon cannot be reached.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "admin.h"
#include "bundle.h"
#include "client.h"
#include "config.h"
#include "dump.h"
#include "service.h"
#include "version.h"

#define EXIT_REFUSED	1
#define EXIT_USAGE	2
#define EXIT_NODAEMON	3

static struct {
	const char *socket;
	const char *config;
	bool json;
} opt;

static void print_json(json_t *o);

static const char usage_text[] =
"Usage: fieldrelay [-s SOCKET | -c CONFIG] [--json] [--timeout SECONDS] COMMAND [ARGS]\n"
"\n"
"Client of fieldrelayd, the fieldrelay store-and-forward daemon.\n"
"\n"
"Commands:\n"
"  status                  node, uptime, clock, store use and quota\n"
"  queue                   stored bundles: count and bytes by priority class\n"
"                          and by destination\n"
"  neighbors               neighbours heard on each link, their address and cost\n"
"  links                   each link: up/down, radio signal and tx bitrate\n"
"                          (nl80211), frames and bytes each way,\n"
"                          retransmissions, mtu, rate, round trip, share of\n"
"                          segments resent, frames dropped by cause\n"
"  routes                  next hop per destination (direct, learned, static,\n"
"                          default) or unreachable\n"
"  flood                   bundles for every node (ipn:0.2 alerts, ipn:0.3\n"
"                          positions) kept here until their lifetime ends, and\n"
"                          the neighbours that have each\n"
"  send [OPTIONS] DST [TEXT...]\n"
"                          send TEXT (or a file, or stdin) as one bundle to the\n"
"                          endpoint DST (ipn:NODE.SERVICE; ipn:0.2 and ipn:0.3:\n"
"                          an alert or a position for every node); prints its\n"
"                          id once the daemon has stored it durably\n"
"      -f, --file FILE     send the contents of FILE (up to 16 MB)\n"
"      -                   read the payload from stdin\n"
"      -p, --priority CLASS  urgent, position, voicemsg, message, telemetry,\n"
"                          bulk (default: from the destination service)\n"
"      -l, --lifetime DUR  how long the bundle lives: 90s, 30m, 24h, 7d\n"
"                          (default: the daemon's [bundle] default_lifetime)\n"
"      -S, --source-service N  our service it comes from (default: DST's)\n"
"      -r, --report LIST   ask for status reports, LIST of received,\n"
"                          forwarded, delivered, deleted, all, and time (with\n"
"                          the time of each event); they come back to this\n"
"                          node: see `reports`\n"
"      --supersede KEY     a newer bundle sent here with the same KEY replaces\n"
"                          this one while it waits on this node to be\n"
"                          forwarded (positions have a key by default: their\n"
"                          source and destination, and relays on the way use\n"
"                          it too)\n"
"      --no-supersede      no key: this bundle neither replaces nor is\n"
"                          replaced on this node (relays still derive a\n"
"                          position's key)\n"
"      -b, --batch         one bundle per stdin line, pipelined over one\n"
"                          connection; prints one 'accepted ID LINE' per line\n"
"      -P, --progress      show progress for large files (default on a tty)\n"
"  recv [OPTIONS] SERVICE  take the bundles waiting for local SERVICE (a number)\n"
"                          and print them; they leave the store once printed\n"
"      -n, --count N       take at most N (default: all waiting)\n"
"      -w, --wait          wait until N have arrived\n"
"      -o, --output DIR    write each payload to DIR/ID-based name\n"
"      -R, --raw           write payloads only, to stdout (for piping a file)\n"
"  watch SERVICE           like recv, forever: print bundles as they arrive\n"
"  reports [-n N] [-w]     take the status reports sent to this node (service 0)\n"
"                          and print them decoded: which node received,\n"
"                          forwarded, delivered or deleted which bundle, and why\n"
"  config-check [FILE]     check FILE offline, or ask the daemon to check its\n"
"                          own config file for errors and pending changes\n"
"  bundle dump [--json] FILE\n"
"                          decode a raw BPv7 bundle file (ours or any other\n"
"                          implementation's) and print every block and field,\n"
"                          or the exact validation error\n"
"\n"
"Options:\n"
"  -s, --socket PATH       the daemon's control socket\n"
"  -c, --config FILE       take the socket path from the daemon's config\n"
"  -j, --json              machine-readable JSON output (one object per line);\n"
"                          errors too: {\"ok\": false, \"error\": ...}\n"
"  -t, --timeout SECONDS   give up on a daemon that does not answer a request\n"
"                          within SECONDS (default 10; 0 waits for ever);\n"
"                          recv -w, watch and reports -w wait for bundles as\n"
"                          long as it takes\n"
"  -h, --help              this help;  -V, --version  the version\n"
"\n"
"Without -s or -c the socket comes from $FIELDRELAY_SOCKET, then from\n"
"/etc/fieldrelay/fieldrelay.conf, then /var/lib/fieldrelay/control.sock.\n"
"\n"
"Examples:\n"
"  fieldrelay send -p urgent ipn:1.2 'Evacuate sector B now'\n"
"  fieldrelay send -f photo.jpg ipn:1.8\n"
"  fieldrelay recv 5\n"
"  fieldrelay --json watch 2\n"
"\n"
"Exit status: 0 ok, 1 refused by the daemon (quota, disk full, ...),\n"
"2 bad usage or input, 3 the daemon is not reachable or did not answer.\n";

/*
 * An error: "fieldrelay: MSG" on stderr and, with --json, {"ok": false,
 * "error": MSG} on stdout as well, so that a script reading JSON sees it.
 */
static void
say_error(const char *fmt, va_list ap)
{
	char msg[4096];
	json_t *o;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "fieldrelay: %s\n", msg);
	if (opt.json && (o = json_pack("{s:b, s:s}", "ok", 0, "error", msg)) != NULL) {
		print_json(o);
		json_decref(o);
	}
}

/* Say so and return rc. */
static int fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say_error(fmt, ap);
	va_end(ap);
	return rc;
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say_error(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'fieldrelay --help'.\n");
	exit(EXIT_USAGE);
}

static const char *
socket_path(void)
{
	static struct config cfg;
	char err[4096];
	const char *env;

	if (opt.socket)
		return opt.socket;
	if (opt.config) {
		if (config_load(opt.config, &cfg, err, sizeof(err)) < 0) {
			if (!opt.json) {
				fputs(err, stderr);
				exit(EXIT_USAGE);
			}
			if (*err && err[strlen(err) - 1] == '\n')
				err[strlen(err) - 1] = '\0';
			exit(fail(EXIT_USAGE, "%s", err));
		}
		return cfg.socket_path;
	}
	if ((env = getenv("FIELDRELAY_SOCKET")) && *env)
		return env;
	if (access("/etc/fieldrelay/fieldrelay.conf", R_OK) == 0 &&
	    config_load("/etc/fieldrelay/fieldrelay.conf", &cfg, err, sizeof(err)) == 0)
		return cfg.socket_path;
	return "/var/lib/fieldrelay/control.sock";
}

static int
connect_daemon(void)
{
	char err[512];
	int fd = client_connect(socket_path(), err, sizeof(err));

	if (fd < 0)
		exit(fail(EXIT_NODAEMON, "%s", err));
	return fd;
}

static void
print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	if (s) {
		puts(s);
		free(s);
	}
	fflush(stdout);
}

static void
lost_daemon(void)
{
	int t = client_timeout();

	if (errno == ETIMEDOUT)
		exit(fail(EXIT_NODAEMON, "fieldrelayd did not answer within %d.%03d s (--timeout SECONDS waits longer)",
		    t / 1000, t % 1000));
	exit(fail(EXIT_NODAEMON, "lost the connection to fieldrelayd%s%s", errno ? ": " : "",
	    errno ? strerror(errno) : ""));
}

/* Print the daemon's error and return the exit code for it. */
static int
refused(json_t *r)
{
	if (opt.json)
		print_json(r);
	else
		fprintf(stderr, "fieldrelay: %s\n", json_is_string(json_object_get(r, "error")) ?
		    json_string_value(json_object_get(r, "error")) : "refused");
	json_decref(r);
	return EXIT_REFUSED;
}

static void
human_bytes(uint64_t n, char *out, size_t cap)
{
	if (n < 1024)
		snprintf(out, cap, "%" PRIu64 " B", n);
	else if (n < 1024 * 1024)
		snprintf(out, cap, "%.1f KiB", (double)n / 1024);
	else if (n < 1024ull * 1024 * 1024)
		snprintf(out, cap, "%.1f MiB", (double)n / (1024 * 1024));
	else
		snprintf(out, cap, "%.2f GiB", (double)n / (1024.0 * 1024 * 1024));
}

static uint64_t
jint(json_t *o, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(o, key));
}

static const char *
jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* ---- status, queue ---- */

/*
 * One request without arguments; returns the answer for human output, or
 * NULL once the JSON form was printed or the refusal reported (*rc says).
 */
static json_t *
simple_call(int argc, char **argv, const char *op, int *rc)
{
	json_t *r;
	int fd;

	if (argc > 1)
		usage_error("%s takes no arguments (got '%s')", op, argv[1]);
	fd = connect_daemon();
	if ((r = client_call(fd, json_pack("{s:s}", "op", op))) == NULL)
		lost_daemon();
	close(fd);
	*rc = 0;
	if (!json_is_true(json_object_get(r, "ok"))) {
		*rc = refused(r);
		return NULL;
	}
	if (opt.json) {
		print_json(r);
		json_decref(r);
		return NULL;
	}
	return r;
}

static int
cmd_status(int argc, char **argv)
{
	json_t *r, *st, *cls;
	char b1[32], b2[32], b3[32], b4[32];
	uint64_t up;
	size_t i;
	int rc;

	if ((r = simple_call(argc, argv, "status", &rc)) == NULL)
		return rc;
	st = json_object_get(r, "store");
	up = jint(r, "uptime");
	human_bytes(jint(st, "bytes"), b1, sizeof(b1));
	human_bytes(jint(st, "used"), b2, sizeof(b2));
	human_bytes(jint(st, "quota"), b3, sizeof(b3));
	human_bytes(jint(st, "reserve"), b4, sizeof(b4));
	printf("node      ipn:%" PRIu64 " (%s)\n", jint(r, "node"), jstr(r, "name"));
	printf("daemon    fieldrelayd %s, pid %" PRIu64 ", up %" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s, boot #%" PRIu64 "\n",
	    jstr(r, "version"), jint(r, "pid"), up / 3600, up / 60 % 60, up % 60, jint(r, "boot"));
	printf("clock     %s\n", json_is_true(json_object_get(r, "clock_trusted")) ?
	    "trusted" : "not trusted: bundles carry creation time 0 and a bundle age");
	printf("store     %s\n", jstr(st, "path"));
	printf("bundles   %" PRIu64 " stored, %s\n", jint(st, "bundles"), b1);
	if (jint(st, "quota"))
		printf("disk      %s of pages in use, quota %s (reserve %s)\n", b2, b3, b4);
	else
		printf("disk      %s of pages in use, no quota\n", b2);
	if (json_is_true(json_object_get(st, "fs_short")))
		printf("warning   the filesystem had less room than the quota at start: the disk fills first\n");
	if (json_is_true(json_object_get(st, "disk_full")))
		printf("warning   disk full: new bundles are refused until there is room again\n");
	printf("seen      %" PRIu64 " bundle identities remembered for duplicate detection\n", jint(st, "seen"));
	cls = json_object_get(st, "classes");
	for (i = 0; i < json_array_size(cls); i++) {
		json_t *c = json_array_get(cls, i);

		if (jint(c, "count") == 0)
			continue;
		human_bytes(jint(c, "bytes"), b1, sizeof(b1));
		printf("  %-10s %8" PRIu64 " bundles %12s\n", jstr(c, "class"), jint(c, "count"), b1);
	}
	json_decref(r);
	return 0;
}

static int
cmd_queue(int argc, char **argv)
{
	json_t *r, *cls, *dst;
	char b[32];
	size_t i;
	int rc;

	if ((r = simple_call(argc, argv, "queue", &rc)) == NULL)
		return rc;
	human_bytes(jint(r, "bytes"), b, sizeof(b));
	printf("%" PRIu64 " bundles, %s\n\n", jint(r, "bundles"), b);
	printf("%-10s %9s %12s\n", "CLASS", "BUNDLES", "BYTES");
	cls = json_object_get(r, "classes");
	for (i = 0; i < json_array_size(cls); i++) {
		json_t *c = json_array_get(cls, i);

		if (i == PRIO_REALTIME)
			continue;	/* never stored */
		human_bytes(jint(c, "bytes"), b, sizeof(b));
		printf("%-10s %9" PRIu64 " %12s\n", jstr(c, "class"), jint(c, "count"), b);
	}
	dst = json_object_get(r, "destinations");
	if (json_array_size(dst) > 0)
		printf("\n%-24s %-10s %9s %12s\n", "DESTINATION", "CLASS", "BUNDLES", "BYTES");
	for (i = 0; i < json_array_size(dst); i++) {
		json_t *d = json_array_get(dst, i);

		human_bytes(jint(d, "bytes"), b, sizeof(b));
		printf("%-24s %-10s %9" PRIu64 " %12s\n", jstr(d, "dst"), jstr(d, "class"),
		    jint(d, "count"), b);
	}
	json_decref(r);
	return 0;
}

/* ---- neighbors, links, routes ---- */

static int
cmd_neighbors(int argc, char **argv)
{
	json_t *r, *rows;
	int rc;

	if ((r = simple_call(argc, argv, "neighbors", &rc)) == NULL)
		return rc;
	rows = json_object_get(r, "neighbors");
	if (json_array_size(rows) == 0)
		printf("no neighbours heard (links: `fieldrelay links`)\n");
	else
		printf("%-10s %-12s %-28s %8s\n", "LINK", "NODE", "ADDRESS", "COST");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *n = json_array_get(rows, i);
		char node[32];

		snprintf(node, sizeof(node), "ipn:%" PRIu64, jint(n, "node"));
		printf("%-10s %-12s %-28s %8" PRIu64 "\n", jstr(n, "link"), node, jstr(n, "addr"), jint(n, "cost"));
	}
	json_decref(r);
	return 0;
}

/* An SBD modem's state, traffic, budget and cost (radio/drivers/sbd_link.c). */
static void
print_sbd(json_t *x)
{
	if (!json_is_object(x))
		return;
	printf("  modem    %s, signal %" PRId64 "/5, IMEI %s, %" PRIu64 " message(s) at the modem, %" PRIu64
	    " bundle(s) waiting\n", jstr(x, "state"), (int64_t)json_integer_value(json_object_get(x, "signal")),
	    jstr(x, "imei")[0] ? jstr(x, "imei") : "unknown", jint(x, "queued"), jint(x, "bundles_waiting"));
	printf("  sessions %" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64 " mailbox checks, %" PRIu64 " rings\n",
	    jint(x, "sessions_ok"), jint(x, "sessions_failed"), jint(x, "mailbox_checks"), jint(x, "rings"));
	printf("  SBD      MO %" PRIu64 " messages, %" PRIu64 " bytes; MT %" PRIu64 " messages, %" PRIu64
	    " bytes; billed %" PRIu64 " bytes, cost %.6f\n", jint(x, "mo_messages"), jint(x, "mo_bytes"),
	    jint(x, "mt_messages"), jint(x, "mt_bytes"), jint(x, "billed_bytes"), (double)jint(x, "cost") / 1e6);
	printf("  budget   %" PRIu64 " messages, %" PRIu64 " bytes used this period", jint(x, "budget_used_messages"),
	    jint(x, "budget_used_bytes"));
	if (jint(x, "budget_messages"))
		printf("; %" PRId64 " messages left", (int64_t)json_integer_value(json_object_get(x, "budget_left_messages")));
	if (jint(x, "budget_bytes"))
		printf("; %" PRId64 " bytes left", (int64_t)json_integer_value(json_object_get(x, "budget_left_bytes")));
	printf("%s\n", json_is_true(json_object_get(x, "budget_spent")) ? "; SPENT: messages wait" : "");
	if (jstr(x, "last_error")[0])
		printf("  error    %s\n", jstr(x, "last_error"));
}

/* The command center's DirectIP side (radio/drivers/directip_link.c). */
static void
print_directip(json_t *x)
{
	if (!json_is_object(x))
		return;
	printf("  DirectIP MO port %" PRIu64 ": %" PRIu64 " received, %" PRIu64 " duplicates, %" PRIu64 " bad, %"
	    PRIu64 " unknown IMEI; %" PRIu64 " bundles\n", jint(x, "port"), jint(x, "mo_received"),
	    jint(x, "mo_duplicates"), jint(x, "mo_bad"), jint(x, "mo_unknown_imei"), jint(x, "bundles_rx"));
	printf("  gateway  %s: MT %" PRIu64 " sent, %" PRIu64 " failed, %" PRIu64 " bytes; %" PRIu64
	    " bundles sent, %" PRIu64 " waiting\n", jstr(x, "gateway"), jint(x, "mt_sent"), jint(x, "mt_failed"),
	    jint(x, "mt_bytes"), jint(x, "bundles_tx"), jint(x, "bundles_waiting"));
	printf("  acks     %" PRIu64 " bundles acknowledged by the units, %" PRIu64 " refused (sent again), %" PRIu64
	    " waiting for an ack, %" PRIu64 " timed out\n", jint(x, "bundles_acked"), jint(x, "bundles_nacked"),
	    jint(x, "bundles_unacked"), jint(x, "ack_timeouts"));
	if (jstr(x, "last_error")[0])
		printf("  error    %s\n", jstr(x, "last_error"));
}

static int
cmd_links(int argc, char **argv)
{
	json_t *r, *rows;
	int rc;

	if ((r = simple_call(argc, argv, "links", &rc)) == NULL)
		return rc;
	rows = json_object_get(r, "links");
	if (json_array_size(rows) == 0)
		printf("no links configured (add a [link NAME] section)\n");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *l = json_array_get(rows, i), *d = json_object_get(l, "dropped");
		const char *k;
		json_t *v;
		char b1[32], b2[32];

		human_bytes(jint(l, "bytes_tx"), b1, sizeof(b1));
		human_bytes(jint(l, "bytes_rx"), b2, sizeof(b2));
		printf("%s (%s): %s, %" PRIu64 " neighbour(s)\n", jstr(l, "name"), jstr(l, "kind"),
		    json_is_true(json_object_get(l, "up")) ? "up" : "DOWN", jint(l, "neighbours"));
		printf("  radio    %s\n", jstr(l, "radio"));
		{
			json_t *rtt = json_object_get(l, "rtt_ms"), *loss = json_object_get(l, "loss");
			char rtt_s[32] = "no sample", loss_s[32] = "nothing sent";

			if (json_is_integer(rtt))
				snprintf(rtt_s, sizeof(rtt_s), "%" PRIu64 " ms", jint(l, "rtt_ms"));
			if (json_is_number(loss))
				snprintf(loss_s, sizeof(loss_s), "%.1f%%", 100.0 * json_number_value(loss));
			printf("  link     mtu %" PRIu64 ", %" PRIu64 " bit/s nominal, rtt %s, resent %s\n",
			    jint(l, "mtu"), jint(l, "rate_bps"), rtt_s, loss_s);
		}
		printf("  sent     %" PRIu64 " frames, %s; %" PRIu64 " segments, %" PRIu64 " retransmitted; %" PRIu64 " send errors\n",
		    jint(l, "frames_tx"), b1, jint(l, "segments"), jint(l, "retransmissions"), jint(l, "send_errors"));
		printf("  received %" PRIu64 " frames, %s\n", jint(l, "frames_rx"), b2);
		if (json_is_true(json_object_get(l, "compact")))
			printf("  compact  %" PRIu64 " bundles sent, %" PRIu64 " received in compact form\n",
			    jint(l, "compact_tx"), jint(l, "compact_rx"));
		if (json_object_get(l, "budget_bytes")) {
			char bu[32], bb[32];

			human_bytes(jint(l, "budget_used"), bu, sizeof(bu));
			human_bytes(jint(l, "budget_bytes"), bb, sizeof(bb));
			printf("  budget   %s of %s this period used\n", bu, bb);
		}
		if (json_is_false(json_object_get(l, "open")))
			printf("  closed   %s: no route over it\n", json_is_true(json_object_get(l, "in_window")) ?
			    "budget spent until the next period" : "outside its contact windows");
		print_sbd(json_object_get(l, "sbd"));
		print_directip(json_object_get(l, "directip"));
		if (jint(l, "voice_tx") || jint(l, "voice_rx"))
			printf("  voice    %" PRIu64 " frames sent, %" PRIu64 " received\n", jint(l, "voice_tx"),
			    jint(l, "voice_rx"));
		bool any = false;

		printf("  dropped ");
		json_object_foreach(d, k, v)
			if (json_integer_value(v) > 0) {
				printf(" %s %" PRIu64, k, (uint64_t)json_integer_value(v));
				any = true;
			}
		printf("%s\n", any ? "" : " nothing");
	}
	printf("%" PRIu64 " bundle(s) on their way to a next hop\n", jint(r, "in_flight"));
	{
		json_t *fw = json_object_get(r, "forwarding");

		printf("%" PRIu64 " handed to a next hop; flood copies: %" PRIu64 " sent, %" PRIu64
		    " committed; %" PRIu64 " duplicates received\n", jint(fw, "handed"), jint(fw, "flood_sent"),
		    jint(fw, "flood_handed"), jint(fw, "duplicates"));
	}
	json_decref(r);
	return 0;
}

static int
cmd_routes(int argc, char **argv)
{
	json_t *r, *rows;
	int rc;

	if ((r = simple_call(argc, argv, "routes", &rc)) == NULL)
		return rc;
	rows = json_object_get(r, "routes");
	if (json_array_size(rows) == 0)
		printf("no routes: bundles for other nodes wait in the store\n");
	else
		printf("%-12s %-12s %-10s %8s  %s\n", "DESTINATION", "VIA", "LINK", "COST", "KIND");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *e = json_array_get(rows, i);
		char dst[32], via[32];

		snprintf(dst, sizeof(dst), "ipn:%" PRIu64, jint(e, "dst"));
		if (json_is_null(json_object_get(e, "via"))) {
			printf("%-12s %-12s\n", dst, "(unreachable: bundles wait)");
			continue;
		}
		snprintf(via, sizeof(via), "ipn:%" PRIu64, jint(e, "via"));
		printf("%-12s %-12s %-10s %8" PRIu64 "  %s\n", dst, via, jstr(e, "link"), jint(e, "cost"), jstr(e, "kind"));
	}
	json_decref(r);
	return 0;
}

static int
cmd_flood(int argc, char **argv)
{
	json_t *r, *rows;
	char exp[64];
	int rc;

	if ((r = simple_call(argc, argv, "flood", &rc)) == NULL)
		return rc;
	rows = json_object_get(r, "flood");
	if (json_array_size(rows) == 0)
		printf("no bundles for every node stored here\n");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *b = json_array_get(rows, i), *hs = json_object_get(b, "holders");
		time_t t = (time_t)(jint(b, "expires") / 1000);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("%s [%s] %" PRIu64 " bytes to %s, until %s%s\n", jstr(b, "id"), jstr(b, "class"),
		    jint(b, "size"), jstr(b, "dst"), exp,
		    json_is_true(json_object_get(b, "local")) ? ", not yet taken here" : "");
		printf("  held by:");
		for (size_t k = 0; k < json_array_size(hs); k++)
			printf(" ipn:%" PRIu64 " (%s)", jint(json_array_get(hs, k), "node"),
			    jstr(json_array_get(hs, k), "how"));
		printf("%s\n", json_array_size(hs) ? "" : " no neighbour yet");
	}
	if (jint(r, "total") > json_array_size(rows))
		printf("(%" PRIu64 " more not shown)\n", jint(r, "total") - (uint64_t)json_array_size(rows));
	json_decref(r);
	return 0;
}

/* ---- send ---- */

static bool show_progress;

static void
send_progress(uint64_t done, uint64_t total)
{
	static time_t last;
	time_t now = time(NULL);

	if (!show_progress || (now == last && done != total))
		return;
	last = now;
	fprintf(stderr, "\rsending: %3d%% (%" PRIu64 " of %" PRIu64 " bytes)%s",
	    (int)(total ? done * 100 / total : 100), done, total, done == total ? "\n" : "");
}

/* --batch: each stdin line is one bundle; a window of them in flight at once. */
static int
send_batch(int fd, json_t *tmpl)
{
	enum { WINDOW = 512 };
	char *line = NULL, *buf = NULL;
	size_t lcap = 0, used = 0, cap = 0;
	uint64_t sent = 0, answered = 0, accepted = 0, failed = 0;
	ssize_t n;
	bool eof = false, writefail = false;
	int rc = 0;

	while (!eof || answered < sent) {
		/* Fill the window, then write it in one go. */
		while (!eof && sent - answered < WINDOW) {
			if ((n = getline(&line, &lcap, stdin)) < 0) {
				eof = true;
				break;
			}
			if (n > 0 && line[n - 1] == '\n')
				line[--n] = '\0';
			json_t *req = json_deep_copy(tmpl);
			json_object_set_new(req, "tag", json_integer((json_int_t)++sent));
			json_object_set_new(req, "body", json_integer(n));
			if (client_pack(req, line, (size_t)n, &buf, &used, &cap) < 0)
				return fail(EXIT_REFUSED, "out of memory");
			json_decref(req);
			if (used > 256 * 1024)
				break;
		}
		if (used > 0) {
			int w = client_write(fd, buf, used);

			if (w == -ETIMEDOUT) {
				errno = ETIMEDOUT;
				goto lost;
			}
			if (w < 0) {
				/* The daemon went away: collect the answers it did send. */
				writefail = true;
				eof = true;
			}
			used = 0;
		}
		if (answered < sent && (eof || sent - answered >= WINDOW || used == 0)) {
			json_t *r = client_recv(fd);

			if (r == NULL)
				goto lost;	/* the rest were never confirmed */
			answered++;
			if (json_is_true(json_object_get(r, "ok"))) {
				accepted++;
				if (opt.json)
					print_json(r);
				else
					printf("accepted %s %" PRIu64 "\n", jstr(r, "id"), jint(r, "tag"));
			} else {
				failed++;
				rc = EXIT_REFUSED;
				if (opt.json)
					print_json(r);
				else
					printf("refused %" PRIu64 " %s: %s\n", jint(r, "tag"), jstr(r, "code"), jstr(r, "error"));
			}
			fflush(stdout);
			json_decref(r);
		}
	}
	if (writefail)
		goto lost;
	free(line);
	free(buf);
	if (!opt.json)
		fprintf(stderr, "fieldrelay: %" PRIu64 " accepted, %" PRIu64 " refused\n", accepted, failed);
	return rc;
lost:
	free(line);
	free(buf);
	return fail(EXIT_NODAEMON, "%s: %" PRIu64 " accepted, %" PRIu64 " refused, %" PRIu64
	    " not confirmed (they may or may not be stored)", errno == ETIMEDOUT ?
	    "fieldrelayd stopped answering (--timeout SECONDS waits longer)" : "lost the connection to fieldrelayd",
	    accepted, failed, sent - answered);
}

/* "delivered,forwarded" -> ["delivered", "forwarded"], checked here. */
static json_t *
report_list(const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *w;
	json_t *a = json_array();
	uint64_t f;

	if (copy == NULL)
		usage_error("%s", "out of memory");
	for (w = strtok_r(copy, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
		if (admin_report_flag(w, &f) < 0)
			usage_error("'%s' is not a status report (received, forwarded, delivered, deleted, all, time)",
			    w);
		json_array_append_new(a, json_string(w));
	}
	free(copy);
	if (json_array_size(a) == 0)
		usage_error("%s", "--report needs a list, e.g. delivered,forwarded");
	return a;
}

static int
cmd_send(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "priority", required_argument, NULL, 'p' },
		{ "lifetime", required_argument, NULL, 'l' },
		{ "source-service", required_argument, NULL, 'S' },
		{ "report", required_argument, NULL, 'r' },
		{ "supersede", required_argument, NULL, 'K' },
		{ "no-supersede", no_argument, NULL, 'N' },
		{ "batch", no_argument, NULL, 'b' },
		{ "progress", no_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *file = NULL, *dst;
	bool batch = false, from_stdin = false;
	json_t *req, *r;
	struct eid eid;
	char *text = NULL, *end;
	size_t tlen = 0;
	uint64_t v;
	int ch, fd, body_fd = -1, rc = 0;
	struct stat sb;

	req = json_pack("{s:s}", "op", "send");
	show_progress = isatty(2);
	while ((ch = getopt_long(argc, argv, "+f:p:l:S:r:K:NbPj", lo, NULL)) != -1) {
		switch (ch) {
		case 'f': file = optarg; break;
		case 'p':
			if (prio_parse(optarg) < 0 || prio_parse(optarg) == PRIO_REALTIME)
				usage_error("'%s' is not a priority class (urgent, position, voicemsg, message, telemetry, bulk)", optarg);
			json_object_set_new(req, "priority", json_string(prio_name(prio_parse(optarg))));
			break;
		case 'l':
			if (config_parse_duration(optarg, &v) < 0 || v == 0 || v > 365 * 86400)
				usage_error("'%s' is not a lifetime (e.g. 90s, 30m, 24h, 7d; at most 365d)", optarg);
			json_object_set_new(req, "lifetime", json_integer((json_int_t)v));
			break;
		case 'S':
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || *end || *optarg == '-' || *optarg == '\0' || v > SERVICE_MAX)
				usage_error("'%s' is not a service number (0 .. " NODE_MAX_TEXT ")", optarg);
			json_object_set_new(req, "service", json_integer((json_int_t)v));
			break;
		case 'r': json_object_set_new(req, "report", report_list(optarg)); break;
		case 'K':
			if (*optarg == '\0' || strlen(optarg) > SUPERSEDE_KEY_MAX)
				usage_error("--supersede needs a KEY of 1 .. %d characters", SUPERSEDE_KEY_MAX);
			json_object_set_new(req, "supersede", json_string(optarg));
			break;
		case 'N': json_object_set_new(req, "supersede", json_false()); break;
		case 'b': batch = true; break;
		case 'P': show_progress = true; break;
		case 'j': opt.json = true; break;
		default: usage_error("%s", "bad send option");
		}
	}
	if (optind >= argc)
		usage_error("%s", "send needs a destination, e.g. ipn:1.5");
	dst = argv[optind++];
	if (eid_parse(&eid, dst) < 0)
		usage_error("'%s' is not an endpoint ID (ipn:NODE.SERVICE, or dtn://NODE/SERVICE)", dst);
	if (eid.scheme == EID_IPN && (eid.node > NODE_MAX || eid.service > SERVICE_MAX))
		usage_error("'%s': node and service numbers go up to " NODE_MAX_TEXT, dst);
	json_object_set_new(req, "dst", json_string(dst));

	if (batch) {
		if (file || optind < argc)
			usage_error("%s", "--batch reads its messages from stdin, one per line");
		fd = connect_daemon();
		rc = send_batch(fd, req);
		goto out;
	}
	if (optind < argc && strcmp(argv[optind], "-") == 0 && optind + 1 == argc)
		from_stdin = true;
	if (file && optind < argc)
		usage_error("%s", "give either text or --file, not both");
	if (file) {
		if ((body_fd = open(file, O_RDONLY | O_CLOEXEC)) < 0 || fstat(body_fd, &sb) < 0) {
			rc = fail(EXIT_USAGE, "%s: %s", file, strerror(errno));
			goto out;
		}
		if (!S_ISREG(sb.st_mode)) {
			rc = fail(EXIT_USAGE, "%s: not a regular file", file);
			goto out;
		}
		if ((uint64_t)sb.st_size > BUNDLE_MAX_SIZE - 65536) {
			rc = fail(EXIT_USAGE, "%s: file too big (%lld bytes; a bundle carries at most 16 MiB)",
			    file, (long long)sb.st_size);
			goto out;
		}
		tlen = (size_t)sb.st_size;
	} else if (from_stdin || optind == argc) {
		/* Read stdin, but never more than a bundle can carry. */
		size_t cap = 0;
		ssize_t n;

		if (optind == argc && isatty(0))
			usage_error("%s", "send needs TEXT, --file FILE, or '-' for stdin");
		for (;;) {
			if (tlen == cap) {
				cap = cap ? cap * 2 : 65536;
				if (cap > BUNDLE_MAX_SIZE || (text = realloc(text, cap)) == NULL) {
					rc = fail(EXIT_USAGE, "stdin: too big for one bundle (16 MiB at most)");
					goto out;
				}
			}
			if ((n = read(0, text + tlen, cap - tlen)) < 0) {
				if (errno == EINTR)
					continue;
				rc = fail(EXIT_USAGE, "stdin: %s", strerror(errno));
				goto out;
			}
			if (n == 0)
				break;
			tlen += (size_t)n;
		}
	} else {
		/* The remaining words, joined by spaces. */
		for (int i = optind; i < argc; i++)
			tlen += strlen(argv[i]) + 1;
		if ((text = malloc(tlen)) == NULL) {
			rc = EXIT_REFUSED;
			goto out;
		}
		text[0] = '\0';
		for (int i = optind; i < argc; i++) {
			strcat(text, argv[i]);
			if (i + 1 < argc)
				strcat(text, " ");
		}
		tlen = strlen(text);
	}
	json_object_set_new(req, "body", json_integer((json_int_t)tlen));
	json_object_set_new(req, "tag", json_integer(1));
	fd = connect_daemon();
	if (tlen < 1u << 20)
		show_progress = false;
	if (client_send(fd, req, text ? text : (body_fd < 0 ? "" : NULL), body_fd, tlen, send_progress) < 0 ||
	    (r = client_recv(fd)) == NULL)
		lost_daemon();
	if (!json_is_true(json_object_get(r, "ok"))) {
		rc = refused(r);
		goto out;
	}
	if (opt.json)
		print_json(r);
	else
		printf("accepted %s\n", jstr(r, "id"));
	json_decref(r);
	close(fd);
	rc = 0;
out:
	json_decref(req);
	free(text);
	if (body_fd >= 0)
		close(body_fd);
	return rc;
}

/* ---- recv, watch ---- */

struct sink {
	FILE *fp;
	bool text;			/* printable so far */
	char preview[4096];
	size_t plen;
	json_t *json;
};

static void
sink_write(void *arg, const uint8_t *p, size_t n)
{
	struct sink *s = arg;

	if (s->fp && fwrite(p, 1, n, s->fp) != n)
		exit(fail(EXIT_REFUSED, "write: %s", strerror(errno)));
	for (size_t i = 0; i < n && s->plen < sizeof(s->preview) - 1; i++) {
		if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\t' && p[i] != '\r') || p[i] == 0x7f)
			s->text = false;
		s->preview[s->plen++] = (char)p[i];
	}
}

enum recv_mode { RECV_TAKE, RECV_WATCH, RECV_REPORTS };

static void
dtn_time_text(uint64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)((ms + DTN_EPOCH_UNIX_MS) / 1000);
	struct tm tm;

	char date[32];

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, cap, "%.24s.%03uZ", date, (unsigned)(ms % 1000));
}

/* One status report, decoded: a line, or its fields added to ev (--json). */
static void
print_report(json_t *ev, const uint8_t *payload, size_t len)
{
	struct status_report sr;
	char line[BUNDLE_EID_MAX + 160], src[BUNDLE_EID_MAX], when[40];
	const char *why;
	json_t *st, *times;

	if (admin_decode_status(&sr, payload, len, &why) < 0) {
		if (opt.json) {
			json_object_set_new(ev, "error", json_string(why));
			print_json(ev);
		} else {
			printf("from %s: not a status report (%s)\n", jstr(ev, "src"), why);
		}
		return;
	}
	if (!opt.json) {
		admin_format(&sr, line, sizeof(line));
		printf("%s reports %s\n", jstr(ev, "src"), line);
		for (int i = 0; i < ADMIN_STATUS_N; i++)
			if (sr.asserted[i] && sr.has_time[i]) {
				dtn_time_text(sr.time[i], when, sizeof(when));
				printf("  %s at %s\n", admin_status_name(i), when);
			}
		fflush(stdout);
		return;
	}
	st = json_array();
	times = json_object();
	for (int i = 0; i < ADMIN_STATUS_N; i++) {
		if (!sr.asserted[i])
			continue;
		json_array_append_new(st, json_string(admin_status_name(i)));
		if (sr.has_time[i])
			json_object_set_new(times, admin_status_name(i), json_integer((json_int_t)sr.time[i]));
	}
	eid_format(&sr.src, src, sizeof(src));
	json_object_set_new(ev, "status", st);
	json_object_set_new(ev, "times", times);
	json_object_set_new(ev, "reason", json_integer((json_int_t)sr.reason));
	json_object_set_new(ev, "reason_text", json_string(admin_reason_name(sr.reason)));
	json_object_set_new(ev, "subject", json_pack("{s:s, s:I, s:I}", "src", src,
	    "ctime", (json_int_t)sr.ctime, "seq", (json_int_t)sr.seq));
	if (sr.fragment) {
		json_object_set_new(json_object_get(ev, "subject"), "fragment_offset",
		    json_integer((json_int_t)sr.frag_offset));
		json_object_set_new(json_object_get(ev, "subject"), "payload_length",
		    json_integer((json_int_t)sr.payload_len));
	}
	print_json(ev);
}

static int
do_recv(int argc, char **argv, enum recv_mode mode)
{
	bool watch = mode == RECV_WATCH, reports = mode == RECV_REPORTS;
	static const struct option lo[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "wait", no_argument, NULL, 'w' },
		{ "output", required_argument, NULL, 'o' },
		{ "raw", no_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *outdir = NULL;
	bool wait = watch, raw = false;
	uint64_t count = 0, service, got = 0;
	json_t *req, *ev;
	char *end;
	int ch, fd;

	while ((ch = getopt_long(argc, argv, "+n:wo:Rj", lo, NULL)) != -1) {
		switch (ch) {
		case 'n':
			errno = 0;
			count = strtoull(optarg, &end, 10);
			if (errno || *end || *optarg == '-' || count == 0 || watch)
				usage_error("'%s' is not a positive count (and watch takes none)", optarg);
			break;
		case 'w': wait = true; break;
		case 'o': outdir = optarg; break;
		case 'R': raw = true; break;
		case 'j': opt.json = true; break;
		default: usage_error("%s", "bad recv option");
		}
	}
	if (reports) {
		if (optind != argc || outdir || raw)
			usage_error("%s", "reports takes -n N, -w and --json only");
		service = SVC_ADMIN;
	} else {
		if (optind + 1 != argc)
			usage_error("%s", "recv/watch need exactly one SERVICE number");
		errno = 0;
		service = strtoull(argv[optind], &end, 10);
		if (errno || *end || *argv[optind] == '-' || *argv[optind] == '\0' || service > SERVICE_MAX)
			usage_error("'%s' is not a service number (0 .. " NODE_MAX_TEXT ")", argv[optind]);
	}
	if (outdir && access(outdir, W_OK) < 0)
		return fail(EXIT_USAGE, "%s: %s", outdir, strerror(errno));
	fd = connect_daemon();
	req = json_pack("{s:s, s:I, s:I, s:b}", "op", "recv", "service", (json_int_t)service,
	    "count", (json_int_t)count, "wait", wait);
	if (client_send(fd, req, NULL, -1, 0, NULL) < 0)
		lost_daemon();
	json_decref(req);
	/* Waiting for bundles to arrive is what was asked: no deadline on it. */
	if (wait)
		client_set_timeout(-1);
	while ((ev = client_recv(fd)) != NULL) {
		const char *event = jstr(ev, "event");
		struct sink s = { .text = true };
		char path[4096];
		int64_t rowid;

		if (!json_is_true(json_object_get(ev, "ok")) && strcmp(event, "bundle") != 0)
			return refused(ev);
		if (strcmp(event, "end") == 0)
			break;
		rowid = (int64_t)jint(ev, "rowid");
		if (outdir) {
			snprintf(path, sizeof(path), "%s/bundle-%" PRIu64 "-%" PRId64 ".bin", outdir,
			    (uint64_t)time(NULL), rowid);
			if ((s.fp = fopen(path, "wx")) == NULL)
				return fail(EXIT_REFUSED, "%s: %s", path, strerror(errno));
		} else if (raw) {
			s.fp = stdout;
		}
		if (client_body(fd, jint(ev, "body"), sink_write, &s) < 0)
			lost_daemon();
		if (outdir && fclose(s.fp) != 0)
			return fail(EXIT_REFUSED, "%s: %s", path, strerror(errno));
		s.preview[s.plen] = '\0';
		if (reports) {
			json_object_del(ev, "ok");
			json_object_del(ev, "body");
			print_report(ev, (const uint8_t *)s.preview, s.plen);
		} else if (raw) {
			fflush(stdout);
		} else if (opt.json) {
			json_object_del(ev, "ok");
			json_object_set_new(ev, "size", json_integer((json_int_t)jint(ev, "body")));
			json_object_del(ev, "body");
			if (outdir)
				json_object_set_new(ev, "file", json_string(path));
			else if (s.text && s.plen == jint(ev, "size"))
				json_object_set_new(ev, "text", json_stringn_nocheck(s.preview, s.plen));
			print_json(ev);
		} else {
			printf("from %s to %s [%s] %" PRIu64 " bytes, id %s\n", jstr(ev, "src"), jstr(ev, "dst"),
			    jstr(ev, "class"), jint(ev, "body"), jstr(ev, "id"));
			if (outdir)
				printf("  saved to %s\n", path);
			else if (s.text && s.plen == jint(ev, "body"))
				printf("  %s\n", s.preview);
			else
				printf("  (binary or long payload: use -o DIR or --raw)\n");
			fflush(stdout);
		}
		/* Only now, with the payload out, may the daemon let it go. */
		req = json_pack("{s:s, s:I}", "op", "ack", "rowid", (json_int_t)rowid);
		if (client_send(fd, req, NULL, -1, 0, NULL) < 0)
			lost_daemon();
		json_decref(req);
		json_decref(ev);
		got++;
	}
	if (ev == NULL)
		lost_daemon();
	json_decref(ev);
	if (!opt.json && !raw && got == 0 && reports)
		fprintf(stderr, "fieldrelay: no status reports waiting\n");
	else if (!opt.json && !raw && got == 0)
		fprintf(stderr, "fieldrelay: nothing waiting for service %" PRIu64 "\n", service);
	close(fd);
	return 0;
}

/* ---- config-check, bundle dump ---- */

static int
cmd_config_check(int argc, char **argv)
{
	static struct config cfg;
	char err[4096];
	json_t *r;
	int fd, ch;

	if (argc > 2)
		usage_error("config-check takes at most one FILE (got '%s')", argv[2]);
	if (argc == 2) {
		if (config_load(argv[1], &cfg, err, sizeof(err)) < 0) {
			if (opt.json) {
				json_t *o = json_pack("{s:b, s:s, s:s, s:s}", "ok", 0, "path", argv[1], "errors", err,
				    "error", err);

				print_json(o);
				json_decref(o);
			} else {
				fputs(err, stderr);
			}
			return EXIT_USAGE;
		}
		if (opt.json) {
			json_t *o = json_pack("{s:b, s:s}", "ok", 1, "path", argv[1]);

			print_json(o);
			json_decref(o);
		} else
			printf("%s: configuration OK (node ipn:%" PRIu64 ", store %s, socket %s)\n", argv[1],
			    cfg.node_id, cfg.store_path, cfg.socket_path);
		return 0;
	}
	fd = connect_daemon();
	if ((r = client_call(fd, json_pack("{s:s}", "op", "config-check"))) == NULL)
		lost_daemon();
	if (opt.json) {
		if (!json_is_true(json_object_get(r, "ok")) && !json_object_get(r, "error"))
			json_object_set(r, "error", json_object_get(r, "errors"));
		print_json(r);
	} else if (json_is_true(json_object_get(r, "ok"))) {
		printf("%s: configuration OK\n", jstr(r, "path"));
		if (*jstr(r, "changes"))
			printf("differences from the running configuration:\n%s", jstr(r, "changes"));
	} else {
		fputs(jstr(r, "errors"), stderr);
	}
	ch = json_is_true(json_object_get(r, "ok")) ? 0 : EXIT_USAGE;
	json_decref(r);
	close(fd);
	return ch;
}

static int
cmd_bundle(int argc, char **argv)
{
	const char *file = NULL;
	bool json = opt.json;

	if (argc < 2 || strcmp(argv[1], "dump") != 0)
		usage_error("%s", "usage: fieldrelay bundle dump [--json] FILE");
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			json = true;
		else if (file == NULL)
			file = argv[i];
		else
			usage_error("unexpected argument '%s'", argv[i]);
	}
	if (file == NULL)
		usage_error("%s", "bundle dump needs a FILE");
	return dump_bundle_file(file, json, stdout) == 0 ? 0 : EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cmd;
	char *end;
	double t;
	int ch;

	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "+s:c:jt:hV", lo, NULL)) != -1) {
		switch (ch) {
		case 's': opt.socket = optarg; break;
		case 'c': opt.config = optarg; break;
		case 'j': opt.json = true; break;
		case 't':
			errno = 0;
			t = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(t >= 0 && t <= 86400))
				usage_error("--timeout '%s' is not a number of seconds (0 .. 86400; 0 waits for ever)", optarg);
			client_set_timeout(t == 0 ? -1 : t * 1000 < 1 ? 1 : (int)(t * 1000));
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V': printf("fieldrelay %s\n", FIELDRELAY_VERSION); return 0;
		default: usage_error("%s", "bad option");
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 1;
	if (strcmp(cmd, "status") == 0)
		return cmd_status(argc, argv);
	if (strcmp(cmd, "queue") == 0)
		return cmd_queue(argc, argv);
	if (strcmp(cmd, "send") == 0)
		return cmd_send(argc, argv);
	if (strcmp(cmd, "recv") == 0)
		return do_recv(argc, argv, RECV_TAKE);
	if (strcmp(cmd, "watch") == 0)
		return do_recv(argc, argv, RECV_WATCH);
	if (strcmp(cmd, "reports") == 0)
		return do_recv(argc, argv, RECV_REPORTS);
	if (strcmp(cmd, "flood") == 0)
		return cmd_flood(argc, argv);
	if (strcmp(cmd, "config-check") == 0)
		return cmd_config_check(argc, argv);
	if (strcmp(cmd, "neighbors") == 0 || strcmp(cmd, "neighbours") == 0)
		return cmd_neighbors(argc, argv);
	if (strcmp(cmd, "links") == 0)
		return cmd_links(argc, argv);
	if (strcmp(cmd, "routes") == 0)
		return cmd_routes(argc, argv);
	if (strcmp(cmd, "bundle") == 0)
		return cmd_bundle(argc, argv);
	if (strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	usage_error("unknown command '%s'", cmd);
}
