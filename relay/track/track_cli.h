/*
 * track_cli.h - `fieldrelay track list | show UNIT | export ...`: the track
 * DB for people, read-only, while the agent writes it.
 */
#ifndef FIELDRELAY_TRACK_TRACK_CLI_H
#define FIELDRELAY_TRACK_TRACK_CLI_H

#include <stdint.h>
#include <stdio.h>

#define TRACK_CLI_OK		0
#define TRACK_CLI_FAILURE	1	/* no DB, no such unit, a file not written */
#define TRACK_CLI_USAGE		2

/*
 * argv[0] is "track" (or the program's name), argv[1] the command.  db_path:
 * the track DB (the [track] section's db; --db overrides).  The exit status.
 */
int track_cli_main(int argc, char **argv, const char *db_path);

/* The same, writing to out and err, at now_ms (Unix ms: the ages, "2h" ago). */
int track_cli_run(int argc, char **argv, const char *db_path, FILE *out, FILE *err,
    int64_t now_ms);

/*
 * A time as --since takes it: ISO 8601 (2026-12-03T14:00:00Z, with
 * milliseconds, an offset, or a date alone; no zone: UTC), Unix seconds
 * (1764770400), or a duration ago (90s, 30m, 2h, 1d, 1h30m).  Unix ms, or -1.
 */
int64_t track_cli_parse_time(const char *s, int64_t now_ms);

#endif
