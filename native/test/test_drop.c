// SPDX-License-Identifier: MIT
/*
 * Policy drop: the publisher never waits. A subscriber about to be
 * overwritten is evicted (RC_EVICT_SLOW) and learns it from its next read
 * (RC_EEVICTED, or RC_ELAPPED when it was holding a zero-copy batch that got
 * overwritten); the subscriber that keeps up receives everything.
 */
#include "rc_test.h"

#define CAP RC_TEST_CAPACITY
#define MSG 700

enum { READER = 0, SLEEPER = 1 };

static struct rc_publisher pub;
static struct rc_subscriber reader, sleeper;
static struct rc_ack_page *reader_ack, *sleeper_ack;
static uint8_t *ring;
static uint8_t out[CAP];
static uint64_t next_seq, reader_seq;

static void setup(void)
{
	ring = rc_test_ring(CAP, 0, RC_POLICY_DROP);
	reader_ack = rc_test_ack_page();
	sleeper_ack = rc_test_ack_page();
	CHECK_STATUS(rc_pub_init(&pub, ring, rc_ring_size(CAP)), RC_OK);
	CHECK_EQ(pub.policy, RC_POLICY_DROP);
	rc_test_join(&pub, &reader, reader_ack, READER, -1, -1);
	rc_test_join(&pub, &sleeper, sleeper_ack, SLEEPER, -1, -1);
	next_seq = reader_seq = 0;
}

static void teardown(void)
{
	free(reader_ack);
	free(sleeper_ack);
	free(ring);
}

static void reader_drains(void)
{
	struct rc_entry e[64];
	int n;

	while ((n = rc_sub_read(&reader, out, sizeof(out), e, 64)) > 0) {
		for (int i = 0; i < n; i++) {
			CHECK_EQ(e[i].seq, reader_seq);
			CHECK_EQ(e[i].length, MSG);
			CHECK(rc_test_matches(out + e[i].offset, reader_seq, 0, MSG));
			reader_seq++;
		}
	}
	CHECK_STATUS(n, 0);
	CHECK_EQ(reader_seq, next_seq);
}

/* Publishes one message; never RC_EAGAIN. Returns the tail it started at. */
static uint64_t publish_one(void)
{
	uint64_t tail = pub.tail;

	rc_test_publish(&pub, next_seq++, MSG);
	/* whoever still counts was never overrun */
	CHECK(pub.desc->tail_intent <= reader.pos + CAP);
	return tail;
}

static void sleeper_is_evicted_reader_gets_all(void)
{
	uint64_t evicted_at = 0;
	struct rc_entry e[4];
	const struct rc_slot *m;

	setup();
	m = rc_test_mirror(&pub, SLEEPER);
	for (int i = 0; i < 1000; i++) {
		uint64_t span = rc_pub_message_span(&pub, MSG);
		uint64_t tail = publish_one();

		if (pub.slots[SLEEPER].state != RC_SLOT_EVICTED) {
			CHECK(tail + span <= CAP);
		} else if (!evicted_at) {
			/* evicted exactly when its unread bytes were about to go */
			evicted_at = tail;
			CHECK(tail + span > CAP);
		}
		if (i % 10 == 9)
			reader_drains();
	}
	reader_drains();
	CHECK(evicted_at > 0);
	CHECK_EQ(m->state, RC_SLOT_EVICTED);
	CHECK_EQ(m->evict_reason, RC_EVICT_SLOW);
	CHECK_EQ(m->lost_from, 0);
	CHECK_EQ(m->lost_to, evicted_at);
	CHECK_EQ(m->evictions, 1);
	CHECK_EQ(pub.slots[READER].state, RC_SLOT_ACTIVE);
	CHECK_EQ(rc_test_mirror(&pub, READER)->evictions, 0);
	CHECK(pub.tail > 5 * CAP);

	CHECK_STATUS(rc_sub_read(&sleeper, out, sizeof(out), e, 4), RC_EEVICTED);
	CHECK_EQ(sleeper.lost_from, 0);
	CHECK_EQ(sleeper.lost_to, evicted_at);
	CHECK_STATUS(rc_sub_poll(&sleeper, e, 4), RC_EEVICTED);
	teardown();
}

