/*
 * cmd_send.c - `fieldrelay send`: text, a file, stdin, or one bundle per
 * stdin line (--batch, pipelined), each acknowledged once stored durably.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "bundle.h"
#include "cli.h"
#include "command.h"
#include "config.h"
#include "service.h"

static bool show_progress;

static void
send_progress(void *arg, uint64_t done, uint64_t total)
{
	static time_t last;
	time_t now = time(NULL);

	if (!show_progress || (now == last && done != total))
		return;
	last = now;
	fprintf(stderr, "\rsending: %3d%% (%" PRIu64 " of %" PRIu64 " bytes)%s",
	    (int)(total ? done * 100 / total : 100), done, total, done == total ? "\n" : "");
}

/* The daemon's answer to one send as it puts it on the wire: the --json view. */
static json_t *
sent_json(const struct fr_sent *s)
{
	if (s->ok)
		return json_pack("{s:b, s:s, s:I}", "ok", 1, "id", s->id, "tag", (json_int_t)s->ticket);
	return json_pack("{s:b, s:s, s:s, s:I}", "ok", 0, "code", s->code, "error", s->error,
	    "tag", (json_int_t)s->ticket);
}

struct batch {
	uint64_t sent, answered, accepted, failed;
	int rc;
};

/* One line's answer, in the order sent. */
static void
batch_answer(void *arg, const struct fr_sent *s)
{
	struct batch *b = arg;
	json_t *o;

	b->answered++;
	if (s->ok)
		b->accepted++;
	else {
		b->failed++;
		b->rc = CLI_EXIT_REFUSED;
	}
	if (cli_opt.json) {
		o = sent_json(s);
		cli_print_json(o);
		json_decref(o);
	} else if (s->ok) {
		printf("accepted %s %" PRIu64 "\n", s->id, s->ticket);
	} else {
		printf("refused %" PRIu64 " %s: %s\n", s->ticket, s->code, s->error);
	}
	fflush(stdout);
}

/*
 * --batch: each stdin line is one bundle, pipelined by the library (a
 * window of them in flight at once, written in blocks).
 */
