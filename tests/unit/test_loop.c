/* test_loop.c - the event loop: fds, timer order, deletion during dispatch, signals. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

static int fired[8], nfired;

static void
on_timer(struct loop *l, void *arg)
{
	fired[nfired++] = (int)(intptr_t)arg;
	if (nfired == 3)
		loop_stop(l);
}

static void
test_timers_fire_in_deadline_order(void **state)
{
	struct loop *l = loop_new();
	struct loop_timer t[4] = { 0 };
	uint64_t start = loop_now();

	nfired = 0;
	loop_timer_set(l, &t[0], 30, on_timer, (void *)3);
	loop_timer_set(l, &t[1], 10, on_timer, (void *)1);
	loop_timer_set(l, &t[2], 20, on_timer, (void *)2);
	loop_timer_set(l, &t[3], 15, on_timer, (void *)9);
	loop_timer_cancel(l, &t[3]);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(nfired, 3);
	assert_int_equal(fired[0], 1);
	assert_int_equal(fired[1], 2);
	assert_int_equal(fired[2], 3);
	assert_true(loop_now() - start >= 30);
	loop_free(l);
}

struct pair { struct loop *l; int a, b; int hits_a, hits_b; };

/* Reading a deletes b, whose event is pending in the same round. */
static void
on_a(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct pair *p = arg;
	uint64_t v;

	p->hits_a++;
	(void)!read(fd, &v, sizeof(v));
	loop_del_fd(l, p->b);
	loop_del_fd(l, p->a);
}

static void
on_b(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct pair *p = arg;
	uint64_t v;

	p->hits_b++;
	(void)!read(fd, &v, sizeof(v));
	loop_del_fd(l, p->a);
	loop_del_fd(l, p->b);
}

static void
test_delete_during_dispatch(void **state)
{
	struct pair p = { 0 };
	uint64_t one = 1;

	p.l = loop_new();
	p.a = eventfd(0, EFD_NONBLOCK);
	p.b = eventfd(0, EFD_NONBLOCK);
	assert_int_equal(loop_add_fd(p.l, p.a, EPOLLIN, on_a, &p), 0);
	assert_int_equal(loop_add_fd(p.l, p.b, EPOLLIN, on_b, &p), 0);
	assert_int_equal(write(p.a, &one, 8), 8);
	assert_int_equal(write(p.b, &one, 8), 8);
	assert_true(loop_once(p.l, 100) >= 1);
	/* Whichever ran first removed the other: exactly one callback. */
	assert_int_equal(p.hits_a + p.hits_b, 1);
	assert_int_equal(loop_add_fd(p.l, p.a, EPOLLIN, on_a, &p), 0);
	assert_int_equal(loop_mod_fd(p.l, p.b, EPOLLIN), -ENOENT);
	loop_free(p.l);
	close(p.a);
	close(p.b);
}

static int got_signal;

static void
on_sig(struct loop *l, int signo, void *arg)
{
	got_signal = signo;
	loop_stop(l);
}

static void
test_signal_through_loop(void **state)
{
	struct loop *l = loop_new();

	assert_int_equal(loop_signal(l, SIGUSR1, on_sig, NULL), 0);
	raise(SIGUSR1);	/* blocked: waits for the loop */
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(got_signal, SIGUSR1);
	loop_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_deadline_order),
		cmocka_unit_test(test_delete_during_dispatch),
		cmocka_unit_test(test_signal_through_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
