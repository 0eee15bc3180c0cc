/*
 * echo_config.c - the [echo] section of the node's config file
 * (relay/base/config_section.h): checked by fieldrelayd -n and fieldrelay
 * config-check, read by fieldrelay-echo.
 *
 *   [echo]
 *   service = 9          the service it answers on (ipn:NODE.SERVICE)
 *   name = echo          its durable registration: what comes while it is
 *                        away waits for it
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_section.h"
#include "echo.h"

void
echo_conf_defaults(struct echo_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->service = ECHO_SERVICE;
	snprintf(c->name, sizeof(c->name), "%s", ECHO_NAME);
}

static int
echo_set(void *conf, const char *key, const char *value, char *msg, size_t msglen)
{
	struct echo_conf *c = conf;
	char *end;

	if (c->service == 0 && c->name[0] == '\0')
		echo_conf_defaults(c);	/* the parser hands us zeroes */
	if (strcmp(key, "service") == 0) {
		errno = 0;
		unsigned long long v = strtoull(value, &end, 10);

		if (*value < '1' || *value > '9' || *end != '\0' || errno || v > (unsigned long long)INT64_MAX) {
			snprintf(msg, msglen, "service: '%s' is not a service number (1 .. 2^63-1)", value);
			return -1;
		}
		c->service = v;
	} else if (strcmp(key, "name") == 0) {
		if (*value == '\0' || strlen(value) >= sizeof(c->name)) {
			snprintf(msg, msglen, "name: a registration name of 1 .. %zu characters", sizeof(c->name) - 1);
			return -1;
		}
		snprintf(c->name, sizeof(c->name), "%s", value);
	} else {
		snprintf(msg, msglen, "%s: not a key of [echo] (service, name)", key);
		return -1;
	}
	return 0;
}

static const struct config_key echo_keys[] = {
	{ "service", false },
	{ "name", false },
	{ NULL, false },
};

const struct config_section echo_config_section = {
	.name = "echo",
	.agent = "fieldrelay-echo",
	.keys = echo_keys,
	.conf_size = sizeof(struct echo_conf),
	.set = echo_set,
	.finish = NULL,
};
