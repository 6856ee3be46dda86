// SPDX-License-Identifier: MIT
/*
 * Control-message codec: every message type survives encode -> decode, the
 * wire bytes are pinned, and each rule of ringcast_control.h rejects the one
 * datagram that breaks it (each bad case is a valid datagram with exactly
 * one thing wrong, so a rejection cannot come from another rule). Buffers
 * are heap copies of exactly the datagram's length: AddressSanitizer turns
 * any read past it into a failure.
 */
#include "rc_test.h"
#include "ringcast_control.h"

static uint8_t wire[RC_CONTROL_MAX_SIZE];

static struct rc_control_msg hello(uint32_t version, uint32_t role)
{
	struct rc_control_msg m;

	memset(&m, 0, sizeof(m));
	m.type = RC_CONTROL_HELLO;
	m.u.hello.version = version;
	m.u.hello.role = role;
	return m;
}

static struct rc_control_msg welcome(int32_t slot, uint64_t generation, uint64_t next_seq)
{
	struct rc_control_msg m;

	memset(&m, 0, sizeof(m));
	m.type = RC_CONTROL_WELCOME;
	m.u.welcome.version = RC_PROTOCOL_VERSION;
	m.u.welcome.slot = slot;
	m.u.welcome.generation = generation;
	m.u.welcome.next_seq = next_seq;
	return m;
}

static struct rc_control_msg refused(uint32_t reason, const char *text)
{
	struct rc_control_msg m;

	memset(&m, 0, sizeof(m));
	m.type = RC_CONTROL_REFUSED;
	m.u.refused.reason = reason;
	m.u.refused.text_length = (uint32_t)strlen(text);
	CHECK(m.u.refused.text_length <= RC_CONTROL_MAX_TEXT);
	memcpy(m.u.refused.text, text, m.u.refused.text_length);
	return m;
}

static struct rc_control_msg bare(uint32_t type)
{
	struct rc_control_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	return m;
}

/* Decodes `len` bytes from an exact-size heap copy. */
static int decode_exact(const uint8_t *bytes, size_t len, struct rc_control_msg *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	int r;

	CHECK(copy != NULL);
	if (len)
		memcpy(copy, bytes, len);
	r = rc_control_decode(copy, len, out);
	free(copy);
	return r;
}

/* Encodes `m`, checks the length, decodes it back, and checks that the
 * result equals `m` and encodes to the same bytes. Returns the length. */
static size_t round_trip(const struct rc_control_msg *m, size_t want_len)
{
	struct rc_control_msg back;
	uint8_t again[RC_CONTROL_MAX_SIZE];
	int len = rc_control_encode(m, wire, sizeof(wire));

	CHECK_EQ(len, want_len);
	CHECK_STATUS(decode_exact(wire, (size_t)len, &back), RC_OK);
	CHECK(memcmp(&back, m, sizeof(back)) == 0);
	CHECK_EQ(rc_control_encode(&back, again, sizeof(again)), len);
	CHECK(memcmp(again, wire, (size_t)len) == 0);
	return (size_t)len;
}

