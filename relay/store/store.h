/*
 * store.h - the durable bundle store (DESIGN.md section 7).
 *
 * One SQLite database per node, WAL mode, synchronous=FULL.  A bundle counts
 * as accepted only once its transaction has committed: writes go through a
 * writer thread that groups many operations into one transaction (by size or
 * a few milliseconds), so that the fsync never runs on the event loop.  When
 * operations complete the writer thread signals an eventfd; the loop then
 * calls store_dispatch(), which runs the completion callbacks on the loop
 * thread.  Only then may anybody be told "accepted".
 *
 * Reads (store_next_local, store_read, store_queue, ...) run on the calling
 * thread through a second connection; they are bounded and never fsync.
 *
 * Large payloads are streamed through sqlite3_blob in chunks, from a file
 * descriptor on the way in and into a caller's buffer on the way out: a
 * 16 MB bundle is never held whole in memory.
 */
#ifndef FIELDRELAY_STORE_H
#define FIELDRELAY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "service.h"

struct store;

struct store_options {
	const char *path;		/* database file */
	const char *vfs;		/* SQLite VFS name, NULL = default (tests: power cut) */
	uint64_t quota;			/* bytes of database pages in use; 0 = no quota */
	uint64_t reserve;		/* bytes kept back so deletes/commits work when full */
	uint64_t class_reserve[PRIO_COUNT]; /* room only that class may use */
	unsigned commit_ms;		/* group commit window, default 2 */
	size_t commit_bytes;		/* commit early once this much is pending, default 1 MiB */
	size_t queue_max;		/* bytes of queued copies before store_put says -ENOBUFS;
					   default 64 MiB */
};

/* Bundle states in the store (stored: never renumber). */
enum store_state {
	STORE_QUEUED = 0,	/* waiting to be forwarded */
	STORE_LOCAL = 1,	/* for a local service, waiting for an application */
	STORE_FRAGMENT = 2,	/* a fragment for us, waiting for the rest (relay/daemon/fragment.c) */
	STORE_FLOOD = 3,	/* for every node: offered to each neighbour that lacks
				 * it, kept until its lifetime ends (data mules) */
	STORE_FLOOD_LOCAL = 4,	/* the same, not yet taken by the local application */
};

/* Why a neighbour is known to have a flood bundle (the forward table). */
enum store_holder_how {
	STORE_HELD_FROM = 1,	/* it came to us from that neighbour */
	STORE_HELD_SENT = 2,	/* we sent it and the neighbour committed it */
	STORE_HELD_OFFERED = 3,	/* the neighbour offered it to us again */
};

/* A bundle to make durable.  store_put() copies what it needs. */
struct store_put {
	const char *id;			/* identity key from bundle_id(); dedup key */
	const char *src;		/* source EID text */
	const char *dst;		/* destination EID text */
	uint64_t dst_node;		/* ipn node of dst, 0 for dtn: */
	uint64_t dst_service;		/* ipn service of dst, 0 for dtn: */
	int priority;			/* enum prio */
	int state;			/* enum store_state */
	uint64_t expires;		/* Unix ms when the lifetime ends */
	const char *supersede;		/* NULL, or key: replaces older queued bundles with the
					 * same key; see "Supersede" below */
	uint64_t ctime, cseq;		/* creation timestamp (time, sequence): which is newer */
	uint64_t flags;			/* bundle processing flags (the status reports asked for) */
	uint64_t from;			/* flood states: the neighbour it came from, 0 = made here */
	const uint8_t *head;		/* encoded bytes before the payload */
	size_t head_len;
	const uint8_t *payload;		/* payload bytes in memory, or NULL ... */
	int payload_fd;			/* ... read payload_len bytes from this fd; -1 if none */
	uint64_t payload_off;		/* where in payload_fd the payload starts */
	uint64_t payload_len;
	const uint8_t *tail;		/* encoded bytes after the payload */
	size_t tail_len;
};

/*
 * Completion of an asynchronous operation, run on the loop thread by
 * store_dispatch().  result: 0 done; -EEXIST already seen (a duplicate: the
 * bundle is, or was, in the store, so a retry may be acknowledged);
 * -EDQUOT over quota or class reserve; -ENOSPC disk full; -EIO other
 * database error; -ENOENT no such bundle.  rowid: the bundle's row.
 */
