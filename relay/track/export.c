/*
 * export.c - GPX, GeoJSON and CoT from the track DB (export.h).
 *
 * Unit names and links come from the network: everything written is escaped
 * for its format, and bytes that are not UTF-8 become U+FFFD, so that a bad
 * name never makes a file no reader can open.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export.h"

/* Where text goes: a FILE or a buffer (the CoT datagram), with one way to escape. */
struct sink {
	FILE *fp;
	char *buf;
	size_t cap, len;
	bool failed;
};

static void
put(struct sink *s, const char *p, size_t n)
{
	if (s->failed)
		return;
	if (s->fp != NULL) {
		if (fwrite(p, 1, n, s->fp) != n)
			s->failed = true;
		return;
	}
	if (s->len + n >= s->cap) {
		s->failed = true;
		return;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

static void
puts_(struct sink *s, const char *p)
{
	put(s, p, strlen(p));
}

static void __attribute__((format(printf, 2, 3)))
printf_(struct sink *s, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		s->failed = true;
	else
		put(s, tmp, (size_t)n);
}

/* The length of the valid UTF-8 sequence at p (n bytes left), 0 if it is not one. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong, surrogates, beyond U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

enum escape { ESC_XML, ESC_JSON };

/* s as XML text or attribute value, or as the inside of a JSON string. */
static void
put_escaped(struct sink *s, const char *str, enum escape how)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t n = strlen(str);

	while (n > 0) {
		size_t len = utf8_len(p, n);
		char tmp[8];

		if (len == 0) {
			puts_(s, "\xef\xbf\xbd");	/* U+FFFD */
			len = 1;
		} else if (len > 1) {
			put(s, (const char *)p, len);
		} else if (how == ESC_XML) {
			switch (*p) {
			case '&': puts_(s, "&amp;"); break;
			case '<': puts_(s, "&lt;"); break;
			case '>': puts_(s, "&gt;"); break;
			case '"': puts_(s, "&quot;"); break;
			case '\'': puts_(s, "&apos;"); break;
			default:
				/* XML 1.0 has no other control characters, not even as &#x..; */
				if (*p < 0x20 || *p == 0x7f)
					puts_(s, "\xef\xbf\xbd");
				else
					put(s, (const char *)p, 1);
			}
		} else {
			if (*p == '"' || *p == '\\') {
				tmp[0] = '\\';
				tmp[1] = (char)*p;
				put(s, tmp, 2);
			} else if (*p < 0x20 || *p == 0x7f) {
				/* DEL too: JSON allows it raw, a terminal showing the file may not. */
				snprintf(tmp, sizeof(tmp), "\\u%04x", *p);
				puts_(s, tmp);
			} else {
				put(s, (const char *)p, 1);
			}
		}
		p += len;
		n -= len;
	}
}

void
export_json_string(FILE *out, const char *str)
{
	struct sink s = { .fp = out };

	puts_(&s, "\"");
	put_escaped(&s, str, ESC_JSON);
	puts_(&s, "\"");
}

void
export_time(int64_t ms, char buf[EXPORT_TIME_LEN])
{
	/* Floor division, without overflow at either end of int64_t. */
	int64_t sec = ms / 1000, rem = ms % 1000;
	unsigned msec;

	if (rem < 0) {
		sec--;
		rem += 1000;
	}
	msec = (unsigned)rem;
	time_t t = (time_t)sec;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0 ||
	    strftime(buf, EXPORT_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm) != 19) {
		snprintf(buf, EXPORT_TIME_LEN, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(buf + 19, EXPORT_TIME_LEN - 19, ".%03uZ", msec);
}

/* A growing array of rows: one unit's track (GeoJSON needs it whole), or the units. */
struct rows {
	struct track_row *r;
	size_t n, cap;
};

static int
rows_add(const struct track_row *r, void *arg)
{
	struct rows *rs = arg;

	if (rs->n == rs->cap) {
		size_t cap = rs->cap != 0 ? rs->cap * 2 : 64;
		struct track_row *nr = realloc(rs->r, cap * sizeof(*nr));

		if (nr == NULL)
			return -ENOMEM;
		rs->r = nr;
		rs->cap = cap;
	}
	rs->r[rs->n++] = *r;
	return 0;
}

static int
units_add(const struct track_unit *u, void *arg)
{
	return rows_add(&u->latest, arg);
}

/* The units o selects that have a position since o->since_ms: their latest rows. */
static int
select_units(struct trackdb *db, const struct export_opts *o, struct rows *units)
{
	size_t k = 0;
	int e;

	if ((e = trackdb_units(db, units_add, units)) != 0)
		return e;
	for (size_t i = 0; i < units->n; i++)
		if ((o->unit == NULL || strcmp(units->r[i].unit, o->unit) == 0) &&
		    units->r[i].fix.time_ms >= o->since_ms)
			units->r[k++] = units->r[i];
	units->n = k;
	return 0;
}

/* ---- GPX 1.1 (www.topografix.com/GPX/1/1) ---- */

struct gpx_state {
	struct sink *s;
	int count;
};

static int
gpx_point(const struct track_row *r, void *arg)
{
	struct gpx_state *g = arg;
	char t[EXPORT_TIME_LEN];
	bool ext = !isnan(r->fix.speed) || !isnan(r->fix.course);

	export_time(r->fix.time_ms, t);
	printf_(g->s, "<trkpt lat=\"%.7f\" lon=\"%.7f\">", r->fix.lat, r->fix.lon);
	if (!isnan(r->fix.alt))
		printf_(g->s, "<ele>%.2f</ele>", r->fix.alt);
	printf_(g->s, "<time>%s</time>", t);
	/* wptType's order: ele, time, ..., src, ..., extensions. */
	printf_(g->s, "<src>%s</src>", fix_source_name(r->fix.source));
	if (ext) {
		/* GPX 1.1 dropped 1.0's speed and course: Garmin's TrackPointExtension v2 has them. */
		puts_(g->s, "<extensions><gpxtpx:TrackPointExtension>");
		if (!isnan(r->fix.speed))
			printf_(g->s, "<gpxtpx:speed>%.2f</gpxtpx:speed>", r->fix.speed);
		if (!isnan(r->fix.course))
			printf_(g->s, "<gpxtpx:course>%.1f</gpxtpx:course>", r->fix.course);
		puts_(g->s, "</gpxtpx:TrackPointExtension></extensions>");
	}
	puts_(g->s, "</trkpt>\n");
	g->count++;
	return g->s->failed ? -EIO : 0;
}

static int
write_gpx(struct trackdb *db, const struct export_opts *o, const struct rows *units, struct sink *s)
{
	struct gpx_state g = { .s = s, .count = 0 };
	int e;

	puts_(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<gpx version=\"1.1\" creator=\"fieldrelay-track\""
	    " xmlns=\"http://www.topografix.com/GPX/1/1\""
	    " xmlns:gpxtpx=\"http://www.garmin.com/xmlschemas/TrackPointExtension/v2\""
	    " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
	    " xsi:schemaLocation=\"http://www.topografix.com/GPX/1/1"
	    " http://www.topografix.com/GPX/1/1/gpx.xsd\">\n"
	    "<metadata><name>fieldrelay track</name></metadata>\n");
	for (size_t i = 0; i < units->n; i++) {
		puts_(s, "<trk><name>");
		put_escaped(s, units->r[i].unit, ESC_XML);
		printf_(s, "</name><type>%s</type><trkseg>\n", trackdb_kind_name(units->r[i].fix.kind));
		if ((e = trackdb_track(db, units->r[i].unit, o->since_ms, gpx_point, &g)) != 0)
			return e;
		puts_(s, "</trkseg></trk>\n");
	}
	puts_(s, "</gpx>\n");
	return g.count;
}

/* ---- GeoJSON (RFC 7946): positions are [lon, lat(, alt)] ---- */

static void
json_str(struct sink *s, const char *key, const char *value)
{
	printf_(s, "\"%s\":\"", key);
	put_escaped(s, value, ESC_JSON);
	puts_(s, "\"");
}

static void
json_num(struct sink *s, const char *key, double v, int decimals)
{
	printf_(s, ",\"%s\":", key);
	if (isnan(v))
		puts_(s, "null");
	else
		printf_(s, "%.*f", decimals, v);
}

static void
json_common(struct sink *s, const struct track_row *r)
{
	json_str(s, "unit", r->unit);
	puts_(s, ",");
	json_str(s, "kind", trackdb_kind_name(r->fix.kind));
	puts_(s, ",");
	json_str(s, "source", fix_source_name(r->fix.source));
	printf_(s, ",\"node\":%llu,", (unsigned long long)r->node);
	json_str(s, "link", r->link);
}

static void
json_coord(struct sink *s, const struct fix *f, bool alt)
{
	printf_(s, "[%.7f,%.7f", f->lon, f->lat);
	if (alt)
		printf_(s, ",%.2f", f->alt);
	puts_(s, "]");
}

static int
write_geojson(struct trackdb *db, const struct export_opts *o, const struct rows *units,
    struct sink *s)
{
	struct rows track = { 0 };
	bool first = true;
	int count = 0, e = 0;

	puts_(s, "{\"type\":\"FeatureCollection\",\"features\":[\n");
	for (size_t i = 0; i < units->n; i++) {
		char t0[EXPORT_TIME_LEN], t1[EXPORT_TIME_LEN];
		const struct track_row *last;
		bool alt = true;

		track.n = 0;
		if ((e = trackdb_track(db, units->r[i].unit, o->since_ms, rows_add, &track)) != 0)
			goto out;
		if (track.n == 0)
			continue;
		/* A third coordinate for all or for none: readers take a line's dimension from its first. */
		for (size_t k = 0; k < track.n; k++)
			alt = alt && !isnan(track.r[k].fix.alt);
		last = &track.r[track.n - 1];
		export_time(track.r[0].fix.time_ms, t0);
		export_time(last->fix.time_ms, t1);
		puts_(s, first ? "" : ",\n");
		first = false;
		printf_(s, "{\"type\":\"Feature\",\"geometry\":{\"type\":\"%s\",\"coordinates\":",
		    track.n >= 2 ? "LineString" : "Point");
		if (track.n >= 2) {
			puts_(s, "[");
			for (size_t k = 0; k < track.n; k++) {
				if (k > 0)
					puts_(s, ",");
				json_coord(s, &track.r[k].fix, alt);
			}
			puts_(s, "]");
		} else {
			json_coord(s, &last->fix, alt);
		}
		puts_(s, "},\"properties\":{");
		json_common(s, last);
		printf_(s, ",\"count\":%zu,\"start\":\"%s\",\"end\":\"%s\"}}", track.n, t0, t1);
		count += (int)track.n;
		if (o->latest) {
			puts_(s, ",\n{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":");
			json_coord(s, &last->fix, !isnan(last->fix.alt));
			puts_(s, "},\"properties\":{");
			json_common(s, last);
			printf_(s, ",\"time\":\"%s\"", t1);
			json_num(s, "speed", last->fix.speed, 2);
			json_num(s, "course", last->fix.course, 1);
			json_num(s, "eph", last->fix.eph, 1);
			printf_(s, ",\"stale\":%s,\"latest\":true}}", last->fix.stale ? "true" : "false");
		}
		if (s->failed) {
			e = -EIO;
			goto out;
		}
	}
	puts_(s, "\n]}\n");
out:
	free(track.r);
	return e != 0 ? e : count;
}

/* ---- Cursor on Target 2.0 events ---- */

static double
or_unknown(double v)
{
	return isnan(v) ? COT_UNKNOWN : v;
}

/*
 * One event: the position of a unit as ATAK's own PLI looks, so that TAK
 * draws and names it:
 *   <event version="2.0" uid="fieldrelay-UNIT" type="a-f-G-U-C" how="m-g"
 *          time="T" start="T" stale="T+stale_s">
 *     <point lat lon hae ce le/>      (9999999.0 where unknown, as TAK writes)
 *     <detail><contact callsign="UNIT"/><track speed course/>
 *       <precisionlocation geopointsrc altsrc/></detail></event>
 * time and start are the fix's time (an old position exported later keeps its
 * own time); hae is the fix's altitude above mean sea level (the geoid's
 * separation, tens of metres, is not applied).
 */
static void
cot_event(struct sink *s, const struct track_row *r, uint32_t stale_s)
{
	char t[EXPORT_TIME_LEN], st[EXPORT_TIME_LEN];
	const struct fix *f = &r->fix;
	const char *src = f->source == FIX_MANUAL ? "USER" : "GPS";

	if (stale_s == 0)
		stale_s = EXPORT_COT_STALE_S;
	export_time(f->time_ms, t);
	/* A time from the network may be anything: saturate, never overflow. */
	export_time(f->time_ms > INT64_MAX - (int64_t)stale_s * 1000 ? INT64_MAX :
	    f->time_ms + (int64_t)stale_s * 1000, st);
	puts_(s, "<event version=\"2.0\" uid=\"fieldrelay-");
	put_escaped(s, r->unit, ESC_XML);
	printf_(s, "\" type=\"%s\" how=\"%s\" time=\"%s\" start=\"%s\" stale=\"%s\">",
	    f->kind == FIX_DRONE ? COT_TYPE_DRONE : COT_TYPE_GROUND,
	    f->source == FIX_MANUAL ? "h-g-i-g-o" : "m-g", t, t, st);
	printf_(s, "<point lat=\"%.7f\" lon=\"%.7f\" hae=\"%.1f\" ce=\"%.1f\" le=\"%.1f\"/>",
	    f->lat, f->lon, or_unknown(f->alt), or_unknown(f->eph), or_unknown(f->epv));
	puts_(s, "<detail><contact callsign=\"");
	put_escaped(s, r->unit, ESC_XML);
	puts_(s, "\"/>");
	if (!isnan(f->speed) || !isnan(f->course))
		printf_(s, "<track speed=\"%.2f\" course=\"%.1f\"/>",
		    isnan(f->speed) ? 0.0 : f->speed, isnan(f->course) ? 0.0 : f->course);
	printf_(s, "<precisionlocation geopointsrc=\"%s\" altsrc=\"%s\"/>", src,
	    isnan(f->alt) ? "???" : src);
	puts_(s, "</detail></event>");
}

int
export_cot_event(const struct track_row *row, uint32_t stale_s, bool declaration, char *buf,
    size_t cap)
{
	struct sink s = { .buf = buf, .cap = cap };

	if (cap == 0)
		return -ENOSPC;
	buf[0] = '\0';
	if (declaration)
		puts_(&s, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>");
	cot_event(&s, row, stale_s);
	if (s.failed) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	return (int)s.len;
}

struct cot_state {
	struct sink *s;
	uint32_t stale_s;
	const char *unit;
	int count;
};

static int
cot_row(const struct track_row *r, void *arg)
{
	struct cot_state *c = arg;

	if (c->unit != NULL && strcmp(r->unit, c->unit) != 0)
		return 0;
	cot_event(c->s, r, c->stale_s);
	puts_(c->s, "\n");
	c->count++;
	return c->s->failed ? -EIO : 0;
}

static int
write_cot(struct trackdb *db, const struct export_opts *o, const struct rows *units, struct sink *s)
{
	struct cot_state c = { .s = s, .stale_s = o->cot_stale_s, .unit = NULL, .count = 0 };
	int e;

	if (o->latest) {
		for (size_t i = 0; i < units->n; i++)
			if ((e = cot_row(&units->r[i], &c)) != 0)
				return e;
		return c.count;
	}
	/* Every position, in time order across units: the order TAK would have seen them. */
	if ((e = trackdb_track(db, o->unit, o->since_ms, cot_row, &c)) != 0)
		return e;
	return c.count;
}

int
export_write(struct trackdb *db, const struct export_opts *o, FILE *out)
{
	struct sink s = { .fp = out };
	struct rows units = { 0 };
	int n;

	if ((n = select_units(db, o, &units)) != 0)
		goto out;
	switch (o->format) {
	case EXPORT_GPX:
		n = write_gpx(db, o, &units, &s);
		break;
	case EXPORT_GEOJSON:
		n = write_geojson(db, o, &units, &s);
		break;
	case EXPORT_COT:
		n = write_cot(db, o, &units, &s);
		break;
	default:
		n = -EINVAL;
	}
	if (n >= 0 && (s.failed || fflush(out) != 0 || ferror(out)))
		n = -EIO;
out:
	free(units.r);
	return n;
}
