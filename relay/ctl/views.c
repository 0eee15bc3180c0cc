/*
 * views.c - the JSON views of the daemon's state (views.h): what the control
 * socket answers to status, queue, config-check, neighbors, links, routes,
 * flood and registrations, and the rows the event stream sends.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "control.h"
#include "forward.h"
#include "frame.h"
#include "loop.h"
#include "node.h"
#include "service.h"
#include "text.h"
#include "version.h"
#include "views.h"

static json_t *
class_array(const uint64_t *count, const uint64_t *bytes)
{
	json_t *a = json_array();

	for (int i = 0; i < PRIO_COUNT; i++)
		json_array_append_new(a, json_pack("{s:s, s:i, s:I, s:I}", "class", prio_name(i),
		    "priority", i, "count", (json_int_t)count[i], "bytes", (json_int_t)bytes[i]));
	return a;
}

json_t *
view_status(struct node *n, char *err, size_t errlen)
{
	const struct config *cfg = node_config(n);
	struct store_stats st;
	json_t *o, *st_o;
	int r;

	if ((r = store_stats(node_store(n), &st)) < 0) {
		snprintf(err, errlen, "cannot read the store: %s", store_strerror(r));
		return NULL;
	}
	o = json_pack("{s:b, s:s, s:I, s:s, s:I, s:I, s:b, s:i, s:{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}}",
	    "ok", 1,
	    "version", FIELDRELAY_VERSION,
	    "node", (json_int_t)cfg->node_id,
	    "name", cfg->name,
	    "uptime", (json_int_t)((loop_now() - node_started(n)) / 1000),
	    "boot", (json_int_t)st.boot,
	    "clock_trusted", node_clock_trusted(n),
	    "pid", (int)getpid(),
	    "store",
	    "path", cfg->store_path,
	    "bundles", (json_int_t)st.bundles,
	    "bytes", (json_int_t)st.bytes,
	    "used", (json_int_t)st.used,
	    "quota", (json_int_t)st.quota,
	    "reserve", (json_int_t)st.reserve,
	    "seen", (json_int_t)st.seen,
	    "classes", class_array(st.count, st.class_bytes));
	st_o = json_object_get(o, "store");
	if (st.fs_free != UINT64_MAX)
		json_object_set_new(st_o, "fs_free", json_integer((json_int_t)st.fs_free));
	json_object_set_new(st_o, "disk_full", json_boolean(st.disk_full));
	json_object_set_new(st_o, "fs_short", json_boolean(st.fs_short));
	return o;
}

static void
queue_row(void *arg, const char *dst, int priority, uint64_t count, uint64_t bytes)
{
	json_array_append_new(arg, json_pack("{s:s, s:s, s:i, s:I, s:I}", "dst", dst,
	    "class", prio_name(priority), "priority", priority,
	    "count", (json_int_t)count, "bytes", (json_int_t)bytes));
}

json_t *
view_queue(struct node *n, char *err, size_t errlen)
{
	struct store_stats st;
	json_t *rows = json_array();
	int r;

	if ((r = store_stats(node_store(n), &st)) < 0 ||
	    (r = store_queue(node_store(n), queue_row, rows)) < 0) {
		json_decref(rows);
		snprintf(err, errlen, "cannot read the store: %s", store_strerror(r));
		return NULL;
	}
	return json_pack("{s:b, s:I, s:I, s:o, s:o}", "ok", 1,
	    "bundles", (json_int_t)st.bundles, "bytes", (json_int_t)st.bytes,
	    "classes", class_array(st.count, st.class_bytes), "destinations", rows);
}

json_t *
view_config_check(struct node *n)
{
	const struct config *cur = node_config(n);
	static struct config fresh;	/* big: keep it off the stack */
	char err[4096], changes[2048] = "";
	char path[sizeof(cur->path) * 4];
	int r;


	r = config_load(cur->path, &fresh, err, sizeof(err));
	if (r == 0)
		config_reloadable(cur, &fresh, changes, sizeof(changes));
	/* config_load() escapes what came from the file; the path came from the command line. */
	text_escape(path, sizeof(path), cur->path, strlen(cur->path));
	return json_pack("{s:b, s:s, s:s, s:s}", "ok", r == 0, "path", path,
	    "errors", r == 0 ? "" : err, "changes", changes);
}

static void
nbr_row(void *arg, const char *link, uint64_t node, const char *addr, uint32_t cost)
{
	json_array_append_new(arg, json_pack("{s:s, s:I, s:s, s:I}", "link", link,
	    "node", (json_int_t)node, "addr", addr, "cost", (json_int_t)cost));
}