typedef void store_done_fn(void *arg, int result, int64_t rowid);

/* Identities one store_expire() removes at most; see store_expire(). */
#define STORE_EXPIRE_BATCH	1000

/* NULL with errno set and a message in err on failure. */
struct store *store_open(const struct store_options *opt, char *err, size_t errlen);
/* Finishes queued operations first; callbacks that store_dispatch() has not
 * run yet are dropped (their operations did complete). */
void store_free(struct store *s);

/* The fd the loop polls; readable when completions are waiting. */
int store_fd(const struct store *s);
/* Run waiting completion callbacks.  Call when store_fd() is readable. */
void store_dispatch(struct store *s);

/* Asynchronous writes.  Return 0 if queued (done() will run, if not NULL),
 * -errno if not: -EINVAL, -EMSGSIZE, -ENOMEM, -ENOBUFS (queue_max reached:
 * refuse now, the sender retries), -ESHUTDOWN, or -errno of dup(). */
int store_put(struct store *s, const struct store_put *p, store_done_fn *done, void *arg);
int store_delete(struct store *s, int64_t rowid, store_done_fn *done, void *arg);
/* Delete bundles and seen identities whose lifetime ended before now_ms, at
 * most STORE_EXPIRE_BATCH identities (each with its bundle, if still stored)
 * per call.  done() gets the number of identities removed as rowid: call
 * again while it is the full batch. */
int store_expire(struct store *s, uint64_t now_ms, store_done_fn *done, void *arg);
/*
 * The local application took bundle rowid: a LOCAL bundle leaves the store,
 * a FLOOD_LOCAL one becomes FLOOD (it stays for other nodes until its
 * lifetime ends), a FLOOD one stays.  done(): 0 or -ENOENT.
 */
int store_take(struct store *s, int64_t rowid, store_done_fn *done, void *arg);
/*
 * Neighbour nbr has the flood bundle rowid (or, rowid 0, the one whose
 * identity is id): remember it durably, so that nothing is sent to nbr
 * again, across restarts too.  how: enum store_holder_how; the first record
 * per neighbour wins.  Not a flood bundle or gone: nothing happens.  done()
 * gets, as rowid, how many neighbours have it by STORE_HELD_SENT (rowid
 * form only; 0 otherwise).
 */
int store_handed(struct store *s, int64_t rowid, const char *id, uint64_t nbr, int how, store_done_fn *done,
    void *arg);
/*
 * What metered link `link` spent in its budget period `period` (periods
 * count from the Unix epoch, link_conf budget_period_s): saved durably, so
 * a restart goes on from there instead of spending the budget again.
 * store_budget_get() reads the last saved value: 0, -ENOENT (none), -EIO.
 */
int store_budget_save(struct store *s, const char *link, uint64_t period, uint64_t spent, store_done_fn *done,
    void *arg);
int store_budget_get(struct store *s, const char *link, uint64_t *period, uint64_t *spent);
/*
 * Replay protection across restarts (relay/daemon/peerstate.c): the newest boot
 * counter of sender `node` and the highest frame counter of that boot seen
 * here.  A save never moves a peer backwards (an older boot, or a lower
 * counter of the same boot, leaves the row as it is).  store_peers() calls
 * fn for every saved peer, most recently saved first: how many, or -EIO.
 */
int store_peer_save(struct store *s, uint64_t node, uint64_t boot, uint64_t top, store_done_fn *done, void *arg);
typedef void store_peer_fn(void *arg, uint64_t node, uint64_t boot, uint64_t top);
int store_peers(struct store *s, store_peer_fn *fn, void *arg);
/* Wait until everything queued so far is committed (tests, shutdown).  The
 * callbacks still run only from store_dispatch(). */
void store_flush(struct store *s);

/* Persisted counters.  The boot counter is incremented by store_open(). */
uint64_t store_boot_count(const struct store *s);
/* Next creation sequence number: never repeats, across restarts and power
 * cuts too, and never waits.  Numbers start at 1; 0 means none is durable
 * now (the writer failing, e.g. disk full, or far behind): try again later. */
uint64_t store_next_seq(struct store *s);

