/*
 * test_config_buffer.c - config_parse_buffer() (what the fuzz target runs)
 * is config_load() without the file: the same struct, the same return and
 * the same "file:line:" errors for the same bytes, NULs and all.
 */
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static struct config from_file, from_buf;
static char err_file[4096], err_buf[4096];

/* Parse len bytes both ways, under the same name; both must agree. */
static int
both(const void *text, size_t len)
{
	char path[] = "/tmp/test_config_buffer.XXXXXX";
	int fd = mkstemp(path), r_file, r_buf;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	r_file = config_load(path, &from_file, err_file, sizeof(err_file));
	r_buf = config_parse_buffer(path, text, len, &from_buf, err_buf, sizeof(err_buf));
	unlink(path);
	assert_int_equal(r_buf, r_file);
	assert_string_equal(err_buf, err_file);
	assert_memory_equal(&from_buf, &from_file, sizeof(from_file));
	return r_buf;
}

#define BOTH(s)	both((s), sizeof(s) - 1)

static void
test_valid(void **state)
{
	assert_int_equal(BOTH("[node]\nid = 12\n"), 0);
	assert_int_equal(from_buf.node_id, 12);
	assert_int_equal(BOTH("[node]\nid = 7\ndata_dir = /srv/fr\n[store]\nquota = 64M\n"
	    "[security]\nkey_file = /etc/k\n[link radio]\ntype = udp\npeer = 10.0.0.2\n"
	    "[route]\ndefault = 3\n"), 0);
	assert_int_equal(from_buf.n_links, 1);
	assert_string_equal(from_buf.socket_path, "/srv/fr/control.sock");
	/* No newline at the end, CRLF lines. */
	assert_int_equal(BOTH("[node]\r\nid = 3\r\nname = x"), 0);
	assert_string_equal(from_buf.name, "x");
}

static void
test_errors(void **state)
{
	assert_int_equal(BOTH(""), -EINVAL);
	assert_non_null(strstr(err_buf, "id is required"));
	assert_int_equal(BOTH("[node]\nid = 1\n[nosuch]\nx = 1\n"), -EINVAL);
	assert_int_equal(BOTH("[node]\nid = 1\nthis is not a key\n"), -EINVAL);
	assert_non_null(strstr(err_buf, ":3: "));
	assert_int_equal(BOTH("[node]\nid = 1\n[store]\nquota = 1K\nreserve = 4K\n"), -EINVAL);
	/* NUL bytes and control characters reach the parser as they would from a file. */
	BOTH("[node]\nid = 1\0junk\nname = a\0b\n");
	BOTH("\0\0\0\n\x01\x02[node]\nid=\xff\n");
}

/* The example configs, when run from the source tree (make check does). */
static void
test_examples(void **state)
{
	glob_t g;

	if (glob("configs/*.conf", 0, NULL, &g) != 0)
		skip();
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *fp = fopen(g.gl_pathv[i], "r");
		static char text[1 << 16];
		size_t n;

		assert_non_null(fp);
		n = fread(text, 1, sizeof(text), fp);
		fclose(fp);
		both(text, n);
	}
	globfree(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_examples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
