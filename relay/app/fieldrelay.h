/*
 * fieldrelay.h - libfieldrelay, the application API of fieldrelayd.
 *
 * An agent (fieldrelay-track, -voice, -sync, -web, or yours) is a program of
 * its own that talks to the daemon through this library over the daemon's
 * control socket.  The daemon stores, forwards and routes; an agent makes
 * and takes the data.  The wire protocol underneath is documented byte by
 * byte in relay/ctl/PROTOCOL.md; this header is the C face of it.
 *
 *   struct fr_conf *cf = fr_conf_load("/etc/fieldrelay/fieldrelay.conf", "echo", err, sizeof(err));
 *   struct fr *c = fr_open(fr_conf_socket(cf), FR_TIMEOUT_MS, err, sizeof(err));
 *   fr_hello(c, "fieldrelay-echo", &h);
 *   fr_recv_start(c, 7, "echo", 0, true);
 *   while (fr_recv_next(c, &b) == 1) { ... fr_recv_body(c, b.len, sink, arg); fr_ack(c, b.rowid); }
 *
 * Every call blocks for at most the connection's timeout (fr_set_timeout);
 * errors are -errno, with a text in fr_error().  One connection is used by
 * one thread at a time.  Link with `pkg-config --libs fieldrelay`.
 */
#ifndef FIELDRELAY_H
#define FIELDRELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FR_PROTOCOL		1		/* the protocol version this library speaks */
#define FR_MAX_MSG		(64u << 10)	/* largest JSON message either way */
#define FR_TIMEOUT_MS		10000		/* default per-call timeout */
#define FR_DEFAULT_CONFIG	"/etc/fieldrelay/fieldrelay.conf"
#define FR_DEFAULT_SOCKET	"/var/lib/fieldrelay/control.sock"

struct fr;

/* ---- connecting ---- */

/*
 * Connect to the daemon's control socket.  NULL with a message for people in
 * err (not running, no permission, ...) and errno set.  timeout_ms: per call,
 * -1 waits for ever.
 */
struct fr *fr_open(const char *socket_path, int timeout_ms, char *err, size_t errlen);
/*
 * The same, trying again (1 s apart) while the daemon is not there, for up
 * to wait_ms (-1: for ever): what an agent does at start and after the
 * daemon restarted.  Other errors (permission) end it at once.
 */
struct fr *fr_open_wait(const char *socket_path, int timeout_ms, int wait_ms, char *err, size_t errlen);
void fr_close(struct fr *c);
int fr_fd(const struct fr *c);		/* to poll() together with other fds, but see fr_poll() */
/*
 * Is a message waiting, read ahead already or on the socket, within
 * timeout_ms (-1: wait)?  1, 0, -errno.  Poll the fd only after this said 0
 * with timeout 0: the library may hold messages the socket no longer shows.
 */
int fr_poll(struct fr *c, int timeout_ms);
void fr_set_timeout(struct fr *c, int timeout_ms);
int fr_timeout(const struct fr *c);
/* The last error's text on this connection ("" if none). */
const char *fr_error(const struct fr *c);

/* What the daemon says in answer to fr_hello(). */
struct fr_hello {
	int protocol;			/* the daemon's protocol version */
	uint64_t node;			/* its node number */
	char name[64];			/* its node name */
	char version[32];		/* the daemon's release */
};
/*
 * Say who we are (agent: a name for the daemon's log) and check that the
 * daemon speaks our protocol: 0, -EPROTONOSUPPORT if it does not.
 */
int fr_hello(struct fr *c, const char *agent, struct fr_hello *h);

/* ---- messages: the generic level under everything else ---- */

/*
 * One request (a JSON object as text, without a body), one answer: *reply
 * gets the answer's JSON text (free() it).  0 whether the daemon said ok or
 * not (look at "ok"), -errno when there is no answer.  For status, queue,
 * links, neighbors, routes, flood, registrations, config-check.
 */
int fr_request(struct fr *c, const char *json, char **reply);
/*
 * Write one message (JSON text) and its body: body_len bytes from body, or
 * (body NULL) from body_fd at its offset 0.  Lower level than fr_send().
 */
