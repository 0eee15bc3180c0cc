/*
 * testdata.c - finding and reading the repository's test data (testdata.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "testdata.h"

static int
exists(const char *path)
{
	return access(path, R_OK) == 0;
}

void
test_data_path(const char *dir, const char *name, char *path, size_t cap)
{
	const char *env = getenv("FIELDRELAY_TEST_DATA");
	const char *sep = *dir ? "/" : "";
	char cwd[2048], *slash;

	if (env != NULL) {
		snprintf(path, cap, "%s/%s%s%s", env, dir, sep, name);
		if (exists(path))
			return;
		fail_msg("cannot find %s in FIELDRELAY_TEST_DATA=%s", path, env);
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		fail_msg("cannot find tests/data/%s%s%s: no working directory", dir, sep, name);
	for (;;) {
		snprintf(path, cap, "%s/tests/data/%s%s%s", cwd, dir, sep, name);
		if (exists(path))
			return;
		if ((slash = strrchr(cwd, '/')) == NULL || slash == cwd)
			break;
		*slash = '\0';
	}
	fail_msg("cannot find tests/data/%s%s%s here or above (set FIELDRELAY_TEST_DATA)", dir, sep, name);
}

uint8_t *
test_data_read(const char *dir, const char *name, size_t cap, size_t *len)
{
	char path[4096];
	uint8_t *buf;
	FILE *f;

	test_data_path(dir, name, path, sizeof(path));
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("cannot open %s", path);
	buf = malloc(cap ? cap : 1);
	assert_non_null(buf);
	*len = fread(buf, 1, cap, f);
	fclose(f);
	return buf;
}
