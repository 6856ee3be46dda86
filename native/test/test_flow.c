// SPDX-License-Identifier: MIT
/*
 * Flow control, policy block: the publisher writes at most up to the
 * slowest counted ack + capacity, gets RC_EAGAIN beyond it, resumes when
 * that subscriber reads; detached and evicted slots stop counting.
 */
#include "rc_test.h"

#define CAP RC_TEST_CAPACITY
#define MSG 1000

static struct rc_publisher pub;
static struct rc_subscriber fast, slow;
static struct rc_ack_page *fast_ack, *slow_ack;
static uint8_t *ring;
static uint8_t msg[MSG], out[CAP];
static uint64_t next_seq;

static void setup(void)
{
	ring = rc_test_bus(&pub, CAP, RC_POLICY_BLOCK, &fast_ack, &slow_ack);
	next_seq = 0;
}

static void teardown(void)
{
	rc_test_bus_free(ring, fast_ack, slow_ack);
}

/* Writes MSG-byte messages until the ring refuses; returns how many. */
static int fill(void)
{
	int n = 0;

	for (;;) {
		uint64_t offset = 0;
		int r;

		rc_test_fill(msg, next_seq, MSG);
		r = rc_pub_write(&pub, msg, MSG, &offset);
		if (r == RC_EAGAIN) {
			CHECK_EQ(offset, 0); /* one record: nothing half written */
			rc_pub_commit(&pub);
			return n;
		}
		CHECK_STATUS(r, RC_OK);
		next_seq++;
		n++;
		CHECK(n < 10000);
	}
}

/* Reads up to `max` messages and checks they are the next ones. */
static int read_some(struct rc_subscriber *sub, uint64_t *expect_seq, uint32_t max)
{
	struct rc_entry e[64];
	int n = rc_sub_read(sub, out, sizeof(out), e, max);

	CHECK(n >= 0 || (fprintf(stderr, "read: %s\n", rc_status_name(n)), 0));
	for (int i = 0; i < n; i++) {
		CHECK_EQ(e[i].seq, *expect_seq);
		CHECK_EQ(e[i].length, MSG);
		CHECK(rc_test_matches(out + e[i].offset, e[i].seq, 0, MSG));
		(*expect_seq)++;
	}
	return n;
}

static uint64_t record_size(void)
{
	return (RC_RECORD_HEADER_SIZE + MSG + RC_RECORD_ALIGN - 1) & ~(uint64_t)(RC_RECORD_ALIGN - 1);
}

static void stops_at_ack_plus_capacity(void)
{
	uint64_t seq = 0, room;
	int n;

	setup();
	rc_test_join(&pub, &fast, fast_ack, 0, -1, -1);
	n = fill();
	CHECK(n > 0);
	CHECK(pub.tail <= fast_ack->ack + CAP);
	CHECK(pub.desc->tail_intent <= fast_ack->ack + CAP);
	/* the next record would cross the bound (with or without a pad) */
	room = rc_pub_refresh(&pub);
	CHECK_EQ(room, fast_ack->ack + CAP - pub.tail);
	CHECK(rc_pub_message_span(&pub, MSG) > room);
	CHECK_EQ(pub.limit, CAP);
	/* asking again changes nothing */
	CHECK_EQ(fill(), 0);

	/* reading one message makes room for about one */
	CHECK_EQ(read_some(&fast, &seq, 1), 1);
	CHECK_EQ(fast_ack->ack, record_size());
	n = fill();
	CHECK(n >= 1 && n <= 2);
	CHECK(pub.tail <= fast_ack->ack + CAP);

	/* a reader that keeps up lets the publisher run forever */
	for (int round = 0; round < 200; round++) {
		while (read_some(&fast, &seq, 64) > 0)
			;
		CHECK(fill() > 0);
		CHECK(pub.tail <= fast_ack->ack + CAP);
	}
	while (read_some(&fast, &seq, 64) > 0)
		;
	CHECK_EQ(seq, next_seq);
	rc_pub_refresh(&pub); /* the mirror follows validated acks */
	CHECK_EQ(rc_test_mirror(&pub, 0)->ack, fast_ack->ack);
	CHECK(pub.tail > 100 * CAP);
	teardown();
}

static void slowest_subscriber_limits(void)
{
	uint64_t fast_seq = 0, slow_seq = 0;

	setup();
	rc_test_join(&pub, &fast, fast_ack, 2, -1, -1);
	rc_test_join(&pub, &slow, slow_ack, 9, -1, -1);
	CHECK(fill() > 0);
	/* the fast one drains everything: still no room, slow has read nothing */
	while (read_some(&fast, &fast_seq, 64) > 0)
		;
	CHECK_EQ(fill(), 0);
	CHECK_EQ(rc_test_mirror(&pub, 2)->ack, pub.head);
	CHECK_EQ(rc_test_mirror(&pub, 9)->ack, 0);
	CHECK_EQ(pub.limit, CAP);

	/* the slow one reads a few: exactly that much room appears */
	CHECK_EQ(read_some(&slow, &slow_seq, 5), 5);
	CHECK(fill() >= 4);
	CHECK(pub.tail <= slow_ack->ack + CAP);
	CHECK_EQ(pub.limit, slow_ack->ack + CAP);

	/* now the fast one lags behind the slow one: it is the limit */
	while (read_some(&slow, &slow_seq, 64) > 0)
		;
	CHECK(fill() > 0);
	CHECK_EQ(pub.limit, fast_ack->ack + CAP);
	while (read_some(&fast, &fast_seq, 64) > 0)
		;
	while (read_some(&slow, &slow_seq, 64) > 0)
		;
	CHECK_EQ(fast_seq, next_seq);
	CHECK_EQ(slow_seq, next_seq);
	teardown();
}

