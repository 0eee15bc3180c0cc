/*
 * addr.h - link addresses of every medium (radio/addr.c).
 */
#ifndef FIELDRELAY_ADDR_H
#define FIELDRELAY_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A neighbour's address on a link, whatever the medium. */
struct link_addr {
	socklen_t len;			/* 0 = none */
	struct sockaddr_storage sa;	/* UDP: the peer's socket address;
					 * pcap: a struct sockaddr_ll with its MAC;
					 * KISS: family AF_AX25 and its callsign (radio/kiss.c) */
};

/* "192.0.2.1:4556", "[fe80::1%eth0]:4556", "02:00:5e:10:00:01" (pcap), "N0CALL-7" (KISS). */
int link_addr_format(const struct link_addr *a, char *out, size_t cap);
bool link_addr_equal(const struct link_addr *a, const struct link_addr *b);
/* Parse "host:port" or "[v6]:port" (numeric only: no DNS in the field). */
int link_addr_parse(struct link_addr *a, const char *text, uint16_t default_port);

/* IPv4 as v4-mapped IPv6 (for a dual-stack socket), and back for logs. */
void link_addr_to_v6(const struct link_addr *in, struct link_addr *out);
void link_addr_from_v6(struct link_addr *a);

/* ---- AX.25 ---- */

#define AX25_CALL_TEXT		10	/* "ABCDEF-15" and a NUL */

struct ax25_call {
	char call[7];			/* 1-6 of A-Z 0-9, NUL-terminated */
	uint8_t ssid;			/* 0-15 */
};

/* "N0CALL", "n0call-7" (case folded) -> call.  0 or -EINVAL. */
int ax25_call_parse(const char *text, struct ax25_call *c);
/* "N0CALL" or "N0CALL-7"; as snprintf. */
int ax25_call_format(const struct ax25_call *c, char *out, size_t cap);
bool ax25_call_equal(const struct ax25_call *a, const struct ax25_call *b);

/* The callsign in an AX.25 link address. */
struct ax25_sockaddr {
	sa_family_t family;		/* AF_AX25 */
	struct ax25_call call;
};

/* a = the AX.25 link address of callsign c. */
void link_addr_ax25(struct link_addr *a, const struct ax25_call *c);

#endif
