// SPDX-License-Identifier: MIT
/*
 * Sleep/wake over eventfd doorbells: a sleeper announces itself, the waker
 * rings only announced sleepers, at most once per announcement, and peers
 * that keep up cost no syscall at all.
 */
#include "rc_test.h"

#include <errno.h>
#include <unistd.h>

#include "rc_memfd.h"

#define CAP RC_TEST_CAPACITY
#define MSG 1000

static struct rc_publisher pub;
static struct rc_subscriber sub, other;
static struct rc_ack_page *ack, *other_ack;
static uint8_t *ring;
static uint8_t out[CAP];
static struct rc_entry e[64];
static int sub_bell, other_bell, pub_bell;
static uint64_t next_seq;

static int new_eventfd(void)
{
	int fd = rc_eventfd_create();

	if (fd == -ENOSYS || fd == -EPERM) {
		printf("skip: eventfd unavailable (%d)\n", fd);
		exit(RC_TEST_SKIP);
	}
	CHECK(fd >= 0);
	return fd;
}

static void setup(uint32_t policy)
{
	ring = rc_test_bus(&pub, CAP, policy, &ack, &other_ack);
	sub_bell = new_eventfd();
	other_bell = new_eventfd();
	pub_bell = new_eventfd();
	rc_test_join(&pub, &sub, ack, 0, sub_bell, pub_bell);
	rc_test_join(&pub, &other, other_ack, 1, other_bell, pub_bell);
	next_seq = 0;
}

static void teardown(void)
{
	close(sub_bell);
	close(other_bell);
	close(pub_bell);
	rc_test_bus_free(ring, ack, other_ack);
}

static void publish(int n)
{
	while (n-- > 0)
		rc_test_publish(&pub, next_seq++, MSG);
}

static int read_all(struct rc_subscriber *s)
{
	int n, total = 0;

	while ((n = rc_sub_read(s, out, sizeof(out), e, 64)) > 0)
		total += n;
	CHECK_STATUS(n, 0);
	return total;
}

static void subscriber_is_rung_once_per_sleep(void)
{
	setup(RC_POLICY_BLOCK);
	CHECK(rc_sub_prepare_wait(&sub));
	CHECK_EQ(ack->sleeping, 1);
	CHECK_EQ(ack->sleep_seq, 1);
	CHECK_EQ(rc_eventfd_drain(sub_bell), 0);

	publish(1);
	CHECK_EQ(rc_eventfd_drain(sub_bell), 1);
	CHECK_EQ(pub.doorbells_rung, 1);
	/* still the same sleep: no second ring */
	publish(1);
	publish(1);
	CHECK_EQ(rc_eventfd_drain(sub_bell), 0);
	CHECK_EQ(pub.doorbells_rung, 1);
	/* the other subscriber never slept: never rung */
	CHECK_EQ(rc_eventfd_drain(other_bell), 0);

	rc_sub_end_wait(&sub);
	CHECK_EQ(ack->sleeping, 0);
	/* data is there: no sleep, and the announcement is withdrawn */
	CHECK(!rc_sub_prepare_wait(&sub));
	CHECK_EQ(ack->sleeping, 0);
	CHECK_EQ(read_all(&sub), 3);
	CHECK_EQ(read_all(&other), 3);

	/* a new sleep is rung again */
	CHECK(rc_sub_prepare_wait(&sub));
	CHECK_EQ(ack->sleep_seq, 3);
	publish(1);
	CHECK_EQ(rc_eventfd_drain(sub_bell), 1);
	rc_sub_end_wait(&sub);
	/* and a commit with nothing new rings nobody */
	CHECK(!rc_sub_prepare_wait(&sub));
	CHECK_EQ(read_all(&sub), 1);
	CHECK(rc_sub_prepare_wait(&sub));
	rc_pub_commit(&pub);
	CHECK_EQ(rc_eventfd_drain(sub_bell), 0);
	teardown();
}

static void busy_peers_cost_no_syscall(void)
{
	setup(RC_POLICY_BLOCK);
	for (int i = 0; i < 500; i++) {
		publish(3);
		CHECK_EQ(read_all(&sub), 3);
		CHECK_EQ(read_all(&other), 3);
	}
	CHECK_EQ(pub.doorbells_rung, 0);
	CHECK_EQ(sub.doorbells_rung, 0);
	CHECK_EQ(other.doorbells_rung, 0);
	CHECK_EQ(rc_eventfd_drain(sub_bell), 0);
	CHECK_EQ(rc_eventfd_drain(other_bell), 0);
	CHECK_EQ(rc_eventfd_drain(pub_bell), 0);
	CHECK_EQ(pub.desc->publisher_waiting, 0);
	teardown();
}

