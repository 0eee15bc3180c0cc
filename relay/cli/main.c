/*
 * fieldrelay - the command-line client of fieldrelayd.
 *
 * Talks to the daemon over its control socket (relay/ctl/control.h).  Human
 * output by default, --json for scripts.  Exit status: 0 ok, 1 the daemon
 * refused or failed, 2 bad usage or input, 3 the daemon cannot be reached.
 * The commands are the rows of the table in command.c; any other command
 * NAME runs the program fieldrelay-NAME (external.c).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "command.h"
#include "external.h"
#include "version.h"

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
	const struct command *c;
	const char *cmd;
	char *end;
	double t;
	int ch;

	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "+s:c:jt:hV", lo, NULL)) != -1) {
		switch (ch) {
		case 's': cli_opt.socket = optarg; break;
		case 'c': cli_opt.config = optarg; break;
		case 'j': cli_opt.json = true; break;
		case 't':
			errno = 0;
			t = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(t >= 0 && t <= 86400))
				cli_usage_error("--timeout '%s' is not a number of seconds (0 .. 86400; 0 waits for ever)", optarg);
			cli_opt.timeout_ms = t == 0 ? -1 : t * 1000 < 1 ? 1 : (int)(t * 1000);
			cli_opt.timeout = optarg;
			break;
		case 'h': command_usage(stdout); return CLI_EXIT_OK;
		case 'V': printf("fieldrelay %s\n", FIELDRELAY_VERSION); return CLI_EXIT_OK;
		default: cli_usage_error("%s", "bad option");
		}
	}
	if (optind >= argc) {
		command_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 1;
	if ((c = command_find(cmd)) == NULL) {
		external_run(argc, argv);
		command_unknown(cmd);
	}
	cli_opt.command = c;
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		command_help_exit(c);
	return c->run(argc, argv);
}
