/*
 * linkwatch - drive radio/drivers/netlink.c from the integration tests.
 *
 *   linkwatch IFNAME...
 *
 * Watches the named interfaces on an event loop and prints one line per
 * event, stamped with CLOCK_MONOTONIC microseconds (the clock of Python's
 * time.monotonic()):
 *
 *   state T IFNAME ifindex=N up=0|1 lower_up=0|1 oper=NAME   (at start)
 *   ready T
 *   event T IFNAME ifindex=N up=0|1 lower_up=0|1 oper=NAME
 *
 * Commands on stdin, one a line: "wireless IFNAME", "state IFNAME", "lost",
 * "quit" (EOF too).  SIGUSR1 runs "wireless" for every watched name.
 *   wireless T IFNAME rc=R wireless=0|1 stations=N signal=DBM|- bitrate=100KBITS|-
 *   lost T N
 * Logs (debug level) go to stderr.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "netlink.h"

static struct netlink *nl;
static char **names;
static int nnames;
static char line[256];
static size_t linelen;

static unsigned long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000 + (unsigned long long)ts.tv_nsec / 1000;
}

static void
print_link(const char *what, unsigned long long t, const char *ifname, int ifindex, bool up,
    bool lower_up, int operstate)
{
	printf("%s %llu %s ifindex=%d up=%d lower_up=%d oper=%s\n", what, t, ifname, ifindex,
	    up, lower_up, netlink_operstate_name(operstate));
}

/* The stamp is taken first: it is the moment the event reached the program. */
static void
on_event(void *arg, int ifindex, const char *ifname, bool up, bool lower_up, int operstate)
{
	print_link("event", now_us(), ifname, ifindex, up, lower_up, operstate);
}

static void
print_state(const char *ifname)
{
	struct netlink_link st;

	(void)netlink_link_state(nl, ifname, &st);
	print_link("state", now_us(), ifname, st.ifindex, st.up, st.lower_up, st.operstate);
}

static void
print_wireless(const char *ifname)
{
	struct netlink_wireless w;
	int rc = netlink_wireless(nl, ifname, &w);

	printf("wireless %llu %s rc=%d wireless=%d stations=%d", now_us(), ifname, rc, w.wireless,
	    w.stations);
	if (w.has_signal)
		printf(" signal=%d", w.signal_dbm);
	else
		printf(" signal=-");
	if (w.has_bitrate)
		printf(" bitrate=%u\n", w.tx_bitrate);
	else
		printf(" bitrate=-\n");
}

static void
command(struct loop *l, char *cmd)
{
	char *arg = strchr(cmd, ' ');

	if (arg != NULL)
		*arg++ = '\0';
	if (strcmp(cmd, "wireless") == 0 && arg != NULL)
		print_wireless(arg);
	else if (strcmp(cmd, "state") == 0 && arg != NULL)
		print_state(arg);
	else if (strcmp(cmd, "lost") == 0)
		printf("lost %llu %u\n", now_us(), netlink_events_lost(nl));
	else if (strcmp(cmd, "quit") == 0)
		loop_stop(l);
	else
		printf("error unknown command %s\n", cmd);
}

static void
on_stdin(struct loop *l, int fd, uint32_t events, void *arg)
{
	ssize_t n = read(fd, line + linelen, sizeof(line) - 1 - linelen);
	char *nlpos;

	if (n <= 0) {
		loop_stop(l);
		return;
	}
	linelen += (size_t)n;
	line[linelen] = '\0';
	while ((nlpos = strchr(line, '\n')) != NULL) {
		*nlpos = '\0';
		command(l, line);
		linelen -= (size_t)(nlpos + 1 - line);
		memmove(line, nlpos + 1, linelen + 1);
	}
	if (linelen == sizeof(line) - 1)
		linelen = 0;	/* an overlong line: drop it */
}

static void
on_usr1(struct loop *l, int signo, void *arg)
{
	for (int i = 0; i < nnames; i++)
		print_wireless(names[i]);
}

static void
on_term(struct loop *l, int signo, void *arg)
{
	loop_stop(l);
}

int
main(int argc, char **argv)
{
	struct loop *l;
	int rc = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: linkwatch IFNAME...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init(true, "linkwatch");
	log_setlevel(LOG_LVL_DEBUG);
	names = argv + 1;
	nnames = argc - 1;

	if ((l = loop_new()) == NULL)
		fatal("loop_new");
	if ((nl = netlink_new(l, on_event, NULL)) == NULL) {
		log_warn("netlink_new");
		goto out;
	}
	for (int i = 0; i < nnames; i++) {
		if (netlink_watch(nl, names[i]) < 0) {
			log_warnx("cannot watch %s", names[i]);
			goto out;
		}
		print_state(names[i]);
	}
	if (loop_add_fd(l, STDIN_FILENO, EPOLLIN, on_stdin, NULL) < 0 ||
	    loop_signal(l, SIGUSR1, on_usr1, NULL) < 0 ||
	    loop_signal(l, SIGTERM, on_term, NULL) < 0 ||
	    loop_signal(l, SIGINT, on_term, NULL) < 0) {
		log_warnx("loop setup");
		goto out;
	}
	printf("ready %llu\n", now_us());
	rc = loop_run(l) < 0;
out:
	netlink_free(nl);
	loop_free(l);
	return rc;
}
