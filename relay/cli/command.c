/*
 * command.c - the command table of `fieldrelay` and the help generated from
 * it: the command list (`fieldrelay --help`) and each command's own page
 * (`fieldrelay CMD --help`, the same as `fieldrelay help CMD`).
 *
 * A new built-in command is one row here and its handler in a cmd_*.c file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "command.h"
#include "external.h"

static command_fn cmd_help;

/* The text every daemon command's page ends with. */
static const char exit_daemon[] =
"0 ok, 1 refused by the daemon (quota, disk full, ...), 2 bad usage or\n"
"input, 3 the daemon is not reachable or did not answer.";

static const struct command commands[] = {
{
	.name = "status",
	.run = cmd_status,
	.daemon = true,
	.summary = "node, uptime, clock, store use and quota",
	.synopsis = "",
	.description =
"Show this node: its endpoint (ipn:NODE) and name; the daemon's version,\n"
"pid, uptime and boot count; whether its clock is trusted (without a\n"
"trusted clock bundles carry creation time 0 and a bundle age); the store\n"
"file, the bundles in it and their bytes; the disk pages in use against\n"
"the quota and its reserve; the bundle identities remembered for duplicate\n"
"detection; and the bundles stored per priority class.\n"
"\n"
"A warning line says when the disk is full (new bundles are refused until\n"
"there is room again) or when the filesystem had less room than the quota\n"
"at start (the disk fills before the quota does).\n"
"\n"
"With --json: the daemon's answer as one object (\"store\" holds the store's\n"
"figures, \"classes\" one entry per priority class).",
	.examples =
"fieldrelay status\n"
"fieldrelay --json status",
},
{
	.name = "queue",
	.run = cmd_queue,
	.daemon = true,
	.summary = "stored bundles: count and bytes by class and by destination",
	.synopsis = "",
	.description =
"Count the bundles waiting in the store and their bytes: in total, per\n"
"priority class (urgent, position, voicemsg, message, telemetry, bulk)\n"
"and per destination endpoint and class.  Live voice frames (the realtime\n"
"class) are never stored and are not listed.",
	.examples =
"fieldrelay queue\n"
"fieldrelay --json queue",
},
{
	.name = "neighbors",
	.aliases = (const char *const[]){ "neighbours", NULL },
	.run = cmd_neighbors,
	.daemon = true,
	.summary = "neighbours heard on each link, their address and cost",
	.synopsis = "",
	.description =
"List the neighbours heard on each link: the link, the neighbour's node,\n"
"the address it was heard from and the cost of the route through it.\n"
"Neighbours are discovered per link: a beacon on IP and radio links, the\n"
"modem's registration on satellite.  A neighbour not heard for a while is\n"
"dropped from the list.",
	.examples =
"fieldrelay neighbours\n"
"fieldrelay --json neighbors",
},
{
	.name = "links",
	.run = cmd_links,
	.daemon = true,
	.summary = "each link: state, radio, traffic, round trip, drops",
	.synopsis = "",
	.description =
"For each configured link: up or DOWN and its neighbours; the radio\n"
"(signal and tx bitrate from nl80211 when the link is bound to a Wi-Fi\n"
"interface); the MTU, nominal bit rate, round-trip time and share of\n"
"segments resent; frames and bytes sent and received, segments,\n"
"retransmissions and send errors; bundles sent in compact form; the byte\n"
"budget used this period and whether the link is closed (budget spent, or\n"
"outside its contact windows); an Iridium SBD modem's state, sessions,\n"
"messages, budget and cost, or the DirectIP gateway side; live voice\n"
"frames; and the frames dropped, by cause.\n"
"\n"
"The last lines count the bundles on their way to a next hop, those handed\n"
"to one, the flood copies sent and committed, and duplicates received.",
	.examples =
"fieldrelay links\n"
"fieldrelay --json links",
},
{
	.name = "routes",
	.run = cmd_routes,
	.daemon = true,
	.summary = "next hop per destination, or unreachable",
	.synopsis = "",
	.description =
"For each destination node: the next hop, the link to it, the cost and\n"
"the kind of route: direct (a neighbour), learned (from the neighbours'\n"
"exchange of reachable nodes), static or default (from the config).  An\n"
"unreachable destination is listed as such: its bundles wait in the store\n"
"until a link or a route appears.",
	.examples =
"fieldrelay routes",
},
{
	.name = "flood",
	.run = cmd_flood,
	.daemon = true,
	.summary = "bundles for every node kept here, and who has them",
	.synopsis = "",
	.description =
"Bundles for every node (ipn:0.2 alerts, ipn:0.3 positions) flood from\n"
"neighbour to neighbour, and each node keeps them until their lifetime\n"
"ends.  For each one kept here: its id, class, size, destination and\n"
"expiry (UTC), whether the local application has not taken it yet, and\n"
"the neighbours that have it: from (it came from them), sent (we sent it\n"
"and they committed it) or offered.  A long list is cut; the last line\n"
"says how many were not shown.",
	.examples =
"fieldrelay flood",
},
{
	.name = "send",
	.run = cmd_send,
	.daemon = true,
	.summary = "send text, a file or stdin as one bundle",
	.synopsis =
"[OPTIONS] DST TEXT...\n"
"[OPTIONS] -f FILE DST\n"
"[OPTIONS] DST -\n"
"[OPTIONS] --batch DST",
	.description =
"Send TEXT (the words joined by spaces), the contents of FILE, or stdin\n"
"as one bundle to the endpoint DST (ipn:NODE.SERVICE, or dtn://NODE/SERVICE;\n"
"ipn:0.2 and ipn:0.3: an alert or a position for every node), and print\n"
"\"accepted ID\" once the daemon has stored it durably: from then on it is\n"
"forwarded whenever a path exists, even hours later.  Without TEXT and\n"
"--file the payload comes from stdin unless stdin is a terminal.\n"
"\n"
"--batch reads stdin line by line and sends each line as its own bundle,\n"
"many in flight at once over one connection, printing \"accepted ID LINE\"\n"
"(LINE: the line's number) or \"refused LINE CODE: ERROR\" per line and a\n"
"count on stderr.\n"
"\n"
"With --json: the daemon's answer, {\"ok\": true, \"id\": ...}, per bundle.",
	.options =
"-f, --file FILE      send the contents of FILE (up to 16 MiB)\n"
"-                    read the payload from stdin\n"
"-p, --priority CLASS urgent, position, voicemsg, message, telemetry, bulk\n"
"                     (default: from the destination service)\n"
"-l, --lifetime DUR   how long the bundle lives: 90s, 30m, 24h, 7d, at\n"
"                     most 365d (default: the daemon's [bundle]\n"
"                     default_lifetime)\n"
"-S, --source-service N\n"
"                     our service it comes from (default: DST's)\n"
"-r, --report LIST    ask for status reports, LIST of received, forwarded,\n"
"                     delivered, deleted, all, and time (with the time of\n"
"                     each event); they come back to this node: see\n"
"                     `fieldrelay reports`\n"
"--supersede KEY      a newer bundle sent here with the same KEY replaces\n"
"                     this one while it waits on this node to be forwarded\n"
"                     (positions have a key by default: their source and\n"
"                     destination, and relays on the way use it too)\n"
"--no-supersede       no key: this bundle neither replaces nor is replaced\n"
"                     on this node (relays still derive a position's key)\n"
"-b, --batch          one bundle per stdin line, pipelined over one\n"
"                     connection\n"
"-P, --progress       show progress for large files (default on a tty)\n"
"-j, --json           JSON output (as the global --json)",
	.examples =
"fieldrelay send -p urgent ipn:1.2 'Evacuate sector B now'\n"
"fieldrelay send -f photo.jpg ipn:1.8\n"
"fieldrelay send -r delivered -l 2h ipn:4.5 'water at shelter 3'\n"
"uptime | fieldrelay send ipn:1.5 -\n"
"seq 1000 | fieldrelay send --batch ipn:1.5",
},
{
	.name = "recv",
	.run = cmd_recv,
	.daemon = true,
	.summary = "take and print the bundles waiting for a local service",
	.synopsis = "[OPTIONS] SERVICE",
	.description =
"Take the bundles waiting for the local SERVICE (a number, 0 .. 2^63-1;\n"
"5 is messages, 8 files) and print each: source, destination, class,\n"
"size and id, then the payload if it is short printable text.  A bundle\n"
"leaves the store only once printed (or written): each is acknowledged\n"
"to the daemon after its payload is out, so an interrupted recv loses\n"
"nothing.  Without --wait recv takes what is waiting and ends, saying on\n"
"stderr if nothing was.\n"
"\n"
"With --json: one object per bundle (event, rowid, id, src, dst, class,\n"
"received, size; text when the payload is printable and short, file\n"
"with --output).",
	.options =
"-n, --count N        take at most N (default: all waiting)\n"
"-w, --wait           wait until N have arrived (no --timeout on that)\n"
"-o, --output DIR     write each payload to its own file in DIR\n"
"                     (bundle-TIME-ROWID.bin)\n"
"-R, --raw            write the payloads only, to stdout (for piping a\n"
"                     file)\n"
"-N, --name NAME      receive as the durable registration NAME: the\n"
"                     daemon keeps every bundle for SERVICE for NAME\n"
"                     until NAME has taken it, also while it is away;\n"
"                     each registration of a service gets every bundle\n"
"                     (see registrations); without it, a service that\n"
"                     has registrations is refused\n"
"-j, --json           JSON output (as the global --json)",
	.examples =
"fieldrelay recv 5\n"
"fieldrelay recv -n 1 -w 8 --raw > photo.jpg\n"
"fieldrelay recv -o /srv/incoming 8",
},
{
	.name = "watch",
	.run = cmd_watch,
	.daemon = true,
	.summary = "like recv, forever: print bundles as they arrive",
	.synopsis = "[OPTIONS] SERVICE",
	.description =
"Like recv --wait without a count: print (and take) the bundles for the\n"
"local SERVICE as they arrive, until interrupted or the daemon stops.\n"
"With --json: one object per bundle, as recv prints them.",
	.options =
"-o, --output DIR     write each payload to its own file in DIR\n"
"-R, --raw            write the payloads only, to stdout\n"
"-N, --name NAME      as the durable registration NAME (see recv)\n"
"-j, --json           JSON output (as the global --json)",
	.examples =
"fieldrelay watch 5\n"
"fieldrelay --json watch 2",
},
{
	.name = "registrations",
	.run = cmd_registrations,
	.daemon = true,
	.summary = "durable registrations, and what waits for each",
	.synopsis = "",
	.description =
"List every durable registration: an agent's (or recv --name's) claim on\n"
"the bundles of a local service.  While a service has registrations,\n"
"each of its bundles stays in the store until every registration has\n"
"taken it; WAITING is how many wait for that one (for an agent that is\n"
"stopped they pile up until it is back, or their lifetime ends).\n"
"\n"
"With --json: {registrations: [{service, name, created, pending}]}.",
	.examples =
"fieldrelay registrations\n"
"fieldrelay --json registrations",
},
{
	.name = "unregister",
	.run = cmd_unregister,
	.daemon = true,
	.summary = "remove a registration (what only it waited for goes)",
	.synopsis = "SERVICE NAME",
	.description =
"Remove the durable registration NAME of the local SERVICE, for an agent\n"
"that is gone for good.  The bundles only it still waited for leave the\n"
"store; the other registrations of the service keep theirs.",
	.examples = "fieldrelay unregister 9 echo",
},
{
	.name = "reports",
	.run = cmd_reports,
	.daemon = true,
	.summary = "take the status reports sent to this node, decoded",
	.synopsis = "[-n N] [-w]",
	.description =
"Take the status reports sent to this node (administrative service 0;\n"
"asked for with send --report) and print each decoded: which node\n"
"received, forwarded, delivered or deleted which bundle, and why, with\n"
"the time of each event when it was asked for.  Like recv, each report\n"
"leaves the store once printed.\n"
"\n"
"With --json: one object per report: the fields recv prints for a bundle\n"
"and status, times, reason, reason_text, and subject (the bundle it is\n"
"about).",
	.options =
"-n, --count N        take at most N (default: all waiting)\n"
"-w, --wait           wait until N have arrived\n"
"-j, --json           JSON output (as the global --json)",
	.examples =
"fieldrelay send -r delivered,time ipn:4.5 'report in'\n"
"fieldrelay reports -n 1 -w",
},
{
	.name = "config-check",
	.run = cmd_config_check,
	.daemon = true,
	.summary = "check a config file offline, or the daemon's own",
	.synopsis =
"\n"
"FILE",
	.description =
"With FILE: check FILE offline (no daemon needed) and print \"FILE:\n"
"configuration OK\" with the node, store and socket it names, or each\n"
"error as FILE:LINE: MESSAGE on stderr.\n"
"\n"
"Without FILE: ask the running daemon to read its own config file again\n"
"and say whether it is OK, and how it differs from the running\n"
"configuration: which changes a SIGHUP applies, which need a restart.\n"
"\n"
"With --json: {\"ok\": ..., \"path\": ...} and, when it is not OK, the\n"
"errors in \"error\".",
	.examples =
"fieldrelay config-check /etc/fieldrelay/fieldrelay.conf\n"
"fieldrelay -c /etc/fieldrelay/fieldrelay.conf config-check",
	.exit_status =
"0 the configuration is OK, 2 it has errors (or bad usage), 3 (without\n"
"FILE) the daemon is not reachable or did not answer.",
},
{
	.name = "bundle",
	.run = cmd_bundle,
	.summary = "decode a raw BPv7 bundle file (bundle dump FILE)",
	.synopsis = "dump [--json] FILE",
	.description =
"Decode a raw BPv7 bundle file (RFC 9171; ours or any other\n"
"implementation's; - for stdin) and print its primary block and every\n"
"canonical block with all their fields, or the exact validation error.\n"
"Needs no daemon.",
	.options =
"-j, --json           the bundle as one JSON object",
	.examples =
"fieldrelay bundle dump capture.bpv7\n"
"fieldrelay bundle dump --json - < capture.bpv7",
	.exit_status =
"0 a valid bundle, 2 not a valid bundle, not readable, or bad usage.",
},
{
	.name = "help",
	.run = cmd_help,
	.summary = "the list of commands, or the help of one",
	.synopsis = "[COMMAND]",
	.description =
"Without COMMAND: the list of commands, the agent commands beside\n"
"fieldrelay and the global options (as fieldrelay --help).  With COMMAND:\n"
"its help, the same as fieldrelay COMMAND --help; for an agent command\n"
"that is what its program fieldrelay-COMMAND --help prints.",
	.examples =
"fieldrelay help send",
	.exit_status =
"0, or 2 if there is no such command (an agent command's: its own).",
},
};

