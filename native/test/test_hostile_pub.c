// SPDX-License-Identifier: MIT
/*
 * A hostile (or broken) publisher controls every byte a subscriber maps.
 * Each rule a record header or head can break yields RC_ECORRUPT on both
 * read paths, consumes nothing, and never reads outside the ring: the ring
 * is allocated with exactly rc_ring_size(capacity) bytes so AddressSanitizer
 * turns any over-read into a failure. A fuzz pass flips bytes at random.
 */
#include "rc_test.h"

#define CAP RC_TEST_CAPACITY

static struct rc_publisher pub;
static struct rc_subscriber copy_sub, zc_sub;
static struct rc_ack_page *copy_ack, *zc_ack;
static uint8_t *ring;
static uint8_t out[CAP];
static struct rc_entry entries[64];
static uint64_t next_seq;

static void setup(void)
{
	ring = rc_test_bus(&pub, CAP, RC_POLICY_BLOCK, &copy_ack, &zc_ack);
	rc_test_join(&pub, &copy_sub, copy_ack, 0, -1, -1);
	rc_test_join(&pub, &zc_sub, zc_ack, 1, -1, -1);
	next_seq = 0;
}

static void teardown(void)
{
	rc_test_bus_free(ring, copy_ack, zc_ack);
}

static void publish(uint64_t len)
{
	rc_test_publish(&pub, next_seq++, len);
}

/* Both subscribers read everything committed; it must be valid. */
static void drain_both(void)
{
	int n;

	while ((n = rc_sub_read(&copy_sub, out, sizeof(out), entries, 64)) > 0)
		;
	CHECK_STATUS(n, 0);
	while ((n = rc_sub_poll(&zc_sub, entries, 64)) > 0)
		CHECK_STATUS(rc_sub_release(&zc_sub), RC_OK);
	CHECK_STATUS(n, 0);
	CHECK_EQ(copy_sub.pos, pub.head);
	CHECK_EQ(zc_sub.pos, pub.head);
}

/* Legit traffic until the tail is `to_end` bytes before the end. */
static void steer_tail(uint64_t to_end_wanted)
{
	for (;;) {
		uint64_t to_end = CAP - (pub.tail & pub.mask);
		uint64_t step = to_end > to_end_wanted ? to_end - to_end_wanted : to_end;

		if (to_end == to_end_wanted)
			return;
		if (step > 1024)
			step = 1024;
		publish(step - RC_RECORD_HEADER_SIZE);
		drain_both();
	}
}

static struct rc_record_header *header_at(uint64_t position)
{
	return (struct rc_record_header *)(pub.data + (position & pub.mask));
}

/* The verdict on every corruption: the good records before the bad one are
 * handed out first, then an error, again and again (no progress, no hang),
 * on both paths, with nothing more acknowledged. */
static void expect(int status)
{
	uint64_t copy_pos, zc_pos, copy_acked, zc_acked;
	int r, rounds = 0;

	while ((r = rc_sub_read(&copy_sub, out, sizeof(out), entries, 64)) > 0)
		CHECK(++rounds < 4);
	CHECK_STATUS(r, status);
	rounds = 0;
	while ((r = rc_sub_poll(&zc_sub, entries, 64)) > 0) {
		CHECK_STATUS(rc_sub_release(&zc_sub), RC_OK);
		CHECK(++rounds < 4);
	}
	CHECK_STATUS(r, status);
	copy_pos = copy_sub.pos;
	zc_pos = zc_sub.pos;
	copy_acked = copy_ack->ack;
	zc_acked = zc_ack->ack;
	for (int i = 0; i < 2; i++) {
		CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), entries, 64), status);
		CHECK_STATUS(rc_sub_poll(&zc_sub, entries, 64), status);
		CHECK_STATUS(rc_sub_release(&zc_sub), RC_OK); /* nothing pending */
	}
	CHECK_EQ(copy_sub.pos, copy_pos);
	CHECK_EQ(zc_sub.pos, zc_pos);
	CHECK_EQ(copy_ack->ack, copy_acked);
	CHECK_EQ(zc_ack->ack, zc_acked);
}

