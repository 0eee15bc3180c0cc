/*
 * ports.h - UDP/TCP ports for the unit tests that bind real sockets.
 *
 * test_free_ports() gives n distinct ports that nothing on the machine has
 * bound (UDP and TCP, IPv4 and IPv6 wildcard), drawn outside the kernel's
 * ephemeral range (ip_local_port_range, which every connect() and bind(0) on
 * the machine takes from) and reserved against other test processes, the
 * pytest harness's free_ports() included, until this process exits.  Fresh
 * ports for every test: one that failed and left a socket bound cannot make
 * the next fail with EADDRINUSE.  It fails the test (cmocka fail_msg) when
 * no port is left.
 */
#ifndef FIELDRELAY_TEST_PORTS_H
#define FIELDRELAY_TEST_PORTS_H

#include <stdint.h>

void test_free_ports(uint16_t *ports, int n);
/* One port, as test_free_ports(&port, 1). */
uint16_t test_free_port(void);

#endif
