/*
 * config_int.h - what config.c (the keys) and config_file.c (the file and
 * its lines) share: the state of one parse.
 */
#ifndef FIELDRELAY_CONFIG_INT_H
#define FIELDRELAY_CONFIG_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "config_section.h"

/* Sections and keys remembered to find repeats (a valid file has 15 sections, agents' aside, and
 * ~40 keys in one at most). */
#define SEEN_SECTIONS	64
#define SEEN_KEYS	64

/*
 * What libinih sees instead of a section header that is broken or repeated
 * (the error is reported at the header): its keys are dropped in silence.
 */
#define DROPPED_SECTION	"\x7f"

struct parse {
	struct config *cfg;
	const char *file;
	const char *text;		/* the whole file */
	size_t len, pos;		/* its length, the next line's offset */
	int line;			/* line being parsed */
	int section_line;		/* line of the current [section] header */
	const char *section;		/* its text, for the daemon's section handlers */
	int reported_section;		/* its line, once called unknown */
	char *err;
	size_t errlen, errused;
	int nerr;
	bool seen_node_id;
	bool seen_store_path, seen_socket;
	uint16_t link_keys[CONFIG_MAX_LINKS];	/* per link: LK_* */
	struct { char name[64]; int line; } sections[SEEN_SECTIONS], keys[SEEN_KEYS];
	unsigned n_sections, n_keys;	/* keys: of the current section */
	int route_line[CONFIG_MAX_ROUTES + 1];	/* of each static route, then of the default */
	bool skip_agents;		/* the daemon's own start: agents' sections are not checked */
	const struct config_section *agent;	/* the agent's section being read, or NULL */
	void *agent_conf;		/* what its keys filled in (when checked) */
};

/* One of the daemon's own sections: [name], or [name WORD] if named. */
struct config_daemon_section {
	const char *name;
	bool named;
	/* One key (p->section: the header's text, "link mesh"); 1 (libinih: go on). */
	int (*set)(struct parse *p, const char *name, const char *value);
};
/* config.c: the daemon's sections, ending with { NULL }. */
extern const struct config_daemon_section config_daemon_sections[];

/* config_sections.c: which sections the parser knows, and the agents' keys. */
enum config_section_kind { SECTION_UNKNOWN, SECTION_DAEMON, SECTION_NAMED, SECTION_AGENT };
enum config_section_kind config_section_kind(const char *name, const struct config_section **agent);
/* The daemon's section for a header ("link mesh" -> link), or NULL. */
const struct config_daemon_section *config_daemon_section(const char *name);
/* "node, store, ..., link NAME; agents: echo": the known sections, for messages. */
const char *config_sections_known(void);
/* The parse enters [header] (agent: its section, or NULL), or (header NULL) the file ends. */
void config_section_enter(struct parse *p, const struct config_section *agent);
/* One key of the agent's section being read. */
void config_agent_key(struct parse *p, const char *name, const char *value);
/* May the key be given more than once in this agent's section? */
bool config_agent_repeats(const struct config_section *agent, const char *name);
/* config_parse() with flags (CONFIG_SKIP_AGENTS). */
int config_parse_flags(const char *path, const char *text, size_t len, struct config *cfg, int flags,
    char *err, size_t errlen);

/* Add one "file:line: message" line to the parse's errors. */
void config_vperr(struct parse *p, int line, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
/* config_vperr() with its arguments. */
void config_perr(struct parse *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The reader of ini_parse_stream(): stream is the struct parse. */
char *config_read_line(char *buf, int size, void *stream);
/* Is this key set already in its section (reported if so)? */
bool config_repeated_key(struct parse *p, const char *section, const char *name, const char *value);

#endif
