/* test_log.c - log_debug() evaluates nothing when debug is off (log.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static int calls;

static int
bump(void)
{
	return ++calls;
}

/*
 * Run fn with stderr going to a temporary file; what it wrote, in out.
 * log.c writes to stderr until log_init() says otherwise.
 */
static void
capture(void (*fn)(void), char *out, size_t size)
{
	FILE *tmp = tmpfile();
	int saved;
	size_t n;

	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	fn();
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, size - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
}

static void
debug_line(void)
{
	log_debug("counter now %d", bump());
}

static void
test_debug_off_evaluates_nothing(void **state)
{
	char out[256];

	calls = 0;
	log_setlevel(LOG_LVL_INFO);
	capture(debug_line, out, sizeof(out));
	assert_int_equal(calls, 0);
	assert_string_equal(out, "");

	/* Every level below debug, and an if/else around the macro. */
	log_setlevel(LOG_LVL_ERR);
	if (calls == 0)
		log_debug("%d", bump());
	else
		fail();
	assert_int_equal(calls, 0);
}

static void
test_debug_on_evaluates_once(void **state)
{
	char out[256];

	calls = 0;
	log_setlevel(LOG_LVL_DEBUG);
	capture(debug_line, out, sizeof(out));
	log_setlevel(LOG_LVL_INFO);
	assert_int_equal(calls, 1);
	assert_non_null(strstr(out, "counter now 1\n"));
}

static void
test_level_round_trip(void **state)
{
	log_setlevel(LOG_LVL_WARN);
	assert_int_equal(log_getlevel(), LOG_LVL_WARN);
	log_setlevel(LOG_LVL_INFO);
	assert_int_equal(log_parse_level("debug"), LOG_LVL_DEBUG);
	assert_int_equal(log_parse_level("loud"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debug_off_evaluates_nothing),
		cmocka_unit_test(test_debug_on_evaluates_once),
		cmocka_unit_test(test_level_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
