/*
 * fix.c - a fix's defaults and names (fix.h).
 */
#include <math.h>
#include <string.h>

#include "fix.h"

const char *
fix_source_name(enum fix_source s)
{
	static const char *const names[FIX_SOURCE_COUNT] = { "gpsd", "mavlink", "manual" };

	return (unsigned)s < FIX_SOURCE_COUNT ? names[s] : "unknown";
}

void
fix_init(struct fix *f)
{
	memset(f, 0, sizeof(*f));
	f->alt = f->speed = f->course = f->eph = f->epv = NAN;
}
