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

/* Sections and keys remembered to find repeats (a valid file has 15 sections and ~40 keys in one at most). */
#define SEEN_SECTIONS	32
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
};

/* Add one "file:line: message" line to the parse's errors. */
void config_vperr(struct parse *p, int line, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
/* config_vperr() with its arguments. */
void config_perr(struct parse *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The reader of ini_parse_stream(): stream is the struct parse. */
char *config_read_line(char *buf, int size, void *stream);
/* Is this key set already in its section (reported if so)? */
bool config_repeated_key(struct parse *p, const char *section, const char *name, const char *value);

#endif
