/*
 * cmd_net.c - `fieldrelay neighbors`, `links` and `routes`: the network as
 * this node sees it.
 */
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"
#include "command.h"

int
cmd_neighbors(int argc, char **argv)
{
	json_t *r, *rows;
	int rc;

	if ((r = cli_simple_call(argc, argv, "neighbors", &rc)) == NULL)
		return rc;
	rows = json_object_get(r, "neighbors");
	if (json_array_size(rows) == 0)
		printf("no neighbours heard (links: `fieldrelay links`)\n");
	else
		printf("%-10s %-12s %-28s %8s\n", "LINK", "NODE", "ADDRESS", "COST");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *n = json_array_get(rows, i);
		char node[32];

		snprintf(node, sizeof(node), "ipn:%" PRIu64, cli_jint(n, "node"));
		printf("%-10s %-12s %-28s %8" PRIu64 "\n", cli_jstr(n, "link"), node, cli_jstr(n, "addr"), cli_jint(n, "cost"));
	}
	json_decref(r);
	return 0;
}

/* An SBD modem's state, traffic, budget and cost (radio/drivers/sbd_link.c). */
static void
print_sbd(json_t *x)
{
	if (!json_is_object(x))
		return;
	printf("  modem    %s, signal %" PRId64 "/5, IMEI %s, %" PRIu64 " message(s) at the modem, %" PRIu64
	    " bundle(s) waiting\n", cli_jstr(x, "state"), (int64_t)json_integer_value(json_object_get(x, "signal")),
	    cli_jstr(x, "imei")[0] ? cli_jstr(x, "imei") : "unknown", cli_jint(x, "queued"), cli_jint(x, "bundles_waiting"));
	printf("  sessions %" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64 " mailbox checks, %" PRIu64 " rings\n",
	    cli_jint(x, "sessions_ok"), cli_jint(x, "sessions_failed"), cli_jint(x, "mailbox_checks"), cli_jint(x, "rings"));
	printf("  SBD      MO %" PRIu64 " messages, %" PRIu64 " bytes; MT %" PRIu64 " messages, %" PRIu64
	    " bytes; billed %" PRIu64 " bytes, cost %.6f\n", cli_jint(x, "mo_messages"), cli_jint(x, "mo_bytes"),
	    cli_jint(x, "mt_messages"), cli_jint(x, "mt_bytes"), cli_jint(x, "billed_bytes"),
	    (double)cli_jint(x, "cost") / 1e6);
	printf("  budget   %" PRIu64 " messages, %" PRIu64 " bytes used this period", cli_jint(x, "budget_used_messages"),
	    cli_jint(x, "budget_used_bytes"));
	if (cli_jint(x, "budget_messages"))
		printf("; %" PRId64 " messages left", (int64_t)json_integer_value(json_object_get(x, "budget_left_messages")));
	if (cli_jint(x, "budget_bytes"))
		printf("; %" PRId64 " bytes left", (int64_t)json_integer_value(json_object_get(x, "budget_left_bytes")));
	printf("%s\n", json_is_true(json_object_get(x, "budget_spent")) ? "; SPENT: messages wait" : "");
	if (cli_jstr(x, "last_error")[0])
		printf("  error    %s\n", cli_jstr(x, "last_error"));
}

/* The command center's DirectIP side (radio/drivers/directip_link.c). */
static void
print_directip(json_t *x)
{
	if (!json_is_object(x))
		return;
	printf("  DirectIP MO port %" PRIu64 ": %" PRIu64 " received, %" PRIu64 " duplicates, %" PRIu64 " bad, %"
	    PRIu64 " unknown IMEI; %" PRIu64 " bundles\n", cli_jint(x, "port"), cli_jint(x, "mo_received"),
	    cli_jint(x, "mo_duplicates"), cli_jint(x, "mo_bad"), cli_jint(x, "mo_unknown_imei"), cli_jint(x, "bundles_rx"));
	printf("  gateway  %s: MT %" PRIu64 " sent, %" PRIu64 " failed, %" PRIu64 " bytes; %" PRIu64
	    " bundles sent, %" PRIu64 " waiting\n", cli_jstr(x, "gateway"), cli_jint(x, "mt_sent"), cli_jint(x, "mt_failed"),
	    cli_jint(x, "mt_bytes"), cli_jint(x, "bundles_tx"), cli_jint(x, "bundles_waiting"));
	printf("  acks     %" PRIu64 " bundles acknowledged by the units, %" PRIu64 " refused (sent again), %" PRIu64
	    " waiting for an ack, %" PRIu64 " timed out\n", cli_jint(x, "bundles_acked"), cli_jint(x, "bundles_nacked"),
	    cli_jint(x, "bundles_unacked"), cli_jint(x, "ack_timeouts"));
	if (cli_jstr(x, "last_error")[0])
		printf("  error    %s\n", cli_jstr(x, "last_error"));
}

