/*
 * test_gpsin.c - this node's GPS through libgps (relay/track/gpsin.c),
 * against a socket in the test that speaks gpsd's JSON as gpsd 3.22 writes
 * it: a TPV with a 3D fix is a fix with the GPS's time, a 2D one has no
 * altitude, mode 1 makes the last fix stale, a lost connection is retried
 * and the fixes go on.  (tests/integration/test_track.py runs real gpsd.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "gpsin.h"
#include "ports.h"

#define MAX_SEEN 16

static struct fix seen[MAX_SEEN];
static int n_seen;
static char last_log[512];

static void
on_fix(void *arg, const struct fix *f)
{
	(void)arg;
	if (n_seen < MAX_SEEN)
		seen[n_seen++] = *f;
}

static void
on_log(void *arg, const char *msg)
{
	(void)arg;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

static const struct gpsin_ops ops = { on_fix, on_log };

static int
listener(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(s >= 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s, 4), 0);
	return s;
}

/* Let the client connect, and take the connection (reading its ?WATCH). */
static int
accept_client(struct gpsin *g, int ls, int64_t now)
{
	char buf[512];
	int c;

	gpsin_tick(g, now);
	assert_true(gpsin_connected(g));
	c = accept(ls, NULL, NULL);
	assert_true(c >= 0);
	struct pollfd p = { c, POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 2000), 1);
	ssize_t n = read(c, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "?WATCH"));
	assert_non_null(strstr(buf, "\"json\":true"));
	return c;
}

/* gpsd writes lines; the client reads what came. */
static void
say(struct gpsin *g, int c, const char *lines, int64_t now)
{
	assert_int_equal(write(c, lines, strlen(lines)), (ssize_t)strlen(lines));
	struct pollfd p = { gpsin_fd(g), POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 2000), 1);
	usleep(20000);		/* all of it in, so one read sees every line */
	gpsin_read(g, now);
}

#define VERSION_LINE "{\"class\":\"VERSION\",\"release\":\"3.22\",\"rev\":\"3.22\",\"proto_major\":3,\"proto_minor\":14}\n"
#define TPV3D "{\"class\":\"TPV\",\"device\":\"/dev/ttyUSB0\",\"mode\":3,\"time\":\"2005-06-08T10:34:48.283Z\"," \
	"\"ept\":0.005,\"lat\":46.498204497,\"lon\":7.568061439,\"altMSL\":1327.689,\"epx\":15.319,\"epy\":17.054," \
	"\"epv\":124.484,\"track\":10.3797,\"speed\":0.091,\"climb\":-0.085,\"eph\":22.9}\n"
#define TPV2D "{\"class\":\"TPV\",\"device\":\"/dev/ttyUSB0\",\"mode\":2,\"time\":\"2005-06-08T10:34:49.000Z\"," \
	"\"lat\":46.4983,\"lon\":7.5681,\"track\":12.0,\"speed\":1.5}\n"
#define TPV_NOFIX "{\"class\":\"TPV\",\"device\":\"/dev/ttyUSB0\",\"mode\":1,\"time\":\"2005-06-08T10:34:50.000Z\"}\n"
#define SKY_LINE "{\"class\":\"SKY\",\"device\":\"/dev/ttyUSB0\",\"satellites\":[]}\n"

static void
test_fixes_from_tpv(void **state)
{
	uint16_t port = test_free_port();
	char where[32];
	int ls = listener(port), c;
	struct gpsin_stats st;
	struct gpsin *g;

	(void)state;
	n_seen = 0;
	snprintf(where, sizeof(where), "127.0.0.1:%u", port);
	assert_non_null(g = gpsin_new(where, &ops, NULL));
	c = accept_client(g, ls, 1000);
	say(g, c, VERSION_LINE SKY_LINE TPV3D, 1000);
	assert_int_equal(n_seen, 1);
	assert_int_equal(seen[0].time_ms, 1118226888283LL);	/* the GPS's time, not ours */
	assert_true(fabs(seen[0].lat - 46.498204497) < 1e-9);
	assert_true(fabs(seen[0].lon - 7.568061439) < 1e-9);
	assert_true(fabs(seen[0].alt - 1327.689) < 1e-6);
	assert_true(fabs(seen[0].course - 10.3797) < 1e-6);
	assert_true(fabs(seen[0].speed - 0.091) < 1e-6);
	assert_true(fabs(seen[0].eph - 22.9) < 1e-6);
	assert_int_equal(seen[0].source, FIX_GPSD);
	assert_false(seen[0].stale);

	/* 2D: a fix, without altitude. */
	say(g, c, TPV2D, 2000);
	assert_int_equal(n_seen, 2);
	assert_true(isnan(seen[1].alt));
	assert_int_equal(seen[1].time_ms, 1118226889000LL);

	/* No fix: the last one once more, stale; and only once. */
	say(g, c, TPV_NOFIX, 3000);
	assert_int_equal(n_seen, 3);
	assert_true(seen[2].stale);
	assert_int_equal(seen[2].time_ms, seen[1].time_ms);
	say(g, c, TPV_NOFIX, 4000);
	assert_int_equal(n_seen, 3);

	gpsin_stats(g, &st);
	assert_int_equal(st.reports, 4);
	assert_int_equal(st.fixes, 2);
	assert_int_equal(st.no_fix, 2);
	close(c);
	close(ls);
	gpsin_free(g);
}

