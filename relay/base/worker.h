/*
 * worker.h - blocking work off the event loop: a thread that runs jobs one
 * at a time, in the order submitted, and hands each result back to the loop
 * thread through an eventfd the loop watches (the store writer's pattern,
 * relay/store/store_writer.c).  For work that may block for long: a large
 * copy, a file written and synced, a library call that does I/O.
 *
 * A job's run function runs on the worker thread and must touch nothing the
 * loop thread uses without a lock; its done function runs later on the loop
 * thread, from a loop callback, with run's result.
 */
#ifndef FIELDRELAY_WORKER_H
#define FIELDRELAY_WORKER_H

#include <stddef.h>

struct loop;
struct worker;

/* On the worker thread: the blocking part.  0 or -errno, given to done. */
typedef int worker_run_fn(void *arg);
/* On the loop thread: result is run's, or -ECANCELED (worker_free()). */
typedef void worker_done_fn(void *arg, int result);

/* A worker whose results arrive through l; name is for its log lines.
 * NULL with errno set. */
struct worker *worker_new(struct loop *l, const char *name);

/*
 * Queue a job; never blocks.  run (not NULL) runs on the worker thread,
 * then done (may be NULL) on the loop thread.  0, -ENOMEM, or -ESHUTDOWN
 * once worker_free() has begun.  Safe from any thread.
 */
int worker_submit(struct worker *w, worker_run_fn *run, worker_done_fn *done, void *arg);

/* Jobs submitted and not yet answered through done (tests, status). */
size_t worker_pending(struct worker *w);

/*
 * Stop: waits for the job running now to end (the one place that waits,
 * at shutdown), answers the jobs that ran with their result and those that
 * never started with -ECANCELED, each done on the calling thread, which
 * must be the loop thread.  worker_free(NULL) does nothing.
 */
void worker_free(struct worker *w);

#endif
