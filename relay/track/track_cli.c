/*
 * track_cli.c - `fieldrelay track list | show | export` (track_cli.h).
 *
 * The DB is opened read-only: the agent may be writing it (WAL lets both
 * go on).  Names come from the network, so what goes to a terminal has its
 * control characters replaced: a unit called "\e[2J" clears nobody's screen.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "geo.h"
#include "track.h"
#include "track_cli.h"
#include "trackdb.h"

#define MAP_W		60
#define MAP_H		20
#define MAP_MIN_M	200.0	/* the narrowest map: one unit alone is not a point at infinite zoom */
#define EARTH_M_PER_DEG	(GEO_EARTH_RADIUS * M_PI / 180)	/* metres per degree of latitude */
#define SHOW_DEFAULT_N	20

static const char usage_text[] =
"Usage: fieldrelay track [--db PATH] list [--since T] [--no-map] [--json]\n"
"       fieldrelay track [--db PATH] show UNIT [-n N] [--since T] [--json]\n"
"       fieldrelay track [--db PATH] export (--gpx|--geojson|--cot) FILE\n"
"                        [--since T] [--unit U] [--latest] [--stale SECS]\n"
"\n"
"The positions of every unit this node has seen, its own and those received\n"
"over any link, from the track DB that fieldrelay-track keeps (the [track]\n"
"section's db, " TRACK_DB_DEFAULT " by default).  The DB is only\n"
"read: these commands run while the agent writes it.\n"
"\n"
"Commands:\n"
"  list          one line per unit: its kind (person or drone), source (gpsd,\n"
"                mavlink, manual), the link its last position came over (- for\n"
"                this node's own), the age of that position, where it was, its\n"
"                speed (m/s) and course (degrees true), the positions stored;\n"
"                then a map of the units' last positions, north up, each unit a\n"
"                letter, with a scale in metres\n"
"  show UNIT     UNIT's last positions, oldest first: time (UTC), lat, lon,\n"
"                altitude (m), speed, course, error estimate (m), the node and\n"
"                link it came from and how long it took to arrive\n"
"  export        the tracks as a file: --gpx (GPX 1.1, a track per unit, for\n"
"                gpsbabel, GPS units, mapping programs), --geojson (RFC 7946, a\n"
"                LineString per unit, for QGIS, ogr2ogr, web maps) or --cot\n"
"                (Cursor on Target events, one per line, for TAK); FILE - is\n"
"                standard output\n"
"\n"
"Options:\n"
"      --db PATH      the track DB\n"
"      --since T      positions measured at or after T only: ISO 8601 UTC\n"
"                     (2026-12-03T14:00:00Z, 2026-12-03T15:00+01:00, 2026-12-03),\n"
"                     Unix seconds (1764770400), or a time ago (90s, 30m, 2h, 1d,\n"
"                     1h30m)\n"
"      --unit U       export: unit U only\n"
"      --latest       export: --cot one event per unit (its last position), not\n"
"                     one per position; --geojson adds a Point per unit's last\n"
"      --stale SECS   export --cot: an event's stale time after its time (120)\n"
"  -n N               show: the last N positions (default 20; 0: all)\n"
"      --no-map       list: the table only\n"
"      --json         list, show: a JSON array instead of text\n"
"  -h, --help         this text\n"
"\n"
"Exit status: 0 done, 1 failed (no track DB, no such unit, a file not\n"
"written), 2 bad usage.\n"
"\n"
"Examples:\n"
"  fieldrelay track list                       who is where, and a map\n"
"  fieldrelay track show team-2 -n 50          team-2's last 50 positions\n"
"  fieldrelay track export --gpx today.gpx --since 12h\n"
"  fieldrelay track export --cot - --latest | nc tak-server 8087\n";

struct cli {
	FILE *out, *err;
	const char *db_path;
	int64_t now_ms;
};

static int __attribute__((format(printf, 2, 3)))
usage_error(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fputs("fieldrelay track: ", c->err);
	va_start(ap, fmt);
	vfprintf(c->err, fmt, ap);
	va_end(ap);
	fputs("\nTry 'fieldrelay track --help'.\n", c->err);
	return TRACK_CLI_USAGE;
}

