/* node.c - bundles from and for local applications, see node.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>

#include "fragment.h"
#include "log.h"
#include "node.h"
#include "report.h"

/* A clock that says it is before this (2024-01-01) was not set: a box without RTC. */
#define CLOCK_PLAUSIBLE_UNIX_MS 1704067200000ULL

struct node {
	struct config cfg;
	struct loop *loop;
	struct store *store;
	uint64_t started;
	struct loop_timer expire_timer;
	struct node_watcher {
		int kind;		/* enum node_kind, 0: removed */
		uint64_t service;	/* NODE_LOCAL: which, or NODE_ANY_SERVICE */
		node_stored_fn *fn;
		void *arg;
	} *watchers;
	size_t nwatchers, maxwatchers;
	unsigned notifying;		/* node_stored() runs: removal only marks */
	struct log_ratelimit rl;
	struct fragment_host frag;	/* what fragment.c works with */
};

struct send_ctx {
	struct node *node;
	node_send_fn *fn;
	void *arg;
	uint64_t service;		/* local delivery: wake its readers */
	int state;			/* enum store_state */
	char id[BUNDLE_ID_MAX];
};

/* A reassembled bundle comes in like one from a link (fragment_host.receive). */
static int
node_frag_receive(void *arg, int fd, uint64_t total, fragment_recv_fn *done, void *done_arg, const char **why)
{
	return node_receive(arg, fd, NULL, total, 0, done, done_arg, why);
}

static void
node_store_ready(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct node *n = arg;

	store_dispatch(n->store);
}

static void
node_expired(void *arg, int result, int64_t removed)
{
	struct node *n = arg;

	if (result < 0)
		log_warnx("store: expiry failed: %s", store_strerror(result));
	else if (removed == STORE_EXPIRE_BATCH)	/* more to sweep: next batch now */
		store_expire(n->store, loop_wallclock_ms(), node_expired, n);
}

/* A bundle whose lifetime ended in the store asked for a deletion report. */
static void
node_expired_report(void *arg, const uint8_t *head, size_t len)
{
	node_report_head(arg, head, len, -1, ADMIN_DELETED, REASON_LIFETIME_EXPIRED);
}

/*
 * A newer bundle with its key replaced a queued one (or one arrived after a
 * newer one).  RFC 9171 has no "superseded" reason; the closest is "traffic
 * pared" (10): the node chose to drop it to save the links' capacity.
 */
static void
node_superseded(void *arg, const char *id, const char *by, const uint8_t *head, size_t len)
{
	log_info("bundle %s superseded by the newer %s: not forwarded", id, by);
	if (head != NULL)
		node_report_head(arg, head, len, -1, ADMIN_DELETED, REASON_TRAFFIC_PARED);
}

/* Lifetimes end while we run, not only at start-up: sweep periodically. */
static void
node_expire_tick(struct loop *l, void *arg)
{
	struct node *n = arg;

	store_expire(n->store, loop_wallclock_ms(), node_expired, n);
	loop_timer_set(l, &n->expire_timer, (uint64_t)n->cfg.expire_interval * 1000,
	    node_expire_tick, n);
}

