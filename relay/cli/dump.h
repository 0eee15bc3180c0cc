/*
 * dump.h - `fieldrelay bundle dump FILE [--json]`: dissect a raw BPv7 bundle
 * file (ours or any other implementation's).
 */
#ifndef FIELDRELAY_CLI_DUMP_H
#define FIELDRELAY_CLI_DUMP_H

#include <stdbool.h>
#include <stdio.h>

/*
 * Read the bundle in path ("-" for stdin), validate it with bundle_decode()
 * and print its primary block and every canonical block to out, as text or
 * as one JSON object.  Returns 0; 1 if it is not a valid bundle (after
 * "PATH: invalid bundle: REASON" on stderr; files over BUNDLE_MAX_SIZE are
 * refused so); 2 if it cannot be read or the output cannot be written.
 */
int dump_bundle_file(const char *path, bool json, FILE *out);

#endif
