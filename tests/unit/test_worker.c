/* test_worker.c - the job thread: where run and done run, order, a loop that
 * keeps running while a job blocks, cancellation at free. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"
#include "worker.h"

#define NJOBS 1000

struct job {
	struct loop *loop;
	pthread_t loop_thread, ran_on, done_on;
	int n, result;
	bool ran, done;
	int *order;		/* done appends n here */
	int *norder;
	int stop_after;		/* done stops the loop after this many */
};

static int
job_run(void *arg)
{
	struct job *j = arg;

	j->ran_on = pthread_self();
	j->ran = true;
	return j->n % 3 == 0 ? -EIO : j->n;
}

static void
job_done(void *arg, int result)
{
	struct job *j = arg;

	j->done_on = pthread_self();
	j->done = true;
	j->result = result;
	j->order[(*j->norder)++] = j->n;
	if (*j->norder == j->stop_after)
		loop_stop(j->loop);
}

static void
on_deadline(struct loop *l, void *arg)
{
	*(bool *)arg = true;
	loop_stop(l);
}

static void
test_run_on_thread_done_on_loop_in_order(void **state)
{
	static struct job jobs[NJOBS];
	static int order[NJOBS];
	struct loop *l = loop_new();
	struct worker *w = worker_new(l, "test");
	struct loop_timer guard = { 0 };
	bool timed_out = false;
	int norder = 0;

	assert_non_null(w);
	for (int i = 0; i < NJOBS; i++) {
		jobs[i] = (struct job){ .loop = l, .loop_thread = pthread_self(), .n = i,
		    .order = order, .norder = &norder, .stop_after = NJOBS };
		assert_int_equal(worker_submit(w, job_run, job_done, &jobs[i]), 0);
	}
	loop_timer_set(l, &guard, 10000, on_deadline, &timed_out);
	assert_int_equal(loop_run(l), 0);
	assert_false(timed_out);
	loop_timer_cancel(l, &guard);
	assert_int_equal(norder, NJOBS);
	assert_int_equal(worker_pending(w), 0);
	for (int i = 0; i < NJOBS; i++) {
		assert_true(jobs[i].ran && jobs[i].done);
		assert_int_equal(order[i], i);
		assert_false(pthread_equal(jobs[i].ran_on, pthread_self()));
		assert_true(pthread_equal(jobs[i].done_on, pthread_self()));
		assert_int_equal(jobs[i].result, i % 3 == 0 ? -EIO : i);
	}
	worker_free(w);
	loop_free(l);
}

/* A job that blocks until the test writes to its pipe. */
struct blocker {
	int fds[2];
	int started[2];		/* run writes here once it runs */
	bool done;
	int result;
};

static int
block_run(void *arg)
{
	struct blocker *b = arg;
	char c;

	if (write(b->started[1], "s", 1) != 1)
		return -EIO;
	return read(b->fds[0], &c, 1) == 1 ? 7 : -EIO;
}

static void
blocker_init(struct blocker *b)
{
	assert_int_equal(pipe(b->fds), 0);
	assert_int_equal(pipe(b->started), 0);
}

static void
blocker_close(struct blocker *b)
{
	close(b->fds[0]);
	close(b->fds[1]);
	close(b->started[0]);
	close(b->started[1]);
}

static void
block_done(void *arg, int result)
{
	struct blocker *b = arg;

	b->done = true;
	b->result = result;
}

struct ticker {
	struct loop_timer t;
	int ticks;
	struct blocker *b;
};

static void
on_tick(struct loop *l, void *arg)
{
	struct ticker *k = arg;

	/* The loop runs timers while the job is stuck; after 5, let it go. */
	if (++k->ticks == 5 && write(k->b->fds[1], "x", 1) != 1)
		fail();
	if (k->b->done)
		loop_stop(l);
	else
		loop_timer_set(l, &k->t, 10, on_tick, k);
}

static void
test_loop_runs_while_a_job_blocks(void **state)
{
	struct loop *l = loop_new();
	struct worker *w = worker_new(l, "test");
	struct blocker b = { 0 };
	struct ticker k = { .b = &b };

	blocker_init(&b);
	assert_int_equal(worker_submit(w, block_run, block_done, &b), 0);
	loop_timer_set(l, &k.t, 10, on_tick, &k);
	assert_int_equal(loop_run(l), 0);
	assert_true(b.done);
	assert_int_equal(b.result, 7);
	assert_true(k.ticks >= 5);
	worker_free(w);
	loop_free(l);
	blocker_close(&b);
}