static int __attribute__((format(printf, 2, 3)))
failure(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fputs("fieldrelay track: ", c->err);
	va_start(ap, fmt);
	vfprintf(c->err, fmt, ap);
	va_end(ap);
	fputc('\n', c->err);
	return TRACK_CLI_FAILURE;
}

/* A name for a terminal: control characters shown as '?'. */
static void
put_safe(FILE *fp, const char *s, int width)
{
	int n = 0;

	for (; *s != '\0'; s++, n++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, fp);
	for (; n < width; n++)
		fputc(' ', fp);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* "DIGITS" exactly n of them at *p: the value, p moved on; -1 if not. */
static int
digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

static int64_t
parse_iso8601(const char *s)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, off = 0;

	if ((y = digits(&p, 4)) < 0 || *p++ != '-' || (mo = digits(&p, 2)) < 1 || mo > 12 ||
	    *p++ != '-' || (d = digits(&p, 2)) < 1 || d > 31)
		return -1;
	if (*p == 'T' || *p == ' ') {
		p++;
		if ((h = digits(&p, 2)) < 0 || h > 23 || *p++ != ':' || (mi = digits(&p, 2)) < 0 || mi > 59)
			return -1;
		if (*p == ':') {
			p++;
			if ((sec = digits(&p, 2)) < 0 || sec > 60)
				return -1;
			if (*p == '.' || *p == ',') {
				int scale = 100;

				p++;
				if (!isdigit((unsigned char)*p))
					return -1;
				for (; isdigit((unsigned char)*p); p++, scale /= 10)
					ms += (*p - '0') * scale;
			}
		}
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om = 0;

			if ((oh = digits(&p, 2)) < 0 || oh > 14)
				return -1;
			if (*p == ':')
				p++;
			if (*p != '\0' && ((om = digits(&p, 2)) < 0 || om > 59))
				return -1;
			off = sign * (oh * 60 + om);
		}
	}
	if (*p != '\0')
		return -1;
	return ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec -
	    off * 60) * 1000) + ms;
}

int64_t
track_cli_parse_time(const char *s, int64_t now_ms)
{
	const char *p = s;
	int64_t ago = 0;
	char *end;

	if (s[0] == '\0')
		return -1;
	if (strchr(s, '-') != NULL && isdigit((unsigned char)s[0]) && strlen(s) >= 10)
		return parse_iso8601(s);
	/* Unix seconds: digits, perhaps a fraction. */
	{
		double v = strtod(s, &end);

		if (*end == '\0' && isdigit((unsigned char)s[0]) && v >= 0 && v < 1e11)
			return (int64_t)llround(v * 1000);
	}
	/* A duration ago: NUMBER UNIT, repeated (1h30m). */
	while (*p != '\0') {
		double v = strtod(p, &end);
		int64_t unit;

		if (end == p || v < 0 || !isdigit((unsigned char)*p))
			return -1;
		switch (*end) {
		case 's': unit = 1000; break;
		case 'm': unit = 60 * 1000; break;
		case 'h': unit = 3600 * 1000; break;
		case 'd': unit = 86400 * 1000; break;
		default: return -1;
		}
		if (v > 1e6)
			return -1;
		ago += (int64_t)llround(v * (double)unit);
		p = end + 1;
	}
	return now_ms - ago;
}

/* "12s", "5m", "3h", "2d": how long ago. */
static void
format_age(int64_t ms, char *buf, size_t cap)
{
	int64_t s = ms / 1000;

	if (ms < 0)
		snprintf(buf, cap, "future");
	else if (s < 120)
		snprintf(buf, cap, "%llds", (long long)s);
	else if (s < 120 * 60)
		snprintf(buf, cap, "%lldm", (long long)(s / 60));
	else if (s < 48 * 3600)
		snprintf(buf, cap, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, cap, "%lldd", (long long)(s / 86400));
}

/* A number for a table, "-" when unknown. */
static const char *
num(double v, int decimals, char *buf, size_t cap)
{
	if (isnan(v))
		return "-";
	snprintf(buf, cap, "%.*f", decimals, v);
	return buf;
}

