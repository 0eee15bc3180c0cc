/*
 * cmd_recv.c - `fieldrelay recv`, `watch` and `reports`: take the bundles
 * for a local service (or the status reports for this node), acknowledging
 * each only once its payload is out.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "bundle.h"
#include "cli.h"
#include "command.h"
#include "service.h"

struct sink {
	FILE *fp;
	bool text;			/* printable so far */
	char preview[4096];
	size_t plen;
	json_t *json;
};

static int
sink_write(void *arg, const void *data, size_t n)
{
	struct sink *s = arg;
	const uint8_t *p = data;

	if (s->fp && fwrite(p, 1, n, s->fp) != n)
		exit(cli_fail(CLI_EXIT_REFUSED, "write: %s", strerror(errno)));
	for (size_t i = 0; i < n && s->plen < sizeof(s->preview) - 1; i++) {
		if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\t' && p[i] != '\r') || p[i] == 0x7f)
			s->text = false;
		s->preview[s->plen++] = (char)p[i];
	}
	return 0;
}

/*
 * The next message of the stream as the daemon sent it (the library's
 * message level, so that --json passes on every field the daemon gives a
 * bundle, as it always did); NULL with *r set if there is none.
 */
static json_t *
next_event(struct fr *c, int *r)
{
	char *text;
	json_t *ev;

	if ((*r = fr_read_msg(c, &text)) < 0)
		return NULL;
	ev = json_loads(text, 0, NULL);
	free(text);
	if (ev == NULL)
		*r = -EPROTO;
	return ev;
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
		if (cli_opt.json) {
			json_object_set_new(ev, "error", json_string(why));
			cli_print_json(ev);
		} else {
			printf("from %s: not a status report (%s)\n", cli_jstr(ev, "src"), why);
		}
		return;
	}
	if (!cli_opt.json) {
		admin_format(&sr, line, sizeof(line));
		printf("%s reports %s\n", cli_jstr(ev, "src"), line);
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
	cli_print_json(ev);
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
		{ "name", required_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *outdir = NULL, *name = NULL;
	bool wait = watch, raw = false;
	uint64_t count = 0, service, got = 0;
	struct fr *c;
	json_t *ev;
	char *end;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "+n:wo:RN:jh", lo, NULL)) != -1) {
		switch (ch) {
		case 'n':
			errno = 0;
			count = strtoull(optarg, &end, 10);
			if (errno || *end || *optarg == '-' || count == 0 || watch)
				cli_usage_error("'%s' is not a positive count (and watch takes none)", optarg);
			break;
		case 'w': wait = true; break;
		case 'o': outdir = optarg; break;
		case 'R': raw = true; break;
		case 'N': name = optarg; break;
		case 'j': cli_opt.json = true; break;
		case 'h': command_help_exit(cli_opt.command);
		default: cli_usage_error("%s", "bad recv option");
		}
	}
	if (reports) {
		if (optind != argc || outdir || raw || name)
			cli_usage_error("%s", "reports takes -n N, -w and --json only");
		service = SVC_ADMIN;
	} else {
		if (optind + 1 != argc)
			cli_usage_error("%s", "recv/watch need exactly one SERVICE number");
		errno = 0;
		service = strtoull(argv[optind], &end, 10);
		if (errno || *end || *argv[optind] == '-' || *argv[optind] == '\0' || service > SERVICE_MAX)
			cli_usage_error("'%s' is not a service number (0 .. " NODE_MAX_TEXT ")", argv[optind]);
	}
	if (outdir && access(outdir, W_OK) < 0)
		return cli_fail(CLI_EXIT_USAGE, "%s: %s", outdir, strerror(errno));
	c = cli_connect();
	if ((r = fr_recv_start(c, service, name, count, wait)) < 0)
		cli_lost_daemon(c, r);
	/* Waiting for bundles to arrive is what was asked: no deadline on it. */
	if (wait)
		fr_set_timeout(c, -1);
	while ((ev = next_event(c, &r)) != NULL) {
		const char *event = cli_jstr(ev, "event");
		struct sink s = { .text = true };
		char path[4096];
		int64_t rowid;

		if (!json_is_true(json_object_get(ev, "ok")) && strcmp(event, "bundle") != 0)
			return cli_refused(ev);
		if (strcmp(event, "end") == 0)
			break;
		rowid = (int64_t)cli_jint(ev, "rowid");
		if (outdir) {
			snprintf(path, sizeof(path), "%s/bundle-%" PRIu64 "-%" PRId64 ".bin", outdir,
			    (uint64_t)time(NULL), rowid);
			if ((s.fp = fopen(path, "wx")) == NULL)
				return cli_fail(CLI_EXIT_REFUSED, "%s: %s", path, strerror(errno));
		} else if (raw) {
			s.fp = stdout;
		}
		if ((r = fr_read_body(c, cli_jint(ev, "body"), sink_write, &s)) < 0)
			cli_lost_daemon(c, r);
		if (outdir && fclose(s.fp) != 0)
			return cli_fail(CLI_EXIT_REFUSED, "%s: %s", path, strerror(errno));
		s.preview[s.plen] = '\0';
		if (reports) {
			json_object_del(ev, "ok");
			json_object_del(ev, "body");
			print_report(ev, (const uint8_t *)s.preview, s.plen);
		} else if (raw) {
			fflush(stdout);
		} else if (cli_opt.json) {
			json_object_del(ev, "ok");
			json_object_set_new(ev, "size", json_integer((json_int_t)cli_jint(ev, "body")));
			json_object_del(ev, "body");
			if (outdir)
				json_object_set_new(ev, "file", json_string(path));
			else if (s.text && s.plen == cli_jint(ev, "size"))
				json_object_set_new(ev, "text", json_stringn_nocheck(s.preview, s.plen));
			cli_print_json(ev);
		} else {
			printf("from %s to %s [%s] %" PRIu64 " bytes, id %s\n", cli_jstr(ev, "src"), cli_jstr(ev, "dst"),
			    cli_jstr(ev, "class"), cli_jint(ev, "body"), cli_jstr(ev, "id"));
			if (outdir)
				printf("  saved to %s\n", path);
			else if (s.text && s.plen == cli_jint(ev, "body"))
				printf("  %s\n", s.preview);
			else
				printf("  (binary or long payload: use -o DIR or --raw)\n");
			fflush(stdout);
		}
		/* Only now, with the payload out, may the daemon let it go. */
		if ((r = fr_ack(c, rowid)) < 0)
			cli_lost_daemon(c, r);
		json_decref(ev);
		got++;
	}
	if (ev == NULL)
		cli_lost_daemon(c, r);
	json_decref(ev);
	if (!cli_opt.json && !raw && got == 0 && reports)
		fprintf(stderr, "fieldrelay: no status reports waiting\n");
	else if (!cli_opt.json && !raw && got == 0)
		fprintf(stderr, "fieldrelay: nothing waiting for service %" PRIu64 "\n", service);
	fr_close(c);
	return 0;
}