/*
 * "radio": one line for people; "wireless": true, false, or null when it
 * cannot be known (no interface, no nl80211); signal and tx bitrate only
 * when nl80211 reported them.
 */
static void
radio_fields(json_t *row, const struct forward_link_info *li)
{
	char text[160];

	netlink_wireless_format(li->ifname, li->wireless_rc, &li->w, text, sizeof(text));
	json_object_set_new(row, "radio", json_string(text));
	json_object_set_new(row, "interface", li->ifname[0] ? json_string(li->ifname) : json_null());
	if (!li->ifname[0] || li->wireless_rc < 0) {
		json_object_set_new(row, "wireless", json_null());
		return;
	}
	json_object_set_new(row, "wireless", json_boolean(li->w.wireless));
	if (!li->w.wireless)
		return;
	json_object_set_new(row, "stations", json_integer(li->w.stations));
	if (li->w.has_signal)
		json_object_set_new(row, "signal_dbm", json_integer(li->w.signal_dbm));
	if (li->w.has_bitrate)
		json_object_set_new(row, "tx_bitrate_kbps", json_integer((json_int_t)li->w.tx_bitrate * 100));
}

json_t *
view_link(const struct forward_link_info *li)
{
	const struct link_metrics *m = &li->m;
	json_t *drops = json_object(), *row;

	for (int i = 1; i < FRAME_DROP_N; i++)
		json_object_set_new(drops, frame_drop_name(i), json_integer((json_int_t)m->dropped[i]));
	row = json_pack("{s:s, s:s, s:b, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
	    "name", li->name, "kind", li->kind, "up", m->up, "neighbours", (int)m->neighbours,
	    "frames_tx", (json_int_t)m->frames_tx, "frames_rx", (json_int_t)m->frames_rx,
	    "bytes_tx", (json_int_t)m->bytes_tx, "bytes_rx", (json_int_t)m->bytes_rx,
	    "segments", (json_int_t)m->segments, "retransmissions", (json_int_t)m->retransmissions,
	    "voice_tx", (json_int_t)m->voice_tx, "voice_rx", (json_int_t)m->voice_rx,
	    "send_errors", (json_int_t)m->send_errors, "dropped", drops);
	json_object_set_new(row, "mtu", json_integer(m->mtu));
	json_object_set_new(row, "rate_bps", json_integer((json_int_t)m->rate_bps));
	json_object_set_new(row, "airtime_ms", json_integer((json_int_t)m->airtime_ms));
	json_object_set_new(row, "in_window", json_boolean(m->in_window));
	json_object_set_new(row, "open", json_boolean(m->open));
	if (m->budget_bytes) {
		json_object_set_new(row, "budget_bytes", json_integer((json_int_t)m->budget_bytes));
		json_object_set_new(row, "budget_used", json_integer((json_int_t)m->budget_used));
	}
	json_object_set_new(row, "rtt_ms", m->rtt_ms >= 0 ? json_integer(m->rtt_ms) : json_null());
	/* Segments sent again, of all sent: what the medium loses (and what timeouts misjudge). */
	json_object_set_new(row, "loss", m->segments ? json_real((double)m->retransmissions / (double)m->segments) :
	    json_null());
	json_object_set_new(row, "compact", json_boolean(m->compact));
	json_object_set_new(row, "compact_tx", json_integer((json_int_t)m->compact_tx));
	json_object_set_new(row, "compact_rx", json_integer((json_int_t)m->compact_rx));
	json_object_set_new(row, "data_bytes_tx", json_integer((json_int_t)m->data_bytes_tx));
	json_object_set_new(row, "ack_bytes_tx", json_integer((json_int_t)m->ack_bytes_tx));
	/* A medium's own figures (an SBD modem, the DirectIP side), under its kind's name. */
	if (m->ext_json[0]) {
		json_t *x = json_loads(m->ext_json, 0, NULL);

		if (x)
			json_object_set_new(row, li->kind, x);
	}
	json_object_set_new(row, "data_frames_tx", json_integer((json_int_t)m->data_frames_tx));
	json_object_set_new(row, "ack_frames_tx", json_integer((json_int_t)m->ack_frames_tx));
	radio_fields(row, li);
	return row;
}

static void
link_row(void *arg, const struct forward_link_info *li)
{
	json_array_append_new(arg, view_link(li));
}

struct route_rows {
	const struct forward *fw;
	json_t *rows;
};

