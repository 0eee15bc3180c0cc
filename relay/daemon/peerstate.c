/*
 * peerstate.c - replay windows kept across restarts; see peerstate.h.
 *
 * `saved` holds, per sender, the newest (boot, top) handed to the store:
 * a save goes out only when a window is above it.  Restored senders start
 * with the restored (margined) value there, so that a restart without
 * traffic does not save the margin and the next restart add it again.
 */
#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "peerstate.h"

struct peer {
	uint32_t node, boot, top;
};

struct peerstate {
	struct store *store;
	struct loop *loop;
	struct loop_timer timer;
	struct peer *saved;		/* what went to the store, one per sender */
	size_t n_saved, max_saved;
	struct peer *restore;		/* what the store had, margin added, oldest first */
	size_t n_restore;
	struct crypto_replay **tables;
	size_t n_tables;
	uint64_t failed;		/* saves the store's queue refused (retried) */
};

static bool
newer(uint32_t boot, uint32_t top, const struct peer *p)
{
	return boot > p->boot || (boot == p->boot && top > p->top);
}

static struct peer *
saved_find(struct peerstate *ps, uint32_t node)
{
	for (size_t i = 0; i < ps->n_saved; i++)
		if (ps->saved[i].node == node)
			return &ps->saved[i];
	return NULL;
}

static struct peer *
saved_add(struct peerstate *ps, uint32_t node)
{
	struct peer *p;

	if (ps->n_saved == ps->max_saved) {
		size_t max = ps->max_saved ? 2 * ps->max_saved : 64;

		if ((p = realloc(ps->saved, max * sizeof(*p))) == NULL)
			return NULL;
		ps->saved = p;
		ps->max_saved = max;
	}
	p = &ps->saved[ps->n_saved++];
	*p = (struct peer){ .node = node };
	return p;
}

/* Hand (node, boot, top) to the store if it is newer than what it has. */
static void
save(struct peerstate *ps, uint32_t node, uint32_t boot, uint32_t top)
{
	struct peer *p = saved_find(ps, node);
	int r;

	if (p != NULL && !newer(boot, top, p))
		return;
	if (p == NULL && (p = saved_add(ps, node)) == NULL)
		return;		/* out of memory: the next pass tries again */
	if ((r = store_peer_save(ps->store, node, boot, top, NULL, NULL)) < 0) {
		if (ps->failed++ == 0)
			log_warnx("replay state of ipn:%u not saved: %s (retried)", node, store_strerror(r));
		return;
	}
	p->boot = boot;
	p->top = top;
}

static void
save_all(struct peerstate *ps)
{
	uint32_t node, boot, top;

	for (size_t t = 0; t < ps->n_tables; t++)
		for (size_t pos = 0; crypto_replay_next(ps->tables[t], &pos, &node, &boot, &top);)
			save(ps, node, boot, top);
}

static void
on_timer(struct loop *l, void *arg)
{
	struct peerstate *ps = arg;

	save_all(ps);
	loop_timer_set(l, &ps->timer, PEERSTATE_SAVE_MS, on_timer, ps);
}

/* A sender first heard or restarted: its boot goes to the store now. */
static void
on_boot(void *arg, uint32_t node, uint32_t boot, uint32_t counter)
{
	save(arg, node, boot, counter);
}

static void
loaded(void *arg, uint64_t node, uint64_t boot, uint64_t top)
{
	struct peerstate *ps = arg;
	uint64_t t = top + CRYPTO_RESTART_MARGIN;

	if (node == 0 || node > UINT32_MAX || boot > UINT32_MAX || top > UINT32_MAX ||
	    ps->n_restore == CRYPTO_REPLAY_SENDERS)
		return;
	ps->restore[ps->n_restore++] = (struct peer){ .node = (uint32_t)node, .boot = (uint32_t)boot,
	    .top = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t };
}

struct peerstate *
peerstate_new(struct store *s, struct loop *l)
{
	struct peerstate *ps;
	struct peer tmp, *p;
	int n;

	if ((ps = calloc(1, sizeof(*ps))) == NULL ||
	    (ps->restore = calloc(CRYPTO_REPLAY_SENDERS, sizeof(*ps->restore))) == NULL)
		goto fail;
	ps->store = s;
	ps->loop = l;
	if ((n = store_peers(s, loaded, ps)) < 0) {
		errno = EIO;
		goto fail;
	}
	/* Most recent first from the store: restore the oldest first, so that a
	 * full table keeps the newest. */
	for (size_t i = 0; i < ps->n_restore / 2; i++) {
		tmp = ps->restore[i];
		ps->restore[i] = ps->restore[ps->n_restore - 1 - i];
		ps->restore[ps->n_restore - 1 - i] = tmp;
	}
	for (size_t i = 0; i < ps->n_restore; i++) {
		if ((p = saved_add(ps, ps->restore[i].node)) == NULL)
			goto fail;
		*p = ps->restore[i];
	}
	if (ps->n_restore)
		log_info("replay state of %zu sender(s) restored: their frames from before this start are"
		    " refused", ps->n_restore);
	loop_timer_set(l, &ps->timer, PEERSTATE_SAVE_MS, on_timer, ps);
	return ps;
fail:
	if (ps) {
		free(ps->restore);
		free(ps->saved);
		free(ps);
	}
	if (errno == 0)
		errno = ENOMEM;
	return NULL;
}

int
peerstate_watch(struct peerstate *ps, struct crypto_replay *r)
{
	struct crypto_replay **t;

	if ((t = realloc(ps->tables, (ps->n_tables + 1) * sizeof(*t))) == NULL)
		return -ENOMEM;
	ps->tables = t;
	ps->tables[ps->n_tables++] = r;
	for (size_t i = 0; i < ps->n_restore; i++)
		crypto_replay_restore(r, ps->restore[i].node, ps->restore[i].boot, ps->restore[i].top);
	crypto_replay_on_boot(r, on_boot, ps);
	return 0;
}

void
peerstate_free(struct peerstate *ps)
{
	if (ps == NULL)
		return;
	loop_timer_cancel(ps->loop, &ps->timer);
	save_all(ps);
	for (size_t t = 0; t < ps->n_tables; t++)
		crypto_replay_on_boot(ps->tables[t], NULL, NULL);
	free(ps->tables);
	free(ps->restore);
	free(ps->saved);
	free(ps);
}
