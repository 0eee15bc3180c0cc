/*
 * gpsin.h - this node's GPS, through gpsd (libgps): the only module that
 * sees struct gps_data_t.
 *
 * A client of gpsd's JSON watch (gps_open, gps_stream WATCH_ENABLE |
 * WATCH_JSON, gps_read) that never gives up: when gpsd is not there or goes
 * away (restarted, the GPS unplugged and gpsd with it) it tries again, 1 s
 * after the first loss and then up to every 10 s, and says so once in the
 * log, not at every try.  A TPV report is a fix when its mode is 2D or 3D
 * and it has a time and a latitude and longitude; its time is the fix's
 * (the GPS's), never the node's clock.  When fixes stop (no fix, gpsd gone,
 * no report for GPSIN_STALE_MS) the last known position is handed on once
 * more, marked stale, so receivers show it as such.
 *
 * For a poll() loop: gpsin_fd() is the socket while connected (-1 else),
 * gpsin_read() when it is readable, gpsin_tick() at gpsin_deadline().
 */
#ifndef FIELDRELAY_TRACK_GPSIN_H
#define FIELDRELAY_TRACK_GPSIN_H

#include <stdbool.h>
#include <stdint.h>

#include "fix.h"

#define GPSIN_STALE_MS		10000	/* no fix for this long: the last one is stale */
#define GPSIN_RETRY_MIN_MS	1000
#define GPSIN_RETRY_MAX_MS	10000

struct gpsin;

/* What the module tells its user: a fix (or the last one, stale), and news for the log. */
struct gpsin_ops {
	void (*fix)(void *arg, const struct fix *f);
	void (*log)(void *arg, const char *msg);
};

/* A client for gpsd at HOST:PORT ("[v6]:PORT" too); NULL (errno EINVAL) when it is not one. */
struct gpsin *gpsin_new(const char *hostport, const struct gpsin_ops *ops, void *arg);
void gpsin_free(struct gpsin *g);

int gpsin_fd(const struct gpsin *g);
/* The socket is readable: read what gpsd sent, hand on the fixes. */
void gpsin_read(struct gpsin *g, int64_t now_ms);
/* Connect when due, notice a silence; now_ms on CLOCK_MONOTONIC. */
void gpsin_tick(struct gpsin *g, int64_t now_ms);
/* When gpsin_tick() has something to do next (monotonic ms). */
int64_t gpsin_deadline(const struct gpsin *g);

bool gpsin_connected(const struct gpsin *g);

/* What came in so far, for the log and the tests. */
struct gpsin_stats {
	uint64_t reports;	/* TPV reports read */
	uint64_t fixes;		/* of them, valid fixes handed on */
	uint64_t no_fix;	/* of them, mode below 2D or without time or position */
	uint64_t connects;	/* connections made */
	uint64_t losses;	/* connections lost */
};
void gpsin_stats(const struct gpsin *g, struct gpsin_stats *st);

#endif
