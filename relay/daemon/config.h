/*
 * config.h - the daemon's INI configuration, parsed once with libinih into an
 * immutable struct.  Unknown sections, unknown keys and bad values are errors
 * reported as "file:line: message".  Every key is documented in
 * the example configs (configs/) and in the README's table.
 */
#ifndef FIELDRELAY_CONFIG_H
#define FIELDRELAY_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "link.h"
#include "service.h"

enum clock_mode { CLOCK_AUTO = 0, CLOCK_TRUSTED, CLOCK_UNTRUSTED };

#define CONFIG_MAX_LINKS	8
#define CONFIG_MAX_ROUTES	64
#define CONFIG_MAX_SIZE		(1 << 20)	/* bytes: anything bigger is not a config file */

struct config {
	char path[PATH_MAX];		/* the file it came from */

	/* [node] */
	uint64_t node_id;		/* ipn node number, required */
	char name[64];
	char data_dir[PATH_MAX - 64];
	int clock;			/* enum clock_mode */
	char user[64];			/* drop root to this user after start-up, "" = stay */

	/* [store] */
	char store_path[PATH_MAX];
	uint64_t quota, reserve;
	uint64_t class_reserve[PRIO_COUNT];
	unsigned commit_ms;
	uint64_t commit_bytes;
	uint64_t max_bundle_size;
	unsigned expire_interval;	/* s */

	/* [bundle] */
	uint64_t default_lifetime;	/* s */
	uint64_t hop_limit;
	int crc_type;			/* enum crc_type */

	/* [control] */
	char socket_path[108];		/* sun_path size */
	mode_t socket_mode;
	char socket_group[64];

	/* [log] */
	int log_level;

	/* [security] */
	char key_file[PATH_MAX];

	/* [link NAME] sections */
	struct config_link {
		struct link_conf conf;
		bool auth_only;		/* authenticate, never encrypt (amateur radio) */
		bool tag8;		/* 8-byte tags where airtime rules */
		int compact;		/* enum link_compact */
		uint64_t fragment;	/* bundles with more payload are split (0 = never) */
		unsigned beacon_ms;	/* beacon interval (0 = the link layer's default) */
		uint32_t refuse;	/* classes it does not carry: bit = enum prio (key `classes`) */
		int line;		/* of its [link NAME] header, for messages */
	} links[CONFIG_MAX_LINKS];
	unsigned n_links;

	/* [route] */
	uint64_t route_default;		/* next hop toward the command center, 0 = none */
	struct { uint64_t dst, via; } routes[CONFIG_MAX_ROUTES];
	unsigned n_routes;

	/* The lines that set what start-up checks on the system (0: a default), for its messages. */
	struct config_lines {
		int data_dir, user, store_path, socket, socket_group, key_file;
	} lines;
};

/*
 * Parse path into *cfg.  Returns 0, or -EINVAL with every error found as
 * "file:line: message" lines in err (-errno if the file cannot be read).
 * Bytes from the file appear in messages escaped (\x01).
 */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);
/*
 * config_load() for the daemon's own start and reload: the sections agents
 * own (relay/base/config_section.h) are not checked, so that an agent's
 * mistake never stops store-and-forward.  -n and config-check use
 * config_load(), which checks every section.
 */
int config_load_daemon(const char *path, struct config *cfg, char *err, size_t errlen);
#define CONFIG_SKIP_AGENTS	1	/* config_load_flags(): what config_load_daemon() skips */
int config_load_flags(const char *path, struct config *cfg, int flags, char *err, size_t errlen);
/*
 * The same for text (len bytes) read from path already.  config_load()
 * refuses what is not a regular file or is over CONFIG_MAX_SIZE first.
 */
int config_parse(const char *path, const char *text, size_t len, struct config *cfg, char *err, size_t errlen);
/* config_load() on the len bytes at buf, as if they were the file called name (fuzzing, tests). */
int config_parse_buffer(const char *name, const void *buf, size_t len, struct config *cfg, char *err, size_t errlen);

/*
 * Compare two configs: apply nothing, but list in out the keys that differ
 * and whether each can change without a restart.  Returns true if every
 * difference is reloadable.
 */
bool config_reloadable(const struct config *old, const struct config *new, char *out, size_t outlen);

/* "16M" -> bytes; "2h" -> seconds.  0 or -EINVAL. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration(const char *s, uint64_t *out);

#endif