static void length_beyond_max_payload(void)
{
	uint64_t at;

	setup();
	at = pub.tail;
	publish(100);
	header_at(at)->length = pub.max_payload + 1;
	expect(RC_ECORRUPT);
	header_at(at)->length = UINT32_MAX;
	expect(RC_ECORRUPT);
	header_at(at)->length = 100;
	drain_both(); /* restored: readable again, nothing was consumed */
	teardown();
}

static void length_past_ring_end(void)
{
	uint64_t at;

	setup();
	steer_tail(32);
	at = pub.tail;
	publish(16); /* a 32-byte record that ends exactly at the end */
	CHECK_EQ(pub.tail & pub.mask, 0);
	header_at(at)->length = 200; /* <= max_payload, but runs past the end */
	expect(RC_ECORRUPT);
	/* even when head claims the bytes are there */
	pub.desc->head = at + 256;
	expect(RC_ECORRUPT);
	teardown();
}

static void unknown_type(void)
{
	uint64_t at;
	const uint16_t types[] = { 0, 3, 0x100, 0xffff };

	setup();
	at = pub.tail;
	publish(40);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		header_at(at)->type = types[i];
		expect(RC_ECORRUPT);
	}
	teardown();
}

static void bad_flags(void)
{
	uint64_t at;
	const uint16_t flags[] = { 4, RC_FRAG_FIRST | RC_FRAG_LAST | 8, 0x8000, 0xffff };

	setup();
	at = pub.tail;
	publish(40);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		header_at(at)->flags = flags[i];
		expect(RC_ECORRUPT);
	}
	teardown();
}

static void middle_fragment_without_first(void)
{
	uint64_t at;

	setup();
	publish(10);
	drain_both(); /* the readers have seen a whole message: not joined mid */
	at = pub.tail;
	publish(20);
	header_at(at)->flags = 0;
	expect(RC_ECORRUPT);
	header_at(at)->flags = RC_FRAG_LAST;
	expect(RC_ECORRUPT);
	teardown();
}

static void first_inside_a_message(void)
{
	uint64_t second;

	setup();
	publish(10);
	drain_both();
	publish((uint64_t)pub.max_payload - RC_FIRST_FRAGMENT_SIZE + 100); /* two fragments */
	second = pub.head - ((RC_RECORD_HEADER_SIZE + 100 + RC_RECORD_ALIGN - 1) & ~(uint64_t)(RC_RECORD_ALIGN - 1));
	CHECK_EQ(header_at(second)->flags, RC_FRAG_LAST);
	header_at(second)->flags = RC_FRAG_FIRST | RC_FRAG_LAST;
	expect(RC_ECORRUPT);
	teardown();
}

static void fragment_of_another_message(void)
{
	uint64_t second;

	setup();
	publish(10);
	drain_both();
	publish((uint64_t)pub.max_payload - RC_FIRST_FRAGMENT_SIZE + 100);
	second = pub.head - ((RC_RECORD_HEADER_SIZE + 100 + RC_RECORD_ALIGN - 1) & ~(uint64_t)(RC_RECORD_ALIGN - 1));
	header_at(second)->seq += 1;
	expect(RC_ECORRUPT);
	teardown();
}

static struct rc_first_fragment *first_fragment_at(uint64_t position)
{
	return (struct rc_first_fragment *)(pub.data + (position & pub.mask) + RC_RECORD_HEADER_SIZE);
}

/* A message of three fragments (max_payload - 16, max_payload, 100 bytes)
 * begun at the returned position; not read yet. */
static uint64_t three_fragments(void)
{
	uint64_t at;

	publish(10);
	drain_both(); /* not joined mid */
	at = pub.tail;
	publish(2 * (uint64_t)pub.max_payload - RC_FIRST_FRAGMENT_SIZE + 100);
	CHECK_EQ(header_at(at)->flags, RC_FRAG_FIRST);
	CHECK_EQ(first_fragment_at(at)->message_length, 2 * (uint64_t)pub.max_payload - RC_FIRST_FRAGMENT_SIZE + 100);
	return at;
}

/* The first fragment's declared length bounds the message: more than the
 * ring's max_message (or the subscriber's own cap) is refused at the first
 * fragment, before a reader allocates or copies anything. */