/* Fills the ring (both subscribers idle); returns messages written. */
static int fill(void)
{
	int n = 0;

	for (;;) {
		uint64_t offset = 0;
		uint8_t m[MSG];

		rc_test_fill(m, next_seq, MSG);
		if (rc_pub_write(&pub, m, MSG, &offset) == RC_EAGAIN)
			break;
		next_seq++;
		n++;
	}
	rc_pub_commit(&pub);
	return n;
}

static void publisher_is_rung_when_room_appears(void)
{
	uint32_t wait_id;

	setup(RC_POLICY_BLOCK);
	/* room: no sleep, nothing announced */
	CHECK(!rc_pub_prepare_wait(&pub, MSG));
	CHECK_EQ(pub.desc->publisher_waiting, 0);

	CHECK(fill() > 0);
	CHECK(rc_pub_prepare_wait(&pub, MSG));
	wait_id = pub.desc->publisher_waiting;
	CHECK(wait_id != 0);

	/* `sub` reads: still no room (`other` is the limit too), but the
	 * waiting publisher is told so it can re-check */
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 2), 2);
	CHECK_EQ(rc_eventfd_drain(pub_bell), 1);
	CHECK_EQ(sub.doorbells_rung, 1);
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 2), 2);
	CHECK_EQ(rc_eventfd_drain(pub_bell), 0); /* once per wait */
	CHECK_STATUS(rc_sub_read(&other, out, sizeof(out), e, 2), 2);
	CHECK_EQ(rc_eventfd_drain(pub_bell), 1); /* each subscriber once */
	rc_pub_end_wait(&pub);
	CHECK_EQ(pub.desc->publisher_waiting, 0);

	/* now there is room: prepare_wait says so and withdraws */
	CHECK(!rc_pub_prepare_wait(&pub, MSG));
	CHECK_EQ(pub.desc->publisher_waiting, 0);
	/* an ack while nobody waits rings nothing */
	CHECK_STATUS(rc_sub_read(&other, out, sizeof(out), e, 2), 2);
	CHECK_EQ(rc_eventfd_drain(pub_bell), 0);

	/* the next wait gets a new id and is rung again */
	CHECK(fill() > 0);
	CHECK(rc_pub_prepare_wait(&pub, MSG));
	CHECK(pub.desc->publisher_waiting != 0);
	CHECK(pub.desc->publisher_waiting != wait_id);
	read_all(&sub);
	read_all(&other);
	CHECK_EQ(rc_eventfd_drain(pub_bell), 2);
	rc_pub_end_wait(&pub);

	/* a payload bigger than a record waits for one record's room */
	CHECK(fill() > 0);
	read_all(&sub);
	CHECK_STATUS(rc_sub_read(&other, out, sizeof(out), e, 1), 1);
	CHECK(rc_pub_prepare_wait(&pub, 100ull * CAP));
	rc_pub_end_wait(&pub);
	read_all(&other);
	CHECK(!rc_pub_prepare_wait(&pub, 100ull * CAP));
	teardown();
}

static void eviction_and_close_ring_sleepers(void)
{
	setup(RC_POLICY_BLOCK);
	CHECK(rc_sub_prepare_wait(&other));
	rc_pub_evict(&pub, 1, RC_EVICT_SLOW);
	CHECK_EQ(rc_eventfd_drain(other_bell), 1);
	/* the evicted one does not go back to sleep */
	rc_sub_end_wait(&other);
	CHECK(!rc_sub_prepare_wait(&other));

	CHECK(rc_sub_prepare_wait(&sub));
	rc_pub_close(&pub);
	CHECK_EQ(rc_eventfd_drain(sub_bell), 1);
	CHECK_EQ(rc_eventfd_drain(other_bell), 0); /* evicted: not counted */
	rc_sub_end_wait(&sub);
	CHECK(!rc_sub_prepare_wait(&sub));
	teardown();
}

/* Drop policy: a sleeper about to be overrun is evicted and woken. */
static void overrun_sleeper_is_woken(void)
{
	setup(RC_POLICY_DROP);
	rc_pub_detach(&pub, 1, RC_EVICT_CLOSED);
	CHECK(rc_sub_prepare_wait(&sub));
	publish(1);
	CHECK_EQ(rc_eventfd_drain(sub_bell), 1);
	publish(200); /* it sleeps through it all */
	CHECK_EQ(pub.slots[0].state, RC_SLOT_EVICTED);
	CHECK_EQ(rc_eventfd_drain(sub_bell), 1);
	rc_sub_end_wait(&sub);
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 64), RC_EEVICTED);
	teardown();
}

int main(void)
{
	RUN(subscriber_is_rung_once_per_sleep);
	RUN(busy_peers_cost_no_syscall);
	RUN(publisher_is_rung_when_room_appears);
	RUN(eviction_and_close_ring_sleepers);
	RUN(overrun_sleeper_is_woken);
	return rc_test_done("test_wake");
}