int fr_write_msg(struct fr *c, const char *json, const void *body, int body_fd, uint64_t body_len);
/* Read the next message: *json gets its text (free() it); 0 or -errno (-EPIPE: the daemon hung up). */
int fr_read_msg(struct fr *c, char **json);
/* Read a body of len bytes, passing chunks to sink (NULL: drop them). */
typedef int fr_sink_fn(void *arg, const void *data, size_t len);	/* < 0 stops */
int fr_read_body(struct fr *c, uint64_t len, fr_sink_fn *sink, void *arg);

/* ---- sending bundles (stored and forwarded) ---- */

struct fr_send {
	const char *dst;		/* ipn:NODE.SERVICE or dtn://...; ipn:0.2, ipn:0.3: every node */
	uint64_t service;		/* our service it comes from; 0: the destination's ... */
	bool service_set;		/* ... unless this says 0 is meant (the admin service) */
	const char *priority;		/* urgent, position, voicemsg, message, telemetry, bulk;
					 * NULL: from the destination service */
	uint64_t lifetime;		/* seconds; 0: the daemon's default */
	const char *report;		/* status reports: NULL none, else a JSON value (true,
					 * or a list such as ["delivered","time"]) */
	const char *supersede;		/* NULL: the class's default; "": none; else a key */
};

/* The daemon's answer to one send. */
struct fr_sent {
	uint64_t ticket;		/* what fr_send_async() returned */
	bool ok;			/* durable: the bundle is accepted */
	const char *id;			/* ok: the bundle's id */
	const char *code;		/* not ok: bad-request, bad-eid, too-big, quota,
					 * disk-full, busy, io, shutting-down, ... */
	const char *error;		/* not ok: for people */
};
typedef void fr_sent_fn(void *arg, const struct fr_sent *s);

/*
 * Pipelined send: queue one bundle (len bytes from mem, or mem NULL: from fd
 * at its offset 0, streamed in chunks, never whole in memory) and return at
 * once with its ticket in *ticket; done(arg, ...) runs once the daemon has
 * stored it durably (or refused it), from inside a later fr_send_async(),
 * fr_send_flush() or fr_send_wait() on this connection, in send order.  At
 * most FR_SEND_WINDOW sends are unanswered at a time (a send waits for the
 * oldest answer first).  0 or -errno.
 */
#define FR_SEND_WINDOW		512
int fr_send_async(struct fr *c, const struct fr_send *s, const void *mem, int fd, uint64_t len,
    fr_sent_fn *done, void *arg, uint64_t *ticket);
/* Write out what is queued without waiting for answers. */
int fr_send_flush(struct fr *c);
/* Wait until at most max sends are unanswered (0: all answered). */
int fr_send_wait(struct fr *c, unsigned max);
unsigned fr_send_pending(const struct fr *c);
/* Progress of a big body being written (bytes done, of total); NULL: none. */
void fr_send_progress(struct fr *c, void (*fn)(void *arg, uint64_t done, uint64_t total), void *arg);
/*
 * One send, waited for: 0 with the id in id[idlen]; -EREMOTEIO if the daemon
 * refused it (its code and text in fr_error()); other -errno.
 */
int fr_send(struct fr *c, const struct fr_send *s, const void *mem, int fd, uint64_t len,
    char *id, size_t idlen);

/* ---- receiving bundles for a service ---- */

/*
 * Start a stream of the bundles for service on this connection.  name: a
 * durable registration (created if new): the daemon keeps every bundle for
 * the service for each registered name until that name acks it, also while
 * it is away and across restarts; two names each get every bundle.  NULL:
 * no registration, the bundles waiting for nobody in particular (today's
 * `fieldrelay recv`; refused on a service that has registrations).  count: stop
 * after that many (0: no limit); wait: keep waiting when none is left.
 * A connection carries one stream (recv or watch), until it ends.
 */
int fr_recv_start(struct fr *c, uint64_t service, const char *name, uint64_t count, bool wait);

struct fr_bundle {
	int64_t rowid;			/* what to ack */
	char id[384];			/* the bundle's id */
	char src[256], dst[256];	/* endpoint IDs */
	char class[16];			/* its priority class */
	uint64_t received;		/* Unix ms it came in */
	uint64_t expires;		/* Unix ms its lifetime ends */
	uint64_t len;			/* payload bytes, to read with fr_recv_body() */
};
/* The next bundle: 1 (then read its body), 0 the stream ended, -errno (a refusal: -EREMOTEIO). */
int fr_recv_next(struct fr *c, struct fr_bundle *b);
/* Its payload, b->len bytes, in chunks to sink. */
int fr_recv_body(struct fr *c, const struct fr_bundle *b, fr_sink_fn *sink, void *arg);
/*
 * Done with bundle rowid: it leaves the store (for this name).  Until then
 * it is delivered again after a reconnect: at least once.  Not answered.
 */
