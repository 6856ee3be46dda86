// SPDX-License-Identifier: MIT
/*
 * Writes the committed seed corpora of the fuzz targets:
 *
 *   gen_corpus <dir>   -> <dir>/control/<name>   valid control datagrams
 *                         <dir>/record/<name>    fuzz_record_reader inputs
 *                                                (fuzz_record_input.h)
 *
 * Small, valid and deterministic, one per behaviour the fuzzer should start
 * from; run by `make -C native/fuzz corpus` and committed as its output.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_record_input.h"
#include "ringcast.h"
#include "ringcast_control.h"

static const char *root;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void write_file(const char *sub, const char *name, const void *bytes, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, sub);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", root, sub, name);
	f = fopen(path, "wb");
	if (!f || fwrite(bytes, 1, len, f) != len || fclose(f) != 0)
		die(path);
}

/* ---- control ------------------------------------------------------------ */

static void control(const char *name, struct rc_control_msg m)
{
	uint8_t wire[RC_CONTROL_MAX_SIZE];
	int len = rc_control_encode(&m, wire, sizeof(wire));

	if (len < 0) {
		fprintf(stderr, "%s: encode failed (%s)\n", name, rc_status_name(len));
		exit(1);
	}
	write_file("control", name, wire, (size_t)len);
}

static struct rc_control_msg refused(uint32_t reason, const char *text)
{
	struct rc_control_msg m = { .type = RC_CONTROL_REFUSED };

	m.u.refused.reason = reason;
	m.u.refused.text_length = (uint32_t)strlen(text);
	memcpy(m.u.refused.text, text, strlen(text));
	return m;
}

