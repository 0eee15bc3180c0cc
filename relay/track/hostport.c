/*
 * hostport.c - HOST:PORT and the clocks (hostport.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hostport.h"

int
hostport_split(const char *s, char *host, size_t hostcap, char *port, size_t portcap)
{
	const char *colon, *h = s;
	size_t hl;
	long v;
	char *end;

	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':' || close == s + 1)
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -EINVAL;
		hl = (size_t)(colon - s);
		if (memchr(s, ':', hl) != NULL)
			return -EINVAL;	/* an IPv6 address without its brackets */
	}
	v = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || v < 1 || v > 65535)
		return -EINVAL;
	if (hl >= hostcap || strlen(colon + 1) >= portcap)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portcap, "%s", colon + 1);
	return 0;
}

static int64_t
ms_of(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
now_mono_ms(void)
{
	return ms_of(CLOCK_MONOTONIC);
}

int64_t
now_wall_ms(void)
{
	return ms_of(CLOCK_REALTIME);
}