static void
route_row(void *arg, uint64_t dst, const struct route_hop *hop)
{
	static const char *const kinds[] = { "none", "direct", "learned", "static", "default" };
	struct route_rows *r = arg;

	if (hop == NULL) {
		json_array_append_new(r->rows, json_pack("{s:I, s:n, s:s}", "dst", (json_int_t)dst, "via", "kind", "unreachable"));
		return;
	}
	json_array_append_new(r->rows, json_pack("{s:I, s:I, s:s, s:I, s:s}", "dst", (json_int_t)dst,
	    "via", (json_int_t)hop->via, "link", forward_link_name(r->fw, hop->link),
	    "cost", (json_int_t)hop->cost, "kind", kinds[hop->kind]));
}

json_t *
view_network(struct forward *fw, const char *op)
{
	json_t *rows = json_array(), *o;
	struct route_rows rr = { fw, rows };

	if (fw != NULL) {
		if (strcmp(op, "neighbors") == 0)
			forward_neighbours(fw, nbr_row, rows);
		else if (strcmp(op, "links") == 0)
			forward_links(fw, link_row, rows);
		else
			forward_routes(fw, route_row, &rr);
	}
	o = json_pack("{s:b, s:o}", "ok", 1, op, rows);
	if (fw != NULL) {
		struct forward_counters fc;

		forward_counters(fw, &fc);
		json_object_set_new(o, "in_flight", json_integer(forward_in_flight(fw)));
		json_object_set_new(o, "forwarding", json_pack("{s:I, s:I, s:I, s:I, s:I}",
		    "handed", (json_int_t)fc.handed, "flood_sent", (json_int_t)fc.flood_sent,
		    "flood_handed", (json_int_t)fc.flood_handed, "flood_scanned", (json_int_t)fc.flood_scanned,
		    "duplicates", (json_int_t)fc.duplicates));
	}
	return o;
}

#define FLOOD_LIST_MAX		100	/* bundles per answer */
#define FLOOD_LIST_BYTES	(CONTROL_MAX_MSG - 4096)	/* and what one message can carry */
#define FLOOD_HOLDERS_SHOWN	32

/* The bundles for every node, each with the neighbours known to have it. */
json_t *
view_flood(struct node *node)
{
	static const char *const hows[] = { "?", "from", "sent", "offered" };
	struct store *st = node_store(node);
	struct store_holder held[FLOOD_HOLDERS_SHOWN];
	struct store_stats ss;
	struct store_entry e;
	json_t *rows = json_array(), *row;
	size_t bytes = 0;
	int prio = 0, n;
	int64_t after = 0;

	while (json_array_size(rows) < FLOOD_LIST_MAX && store_next_flood(st, prio, after, 0, &e) == 0) {
		json_t *hs = json_array();

		prio = e.priority;
		after = e.rowid;
		n = store_holders(st, e.rowid, held, FLOOD_HOLDERS_SHOWN);
		for (int i = 0; i < n && i < FLOOD_HOLDERS_SHOWN; i++)
			json_array_append_new(hs, json_pack("{s:I, s:s, s:I}", "node", (json_int_t)held[i].node,
			    "how", hows[held[i].how >= 1 && held[i].how <= 3 ? held[i].how : 0],
			    "when", (json_int_t)held[i].when));
		row = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:o}",
		    "id", e.id, "src", e.src, "dst", e.dst, "class", prio_name(e.priority),
		    "size", (json_int_t)e.size, "expires", (json_int_t)e.expires,
		    "local", e.state == STORE_FLOOD_LOCAL, "holders", hs);
		if ((bytes += json_dumpb(row, NULL, 0, JSON_COMPACT) + 1) > FLOOD_LIST_BYTES) {
			json_decref(row);
			break;
		}
		json_array_append_new(rows, row);
	}
	if (store_stats(st, &ss) < 0)
		ss.flood = json_array_size(rows);
	return json_pack("{s:b, s:I, s:o}", "ok", 1, "total", (json_int_t)ss.flood, "flood", rows);
}

static void
reg_row(void *arg, int64_t id, uint64_t service, const char *name, uint64_t created, uint64_t pending)
{
	char text[STORE_REG_NAME_MAX * 4 + 1];

	text_escape(text, sizeof(text), name, strlen(name));
	json_array_append_new(arg, json_pack("{s:I, s:s, s:I, s:I}", "service", (json_int_t)service,
	    "name", text, "created", (json_int_t)created, "pending", (json_int_t)pending));
}

json_t *
view_registrations(struct node *n, char *err, size_t errlen)
{
	json_t *rows = json_array();
	int r;

	if ((r = store_registrations(node_store(n), reg_row, rows)) < 0) {
		json_decref(rows);
		snprintf(err, errlen, "cannot read the store: %s", store_strerror(r));
		return NULL;
	}
	return json_pack("{s:b, s:o}", "ok", 1, "registrations", rows);
}