static void control_seeds(void)
{
	struct rc_control_msg m;

	m = (struct rc_control_msg){ .type = RC_CONTROL_HELLO };
	m.u.hello.version = RC_PROTOCOL_VERSION;
	m.u.hello.role = RC_ROLE_SUBSCRIBE;
	control("hello-subscribe", m);
	m.u.hello.role = RC_ROLE_INSPECT;
	control("hello-inspect", m);
	m.u.hello.role = RC_ROLE_CHANNEL;
	m.u.hello.version = 2;
	control("hello-channel-v2", m);

	m = (struct rc_control_msg){ .type = RC_CONTROL_WELCOME };
	m.u.welcome.version = RC_PROTOCOL_VERSION;
	m.u.welcome.slot = 3;
	m.u.welcome.generation = 7;
	m.u.welcome.next_seq = 123456;
	control("welcome-subscriber", m);
	m.u.welcome.slot = -1;
	m.u.welcome.generation = 0;
	m.u.welcome.next_seq = 0;
	control("welcome-inspect", m);

	control("refused-version", refused(RC_REFUSE_VERSION,
					   "protocol version 2 not supported (this bus speaks 1)"));
	control("refused-allow-list", refused(RC_REFUSE_ALLOW_LIST, "uid 1000 gid 1000 is not allowed on this bus"));
	control("refused-utf8", refused(RC_REFUSE_PROTOCOL, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x8c"));
	control("refused-flood-empty", refused(RC_REFUSE_FLOOD, ""));
	control("detach", (struct rc_control_msg){ .type = RC_CONTROL_DETACH });
	control("rejoin", (struct rc_control_msg){ .type = RC_CONTROL_REJOIN });
}

/* ---- record reader ------------------------------------------------------ */

/* A ring image relative to the subscriber's position, as the fuzzer copies
 * it into the data area (wrapping at the capacity). */
struct image {
	struct ri_header h;
	uint8_t data[RI_CAPACITY];
	uint32_t len;        /* bytes of data used                      */
	uint64_t ring_off;   /* offset in the data area of data[len]    */
};

static void image_init(struct image *im, uint64_t pos)
{
	memset(im, 0, sizeof(*im));
	im->h.pos = pos;
	im->h.slot_state = RC_SLOT_ACTIVE;
	im->ring_off = pos & (RI_CAPACITY - 1);
}

static void image_record(struct image *im, uint32_t length, uint16_t type, uint16_t flags, uint64_t seq)
{
	struct rc_record_header hdr = { .length = length, .type = type, .flags = flags, .seq = seq };
	uint32_t span = (RC_RECORD_HEADER_SIZE + length + RC_RECORD_ALIGN - 1) & ~(RC_RECORD_ALIGN - 1);

	memcpy(im->data + im->len, &hdr, sizeof(hdr));
	for (uint32_t i = 0; type == RC_RECORD_DATA && i < length; i++)
		im->data[im->len + RC_RECORD_HEADER_SIZE + i] = (uint8_t)(seq * 31 + i);
	im->len += span;
	im->ring_off = (im->ring_off + span) & (RI_CAPACITY - 1);
}

/* What an honest publisher writes for one message: pad first if the
 * record does not fit before the end, fragments of max_payload bytes, the
 * first of them beginning with its struct rc_first_fragment. */
static void image_message(struct image *im, uint32_t length, uint32_t max_payload, uint64_t seq)
{
	uint32_t done = 0;

	do {
		uint32_t lead = done == 0 && length > max_payload ? RC_FIRST_FRAGMENT_SIZE : 0;
		uint32_t chunk = length - done < max_payload - lead ? length - done : max_payload - lead;
		uint32_t span = (RC_RECORD_HEADER_SIZE + lead + chunk + RC_RECORD_ALIGN - 1) & ~(RC_RECORD_ALIGN - 1);
		uint16_t flags = (done == 0 ? RC_FRAG_FIRST : 0) | (done + chunk == length ? RC_FRAG_LAST : 0);
		uint64_t to_end = RI_CAPACITY - im->ring_off;

		if (span > to_end)
			image_record(im, (uint32_t)(to_end - RC_RECORD_HEADER_SIZE), RC_RECORD_PAD, 0, 0);
		image_record(im, lead + chunk, RC_RECORD_DATA, flags, seq);
		if (lead) {
			struct rc_first_fragment first = { .message_length = length };

			memcpy(im->data + im->len - ((RC_RECORD_HEADER_SIZE + lead + chunk + RC_RECORD_ALIGN - 1) &
						     ~(RC_RECORD_ALIGN - 1)) + RC_RECORD_HEADER_SIZE,
			       &first, sizeof(first));
		}
		done += chunk;
	} while (done < length);
}

static void record(const char *name, struct image *im)
{
	uint8_t *out = malloc(RI_HEADER_SIZE + im->len);

	if (!out)
		die("malloc");
	memcpy(out, &im->h, RI_HEADER_SIZE);
	memcpy(out + RI_HEADER_SIZE, im->data, im->len);
	write_file("record", name, out, RI_HEADER_SIZE + im->len);
	free(out);
}

static void set_ops(struct image *im, const uint8_t *ops, size_t n)
{
	memcpy(im->h.ops, ops, n < RI_OPS ? n : RI_OPS);
}

/* SET_OPS(&im, RI_OP(...), ...): the program as a list, counted for set_ops. */
#define SET_OPS(im, ...) \
	set_ops((im), (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))

static void record_seeds(void)
{
	static struct image im;
	const uint32_t dflt = rc_default_max_payload(RI_CAPACITY);

	/* whole messages, read one at a time (ops all READ max 1) */
	image_init(&im, 0);
	image_message(&im, 0, dflt, 0);
	image_message(&im, 5, dflt, 1);
	image_message(&im, 100, dflt, 2);
	im.h.head_delta = im.len;
	im.h.intent_delta = im.len;
	record("whole-messages", &im);

	/* a fragmented message (max_payload 64) between whole ones, polled */
	image_init(&im, 1u << 20);
	im.h.flags = 1u << 8;
	image_message(&im, 10, 64, 6);
	image_message(&im, 150, 64, 7);
	image_message(&im, 64, 64, 8);
	im.h.head_delta = im.len;
	im.h.intent_delta = im.len;
	SET_OPS(&im, RI_OP(RI_OP_POLL, 1), RI_OP(RI_OP_POLL_PARTIAL, 1), RI_OP(RI_OP_POLL, 31),
		RI_OP(RI_OP_READ, 31));
	record("fragments", &im);

	/* the same, read as whole messages: RC_EMESSAGE, then the fragments
	 * copied into one buffer as they are committed */
	image_init(&im, 1u << 20);
	im.h.flags = (1u << 8) | RI_WHOLE;
	image_message(&im, 10, 64, 6);
	image_message(&im, 150, 64, 7);
	image_message(&im, 64, 64, 8);
	image_message(&im, 1000, 64, 9);
	/* committed record by record: 112 (10 and the first fragment of 150),
	 * +144 (150 done), +80 (64), +160, +400, +400, +320 (1000 done) */
	im.h.head_delta = 112;
	im.h.intent_delta = im.len;
	SET_OPS(&im, RI_OP(RI_OP_READ, 3), RI_OP(RI_OP_READ, 3), RI_OP(RI_OP_READ, 3), RI_OP(RI_OP_COMMIT, 9),
		RI_OP(RI_OP_READ, 3), RI_OP(RI_OP_COMMIT, 5), RI_OP(RI_OP_POLL, 3), RI_OP(RI_OP_COMMIT, 10),
		RI_OP(RI_OP_POLL, 3), RI_OP(RI_OP_READ, 3), RI_OP(RI_OP_COMMIT, 25), RI_OP(RI_OP_READ, 3),
		RI_OP(RI_OP_COMMIT, 25), RI_OP(RI_OP_READ, 3), RI_OP(RI_OP_COMMIT, 20), RI_OP(RI_OP_READ, 3));
	record("whole-messages-fragmented", &im);

	/* a pad record at the end of the data area, then the wrap */
	image_init(&im, 5ull * RI_CAPACITY + RI_CAPACITY - 48);
	image_message(&im, 16, dflt, 40);
	image_message(&im, 200, dflt, 41);
	image_message(&im, 3, dflt, 42);
	im.h.head_delta = im.len;
	im.h.intent_delta = im.len + RI_CAPACITY / 8;
	SET_OPS(&im, RI_OP(RI_OP_READ, 31), RI_OP(RI_OP_POLL, 0), RI_OP(RI_OP_POLL, 0), RI_OP(RI_OP_POLL, 0));
	record("pad-and-wrap", &im);

	/* joined in the middle of a message: its tail is skipped */
	image_init(&im, 4096);
	im.h.flags = 1u << 8;
	image_record(&im, 64, RC_RECORD_DATA, 0, 3);
	image_record(&im, 20, RC_RECORD_DATA, RC_FRAG_LAST, 3);
	image_message(&im, 100, 64, 4);
	im.h.head_delta = im.len;
	im.h.intent_delta = im.len;
	SET_OPS(&im, RI_OP(RI_OP_POLL_PARTIAL, 1), RI_OP(RI_OP_POLL_PARTIAL, 0), RI_OP(RI_OP_POLL, 7));
	record("joined-mid-message", &im);

	/* committed messages, then overwritten: lapped */
	image_init(&im, 3ull * RI_CAPACITY);
	for (uint32_t i = 0; i < 8; i++)
		image_message(&im, 40 * i, dflt, 100 + i);
	im.h.head_delta = im.len;
	im.h.intent_delta = im.len;
	SET_OPS(&im, RI_OP(RI_OP_READ, 1), RI_OP(RI_OP_OVERWRITE, 17), RI_OP(RI_OP_READ, 1),
		RI_OP(RI_OP_POLL, 3));
	record("lapped", &im);

	/* evicted: the slot says so, with the lost range */
	image_init(&im, 8192);
	image_message(&im, 10, dflt, 9);
	im.h.head_delta = im.len;
	im.h.intent_delta = im.len;
	im.h.slot_state = RC_SLOT_EVICTED;
	im.h.lost_from = 8192;
	im.h.lost_to = 8192 + 70000;
	record("evicted", &im);

	/* closed: drain, then the end */
	image_init(&im, 64);
	image_message(&im, 33, dflt, 0);
	im.h.head_delta = im.len;
	im.h.intent_delta = im.len;
	im.h.flags = RI_CLOSED | RI_WAITING;
	record("closed-after-drain", &im);

	/* publisher commits as the reader goes; tight out buffers */
	image_init(&im, 0);
	for (uint32_t i = 0; i < 6; i++)
		image_message(&im, 16, dflt, i);
	image_message(&im, 300, dflt, 6);
	image_message(&im, 1000, dflt, 7);
	im.h.head_delta = 32;
	im.h.intent_delta = 32;
	/* head moves record by record: 32, +64, +96, +320, +1024 */
	SET_OPS(&im, RI_OP(RI_OP_READ, 0), RI_OP(RI_OP_COMMIT, 4), RI_OP(RI_OP_POLL_TWICE, 3),
		RI_OP(RI_OP_COMMIT, 6), RI_OP(RI_OP_READ_TIGHT, 2), RI_OP(RI_OP_COMMIT, 20),
		RI_OP(RI_OP_READ_TIGHT, 3), RI_OP(RI_OP_READ_TIGHT, 4), RI_OP(RI_OP_COMMIT, 31),
		RI_OP(RI_OP_COMMIT, 31), RI_OP(RI_OP_COMMIT, 2), RI_OP(RI_OP_READ_TIGHT, 11),
		RI_OP(RI_OP_STATE, 20), RI_OP(RI_OP_STATE, 9), RI_OP(RI_OP_READ, 0));
	record("commits-and-tight-reads", &im);

	/* Regression: positions near 2^64 (the publisher's word). head below
	 * pos is corruption; lapped_since used to compute pos + capacity, which
	 * wrapped to 0 and reported a lap whose lost range ended before it
	 * started. */
	image_init(&im, 0ull - RI_CAPACITY);
	image_message(&im, 8, dflt, 1);
	im.h.flags = RI_HEAD_BEHIND;
	im.h.head_delta = 0x1000;
	im.h.intent_delta = RI_CAPACITY - 1;
	SET_OPS(&im, RI_OP(RI_OP_READ_TIGHT, 0), RI_OP(RI_OP_POLL, 0), RI_OP(RI_OP_COMMIT, 31),
		RI_OP(RI_OP_OVERWRITE, 1), RI_OP(RI_OP_READ, 0));
	record("regress-positions-near-2-64", &im);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		die(root);
	control_seeds();
	record_seeds();
	return 0;
}
