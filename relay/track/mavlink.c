/*
 * mavlink.c - MAVLink v1/v2 frames (mavlink.h).
 *
 * The frames, byte by byte (little-endian fields):
 *
 *   v1: 0xfe len seq sysid compid msgid  payload[len]  crc_lo crc_hi
 *   v2: 0xfd len incompat compat seq sysid compid msgid[3]  payload[len]
 *       crc_lo crc_hi  [signature[13] if incompat & 0x01]
 *
 * The CRC is CRC-16/MCRF4XX over every byte after the magic up to the end
 * of the payload, then over the message's CRC_EXTRA byte (a hash of its
 * definition, so that two ends with different definitions do not agree).
 * A msgid whose CRC_EXTRA we do not know is still a frame: we pass it on
 * unchecked (counted) so that it can cross the mesh to a ground station
 * that knows it.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "mavlink.h"

/*
 * The messages we use: id, CRC_EXTRA, full payload length (extensions
 * included), from mavlink/c_library_v2 7e16bc08f14a4f8bfab474de831013a6455ee3da,
 * MAVLINK_MSG_ID_<NAME>_CRC and _LEN.
 */
static const struct mav_msg_info {
	uint32_t id;
	uint8_t crc_extra;
	uint8_t len;
	const char *name;
} msgs[] = {
	{ MAV_MSG_HEARTBEAT, 50, 9, "HEARTBEAT" },
	{ MAV_MSG_SYS_STATUS, 124, 43, "SYS_STATUS" },
	{ MAV_MSG_GPS_RAW_INT, 24, 52, "GPS_RAW_INT" },
	{ MAV_MSG_ATTITUDE, 39, 28, "ATTITUDE" },
	{ MAV_MSG_GLOBAL_POSITION_INT, 104, 28, "GLOBAL_POSITION_INT" },
	{ MAV_MSG_VFR_HUD, 20, 20, "VFR_HUD" },
	{ MAV_MSG_BATTERY_STATUS, 154, 54, "BATTERY_STATUS" },
	{ MAV_MSG_HIGH_LATENCY2, 179, MAV_LEN_HIGH_LATENCY2, "HIGH_LATENCY2" },
	{ MAV_MSG_STATUSTEXT, 83, 54, "STATUSTEXT" },
};

static const struct mav_msg_info *
msg_info(uint32_t id)
{
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		if (msgs[i].id == id)
			return &msgs[i];
	return NULL;
}

int
mav_crc_extra(uint32_t msgid)
{
	const struct mav_msg_info *m = msg_info(msgid);

	return m ? m->crc_extra : -1;
}

const char *
mav_msg_name(uint32_t msgid)
{
	const struct mav_msg_info *m = msg_info(msgid);

	return m ? m->name : NULL;
}

uint16_t
mav_crc_accumulate(uint16_t crc, const uint8_t *p, size_t n)
{
	while (n--) {
		uint8_t t = *p++ ^ (uint8_t)(crc & 0xff);

		t ^= (uint8_t)(t << 4);
		crc = (uint16_t)((crc >> 8) ^ ((uint16_t)t << 8) ^ ((uint16_t)t << 3) ^ (t >> 4));
	}
	return crc;
}

/* The CRC of a frame: bytes 1 .. end of payload, then CRC_EXTRA. */
static uint16_t
frame_crc(const uint8_t *frame, size_t hdr, size_t len, uint8_t extra)
{
	uint16_t crc = mav_crc_accumulate(0xffff, frame + 1, hdr - 1 + len);

	return mav_crc_accumulate(crc, &extra, 1);
}

int
mav_frame_parse(const uint8_t *buf, size_t len, struct mav_frame *f, size_t *used,
    struct mav_stats *st)
{
	size_t hdr, total;
	int extra;

