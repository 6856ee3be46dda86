// SPDX-License-Identifier: MIT
/*
 * The large-message path: rc_pub_write_part publishes each fragment as it is
 * written and rings sleepers once per call; the bounded spins of both sides
 * (RC_LARGE_SPIN_NS; the subscriber's is off unless its caller sets
 * fragment_spin_ns, as setup() does here) run only while a message is in
 * flight, back off after spins that found nothing, and never when the
 * subscriber is idle. The last
 * case streams messages larger than the ring between two threads.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>

#include "rc_test.h"

#define CAP RC_TEST_CAPACITY

static struct rc_publisher pub;
static struct rc_subscriber sub;
static struct rc_ack_page *ack, *unused_ack;
static uint8_t *ring;
static int rung;

static void count_ring(void *ctx, int doorbell)
{
	(void)ctx;
	(void)doorbell;
	__atomic_fetch_add(&rung, 1, __ATOMIC_RELAXED); /* both threads, last case */
}

static void setup(void)
{
	ring = rc_test_bus(&pub, CAP, RC_POLICY_BLOCK, &ack, &unused_ack);
	pub.ring_doorbell = count_ring;
	sub.ring_doorbell = count_ring;
	rc_test_join(&pub, &sub, ack, 0, 100, 101); /* doorbell "fds" count_ring counts */
	sub.ring_doorbell = count_ring; /* rc_sub_init cleared it */
	/* The spin for the next fragment is off by default (ringcast.h): these
	 * cases check the mechanism a caller can turn on. */
	sub.fragment_spin_ns = RC_LARGE_SPIN_NS;
	rc_sub_hand_out_whole_messages(&sub);
	rung = 0;
}

static void teardown(void)
{
	rc_test_bus_free(ring, ack, unused_ack);
}

/* Reads the fragmented message announced next, whole, into `out`. */
static void read_whole(uint8_t *out, uint64_t len, uint64_t seq)
{
	struct rc_entry e[4];
	uint64_t filled = 0;

	CHECK_STATUS(rc_sub_poll(&sub, e, 4), RC_EMESSAGE);
	CHECK_EQ(sub.frag.message_length, len);
	CHECK_STATUS(rc_sub_read_message(&sub, out, len, &filled), 1);
	CHECK_EQ(filled, len);
	CHECK(rc_test_matches(out, seq, 0, len));
}

/* Three fragments, three head stores: a reader copies the first while the
 * publisher writes the second. A sleeping reader is rung once, not three
 * times. (Committed once at the end, as writePart did, it was one store.) */
static void write_part_publishes_each_fragment(void)
{
	uint64_t len, offset = 0, stores;
	uint8_t *msg, *out;

	setup();
	len = 2 * (uint64_t)pub.max_payload + 100;
	msg = malloc(len);
	out = malloc(len);
	CHECK(msg && out);
	rc_test_fill(msg, 0, len);
	CHECK(rc_sub_prepare_wait(&sub)); /* asleep: nothing to read */
	stores = pub.head_stores;
	CHECK_STATUS(rc_pub_write_part(&pub, msg, len, &offset), RC_OK);
	CHECK_EQ(offset, len);
	CHECK_EQ(pub.head_stores - stores, 3);
	CHECK_EQ(rung, 1);
	CHECK(!pub.ring_owed);
	rc_sub_end_wait(&sub);
	read_whole(out, len, 0);
	free(msg);
	free(out);
	teardown();
}

/* A message larger than the ring: write_part stops when the ring is full,
 * everything written published. The sleeping reader was rung: the fragments
 * moved head without a look for sleepers, so the ring is owed even though
 * the call's last commit had nothing new to publish (without it the reader
 * sleeps, no ack comes, and both wait for ever). The publisher's spin for
 * room was bounded and found nothing, and its next chance is skipped
 * (backoff). Then the message flows to its end. */
static void full_ring_rings_then_spins_bounded(void)
{
	uint64_t len = 3 * CAP, offset = 0, filled = 0;
	uint8_t *msg = malloc(len), *out = malloc(len);
	struct rc_entry e[4];
	int r;

	setup();
	CHECK(msg && out);
	rc_test_fill(msg, 7, len);
	CHECK(rc_sub_prepare_wait(&sub));
	CHECK_STATUS(rc_pub_write_part(&pub, msg, len, &offset), RC_EAGAIN);
	CHECK(offset > 0 && offset < len);
	CHECK_EQ(pub.head, pub.tail); /* all of it published */
	CHECK_EQ(rung, 1);
	CHECK_EQ(pub.room_spin.spins, 1);
	CHECK_EQ(pub.room_spin.found, 0);
	CHECK_STATUS(rc_pub_write_part(&pub, msg, len, &offset), RC_EAGAIN);
	CHECK_EQ(pub.room_spin.spins, 1); /* skipped: backoff */
	rc_sub_end_wait(&sub);

	CHECK_STATUS(rc_sub_poll(&sub, e, 4), RC_EMESSAGE);
	/* Reads what is there, then spins once (bounded) and returns. */
	CHECK_STATUS(rc_sub_read_message(&sub, out, len, &filled), 0);
	CHECK_EQ(filled, offset);
	CHECK_EQ(sub.fragment_spin.spins, 1);
	CHECK_EQ(sub.fragment_spin.found, 0);
	CHECK_STATUS(rc_sub_read_message(&sub, out, len, &filled), 0);
	CHECK_EQ(sub.fragment_spin.spins, 1); /* skipped: backoff */

	for (int rounds = 0; (r = rc_sub_read_message(&sub, out, len, &filled)) != 1; rounds++) {
		CHECK_STATUS(r, 0);
		CHECK(rounds < 100);
		if (offset < len) {
			r = rc_pub_write_part(&pub, msg, len, &offset);
			CHECK(r == RC_OK || r == RC_EAGAIN);
		}
	}
	CHECK_EQ(filled, len);
	CHECK(rc_test_matches(out, 7, 0, len));
	free(msg);
	free(out);
	teardown();
}

