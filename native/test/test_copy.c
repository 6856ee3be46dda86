// SPDX-License-Identifier: MIT
/*
 * Payload copies at every alignment: the publisher's copy into the ring and
 * both of the subscriber's copies out of it (rc_sub_read's batch buffer,
 * rc_sub_read_message's message buffer) take a loop of their own instead of
 * memcpy below 64 KiB, and above it when the destination is 1 to 15 bytes
 * ahead of the source modulo 4 KiB (copy_payload in ringcast.c: glibc's
 * `rep movsb` crawls there).
 * Every byte must still arrive, at every source and destination offset,
 * including the odd tails the loop leaves to memcpy; under AddressSanitizer
 * a copy past either end fails the program.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>

#include "rc_test.h"

#define CAP RC_TEST_CAPACITY

static struct rc_publisher pub;
static struct rc_subscriber sub;
static struct rc_ack_page *ack, *unused_ack;
static uint8_t *ring;
static uint8_t out[CAP];

static void setup(void)
{
	ring = rc_test_bus(&pub, CAP, RC_POLICY_BLOCK, &ack, &unused_ack);
	rc_test_join(&pub, &sub, ack, 0, -1, -1);
}

static void teardown(void)
{
	rc_test_bus_free(ring, ack, unused_ack);
}

/* Page-aligned memory (aligned_alloc wants a whole number of pages). */
static uint8_t *pages(uint64_t bytes)
{
	uint8_t *p = aligned_alloc(4096, (bytes + 4095) & ~(uint64_t)4095);

	CHECK(p != NULL);
	return p;
}

/* (destination - source) mod 4 KiB of the copy rc_pub_write is about to
 * make of a message's first bytes. */
static uint64_t publish_distance(const uint8_t *src, uint64_t len)
{
	uint64_t lead = len > pub.max_payload ? sizeof(struct rc_first_fragment) : 0;
	const uint8_t *dst = pub.data + (pub.tail & pub.mask) + RC_RECORD_HEADER_SIZE + lead;

	return ((uintptr_t)dst - (uintptr_t)src) & 4095;
}

/* One record's payload (not fragmented) from every source offset within a
 * page, read back record by record with rc_sub_read. */
static void one_record_from_every_source_offset(void)
{
	uint64_t len = pub.max_payload - 3; /* an odd tail after the 64-byte steps */
	uint8_t *page_aligned = pages(4096 + len);
	uint64_t short_distances = 0;

	CHECK(len >= 4096);
	for (uint64_t seq = 0, offset = 0; offset < 4096; offset += 4, seq++) {
		uint8_t *src = page_aligned + offset;
		uint64_t written = 0, distance;
		struct rc_entry e[2];

		rc_test_fill(src, seq, len);
		distance = publish_distance(src, len);
		short_distances += distance >= 1 && distance <= 15;
		CHECK_STATUS(rc_pub_write(&pub, src, len, &written), RC_OK);
		rc_pub_commit(&pub);
		CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 2), 1);
		CHECK_EQ(e[0].length, len);
		CHECK_EQ(e[0].seq, seq);
		CHECK(rc_test_matches(out + e[0].offset, seq, 0, len));
	}
	/* the loop's distances were met, not just the memcpy ones */
	CHECK(short_distances > 0);
	free(page_aligned);
}

/* A fragmented message from every source offset into a message buffer at
 * every destination offset modulo 64, both copies checked. */
static void fragmented_message_into_every_destination_offset(void)
{
	uint64_t len = (uint64_t)pub.max_payload * 2 + 77;
	uint8_t *page_aligned = pages(4096 + len);
	uint8_t *message_area = pages(4096 + len);
	uint64_t seq = 0;

	rc_sub_hand_out_whole_messages(&sub);
	for (uint64_t offset = 0; offset < 4096; offset += 12) {
		for (int stream = 0; stream < 2; stream++, seq++) {
			uint8_t *src = page_aligned + offset;
			uint8_t *message = message_area + (seq * 13) % 4096;
			uint64_t written = 0, filled = 0;

			rc_test_fill(src, seq, len);
			/* The ring holds two of them: write, then read, one at a time. */
			CHECK_STATUS(rc_pub_write(&pub, src, len, &written), RC_OK);
			rc_pub_commit(&pub);
			CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), (struct rc_entry[1]){ { 0 } }, 1), RC_EMESSAGE);
			CHECK_EQ(sub.frag.message_length, len);
			CHECK_STATUS(rc_sub_read_message_flags(&sub, message, len, &filled, stream ? RC_COPY_STREAM : 0), 1);
			CHECK_EQ(filled, len);
			CHECK(rc_test_matches(message, seq, 0, len));
		}
	}
	free(message_area);
	free(page_aligned);
}

/* Copies of 64 KiB and more (memcpy but at the short distances): a ring
 * whose records hold them, one record from every source offset by 4. */
#define BIG_CAP (512u * 1024u)

static void big_record_from_every_source_offset(void)
{
	struct rc_publisher big_pub;
	struct rc_subscriber big_sub;
	struct rc_ack_page *big_ack, *big_unused_ack;
	uint8_t *big_ring = rc_test_bus(&big_pub, BIG_CAP, RC_POLICY_BLOCK, &big_ack, &big_unused_ack);
	uint64_t len = big_pub.max_payload - 3;
	uint8_t *page_aligned = pages(4096 + len);
	uint8_t *big_out = pages(len);
	uint64_t short_distances = 0;

	rc_test_join(&big_pub, &big_sub, big_ack, 0, -1, -1);
	CHECK(len >= 64u * 1024u);
	for (uint64_t seq = 0, offset = 0; offset < 4096; offset += 4, seq++) {
		uint8_t *src = page_aligned + offset;
		const uint8_t *dst = big_pub.data + (big_pub.tail & big_pub.mask) + RC_RECORD_HEADER_SIZE;
		uint64_t written = 0, distance = ((uintptr_t)dst - (uintptr_t)src) & 4095;
		struct rc_entry e[2];

		rc_test_fill(src, seq, len);
		short_distances += distance >= 1 && distance <= 15;
		CHECK_STATUS(rc_pub_write(&big_pub, src, len, &written), RC_OK);
		rc_pub_commit(&big_pub);
		CHECK_STATUS(rc_sub_read(&big_sub, big_out, len, e, 2), 1);
		CHECK_EQ(e[0].length, len);
		CHECK_EQ(e[0].seq, seq);
		CHECK(rc_test_matches(big_out + e[0].offset, seq, 0, len));
	}
	CHECK(short_distances > 0);
	free(big_out);
	free(page_aligned);
	rc_test_bus_free(big_ring, big_ack, big_unused_ack);
}

int main(void)
{
	RUN(big_record_from_every_source_offset);
	setup();
	RUN(one_record_from_every_source_offset);
	teardown();
	setup();
	RUN(fragmented_message_into_every_destination_offset);
	teardown();
	return rc_test_done("test_copy");
}
