/* startup.c - start-up's checks of the system, see startup.h. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "datadir.h"
#include "startup.h"
#include "text.h"

struct check {
	const struct config *cfg;
	char *err;
	size_t errlen, used;
	int n;
};

static void
fail(struct check *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
fail(struct check *c, int line, const char *fmt, ...)
{
	char msg[1024], head[PATH_MAX + 32];
	va_list ap;

	c->n++;
	if (line > 0)
		snprintf(head, sizeof(head), "%s:%d: ", c->cfg->path, line);
	else
		snprintf(head, sizeof(head), "%s: ", c->cfg->path);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->used + 2 >= c->errlen)
		return;
	c->used += text_escape(c->err + c->used, c->errlen - c->used, head, strlen(head));
	c->used += text_escape(c->err + c->used, c->errlen - c->used, msg, strlen(msg));
	if (c->used + 1 < c->errlen) {
		c->err[c->used++] = '\n';
		c->err[c->used] = '\0';
	}
}

/* The directory path is in (for "/x": "/"). */
static void
parent_of(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);

	if (n == 0)
		snprintf(out, cap, ".");
	else
		snprintf(out, cap, "%.*s", (int)n, path);
}

/*
 * Can files be made in dir?  An unnamed file (O_TMPFILE) leaves no trace;
 * where the filesystem has none, a named one removed at once.  0 or -errno.
 */
static int
takes_files(const char *dir)
{
	char tmpl[PATH_MAX];
	int fd;

	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0) {
		close(fd);
		return 0;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	if ((size_t)snprintf(tmpl, sizeof(tmpl), "%s/.fieldrelay-check.XXXXXX", dir) >= sizeof(tmpl))
		return -ENAMETOOLONG;
	if ((fd = mkostemp(tmpl, O_CLOEXEC)) < 0)
		return -errno;
	unlink(tmpl);
	close(fd);
	return 0;
}

/* A directory that exists and takes files: 0, or -1 with why in msg. */
static int
usable_dir(const char *dir, char *msg, size_t cap)
{
	struct stat st;
	int r;

	if (stat(dir, &st) < 0) {
		snprintf(msg, cap, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(msg, cap, "%s: not a directory", dir);
		return -1;
	}
	if ((r = takes_files(dir)) < 0) {
		snprintf(msg, cap, "%s: cannot create files in it: %s", dir, strerror(-r));
		return -1;
	}
	return 0;
}

/* Start-up makes data_dir (one level, like mkdir) if it is not there. */
static void
check_data_dir(struct check *c)
{
	const struct config *cfg = c->cfg;
	char parent[PATH_MAX], msg[PATH_MAX + 128];
	struct stat st;

	if (stat(cfg->data_dir, &st) < 0 && errno == ENOENT) {
		parent_of(cfg->data_dir, parent, sizeof(parent));
		if (usable_dir(parent, msg, sizeof(msg)) < 0)
			fail(c, cfg->lines.data_dir, "data_dir %s does not exist and cannot be made: %s", cfg->data_dir, msg);
		return;		/* if it can, start-up makes it */
	}
	if (usable_dir(cfg->data_dir, msg, sizeof(msg)) < 0)
		fail(c, cfg->lines.data_dir, "data_dir %s", msg);
	else if (datadir_check(cfg->data_dir, msg, sizeof(msg)) < 0)	/* what start-up's lock step refuses */
		fail(c, cfg->lines.data_dir, "%s", msg);
}

/*
 * A file start-up creates or opens in a directory (the store, the control
 * socket): the directory must take files, an existing file must be of kind
 * mode (S_IFREG, S_IFSOCK); a store must open for writing.
 */
static void
check_file(struct check *c, int line, const char *what, const char *path, mode_t kind)
{
	const struct config *cfg = c->cfg;
	char dir[PATH_MAX], msg[PATH_MAX + 128];
	struct stat st;
	int fd;

	if (lstat(path, &st) == 0) {
		if ((st.st_mode & S_IFMT) != kind && !(kind == S_IFREG && S_ISLNK(st.st_mode))) {
			fail(c, line, "%s %s: exists and is not a %s", what, path, kind == S_IFREG ? "regular file" : "socket");
			return;
		}
		if (kind == S_IFREG) {
			if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY)) < 0)
				fail(c, line, "%s %s: cannot open for writing: %s", what, path, strerror(errno));
			else
				close(fd);
		}
		return;
	}
	parent_of(path, dir, sizeof(dir));
	/* In a data_dir that start-up makes: nothing more to check now. */
	if (strcmp(dir, cfg->data_dir) == 0 && stat(dir, &st) < 0 && errno == ENOENT)
		return;
	if (strcmp(dir, cfg->data_dir) == 0)
		return;		/* check_data_dir() said what is wrong with it */
	if (usable_dir(dir, msg, sizeof(msg)) < 0)
		fail(c, line, "%s %s: cannot be made: %s", what, path, msg);
}

int
startup_check(const struct config *cfg, char *err, size_t errlen)
{
	struct check c = { .cfg = cfg, .err = err, .errlen = errlen };
	int line;

	if (errlen)
		err[0] = '\0';
	check_data_dir(&c);
	check_file(&c, cfg->lines.store_path ? cfg->lines.store_path : cfg->lines.data_dir, "[store] path",
	    cfg->store_path, S_IFREG);
	check_file(&c, cfg->lines.socket ? cfg->lines.socket : cfg->lines.data_dir, "[control] socket",
	    cfg->socket_path, S_IFSOCK);
	if (cfg->socket_group[0] && getgrnam(cfg->socket_group) == NULL)
		fail(&c, cfg->lines.socket_group, "group: %s: no such group", cfg->socket_group);
	if (cfg->user[0] && getpwnam(cfg->user) == NULL)
		fail(&c, cfg->lines.user, "user: %s: no such user", cfg->user);
	if (cfg->n_links > 0) {
		/* The very loader links_new() uses; the keys are wiped at once. */
		struct crypto_keyring kr = { .n = 0 };
		char msg[PATH_MAX + 256];

		line = cfg->lines.key_file;
		if (crypto_init() < 0)
			fail(&c, line, "key_file: libsodium cannot start");
		else if (crypto_keyfile_load(cfg->key_file, &kr, msg, sizeof(msg)) < 0)
			fail(&c, line, "key_file: %s", msg);
		crypto_keyring_clear(&kr);
	}
	for (unsigned i = 0; i < cfg->n_links; i++) {
		const struct config_link *l = &cfg->links[i];

		/* The udp and pcap drivers refuse to open on an interface that is not there. */
		if ((l->conf.kind == LINK_UDP || l->conf.kind == LINK_PCAP) && l->conf.ifname[0] &&
		    if_nametoindex(l->conf.ifname) == 0)
			fail(&c, l->line, "[link %s] interface %s: no such interface", l->conf.name, l->conf.ifname);
	}
	return c.n ? -EINVAL : 0;
}
