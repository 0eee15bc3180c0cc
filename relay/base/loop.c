/* loop.c - epoll + monotonic timers + signalfd, see loop.h. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define LOOP_MAX_EVENTS 64
#define LOOP_MAX_SIGNALS 8

struct loop_io {
	LIST_ENTRY(loop_io) entry;
	int fd;
	loop_io_fn *fn;
	void *arg;
	bool dead;		/* deleted during dispatch, freed after it */
};

struct loop {
	int epfd;
	bool stop;
	LIST_HEAD(, loop_io) ios;
	LIST_HEAD(, loop_io) graveyard;
	TAILQ_HEAD(loop_timer_head_, loop_timer) timers;	/* sorted by deadline */
	int sigfd;
	sigset_t sigmask;
	struct {
		int signo;
		loop_signal_fn *fn;
		void *arg;
	} sigs[LOOP_MAX_SIGNALS];
	int nsigs;
};

uint64_t
loop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
loop_wallclock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *
loop_new(void)
{
	struct loop *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		free(l);
		return NULL;
	}
	LIST_INIT(&l->ios);
	LIST_INIT(&l->graveyard);
	TAILQ_INIT(&l->timers);
	l->sigfd = -1;
	sigemptyset(&l->sigmask);
	return l;
}

static void
loop_bury(struct loop *l)
{
	struct loop_io *io;

	while ((io = LIST_FIRST(&l->graveyard)) != NULL) {
		LIST_REMOVE(io, entry);
		free(io);
	}
}

void
loop_free(struct loop *l)
{
	struct loop_io *io;

	if (l == NULL)
		return;
	while ((io = LIST_FIRST(&l->ios)) != NULL) {
		LIST_REMOVE(io, entry);
		free(io);
	}
	loop_bury(l);
	if (l->sigfd != -1) {
		close(l->sigfd);
		sigprocmask(SIG_UNBLOCK, &l->sigmask, NULL);
	}
	close(l->epfd);
	free(l);
}

static struct loop_io *
loop_find(struct loop *l, int fd)
{
	struct loop_io *io;

	LIST_FOREACH(io, &l->ios, entry)
		if (io->fd == fd)
			return io;
	return NULL;
}

int
loop_add_fd(struct loop *l, int fd, uint32_t events, loop_io_fn *fn, void *arg)
{
	struct epoll_event ev = { .events = events };
	struct loop_io *io;

	if ((io = calloc(1, sizeof(*io))) == NULL)
		return -ENOMEM;
	io->fd = fd;
	io->fn = fn;
	io->arg = arg;
	ev.data.ptr = io;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		int err = -errno;

		free(io);
		return err;
	}
	LIST_INSERT_HEAD(&l->ios, io, entry);
	return 0;
}

int
loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };
	struct loop_io *io;

	if ((io = loop_find(l, fd)) == NULL)
		return -ENOENT;
	ev.data.ptr = io;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) == -1)
		return -errno;
	return 0;
}

void
loop_del_fd(struct loop *l, int fd)
{
	struct loop_io *io;

	if ((io = loop_find(l, fd)) == NULL)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	LIST_REMOVE(io, entry);
	/* Events for it may still be in this round's array: free it later. */
	io->dead = true;
	LIST_INSERT_HEAD(&l->graveyard, io, entry);
}

void
loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (t->armed) {
		TAILQ_REMOVE(&l->timers, t, entry);
		t->armed = false;
	}
}

void
loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t ms, loop_timer_fn *fn, void *arg)
{
	struct loop_timer *it;

	loop_timer_cancel(l, t);
	t->deadline = loop_now() + ms;
	t->fn = fn;
	t->arg = arg;
	t->armed = true;
	/* Few timers exist (one per link, client, housekeeping): a sorted list will do. */
	TAILQ_FOREACH_REVERSE(it, &l->timers, loop_timer_head_, entry)
		if (it->deadline <= t->deadline)
			break;
	if (it == NULL)
		TAILQ_INSERT_HEAD(&l->timers, t, entry);
	else
		TAILQ_INSERT_AFTER(&l->timers, it, t, entry);
}

static void
loop_signal_read(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		for (int i = 0; i < l->nsigs; i++)
			if (l->sigs[i].signo == (int)si.ssi_signo)
				l->sigs[i].fn(l, (int)si.ssi_signo, l->sigs[i].arg);
	}
}

int
loop_signal(struct loop *l, int signo, loop_signal_fn *fn, void *arg)
{
	int fd, err;

	if (l->nsigs == LOOP_MAX_SIGNALS)
		return -ENOSPC;
	sigaddset(&l->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) == -1)
		return -errno;
	fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (l->sigfd == -1) {
		l->sigfd = fd;
		if ((err = loop_add_fd(l, fd, EPOLLIN, loop_signal_read, NULL)) < 0)
			return err;
	}
	l->sigs[l->nsigs].signo = signo;
	l->sigs[l->nsigs].fn = fn;
	l->sigs[l->nsigs].arg = arg;
	l->nsigs++;
	return 0;
}

/* Fire every timer whose deadline has passed; return ms to the next one or -1. */
static int
loop_timers(struct loop *l)
{
	struct loop_timer *t;
	uint64_t now = loop_now();

	while ((t = TAILQ_FIRST(&l->timers)) != NULL && t->deadline <= now) {
		TAILQ_REMOVE(&l->timers, t, entry);
		t->armed = false;
		t->fn(l, t->arg);
	}
	if ((t = TAILQ_FIRST(&l->timers)) == NULL)
		return -1;
	now = loop_now();
	return t->deadline <= now ? 0 : (int)(t->deadline - now);
}

int
loop_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, next;

	next = loop_timers(l);
	if (next >= 0 && (timeout_ms < 0 || next < timeout_ms))
		timeout_ms = next;
	n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, timeout_ms);
	if (n == -1)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct loop_io *io = evs[i].data.ptr;

		if (!io->dead)
			io->fn(l, io->fd, evs[i].events, io->arg);
	}
	loop_bury(l);
	loop_timers(l);
	return n;
}

int
loop_run(struct loop *l)
{
	int r;

	l->stop = false;
	while (!l->stop)
		if ((r = loop_once(l, -1)) < 0)
			return r;
	return 0;
}

void
loop_stop(struct loop *l)
{
	l->stop = true;
}
