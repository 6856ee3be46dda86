// SPDX-License-Identifier: MIT
/*
 * Block policy's bounds: a lag bound that evicts instead of waiting, the
 * evict-after timeout's rc_pub_evict_blocking, LAGGING as a reported (not
 * enforced) state, heartbeats for peers without a connection, rc_pub_offer's
 * all-or-nothing writes, the change mask that feeds the events, and the mask
 * of counted slots that the publisher's loops visit.
 */
#include <sys/eventfd.h>
#include <unistd.h>

#include "rc_test.h"

#define CAP RC_TEST_CAPACITY
#define MSG 1000

static struct rc_publisher pub;
static struct rc_subscriber fast, slow;
static struct rc_ack_page *fast_ack, *slow_ack;
static uint8_t *ring;
static uint8_t out[CAP];
static struct rc_entry e[256];
static uint8_t msg[MSG];

static void setup(void)
{
	ring = rc_test_bus(&pub, CAP, RC_POLICY_BLOCK, &fast_ack, &slow_ack);
	rc_test_join(&pub, &fast, fast_ack, 0, -1, -1);
	rc_test_join(&pub, &slow, slow_ack, 1, -1, -1);
	CHECK_EQ(rc_pub_take_changes(&pub), 3); /* both attaches */
}

static void teardown(void)
{
	rc_test_bus_free(ring, fast_ack, slow_ack);
}

static void drain_fast(void)
{
	while (rc_sub_read(&fast, out, sizeof(out), e, 256) > 0)
		;
}

static void offer_is_all_or_nothing(void)
{
	static uint8_t big[CAP];
	uint64_t head;

	setup();
	/* A message of several records that does not fit whole writes nothing. */
	while (rc_pub_offer(&pub, msg, MSG) == RC_OK)
		rc_pub_commit(&pub);
	head = pub.tail;
	drain_fast();
	CHECK_STATUS(rc_pub_offer(&pub, big, CAP / 2), RC_EAGAIN);
	CHECK_EQ(pub.tail, head);
	CHECK(!pub.in_message);
	CHECK_STATUS(rc_pub_offer(&pub, big, 2 * CAP), RC_ETOOBIG);
	teardown();
}

static void max_lag_evicts_instead_of_waiting(void)
{
	int n = 0;

	setup();
	CHECK_STATUS(rc_pub_set_max_lag(&pub, 100), RC_EINVAL);     /* below two records */
	CHECK_STATUS(rc_pub_set_max_lag(&pub, 2 * CAP), RC_EINVAL); /* beyond the ring */
	CHECK_STATUS(rc_pub_set_max_lag(&pub, 40000), RC_OK);
	for (; n < 200; n++) {
		CHECK_STATUS(rc_pub_offer(&pub, msg, MSG), RC_OK); /* never waits */
		rc_pub_commit(&pub);
		drain_fast();
	}
	CHECK_EQ(rc_test_mirror(&pub, 1)->state, RC_SLOT_EVICTED);
	CHECK_EQ(rc_test_mirror(&pub, 1)->evict_reason, RC_EVICT_SLOW);
	CHECK(rc_test_mirror(&pub, 1)->lost_to - rc_test_mirror(&pub, 1)->lost_from > 40000 - 2 * MSG);
	/* It read nothing: every message written before its eviction is lost,
	 * counted from the seq of the record at its ack (40000 / 1016 bytes). */
	CHECK_EQ(rc_test_mirror(&pub, 1)->lost_messages, 39);
	CHECK_EQ(rc_test_mirror(&pub, 0)->state, RC_SLOT_ACTIVE);
	CHECK(rc_pub_take_changes(&pub) & 2);
	CHECK_STATUS(rc_sub_read(&slow, out, sizeof(out), e, 256), RC_EEVICTED);
	teardown();
}