/* Nothing in flight, nothing spun: an idle reader polls for free. After a
 * fragmented message the next empty read spins once (the publisher may be
 * streaming the next one), and the reads after that do not. */
static void idle_subscriber_does_not_spin(void)
{
	uint64_t len, offset = 0;
	uint8_t *msg, *out;
	struct rc_entry e[4];

	setup();
	len = pub.max_payload + 1000ull;
	msg = malloc(len);
	out = malloc(len);
	CHECK(msg && out);
	rc_test_publish(&pub, 0, 100);
	CHECK_STATUS(rc_sub_poll(&sub, e, 4), 1);
	CHECK_STATUS(rc_sub_release(&sub), RC_OK);
	for (int i = 0; i < 100; i++)
		CHECK_STATUS(rc_sub_poll(&sub, e, 4), 0);
	CHECK_EQ(sub.fragment_spin.spins, 0);

	rc_test_fill(msg, 1, len);
	CHECK_STATUS(rc_pub_write_part(&pub, msg, len, &offset), RC_OK);
	read_whole(out, len, 1);
	for (int i = 0; i < 100; i++)
		CHECK_STATUS(rc_sub_poll(&sub, e, 4), 0);
	CHECK_EQ(sub.fragment_spin.spins, 1);
	CHECK_EQ(pub.room_spin.spins, 0); /* never out of room here */
	free(msg);
	free(out);
	teardown();
}

/* The reader's ack for each fragment is stored at once, but a publisher
 * waiting for room is rung only once a quarter of the ring was given back
 * (what a wait for the largest record needs), not at the first small
 * fragment: one wake per quarter ring instead of one per fragment. */
static uint64_t acked_when_rung;

static void note_ack_at_ring(void *ctx, int doorbell)
{
	(void)ctx;
	(void)doorbell;
	acked_when_rung = sub.acked;
}

static void waiting_publisher_rung_after_a_quarter_ring(void)
{
	uint64_t len = 3 * CAP, offset = 0, filled = 0, start;
	uint8_t *msg = malloc(len), *out = malloc(len);
	struct rc_entry e[4];

	CHECK(msg && out);
	ring = rc_test_ring(CAP, 4096 - RC_RECORD_HEADER_SIZE, RC_POLICY_BLOCK); /* 4 KiB records */
	ack = rc_test_ack_page();
	unused_ack = rc_test_ack_page();
	CHECK_STATUS(rc_pub_init(&pub, ring, rc_ring_size(CAP)), RC_OK);
	rc_test_join(&pub, &sub, ack, 0, 100, 101);
	sub.ring_doorbell = note_ack_at_ring;
	rc_sub_hand_out_whole_messages(&sub);
	pub.room_spin_ns = 0;
	rc_test_fill(msg, 3, len);
	CHECK_STATUS(rc_pub_write_part(&pub, msg, len, &offset), RC_EAGAIN);
	CHECK(rc_pub_prepare_wait(&pub, len - offset)); /* announced: no room */
	start = sub.pos;
	CHECK_STATUS(rc_sub_poll(&sub, e, 4), RC_EMESSAGE);
	sub.fragment_spin_ns = 0;
	CHECK_STATUS(rc_sub_read_message(&sub, out, len, &filled), 0);
	CHECK_EQ(sub.doorbells_rung, 1);
	CHECK(acked_when_rung - start >= CAP / 4);
	rc_pub_end_wait(&pub);
	free(msg);
	free(out);
	teardown();
}

/* ---- two threads: messages of several rings, each whole and intact ---- */

#define STREAM_MESSAGES 40

static void *publish_stream(void *arg)
{
	uint64_t len = *(uint64_t *)arg;
	uint8_t *msg = malloc(len);

	CHECK(msg != NULL);
	for (uint64_t seq = 0; seq < STREAM_MESSAGES; seq++) {
		uint64_t offset = 0;
		int r;

		rc_test_fill(msg, seq, len);
		while ((r = rc_pub_write_part(&pub, msg, len, &offset)) == RC_EAGAIN)
			sched_yield();
		CHECK_STATUS(r, RC_OK);
	}
	free(msg);
	return NULL;
}

static void streams_messages_larger_than_the_ring(void)
{
	uint64_t len = 5 * CAP + 4321;
	uint8_t *out = malloc(len);
	pthread_t writer;

	setup();
	CHECK(out != NULL);
	CHECK(pthread_create(&writer, NULL, publish_stream, &len) == 0);
	for (uint64_t seq = 0; seq < STREAM_MESSAGES; seq++) {
		struct rc_entry e[4];
		uint64_t filled = 0;
		int r;

		while ((r = rc_sub_poll(&sub, e, 4)) == 0)
			sched_yield();
		CHECK_STATUS(r, RC_EMESSAGE);
		while ((r = rc_sub_read_message(&sub, out, len, &filled)) == 0)
			sched_yield();
		CHECK_STATUS(r, 1);
		CHECK(rc_test_matches(out, seq, 0, len));
	}
	CHECK(pthread_join(writer, NULL) == 0);
	free(out);
	teardown();
}

int main(void)
{
	RUN(write_part_publishes_each_fragment);
	RUN(full_ring_rings_then_spins_bounded);
	RUN(idle_subscriber_does_not_spin);
	RUN(waiting_publisher_rung_after_a_quarter_ring);
	RUN(streams_messages_larger_than_the_ring);
	return rc_test_done("test_large");
}