/* `registrations`: every durable registration and how many bundles wait for each. */
int
cmd_registrations(int argc, char **argv)
{
	json_t *r, *row;
	size_t i;
	int rc;

	if ((r = cli_simple_call(argc, argv, "registrations", &rc)) == NULL)
		return rc;
	if (json_array_size(json_object_get(r, "registrations")) == 0) {
		printf("no registrations\n");
	} else {
		printf("%-20s %-24s %10s  %s\n", "SERVICE", "NAME", "WAITING", "SINCE");
		json_array_foreach(json_object_get(r, "registrations"), i, row) {
			time_t t = (time_t)(cli_jint(row, "created") / 1000);
			char when[32];
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
			printf("%-20" PRIu64 " %-24s %10" PRIu64 "  %s\n", cli_jint(row, "service"), cli_jstr(row, "name"),
			    cli_jint(row, "pending"), when);
		}
	}
	json_decref(r);
	return 0;
}

/* `unregister SERVICE NAME`: the registration goes, with what only it still waited for. */
int
cmd_unregister(int argc, char **argv)
{
	json_t *req, *r;
	uint64_t service;
	struct fr *c;
	char *end, *text;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
		command_help_exit(cli_opt.command);
	if (argc != 3)
		cli_usage_error("%s", "unregister needs a SERVICE number and a registration NAME");
	errno = 0;
	service = strtoull(argv[1], &end, 10);
	if (errno || *end || *argv[1] == '-' || *argv[1] == '\0' || service > SERVICE_MAX)
		cli_usage_error("'%s' is not a service number (0 .. " NODE_MAX_TEXT ")", argv[1]);
	if ((req = json_pack("{s:s, s:I, s:s}", "op", "unregister", "service", (json_int_t)service, "name",
	    argv[2])) == NULL)
		cli_usage_error("%s", "the NAME is not UTF-8 text");
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	c = cli_connect();
	r = cli_call(c, text);
	free(text);
	fr_close(c);
	if (!json_is_true(json_object_get(r, "ok")))
		return cli_refused(r);
	if (cli_opt.json)
		cli_print_json(r);
	else
		printf("registration '%s' of service %" PRIu64 " removed\n", argv[2], service);
	json_decref(r);
	return 0;
}

int
cmd_recv(int argc, char **argv)
{
	return do_recv(argc, argv, RECV_TAKE);
}

int
cmd_watch(int argc, char **argv)
{
	return do_recv(argc, argv, RECV_WATCH);
}

int
cmd_reports(int argc, char **argv)
{
	return do_recv(argc, argv, RECV_REPORTS);
}
