/*
 * cli.c - what the commands of `fieldrelay` share (see cli.h): errors, the
 * JSON output, finding and calling the daemon.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "command.h"
#include "config.h"

struct cli_options cli_opt = { .timeout_ms = FR_TIMEOUT_MS };

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
	if (cli_opt.json && (o = json_pack("{s:b, s:s}", "ok", 0, "error", msg)) != NULL) {
		cli_print_json(o);
		json_decref(o);
	}
}

int
cli_fail(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say_error(fmt, ap);
	va_end(ap);
	return rc;
}

void
cli_usage_error(const char *fmt, ...)
{
	const struct command *c = cli_opt.command;
	va_list ap;

	va_start(ap, fmt);
	say_error(fmt, ap);
	va_end(ap);
	/* The command's own page says what it takes; `help` has none more useful than the list. */
	if (c && strcmp(c->name, "help") != 0)
		fprintf(stderr, "Try 'fieldrelay %s --help'.\n", c->name);
	else
		fprintf(stderr, "Try 'fieldrelay --help'.\n");
	exit(CLI_EXIT_USAGE);
}

void
cli_print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	if (s) {
		puts(s);
		free(s);
	}
	fflush(stdout);
}

const char *
cli_socket_path(void)
{
	static struct config cfg;
	char err[4096];
	const char *env;

	if (cli_opt.socket)
		return cli_opt.socket;
	if (cli_opt.config) {
		if (config_load(cli_opt.config, &cfg, err, sizeof(err)) < 0) {
			if (!cli_opt.json) {
				fputs(err, stderr);
				exit(CLI_EXIT_USAGE);
			}
			if (*err && err[strlen(err) - 1] == '\n')
				err[strlen(err) - 1] = '\0';
			exit(cli_fail(CLI_EXIT_USAGE, "%s", err));
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

struct fr *
cli_connect(void)
{
	char err[512];
	struct fr *c = fr_open(cli_socket_path(), cli_opt.timeout_ms, err, sizeof(err));

	if (c == NULL)
		exit(cli_fail(CLI_EXIT_NODAEMON, "%s", err));
	return c;
}

void
cli_lost_daemon(struct fr *c, int r)
{
	int t = cli_opt.timeout_ms;

	if (r == -EINVAL || r == -EMSGSIZE)
		exit(cli_fail(CLI_EXIT_USAGE, "%s", fr_error(c)));
	if (r == -ETIMEDOUT)
		exit(cli_fail(CLI_EXIT_NODAEMON, "fieldrelayd did not answer within %d.%03d s (--timeout SECONDS waits longer)",
		    t / 1000, t % 1000));
	/* -EPIPE: the daemon closed the connection (or reset it) */
	exit(cli_fail(CLI_EXIT_NODAEMON, "lost the connection to fieldrelayd%s%s", r != -EPIPE ? ": " : "",
	    r != -EPIPE ? strerror(-r) : ""));
}

json_t *
cli_call(struct fr *c, const char *json)
{
	char *reply;
	json_t *r;
	int e;

	if ((e = fr_request(c, json, &reply)) < 0)
		cli_lost_daemon(c, e);
	r = json_loads(reply, 0, NULL);
	free(reply);
	if (r == NULL)
		exit(cli_fail(CLI_EXIT_NODAEMON, "fieldrelayd sent an answer that is not JSON"));
	return r;
}

int
cli_refused(json_t *r)
{
	if (cli_opt.json)
		cli_print_json(r);
	else
		fprintf(stderr, "fieldrelay: %s\n", json_is_string(json_object_get(r, "error")) ?
		    json_string_value(json_object_get(r, "error")) : "refused");
	json_decref(r);
	return CLI_EXIT_REFUSED;
}

json_t *
cli_simple_call(int argc, char **argv, const char *op, int *rc)
{
	char req[64];
	struct fr *c;
	json_t *r;

	if (argc > 1)
		cli_usage_error("%s takes no arguments (got '%s')", op, argv[1]);
	snprintf(req, sizeof(req), "{\"op\": \"%s\"}", op);
	c = cli_connect();
	r = cli_call(c, req);
	fr_close(c);
	*rc = 0;
	if (!json_is_true(json_object_get(r, "ok"))) {
		*rc = cli_refused(r);
		return NULL;
	}
	if (cli_opt.json) {
		cli_print_json(r);
		json_decref(r);
		return NULL;
	}
	return r;
}

void
cli_human_bytes(uint64_t n, char *out, size_t cap)
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

uint64_t
cli_jint(json_t *o, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(o, key));
}

const char *
cli_jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}
