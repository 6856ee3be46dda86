// SPDX-License-Identifier: MIT
/*
 * How an eviction is counted: the slot's lost_to_seq entry lets a
 * subscriber count its lost messages from its own read position (which the
 * publisher's last validated ack may be behind, after a forged ack), and
 * the publisher's per-slot eviction count survives a rejoin that follows
 * before anyone took the slot's changes.
 */
#include "rc_test.h"

#define CAP RC_TEST_CAPACITY
#define MSG 64

static struct rc_publisher pub;
static struct rc_subscriber sub, other;
static struct rc_ack_page *ack, *other_ack;
static uint8_t *ring;
static uint8_t out[CAP];
static struct rc_entry e[256];

static const uint64_t *lost_to_seq_entry(uint32_t slot)
{
	return rc_ring_lost_to_seq_const(ring, slot);
}

static void forged_ack_counts_from_the_read_position(void)
{
	int got = 0;

	ring = rc_test_bus(&pub, CAP, RC_POLICY_BLOCK, &ack, &other_ack);
	rc_test_join(&pub, &sub, ack, 0, -1, -1);
	for (uint64_t seq = 0; seq < 100; seq++)
		rc_test_publish(&pub, seq, MSG);
	rc_pub_refresh(&pub); /* validates ack = 0: nothing read yet */
	while (got < 60)
		got += rc_sub_read(&sub, out, sizeof(out), e, (uint32_t)(60 - got));
	CHECK_EQ(got, 60);
	/* Someone with rights over the subscriber writes its ack page. */
	ack->ack = UINT64_MAX;
	rc_pub_refresh(&pub); /* evicted PROTOCOL from the last ack it validated */
	CHECK_EQ(rc_test_mirror(&pub, 0)->evict_reason, RC_EVICT_PROTOCOL);
	CHECK_EQ(rc_test_mirror(&pub, 0)->lost_from, 0);
	CHECK_EQ(rc_test_mirror(&pub, 0)->lost_messages, 100); /* the publisher's account */
	CHECK_EQ(*lost_to_seq_entry(0), 100);                   /* next message: seq 100 */
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 256), RC_EEVICTED);
	/* The subscriber's account: its bytes from its own position, and the
	 * messages 60..99 the same range holds. */
	CHECK_EQ(sub.lost_from, sub.pos);
	CHECK_EQ(sub.lost_to - sub.lost_from, 40 * (16 + MSG));
	CHECK_EQ(sub.lost_to_seq, 100);
	CHECK_EQ(sub.lost_to_seq - 60, 40);
	rc_test_bus_free(ring, ack, other_ack);
}

static void lost_to_seq_counts_a_message_being_written(void)
{
	static uint8_t big[3 * CAP / 4];
	uint64_t offset = 0;

	ring = rc_test_bus(&pub, CAP, RC_POLICY_BLOCK, &ack, &other_ack);
	rc_test_join(&pub, &sub, ack, 0, -1, -1);
	rc_test_publish(&pub, 0, MSG);
	/* A message of several records, part-written when the eviction comes:
	 * the ring fills (block: `sub` read nothing) before its end. */
	CHECK_STATUS(rc_pub_write(&pub, big, CAP / 2, &offset), RC_OK);
	offset = 0;
	CHECK_STATUS(rc_pub_write(&pub, big, sizeof(big), &offset), RC_EAGAIN);
	CHECK(pub.in_message);
	rc_pub_evict(&pub, 0, RC_EVICT_SLOW);
	CHECK_EQ(*lost_to_seq_entry(0), 3); /* message 2 counts as lost */
	rc_test_bus_free(ring, ack, other_ack);
}

static void an_eviction_then_a_rejoin_is_still_counted(void)
{
	uint64_t generation;

	ring = rc_test_bus(&pub, CAP, RC_POLICY_BLOCK, &ack, &other_ack);
	rc_test_join(&pub, &sub, ack, 0, -1, -1);
	rc_test_join(&pub, &other, other_ack, 1, -1, -1);
	rc_pub_take_changes(&pub);
	CHECK_EQ(pub.slots[0].last_eviction.count, 0);
	rc_test_publish(&pub, 0, MSG);
	ack->ack = UINT64_MAX;
	rc_pub_refresh(&pub);
	/* It rejoins (a guest does so through shared memory) before the
	 * publisher's caller takes the changes: the state is ACTIVE again... */
	rc_pub_detach(&pub, 0, RC_EVICT_CLOSED);
	rc_ack_page_format(ack, &pub, 0, rc_test_mirror(&pub, 0)->generation + 1);
	CHECK_STATUS(rc_pub_attach(&pub, 0, ack, -1, 1000, 500, &generation), RC_OK);
	CHECK_EQ(rc_pub_take_changes(&pub), 1);
	CHECK_EQ(pub.slots[0].state, RC_SLOT_ACTIVE);
	/* ...but the eviction is counted, with its reason and range. */
	CHECK_EQ(pub.slots[0].last_eviction.count, 1);
	CHECK_EQ(pub.slots[0].last_eviction.reason, RC_EVICT_PROTOCOL);
	CHECK_EQ(pub.slots[0].last_eviction.lost_to - pub.slots[0].last_eviction.lost_from, 16 + MSG);
	CHECK_EQ(pub.slots[0].last_eviction.lost_messages, 1);
	CHECK_EQ(pub.slots[1].last_eviction.count, 0);
	rc_test_bus_free(ring, ack, other_ack);
}

int main(void)
{
	RUN(forged_ack_counts_from_the_read_position);
	RUN(lost_to_seq_counts_a_message_being_written);
	RUN(an_eviction_then_a_rejoin_is_still_counted);
	return rc_test_done("test_accounting");
}
