/*
 * testagent_config.c - the [testagent] section of a test-only agent: it
 * exists so that tests can show an agent's section being checked by
 * `fieldrelayd -n` and `fieldrelay config-check` and skipped by the daemon
 * (relay/base/config_section.h) while no real agent is built.  Its line in
 * the Makefile's AGENTS goes once a real agent's section covers the same.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_section.h"

#define TESTAGENT_MAX_PEERS 4

struct testagent_conf {
	char greeting[64];
	unsigned interval_s;
	uint32_t peers[TESTAGENT_MAX_PEERS];
	unsigned n_peers;
};

/* A decimal number in [min, max], nothing after it but suffix (or nothing). */
static int
number(const char *s, const char *suffix, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || *out < min || *out > max || (*end != '\0' && strcmp(end, suffix) != 0))
		return -1;
	return 0;
}

static int
testagent_set(void *conf, const char *key, const char *value, char *msg, size_t msglen)
{
	struct testagent_conf *c = conf;
	unsigned long v;

	if (strcmp(key, "greeting") == 0) {
		if (*value == '\0' || strlen(value) >= sizeof(c->greeting)) {
			snprintf(msg, msglen, "greeting: 1 to %zu characters", sizeof(c->greeting) - 1);
			return -1;
		}
		snprintf(c->greeting, sizeof(c->greeting), "%s", value);
	} else if (strcmp(key, "interval") == 0) {
		if (number(value, "s", 1, 3600, &v) < 0) {
			snprintf(msg, msglen, "interval: '%s' is not a number of seconds from 1 to 3600 (e.g. 30s)",
			    value);
			return -1;
		}
		c->interval_s = (unsigned)v;
	} else if (strcmp(key, "peer") == 0) {
		if (number(value, "", 1, UINT32_MAX, &v) < 0) {
			snprintf(msg, msglen, "peer: '%s' is not a node number", value);
			return -1;
		}
		if (c->n_peers == TESTAGENT_MAX_PEERS) {
			snprintf(msg, msglen, "peer: at most %d peers", TESTAGENT_MAX_PEERS);
			return -1;
		}
		c->peers[c->n_peers++] = (uint32_t)v;
	}
	return 0;
}

static int
testagent_finish(void *conf, char *msg, size_t msglen)
{
	const struct testagent_conf *c = conf;

	if (c->greeting[0] == '\0') {
		snprintf(msg, msglen, "[testagent] needs a greeting (greeting = hello)");
		return -1;
	}
	return 0;
}

static const struct config_key testagent_keys[] = {
	{ "greeting", false },
	{ "interval", false },
	{ "peer", true },
	{ NULL, false },
};

const struct config_section testagent_config_section = {
	.name = "testagent",
	.agent = "fieldrelay-testagent",
	.keys = testagent_keys,
	.conf_size = sizeof(struct testagent_conf),
	.set = testagent_set,
	.finish = testagent_finish,
};