	if (len < 1)
		return -EAGAIN;
	if (buf[0] == MAV_STX_V1)
		hdr = MAV_V1_HDR;
	else if (buf[0] == MAV_STX_V2)
		hdr = MAV_V2_HDR;
	else
		return -EPROTO;
	if (len < hdr)
		return -EAGAIN;
	memset(f, 0, offsetof(struct mav_frame, raw));
	f->len = buf[1];
	total = hdr + f->len + MAV_CRC_LEN;
	if (hdr == MAV_V1_HDR) {
		f->version = 1;
		f->seq = buf[2];
		f->sysid = buf[3];
		f->compid = buf[4];
		f->msgid = buf[5];
	} else {
		f->version = 2;
		f->incompat = buf[2];
		f->compat = buf[3];
		if (f->incompat & ~MAV_IFLAG_SIGNED) {
			if (st)
				st->bad_header++;
			return -EPROTO;
		}
		f->seq = buf[4];
		f->sysid = buf[5];
		f->compid = buf[6];
		f->msgid = buf[7] | (uint32_t)buf[8] << 8 | (uint32_t)buf[9] << 16;
		if (f->incompat & MAV_IFLAG_SIGNED) {
			f->is_signed = true;
			total += MAV_SIGNATURE_LEN;
		}
	}
	if (len < total)
		return -EAGAIN;
	extra = mav_crc_extra(f->msgid);
	if (extra >= 0) {
		uint16_t crc = frame_crc(buf, hdr, f->len, (uint8_t)extra);
		const uint8_t *c = buf + hdr + f->len;

		if ((c[0] | c[1] << 8) != crc) {
			if (st)
				st->bad_crc++;
			return -EBADMSG;
		}
		f->checked = true;
	}
	memcpy(f->payload, buf + hdr, f->len);
	memcpy(f->raw, buf, total);
	f->raw_len = total;
	*used = total;
	if (st) {
		if (f->checked)
			st->good++;
		else
			st->unknown++;
		if (f->version == 1)
			st->v1++;
		else
			st->v2++;
		if (f->is_signed)
			st->signed_frames++;
	}
	return 0;
}

void
mav_parser_init(struct mav_parser *p)
{
	memset(&p->stats, 0, sizeof(p->stats));
	p->len = 0;
	p->synced = true;
}

void
mav_parser_reset(struct mav_parser *p)
{
	p->stats.garbage += p->len;
	p->len = 0;
	p->synced = true;
}

/* Drop the buffer's first n bytes. */
static void
parser_drop(struct mav_parser *p, size_t n)
{
	memmove(p->buf, p->buf + n, p->len - n);
	p->len -= n;
}

static void
stats_add(struct mav_stats *to, const struct mav_stats *from)
{
	to->good += from->good;
	to->unknown += from->unknown;
	to->bad_crc += from->bad_crc;
	to->bad_header += from->bad_header;
	to->garbage += from->garbage;
	to->v1 += from->v1;
	to->v2 += from->v2;
	to->signed_frames += from->signed_frames;
}

/*
 * Every frame the buffer holds, to cb; what remains is empty or the start
 * of a frame.  A frame we cannot check (unknown msgid) is believed only
 * where a frame is due: at the start, or right after another frame.  After
 * garbage or a broken frame, a magic byte is as likely noise, and an
 * unchecked "frame" there would swallow the good frames after it; so the
 * parser finds its footing again on a frame whose CRC it can check.
 */
static void
parser_drain(struct mav_parser *p, mav_frame_cb *cb, void *arg)
{
	while (p->len > 0) {
		struct mav_stats one = { 0 };
		size_t skip = 0, used;
		int r;

		while (skip < p->len && p->buf[skip] != MAV_STX_V1 && p->buf[skip] != MAV_STX_V2)
			skip++;
		if (skip) {
			p->stats.garbage += skip;
			p->synced = false;
			parser_drop(p, skip);
			continue;
		}
		r = mav_frame_parse(p->buf, p->len, &p->frame, &used, &one);
		if (r == -EAGAIN)
			return;
		if (r == 0 && (p->frame.checked || p->synced)) {
			stats_add(&p->stats, &one);
			parser_drop(p, used);
			p->synced = true;
			cb(&p->frame, arg);
			continue;
		}
		/* A false start or a broken frame: look again from the next byte. */
		if (r < 0)
			stats_add(&p->stats, &one);
		p->stats.garbage++;
		p->synced = false;
		parser_drop(p, 1);
	}
}

void
mav_parser_push(struct mav_parser *p, const uint8_t *data, size_t n, mav_frame_cb *cb, void *arg)
{
	while (n > 0) {
		size_t room = sizeof(p->buf) - p->len, k = n < room ? n : room;

		memcpy(p->buf + p->len, data, k);
		p->len += k;
		data += k;
		n -= k;
		/* The buffer holds two frames' worth, so draining always makes room. */
		parser_drain(p, cb, arg);
	}
}

