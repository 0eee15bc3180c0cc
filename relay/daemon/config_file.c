/*
 * config_file.c - the config file and its lines, before libinih: only a
 * regular file of a sane size is read, and each line is checked for what
 * libinih lets through (a NUL, a line longer than its buffer, a section or
 * key given twice); see config.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_int.h"
#include "text.h"

/* Keys that may be given more than once in a section: each adds one more. */
static bool
adds_up(const char *section, const char *name, const char *value)
{
	const struct config_section *agent;

	if (config_section_kind(section, &agent) == SECTION_AGENT)
		return config_agent_repeats(agent, name);
	if (strncmp(section, "link ", 5) == 0)
		return strcmp(name, "peer") == 0 || strcmp(name, "window") == 0 || strcmp(name, "unit") == 0;
	return strcmp(section, "route") == 0 && strcmp(name, "static") == 0;
}

/* A key the current section already set: an error, where silently the last would win. */
bool
config_repeated_key(struct parse *p, const char *section, const char *name, const char *value)
{
	char id[64];

	if (adds_up(section, name, value) || *section == '\0')	/* outside any section: an error of its own */
		return false;
	/* An sbd link's budget may count bytes and messages: two keys in one name. */
	snprintf(id, sizeof(id), "%s%s", name, strcmp(name, "budget") == 0 && strstr(value, "messages") ? " messages" : "");
	for (unsigned i = 0; i < p->n_keys; i++)
		if (strcmp(p->keys[i].name, id) == 0) {
			config_perr(p, p->line, "%s: set again in [%s] (first at line %d): give each key once", name, section,
			    p->keys[i].line);
			return true;
		}
	if (p->n_keys < SEEN_KEYS) {
		snprintf(p->keys[p->n_keys].name, sizeof(p->keys[0].name), "%s", id);
		p->keys[p->n_keys++].line = p->line;
	}
	return false;
}

