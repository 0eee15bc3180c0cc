/*
 * command.h - the command table of `fieldrelay`: one row per built-in
 * command, from which dispatch, the command list of `fieldrelay --help` and
 * every `fieldrelay CMD --help` (= `fieldrelay help CMD`) come.
 */
#ifndef FIELDRELAY_CLI_COMMAND_H
#define FIELDRELAY_CLI_COMMAND_H

#include <stdbool.h>
#include <stdio.h>

/*
 * A command's handler gets argv[0] = its name and the arguments after it
 * (getopt's optind reset to 1); it returns the exit status.
 */
typedef int command_fn(int argc, char **argv);

struct command {
	const char *name;
	const char *const *aliases;	/* other names, NULL-terminated; or NULL */
	command_fn *run;
	const char *summary;		/* one line for the command list; "fieldrelay NAME - SUMMARY"
					 * heads the help, within 80 columns */
	const char *synopsis;		/* what follows the name, one usage form a line */
	const char *description;	/* paragraphs, lines under 76 columns */
	const char *options;		/* "-x, --long ARG  what it does" lines; NULL: none
					 * (every command gets -h, --help) */
	const char *examples;		/* command lines; NULL: none */
	const char *exit_status;	/* NULL: the usual one (see daemon) */
	bool daemon;			/* talks to fieldrelayd */
};

/* The built-in command named (or aliased) name; NULL if none. */
const struct command *command_find(const char *name);

/* The help of `fieldrelay --help` / `fieldrelay help`, agent commands included. */
void command_usage(FILE *out);
/* The help of one command, as `fieldrelay CMD --help` and `fieldrelay help CMD` print it. */
void command_help(const struct command *c, FILE *out);
/*
 * NAME is neither a built-in command nor an agent command: say so, point
 * to `fieldrelay help`, exit(CLI_EXIT_USAGE).
 */
void command_unknown(const char *name) __attribute__((noreturn));
/* Print c's help and exit 0 (a handler's getopt loop saw -h or --help). */
void command_help_exit(const struct command *c) __attribute__((noreturn));

/* The handlers (cmd_*.c). */
command_fn cmd_status, cmd_queue, cmd_flood;			/* cmd_status.c */
command_fn cmd_neighbors, cmd_links, cmd_routes;		/* cmd_net.c */
command_fn cmd_send;						/* cmd_send.c */
command_fn cmd_recv, cmd_watch, cmd_reports, cmd_registrations, cmd_unregister;	/* cmd_recv.c */
command_fn cmd_config_check, cmd_bundle;			/* cmd_offline.c */

#endif