struct node *
node_new(const struct config *cfg, struct loop *l, char *err, size_t errlen)
{
	struct store_options so = { 0 };
	struct node *n;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n->cfg = *cfg;
	n->loop = l;
	n->started = loop_now();
	so.path = cfg->store_path;
	so.quota = cfg->quota;
	so.reserve = cfg->reserve;
	memcpy(so.class_reserve, cfg->class_reserve, sizeof(so.class_reserve));
	so.commit_ms = cfg->commit_ms;
	so.commit_bytes = cfg->commit_bytes;
	if ((n->store = store_open(&so, err, errlen)) == NULL)
		goto fail;
	if (loop_add_fd(l, store_fd(n->store), EPOLLIN, node_store_ready, n) < 0) {
		snprintf(err, errlen, "cannot watch the store's eventfd");
		goto fail;
	}
	store_on_expired(n->store, BF_RPT_DELETION, node_expired_report, n);
	store_on_superseded(n->store, BF_RPT_DELETION, node_superseded, n);
	node_expire_tick(l, n);
	n->frag = (struct fragment_host){ .store = n->store, .data_dir = n->cfg.data_dir,
		.receive = node_frag_receive, .arg = n };
	fragment_resume(&n->frag);	/* a power cut between the last piece and its reassembly */
	log_info("node ipn:%llu (%s): store %s, boot %llu, clock %s",
	    (unsigned long long)cfg->node_id, cfg->name, cfg->store_path,
	    (unsigned long long)store_boot_count(n->store),
	    node_clock_trusted(n) ? "trusted" : "not trusted (creation time 0 + bundle age)");
	return n;
fail:
	store_free(n->store);
	free(n);
	return NULL;
}

void
node_free(struct node *n)
{
	if (n == NULL)
		return;
	loop_timer_cancel(n->loop, &n->expire_timer);
	loop_del_fd(n->loop, store_fd(n->store));
	store_free(n->store);
	free(n->watchers);
	free(n);
}

const struct config *
node_config(const struct node *n)
{
	return &n->cfg;
}

struct store *
node_store(const struct node *n)
{
	return n->store;
}

uint64_t
node_started(const struct node *n)
{
	return n->started;
}

void
node_reconfigure(struct node *n, const struct config *cfg)
{
	n->cfg.log_level = cfg->log_level;
	log_setlevel(cfg->log_level);
}

bool
node_clock_trusted(const struct node *n)
{
	switch (n->cfg.clock) {
	case CLOCK_TRUSTED:
		return true;
	case CLOCK_UNTRUSTED:
		return false;
	default:
		return loop_wallclock_ms() >= CLOCK_PLAUSIBLE_UNIX_MS;
	}
}

int
node_watch(struct node *n, int kind, uint64_t service, node_stored_fn *fn, void *arg)
{
	struct node_watcher *w;

	if (kind < NODE_LOCAL || kind > NODE_FLOOD || fn == NULL)
		return -EINVAL;
	if (n->nwatchers == n->maxwatchers) {
		size_t cap = n->maxwatchers ? n->maxwatchers * 2 : 8;

		if ((w = realloc(n->watchers, cap * sizeof(*w))) == NULL)
			return -ENOMEM;
		n->watchers = w;
		n->maxwatchers = cap;
	}
	n->watchers[n->nwatchers++] = (struct node_watcher){ kind, service, fn, arg };
	return 0;
}

/* Drop the removed entries, unless a notification walks the list. */
static void
watchers_compact(struct node *n)
{
	size_t j = 0;

	if (n->notifying)
		return;
	for (size_t i = 0; i < n->nwatchers; i++)
		if (n->watchers[i].kind != 0)
			n->watchers[j++] = n->watchers[i];
	n->nwatchers = j;
}

void
node_unwatch(struct node *n, node_stored_fn *fn, void *arg)
{
	for (size_t i = 0; i < n->nwatchers; i++)
		if (n->watchers[i].fn == fn && n->watchers[i].arg == arg)
			n->watchers[i].kind = 0;
	watchers_compact(n);
}

/* A bundle became durable: wake whoever waits for it (a flood bundle for us: both sides). */
static void
node_stored(struct node *n, int state, uint64_t service)
{
	bool local = state == STORE_LOCAL || state == STORE_FLOOD_LOCAL;
	bool flood = state == STORE_FLOOD || state == STORE_FLOOD_LOCAL;
	size_t count = n->nwatchers;	/* those added meanwhile wait for the next */

	n->notifying++;
	for (size_t i = 0; i < count; i++) {
		struct node_watcher w = n->watchers[i];

		if ((w.kind == NODE_LOCAL && local && (w.service == service || w.service == NODE_ANY_SERVICE)) ||
		    (w.kind == NODE_QUEUED && state == STORE_QUEUED) || (w.kind == NODE_FLOOD && flood))
			w.fn(w.arg, w.kind, service);
	}
	n->notifying--;
	watchers_compact(n);
}