static void detached_subscriber_stops_limiting(void)
{
	uint64_t fast_seq = 0, slow_seq = 0;
	uint8_t tmp[MSG];
	struct rc_entry e[1];

	setup();
	rc_test_join(&pub, &fast, fast_ack, 0, -1, -1);
	rc_test_join(&pub, &slow, slow_ack, 1, -1, -1);
	CHECK_EQ(pub.attached, 2);
	CHECK(fill() > 0);
	while (read_some(&fast, &fast_seq, 64) > 0)
		;
	CHECK_EQ(fill(), 0);
	CHECK_EQ(read_some(&slow, &slow_seq, 2), 2);
	CHECK(fill() > 0);
	CHECK_EQ(fill(), 0);

	rc_pub_detach(&pub, 1, RC_EVICT_CLOSED);
	CHECK_EQ(pub.attached, 1);
	CHECK_EQ(pub.slots[1].state, RC_SLOT_FREE);
	CHECK_EQ(rc_test_mirror(&pub, 1)->state, RC_SLOT_FREE);
	CHECK_EQ(rc_test_mirror(&pub, 1)->evict_reason, RC_EVICT_CLOSED);
	CHECK(fill() > 0);
	CHECK_EQ(pub.limit, fast_ack->ack + CAP);
	/* the detached subscriber learns it no longer counts */
	CHECK_STATUS(rc_sub_read(&slow, tmp, sizeof(tmp), e, 1), RC_EEVICTED);
	CHECK_STATUS(rc_sub_poll(&slow, e, 1), RC_EEVICTED);
	/* whatever it lost, the range is never upside down */
	CHECK_EQ(slow.lost_from, 2 * record_size());
	CHECK(slow.lost_to >= slow.lost_from);

	/* with nobody attached there is no limit at all */
	rc_pub_detach(&pub, 0, RC_EVICT_DEAD);
	CHECK_EQ(pub.attached, 0);
	CHECK_EQ(rc_pub_refresh(&pub), UINT64_MAX);
	CHECK_EQ(pub.limit, UINT64_MAX);
	for (int i = 0; i < 10; i++) {
		rc_test_publish(&pub, next_seq++, MSG);
		CHECK_EQ(pub.desc->tail_intent >= pub.tail, 1);
	}
	teardown();
}

static void evicted_subscriber_stops_limiting(void)
{
	uint64_t fast_seq = 0;

	setup();
	rc_test_join(&pub, &fast, fast_ack, 0, -1, -1);
	rc_test_join(&pub, &slow, slow_ack, 1, -1, -1);
	CHECK(fill() > 0);
	while (read_some(&fast, &fast_seq, 64) > 0)
		;
	CHECK_EQ(fill(), 0);
	/* what evictAfterMs does when the slow one blocked too long */
	rc_pub_evict(&pub, 1, RC_EVICT_SLOW);
	CHECK_EQ(rc_test_mirror(&pub, 1)->state, RC_SLOT_EVICTED);
	CHECK_EQ(rc_test_mirror(&pub, 1)->evict_reason, RC_EVICT_SLOW);
	CHECK_EQ(rc_test_mirror(&pub, 1)->lost_from, 0);
	CHECK_EQ(rc_test_mirror(&pub, 1)->lost_to, pub.tail);
	CHECK_EQ(rc_test_mirror(&pub, 1)->evictions, 1);
	CHECK_EQ(pub.attached, 2); /* the slot stays taken until detach */
	CHECK(fill() > 0);
	while (read_some(&fast, &fast_seq, 64) > 0)
		;
	CHECK_EQ(fast_seq, next_seq);
	teardown();
}

/* A message bigger than the free space is written in part (RC_EAGAIN with
 * the offset advanced), committed, and finished once the reader drains. */
static void big_message_resumes_at_offset(void)
{
	const uint64_t len = 3 * CAP;
	uint8_t *big = malloc(len);
	uint64_t offset = 0, got = 0, calls = 0;
	struct rc_entry e[64];
	int r;

	CHECK(big != NULL);
	setup();
	rc_test_join(&pub, &fast, fast_ack, 0, -1, -1);
	rc_test_fill(big, 0, len);
	do {
		uint64_t before = offset;

		r = rc_pub_write(&pub, big, len, &offset);
		CHECK(r == RC_OK || r == RC_EAGAIN);
		CHECK(offset > before); /* the reader drained: progress each time */
		/* fragment boundaries: the first carries its struct rc_first_fragment */
		CHECK_EQ((offset + RC_FIRST_FRAGMENT_SIZE) % pub.max_payload == 0 || offset == len, 1);
		CHECK_EQ(pub.next_seq, r == RC_OK ? 1 : 0);
		rc_pub_commit(&pub);
		calls++;
		for (;;) {
			int n = rc_sub_read(&fast, out, sizeof(out), e, 64);

			CHECK(n >= 0);
			if (n == 0)
				break;
			for (int i = 0; i < n; i++) {
				CHECK_EQ(e[i].seq, 0);
				CHECK(rc_test_matches(out + e[i].offset, 0, got, e[i].length));
				got += e[i].length;
			}
		}
	} while (r == RC_EAGAIN);
	CHECK_EQ(got, len);
	CHECK(calls >= 3);
	free(big);
	teardown();
}

int main(void)
{
	RUN(stops_at_ack_plus_capacity);
	RUN(slowest_subscriber_limits);
	RUN(detached_subscriber_stops_limiting);
	RUN(evicted_subscriber_stops_limiting);
	RUN(big_message_resumes_at_offset);
	return rc_test_done("test_flow");
}
