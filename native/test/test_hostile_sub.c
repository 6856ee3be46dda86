// SPDX-License-Identifier: MIT
/*
 * A hostile subscriber owns its ack page and nothing else. Whatever it
 * writes there, the publisher validates: an ack that goes backwards or past
 * head evicts it with RC_EVICT_PROTOCOL at the next refresh, the slot mirror
 * says so, the healthy subscriber never notices, and the hostile one's next
 * read is RC_EEVICTED.
 */
#include "rc_test.h"

#define CAP RC_TEST_CAPACITY
#define MSG 500

enum { GOOD = 0, BAD = 1 };

static struct rc_publisher pub;
static struct rc_subscriber good, bad;
static struct rc_ack_page *good_ack, *bad_ack;
static uint8_t *ring;
static uint8_t out[CAP];
static uint64_t next_seq, good_seq;

static void setup(void)
{
	ring = rc_test_ring(CAP, 0, RC_POLICY_BLOCK);
	good_ack = rc_test_ack_page();
	bad_ack = rc_test_ack_page();
	CHECK_STATUS(rc_pub_init(&pub, ring, rc_ring_size(CAP)), RC_OK);
	rc_test_join(&pub, &good, good_ack, GOOD, -1, -1);
	rc_test_join(&pub, &bad, bad_ack, BAD, -1, -1);
	next_seq = good_seq = 0;
}

static void teardown(void)
{
	free(good_ack);
	free(bad_ack);
	free(ring);
}

static void publish(int n)
{
	while (n-- > 0)
		rc_test_publish(&pub, next_seq++, MSG);
}

/* Everything published so far, in order, intact. */
static void good_reads_everything(void)
{
	struct rc_entry e[64];
	int n;

	while ((n = rc_sub_read(&good, out, sizeof(out), e, 64)) > 0) {
		for (int i = 0; i < n; i++) {
			CHECK_EQ(e[i].seq, good_seq);
			CHECK(rc_test_matches(out + e[i].offset, good_seq, 0, MSG));
			good_seq++;
		}
	}
	CHECK_STATUS(n, 0);
	CHECK_EQ(good_seq, next_seq);
}

static void read_n(struct rc_subscriber *sub, int want)
{
	struct rc_entry e[64];

	CHECK_STATUS(rc_sub_read(sub, out, sizeof(out), e, (uint32_t)want), want);
}

static void check_evicted(uint64_t lost_from, uint64_t lost_to)
{
	const struct rc_slot *m = rc_test_mirror(&pub, BAD);
	struct rc_entry e[1];

	CHECK_EQ(pub.slots[BAD].state, RC_SLOT_EVICTED);
	CHECK_EQ(m->state, RC_SLOT_EVICTED);
	CHECK_EQ(m->evict_reason, RC_EVICT_PROTOCOL);
	CHECK_EQ(m->lost_from, lost_from);
	CHECK_EQ(m->lost_to, lost_to);
	CHECK_EQ(m->evictions, 1);
	CHECK_EQ(m->generation, 1);
	/* the healthy one is untouched */
	CHECK_EQ(pub.slots[GOOD].state, RC_SLOT_ACTIVE);
	CHECK_EQ(rc_test_mirror(&pub, GOOD)->state, RC_SLOT_ACTIVE);
	CHECK_EQ(rc_test_mirror(&pub, GOOD)->evict_reason, RC_EVICT_NONE);

	CHECK_STATUS(rc_sub_read(&bad, out, sizeof(out), e, 1), RC_EEVICTED);
	CHECK_EQ(bad.lost_from, lost_from);
	CHECK_EQ(bad.lost_to, lost_to);
	CHECK_STATUS(rc_sub_poll(&bad, e, 1), RC_EEVICTED);
	CHECK(!rc_sub_prepare_wait(&bad)); /* never sleeps through its eviction */
}

/* With the hostile one gone, the publisher runs as far as the good one
 * reads, many rings' worth. */
static void good_keeps_going(void)
{
	for (int round = 0; round < 50; round++) {
		publish(60);
		good_reads_everything();
	}
	CHECK(pub.tail > 10 * CAP);
}

static void ack_backwards_is_evicted(void)
{
	uint64_t acked;

	setup();
	publish(10);
	read_n(&bad, 4);
	acked = bad_ack->ack;
	rc_pub_refresh(&pub);
	CHECK_EQ(pub.slots[BAD].acked, acked);
	CHECK_EQ(rc_test_mirror(&pub, BAD)->ack, acked);

	bad_ack->ack = acked - RC_RECORD_ALIGN;
	rc_pub_refresh(&pub);
	check_evicted(acked, pub.tail);
	good_reads_everything();
	good_keeps_going();
	teardown();
}

static void ack_to_zero_is_evicted(void)
{
	uint64_t acked;

	setup();
	publish(10);
	read_n(&bad, 10);
	rc_pub_refresh(&pub);
	acked = bad_ack->ack;
	bad_ack->ack = 0;
	rc_pub_refresh(&pub);
	check_evicted(acked, pub.tail);
	good_reads_everything();
	teardown();
}

