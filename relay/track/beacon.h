/*
 * beacon.h - when to send this unit's position.
 *
 * Ours sends by error, not by clock: both ends know the track the
 * receivers rebuild from what they last got (dead reckoning from the last
 * sent fix when it has speed and course; else the straight line through the
 * last two sent fixes, carried on at their speed; else standing still at
 * the last), so the sender sends when the true position strays from that
 * track by more than the allowed error, never two sends closer than min_ms
 * and at least one every max_ms (the heartbeat of a unit standing still).
 *
 * For the bench, two references: SmartBeaconing as Direwolf does it
 * (src/beacon.c, sb_calculate_next_time: a rate between slow and fast by
 * speed, corner pegging on a heading change), and a fixed interval.
 *
 * Times are Unix ms, fix times and now_ms on the same clock.
 */
#ifndef FIELDRELAY_TRACK_BEACON_H
#define FIELDRELAY_TRACK_BEACON_H

#include <stdbool.h>
#include <stdint.h>

#include "fix.h"

/* Below this speed (m/s) the receivers do not dead-reckon: GPS jitter, not motion. */
#define BEACON_DR_MIN_SPEED	0.5
/* The receivers move the unit on for this long (ms) after its last fix at most, then hold. */
#define BEACON_PREDICT_MAX_MS	(10 * 60 * 1000)
/* Two fixes further apart than this (ms) say nothing of the speed now. */
#define BEACON_LINEAR_MAX_MS	(15 * 60 * 1000)

/* What was last sent, as the receivers have it. */
struct beacon {
	bool sent;		/* a fix has been sent */
	struct fix last;	/* the newest fix the receivers have, as they decoded it */
	bool have_prev;
	struct fix prev;	/* the one before it */
	int64_t last_ms;	/* when it was sent (its time_ms) */
};

void beacon_init(struct beacon *b);

/*
 * Where the receivers place the unit at now_ms: the last sent fix moved
 * along its course at its speed for the time since its time_ms (at most
 * BEACON_PREDICT_MAX_MS), when it has both; else moved on along the line
 * from the fix before it, at the speed between the two (when they are less
 * than BEACON_LINEAR_MAX_MS apart); the fix itself when that speed is below
 * BEACON_DR_MIN_SPEED, or now_ms is not after it.  Nothing sent yet: false.
 * (The limit costs a unit going straight on at a steady speed a send every
 * 10 min instead of the heartbeat, test_beacon; it saves a unit that
 * stopped or turned while a long minimum interval holds the send back from
 * being shown kilometres on: in bench_track, the walk at SmartBeaconing's
 * bytes, its live error 1464 m instead of 2641 m at the same sends.)
 */
bool beacon_predict(const struct beacon *b, int64_t now_ms, double *lat, double *lon);

/*
 * Whether to send fix f now: nothing sent yet; or at least min_ms since the
 * last send and f more than error_m from the predicted position; or at
 * least max_ms since the last send (the heartbeat); or now_ms before the
 * last send (the clock went back: silence until it caught up would be
 * worse than one send too many).  Between sends the receivers' track is
 * then within error_m of every fix the sender saw, unless min_ms held a
 * send back.
 */
bool beacon_due(const struct beacon *b, const struct fix *f, int64_t now_ms, double error_m, uint32_t min_ms,
    uint32_t max_ms);

/*
 * Record that f went out: it becomes the last, the last the one before.
 * The caller passes f as the receivers will decode it (encoded and decoded
 * again by posfmt, its lat/lon, time, speed and course quantised), not the
 * fix from the GPS: the prediction is then the one every receiver makes, to
 * the bit.  A batch goes in oldest first, one call a fix.
 */
void beacon_sent(struct beacon *b, const struct fix *f);

/* A fixed interval: nothing sent yet, or every_ms since the last send. */
bool beacon_fixed_due(const struct beacon *b, int64_t now_ms, uint32_t every_ms);

/*
 * SmartBeaconing (Steve Bragg KA9MVA, Tony Arnerich KD7TA) with Direwolf's
 * defaults and arithmetic, in SI units where Direwolf has mph.
 */
struct beacon_smart {
	double fast_speed;	/* m/s at and above which fast_ms holds (60 mph) */
	uint32_t fast_ms;	/* 180 s */
	double slow_speed;	/* m/s below which slow_ms holds (5 mph) */
	uint32_t slow_ms;	/* 1800 s */
	double turn_min;	/* degrees: the least heading change that pegs a corner (30) */
	uint32_t turn_ms;	/* the least time between two corner pegs (15 s) */
	double turn_slope;	/* degrees * mph: more change needed when slow (255) */
	/* State. */
	bool sent;
	int64_t last_ms;	/* when the last one went */
	double last_course;	/* its course, or NAN */
};

void beacon_smart_init(struct beacon_smart *s);
/* Whether to send f now (Direwolf's next-time rule at each fix). */
bool beacon_smart_due(const struct beacon_smart *s, const struct fix *f, int64_t now_ms);
void beacon_smart_sent(struct beacon_smart *s, const struct fix *f, int64_t now_ms);
/* The rate SmartBeaconing sets for speed (m/s, or NAN), ms. */
uint32_t beacon_smart_rate(const struct beacon_smart *s, double speed);

#endif