static void
json_num(FILE *fp, const char *key, double v, int decimals)
{
	fprintf(fp, ",\"%s\":", key);
	if (isnan(v))
		fputs("null", fp);
	else
		fprintf(fp, "%.*f", decimals, v);
}

/* One row's position fields as JSON members (after a first member). */
static void
json_position(FILE *fp, const struct track_row *r)
{
	char t[EXPORT_TIME_LEN], rt[EXPORT_TIME_LEN];

	export_time(r->fix.time_ms, t);
	export_time(r->recv_ms, rt);
	fprintf(fp, ",\"time\":\"%s\",\"lat\":%.7f,\"lon\":%.7f", t, r->fix.lat, r->fix.lon);
	json_num(fp, "alt", r->fix.alt, 2);
	json_num(fp, "speed", r->fix.speed, 2);
	json_num(fp, "course", r->fix.course, 1);
	json_num(fp, "eph", r->fix.eph, 1);
	json_num(fp, "epv", r->fix.epv, 1);
	fprintf(fp, ",\"stale\":%s,\"node\":%llu,\"link\":", r->fix.stale ? "true" : "false",
	    (unsigned long long)r->node);
	export_json_string(fp, r->link);
	fprintf(fp, ",\"received\":\"%s\"", rt);
}

/* Options: "--name VALUE" or "--name=VALUE" at argv[*i]; 1 taken (value set), 0 not this one, -1 missing. */
static int
opt_value(int argc, char **argv, int *i, const char *name, const char **value)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*value = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*value = argv[++*i];
	return 1;
}

static bool
is_help(const char *a)
{
	return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

static struct trackdb *
open_db(struct cli *c)
{
	char err[512];
	struct trackdb *db = trackdb_open(c->db_path, true, err, sizeof(err));

	if (db == NULL)
		failure(c, "%s", err);
	return db;
}

/* ---- list ---- */

struct unit_list {
	struct track_unit *u;
	size_t n, cap;
	int64_t since_ms;
};

static int
unit_collect(const struct track_unit *u, void *arg)
{
	struct unit_list *l = arg;

	if (u->latest.fix.time_ms < l->since_ms)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct track_unit *nu = realloc(l->u, cap * sizeof(*nu));

		if (nu == NULL)
			return -ENOMEM;
		l->u = nu;
		l->cap = cap;
	}
	l->u[l->n++] = *u;
	return 0;
}

static char
unit_letter(size_t i)
{
	if (i < 26)
		return (char)('A' + i);
	if (i < 52)
		return (char)('a' + i - 26);
	return '+';
}

/* A length for the scale bar: 1, 2 or 5 times a power of ten metres, at most max_m. */
static double
nice_length(double max_m)
{
	double p = pow(10, floor(log10(max_m)));

	if (5 * p <= max_m)
		return 5 * p;
	if (2 * p <= max_m)
		return 2 * p;
	return p;
}

/*
 * The units' last positions on a MAP_W x MAP_H map, north up: the bounding
 * box of the positions plus a tenth on each side, projected equirectangular
 * about its middle latitude (exact enough over a search area; a box across
 * the antimeridian is drawn the long way round).  A character cell is about
 * twice as tall as wide: a row is two columns' worth of metres.
 */
