/*
 * cmd_status.c - `fieldrelay status`, `queue` and `flood`: the node and its store.
 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "command.h"
#include "service.h"

int
cmd_status(int argc, char **argv)
{
	json_t *r, *st, *cls;
	char b1[32], b2[32], b3[32], b4[32];
	uint64_t up;
	size_t i;
	int rc;

	if ((r = cli_simple_call(argc, argv, "status", &rc)) == NULL)
		return rc;
	st = json_object_get(r, "store");
	up = cli_jint(r, "uptime");
	cli_human_bytes(cli_jint(st, "bytes"), b1, sizeof(b1));
	cli_human_bytes(cli_jint(st, "used"), b2, sizeof(b2));
	cli_human_bytes(cli_jint(st, "quota"), b3, sizeof(b3));
	cli_human_bytes(cli_jint(st, "reserve"), b4, sizeof(b4));
	printf("node      ipn:%" PRIu64 " (%s)\n", cli_jint(r, "node"), cli_jstr(r, "name"));
	printf("daemon    fieldrelayd %s, pid %" PRIu64 ", up %" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s, boot #%" PRIu64 "\n",
	    cli_jstr(r, "version"), cli_jint(r, "pid"), up / 3600, up / 60 % 60, up % 60, cli_jint(r, "boot"));
	printf("clock     %s\n", json_is_true(json_object_get(r, "clock_trusted")) ?
	    "trusted" : "not trusted: bundles carry creation time 0 and a bundle age");
	printf("store     %s\n", cli_jstr(st, "path"));
	printf("bundles   %" PRIu64 " stored, %s\n", cli_jint(st, "bundles"), b1);
	if (cli_jint(st, "quota"))
		printf("disk      %s of pages in use, quota %s (reserve %s)\n", b2, b3, b4);
	else
		printf("disk      %s of pages in use, no quota\n", b2);
	if (json_is_true(json_object_get(st, "fs_short")))
		printf("warning   the filesystem had less room than the quota at start: the disk fills first\n");
	if (json_is_true(json_object_get(st, "disk_full")))
		printf("warning   disk full: new bundles are refused until there is room again\n");
	printf("seen      %" PRIu64 " bundle identities remembered for duplicate detection\n", cli_jint(st, "seen"));
	cls = json_object_get(st, "classes");
	for (i = 0; i < json_array_size(cls); i++) {
		json_t *c = json_array_get(cls, i);

		if (cli_jint(c, "count") == 0)
			continue;
		cli_human_bytes(cli_jint(c, "bytes"), b1, sizeof(b1));
		printf("  %-10s %8" PRIu64 " bundles %12s\n", cli_jstr(c, "class"), cli_jint(c, "count"), b1);
	}
	json_decref(r);
	return 0;
}

int
cmd_queue(int argc, char **argv)
{
	json_t *r, *cls, *dst;
	char b[32];
	size_t i;
	int rc;

	if ((r = cli_simple_call(argc, argv, "queue", &rc)) == NULL)
		return rc;
	cli_human_bytes(cli_jint(r, "bytes"), b, sizeof(b));
	printf("%" PRIu64 " bundles, %s\n\n", cli_jint(r, "bundles"), b);
	printf("%-10s %9s %12s\n", "CLASS", "BUNDLES", "BYTES");
	cls = json_object_get(r, "classes");
	for (i = 0; i < json_array_size(cls); i++) {
		json_t *c = json_array_get(cls, i);

		if (i == PRIO_REALTIME)
			continue;	/* never stored */
		cli_human_bytes(cli_jint(c, "bytes"), b, sizeof(b));
		printf("%-10s %9" PRIu64 " %12s\n", cli_jstr(c, "class"), cli_jint(c, "count"), b);
	}
	dst = json_object_get(r, "destinations");
	if (json_array_size(dst) > 0)
		printf("\n%-24s %-10s %9s %12s\n", "DESTINATION", "CLASS", "BUNDLES", "BYTES");
	for (i = 0; i < json_array_size(dst); i++) {
		json_t *d = json_array_get(dst, i);

		cli_human_bytes(cli_jint(d, "bytes"), b, sizeof(b));
		printf("%-24s %-10s %9" PRIu64 " %12s\n", cli_jstr(d, "dst"), cli_jstr(d, "class"),
		    cli_jint(d, "count"), b);
	}
	json_decref(r);
	return 0;
}

int
cmd_flood(int argc, char **argv)
{
	json_t *r, *rows;
	char exp[64];
	int rc;

	if ((r = cli_simple_call(argc, argv, "flood", &rc)) == NULL)
		return rc;
	rows = json_object_get(r, "flood");
	if (json_array_size(rows) == 0)
		printf("no bundles for every node stored here\n");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *b = json_array_get(rows, i), *hs = json_object_get(b, "holders");
		time_t t = (time_t)(cli_jint(b, "expires") / 1000);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("%s [%s] %" PRIu64 " bytes to %s, until %s%s\n", cli_jstr(b, "id"), cli_jstr(b, "class"),
		    cli_jint(b, "size"), cli_jstr(b, "dst"), exp,
		    json_is_true(json_object_get(b, "local")) ? ", not yet taken here" : "");
		printf("  held by:");
		for (size_t k = 0; k < json_array_size(hs); k++)
			printf(" ipn:%" PRIu64 " (%s)", cli_jint(json_array_get(hs, k), "node"),
			    cli_jstr(json_array_get(hs, k), "how"));
		printf("%s\n", json_array_size(hs) ? "" : " no neighbour yet");
	}
	if (cli_jint(r, "total") > json_array_size(rows))
		printf("(%" PRIu64 " more not shown)\n", cli_jint(r, "total") - (uint64_t)json_array_size(rows));
	json_decref(r);
	return 0;
}