/* Little-endian readers and writers over the zero-extended payload. */
static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
rd32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static float
rdf(const uint8_t *p)
{
	uint32_t u = rd32(p);
	float v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)v);
	wr16(p + 2, (uint16_t)(v >> 16));
}

int
mav_decode_heartbeat(const struct mav_frame *f, struct mav_heartbeat *m)
{
	const uint8_t *p = f->payload;

	if (f->msgid != MAV_MSG_HEARTBEAT)
		return -EINVAL;
	m->custom_mode = rd32(p);
	m->type = p[4];
	m->autopilot = p[5];
	m->base_mode = p[6];
	m->system_status = p[7];
	m->mavlink_version = p[8];
	return 0;
}

int
mav_decode_sys_status(const struct mav_frame *f, struct mav_sys_status *m)
{
	const uint8_t *p = f->payload;

	if (f->msgid != MAV_MSG_SYS_STATUS)
		return -EINVAL;
	m->sensors_present = rd32(p);
	m->sensors_enabled = rd32(p + 4);
	m->sensors_health = rd32(p + 8);
	m->load = rd16(p + 12);
	m->voltage_battery = rd16(p + 14);
	m->current_battery = (int16_t)rd16(p + 16);
	m->drop_rate_comm = rd16(p + 18);
	m->errors_comm = rd16(p + 20);
	m->battery_remaining = (int8_t)p[30];
	return 0;
}

int
mav_decode_gps_raw_int(const struct mav_frame *f, struct mav_gps_raw_int *m)
{
	const uint8_t *p = f->payload;

	if (f->msgid != MAV_MSG_GPS_RAW_INT)
		return -EINVAL;
	m->time_usec = rd64(p);
	m->lat = (int32_t)rd32(p + 8);
	m->lon = (int32_t)rd32(p + 12);
	m->alt = (int32_t)rd32(p + 16);
	m->eph = rd16(p + 20);
	m->epv = rd16(p + 22);
	m->vel = rd16(p + 24);
	m->cog = rd16(p + 26);
	m->fix_type = p[28];
	m->satellites_visible = p[29];
	m->alt_ellipsoid = (int32_t)rd32(p + 30);
	m->h_acc = rd32(p + 34);
	m->v_acc = rd32(p + 38);
	m->vel_acc = rd32(p + 42);
	m->hdg_acc = rd32(p + 46);
	m->yaw = rd16(p + 50);
	return 0;
}

int
mav_decode_attitude(const struct mav_frame *f, struct mav_attitude *m)
{
	const uint8_t *p = f->payload;

	if (f->msgid != MAV_MSG_ATTITUDE)
		return -EINVAL;
	m->time_boot_ms = rd32(p);
	m->roll = rdf(p + 4);
	m->pitch = rdf(p + 8);
	m->yaw = rdf(p + 12);
	m->rollspeed = rdf(p + 16);
	m->pitchspeed = rdf(p + 20);
	m->yawspeed = rdf(p + 24);
	return 0;
}

int
mav_decode_global_position_int(const struct mav_frame *f, struct mav_global_position_int *m)
{
	const uint8_t *p = f->payload;

	if (f->msgid != MAV_MSG_GLOBAL_POSITION_INT)
		return -EINVAL;
	m->time_boot_ms = rd32(p);
	m->lat = (int32_t)rd32(p + 4);
	m->lon = (int32_t)rd32(p + 8);
	m->alt = (int32_t)rd32(p + 12);
	m->relative_alt = (int32_t)rd32(p + 16);
	m->vx = (int16_t)rd16(p + 20);
	m->vy = (int16_t)rd16(p + 22);
	m->vz = (int16_t)rd16(p + 24);
	m->hdg = rd16(p + 26);
	return 0;
}

int
mav_decode_vfr_hud(const struct mav_frame *f, struct mav_vfr_hud *m)
{
	const uint8_t *p = f->payload;

	if (f->msgid != MAV_MSG_VFR_HUD)
		return -EINVAL;
	m->airspeed = rdf(p);
	m->groundspeed = rdf(p + 4);
	m->alt = rdf(p + 8);
	m->climb = rdf(p + 12);
	m->heading = (int16_t)rd16(p + 16);
	m->throttle = rd16(p + 18);
	return 0;
}

