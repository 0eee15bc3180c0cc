/*
 * external.c - agent commands, see external.h.
 *
 * Beside this program first: a build tree (build/fieldrelay finds
 * build/fieldrelay-ping) and an installation both work without PATH, and a
 * program of the same name elsewhere on PATH cannot take an installed
 * agent's place.  PATH entries that are empty or relative are skipped: they
 * would make what runs depend on the current directory.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "external.h"

#define PREFIX		"fieldrelay-"
#define PREFIX_LEN	(sizeof(PREFIX) - 1)

int
external_self_dir(char *buf, size_t cap)
{
	ssize_t n = readlink("/proc/self/exe", buf, cap);
	char *slash;

	if (n < 0)
		return -errno;
	if ((size_t)n >= cap)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	if ((slash = strrchr(buf, '/')) == NULL)
		return -ENOENT;
	*(slash == buf ? slash + 1 : slash) = '\0';
	return 0;
}

/* dir/fieldrelay-NAME into path if that is an executable regular file. */
static bool
candidate(char *path, size_t cap, const char *dir, size_t dlen, const char *name)
{
	struct stat sb;
	int n = snprintf(path, cap, "%.*s/" PREFIX "%s", (int)dlen, dir, name);

	return n > 0 && (size_t)n < cap && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    access(path, X_OK) == 0;
}

static bool
find(char *path, size_t cap, const char *name)
{
	char self[PATH_MAX];
	const char *dirs, *p, *end;

	if (external_self_dir(self, sizeof(self)) == 0 && candidate(path, cap, self, strlen(self), name))
		return true;
	if ((dirs = getenv("PATH")) == NULL)
		dirs = "/usr/local/bin:/usr/bin:/bin";
	for (p = dirs; *p; p = *end ? end + 1 : end) {
		if ((end = strchr(p, ':')) == NULL)
			end = p + strlen(p);
		if (*p == '/' && candidate(path, cap, p, (size_t)(end - p), name))
			return true;
	}
	return false;
}

void
external_run(int argc, char **argv)
{
	const char *name = argv[0];
	char path[PATH_MAX];
	char **av;
	int n = 0;

	/* A name with a slash would reach outside the directories searched. */
	if (*name == '\0' || strchr(name, '/') || !find(path, sizeof(path), name))
		return;
	if ((av = calloc((size_t)argc + 8, sizeof(*av))) == NULL)
		exit(cli_fail(CLI_EXIT_REFUSED, "out of memory"));
	av[n++] = path;
	if (cli_opt.socket) {
		av[n++] = "--socket";
		av[n++] = (char *)cli_opt.socket;
	}
	if (cli_opt.config) {
		av[n++] = "--config";
		av[n++] = (char *)cli_opt.config;
	}
	if (cli_opt.json)
		av[n++] = "--json";
	if (cli_opt.timeout) {
		av[n++] = "--timeout";
		av[n++] = (char *)cli_opt.timeout;
	}
	for (int i = 1; i < argc; i++)
		av[n++] = argv[i];
	av[n] = NULL;
	fflush(NULL);
	execv(path, av);
	exit(cli_fail(CLI_EXIT_REFUSED, "cannot run %s: %s", path, strerror(errno)));
}

static int
is_agent_name(const struct dirent *d)
{
	return strncmp(d->d_name, PREFIX, PREFIX_LEN) == 0 && d->d_name[PREFIX_LEN] != '\0';
}

char **
external_list(void)
{
	char self[PATH_MAX], path[PATH_MAX];
	struct dirent **ents = NULL;
	char **names = NULL;
	int n, k = 0;

	if (external_self_dir(self, sizeof(self)) < 0 ||
	    (n = scandir(self, &ents, is_agent_name, alphasort)) <= 0)
		return NULL;
	if ((names = calloc((size_t)n + 1, sizeof(*names))) != NULL)
		for (int i = 0; i < n; i++) {
			const char *name = ents[i]->d_name + PREFIX_LEN;

			if (candidate(path, sizeof(path), self, strlen(self), name) &&
			    (names[k] = strdup(name)) != NULL)
				k++;
		}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	if (names && k == 0) {
		free(names);
		names = NULL;
	}
	return names;
}

void
external_list_free(char **names)
{
	for (char **p = names; p && *p; p++)
		free(*p);
	free(names);
}