static void
node_sent(void *arg, int result, int64_t rowid)
{
	struct send_ctx *c = arg;

	if (result == 0)
		node_stored(c->node, c->state, c->service);
	c->fn(c->arg, result, c->id);
	free(c);
}

/* Is e ipn:0.SERVICE, "every node"?  Then it must be a broadcast service. */
static bool
eid_everyone(const struct eid *e)
{
	return e->scheme == EID_IPN && e->node == NODE_EVERYONE;
}

struct recv_ctx {
	struct node *node;
	node_recv_fn *fn;
	void *arg;
	int state;			/* enum store_state */
	uint64_t service;
	char *whole;			/* a fragment for us: its bundle's id */
	uint64_t from;
	bool report;			/* subject asked for a reception report */
	struct report_subject subject;
	char id[BUNDLE_ID_MAX];		/* flood bundles: who else has it */
	uint8_t *record;		/* a status report for us: logged once stored */
	size_t record_len;
	struct eid record_from;
};

static void
node_received(void *arg, int result, int64_t rowid)
{
	struct recv_ctx *c = arg;
	struct node *n = c->node;
	bool flood = c->state == STORE_FLOOD || c->state == STORE_FLOOD_LOCAL;

	if (result == 0) {
		if (c->whole != NULL)
			fragment_arrived(&n->frag, c->whole);	/* the last piece? */
		else
			node_stored(n, c->state, c->service);
		if (c->record != NULL)
			report_log(&c->record_from, c->record, c->record_len);
		if (c->report)
			node_report(n, &c->subject, ADMIN_RECEIVED, REASON_NONE);
	} else if (result == -EEXIST && flood && c->from != 0 &&
	    store_handed(n->store, 0, c->id, c->from, STORE_HELD_OFFERED, NULL, NULL) < 0) {
		/* A duplicate by another path: that neighbour has it, we need not send it there. */
		log_limited(&n->rl, "store: cannot note that ipn:%llu has a flood bundle",
		    (unsigned long long)c->from);
	}
	c->fn(c->arg, result);
	free(c->record);
	free(c->whole);
	free(c);
}

/* A bundle dropped on arrival (hop limit, lifetime): tell its report-to if it asked. */
static void
node_dropped(struct node *n, const struct bundle *b, uint64_t reason)
{
	struct report_subject s;

	if (!report_wanted(b->flags, ADMIN_DELETED))
		return;
	report_subject_of(&s, b);
	node_report(n, &s, ADMIN_DELETED, reason);
}