int fr_ack(struct fr *c, int64_t rowid);

/* ---- live frames and events ---- */

/*
 * Send a live frame (the realtime class, push-to-talk voice): never stored,
 * sent at once over the best live link to node (0: to every neighbour), for
 * talk group `group`, talk spurt `spurt`, frame `seq` in it.  At most
 * FR_LIVE_MAX bytes.  Not answered unless it fails (then an error message
 * arrives through fr_next()).
 */
#define FR_LIVE_MAX		1275	/* one Opus frame at most (RFC 6716 3.2.1) */
int fr_live_send(struct fr *c, uint64_t node, uint64_t group, uint64_t spurt, uint64_t seq,
    const void *data, size_t len);

/* What fr_watch() subscribes to. */
#define FR_WATCH_EVENTS		0x1	/* links, neighbours, routes, store use */
#define FR_WATCH_LIVE		0x2	/* live frames received */
int fr_watch(struct fr *c, unsigned what);

enum fr_event_kind {
	FR_EV_LINK_UP = 1, FR_EV_LINK_DOWN, FR_EV_NEIGHBOUR_UP, FR_EV_NEIGHBOUR_DOWN,
	FR_EV_ROUTE, FR_EV_STORE, FR_EV_LIVE, FR_EV_ERROR, FR_EV_OTHER
};
struct fr_event {
	enum fr_event_kind kind;
	const char *json;		/* the whole message, valid until the next call */
	char link[32];			/* links, neighbours, live: the link's name */
	uint64_t node;			/* neighbours: who; route: the neighbour that changed it
					 * (0: routes expired); live: from */
	uint64_t rate_bps;		/* link up: its rate (0 unknown) */
	uint32_t mtu;			/* link up */
	double loss;			/* link up: share of segments resent (-1 unknown) */
	int rtt_ms;			/* link up: round trip (-1 unknown) */
	bool disk_full;			/* store: new bundles are refused */
	uint64_t bundles, bytes, quota;	/* store */
	uint64_t group, spurt, seq;	/* live */
	const uint8_t *data;		/* live: the frame, valid until the next call */
	size_t len;
};
/* The next event: 1, 0 none within timeout_ms (-1: wait), -errno. */
int fr_next(struct fr *c, struct fr_event *ev, int timeout_ms);

/* ---- the node's config file, for agents ---- */

/*
 * An agent is started as `fieldrelay-NAME -c CONFIG` with the node's config:
 * it takes the control socket from it and its own [section].  NULL with
 * "file:line: message" in err when the file cannot be read.  path NULL: the
 * default config, if it exists (else only defaults).
 */
struct fr_conf;
struct fr_conf *fr_conf_load(const char *path, const char *section, char *err, size_t errlen);
void fr_conf_free(struct fr_conf *cf);
const char *fr_conf_socket(const struct fr_conf *cf);	/* [control] socket, or data_dir's */
uint64_t fr_conf_node(const struct fr_conf *cf);	/* [node] id, 0 if not set */
/* A key of the agent's section: its value, or NULL when not set. */
const char *fr_conf_get(const struct fr_conf *cf, const char *key);
/*
 * Each key of the agent's section, in file order, through fn (the shape of
 * config_set_fn in relay/base/config_section.h, so an agent passes its
 * section's set() and conf): 0, or the first refusal as "file:line: message"
 * in err and -EINVAL.
 */
typedef int fr_conf_key_fn(void *arg, const char *key, const char *value, char *msg, size_t msglen);
int fr_conf_each(const struct fr_conf *cf, fr_conf_key_fn *fn, void *arg, char *err, size_t errlen);
/* The line a key was set on (0: not set), for "file:line: message" errors. */
int fr_conf_line(const struct fr_conf *cf, const char *key);
const char *fr_conf_path(const struct fr_conf *cf);

#ifdef __cplusplus
}
#endif

#endif
