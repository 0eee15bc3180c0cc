/* service.c - names of priority classes and services. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "service.h"

static const char *const prio_names[PRIO_COUNT] = {
	"realtime", "urgent", "position", "voicemsg", "message", "telemetry", "bulk",
};

const char *
prio_name(int prio)
{
	if (prio < 0 || prio >= PRIO_COUNT)
		return "none";
	return prio_names[prio];
}

int
prio_parse(const char *s)
{
	char *end;
	long v;

	for (int i = 0; i < PRIO_COUNT; i++)
		if (strcasecmp(s, prio_names[i]) == 0)
			return i;
	/* Aliases people actually type. */
	if (strcasecmp(s, "alert") == 0)
		return PRIO_URGENT;
	if (strcasecmp(s, "voice") == 0)
		return PRIO_REALTIME;
	v = strtol(s, &end, 10);
	if (*s != '\0' && *end == '\0' && v >= 0 && v < PRIO_COUNT)
		return (int)v;
	return -1;
}

int
service_default_prio(unsigned long long service)
{
	switch (service) {
	case SVC_VOICE:		return PRIO_REALTIME;
	case SVC_ALERT:		return PRIO_URGENT;
	case SVC_POSITION:	return PRIO_POSITION;
	case SVC_VOICEMSG:	return PRIO_VOICEMSG;
	case SVC_TELEMETRY:	return PRIO_TELEMETRY;
	case SVC_SYNC:
	case SVC_FILE:		return PRIO_BULK;
	default:		return PRIO_MESSAGE;
	}
}

bool
service_broadcast(unsigned long long service)
{
	return service == SVC_ALERT || service == SVC_POSITION;
}

int
service_supersede_key(char *out, size_t cap, int prio, const char *src, const char *dst)
{
	int n;

	if (prio != PRIO_POSITION)
		return -ENOENT;
	n = snprintf(out, cap, "position %s %s", src, dst);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : 0;
}
