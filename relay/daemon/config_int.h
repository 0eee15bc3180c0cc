/*
 * config_int.h - what the parser's files share: config.c (the daemon's
 * sections and the keys every link has), config_file.c (the file and its
 * lines), config_sections.c (which sections are known, agents' checked),
 * and the link kinds' files (config_mesh.c, config_kiss.c, config_sbd.c).
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

/* What a [link NAME] section set: defaults that depend on the type are filled in at the end. */
#define LK_MTU		0x01
#define LK_RATE		0x02
#define LK_BEACON	0x04
#define LK_FRAGMENT	0x08
#define LK_UDP		0x10	/* a key only UDP links take */
#define LK_KISS		0x20	/* a key only KISS links take */
#define LK_CLASSES	0x40
#define LK_SBD		0x80	/* a key only sbd and directip links take (config_sbd.c) */
#define LK_SERIAL	0x100	/* device, baud: kiss and sbd links */

/* What a link has where its section does not say. */
struct config_link_base {
	uint32_t mtu;
	uint64_t rate_bps;
	uint64_t fragment;
	unsigned beacon_ms;
};

/*
 * A link kind's share of the [link NAME] sections (type = TYPE), each in
 * its module's file and listed in config.c's link_kinds[]: its own keys,
 * its defaults, what a section of its type lacks.  Every kind's keys are
 * tried whatever the type (type may come last in the section); a key of
 * one kind in a link of another is reported at the end.
 */
struct config_link_kind {
	const char *type;		/* its value of type = */
	int kind;			/* enum link_kind */
	/* Its own keys: 1 if name is one (the value checked, errors reported, the
	 * LK_ bits set in *keys), 0 if not. */
	int (*key)(struct parse *p, struct config_link *l, const char *name, const char *value,
	    uint16_t *keys);
	const struct config_link_base *base;	/* NULL: a mesh hop's */
	/* After the whole file, for a link of this type: what depends on it... */
	void (*defaults)(struct config_link *l, uint16_t keys);
	/* ...and what the section lacks or has wrong (reported with config_perr()). */
	void (*check)(struct parse *p, const struct config_link *l, uint16_t keys);
	uint16_t own;			/* LK_ bit of the keys only its kind takes */
	const char *foreign;		/* "[link X] " and this: its keys in another kind's link */
	uint16_t takes;			/* LK_ bits of kind-only keys a link of this type may have */
	bool small_fragments;		/* fragment may be below 1K */
};
extern const struct config_link_kind config_udp_kind, config_pcap_kind;	/* config_mesh.c */
extern const struct config_link_kind config_kiss_kind;			/* config_kiss.c */
extern const struct config_link_kind config_sbd_kind, config_directip_kind;	/* config_sbd.c */

/* config.c: values every section parses alike; errors reported, false/-1 if bad. */
bool config_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
bool config_copy_str(struct parse *p, char *dst, size_t cap, const char *name, const char *value);
int config_parse_ms(const char *s, uint64_t *out);
bool config_parse_bool(const char *s, bool *out);
#define BAD(...) do { config_perr(p, p->line, __VA_ARGS__); return 1; } while (0)

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
/* "node, store, ..., link NAME; agents: echo": the known sections, for messages; in known. */
const char *config_sections_known(char *known, size_t size);
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
