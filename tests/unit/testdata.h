/*
 * testdata.h - the test data of the repository (tests/data, with its
 * sources and licences in tests/data/SOURCES.md) for the unit tests: the
 * same place the Python harness takes (tests/harness/paths.py TEST_DATA).
 */
#ifndef FIELDRELAY_TEST_TESTDATA_H
#define FIELDRELAY_TEST_TESTDATA_H

#include <stddef.h>
#include <stdint.h>

/*
 * The path of tests/data/DIR/NAME (dir "" for tests/data itself) into path:
 * under $FIELDRELAY_TEST_DATA if set, else tests/data in the working
 * directory or the nearest parent that has the file.  Fails the test
 * (cmocka) when the file is not there.
 */
void test_data_path(const char *dir, const char *name, char *path, size_t cap);
/* The file's first cap bytes at most, malloc'd; their count in *len. */
uint8_t *test_data_read(const char *dir, const char *name, size_t cap, size_t *len);

#endif
