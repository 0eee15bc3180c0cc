/*
 * fuzz_config.c - libFuzzer target: the config parser must never crash on
 * any file.  The input is parsed from memory by config_parse_buffer(), the
 * same parser config_load() runs on a file, so no file is written or opened
 * per input.
 */
#include <stdint.h>
#include <stdio.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	char err[4096];

	config_parse_buffer("fuzz.conf", data, size, &cfg, err, sizeof(err));
	return 0;
}
