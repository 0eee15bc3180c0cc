/*
 * fr_conf.c - libfieldrelay: what an agent takes from the node's config file
 * (fieldrelay.h): the control socket and its own [section].  The file is
 * read with libinih, the parser the daemon uses; whether the agent's keys
 * are valid is the agent's to say (and `fieldrelayd -n` checks them too).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "fieldrelay.h"

#define CONF_KEYS	64

struct fr_conf {
	char path[4096];
	char section[64];
	char socket[108];
	char data_dir[4096];
	uint64_t node;
	struct { char *key, *value; int line; } kv[CONF_KEYS];
	unsigned n;
	int line;			/* the reader's line */
	char *err;
	size_t errlen;
	bool failed;
};

/* What ini_parse_stream() passes to the reader and the handler. */
struct reader {
	FILE *f;
	struct fr_conf *cf;
};

/* The reader of ini_parse_stream(): counts lines for "file:line: message". */
static char *
read_line(char *buf, int size, void *stream)
{
	struct reader *rs = stream;
	char *s = fgets(buf, size, rs->f);

	if (s)
		rs->cf->line++;
	return s;
}

static int
conf_error(struct fr_conf *cf, const char *fmt, const char *a)
{
	if (!cf->failed)
		snprintf(cf->err, cf->errlen, "%s:%d: %s%s", cf->path, cf->line, fmt, a);
	cf->failed = true;
	return 0;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct fr_conf *cf = ((struct reader *)user)->cf;

	if (name == NULL)
		return 1;	/* a section header */
	if (strcmp(section, "control") == 0 && strcmp(name, "socket") == 0) {
		if (strlen(value) >= sizeof(cf->socket))
			return conf_error(cf, "socket: path too long for a UNIX socket: ", value);
		snprintf(cf->socket, sizeof(cf->socket), "%s", value);
	} else if (strcmp(section, "node") == 0 && strcmp(name, "data_dir") == 0) {
		snprintf(cf->data_dir, sizeof(cf->data_dir), "%s", value);
	} else if (strcmp(section, "node") == 0 && strcmp(name, "id") == 0) {
		cf->node = strtoull(value, NULL, 10);
	} else if (strcmp(section, cf->section) == 0) {
		if (cf->n == CONF_KEYS)
			return conf_error(cf, "too many keys in the section: ", section);
		for (unsigned i = 0; i < cf->n; i++)
			if (strcmp(cf->kv[i].key, name) == 0)
				return conf_error(cf, "set again in the section (give each key once): ", name);
		cf->kv[cf->n].key = strdup(name);
		cf->kv[cf->n].value = strdup(value);
		cf->kv[cf->n].line = cf->line;
		if (cf->kv[cf->n].key == NULL || cf->kv[cf->n].value == NULL)
			return conf_error(cf, "out of memory", "");
		cf->n++;
	}
	return 1;
}

struct fr_conf *
fr_conf_load(const char *path, const char *section, char *err, size_t errlen)
{
	struct fr_conf *cf = calloc(1, sizeof(*cf));
	struct reader rs = { NULL, cf };
	int r;

	if (cf == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cf->err = err;
	cf->errlen = errlen;
	snprintf(cf->section, sizeof(cf->section), "%s", section ? section : "");
	snprintf(cf->data_dir, sizeof(cf->data_dir), "/var/lib/fieldrelay");
	if (path == NULL && access(FR_DEFAULT_CONFIG, R_OK) == 0)
		path = FR_DEFAULT_CONFIG;
	if (path) {
		snprintf(cf->path, sizeof(cf->path), "%s", path);
		if ((rs.f = fopen(path, "r")) == NULL) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			fr_conf_free(cf);
			return NULL;
		}
		r = ini_parse_stream(read_line, &rs, handler, &rs);
		fclose(rs.f);
		if (r > 0 && !cf->failed)
			snprintf(err, errlen, "%s:%d: not a config line (KEY = VALUE, or [SECTION])", path, r);
		if (r != 0 || cf->failed) {
			fr_conf_free(cf);
			return NULL;
		}
	}
	if (cf->socket[0] == '\0' && snprintf(cf->socket, sizeof(cf->socket), "%s/control.sock", cf->data_dir) >=
	    (int)sizeof(cf->socket)) {
		snprintf(err, errlen, "%s: data_dir %s is too long for the control socket in it", cf->path, cf->data_dir);
		fr_conf_free(cf);
		return NULL;
	}
	return cf;
}

void
fr_conf_free(struct fr_conf *cf)
{
	if (cf == NULL)
		return;
	for (unsigned i = 0; i < cf->n; i++) {
		free(cf->kv[i].key);
		free(cf->kv[i].value);
	}
	free(cf);
}

const char *
fr_conf_socket(const struct fr_conf *cf)
{
	return cf->socket;
}

uint64_t
fr_conf_node(const struct fr_conf *cf)
{
	return cf->node;
}

const char *
fr_conf_path(const struct fr_conf *cf)
{
	return cf->path;
}

const char *
fr_conf_get(const struct fr_conf *cf, const char *key)
{
	for (unsigned i = 0; i < cf->n; i++)
		if (strcmp(cf->kv[i].key, key) == 0)
			return cf->kv[i].value;
	return NULL;
}

int
fr_conf_each(const struct fr_conf *cf, fr_conf_key_fn *fn, void *arg, char *err, size_t errlen)
{
	char msg[512];

	for (unsigned i = 0; i < cf->n; i++) {
		msg[0] = '\0';
		if (fn(arg, cf->kv[i].key, cf->kv[i].value, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "%s:%d: %s", cf->path, cf->kv[i].line, msg[0] ? msg : cf->kv[i].key);
			return -EINVAL;
		}
	}
	return 0;
}

int
fr_conf_line(const struct fr_conf *cf, const char *key)
{
	for (unsigned i = 0; i < cf->n; i++)
		if (strcmp(cf->kv[i].key, key) == 0)
			return cf->kv[i].line;
	return 0;
}
