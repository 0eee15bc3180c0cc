/*
 * loop.h - the event loop: epoll for file descriptors, a sorted list of
 * one-shot timers on CLOCK_MONOTONIC (the epoll timeout is the nearest
 * deadline), and signals through a signalfd.  Callbacks must never block.
 * Shape of Redis's ae.c.
 */
#ifndef FIELDRELAY_LOOP_H
#define FIELDRELAY_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct loop;

typedef void loop_io_fn(struct loop *l, int fd, uint32_t events, void *arg);
typedef void loop_timer_fn(struct loop *l, void *arg);
typedef void loop_signal_fn(struct loop *l, int signo, void *arg);

/* A timer lives inside its owner's struct; the loop never allocates one. */
struct loop_timer {
	TAILQ_ENTRY(loop_timer) entry;
	uint64_t deadline;		/* monotonic ms */
	loop_timer_fn *fn;
	void *arg;
	bool armed;
};

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* events: EPOLLIN/EPOLLOUT.  0 or -errno. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_io_fn *fn, void *arg);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
/* Safe to call from any callback, for any fd, including the one running. */
void loop_del_fd(struct loop *l, int fd);

/* Arm (or re-arm) t to fire once, ms from now. */
void loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t ms, loop_timer_fn *fn, void *arg);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/* Deliver signo through the loop instead of asynchronously. */
int loop_signal(struct loop *l, int signo, loop_signal_fn *fn, void *arg);

/* Run until loop_stop(); returns 0, or -errno if epoll fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
/* Run ready callbacks once, waiting at most timeout_ms (tests, shutdown). */
int loop_once(struct loop *l, int timeout_ms);

/* Monotonic milliseconds. */
uint64_t loop_now(void);
/* Wall clock, Unix milliseconds: only for timestamps and display. */
uint64_t loop_wallclock_ms(void);

#endif