/* The sleeper took a zero-copy batch and sat on it while the publisher
 * lapped it: release reports the overwrite with the lost range. */
static void held_batch_is_lapped(void)
{
	struct rc_entry e[4];
	uint64_t pos;

	setup();
	for (int i = 0; i < 5; i++)
		publish_one();
	reader_drains();
	CHECK_STATUS(rc_sub_poll(&sleeper, e, 4), 4);
	pos = sleeper.pos;
	CHECK_EQ(pos, 0);
	for (int i = 0; i < 200; i++) {
		publish_one();
		reader_drains();
	}
	CHECK_EQ(pub.slots[SLEEPER].state, RC_SLOT_EVICTED);
	CHECK_STATUS(rc_sub_release(&sleeper), RC_ELAPPED);
	CHECK_EQ(sleeper.lost_from, pos);
	CHECK_EQ(sleeper.lost_to, pub.desc->tail_intent - CAP);
	CHECK(sleeper.lost_to > pos);
	CHECK_EQ(sleeper_ack->ack, 0); /* nothing acknowledged */
	CHECK_STATUS(rc_sub_poll(&sleeper, e, 4), RC_EEVICTED);
	teardown();
}

/* A reader that stays within one ring is never evicted, even when it runs
 * right at the edge. */
static void reader_at_the_edge_survives(void)
{
	setup();
	rc_pub_detach(&pub, SLEEPER, RC_EVICT_CLOSED);
	for (int round = 0; round < 100; round++) {
		/* fill to just under a ring ahead of the reader, then drain */
		while (pub.tail + rc_pub_message_span(&pub, MSG) <= reader.pos + CAP)
			publish_one();
		CHECK_EQ(pub.slots[READER].state, RC_SLOT_ACTIVE);
		reader_drains();
	}
	teardown();
}

/* Everybody evicted: the publisher runs unlimited; a rejoin starts at the
 * live head and sees only what comes after. */
static void rejoin_after_eviction(void)
{
	struct rc_entry e[8];
	uint64_t generation = 0, head;

	setup();
	for (int i = 0; i < 300; i++)
		rc_test_publish(&pub, next_seq++, MSG);
	CHECK_EQ(pub.slots[READER].state, RC_SLOT_EVICTED);
	CHECK_EQ(pub.slots[SLEEPER].state, RC_SLOT_EVICTED);
	CHECK_EQ(rc_pub_refresh(&pub), UINT64_MAX);

	head = pub.head;
	rc_ack_page_format(sleeper_ack, &pub, SLEEPER, rc_test_mirror(&pub, SLEEPER)->generation + 1);
	CHECK_STATUS(rc_pub_attach(&pub, SLEEPER, sleeper_ack, -1, 1, 1, &generation), RC_OK);
	CHECK_EQ(generation, 2);
	CHECK_STATUS(rc_sub_init(&sleeper, ring, rc_ring_size(CAP), sleeper_ack, RC_ACK_PAGE_SIZE, -1), RC_OK);
	CHECK_EQ(sleeper.pos, head);
	CHECK_EQ(rc_test_mirror(&pub, SLEEPER)->join_position, head);
	rc_test_publish(&pub, next_seq, MSG);
	CHECK_STATUS(rc_sub_read(&sleeper, out, sizeof(out), e, 8), 1);
	CHECK_EQ(e[0].seq, next_seq);
	CHECK(rc_test_matches(out, next_seq, 0, MSG));
	teardown();
}

int main(void)
{
	RUN(sleeper_is_evicted_reader_gets_all);
	RUN(held_batch_is_lapped);
	RUN(reader_at_the_edge_survives);
	RUN(rejoin_after_eviction);
	return rc_test_done("test_drop");
}