static void declared_length_above_max_message(void)
{
	uint64_t at, declared;

	setup();
	at = three_fragments();
	declared = first_fragment_at(at)->message_length;
	first_fragment_at(at)->message_length = pub.desc->max_message + 1;
	expect(RC_ECORRUPT);
	first_fragment_at(at)->message_length = UINT64_MAX;
	expect(RC_ECORRUPT);
	first_fragment_at(at)->message_length = declared;
	rc_sub_set_max_message(&copy_sub, declared - 1);
	rc_sub_set_max_message(&zc_sub, declared - 1);
	expect(RC_ECORRUPT);
	rc_sub_set_max_message(&copy_sub, declared);
	rc_sub_set_max_message(&zc_sub, 0); /* back to the ring's */
	drain_both();
	teardown();
}

/* Fragments must add up to exactly the declared length: a publisher that
 * keeps sending middle fragments (memory exhaustion of a reassembling
 * reader) is stopped at the first byte beyond it. */
static void fragments_beyond_declared_length(void)
{
	struct {
		int64_t declared_change; /* from the true length */
		uint64_t reserved;
	} cases[] = {
		{ -100, 0 }, /* the middle one already reaches the declared end   */
		{ 1, 0 },    /* the last one is short of it                        */
		{ 0, 1 },    /* reserved must be zero                              */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t at;

		setup();
		at = three_fragments();
		first_fragment_at(at)->message_length += (uint64_t)cases[i].declared_change;
		first_fragment_at(at)->reserved = cases[i].reserved;
		expect(RC_ECORRUPT);
		teardown();
	}
	/* no more than the first fragment carries itself: refused at once */
	setup();
	{
		uint64_t at = three_fragments();

		first_fragment_at(at)->message_length = pub.max_payload - RC_FIRST_FRAGMENT_SIZE;
		expect(RC_ECORRUPT);
		CHECK_EQ(copy_sub.pos, at);
		CHECK_EQ(zc_sub.pos, at);
	}
	teardown();
}

/* Whole-message reads: RC_EMESSAGE says the length, rc_sub_read_message
 * copies into a buffer of exactly that length (allocated here with nothing
 * to spare, so AddressSanitizer sees any overrun), even if the publisher
 * rewrites the first fragment in between. */
static void whole_message_read_never_passes_its_buffer(void)
{
	uint64_t at, declared, filled = 0;
	uint8_t *message;

	setup();
	at = three_fragments();
	declared = first_fragment_at(at)->message_length;
	rc_sub_hand_out_whole_messages(&copy_sub);
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), entries, 64), RC_EMESSAGE);
	CHECK_EQ(copy_sub.frag.message_length, declared);
	message = malloc(declared - 1);
	CHECK(message != NULL);
	/* the buffer is one byte short of what the ring now says */
	CHECK_STATUS(rc_sub_read_message(&copy_sub, message, declared - 1, &filled), RC_ECORRUPT);
	free(message);
	teardown();

	setup();
	at = three_fragments();
	declared = first_fragment_at(at)->message_length;
	rc_sub_hand_out_whole_messages(&copy_sub);
	CHECK_STATUS(rc_sub_poll(&copy_sub, entries, 64), RC_EMESSAGE);
	message = malloc(declared);
	CHECK(message != NULL);
	filled = 0;
	CHECK_STATUS(rc_sub_read_message(&copy_sub, message, declared, &filled), 1);
	CHECK_EQ(filled, declared);
	CHECK(rc_test_matches(message, 1, 0, declared));
	CHECK_EQ(copy_sub.pos, pub.head);
	free(message);
	teardown();

	/* The same with non-temporal stores (RC_COPY_STREAM), into a buffer
	 * that starts one byte past an aligned address: each fragment's copy
	 * has an unaligned head, whole lines and a tail. */
	setup();
	at = three_fragments();
	declared = first_fragment_at(at)->message_length;
	rc_sub_hand_out_whole_messages(&copy_sub);
	CHECK_STATUS(rc_sub_poll(&copy_sub, entries, 64), RC_EMESSAGE);
	message = malloc(declared + 1);
	CHECK(message != NULL);
	filled = 0;
	CHECK_STATUS(rc_sub_read_message_flags(&copy_sub, message + 1, declared, &filled, RC_COPY_STREAM), 1);
	CHECK_EQ(filled, declared);
	CHECK(rc_test_matches(message + 1, 1, 0, declared));
	CHECK_EQ(copy_sub.pos, pub.head);
	free(message);
	teardown();
}

