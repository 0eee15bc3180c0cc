/*
 * peerstate.h - replay protection across restarts (issue 11 item 7): the
 * links' replay windows (relay/base/crypto.h) saved in the store and restored
 * at start, so that a frame captured before a restart is dropped after it.
 *
 * What is kept, per sender node: its newest boot counter and the highest
 * frame counter of that boot heard here, over all links.  A new boot (or a
 * sender first heard) is saved at once, through the store's writer thread;
 * the counter every PEERSTATE_SAVE_MS if it moved, and exactly at a clean
 * stop.  Nothing is done per frame, and nothing here waits for a commit.
 *
 * After a restart a sender's frames of an older boot are dropped, and those
 * of its saved boot at or below the saved counter plus CRYPTO_RESTART_MARGIN.
 * The margin covers the frames accepted after the last save that a kill -9
 * or a power cut lost; a live sender skips as many counters when it hears us
 * again (radio/link.c), so it is not locked out.
 *
 * The guarantee: no frame accepted before a restart is accepted after it,
 * at any time later, provided the store committed a save of that sender
 * within its last CRYPTO_RESTART_MARGIN frames before the crash (2^18: 26 s
 * at 10,000 frames/s from one sender, against a save every 500 ms; after a
 * clean stop the saved counter is exact).  Not covered: the frames of a boot
 * first heard in the few milliseconds before a crash, before its save
 * committed (the store must be able to commit: on a full disk the saves
 * fail, are logged once and retried); and SBD/DirectIP links, whose replays
 * the store recognises by bundle identity (never delivered twice).  The cost
 * to a live sender: its frames sent between our restart and its hearing us
 * again are dropped as replays (then retransmitted), and it spends 2^18 of
 * its 2^32 counters per neighbour met or restarted.
 */
#ifndef FIELDRELAY_PEERSTATE_H
#define FIELDRELAY_PEERSTATE_H

#include "crypto.h"
#include "loop.h"
#include "store.h"

#define PEERSTATE_SAVE_MS	500

struct peerstate;

/* Reads the saved state.  NULL with errno set. */
struct peerstate *peerstate_new(struct store *s, struct loop *l);
/* Restore the saved state into r, and save r's from now on (r outlives ps or is unwatched by free). */
int peerstate_watch(struct peerstate *ps, struct crypto_replay *r);
/* Save what moved, exactly (a clean stop), then stop; the store commits it before it closes. */
void peerstate_free(struct peerstate *ps);

#endif