static void
test_garbage_and_reconnect(void **state)
{
	uint16_t port = test_free_port();
	char where[32];
	int ls = listener(port), c;
	struct gpsin_stats st;
	struct gpsin *g;

	(void)state;
	n_seen = 0;
	snprintf(where, sizeof(where), "[127.0.0.1]:%u", port);
	assert_non_null(g = gpsin_new(where, &ops, NULL));
	c = accept_client(g, ls, 1000);
	/* Lines that are not gpsd's JSON, or out of range, give no fix and no crash. */
	say(g, c, "garbage\n{\"class\":\"TPV\",\"mode\":3,\"lat\":\"x\"}\n"
	    "{\"class\":\"TPV\",\"mode\":3,\"time\":\"2005-06-08T10:34:48Z\",\"lat\":123.0,\"lon\":7.0}\n" TPV3D, 1000);
	assert_int_equal(n_seen, 1);

	/* gpsd goes away: the last fix goes stale, the client tries again. */
	close(c);
	struct pollfd p = { gpsin_fd(g), POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 2000), 1);
	gpsin_read(g, 2000);
	assert_false(gpsin_connected(g));
	assert_int_equal(n_seen, 2);
	assert_true(seen[1].stale);
	assert_non_null(strstr(last_log, "reconnecting"));
	assert_true(gpsin_deadline(g) > 2000 && gpsin_deadline(g) <= 2000 + GPSIN_RETRY_MAX_MS);

	/* It comes back: fixes go on. */
	c = accept_client(g, ls, gpsin_deadline(g));
	say(g, c, TPV2D, 5000);
	assert_int_equal(n_seen, 3);
	assert_false(seen[2].stale);
	gpsin_stats(g, &st);
	assert_int_equal(st.connects, 2);
	assert_int_equal(st.losses, 1);

	/* Silence: stale after GPSIN_STALE_MS. */
	gpsin_tick(g, 5000 + GPSIN_STALE_MS - 1);
	assert_int_equal(n_seen, 3);
	gpsin_tick(g, 5000 + GPSIN_STALE_MS);
	assert_int_equal(n_seen, 4);
	assert_true(seen[3].stale);
	close(c);
	close(ls);
	gpsin_free(g);
}

static void
test_no_gpsd(void **state)
{
	uint16_t port = test_free_port();
	char where[32];
	struct gpsin *g;

	(void)state;
	assert_null(gpsin_new("localhost", &ops, NULL));
	assert_null(gpsin_new("[::1", &ops, NULL));
	snprintf(where, sizeof(where), "127.0.0.1:%u", port);
	assert_non_null(g = gpsin_new(where, &ops, NULL));
	last_log[0] = '\0';
	gpsin_tick(g, 0);
	assert_false(gpsin_connected(g));
	assert_non_null(strstr(last_log, "trying again"));
	/* Later tries are quiet, and less frequent, up to the cap. */
	last_log[0] = '\0';
	int64_t t = 0;
	for (int i = 0; i < 8; i++) {
		t = gpsin_deadline(g);
		gpsin_tick(g, t);
	}
	assert_string_equal(last_log, "");
	assert_int_equal(gpsin_deadline(g) - t, GPSIN_RETRY_MAX_MS);
	gpsin_free(g);
	gpsin_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixes_from_tpv),
		cmocka_unit_test(test_garbage_and_reconnect),
		cmocka_unit_test(test_no_gpsd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
