/*
 * cli.h - what the commands of `fieldrelay` share: the global options, the
 * exit codes, error and output helpers, and the way to the daemon (through
 * libfieldrelay, relay/app/fieldrelay.h, as every agent talks to it).
 *
 * Every command lives in a cmd_*.c file and is a row of the command table
 * (command.c), from which the help texts are generated.
 */
#ifndef FIELDRELAY_CLI_H
#define FIELDRELAY_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "fieldrelay.h"

/* Exit status of every command (and of `fieldrelay --help`). */
#define CLI_EXIT_OK		0
#define CLI_EXIT_REFUSED	1	/* the daemon refused or failed */
#define CLI_EXIT_USAGE		2	/* bad usage or input */
#define CLI_EXIT_NODAEMON	3	/* the daemon cannot be reached */

struct command;

/* The options given before the command (main.c parses them). */
struct cli_options {
	const char *socket;		/* -s */
	const char *config;		/* -c */
	const char *timeout;		/* -t, as given (passed on to agents) */
	int timeout_ms;			/* -t: per call (-1: for ever); FR_TIMEOUT_MS */
	bool json;			/* -j; a command may also set it */
	const struct command *command;	/* the one running, for its help hint */
};
extern struct cli_options cli_opt;

/* Say "fieldrelay: MSG" on stderr (and {"ok": false, "error": MSG} with --json); return rc. */
int cli_fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, a hint to the running command's help, and exit(CLI_EXIT_USAGE). */
void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* One JSON object on one line of stdout, flushed. */
void cli_print_json(json_t *o);

/* The control socket: -s, the config of -c, $FIELDRELAY_SOCKET, /etc, the default. */
const char *cli_socket_path(void);
/* Connect to the daemon, or exit(CLI_EXIT_NODAEMON) saying why. */
struct fr *cli_connect(void);
/*
 * A call on c failed with r (-errno): the daemon went away or stopped
 * answering, exit(CLI_EXIT_NODAEMON); or the request could not be made
 * (not UTF-8, too long), exit(CLI_EXIT_USAGE).
 */
void cli_lost_daemon(struct fr *c, int r) __attribute__((noreturn));
/* One request (json text) on c, its answer (never NULL: cli_lost_daemon() else). */
json_t *cli_call(struct fr *c, const char *json);
/* Report the daemon's refusal r (freed) and return CLI_EXIT_REFUSED. */
int cli_refused(json_t *r);
/*
 * One request op without arguments: the answer for the caller's human
 * output, or NULL once the JSON form was printed or the refusal reported
 * (*rc says which exit status).  Usage error if argv has arguments.
 */
json_t *cli_simple_call(int argc, char **argv, const char *op, int *rc);

/* 1536 -> "1.5 KiB". */
void cli_human_bytes(uint64_t n, char *out, size_t cap);
/* A member of o as an unsigned integer (0 if missing) or a string ("" if missing). */
uint64_t cli_jint(json_t *o, const char *key);
const char *cli_jstr(json_t *o, const char *key);

#endif