struct cancel {
	struct worker *w;
	int results[3];
	int ndone;
	int resubmit;		/* what a submit from a done returned */
};

struct cancel_job { struct cancel *c; int i; };

static void
cancel_done(void *arg, int result)
{
	struct cancel_job *j = arg;

	j->c->results[j->i] = result;
	j->c->ndone++;
	j->c->resubmit = worker_submit(j->c->w, job_run, NULL, NULL);
}

static int
noop_run(void *arg)
{
	return 0;
}

/* Once worker_free() has begun (a submit is refused), let the blocker go. */
struct releaser { struct worker *w; struct blocker *b; };

static void *
release(void *arg)
{
	struct releaser *r = arg;

	while (worker_submit(r->w, noop_run, NULL, NULL) == 0)
		usleep(1000);
	if (write(r->b->fds[1], "x", 1) != 1)
		return (void *)1;
	return NULL;
}

static void
test_free_answers_ran_and_cancels_queued(void **state)
{
	struct loop *l = loop_new();
	struct worker *w = worker_new(l, "test");
	struct blocker b = { 0 };
	struct cancel c = { .w = w, .results = { 1, 1, 1 } };
	struct cancel_job cj[3] = { { &c, 0 }, { &c, 1 }, { &c, 2 } };
	struct releaser r = { .w = w, .b = &b };
	pthread_t t;
	char ch;

	blocker_init(&b);
	/* The first job blocks, so the others are still queued at free. */
	assert_int_equal(worker_submit(w, block_run, block_done, &b), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(worker_submit(w, job_run, cancel_done, &cj[i]), 0);
	assert_int_equal(worker_pending(w), 4);
	assert_int_equal(read(b.started[0], &ch, 1), 1);	/* it runs */
	assert_int_equal(pthread_create(&t, NULL, release, &r), 0);
	/* worker_free waits for the blocked job to end, then answers it. */
	worker_free(w);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(b.done);
	assert_int_equal(b.result, 7);
	assert_int_equal(c.ndone, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(c.results[i], -ECANCELED);
	assert_int_equal(c.resubmit, -ESHUTDOWN);
	worker_free(NULL);
	loop_free(l);
	blocker_close(&b);
}

struct feeder {
	struct worker *w;
	struct job *jobs;
	int n;
};

static void *
feed(void *arg)
{
	struct feeder *f = arg;

	for (int i = 0; i < f->n; i++)
		if (worker_submit(f->w, job_run, job_done, &f->jobs[i]) != 0)
			return (void *)1;
	return NULL;
}

static void
test_submit_from_another_thread(void **state)
{
	static struct job jobs[NJOBS];
	static int order[NJOBS];
	struct loop *l = loop_new();
	struct worker *w = worker_new(l, "test");
	struct feeder f = { .w = w, .jobs = jobs, .n = NJOBS };
	struct loop_timer guard = { 0 };
	bool timed_out = false;
	pthread_t t;
	void *ret;
	int norder = 0;

	for (int i = 0; i < NJOBS; i++)
		jobs[i] = (struct job){ .loop = l, .n = i, .order = order, .norder = &norder,
		    .stop_after = NJOBS };
	assert_int_equal(pthread_create(&t, NULL, feed, &f), 0);
	loop_timer_set(l, &guard, 10000, on_deadline, &timed_out);
	assert_int_equal(loop_run(l), 0);
	assert_false(timed_out);
	loop_timer_cancel(l, &guard);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_null(ret);
	assert_int_equal(norder, NJOBS);
	for (int i = 0; i < NJOBS; i++)
		assert_int_equal(order[i], i);
	worker_free(w);
	loop_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_on_thread_done_on_loop_in_order),
		cmocka_unit_test(test_loop_runs_while_a_job_blocks),
		cmocka_unit_test(test_free_answers_ran_and_cancels_queued),
		cmocka_unit_test(test_submit_from_another_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