/* One stored bundle, as reads return it. */
struct store_entry {
	int64_t rowid;
	char id[384];		/* BUNDLE_ID_MAX */
	char src[256], dst[256];
	uint64_t dst_node, dst_service;
	int priority, state;
	uint64_t size;			/* head + payload + tail */
	uint64_t head_len, payload_len;
	uint64_t received;		/* Unix ms */
	uint64_t expires;		/* Unix ms */
	uint64_t flags;			/* bundle processing flags */
};

/* The oldest bundle in state LOCAL for a service with rowid > after.
 * 0, -ENOENT if none, -EIO. */
int store_next_local(struct store *s, uint64_t service, int64_t after, struct store_entry *e);
int store_get(struct store *s, int64_t rowid, struct store_entry *e);
/* The next bundle in state FRAGMENT with rowid > after whose id starts with
 * prefix ("" = any), in rowid order.  0, -ENOENT at the end, -EIO. */
int store_next_fragment(struct store *s, const char *prefix, int64_t after, struct store_entry *e);
/* The next QUEUED bundle after (priority, rowid), most urgent first.
 * 0, -ENOENT at the end, -EIO.  Start with (0, 0). */
int store_next_queued(struct store *s, int priority, int64_t after, struct store_entry *e);

/* What the forwarder needs of a queued bundle. */
struct store_queued {
	int64_t rowid;
	int priority;
	uint64_t dst_node;		/* 0 for dtn: */
	uint64_t size;			/* head + payload + tail */
	uint64_t flags;			/* the bundle's BF_* */
};
/* Up to n QUEUED bundles after (priority, rowid), most urgent first, read in
 * one transaction: how many (0 at the end), or -EIO.  Start with (0, 0). */
int store_queued_batch(struct store *s, int priority, int64_t after, struct store_queued *q, size_t n);
/* The same over the bundles in the flood states, skipping rowids up to floor
 * in every class (those a walk has seen already). */
int store_next_flood(struct store *s, int priority, int64_t after, int64_t floor, struct store_entry *e);
/* The highest rowid in use (0: none); later bundles get higher ones. */
int64_t store_max_rowid(struct store *s);

/* A neighbour that has a flood bundle. */
struct store_holder {
	uint64_t node;
	int how;			/* enum store_holder_how */
	uint64_t when;			/* Unix ms of the record */
};
/* The holders of flood bundle rowid, by node number: fills at most cap and
 * returns how many there are, or -EIO. */
int store_holders(struct store *s, int64_t rowid, struct store_holder *v, size_t cap);

/*
 * Deletion reports: each bundle that store_expire() removes and whose flags
 * have a bit of mask is passed to fn from store_dispatch(), as its first
 * bytes (at most STORE_HEAD_PEEK: enough for its primary block).
 */
#define STORE_HEAD_PEEK		1024
typedef void store_expired_fn(void *arg, const uint8_t *head, size_t len);
void store_on_expired(struct store *s, uint64_t mask, store_expired_fn *fn, void *arg);
/*
 * Supersede (DESIGN.md sections 2 and 7: a unit's newer position replaces
 * its queued older one).  A put with a key deletes the bundles with the same
 * key that are older (store_newer()) and waiting to be forwarded (QUEUED or
 * FLOOD), except those pinned: in flight on a link, they go as they are.
 * A put that is itself older than a stored bundle with its key (QUEUED,
 * FLOOD or FLOOD_LOCAL) is not stored: done() gets 0 with rowid 0, and its
 * identity is remembered like any other.  Each bundle so dropped is passed
 * to fn from store_dispatch(), with the id of the bundle that superseded it
 * and, if its flags have a bit of mask, its first bytes (else head NULL).
 */
typedef void store_superseded_fn(void *arg, const char *id, const char *by, const uint8_t *head, size_t len);
void store_on_superseded(struct store *s, uint64_t mask, store_superseded_fn *fn, void *arg);
/*
 * Is creation timestamp (t1, s1) newer than (t2, s2)?  Creation times
 * decide when both are known (not 0) and differ; otherwise the sequence
 * numbers do (a node without a clock stamps time 0 and numbers its bundles
 * from a counter that never goes back).  Equal stamps are not newer.
 */
