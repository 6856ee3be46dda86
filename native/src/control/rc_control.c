// SPDX-License-Identifier: MIT
/*
 * ringcast control messages: decode and encode the datagrams of
 * ringcast_control.h. Pure functions over caller buffers: no allocation, no
 * I/O, no state, so libFuzzer can drive them directly (native/fuzz).
 *
 * One set of rules serves both directions: decode checks the bytes, encode
 * checks the struct with the same predicates, so encode never produces a
 * datagram that decode refuses and the encoding of a message is unique.
 */
#include "ringcast_control.h"

#include <string.h>

#include "ringcast.h"

/* ---- little-endian access at any alignment ------------------------------ */

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (uint16_t)p[1] << 8); }

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)v);
	put_u32(p + 4, (uint32_t)(v >> 32));
}

#define HDR(field)     offsetof(struct rc_control_header, field)
#define HELLO(field)   (RC_CONTROL_HEADER_SIZE + offsetof(struct rc_control_hello, field))
#define WELCOME(field) (RC_CONTROL_HEADER_SIZE + offsetof(struct rc_control_welcome, field))
#define REFUSED(field) (RC_CONTROL_HEADER_SIZE + offsetof(struct rc_control_refused, field))
#define REFUSED_TEXT   (RC_CONTROL_HEADER_SIZE + RC_CONTROL_REFUSED_BASE_SIZE)

/* ---- the rules, shared by decode and encode ----------------------------- */

static bool role_valid(uint32_t role) { return role >= 1 && role <= RC_ROLE_MAX; }

static bool reason_valid(uint32_t reason) { return reason >= 1 && reason <= RC_REFUSE_MAX; }

static bool slot_valid(int32_t slot) { return slot >= -1 && slot < (int32_t)RC_MAX_SUBSCRIBERS; }

/* Well-formed UTF-8 (Unicode 15, table 3-7) without NUL: byte checks only.
 * Rejects overlong forms, UTF-16 surrogates (ED A0..BF), code points above
 * U+10FFFF and sequences cut by the end of the text. */
static bool text_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint8_t lo = 0x80, hi = 0xbf;
		size_t n;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong below U+0800 */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates U+D800..DFFF */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong below U+10000 */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else {
			return false; /* continuation byte, C0, C1, F5..FF */
		}
		if (len - i - 1 < n)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += n + 1;
	}
	return true;
}

/* Body size the type requires; 0 with *known false for an unknown type. */
static size_t body_size(uint32_t type, uint32_t text_length, bool *known)
{
	*known = true;
	switch (type) {
	case RC_CONTROL_HELLO: return RC_CONTROL_HELLO_SIZE;
	case RC_CONTROL_WELCOME: return RC_CONTROL_WELCOME_SIZE;
	case RC_CONTROL_REFUSED: return RC_CONTROL_REFUSED_BASE_SIZE + (size_t)text_length;
	case RC_CONTROL_DETACH: return RC_CONTROL_DETACH_SIZE;
	case RC_CONTROL_REJOIN: return RC_CONTROL_REJOIN_SIZE;
	default: *known = false; return 0;
	}
}

/* Every rule on the decoded form; decode applies it to what it read. */
static bool msg_valid(const struct rc_control_msg *m)
{
	if (m->reserved != 0)
		return false;
	switch (m->type) {
	case RC_CONTROL_HELLO:
		return m->u.hello.version != 0 && role_valid(m->u.hello.role);
	case RC_CONTROL_WELCOME:
		return m->u.welcome.version != 0 && slot_valid(m->u.welcome.slot);
	case RC_CONTROL_REFUSED:
		return reason_valid(m->u.refused.reason) && m->u.refused.text_length <= RC_CONTROL_MAX_TEXT &&
		       text_valid((const uint8_t *)m->u.refused.text, m->u.refused.text_length);
	case RC_CONTROL_DETACH:
	case RC_CONTROL_REJOIN:
		return true;
	default:
		return false;
	}
}

/* ---- decode ------------------------------------------------------------- */