static void
draw_map(FILE *fp, const struct unit_list *l)
{
	double lat0 = 90, lat1 = -90, lon0 = 180, lon1 = -180, coslat, w_m, h_m, col_m, bar_m;
	char grid[MAP_H][MAP_W];
	int bar;

	for (size_t i = 0; i < l->n; i++) {
		const struct fix *f = &l->u[i].latest.fix;

		lat0 = fmin(lat0, f->lat);
		lat1 = fmax(lat1, f->lat);
		lon0 = fmin(lon0, f->lon);
		lon1 = fmax(lon1, f->lon);
	}
	coslat = cos((lat0 + lat1) / 2 * M_PI / 180);
	w_m = (lon1 - lon0) * EARTH_M_PER_DEG * coslat;
	h_m = (lat1 - lat0) * EARTH_M_PER_DEG;
	col_m = fmax(fmax(w_m * 1.2 / (MAP_W - 1), h_m * 1.2 / (2 * (MAP_H - 1))), MAP_MIN_M / MAP_W);
	memset(grid, ' ', sizeof(grid));
	for (size_t i = 0; i < l->n; i++) {
		const struct fix *f = &l->u[i].latest.fix;
		double x = (f->lon - (lon0 + lon1) / 2) * EARTH_M_PER_DEG * coslat / col_m;
		double y = ((lat0 + lat1) / 2 - f->lat) * EARTH_M_PER_DEG / (2 * col_m);
		int cx = (int)lround(x + (MAP_W - 1) / 2.0), cy = (int)lround(y + (MAP_H - 1) / 2.0);

		cx = cx < 0 ? 0 : cx >= MAP_W ? MAP_W - 1 : cx;
		cy = cy < 0 ? 0 : cy >= MAP_H ? MAP_H - 1 : cy;
		/* Two units in one cell: '*', both in the legend. */
		grid[cy][cx] = grid[cy][cx] == ' ' ? unit_letter(i) : '*';
	}
	fprintf(fp, "\nN ^   %zu unit%s, %.0f m x %.0f m, a column %.1f m\n", l->n, l->n == 1 ? "" : "s",
	    col_m * MAP_W, col_m * 2 * MAP_H, col_m);
	fputc('+', fp);
	for (int x = 0; x < MAP_W; x++)
		fputc('-', fp);
	fputs("+\n", fp);
	for (int y = 0; y < MAP_H; y++) {
		fputc('|', fp);
		fwrite(grid[y], 1, MAP_W, fp);
		fputs("|\n", fp);
	}
	fputc('+', fp);
	for (int x = 0; x < MAP_W; x++)
		fputc('-', fp);
	fputs("+\n", fp);
	bar_m = nice_length(col_m * 15);
	bar = (int)lround(bar_m / col_m);
	fputs(" |", fp);
	for (int x = 1; x < bar - 1; x++)
		fputc('-', fp);
	fprintf(fp, "| %.0f m\n", bar_m);
	for (size_t i = 0; i < l->n; i++) {
		fprintf(fp, "%s%c ", i % 4 == 0 ? " " : "   ", unit_letter(i));
		if (i % 4 == 3 || i + 1 == l->n) {
			put_safe(fp, l->u[i].latest.unit, 0);
			fputc('\n', fp);
		} else {
			put_safe(fp, l->u[i].latest.unit, 14);
		}
	}
}

static void
list_text(struct cli *c, const struct unit_list *l)
{
	FILE *fp = c->out;

	fprintf(fp, "%-16s %-6s %-7s %-10s %6s %11s %12s %7s %6s %6s\n", "UNIT", "KIND", "SOURCE",
	    "LINK", "AGE", "LAT", "LON", "SPEED", "COURSE", "FIXES");
	for (size_t i = 0; i < l->n; i++) {
		const struct track_row *r = &l->u[i].latest;
		char age[16], sp[16], co[16];

		format_age(c->now_ms - r->fix.time_ms, age, sizeof(age));
		if (r->fix.stale)
			snprintf(age + strlen(age), sizeof(age) - strlen(age), "!");
		put_safe(fp, r->unit, 16);
		fprintf(fp, " %-6s %-7s ", trackdb_kind_name(r->fix.kind), fix_source_name(r->fix.source));
		put_safe(fp, r->link[0] != '\0' ? r->link : "-", 10);
		fprintf(fp, " %6s %11.6f %12.6f %7s %6s %6llu\n", age, r->fix.lat, r->fix.lon,
		    num(r->fix.speed, 1, sp, sizeof(sp)), num(r->fix.course, 0, co, sizeof(co)),
		    (unsigned long long)l->u[i].count);
	}
	for (size_t i = 0; i < l->n; i++) {
		if (l->u[i].latest.fix.stale) {
			fputs("(!: the last known position, the unit has had no fix since)\n", fp);
			break;
		}
	}
}