static void evict_blocking_takes_only_the_blockers(void)
{
	setup();
	while (rc_pub_offer(&pub, msg, MSG) == RC_OK)
		rc_pub_commit(&pub);
	drain_fast();
	CHECK_STATUS(rc_pub_offer(&pub, msg, MSG), RC_EAGAIN); /* block: waits for `slow` */
	rc_pub_take_changes(&pub);
	CHECK_EQ(rc_pub_evict_blocking(&pub, MSG), 1);
	CHECK_EQ(rc_pub_take_changes(&pub), 2);
	CHECK_EQ(rc_test_mirror(&pub, 0)->state, RC_SLOT_ACTIVE);
	CHECK_STATUS(rc_pub_offer(&pub, msg, MSG), RC_OK);
	CHECK_EQ(rc_pub_evict_blocking(&pub, MSG), 0); /* nobody blocks now */
	teardown();
}

static void lagging_is_reported_and_cleared(void)
{
	setup();
	for (int i = 0; i < 40; i++) { /* 40 records of 1016 bytes: past half the ring */
		CHECK_STATUS(rc_pub_offer(&pub, msg, MSG), RC_OK);
		rc_pub_commit(&pub);
	}
	drain_fast();
	rc_pub_refresh(&pub);
	CHECK_EQ(rc_test_mirror(&pub, 1)->state, RC_SLOT_LAGGING);
	CHECK_EQ(rc_sub_slot_state(&slow), RC_SLOT_LAGGING);
	CHECK_EQ(rc_test_mirror(&pub, 0)->state, RC_SLOT_ACTIVE);
	CHECK_EQ(rc_pub_take_changes(&pub), 2);
	CHECK_STATUS(rc_sub_read(&slow, out, sizeof(out), e, 256), 40); /* still counted, still reads */
	rc_pub_refresh(&pub);
	CHECK_EQ(rc_test_mirror(&pub, 1)->state, RC_SLOT_ACTIVE);
	CHECK_EQ(rc_pub_take_changes(&pub), 2);
	teardown();
}

/* Hysteresis: LAGGING above half the lag bound stays LAGGING until the lag
 * is down to a quarter, so a lag hovering around half does not flap. */
static void lagging_has_hysteresis(void)
{
	setup();
	for (int i = 0; i < 40; i++) { /* 40 records of 1016 bytes: lag 40640 > 32768 */
		CHECK_STATUS(rc_pub_offer(&pub, msg, MSG), RC_OK);
		rc_pub_commit(&pub);
	}
	drain_fast();
	rc_pub_refresh(&pub);
	CHECK_EQ(rc_test_mirror(&pub, 1)->state, RC_SLOT_LAGGING);
	CHECK_STATUS(rc_sub_read(&slow, out, sizeof(out), e, 20), 20); /* lag 20320: under half, over a quarter */
	rc_pub_refresh(&pub);
	CHECK_EQ(rc_test_mirror(&pub, 1)->state, RC_SLOT_LAGGING);
	CHECK_STATUS(rc_sub_read(&slow, out, sizeof(out), e, 5), 5); /* lag 15240: at most a quarter */
	rc_pub_refresh(&pub);
	CHECK_EQ(rc_test_mirror(&pub, 1)->state, RC_SLOT_ACTIVE);
	/* ... and back to LAGGING only above half again, not above a quarter */
	for (int i = 0; i < 10; i++) { /* lag 25400 */
		CHECK_STATUS(rc_pub_offer(&pub, msg, MSG), RC_OK);
		rc_pub_commit(&pub);
	}
	drain_fast();
	rc_pub_refresh(&pub);
	CHECK_EQ(rc_test_mirror(&pub, 1)->state, RC_SLOT_ACTIVE);
	teardown();
}