static void head_more_than_a_ring_ahead(void)
{
	setup();
	publish(10);
	drain_both();
	publish(10);
	pub.desc->head = copy_sub.pos + CAP + RC_RECORD_ALIGN;
	expect(RC_ECORRUPT);
	pub.desc->head = UINT64_MAX;
	expect(RC_ECORRUPT);
	teardown();
}

static void head_going_backwards(void)
{
	setup();
	publish(10);
	publish(10);
	drain_both();
	pub.desc->head -= RC_RECORD_ALIGN;
	expect(RC_ECORRUPT);
	pub.desc->head = 0;
	expect(RC_ECORRUPT);
	CHECK(!rc_sub_prepare_wait(&copy_sub)); /* an error to report, not a sleep */
	teardown();
}

static void head_inside_a_record(void)
{
	uint64_t at;

	setup();
	at = pub.tail;
	publish(100);
	pub.desc->head = at + 8;    /* not even a header */
	expect(RC_ECORRUPT);
	pub.desc->head = at + 64;   /* header, half the payload */
	expect(RC_ECORRUPT);
	pub.desc->head = at + 24;   /* misaligned */
	expect(RC_ECORRUPT);
	teardown();
}

static void pad_with_wrong_length(void)
{
	uint64_t at;

	setup();
	steer_tail(64);
	at = pub.tail;
	publish(100); /* a 64-byte pad, then the record at offset 0 */
	CHECK_EQ(header_at(at)->type, RC_RECORD_PAD);
	CHECK_EQ(header_at(at)->length, 48);
	header_at(at)->length = 16;
	expect(RC_ECORRUPT);
	header_at(at)->length = 48 + RC_RECORD_ALIGN;
	expect(RC_ECORRUPT);
	header_at(at)->length = UINT32_MAX;
	expect(RC_ECORRUPT);
	/* right length, but head covers only part of it */
	header_at(at)->length = 48;
	pub.desc->head = at + 32;
	expect(RC_ECORRUPT);
	pub.desc->head = pub.tail;
	drain_both();
	teardown();
}

static void pad_in_the_middle(void)
{
	uint64_t at;

	setup();
	at = pub.tail;
	publish(100);
	/* a pad claims to fill the rest of the ring from offset 0 */
	header_at(at)->type = RC_RECORD_PAD;
	header_at(at)->length = 100;
	expect(RC_ECORRUPT);
	teardown();
}

/* A header torn by an overwrite in progress is a lap, not corruption. */
static void torn_header_while_lapped_is_elapsed(void)
{
	uint64_t at;

	setup();
	at = pub.tail;
	publish(100);
	header_at(at)->type = 0x5555;
	pub.desc->tail_intent = at + CAP + RC_RECORD_ALIGN;
	expect(RC_ELAPPED);
	CHECK_EQ(copy_sub.lost_from, at);
	CHECK_EQ(copy_sub.lost_to, at + RC_RECORD_ALIGN);
	teardown();
}

/* The subscriber keeps what it validated at init: later changes to the
 * descriptor's constants cannot widen its bounds. */
static void descriptor_constants_changed_later(void)
{
	uint64_t at;

	setup();
	at = pub.tail;
	publish(100);
	pub.desc->capacity = 1ull << 40;
	pub.desc->max_payload = UINT32_MAX;
	pub.desc->desc_size = 0;
	drain_both();
	at = pub.tail;
	publish(200);
	header_at(at)->length = CAP; /* fine by the new max_payload, not by ours */
	expect(RC_ECORRUPT);
	teardown();
}