static void
list_json(struct cli *c, const struct unit_list *l)
{
	FILE *fp = c->out;

	fputc('[', fp);
	for (size_t i = 0; i < l->n; i++) {
		const struct track_row *r = &l->u[i].latest;
		char first[EXPORT_TIME_LEN];

		export_time(l->u[i].first_ms, first);
		fputs(i > 0 ? ",\n{\"unit\":" : "{\"unit\":", fp);
		export_json_string(fp, r->unit);
		fprintf(fp, ",\"kind\":\"%s\",\"source\":\"%s\"", trackdb_kind_name(r->fix.kind),
		    fix_source_name(r->fix.source));
		json_position(fp, r);
		fprintf(fp, ",\"age_s\":%.3f,\"fixes\":%llu,\"first\":\"%s\"}",
		    (double)(c->now_ms - r->fix.time_ms) / 1000, (unsigned long long)l->u[i].count, first);
	}
	fputs("]\n", fp);
}

static int
cmd_list(struct cli *c, int argc, char **argv)
{
	struct unit_list l = { .since_ms = 0 };
	bool json = false, map = true;
	struct trackdb *db;
	const char *v;
	int e, rc = TRACK_CLI_OK;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--no-map") == 0) {
			map = false;
		} else if ((e = opt_value(argc, argv, &i, "--since", &v)) != 0) {
			if (e < 0)
				return usage_error(c, "--since needs a time");
			if ((l.since_ms = track_cli_parse_time(v, c->now_ms)) < 0)
				return usage_error(c, "--since: '%s' is not a time (2026-12-03T14:00:00Z, 1764770400, 2h)", v);
		} else {
			return usage_error(c, "list: unexpected argument '%s'", argv[i]);
		}
	}
	if ((db = open_db(c)) == NULL)
		return TRACK_CLI_FAILURE;
	if ((e = trackdb_units(db, unit_collect, &l)) != 0) {
		rc = failure(c, "%s", e == -ENOMEM ? "out of memory" : trackdb_error(db));
		goto out;
	}
	if (json) {
		list_json(c, &l);
	} else if (l.n == 0) {
		fprintf(c->out, "no positions in %s%s\n", c->db_path, l.since_ms > 0 ? " since then" : "");
	} else {
		list_text(c, &l);
		if (map)
			draw_map(c->out, &l);
	}
out:
	free(l.u);
	trackdb_close(db);
	return rc;
}

/* ---- show ---- */

struct show {
	struct cli *c;
	bool json;
	int n;
};

static int
show_row(const struct track_row *r, void *arg)
{
	struct show *s = arg;
	FILE *fp = s->c->out;
	char t[EXPORT_TIME_LEN], a[16], sp[16], co[16], eh[16];

	if (s->json) {
		fputs(s->n > 0 ? ",\n{\"unit\":" : "{\"unit\":", fp);
		export_json_string(fp, r->unit);
		fprintf(fp, ",\"kind\":\"%s\",\"source\":\"%s\"", trackdb_kind_name(r->fix.kind),
		    fix_source_name(r->fix.source));
		json_position(fp, r);
		fputc('}', fp);
	} else {
		export_time(r->fix.time_ms, t);
		fprintf(fp, "%-24s %11.7f %12.7f %7s %6s %6s %5s %-7s%s %6llu ", t, r->fix.lat, r->fix.lon,
		    num(r->fix.alt, 1, a, sizeof(a)), num(r->fix.speed, 1, sp, sizeof(sp)),
		    num(r->fix.course, 0, co, sizeof(co)), num(r->fix.eph, 0, eh, sizeof(eh)),
		    fix_source_name(r->fix.source), r->fix.stale ? "!" : " ",
		    (unsigned long long)r->node);
		put_safe(fp, r->link[0] != '\0' ? r->link : "-", 10);
		fprintf(fp, " %.1fs\n", (double)(r->recv_ms - r->fix.time_ms) / 1000);
	}
	s->n++;
	return 0;
}

