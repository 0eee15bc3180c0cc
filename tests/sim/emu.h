/*
 * emu.h - what the emulators in tests/sim share: logging, value parsing,
 * a seeded random generator, scripted outages, and the command lines they
 * take on stdin and on a UNIX control socket.
 *
 * Each emulator keeps its own command grammar (emu_ctl calls its command
 * function with one line and sends back the reply it writes).
 */
#ifndef FIELDRELAY_SIM_EMU_H
#define FIELDRELAY_SIM_EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMU_NSEC		((int64_t)1000000000)
#define EMU_MAX_OUTAGES		32
#define EMU_MAX_CLIENTS		16
#define EMU_LINE_MAX		512

/* Set by main before anything logs: "linkemu", "seremu". */
extern const char *emu_progname;

void emu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void emu_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* CLOCK_MONOTONIC in ns. */
int64_t emu_now(void);

/* splitmix64: small, fast, and good enough to draw losses, errors and jitter. */
uint64_t emu_rng_next(uint64_t *s);
double emu_rng_uniform(uint64_t *s);	/* [0, 1) */
double emu_rng_normal(uint64_t *s);	/* standard normal */
/* A seed from getrandom, or from the clock and pid if that fails. */
uint64_t emu_random_seed(void);

/* Durations: a number with ns, us, ms, s or min; a bare number is ms. */
int emu_parse_duration(const char *s, int64_t *out);
/* Bit rates: k, M, G are powers of 1000; "bit", "bps" or "bit/s" may follow;
 * "0", "off" and "unlimited" mean no limit. */
int emu_parse_rate(const char *s, uint64_t *out);
/* Sizes in bytes: k, M, G are powers of 1024; a "B" may follow. */
int emu_parse_size(const char *s, uint64_t *out);
/* A probability as 0.05, 5% or 1e-4. */
int emu_parse_prob(const char *s, double *out);

/* A scripted outage: down from `at` for `dur` (ns after start), and again
 * every `every` ns when that is not zero. */
struct emu_outage {
	int64_t at, dur, every;
};

/* AT+FOR[@EVERY], e.g. "10s+30s" or "5s+2s@60s". */
int emu_parse_outage(const char *s, struct emu_outage *o);
/* Is any of the n outages on at rel ns after start? */
bool emu_outage_on(const struct emu_outage *o, int n, int64_t rel);

/* ---- directions: "ab" (side A to B), "ba", or both ---- */

#define EMU_DIRS_BOTH		3u

/* An option value "ab:VALUE", "ba:VALUE" or "VALUE": the directions it names
 * (bit 0 ab, bit 1 ba) and, in *val, what follows the prefix. */
unsigned emu_dir_prefix(const char *arg, const char **val);
/* A command's optional direction word "ab", "ba" or "both" at tok[0]:
 * consumed when present; the directions (both when absent). */
unsigned emu_take_dirs(char **tok, int *ntok);
/* --outage ARG for the directions it names: add it to each direction's
 * list (outages[i], n[i] for direction i); fatal if malformed or full. */
void emu_add_outage(const char *arg, struct emu_outage *outages[2], int *n[2]);

/* ---- command lines on stdin and on a control socket ---- */

/* Split a command line into at most max words (logged when verbose); the
 * first word goes to *word and the rest to tok.  Returns how many are in
 * tok, -1 for an empty line. */
int emu_split_command(char *line, char **word, char **tok, int max, bool verbose);

/* Runs one command line; writes a one-line reply (newline included) or "". */
typedef void emu_command_fn(void *arg, char *line, char *reply, size_t n);

struct emu_client {
	int fd;
	size_t len;
	char buf[EMU_LINE_MAX];
};

struct emu_ctl {
	int ep;				/* the emulator's epoll */
	int listen_fd;			/* -1: no control socket */
	const char *path;
	bool use_stdin;
	size_t stdin_len;
	char stdin_buf[EMU_LINE_MAX];
	struct emu_client clients[EMU_MAX_CLIENTS];
	emu_command_fn *command;
	void *arg;
};

/* epoll_event.data.u64 tags: fd kind in the high 32 bits, index below.
 * Kinds from EMU_EV_CTL up belong to emu_ctl. */
#define EMU_EV(kind, idx)	(((uint64_t)(kind) << 32) | (uint32_t)(idx))
#define EMU_EV_KIND(tag)	((uint32_t)((tag) >> 32))
#define EMU_EV_IDX(tag)		((uint32_t)(tag))
enum { EMU_EV_CTL = 100, EMU_EV_STDIN = EMU_EV_CTL, EMU_EV_LISTEN, EMU_EV_CLIENT };

/* Add fd to ep for EPOLLIN with tag; fatal on failure. */
void emu_epoll_add(int ep, int fd, uint64_t tag);

/*
 * Listen on path (NULL: no socket; a stale socket file is replaced) and on
 * stdin if use_stdin (ignored when stdin cannot be polled, e.g. /dev/null).
 * Fatal on failure.
 */
void emu_ctl_open(struct emu_ctl *c, int ep, const char *path, bool use_stdin, emu_command_fn *fn, void *arg);
/* Handle an epoll event if its tag is one of ours; true if it was. */
bool emu_ctl_event(struct emu_ctl *c, uint64_t tag);
void emu_ctl_close(struct emu_ctl *c);

#endif
