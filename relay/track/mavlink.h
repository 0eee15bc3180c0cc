/*
 * mavlink.h - MAVLink v1 and v2 frames: parse (one buffer, or a byte
 * stream that resynchronises after garbage), check the CRC of the messages
 * we know, decode those messages, and build frames.
 *
 * Our own code; the wire format is MAVLink's (mavlink.io/en/guide/
 * serialization.html), the message layouts and CRC_EXTRA bytes those of
 * mavlink/c_library_v2 at 7e16bc08f14a4f8bfab474de831013a6455ee3da (common/,
 * minimal/, standard/ mavlink_msg_*.h, generated from message_definitions/).
 */
#ifndef FIELDRELAY_TRACK_MAVLINK_H
#define FIELDRELAY_TRACK_MAVLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fix.h"

#define MAV_STX_V1		0xfe
#define MAV_STX_V2		0xfd
#define MAV_PAYLOAD_MAX		255
#define MAV_V1_HDR		6	/* stx len seq sysid compid msgid */
#define MAV_V2_HDR		10	/* stx len incompat compat seq sysid compid msgid[3] */
#define MAV_CRC_LEN		2
#define MAV_SIGNATURE_LEN	13	/* link id, 48-bit timestamp, 48-bit signature */
#define MAV_IFLAG_SIGNED	0x01	/* the only incompat flag MAVLink 2 defines */
#define MAV_FRAME_MAX		(MAV_V2_HDR + MAV_PAYLOAD_MAX + MAV_CRC_LEN + MAV_SIGNATURE_LEN)

/* The messages we decode (common.xml ids). */
enum {
	MAV_MSG_HEARTBEAT = 0,
	MAV_MSG_SYS_STATUS = 1,
	MAV_MSG_GPS_RAW_INT = 24,
	MAV_MSG_ATTITUDE = 30,
	MAV_MSG_GLOBAL_POSITION_INT = 33,
	MAV_MSG_VFR_HUD = 74,
	MAV_MSG_BATTERY_STATUS = 147,
	MAV_MSG_HIGH_LATENCY2 = 235,
	MAV_MSG_STATUSTEXT = 253,
};

/* Full payload lengths (extensions included). */
#define MAV_LEN_HIGH_LATENCY2	42

/*
 * One frame as it came (raw, for forwarding unchanged, signature and all)
 * and its fields.  payload holds the len bytes on the wire followed by zeros
 * up to MAV_PAYLOAD_MAX: MAVLink 2 drops a payload's trailing zero bytes, so
 * a decoder reads the zero-extended payload as if it were whole.
 */
struct mav_frame {
	uint8_t version;	/* 1 or 2 */
	uint8_t len;		/* payload bytes on the wire */
	uint8_t incompat, compat;	/* v2 flags (0 in v1) */
	uint8_t seq, sysid, compid;
	uint32_t msgid;		/* 8 bits in v1, 24 in v2 */
	bool checked;		/* CRC checked (msgid known); else "unknown, CRC not checkable" */
	bool is_signed;		/* v2 signature present (skipped, not verified) */
	uint8_t payload[MAV_PAYLOAD_MAX];
	size_t raw_len;
	uint8_t raw[MAV_FRAME_MAX];
};

/* What a parser saw. */
struct mav_stats {
	uint64_t good;		/* frames whose CRC we checked */
	uint64_t unknown;	/* frames of a msgid we have no CRC_EXTRA for: accepted unchecked */
	uint64_t bad_crc;	/* frames of a known msgid whose CRC did not match: dropped */
	uint64_t bad_header;	/* v2 headers with incompat flags we do not know: dropped */
	uint64_t garbage;	/* bytes outside any frame */
	uint64_t v1, v2, signed_frames;	/* of the accepted */
};