#define N_COMMANDS	(sizeof(commands) / sizeof(commands[0]))

static const char usage_head[] =
"Usage: fieldrelay [-s SOCKET | -c CONFIG] [--json] [--timeout SECONDS] COMMAND [ARGS]\n"
"\n"
"Client of fieldrelayd, the fieldrelay store-and-forward daemon.\n"
"`fieldrelay COMMAND --help` (or `fieldrelay help COMMAND`) explains each.\n"
"\n"
"Commands:\n";

static const char usage_tail[] =
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
"Agent commands: any other COMMAND runs the program fieldrelay-COMMAND,\n"
"the one beside fieldrelay itself if there is one, else the first in the\n"
"(absolute) directories on PATH.  It gets the global options given, as\n"
"--socket PATH, --config FILE, --json and --timeout SECONDS, and then\n"
"ARGS; its exit status is fieldrelay's.  So each agent brings its own\n"
"subcommands: `fieldrelay -c node.conf ping -c 3 ipn:2` runs\n"
"`fieldrelay-ping --config node.conf -c 3 ipn:2`.\n"
"\n"
"Examples:\n"
"  fieldrelay send -p urgent ipn:1.2 'Evacuate sector B now'\n"
"  fieldrelay send -f photo.jpg ipn:1.8\n"
"  fieldrelay recv 5\n"
"  fieldrelay --json watch 2\n"
"\n"
"Exit status: 0 ok, 1 refused by the daemon (quota, disk full, ...),\n"
"2 bad usage or input, 3 the daemon is not reachable or did not answer.\n";

