/*
 * battery.c - the node's battery level (battery.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "battery.h"

/* The number a small file starts with, 0..100, or -1. */
static int
read_percent(const char *path)
{
	char buf[32], *end;
	FILE *f = fopen(path, "r");
	size_t n;
	double v;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	v = strtod(buf, &end);
	if (end == buf)
		return -1;
	while (*end == ' ' || *end == '\t' || *end == '%' || *end == '\n' || *end == '\r')
		end++;
	if (*end || !(v >= 0 && v <= 100))
		return -1;
	return (int)(v + 0.5);
}

static int
sysfs_level(const char *sysfs)
{
	char path[512], type[32];
	struct dirent *de;
	DIR *d = opendir(sysfs);
	int lowest = -1;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		FILE *f;
		size_t n;
		int v;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/type", sysfs, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(type, 1, sizeof(type) - 1, f);
		fclose(f);
		type[n] = '\0';
		if (strncmp(type, "Battery", 7) != 0)
			continue;	/* the mains, a USB port */
		snprintf(path, sizeof(path), "%s/%s/capacity", sysfs, de->d_name);
		if ((v = read_percent(path)) >= 0 && (lowest < 0 || v < lowest))
			lowest = v;
	}
	closedir(d);
	return lowest;
}

int
battery_level(const char *spec, const char *sysfs)
{
	if (spec == NULL || spec[0] == '\0')
		return -1;
	if (strcmp(spec, "auto") == 0)
		return sysfs_level(sysfs ? sysfs : BATTERY_SYSFS);
	return read_percent(spec);
}