/* libinih's own scan (ini.c): up to one of chars, or to a ';' after blank space. */
static const char *
find_chars_or_comment(const char *s, const char *chars)
{
	bool was_space = false;

	while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

/*
 * A [section] header in line (buf, at most size bytes): remember it; a
 * broken, unknown or repeated one is reported here, once, and its keys are
 * dropped (libinih sees DROPPED_SECTION instead).
 */
static void
section_header(struct parse *p, char *buf, int size)
{
	const char *end = find_chars_or_comment(buf + 1, "]");
	const struct config_section *agent = NULL;
	enum config_section_kind kind = SECTION_UNKNOWN;
	char name[64], known[512];
	size_t n = (size_t)(end - buf - 1);
	bool bad = false;

	config_section_enter(p, NULL);		/* the section before ends */
	p->section_line = p->line;
	p->n_keys = 0;
	if (*end != ']') {
		config_perr(p, p->line, "syntax error: a section header is [NAME]");
		bad = true;
	} else if (n >= sizeof(name)) {
		config_perr(p, p->line, "section name too long: '%.*s...'", 32, buf + 1);
		bad = true;
	} else {
		memcpy(name, buf + 1, n);
		name[n] = '\0';
		if (!text_clean(name, n)) {
			config_perr(p, p->line, "section [%s] has a control character or bytes that are not UTF-8", name);
			bad = true;
		} else if ((kind = config_section_kind(name, &agent)) == SECTION_UNKNOWN) {
			config_perr(p, p->line, "unknown section [%s] (known: %s)", name, config_sections_known(known, sizeof(known)));
			bad = true;
		}
		for (unsigned i = 0; !bad && i < p->n_sections; i++)
			if (strcmp(p->sections[i].name, name) == 0) {
				config_perr(p, p->line, "[%s] again (first at line %d): %s", name, p->sections[i].line,
				    kind != SECTION_NAMED ? "there is one such section" : "each link needs its own name");
				bad = true;
			}
		if (!bad && p->n_sections < SEEN_SECTIONS) {
			memcpy(p->sections[p->n_sections].name, name, n + 1);
			p->sections[p->n_sections++].line = p->line;
		}
		if (!bad)
			config_section_enter(p, agent);
	}
	if (bad) {
		p->reported_section = p->line;
		snprintf(buf, (size_t)size, "[%s]\n", DROPPED_SECTION);
	}
}

/*
 * Reader for ini_parse_stream: one line of the file per call, so that we
 * know the line number, and the checks libinih does not make: no NUL, no
 * line cut in two where it is longer than libinih's buffer, every syntax
 * error reported (libinih tells the first).  Indentation is dropped: libinih
 * would take an indented line for the continuation of the previous value.
 * A line in error reaches libinih blank.
 */
char *
config_read_line(char *buf, int size, void *stream)
{
	struct parse *p = stream;
	const char *s, *nl;
	size_t n;

	if (p->pos >= p->len || size < 4)
		return NULL;
	s = p->text + p->pos;
	nl = memchr(s, '\n', p->len - p->pos);
	n = nl ? (size_t)(nl - s) + 1 : p->len - p->pos;
	p->pos += n;
	p->line++;
	strcpy(buf, "\n");
	if (memchr(s, '\0', n) != NULL) {
		config_perr(p, p->line, "NUL byte (\\x00) in the line: a config file is text");
		return buf;
	}
	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	if (n >= (size_t)size) {
		config_perr(p, p->line, "line too long (at most %d characters)", size - 2);
		return buf;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (buf[0] == '[')
		section_header(p, buf, size);
	else if (buf[strspn(buf, " \t\r\n")] != '\0' && !strchr(";#", buf[0]) &&
	    *find_chars_or_comment(buf, "=:") == '\0') {
		config_perr(p, p->line, "syntax error (expected [section] or key = value)");
		strcpy(buf, "\n");
	}
	return buf;
}

/* A file error as "file: message"; returns r. */
static int
file_error(const char *path, int r, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int
file_error(const char *path, int r, char *err, size_t errlen, const char *fmt, ...)
{
	char msg[256];
	size_t used;
	va_list ap;

	if (errlen == 0)
		return r;
	used = text_escape(err, errlen, path, strlen(path));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err + used, errlen - used, ": %s\n", msg);
	return r;
}

int
config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	return config_load_flags(path, cfg, 0, err, errlen);
}

int
config_load_daemon(const char *path, struct config *cfg, char *err, size_t errlen)
{
	return config_load_flags(path, cfg, CONFIG_SKIP_AGENTS, err, errlen);
}

int
config_load_flags(const char *path, struct config *cfg, int flags, char *err, size_t errlen)
{
	struct stat st;
	char *text;
	ssize_t n;
	size_t len = 0;
	int fd, r;

	if (errlen)
		err[0] = '\0';
	memset(cfg, 0, sizeof(*cfg));	/* config_parse() sets the defaults */
	/* Not blocking on a FIFO's open: what is not a regular file is refused below. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0)
		return file_error(path, -errno, err, errlen, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = file_error(path, -errno, err, errlen, "cannot open: %s", strerror(errno));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return file_error(path, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL, err, errlen,
		    "%s, not a config file (a regular text file)", S_ISDIR(st.st_mode) ? "a directory" :
		    S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : S_ISFIFO(st.st_mode) ? "a FIFO" :
		    "not a regular file");
	}
	if (st.st_size > CONFIG_MAX_SIZE) {
		close(fd);
		return file_error(path, -EFBIG, err, errlen, "%lld bytes: a config file is at most %d KiB",
		    (long long)st.st_size, CONFIG_MAX_SIZE >> 10);
	}
	/* One more byte than allowed, to tell a file that grew while we read it. */
	if ((text = malloc(CONFIG_MAX_SIZE + 1)) == NULL) {
		close(fd);
		return file_error(path, -ENOMEM, err, errlen, "out of memory");
	}
	while (len <= CONFIG_MAX_SIZE && (n = read(fd, text + len, CONFIG_MAX_SIZE + 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = file_error(path, -errno, err, errlen, "cannot read: %s", strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	if (len > CONFIG_MAX_SIZE)
		r = file_error(path, -EFBIG, err, errlen, "more than %d KiB: a config file is at most that",
		    CONFIG_MAX_SIZE >> 10);
	else
		r = config_parse_flags(path, text, len, cfg, flags, err, errlen);
out:
	free(text);
	close(fd);
	return r;
}

int
config_parse_buffer(const char *name, const void *buf, size_t len, struct config *cfg, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	memset(cfg, 0, sizeof(*cfg));
	return config_parse(name, buf, len, cfg, err, errlen);
}

