/*
 * ops.c - the control socket's op table (PROTOCOL.md): every request type in
 * one row, and the requests answered at once from the daemon's state (the
 * views of views.c).  A new op is a row here and its handler.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_int.h"
#include "log.h"
#include "node.h"
#include "text.h"
#include "version.h"
#include "views.h"

static void
op_hello(struct conn *c, json_t *req, json_t *tag)
{
	const struct config *cfg = node_config(c->ctl->node);
	json_t *v = json_object_get(req, "protocol"), *agent = json_object_get(req, "agent"), *o;

	if (v && (!json_is_integer(v) || json_integer_value(v) < 1)) {
		conn_error(c, tag, "bad-request", "\"protocol\" must be a version number (1 or more)");
		return;
	}
	if (agent && (!json_is_string(agent) || json_string_length(agent) == 0 ||
	    json_string_length(agent) >= sizeof(c->agent) || strlen(json_string_value(agent)) != json_string_length(agent))) {
		conn_error(c, tag, "bad-request", "\"agent\" must be a name of 1 .. %zu characters", sizeof(c->agent) - 1);
		return;
	}
	if (agent) {
		text_escape(c->agent, sizeof(c->agent), json_string_value(agent), json_string_length(agent));
		log_info("control: %s connected (protocol %d)", c->agent, (int)(v ? json_integer_value(v) : 1));
	}
	o = json_pack("{s:b, s:i, s:s, s:I, s:s}", "ok", v == NULL || json_integer_value(v) <= CONTROL_PROTOCOL,
	    "protocol", CONTROL_PROTOCOL, "version", FIELDRELAY_VERSION, "node", (json_int_t)cfg->node_id,
	    "name", cfg->name);
	if (v && json_integer_value(v) > CONTROL_PROTOCOL) {
		json_object_set_new(o, "code", json_string("protocol"));
		json_object_set_new(o, "error", json_sprintf("this fieldrelayd speaks protocol %d, not %d: upgrade it",
		    CONTROL_PROTOCOL, (int)json_integer_value(v)));
	}
	conn_answer(c, tag, o);
}


/* A view answered as it is, or its error. */
static void
answer_view(struct conn *c, json_t *tag, json_t *o, const char *err)
{
	if (o == NULL)
		conn_error(c, tag, "io", "%s", err);
	else
		conn_answer(c, tag, o);
}

static void
op_status(struct conn *c, json_t *req, json_t *tag)
{
	char err[256];

	answer_view(c, tag, view_status(c->ctl->node, err, sizeof(err)), err);
}

static void
op_queue(struct conn *c, json_t *req, json_t *tag)
{
	char err[256];

	answer_view(c, tag, view_queue(c->ctl->node, err, sizeof(err)), err);
}

static void
op_config_check(struct conn *c, json_t *req, json_t *tag)
{
	conn_answer(c, tag, view_config_check(c->ctl->node));
}

static void
op_network(struct conn *c, json_t *req, json_t *tag)
{
	conn_answer(c, tag, view_network(c->ctl->forward, json_string_value(json_object_get(req, "op"))));
}

static void
op_flood(struct conn *c, json_t *req, json_t *tag)
{
	conn_answer(c, tag, view_flood(c->ctl->node));
}

static void
op_registrations(struct conn *c, json_t *req, json_t *tag)
{
	char err[256];

	answer_view(c, tag, view_registrations(c->ctl->node, err, sizeof(err)), err);
}

static const struct ctl_op ops[] = {
	{ "hello", op_hello, NULL, "say who the client is; check the protocol version" },
	{ "status", op_status, NULL, "node, uptime, boot, clock, store figures" },
	{ "queue", op_queue, NULL, "counts and bytes per class and per destination" },
	{ "send", NULL, deliver_send, "one bundle (the body), answered with its id once durable" },
	{ "recv", deliver_recv, NULL, "a stream of the bundles for a service, each to be acked" },
	{ "ack", deliver_ack, NULL, "done with a bundle of the stream" },
	{ "register", deliver_register, NULL, "a durable registration for a service's bundles" },
	{ "unregister", deliver_unregister, NULL, "remove a registration" },
	{ "registrations", op_registrations, NULL, "every registration and what waits for it" },
	{ "watch", watch_op, NULL, "a stream of events (links, neighbours, routes, store) and live frames" },
	{ "live", NULL, watch_live_send, "one live frame (the body), sent now, never stored" },
	{ "config-check", op_config_check, NULL, "read the daemon's config file again and check it" },
	{ "neighbors", op_network, NULL, "neighbours heard on each link" },
	{ "links", op_network, NULL, "each link's state and counters" },
	{ "routes", op_network, NULL, "next hop per destination" },
	{ "flood", op_flood, NULL, "the bundles for every node and who has them" },
};

const struct ctl_op *
ops_find(const char *name)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, name) == 0)
			return &ops[i];
	return NULL;
}
