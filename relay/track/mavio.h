/*
 * mavio.h - MAVLink endpoints, as mavlink-router has them: a UDP socket
 * that listens on [HOST]:PORT (and answers whoever sent last), a UDP socket
 * connected to HOST:PORT (a ground station's port: the re-emit of
 * mavlink_out, or an autopilot's), and a tlog replayed at its own pace.
 *
 * Nothing blocks: sockets are non-blocking, and an outside poll() loop
 * waits on mavio_fd() and until mavio_next_deadline(), then calls
 * mavio_read().  Each UDP datagram is parsed on its own (a frame never
 * spans two).
 */
#ifndef FIELDRELAY_TRACK_MAVIO_H
#define FIELDRELAY_TRACK_MAVIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mavlink.h"
#include "track.h"

struct mavio;

/* How a frame came in. */
struct mavio_rx {
	int64_t wall_ms;	/* Unix ms when it was read */
	uint64_t tlog_us;	/* a replayed frame: the tlog's own time of it; else 0 */
};
typedef void mavio_frame_cb(struct mavio *e, const struct mav_frame *f, const struct mavio_rx *rx, void *arg);

/* UDP on [HOST]:PORT (HOST empty: every IPv4 address); NULL with errno. */
struct mavio *mavio_listen(const char *hostport);
/* UDP to HOST:PORT (the local port is the kernel's); NULL with errno. */
struct mavio *mavio_connect(const char *hostport);
/*
 * Replay the tlog at path from now_ms (monotonic): each record when its
 * time since the first has passed, divided by speed (1: as recorded, 10:
 * ten times faster; 0: as fast as the loop reads).  NULL with errno.
 */
struct mavio *mavio_tlog(const char *path, double speed, int64_t now_ms);
/* The endpoint of the config (a tlog at its speed factor, 0 meaning 1: its own pace). */
struct mavio *mavio_new(const struct track_mav_endpoint *ep, int64_t now_ms);
void mavio_free(struct mavio *e);

/* The fd to poll for input, or -1 (a tlog: use the deadline). */
int mavio_fd(const struct mavio *e);
/* When mavio_read has something to do without input (monotonic ms), or INT64_MAX. */
int64_t mavio_next_deadline(const struct mavio *e);
/*
 * Read what is there (every datagram waiting, or every tlog record due at
 * now_ms, at most a bounded batch so the loop stays responsive), cb for each
 * frame.  The frames read, or -errno on a socket error.
 */
int mavio_read(struct mavio *e, int64_t now_ms, mavio_frame_cb *cb, void *arg);
/*
 * Send one or more whole frames as one datagram: to the peer (connect), to
 * whoever sent last (listen; -ENOTCONN before anyone did).  A tlog: -EBADF.
 * 0, or -errno (-EAGAIN: the socket is full, the datagram is dropped).
 */
int mavio_send(struct mavio *e, const uint8_t *buf, size_t len);
/* A replayed tlog that has no more records. */
bool mavio_done(const struct mavio *e);
const struct mav_stats *mavio_stats(const struct mavio *e);

#endif
