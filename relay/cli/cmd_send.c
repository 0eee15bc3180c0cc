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
#include "client.h"
#include "command.h"
#include "config.h"
#include "service.h"

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
				return cli_fail(CLI_EXIT_REFUSED, "out of memory");
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
				if (cli_opt.json)
					cli_print_json(r);
				else
					printf("accepted %s %" PRIu64 "\n", cli_jstr(r, "id"), cli_jint(r, "tag"));
			} else {
				failed++;
				rc = CLI_EXIT_REFUSED;
				if (cli_opt.json)
					cli_print_json(r);
				else
					printf("refused %" PRIu64 " %s: %s\n", cli_jint(r, "tag"), cli_jstr(r, "code"), cli_jstr(r, "error"));
			}
			fflush(stdout);
			json_decref(r);
		}
	}
	if (writefail)
		goto lost;
	free(line);
	free(buf);
	if (!cli_opt.json)
		fprintf(stderr, "fieldrelay: %" PRIu64 " accepted, %" PRIu64 " refused\n", accepted, failed);
	return rc;
lost:
	free(line);
	free(buf);
	return cli_fail(CLI_EXIT_NODAEMON, "%s: %" PRIu64 " accepted, %" PRIu64 " refused, %" PRIu64
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
	json_t *req, *r;
	struct eid eid;
	char *text = NULL, *end;
	size_t tlen = 0;
	uint64_t v;
	int ch, fd, body_fd = -1, rc = 0;
	struct stat sb;

	req = json_pack("{s:s}", "op", "send");
	show_progress = isatty(2);
	while ((ch = getopt_long(argc, argv, "+f:p:l:S:r:K:NbPjh", lo, NULL)) != -1) {
		switch (ch) {
		case 'f': file = optarg; break;
		case 'p':
			if (prio_parse(optarg) < 0 || prio_parse(optarg) == PRIO_REALTIME)
				cli_usage_error("'%s' is not a priority class (urgent, position, voicemsg, message, telemetry, bulk)", optarg);
			json_object_set_new(req, "priority", json_string(prio_name(prio_parse(optarg))));
			break;
		case 'l':
			if (config_parse_duration(optarg, &v) < 0 || v == 0 || v > 365 * 86400)
				cli_usage_error("'%s' is not a lifetime (e.g. 90s, 30m, 24h, 7d; at most 365d)", optarg);
			json_object_set_new(req, "lifetime", json_integer((json_int_t)v));
			break;
		case 'S':
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || *end || *optarg == '-' || *optarg == '\0' || v > SERVICE_MAX)
				cli_usage_error("'%s' is not a service number (0 .. " NODE_MAX_TEXT ")", optarg);
			json_object_set_new(req, "service", json_integer((json_int_t)v));
			break;
		case 'r': json_object_set_new(req, "report", report_list(optarg)); break;
		case 'K':
			if (*optarg == '\0' || strlen(optarg) > SUPERSEDE_KEY_MAX)
				cli_usage_error("--supersede needs a KEY of 1 .. %d characters", SUPERSEDE_KEY_MAX);
			json_object_set_new(req, "supersede", json_string(optarg));
			break;
		case 'N': json_object_set_new(req, "supersede", json_false()); break;
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
	json_object_set_new(req, "dst", json_string(dst));

	if (batch) {
		if (file || optind < argc)
			cli_usage_error("%s", "--batch reads its messages from stdin, one per line");
		fd = cli_connect();
		rc = send_batch(fd, req);
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
	json_object_set_new(req, "body", json_integer((json_int_t)tlen));
	json_object_set_new(req, "tag", json_integer(1));
	fd = cli_connect();
	if (tlen < 1u << 20)
		show_progress = false;
	if (client_send(fd, req, text ? text : (body_fd < 0 ? "" : NULL), body_fd, tlen, send_progress) < 0 ||
	    (r = client_recv(fd)) == NULL)
		cli_lost_daemon();
	if (!json_is_true(json_object_get(r, "ok"))) {
		rc = cli_refused(r);
		goto out;
	}
	if (cli_opt.json)
		cli_print_json(r);
	else
		printf("accepted %s\n", cli_jstr(r, "id"));
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