static int
cmd_show(struct cli *c, int argc, char **argv)
{
	const char *unit = NULL, *v;
	int64_t since_ms = 0, count;
	struct show s = { .c = c };
	long n = SHOW_DEFAULT_N;
	struct trackdb *db;
	int e, rc = TRACK_CLI_OK;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			s.json = true;
		} else if ((e = opt_value(argc, argv, &i, "--since", &v)) != 0) {
			if (e < 0)
				return usage_error(c, "--since needs a time");
			if ((since_ms = track_cli_parse_time(v, c->now_ms)) < 0)
				return usage_error(c, "--since: '%s' is not a time (2026-12-03T14:00:00Z, 1764770400, 2h)", v);
		} else if ((e = opt_value(argc, argv, &i, "-n", &v)) != 0) {
			char *end;

			if (e < 0)
				return usage_error(c, "-n needs a count");
			n = strtol(v, &end, 10);
			if (*end != '\0' || end == v || n < 0 || n > 10000000)
				return usage_error(c, "-n: '%s' is not a count (0: all)", v);
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return usage_error(c, "show: unknown option '%s'", argv[i]);
		} else if (unit == NULL) {
			unit = argv[i];
		} else {
			return usage_error(c, "show takes one UNIT (got '%s' after '%s')", argv[i], unit);
		}
	}
	if (unit == NULL)
		return usage_error(c, "show needs a UNIT (fieldrelay track list shows them)");
	if ((db = open_db(c)) == NULL)
		return TRACK_CLI_FAILURE;
	if ((count = trackdb_count(db, unit)) <= 0) {
		rc = count < 0 ? failure(c, "%s", trackdb_error(db)) :
		    failure(c, "no unit '%s' in %s (fieldrelay track list shows them)", unit, c->db_path);
		goto out;
	}
	if (s.json) {
		fputc('[', c->out);
	} else {
		fprintf(c->out, "%-24s %11s %12s %7s %6s %6s %5s %-7s  %6s %-10s %s\n", "TIME (UTC)", "LAT",
		    "LON", "ALT", "SPEED", "COURSE", "EPH", "SOURCE", "NODE", "LINK", "DELAY");
	}
	e = n == 0 ? trackdb_track(db, unit, since_ms, show_row, &s) :
	    trackdb_last(db, unit, since_ms, (unsigned)n, show_row, &s);
	if (e != 0) {
		rc = failure(c, "%s", trackdb_error(db));
		goto out;
	}
	if (s.json) {
		fputs("]\n", c->out);
	} else {
		fprintf(c->out, "%d of %lld positions of ", s.n, (long long)count);
		put_safe(c->out, unit, 0);
		fputc('\n', c->out);
	}
out:
	trackdb_close(db);
	return rc;
}

/* ---- export ---- */

