/*
 * echo.h - the echo service, fieldrelay's worked example of an agent: the
 * responder fieldrelay-echo sends every bundle for its service back to where
 * it came from; fieldrelay-ping (the same program, by its name) sends
 * numbered bundles to a node's echo service and times each round trip
 * through store-and-forward, as ION's bping does.
 */
#ifndef FIELDRELAY_ECHO_H
#define FIELDRELAY_ECHO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ECHO_SERVICE		9		/* ipn:NODE.9, unless [echo] service says otherwise */
#define ECHO_NAME		"echo"		/* the responder's registration */
#define ECHO_MAX_BYTES		(1u << 20)	/* bigger bundles are taken, not echoed */

/* [echo] in the node's config file (echo_config.c). */
struct echo_conf {
	uint64_t service;
	char name[65];
};
/* The defaults, then each key of the section through echo_config_section.set(). */
void echo_conf_defaults(struct echo_conf *c);

/*
 * A ping's payload: "FRPING1" and a NUL, the session (u32, big-endian),
 * the sequence number (u32), then bytes that follow from both, up to the
 * size asked for: the reply must come back byte for byte.
 */
#define PING_MAGIC		"FRPING1"
#define PING_HEADER		16
void ping_payload(uint8_t *p, size_t len, uint32_t session, uint32_t seq);
/* Is p a ping of this session?  Its sequence number in *seq; intact: as sent. */
bool ping_parse(const uint8_t *p, size_t len, uint32_t session, uint32_t *seq, bool *intact);

int ping_main(int argc, char **argv);

#endif
