/* worker.c - a job thread that answers through an eventfd, see worker.h. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "worker.h"

struct worker_job {
	TAILQ_ENTRY(worker_job) entry;
	worker_run_fn *run;
	worker_done_fn *done;
	void *arg;
	int result;
};
TAILQ_HEAD(worker_jobs, worker_job);

struct worker {
	struct loop *loop;
	char name[32];
	int efd;
	pthread_t thread;

	/* Under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* to the thread: a job, or stop */
	struct worker_jobs queue;	/* submitted, not started */
	struct worker_jobs finished;	/* ran, done not called yet */
	size_t pending;			/* submitted, done not called yet */
	bool stopping;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct worker_job *job;
	bool wake;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (TAILQ_EMPTY(&w->queue) && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stopping)
			break;
		job = TAILQ_FIRST(&w->queue);
		TAILQ_REMOVE(&w->queue, job, entry);
		pthread_mutex_unlock(&w->mu);

		job->result = job->run(job->arg);

		pthread_mutex_lock(&w->mu);
		/* One wakeup per batch: the loop drains the whole list. */
		wake = TAILQ_EMPTY(&w->finished);
		TAILQ_INSERT_TAIL(&w->finished, job, entry);
		if (wake && eventfd_write(w->efd, 1) == -1)
			log_warn("worker %s: eventfd", w->name);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Call done for every job in list with its result (or result if not 0). */
static void
answer(struct worker *w, struct worker_jobs *list, int result)
{
	struct worker_job *job;

	while ((job = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, job, entry);
		pthread_mutex_lock(&w->mu);
		w->pending--;
		pthread_mutex_unlock(&w->mu);
		if (job->done != NULL)
			job->done(job->arg, result != 0 ? result : job->result);
		free(job);
	}
}

static void
worker_ready(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct worker *w = arg;
	struct worker_jobs list;
	eventfd_t n;

	(void)eventfd_read(w->efd, &n);
	TAILQ_INIT(&list);
	pthread_mutex_lock(&w->mu);
	TAILQ_CONCAT(&list, &w->finished, entry);
	pthread_mutex_unlock(&w->mu);
	answer(w, &list, 0);
}

struct worker *
worker_new(struct loop *l, const char *name)
{
	struct worker *w;
	int err;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->loop = l;
	snprintf(w->name, sizeof(w->name), "%s", name ? name : "");
	TAILQ_INIT(&w->queue);
	TAILQ_INIT(&w->finished);
	if ((w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		err = errno;
		goto free_w;
	}
	if ((err = -loop_add_fd(l, w->efd, EPOLLIN, worker_ready, w)) != 0)
		goto close_efd;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if ((err = pthread_create(&w->thread, NULL, worker_main, w)) != 0)
		goto del_fd;
	return w;

del_fd:
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	loop_del_fd(l, w->efd);
close_efd:
	close(w->efd);
free_w:
	free(w);
	errno = err;
	return NULL;
}

int
worker_submit(struct worker *w, worker_run_fn *run, worker_done_fn *done, void *arg)
{
	struct worker_job *job;

	if (run == NULL)
		return -EINVAL;
	if ((job = calloc(1, sizeof(*job))) == NULL)
		return -ENOMEM;
	job->run = run;
	job->done = done;
	job->arg = arg;
	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		pthread_mutex_unlock(&w->mu);
		free(job);
		return -ESHUTDOWN;
	}
	TAILQ_INSERT_TAIL(&w->queue, job, entry);
	w->pending++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

size_t
worker_pending(struct worker *w)
{
	size_t n;

	pthread_mutex_lock(&w->mu);
	n = w->pending;
	pthread_mutex_unlock(&w->mu);
	return n;
}

void
worker_free(struct worker *w)
{
	struct worker_jobs finished, queued;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);

	/* The thread is gone: no lock needed for the lists, answer() takes it anyway. */
	TAILQ_INIT(&finished);
	TAILQ_INIT(&queued);
	TAILQ_CONCAT(&finished, &w->finished, entry);
	TAILQ_CONCAT(&queued, &w->queue, entry);
	answer(w, &finished, 0);
	answer(w, &queued, -ECANCELED);

	loop_del_fd(w->loop, w->efd);
	close(w->efd);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