int
cmd_links(int argc, char **argv)
{
	json_t *r, *rows;
	int rc;

	if ((r = cli_simple_call(argc, argv, "links", &rc)) == NULL)
		return rc;
	rows = json_object_get(r, "links");
	if (json_array_size(rows) == 0)
		printf("no links configured (add a [link NAME] section)\n");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *l = json_array_get(rows, i), *d = json_object_get(l, "dropped");
		const char *k;
		json_t *v;
		char b1[32], b2[32];

		cli_human_bytes(cli_jint(l, "bytes_tx"), b1, sizeof(b1));
		cli_human_bytes(cli_jint(l, "bytes_rx"), b2, sizeof(b2));
		printf("%s (%s): %s, %" PRIu64 " neighbour(s)\n", cli_jstr(l, "name"), cli_jstr(l, "kind"),
		    json_is_true(json_object_get(l, "up")) ? "up" : "DOWN", cli_jint(l, "neighbours"));
		printf("  radio    %s\n", cli_jstr(l, "radio"));
		{
			json_t *rtt = json_object_get(l, "rtt_ms"), *loss = json_object_get(l, "loss");
			char rtt_s[32] = "no sample", loss_s[32] = "nothing sent";

			if (json_is_integer(rtt))
				snprintf(rtt_s, sizeof(rtt_s), "%" PRIu64 " ms", cli_jint(l, "rtt_ms"));
			if (json_is_number(loss))
				snprintf(loss_s, sizeof(loss_s), "%.1f%%", 100.0 * json_number_value(loss));
			printf("  link     mtu %" PRIu64 ", %" PRIu64 " bit/s nominal, rtt %s, resent %s\n",
			    cli_jint(l, "mtu"), cli_jint(l, "rate_bps"), rtt_s, loss_s);
		}
		printf("  sent     %" PRIu64 " frames, %s; %" PRIu64 " segments, %" PRIu64 " retransmitted; %" PRIu64 " send errors\n",
		    cli_jint(l, "frames_tx"), b1, cli_jint(l, "segments"), cli_jint(l, "retransmissions"),
		    cli_jint(l, "send_errors"));
		printf("  received %" PRIu64 " frames, %s\n", cli_jint(l, "frames_rx"), b2);
		if (json_is_true(json_object_get(l, "compact")))
			printf("  compact  %" PRIu64 " bundles sent, %" PRIu64 " received in compact form\n",
			    cli_jint(l, "compact_tx"), cli_jint(l, "compact_rx"));
		if (json_object_get(l, "budget_bytes")) {
			char bu[32], bb[32];

			cli_human_bytes(cli_jint(l, "budget_used"), bu, sizeof(bu));
			cli_human_bytes(cli_jint(l, "budget_bytes"), bb, sizeof(bb));
			printf("  budget   %s of %s this period used\n", bu, bb);
		}
		if (json_is_false(json_object_get(l, "open")))
			printf("  closed   %s: no route over it\n", json_is_true(json_object_get(l, "in_window")) ?
			    "budget spent until the next period" : "outside its contact windows");
		print_sbd(json_object_get(l, "sbd"));
		print_directip(json_object_get(l, "directip"));
		if (cli_jint(l, "voice_tx") || cli_jint(l, "voice_rx"))
			printf("  voice    %" PRIu64 " frames sent, %" PRIu64 " received\n", cli_jint(l, "voice_tx"),
			    cli_jint(l, "voice_rx"));
		bool any = false;

		printf("  dropped ");
		json_object_foreach(d, k, v)
			if (json_integer_value(v) > 0) {
				printf(" %s %" PRIu64, k, (uint64_t)json_integer_value(v));
				any = true;
			}
		printf("%s\n", any ? "" : " nothing");
	}
	printf("%" PRIu64 " bundle(s) on their way to a next hop\n", cli_jint(r, "in_flight"));
	{
		json_t *fw = json_object_get(r, "forwarding");

		printf("%" PRIu64 " handed to a next hop; flood copies: %" PRIu64 " sent, %" PRIu64
		    " committed; %" PRIu64 " duplicates received\n", cli_jint(fw, "handed"), cli_jint(fw, "flood_sent"),
		    cli_jint(fw, "flood_handed"), cli_jint(fw, "duplicates"));
	}
	json_decref(r);
	return 0;
}

int
cmd_routes(int argc, char **argv)
{
	json_t *r, *rows;
	int rc;

	if ((r = cli_simple_call(argc, argv, "routes", &rc)) == NULL)
		return rc;
	rows = json_object_get(r, "routes");
	if (json_array_size(rows) == 0)
		printf("no routes: bundles for other nodes wait in the store\n");
	else
		printf("%-12s %-12s %-10s %8s  %s\n", "DESTINATION", "VIA", "LINK", "COST", "KIND");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *e = json_array_get(rows, i);
		char dst[32], via[32];

		snprintf(dst, sizeof(dst), "ipn:%" PRIu64, cli_jint(e, "dst"));
		if (json_is_null(json_object_get(e, "via"))) {
			printf("%-12s %-12s\n", dst, "(unreachable: bundles wait)");
			continue;
		}
		snprintf(via, sizeof(via), "ipn:%" PRIu64, cli_jint(e, "via"));
		printf("%-12s %-12s %-10s %8" PRIu64 "  %s\n", dst, via, cli_jstr(e, "link"), cli_jint(e, "cost"),
		    cli_jstr(e, "kind"));
	}
	json_decref(r);
	return 0;
}

