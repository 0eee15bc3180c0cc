/*
 * main.c - fieldrelayd: start-up, signals, shutdown.
 *
 * Setup failures are fatal and say why; once running, nothing from a client
 * or from the air stops the daemon.  SIGTERM/SIGINT: stop taking requests,
 * let the store commit what it holds, answer those clients, exit.  SIGHUP:
 * re-read the config; apply what can change at run time and say clearly
 * which changes need a restart.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "control.h"
#include "datadir.h"
#include "forward.h"
#include "links.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "startup.h"
#include "version.h"

static struct {
	struct loop *loop;
	struct node *node;
	struct control *control;
	struct forward *forward;
	struct links *links;
	struct loop_timer watchdog;
	uint64_t watchdog_ms;
	int stop_signal;
	int store_lock, path_lock, socket_lock;	/* held for as long as we run */
} d;

static void
usage(FILE *fp)
{
	fprintf(fp,
"Usage: fieldrelayd [-d] [-n] [-c FILE]\n"
"\n"
"fieldrelayd is the fieldrelay daemon: it keeps a durable store of bundles\n"
"(BPv7, RFC 9171) for this node, takes data from local applications through\n"
"its control socket, and delivers bundles addressed to this node to them.\n"
"A bundle is acknowledged only after it is committed to disk (SQLite WAL,\n"
"synchronous=FULL), so nothing accepted is lost to a crash or a power cut.\n"
"\n"
"Options:\n"
"  -c FILE   configuration file (default /etc/fieldrelay/fieldrelay.conf)\n"
"  -d        stay in the foreground and log to stderr instead of syslog\n"
"  -n        check the configuration and what start-up needs from the system\n"
"            (data_dir, store, socket directory, user, group, key file,\n"
"            interfaces), print every error as file:line: message, and\n"
"            exit: 0 if the daemon would start, 2 if not; changes nothing\n"
"  -V        print the version and exit\n"
"  -h        this help\n"
"\n"
"Signals:\n"
"  SIGTERM, SIGINT  stop taking requests, commit what is queued, answer, exit 0\n"
"  SIGHUP           re-read the configuration; [log] level applies at once,\n"
"                   any other change is logged as needing a restart\n"
"\n"
"Under systemd (Type=notify) it reports readiness once its control socket is\n"
"listening, and feeds the watchdog if WatchdogSec= is set.\n"
"\n"
"Exit status: 0 clean stop, 1 start-up failure, 2 bad configuration or usage.\n"
"See fieldrelay(1) (`fieldrelay --help`) for the client, and configs/ for\n"
"annotated example configurations.\n");
}

static void
on_stop(struct loop *l, int signo, void *arg)
{
	log_info("%s: stopping", strsignal(signo));
	d.stop_signal = signo;
	loop_stop(l);
}

static void
on_reload(struct loop *l, int signo, void *arg)
{
	static struct config fresh;
	char err[4096], changes[2048];
	const struct config *cur = node_config(d.node);

	if (config_load_daemon(cur->path, &fresh, err, sizeof(err)) < 0) {
		log_warnx("SIGHUP: %s is not valid, keeping the running configuration:\n%s", cur->path, err);
		return;
	}
	if (!config_reloadable(cur, &fresh, changes, sizeof(changes)))
		log_warnx("SIGHUP: some changes need a restart (systemctl restart fieldrelay):\n%s", changes);
	else if (changes[0])
		log_info("SIGHUP: %s", changes);
	else
		log_info("SIGHUP: configuration unchanged");
	node_reconfigure(d.node, &fresh);
}

static void
on_watchdog(struct loop *l, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
	loop_timer_set(l, &d.watchdog, d.watchdog_ms, on_watchdog, NULL);
}

/* Give the data directory to the unprivileged user, then become that user. */
static void
drop_privileges(const struct config *cfg)
{
	char path[PATH_MAX + 8];
	static const char *const suffix[] = { "", "-wal", "-shm" };
	static const char *const socket_suffix[] = { "", ".lock" };
	struct passwd *pw;

	if (cfg->user[0] == '\0' || geteuid() != 0)
		return;
	if ((pw = getpwnam(cfg->user)) == NULL)
		fatalx("[node] user %s: no such user", cfg->user);
	if (chown(cfg->data_dir, pw->pw_uid, pw->pw_gid) < 0)
		fatal("chown %s", cfg->data_dir);
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", cfg->store_path, suffix[i]);
		if (chown(path, pw->pw_uid, pw->pw_gid) < 0 && errno != ENOENT)
			fatal("chown %s", path);
	}
	snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, DATADIR_LOCK_NAME);
	if (chown(path, pw->pw_uid, pw->pw_gid) < 0)
		fatal("chown %s", path);
	snprintf(path, sizeof(path), "%s.lock", cfg->store_path);
	if (chown(path, pw->pw_uid, pw->pw_gid) < 0 && errno != ENOENT)
		fatal("chown %s", path);
	for (size_t i = 0; i < sizeof(socket_suffix) / sizeof(socket_suffix[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", cfg->socket_path, socket_suffix[i]);
		if (chown(path, pw->pw_uid, (gid_t)-1) < 0)
			fatal("chown %s", path);
	}
	if (setgroups(1, &pw->pw_gid) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
		fatal("cannot drop privileges to %s", cfg->user);
	log_info("running as %s", cfg->user);
}

/* Is path a file right in dir? */
static bool
in_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/' && strchr(path + n + 1, '/') == NULL;
}

/*
 * Before anything is opened (the store bumps its boot counter when it
 * opens): a data dir only we can write to, and the locks that make us the
 * one daemon of this data dir and of this control socket.  A second daemon
 * is refused here, having changed nothing.
 */
static void
take_locks(const struct config *cfg)
{
	char path[PATH_MAX + 8], what[PATH_MAX + 32], err[PATH_MAX * 2 + 256];

	if (datadir_check(cfg->data_dir, err, sizeof(err)) < 0)
		fatalx("%s", err);
	snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, DATADIR_LOCK_NAME);
	snprintf(what, sizeof(what), "data_dir %s", cfg->data_dir);
	if ((d.store_lock = datadir_lock(path, what, err, sizeof(err))) < 0)
		fatalx("%s", err);
	/* A store of its own elsewhere ([store] path): that is what must have one daemon. */
	if (!in_dir(cfg->store_path, cfg->data_dir)) {
		snprintf(path, sizeof(path), "%s.lock", cfg->store_path);
		snprintf(what, sizeof(what), "store %s", cfg->store_path);
		if ((d.path_lock = datadir_lock(path, what, err, sizeof(err))) < 0)
			fatalx("%s", err);
	}
	/* Two data dirs, one socket: the second would take the first's clients. */
	snprintf(path, sizeof(path), "%s.lock", cfg->socket_path);
	snprintf(what, sizeof(what), "control socket %s", cfg->socket_path);
	if ((d.socket_lock = datadir_lock(path, what, err, sizeof(err))) < 0)
		fatalx("%s", err);
}

