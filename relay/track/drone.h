/*
 * drone.h - the drones this node hears: MAVLink from its endpoints
 * (mavio.h) in, their positions reported like the node's own (posout.h),
 * their telemetry out at the rates of the link class (mavrate.h), and the
 * telemetry other nodes send re-emitted as MAVLink for QGroundControl or
 * Mission Planner (conf mavlink_out).
 *
 * A drone is known by its MAVLink system id; its unit name is the node's
 * unit and the id ("Team 3/drone 1"), so two ground stations' drones never
 * mix even when both are system 1.
 */
#ifndef FIELDRELAY_TRACK_DRONE_H
#define FIELDRELAY_TRACK_DRONE_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "fix.h"
#include "posout.h"
#include "track.h"

#define DRONE_MAX	16

struct drone;

struct drone_ops {
	/* A drone's position: store it, and report it (posout_offer) when due. */
	void (*fix)(void *arg, struct posout *p, const struct fix *f);
	/* Telemetry to send to the ground station (conf telemetry_to). */
	void (*telemetry)(void *arg, const uint8_t *data, size_t len);
	void (*log)(void *arg, const char *msg);
};

/* The endpoints of conf, opened; NULL with the reason in err. */
struct drone *drone_new(const struct track_conf *cf, const struct drone_ops *ops, void *arg, char *err,
    size_t errlen);
void drone_free(struct drone *d);
/* Who we are: the node and its unit's name (the drones' names start with it). */
void drone_set_node(struct drone *d, uint64_t node, const char *unit);
/* The class of link telemetry must get through now. */
void drone_set_class(struct drone *d, enum link_class cls);

/* The endpoints' fds into pf (at most cap): how many. */
int drone_pollfds(struct drone *d, struct pollfd *pf, int cap);
/* After poll(): read what the endpoints have (pf as drone_pollfds filled it). */
void drone_read(struct drone *d, const struct pollfd *pf, int n, int64_t now_ms);
/* Replay and summaries when due; the next deadline (monotonic ms). */
void drone_tick(struct drone *d, int64_t now_ms);
int64_t drone_deadline(const struct drone *d);

/* A telemetry bundle from src (ipn:N.6), len 0 if it was too big: re-emit it. */
void drone_received(struct drone *d, const char *src, const uint8_t *data, size_t len);

#endif