/* CRC-16/MCRF4XX (MAVLink's "X.25"): init 0xffff, then each byte. */
uint16_t mav_crc_accumulate(uint16_t crc, const uint8_t *p, size_t n);
/* The CRC_EXTRA of msgid, or -1 when we do not know the message. */
int mav_crc_extra(uint32_t msgid);
/* The message's name ("GLOBAL_POSITION_INT"), or NULL. */
const char *mav_msg_name(uint32_t msgid);

/*
 * One frame at the start of buf.  0: a frame in *f (f->checked says whether
 * its CRC could be checked), *used its bytes; -EAGAIN: buf holds the start
 * of a frame only; -EBADMSG: a known msgid with a bad CRC; -EPROTO: buf does
 * not start with a frame (no magic, unknown incompat flags).  st (may be
 * NULL) counts the outcome.
 */
int mav_frame_parse(const uint8_t *buf, size_t len, struct mav_frame *f, size_t *used,
    struct mav_stats *st);

/* A byte stream (a serial line, a TCP stream, or one UDP datagram at a time). */
struct mav_parser {
	struct mav_stats stats;
	bool synced;		/* at a frame boundary: the start, or right after a frame */
	size_t len;
	uint8_t buf[2 * MAV_FRAME_MAX];
	struct mav_frame frame;
};
typedef void mav_frame_cb(const struct mav_frame *f, void *arg);

void mav_parser_init(struct mav_parser *p);
/* Forget a partial frame (stats kept): call before each UDP datagram. */
void mav_parser_reset(struct mav_parser *p);
/*
 * Feed n bytes; cb(frame, arg) for every frame they complete, in order.
 * After a bad CRC or a false start the parser resynchronises on the next
 * magic byte after the one it tried; until it has checked a frame there,
 * frames of unknown msgid count as garbage (an unchecked length could
 * swallow good frames).
 */
void mav_parser_push(struct mav_parser *p, const uint8_t *data, size_t n, mav_frame_cb *cb, void *arg);

/* The decoded messages (fields in common.xml's units, names as there). */
struct mav_heartbeat {
	uint32_t custom_mode;
	uint8_t type, autopilot, base_mode, system_status, mavlink_version;
};
struct mav_sys_status {
	uint32_t sensors_present, sensors_enabled, sensors_health;
	uint16_t load;			/* d% */
	uint16_t voltage_battery;	/* mV, UINT16_MAX unknown */
	int16_t current_battery;	/* cA, -1 unknown */
	uint16_t drop_rate_comm, errors_comm;
	int8_t battery_remaining;	/* %, -1 unknown */
};
struct mav_gps_raw_int {
	uint64_t time_usec;
	int32_t lat, lon, alt;		/* degE7, degE7, mm MSL */
	uint16_t eph, epv, vel, cog;	/* HDOP*100, VDOP*100, cm/s, cdeg; UINT16_MAX unknown */
	uint8_t fix_type, satellites_visible;
	int32_t alt_ellipsoid;		/* extensions: 0 when absent */
	uint32_t h_acc, v_acc, vel_acc, hdg_acc;
	uint16_t yaw;
};
struct mav_attitude {
	uint32_t time_boot_ms;
	float roll, pitch, yaw;		/* rad */
	float rollspeed, pitchspeed, yawspeed;
};
struct mav_global_position_int {
	uint32_t time_boot_ms;
	int32_t lat, lon;		/* degE7 */
	int32_t alt, relative_alt;	/* mm: MSL, above home */
	int16_t vx, vy, vz;		/* cm/s north, east, down */
	uint16_t hdg;			/* cdeg, UINT16_MAX unknown */
};
struct mav_vfr_hud {
	float airspeed, groundspeed, alt, climb;
	int16_t heading;		/* deg */
	uint16_t throttle;		/* % */
};
struct mav_battery_status {
	int32_t current_consumed, energy_consumed;	/* mAh, hJ; -1 unknown */
	int16_t temperature;		/* cdegC, INT16_MAX unknown */
	uint16_t voltages[10];		/* mV, UINT16_MAX unused */
	int16_t current_battery;	/* cA */
	uint8_t id, battery_function, type;
	int8_t battery_remaining;	/* %, -1 unknown */
	int32_t time_remaining;		/* s, extension */
	uint8_t charge_state;
};
/* HIGH_LATENCY2: also the summary the agent sends over narrow links. */
struct mav_high_latency2 {
	uint32_t timestamp;		/* ms */
	int32_t latitude, longitude;	/* degE7 */
	uint16_t custom_mode;
	int16_t altitude, target_altitude;	/* m */
	uint16_t target_distance;	/* dam */
	uint16_t wp_num, failure_flags;
	uint8_t type, autopilot;
	uint8_t heading, target_heading;	/* deg/2 */
	uint8_t throttle;		/* % */
	uint8_t airspeed, airspeed_sp, groundspeed, windspeed;	/* m/s*5 */
	uint8_t wind_heading;		/* deg/2 */
	uint8_t eph, epv;		/* dm */
	int8_t temperature_air;		/* degC */
	int8_t climb_rate;		/* dm/s */
	int8_t battery;			/* %, -1 unknown */
	int8_t custom0, custom1, custom2;
};
struct mav_statustext {
	uint8_t severity;
	char text[51];			/* NUL-terminated (50 on the wire, not always terminated) */
	uint16_t id;
	uint8_t chunk_seq;
};