const struct command *
command_find(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++) {
		const struct command *c = &commands[i];

		if (strcmp(c->name, name) == 0)
			return c;
		for (const char *const *a = c->aliases; a && *a; a++)
			if (strcmp(*a, name) == 0)
				return c;
	}
	return NULL;
}

/* Each line of text, indented, with lines of only "" left empty. */
static void
put_indented(FILE *out, const char *indent, const char *text)
{
	const char *p = text, *nl;

	while (*p) {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		if (nl > p)
			fprintf(out, "%s%.*s\n", indent, (int)(nl - p), p);
		else
			fputc('\n', out);
		p = *nl ? nl + 1 : nl;
	}
}

void
command_usage(FILE *out)
{
	char **agents = external_list(), dir[4096] = "";
	bool any = false;

	fputs(usage_head, out);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
	/* Those beside us; a built-in name always runs the built-in. */
	for (char **a = agents; a && *a; a++) {
		if (command_find(*a))
			continue;
		if (!any) {
			external_self_dir(dir, sizeof(dir));
			fprintf(out, "\nAgent commands (programs fieldrelay-NAME in %s):\n", dir);
			any = true;
		}
		fprintf(out, "  %-14s see fieldrelay %s --help\n", *a, *a);
	}
	external_list_free(agents);
	fputs(usage_tail, out);
	fflush(out);
}