static void expect_rejected(const uint8_t *bytes, size_t len, int want)
{
	struct rc_control_msg out;

	memset(&out, 0xa5, sizeof(out));
	CHECK_STATUS(decode_exact(bytes, len, &out), want);
	/* nothing half-filled survives a rejection */
	for (size_t i = 0; i < sizeof(out); i++)
		CHECK_EQ(((const uint8_t *)&out)[i], 0);
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- round trips -------------------------------------------------------- */

static void every_type_round_trips(void)
{
	const size_t h = RC_CONTROL_HEADER_SIZE;
	struct rc_control_msg m;

	for (uint32_t role = 1; role <= RC_ROLE_MAX; role++) {
		m = hello(RC_PROTOCOL_VERSION, role);
		round_trip(&m, h + RC_CONTROL_HELLO_SIZE);
	}
	m = hello(99, RC_ROLE_SUBSCRIBE); /* another version decodes: refused by policy, not by the codec */
	round_trip(&m, h + RC_CONTROL_HELLO_SIZE);
	m = hello(UINT32_MAX, RC_ROLE_INSPECT);
	round_trip(&m, h + RC_CONTROL_HELLO_SIZE);

	m = welcome(-1, 0, 0);
	round_trip(&m, h + RC_CONTROL_WELCOME_SIZE);
	m = welcome(0, 1, 12345);
	round_trip(&m, h + RC_CONTROL_WELCOME_SIZE);
	m = welcome(RC_MAX_SUBSCRIBERS - 1, UINT64_MAX, UINT64_MAX - 1);
	round_trip(&m, h + RC_CONTROL_WELCOME_SIZE);

	for (uint32_t reason = 1; reason <= RC_REFUSE_MAX; reason++) {
		m = refused(reason, "bus has 2 subscribers");
		round_trip(&m, h + RC_CONTROL_REFUSED_BASE_SIZE + strlen("bus has 2 subscribers"));
	}
	m = refused(RC_REFUSE_PROTOCOL, "");
	round_trip(&m, h + RC_CONTROL_REFUSED_BASE_SIZE);
	m = refused(RC_REFUSE_PROTOCOL, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x8c \xf4\x8f\xbf\xbf");
	round_trip(&m, h + RC_CONTROL_REFUSED_BASE_SIZE + m.u.refused.text_length);
	{
		char longest[RC_CONTROL_MAX_TEXT + 1];

		memset(longest, 'x', RC_CONTROL_MAX_TEXT);
		longest[RC_CONTROL_MAX_TEXT] = 0;
		m = refused(RC_REFUSE_TIMEOUT, longest);
		CHECK_EQ(round_trip(&m, h + RC_CONTROL_REFUSED_BASE_SIZE + RC_CONTROL_MAX_TEXT),
			 RC_CONTROL_HEADER_SIZE + RC_CONTROL_REFUSED_BASE_SIZE + RC_CONTROL_MAX_TEXT);
		CHECK_EQ(strlen(m.u.refused.text), RC_CONTROL_MAX_TEXT);
	}

	m = bare(RC_CONTROL_DETACH);
	round_trip(&m, h);
	m = bare(RC_CONTROL_REJOIN);
	round_trip(&m, h);
}

/* The bytes on the wire, pinned: little-endian, fields where the header
 * says. A change here is a protocol change. */
static void wire_bytes_are_pinned(void)
{
	static const uint8_t want_hello[] = {
		'R', 'C', 'T', 'L', 1, 0, 1, 0, 16, 0, 0, 0, 0, 0, 0, 0, /* header */
		1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          /* v1, channel */
	};
	static const uint8_t want_welcome[] = {
		'R', 'C', 'T', 'L', 1, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0,
		1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,                      /* v1, slot -1 */
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,          /* generation */
		0x2a, 0, 0, 0, 0, 0, 0, 0,                               /* next_seq 42 */
		0, 0, 0, 0, 0, 0, 0, 0,
	};
	static const uint8_t want_refused[] = {
		'R', 'C', 'T', 'L', 1, 0, 3, 0, 10, 0, 0, 0, 0, 0, 0, 0,
		3, 0, 0, 0, 2, 0, 0, 0, 'n', 'o',                        /* full, "no" */
	};
	static const uint8_t want_detach[] = { 'R', 'C', 'T', 'L', 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	struct rc_control_msg m;

	m = hello(1, RC_ROLE_CHANNEL);
	CHECK_EQ(rc_control_encode(&m, wire, sizeof(wire)), sizeof(want_hello));
	CHECK(memcmp(wire, want_hello, sizeof(want_hello)) == 0);
	m = welcome(-1, 0x0102030405060708ULL, 42);
	CHECK_EQ(rc_control_encode(&m, wire, sizeof(wire)), sizeof(want_welcome));
	CHECK(memcmp(wire, want_welcome, sizeof(want_welcome)) == 0);
	m = refused(RC_REFUSE_FULL, "no");
	CHECK_EQ(rc_control_encode(&m, wire, sizeof(wire)), sizeof(want_refused));
	CHECK(memcmp(wire, want_refused, sizeof(want_refused)) == 0);
	m = bare(RC_CONTROL_DETACH);
	CHECK_EQ(rc_control_encode(&m, wire, sizeof(wire)), sizeof(want_detach));
	CHECK(memcmp(wire, want_detach, sizeof(want_detach)) == 0);
	CHECK_STATUS(decode_exact(want_welcome, sizeof(want_welcome), &m), RC_OK);
	CHECK(m.u.welcome.slot == -1);
	CHECK_EQ(m.u.welcome.generation, 0x0102030405060708ULL);
	CHECK_EQ(m.u.welcome.next_seq, 42);
}

/* Decode reads integers byte by byte: any alignment of the buffer works. */
static void decodes_at_any_alignment(void)
{
	struct rc_control_msg m = welcome(7, 0x1122334455667788ULL, 99), back;
	uint8_t shifted[RC_CONTROL_MAX_SIZE + 8];
	int len = rc_control_encode(&m, wire, sizeof(wire));

	CHECK(len > 0);
	for (int shift = 0; shift < 8; shift++) {
		memcpy(shifted + shift, wire, (size_t)len);
		CHECK_STATUS(rc_control_decode(shifted + shift, (size_t)len, &back), RC_OK);
		CHECK(memcmp(&back, &m, sizeof(m)) == 0);
		CHECK_EQ(rc_control_encode(&m, shifted + shift, (size_t)len), len);
		CHECK(memcmp(shifted + shift, wire, (size_t)len) == 0);
	}
}

/* ---- every rejection rule ----------------------------------------------- */

/* A fresh valid datagram of `m` in `buf`; returns its length. */
static size_t valid(const struct rc_control_msg *m, uint8_t *buf)
{
	int len = rc_control_encode(m, buf, RC_CONTROL_MAX_SIZE);

	CHECK(len > 0);
	return (size_t)len;
}

/* Sets each of `count` reserved bytes from `offset` of m's encoding to
 * `value`, one at a time: decode must refuse every one. */
static void expect_reserved_enforced(const struct rc_control_msg *m, size_t offset, size_t count,
				     uint8_t value)
{
	uint8_t b[RC_CONTROL_MAX_SIZE];

	for (size_t i = 0; i < count; i++) {
		size_t len = valid(m, b);

		b[offset + i] = value;
		expect_rejected(b, len, RC_EINVAL);
	}
}

static void header_rules(void)
{
	struct rc_control_msg m = hello(1, RC_ROLE_SUBSCRIBE), scratch;
	uint8_t b[RC_CONTROL_MAX_SIZE + 64];
	size_t len;

	/* too short to hold a header, at every length */
	len = valid(&m, b);
	for (size_t n = 0; n < RC_CONTROL_HEADER_SIZE; n++)
		expect_rejected(b, n, RC_EINVAL);
	CHECK_STATUS(rc_control_decode(NULL, 0, &scratch), RC_EINVAL);
	CHECK_STATUS(rc_control_decode(b, len, NULL), RC_EINVAL);

	/* longer than RC_CONTROL_MAX_SIZE, whatever it holds */
	memset(b, 0, sizeof(b));
	expect_rejected(b, RC_CONTROL_MAX_SIZE + 1, RC_ETOOBIG);
	expect_rejected(b, RC_CONTROL_MAX_SIZE + 64, RC_ETOOBIG);

	/* magic: every byte matters */
	for (int i = 0; i < 4; i++) {
		len = valid(&m, b);
		b[i] ^= 0x20;
		expect_rejected(b, len, RC_EINVAL);
	}
	/* header version: only RC_CONTROL_VERSION */
	for (uint32_t v = 0; v < 8; v++) {
		if (v == RC_CONTROL_VERSION)
			continue;
		len = valid(&m, b);
		put_le(b + 4, v, 2);
		expect_rejected(b, len, RC_EINVAL);
	}
	len = valid(&m, b);
	put_le(b + 4, 0x0101, 2); /* version's high byte */
	expect_rejected(b, len, RC_EINVAL);
	/* header reserved: every byte */
	expect_reserved_enforced(&m, 12, 4, 1);
	/* unknown types, with a body length that would fit a hello */
	for (uint32_t t = 0; t <= 0xffff; t += (t < 16 ? 1 : 0x1111)) {
		if (t >= RC_CONTROL_HELLO && t <= RC_CONTROL_TYPE_MAX)
			continue;
		len = valid(&m, b);
		put_le(b + 6, t, 2);
		expect_rejected(b, len, RC_EINVAL);
	}
}

static void body_length_rules(void)
{
	struct rc_control_msg all[] = {
		hello(1, RC_ROLE_SUBSCRIBE), welcome(3, 4, 5), refused(RC_REFUSE_QUOTA, "quota"),
		bare(RC_CONTROL_DETACH), bare(RC_CONTROL_REJOIN),
	};
	uint8_t b[RC_CONTROL_MAX_SIZE];

	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
		size_t len = valid(&all[k], b);
		uint32_t body = (uint32_t)(len - RC_CONTROL_HEADER_SIZE);

		/* cut short at every length: the datagram no longer matches */
		for (size_t n = RC_CONTROL_HEADER_SIZE; n < len; n++)
			expect_rejected(b, n, RC_EINVAL);
		/* a trailing byte */
		b[len] = 0;
		expect_rejected(b, len + 1, RC_EINVAL);
		/* body_length that lies (one more, one less, huge), bytes unchanged */
		put_le(b + 8, body + 1, 4);
		expect_rejected(b, len, RC_EINVAL);
		if (body) {
			put_le(b + 8, body - 1, 4);
			expect_rejected(b, len, RC_EINVAL);
		}
		put_le(b + 8, 0xffffffffu, 4);
		expect_rejected(b, len, RC_EINVAL);
		/* body_length and datagram agree, but not with the type */
		len = valid(&all[k], b);
		memset(b + len, 0, 8);
		put_le(b + 8, body + 8, 4);
		expect_rejected(b, len + 8, RC_EINVAL);
	}
}

static void hello_rules(void)
{
	struct rc_control_msg m = hello(1, RC_ROLE_SUBSCRIBE);
	const size_t body = RC_CONTROL_HEADER_SIZE;
	uint8_t b[RC_CONTROL_MAX_SIZE];
	size_t len;

	len = valid(&m, b);
	put_le(b + body + 0, 0, 4); /* version 0 */
	expect_rejected(b, len, RC_EINVAL);
	for (uint32_t role = 0; role < 8; role++) {
		if (role >= 1 && role <= RC_ROLE_MAX)
			continue;
		len = valid(&m, b);
		put_le(b + body + 4, role, 4);
		expect_rejected(b, len, RC_EINVAL);
	}
	len = valid(&m, b);
	put_le(b + body + 4, 0x100 | RC_ROLE_SUBSCRIBE, 4); /* a high byte set */
	expect_rejected(b, len, RC_EINVAL);
	expect_reserved_enforced(&m, body + 8, 8, 0x80);
}

static void welcome_rules(void)
{
	struct rc_control_msg m = welcome(0, 1, 2);
	const size_t body = RC_CONTROL_HEADER_SIZE;
	const int64_t bad_slots[] = { -2, INT32_MIN, RC_MAX_SUBSCRIBERS, RC_MAX_SUBSCRIBERS + 1, INT32_MAX };
	uint8_t b[RC_CONTROL_MAX_SIZE];
	size_t len;

	len = valid(&m, b);
	put_le(b + body + 0, 0, 4); /* version 0 */
	expect_rejected(b, len, RC_EINVAL);
	for (size_t i = 0; i < sizeof(bad_slots) / sizeof(bad_slots[0]); i++) {
		len = valid(&m, b);
		put_le(b + body + 4, (uint64_t)bad_slots[i], 4);
		expect_rejected(b, len, RC_EINVAL);
	}
	expect_reserved_enforced(&m, body + 24, 8, 1);
}

static void refused_rules(void)
{
	struct rc_control_msg m = refused(RC_REFUSE_FULL, "abc");
	const size_t body = RC_CONTROL_HEADER_SIZE;
	uint8_t b[RC_CONTROL_MAX_SIZE];
	size_t len;

	for (uint32_t reason = 0; reason < 16; reason++) {
		if (reason >= 1 && reason <= RC_REFUSE_MAX)
			continue;
		len = valid(&m, b);
		put_le(b + body, reason, 4);
		expect_rejected(b, len, RC_EINVAL);
	}
	expect_reserved_enforced(&m, body + 6, 2, 1);
	/* text_length disagrees with the body */
	len = valid(&m, b);
	put_le(b + body + 4, 2, 2);
	expect_rejected(b, len, RC_EINVAL);
	len = valid(&m, b);
	put_le(b + body + 4, 4, 2);
	expect_rejected(b, len, RC_EINVAL);
	/* a body too short to hold text_length itself */
	len = valid(&m, b);
	put_le(b + 8, 4, 4);
	expect_rejected(b, RC_CONTROL_HEADER_SIZE + 4, RC_EINVAL);
	/* text longer than RC_CONTROL_MAX_TEXT, consistent otherwise and within
	 * RC_CONTROL_MAX_SIZE: refused by the text bound alone */
	for (uint32_t n = RC_CONTROL_MAX_TEXT + 1; n <= RC_CONTROL_MAX_SIZE - 24; n += 97) {
		memset(b, 0, sizeof(b));
		valid(&m, b);
		put_le(b + 8, RC_CONTROL_REFUSED_BASE_SIZE + n, 4);
		put_le(b + body + 4, n, 2);
		memset(b + body + 8, 'x', n);
		expect_rejected(b, RC_CONTROL_HEADER_SIZE + RC_CONTROL_REFUSED_BASE_SIZE + n, RC_EINVAL);
	}
}

/* The text is checked byte by byte as UTF-8; it is never parsed further. */
static void refused_text_rules(void)
{
	static const char *const bad[] = {
		"a\0b",                 /* NUL */
		"\x80",                 /* lone continuation byte */
		"\xbf",
		"\xc0\xaf",             /* overlong '/' */
		"\xc1\xbf",             /* overlong */
		"\xc2",                 /* cut short */
		"\xc2\x41",             /* bad continuation */
		"\xe0\x80\xaf",         /* overlong 3-byte */
		"\xe0\x9f\xbf",         /* overlong U+07FF */
		"\xed\xa0\x80",         /* surrogate U+D800 */
		"\xed\xbf\xbf",         /* surrogate U+DFFF */
		"\xe2\x82",             /* cut short */
		"\xe2\x28\xa1",         /* bad second byte */
		"\xe2\x82\x28",         /* bad third byte */
		"\xf0\x80\x80\xaf",     /* overlong 4-byte */
		"\xf0\x8f\xbf\xbf",     /* overlong U+FFFF */
		"\xf4\x90\x80\x80",     /* U+110000 */
		"\xf5\x80\x80\x80",     /* F5 lead */
		"\xf8\x88\x80\x80\x80", /* 5-byte form */
		"\xfe",
		"\xff",
		"\xf0\x9f\x9a",         /* cut short */
		"\xf0\x9f\x9a\x28",     /* bad fourth byte */
	};
	static const size_t bad_len[] = { 3, 1, 1, 2, 2, 1, 2, 3, 3, 3, 3, 2, 3, 3, 4, 4, 4, 4, 5, 1, 1, 3, 4 };
	static const char *const good[] = {
		"\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
		"\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\t\r\n\x01\x1f",
	};
	struct rc_control_msg m, back;
	uint8_t b[RC_CONTROL_MAX_SIZE];

	CHECK_EQ(sizeof(bad) / sizeof(bad[0]), sizeof(bad_len) / sizeof(bad_len[0]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* the bad bytes at the start, middle and end of a text */
		for (size_t at = 0; at <= 2; at++) {
			size_t n = 0, len;

			memset(&m, 0, sizeof(m));
			m.type = RC_CONTROL_REFUSED;
			m.u.refused.reason = RC_REFUSE_PROTOCOL;
			if (at >= 1) {
				memcpy(m.u.refused.text, "ok ", 3);
				n = 3;
			}
			memcpy(m.u.refused.text + n, bad[i], bad_len[i]);
			n += bad_len[i];
			if (at == 1) {
				memcpy(m.u.refused.text + n, " ok", 3);
				n += 3;
			}
			m.u.refused.text_length = (uint32_t)n;
			/* encode refuses to write it ... */
			CHECK_STATUS(rc_control_encode(&m, b, sizeof(b)), RC_EINVAL);
			/* ... and decode refuses to read it */
			len = RC_CONTROL_HEADER_SIZE + RC_CONTROL_REFUSED_BASE_SIZE + n;
			memset(b, 0, sizeof(b));
			put_le(b, RC_CONTROL_MAGIC, 4);
			put_le(b + 4, RC_CONTROL_VERSION, 2);
			put_le(b + 6, RC_CONTROL_REFUSED, 2);
			put_le(b + 8, RC_CONTROL_REFUSED_BASE_SIZE + n, 4);
			put_le(b + 16, RC_REFUSE_PROTOCOL, 4);
			put_le(b + 20, n, 2);
			memcpy(b + 24, m.u.refused.text, n);
			expect_rejected(b, len, RC_EINVAL);
		}
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		m = refused(RC_REFUSE_PROTOCOL, good[i]);
		round_trip(&m, RC_CONTROL_HEADER_SIZE + RC_CONTROL_REFUSED_BASE_SIZE + strlen(good[i]));
		CHECK_STATUS(decode_exact(wire, RC_CONTROL_HEADER_SIZE + RC_CONTROL_REFUSED_BASE_SIZE + strlen(good[i]),
					  &back), RC_OK);
		CHECK(strcmp(back.u.refused.text, good[i]) == 0);
	}
}

/* Encode applies decode's rules to the struct and never overruns `cap`. */
static void encode_rules(void)
{
	struct rc_control_msg m;
	uint8_t *exact;
	int len;

	m = hello(0, RC_ROLE_SUBSCRIBE);
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	m = hello(1, 0);
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	m = hello(1, RC_ROLE_MAX + 1);
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	m = hello(1, RC_ROLE_SUBSCRIBE);
	m.reserved = 1;
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	m = welcome(-2, 0, 0);
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	m = welcome(RC_MAX_SUBSCRIBERS, 0, 0);
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	m = welcome(0, 0, 0);
	m.u.welcome.version = 0;
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	m = refused(0, "x");
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	m = refused(RC_REFUSE_MAX + 1, "x");
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	m = refused(RC_REFUSE_FULL, "x");
	m.u.refused.text_length = RC_CONTROL_MAX_TEXT + 1;
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	m.u.refused.text_length = UINT32_MAX;
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	m = bare(0);
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	m = bare(RC_CONTROL_TYPE_MAX + 1);
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	m = bare(0x10000 + RC_CONTROL_DETACH); /* must not alias DETACH in 16 bits */
	CHECK_STATUS(rc_control_encode(&m, wire, sizeof(wire)), RC_EINVAL);
	CHECK_STATUS(rc_control_encode(NULL, wire, sizeof(wire)), RC_EINVAL);
	m = bare(RC_CONTROL_DETACH);
	CHECK_STATUS(rc_control_encode(&m, NULL, 64), RC_EINVAL);

	/* cap: one byte short is refused, exact fits (ASan checks the bound) */
	m = welcome(1, 2, 3);
	len = rc_control_encode(&m, wire, sizeof(wire));
	CHECK_EQ(len, RC_CONTROL_HEADER_SIZE + RC_CONTROL_WELCOME_SIZE);
	exact = malloc((size_t)len);
	CHECK(exact != NULL);
	CHECK_STATUS(rc_control_encode(&m, exact, (size_t)len - 1), RC_ETOOBIG);
	CHECK_EQ(rc_control_encode(&m, exact, (size_t)len), len);
	CHECK(memcmp(exact, wire, (size_t)len) == 0);
	free(exact);
	m = bare(RC_CONTROL_REJOIN);
	CHECK_STATUS(rc_control_encode(&m, wire, RC_CONTROL_HEADER_SIZE - 1), RC_ETOOBIG);
	CHECK_STATUS(rc_control_encode(&m, wire, 0), RC_ETOOBIG);
}

/* Every single-bit flip of every valid datagram is either rejected or
 * decodes to a message that re-encodes to exactly the flipped bytes: the
 * encoding is canonical, and no flip reaches outside the buffer. */
static void bit_flips_are_rejected_or_canonical(void)
{
	struct rc_control_msg all[] = {
		hello(1, RC_ROLE_INSPECT), welcome(-1, 0, 0), welcome(12, 99, 1000),
		refused(RC_REFUSE_VERSION, "protocol version 2 not supported"),
		refused(RC_REFUSE_ALLOW_LIST, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x9a\x8c"),
		bare(RC_CONTROL_DETACH), bare(RC_CONTROL_REJOIN),
	};
	uint8_t b[RC_CONTROL_MAX_SIZE], again[RC_CONTROL_MAX_SIZE];
	unsigned accepted = 0, rejected = 0;

	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
		size_t len = valid(&all[k], b);

		for (size_t bit = 0; bit < len * 8; bit++) {
			struct rc_control_msg out;
			int r;

			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			r = decode_exact(b, len, &out);
			if (r == RC_OK) {
				CHECK_EQ(rc_control_encode(&out, again, sizeof(again)), len);
				CHECK(memcmp(again, b, len) == 0);
				accepted++;
			} else {
				CHECK_STATUS(r, RC_EINVAL);
				rejected++;
			}
			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	}
	CHECK(accepted > 0 && rejected > 0);
}

int main(void)
{
	RUN(every_type_round_trips);
	RUN(wire_bytes_are_pinned);
	RUN(decodes_at_any_alignment);
	RUN(header_rules);
	RUN(body_length_rules);
	RUN(hello_rules);
	RUN(welcome_rules);
	RUN(refused_rules);
	RUN(refused_text_rules);
	RUN(encode_rules);
	RUN(bit_flips_are_rejected_or_canonical);
	return rc_test_done("test_control");
}