int
node_receive(struct node *n, int fd, const uint8_t *mem, uint64_t total, uint64_t from, node_recv_fn *fn,
    void *arg, const char **why)
{
	struct store_put p = { 0 };
	char id[BUNDLE_ID_MAX], src[BUNDLE_EID_MAX], dst[BUNDLE_EID_MAX], key[2 * BUNDLE_EID_MAX + 16];
	uint64_t now = loop_wallclock_ms(), end, poff;
	const uint8_t *map;
	uint8_t *head = NULL, tail[16];
	struct recv_ctx *c = NULL;
	struct bundle b;
	ssize_t hl, tl;
	int r;

	*why = NULL;
	if (total == 0 || total > BUNDLE_MAX_SIZE) {
		*why = "empty or over the size limit";
		return -EBADMSG;
	}
	/* Mapped, not read: only the pages the decoder touches become resident. */
	if ((map = mem) == NULL && (map = mmap(NULL, total, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
		return -errno;
	if ((r = bundle_decode(&b, map, total, why)) < 0)
		goto out;
	poff = (uint64_t)(b.payload - map);
	/* Hop limit and lifetime: accepted from the sender's point of view, then dropped.
	 * from 0: reassembled here, not a hop. */
	if (from != 0 && b.has_hop && ++b.hop_count > b.hop_limit) {
		log_limited(&n->rl, "bundle from ipn:%llu over its hop limit: dropped", (unsigned long long)from);
		node_dropped(n, &b, REASON_HOP_LIMIT_EXCEEDED);
		r = -ELOOP;
		goto out;
	}
	if (b.ctime != 0 && node_clock_trusted(n))
		end = DTN_EPOCH_UNIX_MS + b.ctime + b.lifetime;
	else
		end = now + (b.lifetime > b.age ? b.lifetime - b.age : 0);
	if (end <= now) {
		node_dropped(n, &b, REASON_LIFETIME_EXPIRED);
		r = -ETIME;
		goto out;
	}
	if (eid_everyone(&b.dst) && !service_broadcast(b.dst.service)) {
		*why = "destination ipn:0.N (every node) with a service that is not broadcast";
		r = -EBADMSG;
		goto out;
	}
	eid_ipn(&b.prev, n->cfg.node_id, 0);
	b.has_prev = true;
	if (b.payload_crc == CRC_NONE) {
		/* Ours or a CRC-less payload: rewrite the blocks before the payload. */
		if ((head = malloc(poff + 64)) == NULL ||
		    (hl = bundle_encode_head(&b, head, poff + 64)) < 0 ||
		    (tl = bundle_encode_tail(&b, tail, sizeof(tail))) < 0) {
			r = head ? -EBADMSG : -ENOMEM;
			*why = "cannot re-encode its blocks";
			goto out;
		}
		p.head = head;
		p.head_len = (size_t)hl;
		p.tail = tail;
		p.tail_len = (size_t)tl;
	} else {
		/* A payload CRC we cannot stream: keep the bundle exactly as it came. */
		p.head = map;
		p.head_len = poff;
		p.tail = map + poff + b.payload_len;
		p.tail_len = total - poff - b.payload_len;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	c->node = n;
	c->fn = fn;
	c->arg = arg;
	c->from = from;
	c->service = b.dst.service;
	if (eid_everyone(&b.dst))
		c->state = STORE_FLOOD_LOCAL;
	else
		c->state = b.dst.scheme == EID_IPN && b.dst.node == n->cfg.node_id ? STORE_LOCAL : STORE_QUEUED;
	if (c->state == STORE_LOCAL && (b.flags & BF_IS_FRAGMENT)) {
		/* A piece of a bundle for us: it waits for the others (relay/daemon/fragment.c). */
		b.flags &= ~(uint64_t)BF_IS_FRAGMENT;
		bundle_id(&b, id, sizeof(id));
		b.flags |= BF_IS_FRAGMENT;
		if ((c->whole = strdup(id)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		c->state = STORE_FRAGMENT;
	}
	if ((c->report = report_wanted(b.flags, ADMIN_RECEIVED)))
		report_subject_of(&c->subject, &b);
	if ((b.flags & BF_ADMIN_RECORD) && c->state == STORE_LOCAL && b.dst.service == SVC_ADMIN &&
	    b.payload_len <= ADMIN_RECORD_MAX && (c->record = malloc(b.payload_len + 1)) != NULL) {
		memcpy(c->record, b.payload, b.payload_len);
		c->record_len = b.payload_len;
		c->record_from = b.src;
	}
	bundle_id(&b, id, sizeof(id));
	if (c->state == STORE_FLOOD_LOCAL)
		memcpy(c->id, id, sizeof(c->id));
	eid_format(&b.src, src, sizeof(src));
	eid_format(&b.dst, dst, sizeof(dst));
	p.id = id;
	p.src = src;
	p.dst = dst;
	if (b.dst.scheme == EID_IPN) {
		p.dst_node = b.dst.node;
		p.dst_service = b.dst.service;
	}
	p.priority = b.priority >= 0 ? b.priority :
	    (b.dst.scheme == EID_IPN ? service_default_prio(b.dst.service) : PRIO_MESSAGE);
	if (p.priority == PRIO_REALTIME)
		p.priority = PRIO_URGENT;	/* live voice does not travel as bundles */
	p.state = c->state;
	p.from = from;
	p.flags = b.flags;
	p.expires = end;
	/*
	 * A relay supersedes too: no key travels, it is derived from the bundle
	 * (not from a piece: only whole bundles compare).  Not for flood copies:
	 * every node keeps those for its own application and for later
	 * neighbours, a track rather than a queue (see node_supersede_key()).
	 */
	if (p.state == STORE_QUEUED && !(b.flags & BF_IS_FRAGMENT) &&
	    service_supersede_key(key, sizeof(key), p.priority, src, dst) == 0)
		p.supersede = key;
	p.ctime = b.ctime;
	p.cseq = b.seq;
	if (mem) {
		p.payload = b.payload;	/* store_put copies it */
		p.payload_fd = -1;
	} else {
		p.payload_fd = fd;
		p.payload_off = poff;
	}
	p.payload_len = b.payload_len;
	if ((r = store_put(n->store, &p, node_received, c)) < 0)
		goto out;
	c = NULL;
	r = 0;
out:
	if (c) {
		free(c->whole);
		free(c->record);
	}
	free(c);
	free(head);
	if (mem == NULL)
		munmap((void *)map, total);
	return r;
}

/*
 * The supersede key of a bundle an application sends (struct node_send), or
 * NULL.  By default only bundles for one destination have one: a position
 * for every node (ipn:0.3) is kept until its lifetime ends, for the other
 * nodes' tracks and for neighbours met later, as the flood tests expect; an
 * explicit key supersedes flood bundles here, at their source, too (the
 * store never drops a copy in flight or one the application has not taken).
 */
static const char *
node_supersede_key(const struct node_send *s, int state, const char *src, const char *dst, int prio,
    char *key, size_t cap)
{
	int n;

	if (s->supersede == NULL && state != STORE_QUEUED)
		return NULL;
	if (s->supersede == NULL)
		return service_supersede_key(key, cap, prio, src, dst) == 0 ? key : NULL;
	if (*s->supersede == '\0')
		return NULL;
	/* Another prefix than the derived keys': the two never meet. */
	n = snprintf(key, cap, "key %s %s", src, s->supersede);
	return n >= 0 && (size_t)n < cap ? key : NULL;
}

int
node_send(struct node *n, const struct node_send *s, node_send_fn *fn, void *arg)
{
	uint8_t head[1024], tail[16];
	struct store_put p = { 0 };
	char src[BUNDLE_EID_MAX], dst[BUNDLE_EID_MAX], key[2 * BUNDLE_EID_MAX + 16];
	struct send_ctx *c;
	struct bundle b;
	uint64_t now = loop_wallclock_ms();
	ssize_t hl, tl;
	int r;

	if (s->payload_len > n->cfg.max_bundle_size)
		return -EMSGSIZE;
	if (eid_everyone(&s->dst) && !service_broadcast(s->dst.service))
		return -EADDRNOTAVAIL;
	if (s->supersede != NULL && strlen(s->supersede) > SUPERSEDE_KEY_MAX)
		return -EINVAL;
	bundle_init(&b);
	b.crc_type = (uint8_t)n->cfg.crc_type;
	b.dst = s->dst;
	if (s->admin) {
		/* RFC 9171 6.1: from the administrative endpoint, asking for no reports. */
		b.flags |= BF_ADMIN_RECORD;
		eid_ipn(&b.src, n->cfg.node_id, SVC_ADMIN);
	} else {
		b.flags |= s->report_flags & (BF_RPT_RECEPTION | BF_RPT_FORWARDING | BF_RPT_DELIVERY |
		    BF_RPT_DELETION | BF_STATUS_TIME);
		eid_ipn(&b.src, n->cfg.node_id, s->src_service);
		eid_ipn(&b.report_to, n->cfg.node_id, SVC_ADMIN);
	}
	b.lifetime = (s->lifetime ? s->lifetime : n->cfg.default_lifetime) * 1000;
	b.priority = s->priority >= 0 ? s->priority :
	    (s->dst.scheme == EID_IPN ? service_default_prio(s->dst.service) : PRIO_MESSAGE);
	if (b.priority == PRIO_REALTIME)	/* live voice is never stored */
		return -EINVAL;
	b.has_hop = true;
	b.hop_limit = n->cfg.hop_limit;
	b.hop_count = 0;
	if (node_clock_trusted(n)) {
		b.ctime = now - DTN_EPOCH_UNIX_MS;
	} else {
		/* No trustworthy clock: time 0, and the age block carries elapsed time. */
		b.ctime = 0;
		b.has_age = true;
		b.age = 0;
	}
	if ((b.seq = store_next_seq(n->store)) == 0)
		return -EIO;	/* no sequence number could be made durable */
	b.payload_len = s->payload_len;
	if ((hl = bundle_encode_head(&b, head, sizeof(head))) < 0)
		return (int)hl;
	if ((tl = bundle_encode_tail(&b, tail, sizeof(tail))) < 0)
		return (int)tl;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	c->node = n;
	c->fn = fn;
	c->arg = arg;
	bundle_id(&b, c->id, sizeof(c->id));
	eid_format(&b.src, src, sizeof(src));
	eid_format(&b.dst, dst, sizeof(dst));
	if (eid_everyone(&b.dst))
		c->state = STORE_FLOOD;		/* the source does not deliver its own broadcast */
	else
		c->state = b.dst.scheme == EID_IPN && b.dst.node == n->cfg.node_id ? STORE_LOCAL : STORE_QUEUED;
	c->service = b.dst.service;

	p.id = c->id;
	p.src = src;
	p.dst = dst;
	if (b.dst.scheme == EID_IPN) {
		p.dst_node = b.dst.node;
		p.dst_service = b.dst.service;
	}
	p.priority = b.priority;
	p.state = c->state;
	p.flags = b.flags;
	p.expires = now + b.lifetime;
	p.ctime = b.ctime;
	p.cseq = b.seq;
	if (c->state == STORE_QUEUED || c->state == STORE_FLOOD)
		p.supersede = node_supersede_key(s, c->state, src, dst, b.priority, key, sizeof(key));
	p.head = head;
	p.head_len = (size_t)hl;
	p.payload = s->payload;
	p.payload_fd = s->payload_fd;
	p.payload_len = s->payload_len;
	p.tail = tail;
	p.tail_len = (size_t)tl;
	if ((r = store_put(n->store, &p, node_sent, c)) < 0) {
		free(c);
		return r;
	}
	return 0;
}

int
node_delivered(struct node *n, int64_t rowid, store_done_fn *fn, void *arg)
{
	uint8_t head[STORE_HEAD_PEEK];
	struct store_entry e;
	long k;

	/* Reported once: when it leaves the application's queue, not again for a flood copy. */
	if (store_get(n->store, rowid, &e) == 0 && (e.state == STORE_LOCAL || e.state == STORE_FLOOD_LOCAL) &&
	    report_wanted(e.flags, ADMIN_DELIVERED) &&
	    (k = store_read(n->store, rowid, 0, head, e.size < sizeof(head) ? (size_t)e.size : sizeof(head))) > 0)
		node_report_head(n, head, (size_t)k, e.priority, ADMIN_DELIVERED, REASON_NONE);
	return store_take(n->store, rowid, fn, arg);
}

struct reg_ack {
	struct node *node;
	store_done_fn *fn;
	void *arg;
	int priority;
	size_t head_len;		/* 0: no delivery report wanted */
	uint8_t head[STORE_HEAD_PEEK];
};

static void
reg_acked(void *arg, int result, int64_t left)
{
	struct reg_ack *a = arg;

	if (result == 0 && left == 0 && a->head_len > 0)
		node_report_head(a->node, a->head, a->head_len, a->priority, ADMIN_DELIVERED, REASON_NONE);
	if (a->fn)
		a->fn(a->arg, result, left);
	free(a);
}

int
node_reg_delivered(struct node *n, int64_t reg, int64_t rowid, store_done_fn *fn, void *arg)
{
	struct reg_ack *a = calloc(1, sizeof(*a));
	struct store_entry e;
	long k;
	int r;

	if (a == NULL)
		return -ENOMEM;
	a->node = n;
	a->fn = fn;
	a->arg = arg;
	/* The head is read now: after the last ack the bundle is gone. */
	if (store_get(n->store, rowid, &e) == 0 && (e.state == STORE_LOCAL || e.state == STORE_FLOOD_LOCAL) &&
	    report_wanted(e.flags, ADMIN_DELIVERED) &&
	    (k = store_read(n->store, rowid, 0, a->head, e.size < sizeof(a->head) ? (size_t)e.size :
	    sizeof(a->head))) > 0) {
		a->head_len = (size_t)k;
		a->priority = e.priority;
	}
	if ((r = store_reg_ack(n->store, reg, rowid, reg_acked, a)) < 0)
		free(a);
	return r;
}

/* ---- status reports (report.c builds them, they go out as our bundles) ---- */

static struct log_ratelimit report_rl;

static void
report_sent(void *arg, int result, const char *id)
{
	if (result != 0 && result != -EEXIST)
		log_limited(&report_rl, "status report %s not stored: %s", id, store_strerror(result));
}

void
node_report(struct node *n, const struct report_subject *s, int status, uint64_t reason)
{
	struct node_send ns = { .payload_fd = -1, .admin = true };
	uint8_t rec[ADMIN_RECORD_MAX];
	char subj[BUNDLE_EID_MAX];
	ssize_t len;
	int r;

	if ((len = report_record(s, status, reason, node_clock_trusted(n), rec, sizeof(rec))) <= 0)
		return;
	ns.dst = s->report_to;
	ns.priority = report_priority(s);
	ns.payload = rec;
	ns.payload_len = (uint64_t)len;
	eid_format(&s->src, subj, sizeof(subj));
	log_debug("status report to ipn:%" PRIu64 ".%" PRIu64 ": %s %" PRIu64 " %" PRIu64 " %s (%s)",
	    s->report_to.node, s->report_to.service, subj, s->ctime, s->seq, admin_status_name(status),
	    admin_reason_name(reason));
	if (s->report_to.node == n->cfg.node_id) {
		struct eid self;

		eid_ipn(&self, n->cfg.node_id, 0);
		report_log(&self, rec, (size_t)len);
	}
	if ((r = node_send(n, &ns, report_sent, NULL)) < 0)
		log_limited(&report_rl, "status report for %s %" PRIu64 " %" PRIu64 " not sent: %s", subj,
		    s->ctime, s->seq, strerror(-r));
}

void
node_report_head(struct node *n, const uint8_t *head, size_t len, int priority, int status, uint64_t reason)
{
	struct report_subject s;
	struct bundle b;
	const char *why;

	if (bundle_decode_primary(&b, head, len, &why) < 0) {
		log_limited(&report_rl, "stored bundle unreadable for a status report: %s", why);
		return;
	}
	report_subject_of(&s, &b);
	s.priority = priority;
	node_report(n, &s, status, reason);
}

const struct fragment_host *
node_fragments(const struct node *n)
{
	return &n->frag;
}