static void ack_past_head_is_evicted(void)
{
	uint64_t offset = 0;
	uint8_t m[MSG];

	setup();
	publish(10);
	/* exactly head is fine: it read everything */
	bad_ack->ack = pub.head;
	rc_pub_refresh(&pub);
	CHECK_EQ(pub.slots[BAD].state, RC_SLOT_ACTIVE);
	CHECK_EQ(pub.slots[BAD].acked, pub.head);

	/* written but not committed is not readable, so not ackable */
	rc_test_fill(m, next_seq, MSG);
	CHECK_STATUS(rc_pub_write(&pub, m, MSG, &offset), RC_OK);
	next_seq++;
	bad_ack->ack = pub.tail;
	rc_pub_refresh(&pub);
	check_evicted(pub.head, pub.tail);
	rc_pub_commit(&pub);
	good_reads_everything();
	good_keeps_going();
	teardown();
}

static void absurd_ack_is_evicted(void)
{
	setup();
	publish(3);
	bad_ack->ack = UINT64_MAX;
	rc_pub_refresh(&pub);
	check_evicted(0, pub.tail);
	good_reads_everything();
	teardown();
}

/* The publisher is blocked on the hostile one (it reads nothing); the
 * protocol violation is found by the refresh inside the next write, which
 * then succeeds instead of waiting. */
static void violation_found_while_blocked(void)
{
	uint64_t offset = 0, blocked_at;
	uint8_t m[MSG];
	int r;

	setup();
	for (;;) {
		offset = 0;
		rc_test_fill(m, next_seq, MSG);
		r = rc_pub_write(&pub, m, MSG, &offset);
		if (r == RC_EAGAIN)
			break;
		CHECK_STATUS(r, RC_OK);
		next_seq++;
	}
	rc_pub_commit(&pub);
	good_reads_everything();
	CHECK_STATUS(rc_pub_write(&pub, m, MSG, &offset), RC_EAGAIN);

	bad_ack->ack = pub.head + CAP;
	blocked_at = pub.tail;
	CHECK_STATUS(rc_pub_write(&pub, m, MSG, &offset), RC_OK);
	next_seq++;
	rc_pub_commit(&pub);
	check_evicted(0, blocked_at);
	good_reads_everything();
	teardown();
}

/* Eviction is sticky: an ack that becomes valid again does not reinstate
 * the slot, a second eviction changes nothing, and a rejoin gets a new
 * generation that the old incarnation cannot use. */
static void eviction_is_sticky_and_rejoin_is_fresh(void)
{
	struct rc_subscriber again;
	struct rc_ack_page *again_ack = rc_test_ack_page();
	struct rc_entry e[4];
	uint64_t generation = 0;

	setup();
	publish(4);
	bad_ack->ack = pub.head + 16;
	rc_pub_refresh(&pub);
	check_evicted(0, pub.tail);
	bad_ack->ack = pub.head;
	rc_pub_refresh(&pub);
	rc_pub_evict(&pub, BAD, RC_EVICT_SLOW);
	check_evicted(0, pub.tail);

	/* rejoin in the same slot, with a new ack page */
	rc_ack_page_format(again_ack, &pub, BAD, 2);
	CHECK_STATUS(rc_pub_attach(&pub, BAD, again_ack, -1, 1, 1, &generation), RC_OK);
	CHECK_EQ(generation, 2);
	CHECK_EQ(pub.attached, 2);
	CHECK_STATUS(rc_sub_init(&again, ring, rc_ring_size(CAP), again_ack, RC_ACK_PAGE_SIZE, -1), RC_OK);
	CHECK_EQ(rc_test_mirror(&pub, BAD)->state, RC_SLOT_ACTIVE);
	CHECK_EQ(rc_test_mirror(&pub, BAD)->evictions, 1); /* history kept */
	publish(2);
	CHECK_STATUS(rc_sub_read(&again, out, sizeof(out), e, 4), 2);
	CHECK_EQ(e[0].seq, 4);
	/* the old incarnation sees a slot that is no longer its own */
	CHECK_STATUS(rc_sub_read(&bad, out, sizeof(out), e, 4), RC_EEVICTED);
	/* and its ack page is no longer read at all */
	bad_ack->ack = UINT64_MAX;
	rc_pub_refresh(&pub);
	CHECK_EQ(rc_test_mirror(&pub, BAD)->state, RC_SLOT_ACTIVE);
	good_reads_everything();
	free(again_ack);
	teardown();
}

/* The sleep fields are hostile too: flipping them costs the publisher at
 * most one doorbell per commit, never a wrong decision. */
static void sleep_fields_cannot_flood(void)
{
	setup();
	for (int i = 0; i < 100; i++) {
		bad_ack->sleeping = 1;
		bad_ack->sleep_seq += 1000003u;
		publish(1);
		good_reads_everything();
		read_n(&bad, 1);
	}
	CHECK(pub.doorbells_rung <= 100);
	CHECK_EQ(pub.slots[BAD].state, RC_SLOT_ACTIVE);
	teardown();
}

int main(void)
{
	RUN(ack_backwards_is_evicted);
	RUN(ack_to_zero_is_evicted);
	RUN(ack_past_head_is_evicted);
	RUN(absurd_ack_is_evicted);
	RUN(violation_found_while_blocked);
	RUN(eviction_is_sticky_and_rejoin_is_fresh);
	RUN(sleep_fields_cannot_flood);
	return rc_test_done("test_hostile_sub");
}