static int
send_batch(struct fr *c, const struct fr_send *tmpl)
{
	struct batch b = { 0 };
	char *line = NULL;
	size_t lcap = 0;
	ssize_t n;
	int r = 0;

	while ((n = getline(&line, &lcap, stdin)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		b.sent++;
		if ((r = fr_send_async(c, tmpl, line, -1, (uint64_t)n, batch_answer, &b, NULL)) < 0)
			break;
	}
	free(line);
	/* All sent, or the daemon went away while we wrote: collect the answers it did send. */
	if (r == 0 || r == -EPIPE)
		r = fr_send_wait(c, 0);
	if (r == -EINVAL || r == -EMSGSIZE || r == -ENOMEM)
		return cli_fail(r == -ENOMEM ? CLI_EXIT_REFUSED : CLI_EXIT_USAGE, "%s", fr_error(c));
	if (r < 0)	/* the rest were never confirmed */
		return cli_fail(CLI_EXIT_NODAEMON, "%s: %" PRIu64 " accepted, %" PRIu64 " refused, %" PRIu64
		    " not confirmed (they may or may not be stored)", r == -ETIMEDOUT ?
		    "fieldrelayd stopped answering (--timeout SECONDS waits longer)" : "lost the connection to fieldrelayd",
		    b.accepted, b.failed, b.sent - b.answered);
	if (!cli_opt.json)
		fprintf(stderr, "fieldrelay: %" PRIu64 " accepted, %" PRIu64 " refused\n", b.accepted, b.failed);
	return b.rc;
}

/* The answer to a single send. */
static void
one_answer(void *arg, const struct fr_sent *s)
{
	*(json_t **)arg = sent_json(s);
}

/* "delivered,forwarded" -> ["delivered", "forwarded"], checked here. */
static json_t *
report_list(const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *w;
	json_t *a = json_array();
	uint64_t f;

	if (copy == NULL)
		cli_usage_error("%s", "out of memory");
	for (w = strtok_r(copy, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
		if (admin_report_flag(w, &f) < 0)
			cli_usage_error("'%s' is not a status report (received, forwarded, delivered, deleted, all, time)",
			    w);
		json_array_append_new(a, json_string(w));
	}
	free(copy);
	if (json_array_size(a) == 0)
		cli_usage_error("%s", "--report needs a list, e.g. delivered,forwarded");
	return a;
}

int
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *file = NULL, *dst;
	bool batch = false, from_stdin = false;
	struct fr_send req = { 0 };
	json_t *report = NULL, *r = NULL;
	struct fr *c = NULL;
	struct eid eid;
	char *text = NULL, *end, *report_text = NULL;
	size_t tlen = 0;
	uint64_t v;
	int ch, body_fd = -1, rc = 0, e;
	struct stat sb;

	show_progress = isatty(2);
	while ((ch = getopt_long(argc, argv, "+f:p:l:S:r:K:NbPjh", lo, NULL)) != -1) {
		switch (ch) {
		case 'f': file = optarg; break;
		case 'p':
			if (prio_parse(optarg) < 0 || prio_parse(optarg) == PRIO_REALTIME)
				cli_usage_error("'%s' is not a priority class (urgent, position, voicemsg, message, telemetry, bulk)", optarg);
			req.priority = prio_name(prio_parse(optarg));
			break;
		case 'l':
			if (config_parse_duration(optarg, &v) < 0 || v == 0 || v > 365 * 86400)
				cli_usage_error("'%s' is not a lifetime (e.g. 90s, 30m, 24h, 7d; at most 365d)", optarg);
			req.lifetime = v;
			break;
		case 'S':
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || *end || *optarg == '-' || *optarg == '\0' || v > SERVICE_MAX)
				cli_usage_error("'%s' is not a service number (0 .. " NODE_MAX_TEXT ")", optarg);
			req.service = v;
			req.service_set = true;
			break;
		case 'r':
			json_decref(report);
			report = report_list(optarg);
			break;
		case 'K':
			if (*optarg == '\0' || strlen(optarg) > SUPERSEDE_KEY_MAX)
				cli_usage_error("--supersede needs a KEY of 1 .. %d characters", SUPERSEDE_KEY_MAX);
			req.supersede = optarg;
			break;
		case 'N': req.supersede = ""; break;
		case 'b': batch = true; break;
		case 'P': show_progress = true; break;
		case 'j': cli_opt.json = true; break;
		case 'h': command_help_exit(cli_opt.command);
		default: cli_usage_error("%s", "bad send option");
		}
	}
	if (optind >= argc)
		cli_usage_error("%s", "send needs a destination, e.g. ipn:1.5");
	dst = argv[optind++];
	if (eid_parse(&eid, dst) < 0)
		cli_usage_error("'%s' is not an endpoint ID (ipn:NODE.SERVICE, or dtn://NODE/SERVICE)", dst);
	if (eid.scheme == EID_IPN && (eid.node > NODE_MAX || eid.service > SERVICE_MAX))
		cli_usage_error("'%s': node and service numbers go up to " NODE_MAX_TEXT, dst);
	req.dst = dst;
	if (report && (req.report = report_text = json_dumps(report, JSON_COMPACT)) == NULL)
		cli_usage_error("%s", "out of memory");

	if (batch) {
		if (file || optind < argc)
			cli_usage_error("%s", "--batch reads its messages from stdin, one per line");
		c = cli_connect();
		rc = send_batch(c, &req);
		goto out;
	}
	if (optind < argc && strcmp(argv[optind], "-") == 0 && optind + 1 == argc)
		from_stdin = true;
	if (file && optind < argc)
		cli_usage_error("%s", "give either text or --file, not both");
	if (file) {
		if ((body_fd = open(file, O_RDONLY | O_CLOEXEC)) < 0 || fstat(body_fd, &sb) < 0) {
			rc = cli_fail(CLI_EXIT_USAGE, "%s: %s", file, strerror(errno));
			goto out;
		}
		if (!S_ISREG(sb.st_mode)) {
			rc = cli_fail(CLI_EXIT_USAGE, "%s: not a regular file", file);
			goto out;
		}
		if ((uint64_t)sb.st_size > BUNDLE_MAX_SIZE - 65536) {
			rc = cli_fail(CLI_EXIT_USAGE, "%s: file too big (%lld bytes; a bundle carries at most 16 MiB)",
			    file, (long long)sb.st_size);
			goto out;
		}
		tlen = (size_t)sb.st_size;
	} else if (from_stdin || optind == argc) {
		/* Read stdin, but never more than a bundle can carry. */
		size_t cap = 0;
		ssize_t n;

		if (optind == argc && isatty(0))
			cli_usage_error("%s", "send needs TEXT, --file FILE, or '-' for stdin");
		for (;;) {
			if (tlen == cap) {
				cap = cap ? cap * 2 : 65536;
				if (cap > BUNDLE_MAX_SIZE || (text = realloc(text, cap)) == NULL) {
					rc = cli_fail(CLI_EXIT_USAGE, "stdin: too big for one bundle (16 MiB at most)");
					goto out;
				}
			}
			if ((n = read(0, text + tlen, cap - tlen)) < 0) {
				if (errno == EINTR)
					continue;
				rc = cli_fail(CLI_EXIT_USAGE, "stdin: %s", strerror(errno));
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
			rc = CLI_EXIT_REFUSED;
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
	c = cli_connect();
	if (tlen < 1u << 20)
		show_progress = false;
	fr_send_progress(c, send_progress, NULL);
	if ((e = fr_send_async(c, &req, text, body_fd, tlen, one_answer, &r, NULL)) < 0 ||
	    (e = fr_send_wait(c, 0)) < 0)
		cli_lost_daemon(c, e);
	if (!json_is_true(json_object_get(r, "ok"))) {
		rc = cli_refused(r);
		goto out;
	}
	if (cli_opt.json)
		cli_print_json(r);
	else
		printf("accepted %s\n", cli_jstr(r, "id"));
	json_decref(r);
	rc = 0;
out:
	fr_close(c);
	json_decref(report);
	free(report_text);
	free(text);
	if (body_fd >= 0)
		close(body_fd);
	return rc;
}

