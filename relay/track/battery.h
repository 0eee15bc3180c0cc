/*
 * battery.h - the node's battery level, for the low-battery mode: the
 * capacity of a battery in /sys/class/power_supply (type "Battery"), or a
 * file that holds a percentage (a UPS daemon's, a script's).
 */
#ifndef FIELDRELAY_TRACK_BATTERY_H
#define FIELDRELAY_TRACK_BATTERY_H

#define BATTERY_SYSFS	"/sys/class/power_supply"

/*
 * The level in percent (0..100), or -1 when unknown: spec "auto" looks for
 * the lowest battery under sysfs (BATTERY_SYSFS, or another folder for the
 * tests), "" is none, anything else is a file holding a number (a trailing
 * '%' and white space allowed).
 */
int battery_level(const char *spec, const char *sysfs);

#endif
