// SPDX-License-Identifier: MIT
/*
 * Orderly close: rc_pub_close makes head final; readers drain everything
 * committed before it (and what was written but not yet committed), then
 * get RC_ECLOSED on every later call, never a sleep. rc_pub_abort is the same
 * end cut short: readers drain, then get RC_EABORTED instead.
 */
#include "rc_test.h"

#define CAP RC_TEST_CAPACITY

static struct rc_publisher pub;
static struct rc_subscriber copy_sub, zc_sub;
static struct rc_ack_page *copy_ack, *zc_ack;
static uint8_t *ring;
static uint8_t out[CAP];
static struct rc_entry e[64];

static void setup(void)
{
	ring = rc_test_bus(&pub, CAP, RC_POLICY_BLOCK, &copy_ack, &zc_ack);
	rc_test_join(&pub, &copy_sub, copy_ack, 0, -1, -1);
	rc_test_join(&pub, &zc_sub, zc_ack, 1, -1, -1);
}

static void teardown(void)
{
	rc_test_bus_free(ring, copy_ack, zc_ack);
}

static void drains_then_closed(void)
{
	setup();
	for (uint64_t s = 0; s < 5; s++)
		rc_test_publish(&pub, s, 100 + s);
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 2), 2);
	rc_pub_close(&pub);
	CHECK_EQ(pub.desc->publisher_state, RC_PUB_CLOSED);

	/* copy path: the remaining three, then closed for good */
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 2), 2);
	CHECK_EQ(e[0].seq, 2);
	CHECK(rc_test_matches(out, 2, 0, 102));
	CHECK(!rc_sub_prepare_wait(&copy_sub)); /* data left: no sleep */
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 2), 1);
	CHECK_EQ(e[0].seq, 4);
	CHECK(rc_test_matches(out, 4, 0, 104));
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 2), RC_ECLOSED);
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 2), RC_ECLOSED);
	CHECK(!rc_sub_prepare_wait(&copy_sub)); /* closed: no sleep either */
	CHECK_EQ(copy_ack->sleeping, 0);

	/* zero-copy path: all five */
	CHECK_STATUS(rc_sub_poll(&zc_sub, e, 64), 5);
	CHECK(rc_test_matches(zc_sub.data + e[4].offset, 4, 0, 104));
	CHECK_STATUS(rc_sub_release(&zc_sub), RC_OK);
	CHECK_STATUS(rc_sub_poll(&zc_sub, e, 64), RC_ECLOSED);
	CHECK_EQ(zc_ack->ack, pub.head);
	teardown();
}

static void close_publishes_uncommitted_writes(void)
{
	uint8_t m[300];
	uint64_t offset = 0;

	setup();
	rc_test_fill(m, 0, sizeof(m));
	CHECK_STATUS(rc_pub_write(&pub, m, sizeof(m), &offset), RC_OK);
	CHECK_EQ(pub.desc->head, 0);
	rc_pub_close(&pub);
	CHECK_EQ(pub.desc->head, pub.tail);
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 64), 1);
	CHECK(rc_test_matches(out, 0, 0, sizeof(m)));
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 64), RC_ECLOSED);
	teardown();
}

static void close_with_nothing_published(void)
{
	setup();
	rc_pub_close(&pub);
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 64), RC_ECLOSED);
	CHECK_STATUS(rc_sub_poll(&zc_sub, e, 64), RC_ECLOSED);
	teardown();
}

/* A subscriber that joins a bus that already closed sees the end at once. */
static void join_after_close(void)
{
	struct rc_subscriber late;
	struct rc_ack_page *late_ack = rc_test_ack_page();

	setup();
	rc_test_publish(&pub, 0, 10);
	rc_pub_close(&pub);
	rc_test_join(&pub, &late, late_ack, 2, -1, -1);
	CHECK_STATUS(rc_sub_read(&late, out, sizeof(out), e, 64), RC_ECLOSED);
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 64), 1);
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 64), RC_ECLOSED);
	free(late_ack);
	teardown();
}

/* Closed in the middle of a fragmented message: the committed fragments
 * are delivered, then the end (the reader can tell the message is cut:
 * it never saw LAST). */
static void close_mid_message(void)
{
	uint64_t len = 6ull * RC_TEST_CAPACITY / 4, offset = 0, got = 0;
	uint8_t *big = malloc(len);
	int n, last = 0;

	CHECK(big != NULL);
	setup();
	rc_test_fill(big, 0, len);
	CHECK_STATUS(rc_pub_write(&pub, big, len, &offset), RC_EAGAIN);
	rc_pub_close(&pub);
	while ((n = rc_sub_read(&copy_sub, out, sizeof(out), e, 64)) > 0) {
		for (int i = 0; i < n; i++) {
			CHECK(rc_test_matches(out + e[i].offset, 0, got, e[i].length));
			got += e[i].length;
			last = e[i].flags & RC_FRAG_LAST;
		}
	}
	CHECK_STATUS(n, RC_ECLOSED);
	CHECK_EQ(got, offset);
	CHECK(!last);
	free(big);
	teardown();
}

/* Aborted: everything committed is still delivered, then RC_EABORTED (not
 * ECLOSED) for good and no sleep, on both read paths. */
static void abort_drains_then_aborted(void)
{
	setup();
	for (uint64_t s = 0; s < 3; s++)
		rc_test_publish(&pub, s, 100 + s);
	rc_pub_abort(&pub);
	CHECK_EQ(pub.desc->publisher_state, RC_PUB_ABORTED);
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 64), 3);
	CHECK(rc_test_matches(out + e[2].offset, 2, 0, 102));
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 64), RC_EABORTED);
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 64), RC_EABORTED);
	CHECK(!rc_sub_prepare_wait(&copy_sub));
	CHECK_STATUS(rc_sub_poll(&zc_sub, e, 64), 3);
	CHECK_STATUS(rc_sub_release(&zc_sub), RC_OK);
	CHECK_STATUS(rc_sub_poll(&zc_sub, e, 64), RC_EABORTED);
	teardown();
}

/* The first end wins: an abort after an orderly close (a signal while the
 * publisher was closing) leaves the stream complete, and vice versa. */
static void first_end_wins(void)
{
	setup();
	rc_pub_close(&pub);
	rc_pub_abort(&pub);
	CHECK_EQ(pub.desc->publisher_state, RC_PUB_CLOSED);
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 64), RC_ECLOSED);
	teardown();
	setup();
	rc_pub_abort(&pub);
	rc_pub_close(&pub);
	CHECK_EQ(pub.desc->publisher_state, RC_PUB_ABORTED);
	CHECK_STATUS(rc_sub_read(&copy_sub, out, sizeof(out), e, 64), RC_EABORTED);
	teardown();
}

int main(void)
{
	RUN(drains_then_closed);
	RUN(close_publishes_uncommitted_writes);
	RUN(close_with_nothing_published);
	RUN(join_after_close);
	RUN(close_mid_message);
	RUN(abort_drains_then_aborted);
	RUN(first_end_wins);
	return rc_test_done("test_close");
}