/* The slot mirror is publisher-written too. */
static void slot_mirror_garbage(void)
{
	struct rc_slot *m;

	setup();
	m = (struct rc_slot *)rc_test_mirror(&pub, 0);
	publish(10);
	m->state = 77;
	m->lost_from = 0;
	m->lost_to = UINT64_MAX;
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), entries, 64), RC_EEVICTED);
	CHECK_EQ(copy_sub.lost_from, copy_sub.pos);
	CHECK_EQ(copy_sub.lost_to, UINT64_MAX);
	/* a lost range that ends before it starts is clamped, not believed */
	m->lost_from = 1ull << 40;
	m->lost_to = 16;
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), entries, 64), RC_EEVICTED);
	CHECK(copy_sub.lost_to >= copy_sub.lost_from);
	m->state = RC_SLOT_ACTIVE;
	m->generation += 1;
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), entries, 64), RC_EEVICTED);
	m->generation -= 1;
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), entries, 64), 1);
	teardown();
}

/* ---- fuzz ---------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_random(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static void check_entries(int n, uint64_t limit)
{
	for (int i = 0; i < n; i++) {
		CHECK(entries[i].length <= pub.max_payload);
		CHECK(entries[i].offset + entries[i].length <= limit);
	}
}

static void fuzz_flipped_bytes(void)
{
	uint64_t corrupt = 0, clean = 0;

	for (int iter = 0; iter < 1500; iter++) {
		uint64_t start, span;
		int flips = 1 + (int)(next_random() % 4);
		int r1, r2;

		setup();
		/* random position in the ring, then random traffic */
		for (uint64_t k = next_random() % 40; k > 0; k--) {
			publish(next_random() % 3000);
			drain_both();
		}
		start = pub.head;
		for (uint64_t k = 1 + next_random() % 6; k > 0; k--) {
			uint64_t len = next_random() % 4 == 0 ? next_random() % (3ull * pub.max_payload)
							     : next_random() % 600;

			if (pub.tail + rc_pub_message_span(&pub, len) > start + CAP)
				break;
			publish(len);
		}
		span = pub.head - start;
		if (span == 0)
			span = RC_RECORD_ALIGN;
		for (int f = 0; f < flips; f++) {
			uint64_t where = start + next_random() % span;

			if (next_random() % 8 == 0) {
				/* head itself */
				pub.desc->head = start + next_random() % (CAP + 64);
			} else {
				pub.data[where & pub.mask] ^= (uint8_t)(1u << (next_random() % 8));
			}
		}
		for (int round = 0; round < 64; round++) {
			r1 = rc_sub_read(&copy_sub, out, sizeof(out), entries, 64);
			CHECK(r1 >= 0 || r1 == RC_ECORRUPT);
			if (r1 > 0)
				check_entries(r1, sizeof(out));
			if (r1 <= 0)
				break;
		}
		for (int round = 0; round < 64; round++) {
			r2 = rc_sub_poll(&zc_sub, entries, 64);
			CHECK(r2 >= 0 || r2 == RC_ECORRUPT);
			if (r2 > 0) {
				check_entries(r2, CAP);
				CHECK_STATUS(rc_sub_release(&zc_sub), RC_OK);
			}
			if (r2 <= 0)
				break;
		}
		if (r1 == RC_ECORRUPT || r2 == RC_ECORRUPT)
			corrupt++;
		else
			clean++;
		teardown();
	}
	/* payload flips are invisible; header flips must have been caught */
	CHECK(corrupt > 100);
	CHECK(clean > 100);
}

int main(void)
{
	RUN(length_beyond_max_payload);
	RUN(length_past_ring_end);
	RUN(unknown_type);
	RUN(bad_flags);
	RUN(middle_fragment_without_first);
	RUN(first_inside_a_message);
	RUN(fragment_of_another_message);
	RUN(declared_length_above_max_message);
	RUN(fragments_beyond_declared_length);
	RUN(whole_message_read_never_passes_its_buffer);
	RUN(head_more_than_a_ring_ahead);
	RUN(head_going_backwards);
	RUN(head_inside_a_record);
	RUN(pad_with_wrong_length);
	RUN(pad_in_the_middle);
	RUN(torn_header_while_lapped_is_elapsed);
	RUN(descriptor_constants_changed_later);
	RUN(slot_mirror_garbage);
	RUN(fuzz_flipped_bytes);
	return rc_test_done("test_hostile_pub");
}
