/*
 * fuzz_netlink.c - libFuzzer target: the rtnetlink link parser and the
 * nl80211 station parser must never read outside the buffer, whatever the
 * length fields say.  The input is copied to an exact-size allocation so
 * ASan sees any overread.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netlink_wireless w = { 0 };
	struct netlink_link st;
	bool deleted;
	void *buf;

	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	(void)netlink_parse_link(buf, size, &st, &deleted);
	(void)netlink_parse_station(buf, size, &w);
	free(buf);
	return 0;
}