int
main(int argc, char **argv)
{
	static struct config cfg;
	const char *conf = "/etc/fieldrelay/fieldrelay.conf";
	bool foreground = false, check_only = false;
	char err[4096];
	uint64_t usec;
	int ch;

	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	while ((ch = getopt_long(argc, argv, "c:dnhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'd': foreground = true; break;
		case 'n': check_only = true; break;
		case 'V': printf("fieldrelayd %s\n", FIELDRELAY_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "fieldrelayd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	/* -n checks every section, the agents' too; the daemon skips theirs. */
	if ((check_only ? config_load(conf, &cfg, err, sizeof(err)) :
	    config_load_daemon(conf, &cfg, err, sizeof(err))) < 0) {
		fputs(err, stderr);
		return 2;
	}
	if (check_only && startup_check(&cfg, err, sizeof(err)) < 0) {
		fputs(err, stderr);
		return 2;
	}
	if (check_only) {
		printf("%s: configuration OK (node ipn:%llu, store %s, socket %s)\n", conf,
		    (unsigned long long)cfg.node_id, cfg.store_path, cfg.socket_path);
		return 0;
	}

	log_init(foreground, "fieldrelayd");
	log_setlevel(cfg.log_level);
	/* What -n checks, before anything is touched. */
	if (startup_check(&cfg, err, sizeof(err)) < 0) {
		size_t n = strlen(err);

		if (n > 0 && err[n - 1] == '\n')
			err[n - 1] = '\0';	/* the log adds its own */
		fatalx("cannot start:\n%s", err);
	}
	if (mkdir(cfg.data_dir, 0750) < 0 && errno != EEXIST)
		fatal("cannot create data_dir %s", cfg.data_dir);
	take_locks(&cfg);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* a file-size limit is a full disk, not a crash */

	if ((d.loop = loop_new()) == NULL)
		fatal("loop_new");
	if (loop_signal(d.loop, SIGTERM, on_stop, NULL) < 0 ||
	    loop_signal(d.loop, SIGINT, on_stop, NULL) < 0 ||
	    loop_signal(d.loop, SIGHUP, on_reload, NULL) < 0)
		fatal("signalfd");
	if ((d.node = node_new(&cfg, d.loop, err, sizeof(err))) == NULL)
		fatalx("cannot open the store: %s", err);
	if ((d.links = links_new(d.loop, node_config(d.node), node_store(d.node), err, sizeof(err))) == NULL ||
	    (d.forward = forward_new(d.node, d.links, d.loop, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((d.control = control_new(d.node, d.loop, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	control_set_forward(d.control, d.forward);
	control_set_links(d.control, d.links);
	drop_privileges(&cfg);

	if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000) {
		d.watchdog_ms = usec / 2000;	/* half the interval, in ms */
		on_watchdog(d.loop, NULL);
	}
	sd_notifyf(0, "READY=1\nSTATUS=node ipn:%llu ready", (unsigned long long)cfg.node_id);
	log_info("fieldrelayd %s ready: node ipn:%llu, control socket %s", FIELDRELAY_VERSION,
	    (unsigned long long)cfg.node_id, cfg.socket_path);

	if (loop_run(d.loop) < 0)
		log_warn("event loop failed");

	sd_notify(0, "STOPPING=1");
	/* Finish what was accepted into the store's queue and tell those clients. */
	control_quiesce(d.control);
	store_flush(node_store(d.node));
	store_dispatch(node_store(d.node));
	control_drain(d.control, d.loop, 2000);
	control_free(d.control);
	forward_free(d.forward);
	links_free(d.links);
	loop_timer_cancel(d.loop, &d.watchdog);
	node_free(d.node);
	loop_free(d.loop);
	log_info("stopped cleanly");
	return 0;
}
