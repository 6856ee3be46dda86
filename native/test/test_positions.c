// SPDX-License-Identifier: MIT
/*
 * Positions are 64-bit and the publisher's word: a hostile publisher may
 * start a subscriber anywhere, up to just below 2^64. Near the top, sums like
 * `position + capacity` wrap; the reader must still tell corruption from
 * lapping and never report a lost range that ends before it starts.
 * (Found by native/fuzz/fuzz_record_reader; its seed
 * regress-positions-near-2-64 replays the original input.)
 */
#include "rc_test.h"

#define CAP RC_TEST_CAPACITY

static struct rc_publisher pub;
static struct rc_subscriber sub;
static struct rc_ack_page *ack;
static uint8_t *ring;
static struct rc_ring_desc *desc;
static uint8_t out[CAP];
static struct rc_entry entries[16];

/* A ring whose history starts at `start`, one subscriber joined there. */
static void setup_at(uint64_t start)
{
	ring = rc_test_ring(CAP, 0, RC_POLICY_BLOCK);
	desc = (struct rc_ring_desc *)ring;
	desc->head = start;
	desc->tail_intent = start;
	ack = rc_test_ack_page();
	CHECK_STATUS(rc_pub_init(&pub, ring, rc_ring_size(CAP)), RC_OK);
	rc_test_join(&pub, &sub, ack, 0, -1, -1);
	CHECK_EQ(sub.pos, start);
}

static void teardown(void)
{
	free(ack);
	free(ring);
}

/* The fuzzer's input: head moved below our position while tail_intent is
 * within a capacity of it. That is corruption, not a lap; before the fix
 * `pos + capacity` wrapped to 0 and every intent looked like a lap. */
static void head_behind_near_the_top_is_corrupt_not_lapped(void)
{
	const uint64_t start = 0 - (uint64_t)CAP;

	setup_at(start);
	desc->head = start - 0x1000;
	desc->tail_intent = start + CAP - 1;
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), entries, 16), RC_ECORRUPT);
	CHECK_STATUS(rc_sub_poll(&sub, entries, 16), RC_ECORRUPT);
	CHECK_EQ(sub.pos, start);
	teardown();
}

/* A real lap near the top is still seen, with a forward range. */
static void lapped_near_the_top_reports_a_forward_range(void)
{
	const uint64_t start = 0 - 4 * (uint64_t)CAP;

	setup_at(start);
	rc_test_publish(&pub, 0, 100);
	rc_test_publish(&pub, 1, 100);
	desc->tail_intent = start + CAP + 4096;
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), entries, 16), RC_ELAPPED);
	CHECK_EQ(sub.lost_from, start);
	CHECK_EQ(sub.lost_to, start + 4096);
	CHECK(sub.lost_from <= sub.lost_to);
	teardown();
}

/* Messages flow normally just below 2^64. */
static void messages_flow_near_the_top(void)
{
	const uint64_t start = 0 - 4 * (uint64_t)CAP;
	int n;

	setup_at(start);
	rc_test_publish(&pub, 7, 100);
	rc_test_publish(&pub, 8, 0);
	n = rc_sub_read(&sub, out, sizeof(out), entries, 16);
	CHECK_STATUS(n, 2);
	CHECK_EQ(entries[0].seq, 0);
	CHECK_EQ(entries[0].length, 100);
	CHECK(rc_test_matches(out, 7, 0, 100));
	CHECK_EQ(entries[1].length, 0);
	CHECK_EQ(sub.pos, pub.head);
	CHECK_EQ(ack->ack, pub.head);
	teardown();
}

int main(void)
{
	RUN(head_behind_near_the_top_is_corrupt_not_lapped);
	RUN(lapped_near_the_top_reports_a_forward_range);
	RUN(messages_flow_near_the_top);
	return rc_test_done("test_positions");
}