int
mav_decode_battery_status(const struct mav_frame *f, struct mav_battery_status *m)
{
	const uint8_t *p = f->payload;

	if (f->msgid != MAV_MSG_BATTERY_STATUS)
		return -EINVAL;
	m->current_consumed = (int32_t)rd32(p);
	m->energy_consumed = (int32_t)rd32(p + 4);
	m->temperature = (int16_t)rd16(p + 8);
	for (int i = 0; i < 10; i++)
		m->voltages[i] = rd16(p + 10 + 2 * i);
	m->current_battery = (int16_t)rd16(p + 30);
	m->id = p[32];
	m->battery_function = p[33];
	m->type = p[34];
	m->battery_remaining = (int8_t)p[35];
	m->time_remaining = (int32_t)rd32(p + 36);
	m->charge_state = p[40];
	return 0;
}

int
mav_decode_high_latency2(const struct mav_frame *f, struct mav_high_latency2 *m)
{
	const uint8_t *p = f->payload;

	if (f->msgid != MAV_MSG_HIGH_LATENCY2)
		return -EINVAL;
	m->timestamp = rd32(p);
	m->latitude = (int32_t)rd32(p + 4);
	m->longitude = (int32_t)rd32(p + 8);
	m->custom_mode = rd16(p + 12);
	m->altitude = (int16_t)rd16(p + 14);
	m->target_altitude = (int16_t)rd16(p + 16);
	m->target_distance = rd16(p + 18);
	m->wp_num = rd16(p + 20);
	m->failure_flags = rd16(p + 22);
	m->type = p[24];
	m->autopilot = p[25];
	m->heading = p[26];
	m->target_heading = p[27];
	m->throttle = p[28];
	m->airspeed = p[29];
	m->airspeed_sp = p[30];
	m->groundspeed = p[31];
	m->windspeed = p[32];
	m->wind_heading = p[33];
	m->eph = p[34];
	m->epv = p[35];
	m->temperature_air = (int8_t)p[36];
	m->climb_rate = (int8_t)p[37];
	m->battery = (int8_t)p[38];
	m->custom0 = (int8_t)p[39];
	m->custom1 = (int8_t)p[40];
	m->custom2 = (int8_t)p[41];
	return 0;
}

int
mav_decode_statustext(const struct mav_frame *f, struct mav_statustext *m)
{
	const uint8_t *p = f->payload;

	if (f->msgid != MAV_MSG_STATUSTEXT)
		return -EINVAL;
	m->severity = p[0];
	memcpy(m->text, p + 1, 50);
	m->text[50] = '\0';
	m->id = rd16(p + 51);
	m->chunk_seq = p[53];
	return 0;
}

int
mav_position_fix(const struct mav_global_position_int *m, int64_t rx_ms, struct fix *f)
{
	double vn = m->vx / 100.0, ve = m->vy / 100.0;

	if ((m->lat == 0 && m->lon == 0) || m->lat < -900000000 || m->lat > 900000000 ||
	    m->lon < -1800000000 || m->lon > 1800000000)
		return -EINVAL;
	fix_init(f);
	f->time_ms = rx_ms;
	f->lat = m->lat / 1e7;
	f->lon = m->lon / 1e7;
	f->alt = m->alt / 1000.0;
	f->speed = sqrt(vn * vn + ve * ve);
	if (m->vx != 0 || m->vy != 0) {
		f->course = atan2(ve, vn) * 180.0 / M_PI;
		if (f->course < 0)
			f->course += 360.0;
		if (f->course >= 360.0)
			f->course = 0;
	}
	f->source = FIX_MAVLINK;
	f->kind = FIX_DRONE;
	return 0;
}

size_t
mav_encode_global_position_int(const struct mav_global_position_int *m, uint8_t p[28])
{
	wr32(p, m->time_boot_ms);
	wr32(p + 4, (uint32_t)m->lat);
	wr32(p + 8, (uint32_t)m->lon);
	wr32(p + 12, (uint32_t)m->alt);
	wr32(p + 16, (uint32_t)m->relative_alt);
	wr16(p + 20, (uint16_t)m->vx);
	wr16(p + 22, (uint16_t)m->vy);
	wr16(p + 24, (uint16_t)m->vz);
	wr16(p + 26, m->hdg);
	return 28;
}