/* Decoders: 0, or -EINVAL when the frame is not that message. */
int mav_decode_heartbeat(const struct mav_frame *f, struct mav_heartbeat *m);
int mav_decode_sys_status(const struct mav_frame *f, struct mav_sys_status *m);
int mav_decode_gps_raw_int(const struct mav_frame *f, struct mav_gps_raw_int *m);
int mav_decode_attitude(const struct mav_frame *f, struct mav_attitude *m);
int mav_decode_global_position_int(const struct mav_frame *f, struct mav_global_position_int *m);
int mav_decode_vfr_hud(const struct mav_frame *f, struct mav_vfr_hud *m);
int mav_decode_battery_status(const struct mav_frame *f, struct mav_battery_status *m);
int mav_decode_high_latency2(const struct mav_frame *f, struct mav_high_latency2 *m);
int mav_decode_statustext(const struct mav_frame *f, struct mav_statustext *m);

/*
 * A drone's position as a fix, timed by rx_ms (Unix ms when it arrived:
 * time_boot_ms is not wall time).  Speed and course from vx/vy (course NAN
 * when still).  -EINVAL when there is no position (0/0: no GPS yet, or out
 * of range).
 */
int mav_position_fix(const struct mav_global_position_int *m, int64_t rx_ms, struct fix *f);

/* Payload encoders: the full payload into p, its length returned. */
size_t mav_encode_global_position_int(const struct mav_global_position_int *m, uint8_t p[28]);
size_t mav_encode_heartbeat(const struct mav_heartbeat *m, uint8_t p[9]);
size_t mav_encode_high_latency2(const struct mav_high_latency2 *m, uint8_t p[MAV_LEN_HIGH_LATENCY2]);

/*
 * A frame into buf: v2 drops the payload's trailing zeros (keeping at least
 * one byte), v1 needs msgid <= 255.  The frame's length, -ENOENT when we do
 * not know msgid's CRC_EXTRA, -EINVAL for a bad length or msgid, -ENOSPC
 * when cap is too small (MAV_FRAME_MAX always does).
 */
ssize_t mav_build_v2(uint8_t *buf, size_t cap, uint8_t seq, uint8_t sysid, uint8_t compid,
    uint32_t msgid, const uint8_t *payload, size_t len);
ssize_t mav_build_v1(uint8_t *buf, size_t cap, uint8_t seq, uint8_t sysid, uint8_t compid,
    uint32_t msgid, const uint8_t *payload, size_t len);

#endif