static int
cmd_export(struct cli *c, int argc, char **argv)
{
	struct export_opts o = { .since_ms = 0 };
	const char *file = NULL, *v, *fmt_name = NULL;
	static const struct { const char *opt; enum export_format f; } formats[] = {
		{ "--gpx", EXPORT_GPX }, { "--geojson", EXPORT_GEOJSON }, { "--cot", EXPORT_COT },
	};
	struct trackdb *db;
	char tmp[4096];
	FILE *fp;
	int e, n;

	for (int i = 1; i < argc; i++) {
		bool matched = false;

		for (size_t k = 0; k < sizeof(formats) / sizeof(formats[0]) && !matched; k++) {
			if ((e = opt_value(argc, argv, &i, formats[k].opt, &v)) == 0)
				continue;
			if (e < 0)
				return usage_error(c, "%s needs a FILE (- for standard output)", formats[k].opt);
			if (file != NULL)
				return usage_error(c, "export writes one format at a time (%s and %s)", fmt_name,
				    formats[k].opt);
			file = v;
			fmt_name = formats[k].opt;
			o.format = formats[k].f;
			matched = true;
		}
		if (matched)
			continue;
		if (strcmp(argv[i], "--latest") == 0) {
			o.latest = true;
		} else if ((e = opt_value(argc, argv, &i, "--since", &v)) != 0) {
			if (e < 0)
				return usage_error(c, "--since needs a time");
			if ((o.since_ms = track_cli_parse_time(v, c->now_ms)) < 0)
				return usage_error(c, "--since: '%s' is not a time (2026-12-03T14:00:00Z, 1764770400, 2h)", v);
		} else if ((e = opt_value(argc, argv, &i, "--unit", &v)) != 0) {
			if (e < 0 || v[0] == '\0')
				return usage_error(c, "--unit needs a UNIT");
			o.unit = v;
		} else if ((e = opt_value(argc, argv, &i, "--stale", &v)) != 0) {
			char *end;
			long s = e > 0 ? strtol(v, &end, 10) : 0;

			if (e < 0 || *end != '\0' || s < 1 || s > 86400 * 30)
				return usage_error(c, "--stale needs seconds, 1 .. 2592000");
			o.cot_stale_s = (uint32_t)s;
		} else {
			return usage_error(c, "export: unexpected argument '%s'", argv[i]);
		}
	}
	if (file == NULL)
		return usage_error(c, "export needs --gpx FILE, --geojson FILE or --cot FILE");
	if ((db = open_db(c)) == NULL)
		return TRACK_CLI_FAILURE;
	if (strcmp(file, "-") == 0) {
		n = export_write(db, &o, c->out);
		if (n < 0)
			failure(c, "export: %s", n == -EIO ? "cannot write to standard output" : trackdb_error(db));
		trackdb_close(db);
		return n < 0 ? TRACK_CLI_FAILURE : TRACK_CLI_OK;
	}
	/* Written beside, renamed into place: never half a file under the name asked for. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp%ld", file, (long)getpid()) >= sizeof(tmp)) {
		trackdb_close(db);
		return usage_error(c, "the file name is too long");
	}
	if ((fp = fopen(tmp, "w")) == NULL) {
		e = errno;
		trackdb_close(db);
		return failure(c, "%s: %s", file, strerror(e));
	}
	n = export_write(db, &o, fp);
	e = errno;
	if (fclose(fp) != 0 && n >= 0) {
		e = errno;
		n = -EIO;
	}
	if (n >= 0 && rename(tmp, file) != 0) {
		e = errno;
		n = -EIO;
	}
	if (n < 0) {
		unlink(tmp);
		failure(c, "%s: %s", file, n == -EIO ? strerror(e) : trackdb_error(db));
		trackdb_close(db);
		return TRACK_CLI_FAILURE;
	}
	fprintf(c->out, "%d position%s to %s\n", n, n == 1 ? "" : "s", file);
	trackdb_close(db);
	return TRACK_CLI_OK;
}

int
track_cli_run(int argc, char **argv, const char *db_path, FILE *out, FILE *err, int64_t now_ms)
{
	struct cli c = { .out = out, .err = err, .db_path = db_path, .now_ms = now_ms };
	static const struct {
		const char *name;
		int (*run)(struct cli *, int, char **);
	} commands[] = {
		{ "list", cmd_list }, { "show", cmd_show }, { "export", cmd_export },
	};
	int i = 1, rc;

	/* --db anywhere: taken out first, so that every command has it. */
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int nargs = 0;

	if (args == NULL)
		return failure(&c, "out of memory");
	for (int k = 0; k < argc; k++) {
		const char *v;
		int e = k > 0 ? opt_value(argc, argv, &k, "--db", &v) : 0;

		if (e < 0) {
			free(args);
			return usage_error(&c, "--db needs a PATH");
		}
		if (e > 0)
			c.db_path = v;
		else
			args[nargs++] = argv[k];
	}
	if (c.db_path == NULL || c.db_path[0] == '\0')
		c.db_path = TRACK_DB_DEFAULT;
	if (nargs <= i) {
		free(args);
		return usage_error(&c, "which command: list, show UNIT or export?");
	}
	for (int k = i; k < nargs; k++) {
		if (is_help(args[k]) || (k == i && strcmp(args[k], "help") == 0)) {
			fputs(usage_text, out);
			free(args);
			return TRACK_CLI_OK;
		}
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(args[i], commands[k].name) == 0) {
			rc = commands[k].run(&c, nargs - i, args + i);
			free(args);
			if (fflush(out) != 0 && rc == TRACK_CLI_OK)
				rc = failure(&c, "cannot write the output: %s", strerror(errno));
			return rc;
		}
	}
	rc = usage_error(&c, "'%s' is not a track command (list, show, export)", args[i]);
	free(args);
	return rc;
}

int
track_cli_main(int argc, char **argv, const char *db_path)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return track_cli_run(argc, argv, db_path, stdout, stderr,
	    (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