size_t
mav_encode_heartbeat(const struct mav_heartbeat *m, uint8_t p[9])
{
	wr32(p, m->custom_mode);
	p[4] = m->type;
	p[5] = m->autopilot;
	p[6] = m->base_mode;
	p[7] = m->system_status;
	p[8] = m->mavlink_version;
	return 9;
}

size_t
mav_encode_high_latency2(const struct mav_high_latency2 *m, uint8_t p[MAV_LEN_HIGH_LATENCY2])
{
	wr32(p, m->timestamp);
	wr32(p + 4, (uint32_t)m->latitude);
	wr32(p + 8, (uint32_t)m->longitude);
	wr16(p + 12, m->custom_mode);
	wr16(p + 14, (uint16_t)m->altitude);
	wr16(p + 16, (uint16_t)m->target_altitude);
	wr16(p + 18, m->target_distance);
	wr16(p + 20, m->wp_num);
	wr16(p + 22, m->failure_flags);
	p[24] = m->type;
	p[25] = m->autopilot;
	p[26] = m->heading;
	p[27] = m->target_heading;
	p[28] = m->throttle;
	p[29] = m->airspeed;
	p[30] = m->airspeed_sp;
	p[31] = m->groundspeed;
	p[32] = m->windspeed;
	p[33] = m->wind_heading;
	p[34] = m->eph;
	p[35] = m->epv;
	p[36] = (uint8_t)m->temperature_air;
	p[37] = (uint8_t)m->climb_rate;
	p[38] = (uint8_t)m->battery;
	p[39] = (uint8_t)m->custom0;
	p[40] = (uint8_t)m->custom1;
	p[41] = (uint8_t)m->custom2;
	return MAV_LEN_HIGH_LATENCY2;
}

/* The header, payload and CRC of a frame of hdr header bytes already in buf[0..hdr). */
static ssize_t
build_tail(uint8_t *buf, size_t cap, size_t hdr, uint8_t extra, const uint8_t *payload, size_t len)
{
	uint16_t crc;

	if (hdr + len + MAV_CRC_LEN > cap)
		return -ENOSPC;
	memmove(buf + hdr, payload, len);
	crc = frame_crc(buf, hdr, len, extra);
	buf[hdr + len] = (uint8_t)crc;
	buf[hdr + len + 1] = (uint8_t)(crc >> 8);
	return (ssize_t)(hdr + len + MAV_CRC_LEN);
}

ssize_t
mav_build_v2(uint8_t *buf, size_t cap, uint8_t seq, uint8_t sysid, uint8_t compid,
    uint32_t msgid, const uint8_t *payload, size_t len)
{
	int extra = mav_crc_extra(msgid);

	if (extra < 0)
		return -ENOENT;
	if (len < 1 || len > MAV_PAYLOAD_MAX)
		return -EINVAL;
	/* MAVLink 2 sends a payload without its trailing zeros, but never empty. */
	while (len > 1 && payload[len - 1] == 0)
		len--;
	if (cap < MAV_V2_HDR)
		return -ENOSPC;
	buf[0] = MAV_STX_V2;
	buf[1] = (uint8_t)len;
	buf[2] = 0;
	buf[3] = 0;
	buf[4] = seq;
	buf[5] = sysid;
	buf[6] = compid;
	buf[7] = (uint8_t)msgid;
	buf[8] = (uint8_t)(msgid >> 8);
	buf[9] = (uint8_t)(msgid >> 16);
	return build_tail(buf, cap, MAV_V2_HDR, (uint8_t)extra, payload, len);
}

ssize_t
mav_build_v1(uint8_t *buf, size_t cap, uint8_t seq, uint8_t sysid, uint8_t compid,
    uint32_t msgid, const uint8_t *payload, size_t len)
{
	int extra = mav_crc_extra(msgid);

	if (extra < 0)
		return -ENOENT;
	if (msgid > 0xff || len > MAV_PAYLOAD_MAX)
		return -EINVAL;
	if (cap < MAV_V1_HDR)
		return -ENOSPC;
	buf[0] = MAV_STX_V1;
	buf[1] = (uint8_t)len;
	buf[2] = seq;
	buf[3] = sysid;
	buf[4] = compid;
	buf[5] = (uint8_t)msgid;
	return build_tail(buf, cap, MAV_V1_HDR, (uint8_t)extra, payload, len);
}
