/*
 * cmd_offline.c - `fieldrelay config-check` and `bundle dump`: the commands
 * that work on files (config-check without FILE asks the daemon).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "command.h"
#include "config.h"
#include "dump.h"

int
cmd_config_check(int argc, char **argv)
{
	static struct config cfg;
	char err[4096];
	json_t *r;
	struct fr *c;
	int ch;

	if (argc > 2)
		cli_usage_error("config-check takes at most one FILE (got '%s')", argv[2]);
	if (argc == 2) {
		if (config_load(argv[1], &cfg, err, sizeof(err)) < 0) {
			if (cli_opt.json) {
				json_t *o = json_pack("{s:b, s:s, s:s, s:s}", "ok", 0, "path", argv[1], "errors", err,
				    "error", err);

				cli_print_json(o);
				json_decref(o);
			} else {
				fputs(err, stderr);
			}
			return CLI_EXIT_USAGE;
		}
		if (cli_opt.json) {
			json_t *o = json_pack("{s:b, s:s}", "ok", 1, "path", argv[1]);

			cli_print_json(o);
			json_decref(o);
		} else
			printf("%s: configuration OK (node ipn:%" PRIu64 ", store %s, socket %s)\n", argv[1],
			    cfg.node_id, cfg.store_path, cfg.socket_path);
		return 0;
	}
	c = cli_connect();
	r = cli_call(c, "{\"op\": \"config-check\"}");
	if (cli_opt.json) {
		if (!json_is_true(json_object_get(r, "ok")) && !json_object_get(r, "error"))
			json_object_set(r, "error", json_object_get(r, "errors"));
		cli_print_json(r);
	} else if (json_is_true(json_object_get(r, "ok"))) {
		printf("%s: configuration OK\n", cli_jstr(r, "path"));
		if (*cli_jstr(r, "changes"))
			printf("differences from the running configuration:\n%s", cli_jstr(r, "changes"));
	} else {
		fputs(cli_jstr(r, "errors"), stderr);
	}
	ch = json_is_true(json_object_get(r, "ok")) ? 0 : CLI_EXIT_USAGE;
	json_decref(r);
	fr_close(c);
	return ch;
}

int
cmd_bundle(int argc, char **argv)
{
	const char *file = NULL;
	bool json = cli_opt.json;

	if (argc < 2 || strcmp(argv[1], "dump") != 0)
		cli_usage_error("%s", "usage: fieldrelay bundle dump [--json] FILE");
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			json = true;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			command_help_exit(cli_opt.command);
		else if (file == NULL)
			file = argv[i];
		else
			cli_usage_error("unexpected argument '%s'", argv[i]);
	}
	if (file == NULL)
		cli_usage_error("%s", "bundle dump needs a FILE");
	return dump_bundle_file(file, json, stdout) == 0 ? 0 : CLI_EXIT_USAGE;
}