int rc_control_decode(const void *buf, size_t len, struct rc_control_msg *out)
{
	const uint8_t *p = buf;
	uint32_t type, body_length, text_length = 0;
	size_t want;
	bool known;

	if (!out)
		return RC_EINVAL;
	memset(out, 0, sizeof(*out));
	if (len > RC_CONTROL_MAX_SIZE)
		return RC_ETOOBIG;
	if (!buf || len < RC_CONTROL_HEADER_SIZE)
		return RC_EINVAL;
	type = get_u16(p + HDR(type));
	body_length = get_u32(p + HDR(body_length));
	if (get_u32(p + HDR(magic)) != RC_CONTROL_MAGIC || get_u16(p + HDR(version)) != RC_CONTROL_VERSION ||
	    get_u32(p + HDR(reserved)) != 0)
		return RC_EINVAL;
	/* The datagram is exactly header + body: no short body, no trailer. */
	if (body_length != len - RC_CONTROL_HEADER_SIZE)
		return RC_EINVAL;
	if (type == RC_CONTROL_REFUSED) {
		if (body_length < RC_CONTROL_REFUSED_BASE_SIZE)
			return RC_EINVAL;
		text_length = get_u16(p + REFUSED(text_length));
	}
	want = body_size(type, text_length, &known);
	if (!known || body_length != want)
		return RC_EINVAL;

	out->type = type;
	switch (type) {
	case RC_CONTROL_HELLO:
		if (get_u64(p + HELLO(reserved)) != 0)
			goto invalid;
		out->u.hello.version = get_u32(p + HELLO(version));
		out->u.hello.role = get_u32(p + HELLO(role));
		break;
	case RC_CONTROL_WELCOME:
		if (get_u64(p + WELCOME(reserved)) != 0)
			goto invalid;
		out->u.welcome.version = get_u32(p + WELCOME(version));
		out->u.welcome.slot = (int32_t)get_u32(p + WELCOME(slot));
		out->u.welcome.generation = get_u64(p + WELCOME(generation));
		out->u.welcome.next_seq = get_u64(p + WELCOME(next_seq));
		break;
	case RC_CONTROL_REFUSED:
		if (get_u16(p + REFUSED(reserved)) != 0 || text_length > RC_CONTROL_MAX_TEXT)
			goto invalid;
		out->u.refused.reason = get_u32(p + REFUSED(reason));
		out->u.refused.text_length = text_length;
		memcpy(out->u.refused.text, p + REFUSED_TEXT, text_length);
		break;
	default:
		break; /* DETACH, REJOIN: no body */
	}
	if (!msg_valid(out))
		goto invalid;
	return RC_OK;

invalid:
	memset(out, 0, sizeof(*out));
	return RC_EINVAL;
}

/* ---- encode ------------------------------------------------------------- */

int rc_control_encode(const struct rc_control_msg *msg, void *buf, size_t cap)
{
	uint8_t *p = buf;
	size_t body, len;
	bool known;

	if (!msg || !buf || !msg_valid(msg))
		return RC_EINVAL;
	body = body_size(msg->type, msg->type == RC_CONTROL_REFUSED ? msg->u.refused.text_length : 0, &known);
	len = RC_CONTROL_HEADER_SIZE + body;
	if (len > cap)
		return RC_ETOOBIG;

	memset(p, 0, len); /* every reserved field */
	put_u32(p + HDR(magic), RC_CONTROL_MAGIC);
	put_u16(p + HDR(version), RC_CONTROL_VERSION);
	put_u16(p + HDR(type), (uint16_t)msg->type);
	put_u32(p + HDR(body_length), (uint32_t)body);
	switch (msg->type) {
	case RC_CONTROL_HELLO:
		put_u32(p + HELLO(version), msg->u.hello.version);
		put_u32(p + HELLO(role), msg->u.hello.role);
		break;
	case RC_CONTROL_WELCOME:
		put_u32(p + WELCOME(version), msg->u.welcome.version);
		put_u32(p + WELCOME(slot), (uint32_t)msg->u.welcome.slot);
		put_u64(p + WELCOME(generation), msg->u.welcome.generation);
		put_u64(p + WELCOME(next_seq), msg->u.welcome.next_seq);
		break;
	case RC_CONTROL_REFUSED:
		put_u32(p + REFUSED(reason), msg->u.refused.reason);
		put_u16(p + REFUSED(text_length), (uint16_t)msg->u.refused.text_length);
		memcpy(p + REFUSED_TEXT, msg->u.refused.text, msg->u.refused.text_length);
		break;
	default:
		break;
	}
	return (int)len;
}