bool store_newer(uint64_t t1, uint64_t s1, uint64_t t2, uint64_t s2);
/*
 * A bundle handed to a link is pinned until the link is done with it, so
 * that no supersede deletes it under the sender.  -ENOENT: a supersede has
 * dropped it (or is about to): do not send it.  Pins count: pin as often
 * as the bundle goes out (flood copies), unpin as often; on the loop thread.
 * A pinned bundle that a newer one superseded is deleted (and reported as
 * superseded) at its last unpin, unless it is gone by then: a link that
 * delivered it deletes it first, then unpins.
 */
int store_pin(struct store *s, int64_t rowid);
void store_unpin(struct store *s, int64_t rowid);
/*
 * fn(arg, rowid) from store_dispatch() when a newer bundle has superseded
 * pinned bundle rowid: its sender may take it back if it has not started
 * sending it (and unpin it: then it is deleted).
 */
typedef void store_stale_fn(void *arg, int64_t rowid);
void store_on_stale(struct store *s, store_stale_fn *fn, void *arg);

/*
 * Registrations (store_reg.c): an agent's durable claim on the bundles of a
 * local service, by name.  While a service has registrations, each of its
 * bundles waits in the store until every registration has acked it (the
 * last ack takes it, as store_take() does); a new registration gets the
 * bundles that wait already; removing one takes what only it still waited
 * for.  Writes answer from store_dispatch(): add and remove with the
 * registration's id as rowid (remove: -ENOENT if there is none); ack with
 * how many registrations still wait for the bundle (0: it was taken) as
 * rowid, or -ENOENT if it was not pending for reg (acked before, or gone).
 */
#define STORE_REG_NAME_MAX	64
int store_reg_add(struct store *s, uint64_t service, const char *name, store_done_fn *done, void *arg);
int store_reg_remove(struct store *s, uint64_t service, const char *name, store_done_fn *done, void *arg);
int store_reg_ack(struct store *s, int64_t reg, int64_t rowid, store_done_fn *done, void *arg);
/* The id of a registration (0: none, -EIO); how many a service has (-EIO). */
int64_t store_reg_find(struct store *s, uint64_t service, const char *name);
int store_reg_count(struct store *s, uint64_t service);
/* The oldest bundle waiting for registration reg with rowid > after: 0, -ENOENT, -EIO. */
int store_next_pending(struct store *s, int64_t reg, int64_t after, struct store_entry *e);
typedef void store_reg_fn(void *arg, int64_t id, uint64_t service, const char *name, uint64_t created,
    uint64_t pending);
/* Every registration, by service and name: how many, or -EIO. */
int store_registrations(struct store *s, store_reg_fn *fn, void *arg);

/* Read len bytes of the stored bundle bytes at offset (head, payload, tail
 * back to back).  Returns bytes read (short at the end) or -errno. */
long store_read(struct store *s, int64_t rowid, uint64_t offset, void *buf, size_t len);

struct store_stats {
	uint64_t bundles, bytes;
	uint64_t count[PRIO_COUNT], class_bytes[PRIO_COUNT];
	uint64_t used;			/* bytes of pages in use */
	uint64_t quota, reserve;
	uint64_t seen;			/* identities remembered */
	uint64_t boot;
	uint64_t queued, queued_bytes;	/* bundles in state QUEUED */
	uint64_t local, local_bytes;	/* bundles in state LOCAL */
	uint64_t flood, flood_bytes;	/* bundles in the flood states */
	uint64_t fs_free;		/* bytes free on the store's filesystem (UINT64_MAX: unknown) */
	bool disk_full;			/* reserve released: new bundles are refused */
	bool fs_short;			/* the filesystem had less room than the quota at open */
	uint64_t commits;		/* transactions committed since open */
	uint64_t ops;			/* operations completed since open */
};
int store_stats(struct store *s, struct store_stats *st);

/* Queue summary by destination and class (QUEUED and LOCAL together, sorted
 * by destination then class): fn is called per group. */
typedef void store_queue_fn(void *arg, const char *dst, int priority, uint64_t count, uint64_t bytes);
int store_queue(struct store *s, store_queue_fn *fn, void *arg);

/* Human-readable text of a store result code. */
const char *store_strerror(int result);

#endif
