/*
 * external.h - agent commands: `fieldrelay NAME ARGS` runs the program
 * fieldrelay-NAME when NAME is not a built-in command, the way git runs
 * git-NAME, so that each agent brings its own subcommands.
 */
#ifndef FIELDRELAY_CLI_EXTERNAL_H
#define FIELDRELAY_CLI_EXTERNAL_H

#include <stddef.h>

/*
 * Find fieldrelay-NAME (argv[0] = NAME): beside this program first (the
 * directory of /proc/self/exe), then in the absolute directories on PATH;
 * exec it with the global options given (--socket PATH, --config FILE,
 * --json, --timeout SECONDS, in that order) and then argv[1..].  Returns
 * only if there is no such program; exits with CLI_EXIT_REFUSED, saying
 * why, if there is one that cannot be run.
 */
void external_run(int argc, char **argv);

/*
 * The names (without "fieldrelay-") of the executable fieldrelay-*
 * programs beside this program, sorted, in a NULL-terminated array the
 * caller frees with external_list_free(); NULL if there are none.
 */
char **external_list(void);
void external_list_free(char **names);

/* The directory this program is in (into buf, cap bytes): 0, or -errno. */
int external_self_dir(char *buf, size_t cap);

#endif