static void heartbeat_that_stops_is_dead(void)
{
	setup();
	CHECK_EQ(rc_pub_check_heartbeats(&pub, 1000, 300), 0); /* first look */
	rc_sub_heartbeat(&fast);
	CHECK_EQ(rc_pub_check_heartbeats(&pub, 1200, 300), 0);
	rc_sub_heartbeat(&fast);
	CHECK_EQ(rc_pub_check_heartbeats(&pub, 1400, 300), 1); /* `slow` never beat */
	CHECK_EQ(rc_test_mirror(&pub, 1)->evict_reason, RC_EVICT_DEAD);
	CHECK_EQ(rc_test_mirror(&pub, 0)->state, RC_SLOT_ACTIVE);
	CHECK_STATUS(rc_sub_read(&slow, out, sizeof(out), e, 256), RC_EEVICTED);
	teardown();
}

/* The publisher's loops (commit's look for sleepers, refresh, evictions,
 * heartbeats) visit the slots of its `counted` mask only: the mask must name
 * exactly the ACTIVE and LAGGING slots after every transition, or a commit
 * would skip a sleeper (a lost wake-up) and flow control a reader. */
static void check_counted(void)
{
	uint64_t want = 0;

	for (uint32_t i = 0; i < RC_MAX_SUBSCRIBERS; i++)
		if (pub.slots[i].state == RC_SLOT_ACTIVE || pub.slots[i].state == RC_SLOT_LAGGING)
			want |= 1ULL << i;
	CHECK_EQ(pub.counted, want);
}

static void counted_slots_follow_every_transition(void)
{
	int doorbell = eventfd(0, EFD_NONBLOCK);
	uint64_t rung = 0;

	CHECK(doorbell >= 0);
	setup();
	check_counted();
	rc_pub_detach(&pub, 1, RC_EVICT_CLOSED);
	check_counted();
	/* The last slot, asleep: the commit rings it. */
	rc_test_join(&pub, &slow, slow_ack, RC_MAX_SUBSCRIBERS - 1, doorbell, -1);
	check_counted();
	CHECK(rc_sub_prepare_wait(&slow));
	CHECK_STATUS(rc_pub_offer(&pub, msg, MSG), RC_OK);
	rc_pub_commit(&pub);
	CHECK_EQ(read(doorbell, &rung, sizeof(rung)), (ssize_t)sizeof(rung));
	CHECK_EQ(rung, 1);
	/* Evicted (told by its doorbell), rejoined, evicted for a forged ack. */
	rc_pub_evict(&pub, RC_MAX_SUBSCRIBERS - 1, RC_EVICT_SLOW);
	check_counted();
	CHECK_EQ(read(doorbell, &rung, sizeof(rung)), (ssize_t)sizeof(rung));
	rc_test_join(&pub, &slow, slow_ack, RC_MAX_SUBSCRIBERS - 1, doorbell, -1);
	check_counted();
	slow_ack->ack = pub.head + 1;
	rc_pub_refresh(&pub);
	CHECK_EQ(rc_test_mirror(&pub, RC_MAX_SUBSCRIBERS - 1)->state, RC_SLOT_EVICTED);
	check_counted();
	/* LAGGING counts: flow control still waits for it. */
	while (rc_pub_offer(&pub, msg, MSG) == RC_OK)
		rc_pub_commit(&pub);
	rc_pub_refresh(&pub);
	CHECK_EQ(pub.slots[0].state, RC_SLOT_LAGGING);
	check_counted();
	rc_pub_detach(&pub, 0, RC_EVICT_CLOSED);
	check_counted();
	CHECK_EQ(pub.counted, 0);
	close(doorbell);
	teardown();
}

int main(void)
{
	memset(msg, 0x5a, sizeof(msg));
	RUN(offer_is_all_or_nothing);
	RUN(max_lag_evicts_instead_of_waiting);
	RUN(evict_blocking_takes_only_the_blockers);
	RUN(lagging_is_reported_and_cleared);
	RUN(lagging_has_hysteresis);
	RUN(heartbeat_that_stops_is_dead);
	RUN(counted_slots_follow_every_transition);
	return rc_test_done("test_policy");
}
