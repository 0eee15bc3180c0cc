/*
 * node.h - one fieldrelay node: its configuration, its store, and the
 * service side of the data flow (DESIGN.md section 4): a local application's
 * data becomes a bundle here, is made durable with store_put(), and only then
 * is the application told it was accepted.  Bundles for this node's own EIDs
 * are kept in state LOCAL until an application takes them.
 */
#ifndef FIELDRELAY_NODE_H
#define FIELDRELAY_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "bundle.h"
#include "config.h"
#include "fragment.h"
#include "loop.h"
#include "report.h"
#include "store.h"

struct node;

struct node *node_new(const struct config *cfg, struct loop *l, char *err, size_t errlen);
void node_free(struct node *n);

const struct config *node_config(const struct node *n);
struct store *node_store(const struct node *n);
uint64_t node_started(const struct node *n);	/* monotonic ms */
bool node_clock_trusted(const struct node *n);
/* Replace the config after a SIGHUP; only reloadable parts take effect. */
void node_reconfigure(struct node *n, const struct config *cfg);

/* Data from a local application, to become one bundle. */
struct node_send {
	struct eid dst;
	uint64_t src_service;		/* our ipn service it comes from */
	int priority;			/* enum prio, -1 = the service's default */
	uint64_t lifetime;		/* s, 0 = the configured default */
	const uint8_t *payload;		/* in memory, or ... */
	int payload_fd;			/* ... payload_len bytes from this fd (-1 if none) */
	uint64_t payload_len;
	uint64_t report_flags;		/* status reports asked for: BF_RPT_*, BF_STATUS_TIME */
	bool admin;			/* an administrative record (status report) of ours */
	const char *supersede;		/* NULL: the class's key (positions: a newer one
					 * replaces this one while queued, see
					 * service_supersede_key()); "": none; else this key,
					 * scoped to the source EID */
};

/* result: 0 accepted (durable), or a store result code (store_strerror). */
typedef void node_send_fn(void *arg, int result, const char *bundle_id);

/*
 * 0 if queued (fn will run), -EINVAL bad request, -EMSGSIZE too big,
 * -EADDRNOTAVAIL for ipn:0.SERVICE (every node) with a service that is not
 * a broadcast service (service_broadcast()).
 */
int node_send(struct node *n, const struct node_send *s, node_send_fn *fn, void *arg);

/*
 * The local application took bundle rowid (and acknowledged it): it leaves
 * the store, or a flood bundle stays for other nodes (store_take()); a
 * delivery report goes out if the bundle asked for one.  Returns 0 (fn will
 * run) or store_take()'s error.
 */
int node_delivered(struct node *n, int64_t rowid, store_done_fn *fn, void *arg);

/*
 * A whole bundle arrived from neighbour `from` over a link: total bytes in
 * mem, or (mem NULL) in fd from offset 0.  Checked, its previous-node and hop-count blocks updated, made
 * durable; then fn(arg, result): 0 or -EEXIST (a duplicate) mean the sender
 * may let go; others are refusals (quota, disk full).  A bundle for every
 * node (ipn:0.SERVICE) is kept both for the local application and for the
 * other neighbours; one that was here already is noted as held by `from`.  Returns at once,
 * without calling fn: -EBADMSG (with *why) if the bytes are not a valid
 * bundle; -ELOOP (hop limit) or -ETIME (lifetime over) if it was dropped on
 * purpose, so the sender may let go of it too.
 */
typedef void node_recv_fn(void *arg, int result);
int node_receive(struct node *n, int fd, const uint8_t *mem, uint64_t total, uint64_t from, node_recv_fn *fn,
    void *arg,
    const char **why);

/*
 * Who is told that a bundle became durable here: a list of watchers, each
 * for one kind (and, for bundles for a local service, one service or any).
 * fn(arg, kind, service) runs on the loop; it may watch and unwatch.
 */
enum node_kind {
	NODE_LOCAL = 1,		/* for a local service: an application may take it */
	NODE_QUEUED,		/* to be forwarded */
	NODE_FLOOD,		/* for every node: to be offered to the neighbours */
};
#define NODE_ANY_SERVICE	UINT64_MAX
typedef void node_stored_fn(void *arg, int kind, uint64_t service);
int node_watch(struct node *n, int kind, uint64_t service, node_stored_fn *fn, void *arg);
/* Every watch of (fn, arg) ends. */
void node_unwatch(struct node *n, node_stored_fn *fn, void *arg);

/*
 * Registration reg (store.h) is done with bundle rowid: the last
 * registration's ack takes it from the store (as node_delivered()) and sends
 * the delivery report it asked for.  fn gets -ENOENT if it was not pending
 * for reg, else 0 and, as rowid, how many registrations still wait for it.
 */
int node_reg_delivered(struct node *n, int64_t reg, int64_t rowid, store_done_fn *fn, void *arg);

/*
 * Send a status report of status (enum admin_status) on s if it asked for
 * one (report.h says when); the _head form takes a stored bundle's first
 * bytes (its primary block), priority its class as stored (-1 unknown).
 */
void node_report(struct node *n, const struct report_subject *s, int status, uint64_t reason);
void node_report_head(struct node *n, const uint8_t *head, size_t len, int priority, int status, uint64_t reason);

/* What fragment.c needs to split and reassemble this node's bundles. */
const struct fragment_host *node_fragments(const struct node *n);

#endif
