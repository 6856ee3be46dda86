// SPDX-License-Identifier: MIT
/*
 * Lapped readers (the seqlock re-check): a zero-copy batch is only good if
 * tail_intent did not pass its start + capacity before rc_sub_release. The
 * overwrite is simulated by raising desc->tail_intent in raw memory, as a
 * publisher about to write there would.
 */
#include "rc_test.h"

#define CAP RC_TEST_CAPACITY
#define MSG 300

static struct rc_publisher pub;
static struct rc_subscriber sub;
static struct rc_ack_page *ack;
static uint8_t *ring;
static uint8_t out[CAP];
static struct rc_entry e[64];
static uint64_t next_seq;

static void setup(uint32_t policy)
{
	ring = rc_test_ring(CAP, 0, policy);
	ack = rc_test_ack_page();
	CHECK_STATUS(rc_pub_init(&pub, ring, rc_ring_size(CAP)), RC_OK);
	rc_test_join(&pub, &sub, ack, 4, -1, -1);
	next_seq = 0;
}

static void teardown(void)
{
	free(ack);
	free(ring);
}

static void publish(int n)
{
	while (n-- > 0)
		rc_test_publish(&pub, next_seq++, MSG);
}

/* Moves the reader (and everything) well into the ring's life first. */
static void warm_up(void)
{
	for (int i = 0; i < 600; i++) {
		publish(1);
		CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 64), 1);
	}
	CHECK(sub.pos > 2 * CAP);
}

static void overwritten_before_release(void)
{
	uint64_t pos, intent;

	setup(RC_POLICY_BLOCK);
	warm_up();
	publish(5);
	pos = sub.pos;
	CHECK_STATUS(rc_sub_poll(&sub, e, 64), 5);
	CHECK_EQ(sub.pending, pub.head);
	/* the publisher announces it will write 48 bytes over our batch */
	intent = pos + CAP + 48;
	pub.desc->tail_intent = intent;
	CHECK_STATUS(rc_sub_release(&sub), RC_ELAPPED);
	CHECK_EQ(sub.lost_from, pos);
	CHECK_EQ(sub.lost_to, intent - CAP);
	/* nothing acknowledged, nothing pending, and it stays lapped */
	CHECK_EQ(ack->ack, pos);
	CHECK_EQ(sub.pos, pos);
	CHECK_EQ(sub.pending, pos);
	CHECK_STATUS(rc_sub_poll(&sub, e, 64), RC_ELAPPED);
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 64), RC_ELAPPED);
	CHECK_EQ(sub.lost_from, pos);
	teardown();
}

/* A ring's worth ahead is the bound itself: not lapped yet. */
static void exactly_one_ring_ahead_is_not_lapped(void)
{
	uint64_t pos;

	setup(RC_POLICY_BLOCK);
	warm_up();
	publish(5);
	pos = sub.pos;
	CHECK_STATUS(rc_sub_poll(&sub, e, 64), 5);
	pub.desc->tail_intent = pos + CAP;
	CHECK_STATUS(rc_sub_release(&sub), RC_OK);
	CHECK_EQ(ack->ack, pub.head);
	teardown();
}

/* Lapped before it even started: the read reports it instead of copying. */
static void lapped_before_read(void)
{
	uint64_t pos;

	setup(RC_POLICY_BLOCK);
	warm_up();
	publish(3);
	pos = sub.pos;
	pub.desc->tail_intent = pos + CAP + 1024;
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 64), RC_ELAPPED);
	CHECK_EQ(sub.lost_from, pos);
	CHECK_EQ(sub.lost_to, pos + 1024);
	CHECK_STATUS(rc_sub_poll(&sub, e, 64), RC_ELAPPED);
	CHECK_EQ(ack->ack, pos);
	teardown();
}

/* Under policy block the real publisher never raises tail_intent past the
 * slowest ack + capacity: a held zero-copy batch stays intact however hard
 * the publisher pushes, and releases fine. */
static void block_policy_never_laps(void)
{
	int n, extra = 0;

	setup(RC_POLICY_BLOCK);
	warm_up();
	publish(20);
	n = rc_sub_poll(&sub, e, 64);
	CHECK_EQ(n, 20);
	for (;;) {
		uint64_t offset = 0;
		uint8_t m[MSG];

		rc_test_fill(m, next_seq, MSG);
		if (rc_pub_write(&pub, m, MSG, &offset) == RC_EAGAIN)
			break;
		next_seq++;
		extra++;
	}
	rc_pub_commit(&pub);
	CHECK(extra > 100);
	CHECK(pub.desc->tail_intent <= sub.pos + CAP);
	for (int i = 0; i < n; i++)
		CHECK(rc_test_matches(sub.data + e[i].offset, e[i].seq, 0, MSG));
	CHECK_STATUS(rc_sub_release(&sub), RC_OK);
	while ((n = rc_sub_read(&sub, out, sizeof(out), e, 64)) > 0)
		;
	CHECK_STATUS(n, 0);
	CHECK_EQ(sub.pos, pub.head);
	teardown();
}

/* Under policy drop the real publisher does lap a reader that holds a
 * batch too long; the evidence is in tail_intent, and release finds it. */
static void drop_policy_laps_a_held_batch(void)
{
	uint64_t pos;
	int n;

	setup(RC_POLICY_DROP);
	warm_up();
	publish(20);
	pos = sub.pos;
	n = rc_sub_poll(&sub, e, 64);
	CHECK_EQ(n, 20);
	publish(400);
	CHECK(pub.desc->tail_intent > pos + CAP);
	CHECK_STATUS(rc_sub_release(&sub), RC_ELAPPED);
	CHECK_EQ(sub.lost_from, pos);
	CHECK_EQ(sub.lost_to, pub.desc->tail_intent - CAP);
	teardown();
}

int main(void)
{
	RUN(overwritten_before_release);
	RUN(exactly_one_ring_ahead_is_not_lapped);
	RUN(lapped_before_read);
	RUN(block_policy_never_laps);
	RUN(drop_policy_laps_a_held_batch);
	return rc_test_done("test_lapped");
}