void
command_help(const struct command *c, FILE *out)
{
	const char *prefix = c->daemon ? "fieldrelay [-s SOCKET | -c CONFIG]" : "fieldrelay";
	const char *p = c->synopsis, *nl;

	fprintf(out, "fieldrelay %s - %s\n\nUsage:\n", c->name, c->summary);
	/* One usage form per line of the synopsis; an empty one is the bare command. */
	do {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		fprintf(out, "  %s %s%s%.*s\n", prefix, c->name, nl > p ? " " : "", (int)(nl - p), p);
		p = nl + 1;
	} while (*nl);
	fputs("\nDescription:\n", out);
	put_indented(out, "  ", c->description);
	fputs("\nOptions:\n", out);
	if (c->options)
		put_indented(out, "  ", c->options);
	fputs("  -h, --help           this help\n", out);
	if (c->examples) {
		fputs("\nExamples:\n", out);
		put_indented(out, "  ", c->examples);
	}
	if (c->aliases) {
		fputs("\nAlso called:", out);
		for (const char *const *a = c->aliases; *a; a++)
			fprintf(out, " %s", *a);
		fputc('\n', out);
	}
	fputs("\nExit status:\n", out);
	put_indented(out, "  ", c->exit_status ? c->exit_status : exit_daemon);
	if (c->daemon)
		fputs("\nThe global options (-s, -c, --json, --timeout) and where the socket is\n"
		    "found: fieldrelay --help.\n", out);
	fflush(out);
}

void
command_help_exit(const struct command *c)
{
	command_help(c, stdout);
	exit(CLI_EXIT_OK);
}

static int
cmd_help(int argc, char **argv)
{
	const struct command *c;

	if (argc == 1) {
		command_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (argc > 2)
		cli_usage_error("help takes at most one COMMAND (got '%s')", argv[2]);
	if ((c = command_find(argv[1])) == NULL) {
		/* An agent command's help is its own. */
		char *av[] = { argv[1], "--help", NULL };

		external_run(2, av);
		command_unknown(argv[1]);
	}
	command_help(c, stdout);
	return CLI_EXIT_OK;
}

void
command_unknown(const char *name)
{
	cli_fail(CLI_EXIT_USAGE, "unknown command '%s'", name);
	fprintf(stderr, "No built-in command and no program fieldrelay-%s beside fieldrelay or on PATH.\n"
	    "Try 'fieldrelay help' for the list of commands.\n", name);
	exit(CLI_EXIT_USAGE);
}
