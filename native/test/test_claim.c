// SPDX-License-Identifier: MIT
/*
 * Zero-copy publication: rc_pub_claim hands out a pointer into the ring,
 * rc_pub_claim_commit publishes a possibly shorter record, rc_pub_claim_abort
 * leaves nothing visible; one claim at a time, never bigger than a record.
 * rc_pub_reserve: records whose payloads the caller fills before one commit.
 */
#include "rc_test.h"

#define CAP RC_TEST_CAPACITY

static struct rc_publisher pub;
static struct rc_subscriber sub, zc;
static struct rc_ack_page *ack, *zc_ack;
static uint8_t *ring;
static uint8_t out[CAP];
static struct rc_entry e[64];

static void setup(void)
{
	ring = rc_test_bus(&pub, CAP, RC_POLICY_BLOCK, &ack, &zc_ack);
	rc_test_join(&pub, &sub, ack, 0, -1, -1);
	rc_test_join(&pub, &zc, zc_ack, 1, -1, -1);
}

static void teardown(void)
{
	rc_test_bus_free(ring, ack, zc_ack);
}

static uint64_t align_record(uint64_t payload)
{
	return (RC_RECORD_HEADER_SIZE + payload + RC_RECORD_ALIGN - 1) & ~(uint64_t)(RC_RECORD_ALIGN - 1);
}

static void both_read_nothing(void)
{
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 64), 0);
	CHECK_STATUS(rc_sub_poll(&zc, e, 64), 0);
	CHECK_STATUS(rc_sub_poll(&zc, e, 64), 0); /* and nothing left pending */
}

/* Both readers get message `seq` of `len` bytes, next. */
static void both_read_one(uint64_t seq, uint32_t len)
{
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 1), 1);
	CHECK_EQ(e[0].seq, seq);
	CHECK_EQ(e[0].length, len);
	CHECK_EQ(e[0].flags, RC_FRAG_FIRST | RC_FRAG_LAST);
	CHECK(rc_test_matches(out, seq, 0, len));

	CHECK_STATUS(rc_sub_poll(&zc, e, 1), 1);
	CHECK_EQ(e[0].seq, seq);
	CHECK_EQ(e[0].length, len);
	CHECK(rc_test_matches(zc.data + e[0].offset, seq, 0, len));
	CHECK_STATUS(rc_sub_release(&zc), RC_OK);
}

static void claim_then_commit_shorter(void)
{
	int status = 12345;
	uint8_t *p;

	setup();
	p = rc_pub_claim(&pub, 100, &status);
	CHECK_STATUS(status, RC_OK);
	CHECK(p == pub.data + RC_RECORD_HEADER_SIZE);
	CHECK_EQ(pub.desc->head, 0); /* nothing visible while claimed */
	CHECK_EQ(rc_sub_available(&sub), 0);
	rc_test_fill(p, 0, 100);
	CHECK_STATUS(rc_pub_claim_commit(&pub, 60), RC_OK);
	CHECK_EQ(pub.tail, align_record(60));
	CHECK_EQ(pub.desc->head, pub.tail);
	CHECK_EQ(pub.desc->messages, 1);
	both_read_one(0, 60);
	both_read_nothing();

	/* the sequence goes on, whichever way the next message is written */
	rc_test_publish(&pub, 1, 33);
	both_read_one(1, 33);
	p = rc_pub_claim(&pub, 10, &status);
	CHECK(p != NULL);
	rc_test_fill(p, 2, 10);
	CHECK_STATUS(rc_pub_claim_commit(&pub, 10), RC_OK);
	both_read_one(2, 10);
	teardown();
}

static void abort_leaves_nothing(void)
{
	int status;
	uint8_t *p, *q;
	uint64_t tail;

	setup();
	rc_test_publish(&pub, 0, 40);
	both_read_one(0, 40);
	tail = pub.tail;
	p = rc_pub_claim(&pub, 500, &status);
	CHECK(p != NULL);
	memset(p, 0xee, 500);
	CHECK_STATUS(rc_pub_claim_abort(&pub), RC_OK);
	CHECK_EQ(pub.tail, tail);
	rc_pub_commit(&pub);
	CHECK_EQ(pub.desc->head, tail);
	both_read_nothing();
	/* the space and the sequence number are reused */
	q = rc_pub_claim(&pub, 20, &status);
	CHECK(q == p);
	rc_test_fill(q, 1, 20);
	CHECK_STATUS(rc_pub_claim_commit(&pub, 20), RC_OK);
	both_read_one(1, 20);
	both_read_nothing();
	teardown();
}

static void claim_rules(void)
{
	int status;
	uint8_t *p;
	uint64_t offset = 0;
	uint8_t m[8] = { 0 };

	setup();
	CHECK(rc_pub_claim(&pub, pub.max_payload + 1, &status) == NULL);
	CHECK_STATUS(status, RC_ETOOBIG);
	CHECK(rc_pub_claim(&pub, UINT32_MAX, &status) == NULL);
	CHECK_STATUS(status, RC_ETOOBIG);
	CHECK_STATUS(rc_pub_claim_commit(&pub, 0), RC_ESTATE);
	CHECK_STATUS(rc_pub_claim_abort(&pub), RC_ESTATE);

	p = rc_pub_claim(&pub, pub.max_payload, &status);
	CHECK_STATUS(status, RC_OK);
	CHECK(p != NULL);
	CHECK(rc_pub_claim(&pub, 1, &status) == NULL);
	CHECK_STATUS(status, RC_ESTATE);
	CHECK_STATUS(rc_pub_write(&pub, m, sizeof(m), &offset), RC_ESTATE);
	CHECK_EQ(offset, 0);
	/* longer than claimed: refused, the claim stays open */
	CHECK_STATUS(rc_pub_claim_commit(&pub, pub.max_payload + 1), RC_EINVAL);
	rc_test_fill(p, 0, pub.max_payload);
	CHECK_STATUS(rc_pub_claim_commit(&pub, pub.max_payload), RC_OK);
	both_read_one(0, pub.max_payload);

	/* an empty claim is an empty message */
	p = rc_pub_claim(&pub, 0, &status);
	CHECK(p != NULL);
	CHECK_STATUS(rc_pub_claim_commit(&pub, 0), RC_OK);
	both_read_one(1, 0);
	teardown();
}

/* A claim that needs the end-of-ring pad, then aborted: the committed pad
 * alone is nothing to deliver, and costs the readers nothing. */
static void aborted_claim_after_pad(void)
{
	int status;
	uint8_t *p;
	uint64_t seq = 0, pos;

	setup();
	while (CAP - (pub.tail & pub.mask) != 64) {
		uint64_t to_end = CAP - (pub.tail & pub.mask);
		uint64_t step = to_end - 64 > 1024 ? 1024 : to_end - 64;

		rc_test_publish(&pub, seq, step - RC_RECORD_HEADER_SIZE);
		both_read_one(seq, (uint32_t)(step - RC_RECORD_HEADER_SIZE));
		seq++;
	}
	pos = pub.tail;
	p = rc_pub_claim(&pub, 200, &status);
	CHECK(p == pub.data + RC_RECORD_HEADER_SIZE); /* wrapped to the start */
	CHECK_STATUS(rc_pub_claim_abort(&pub), RC_OK);
	rc_pub_commit(&pub);
	CHECK_EQ(pub.desc->head, pos + 64); /* the pad went out */
	both_read_nothing();
	CHECK_EQ(ack->ack, pos + 64);
	CHECK_EQ(zc_ack->ack, pos + 64);
	rc_test_publish(&pub, seq, 200);
	both_read_one(seq, 200);
	both_read_nothing();
	teardown();
}

static void claim_waits_for_room(void)
{
	int status, claims = 0;
	uint8_t *p;

	setup();
	for (;;) {
		p = rc_pub_claim(&pub, 4000, &status);
		if (!p)
			break;
		rc_test_fill(p, (uint64_t)claims, 4000);
		CHECK_STATUS(rc_pub_claim_commit(&pub, 4000), RC_OK);
		claims++;
	}
	CHECK_STATUS(status, RC_EAGAIN);
	CHECK_EQ(pub.claim_position, UINT64_MAX); /* no claim left open */
	CHECK(claims >= 14);
	for (int i = 0; i < claims; i++)
		both_read_one((uint64_t)i, 4000);
	p = rc_pub_claim(&pub, 4000, &status);
	CHECK(p != NULL);
	CHECK_STATUS(rc_pub_claim_abort(&pub), RC_OK);
	teardown();
}

/* rc_pub_write output still uncommitted is published by the claim's commit,
 * in order. */
static void claim_after_uncommitted_write(void)
{
	int status;
	uint8_t m[50], *p;
	uint64_t offset = 0;

	setup();
	rc_test_fill(m, 0, sizeof(m));
	CHECK_STATUS(rc_pub_write(&pub, m, sizeof(m), &offset), RC_OK);
	p = rc_pub_claim(&pub, 70, &status);
	CHECK(p != NULL);
	CHECK_EQ(pub.desc->head, 0);
	rc_test_fill(p, 1, 70);
	CHECK_STATUS(rc_pub_claim_commit(&pub, 70), RC_OK);
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 64), 2);
	CHECK_EQ(e[0].seq, 0);
	CHECK_EQ(e[1].seq, 1);
	CHECK(rc_test_matches(out, 0, 0, 50));
	CHECK(rc_test_matches(out + e[1].offset, 1, 0, 70));
	teardown();
}

/* A message larger than the room left is written in parts; until its last
 * part lands, neither a new message nor a claim may start inside it. */
static void no_message_inside_an_unfinished_one(void)
{
	static uint8_t big[3 * CAP];
	uint8_t small[10];
	uint64_t offset = 0, other = 0;
	int status;

	setup();
	rc_test_fill(big, 7, sizeof(big));
	CHECK_STATUS(rc_pub_write(&pub, big, sizeof(big), &offset), RC_EAGAIN);
	CHECK(offset > 0 && offset < sizeof(big));
	CHECK_STATUS(rc_pub_write(&pub, small, sizeof(small), &other), RC_ESTATE);
	CHECK(rc_pub_claim(&pub, 10, &status) == NULL);
	CHECK_STATUS(status, RC_ESTATE);
	rc_pub_commit(&pub);
	while (offset < sizeof(big)) {
		while (rc_sub_read(&sub, out, sizeof(out), e, 64) > 0)
			;
		while (rc_sub_poll(&zc, e, 64) > 0)
			CHECK_STATUS(rc_sub_release(&zc), RC_OK);
		int r = rc_pub_write(&pub, big, sizeof(big), &offset);
		CHECK(r == RC_OK || r == RC_EAGAIN);
		rc_pub_commit(&pub);
	}
	CHECK_STATUS(rc_pub_write(&pub, small, sizeof(small), &other), RC_OK);
	teardown();
}

/* Several records reserved back to back, filled afterwards, published by one
 * commit, the pad at the end of the ring included; nothing visible before.
 * Reservation stops at no room (RC_EAGAIN), at a message beyond a record
 * (RC_ETOOBIG), and while a claim is open (RC_ESTATE). */
static void reserve_then_fill_then_commit(void)
{
	uint8_t *p[64];
	uint32_t n = 0, len;
	uint64_t seq = 0, stores;
	int status;

	setup();
	/* first up to 64 bytes before the end of the ring, so a reservation pads */
	while (CAP - (pub.tail & pub.mask) > 2048) {
		rc_test_publish(&pub, seq, 1000);
		both_read_one(seq, 1000);
		seq++;
	}
	stores = pub.head_stores;
	for (n = 0; n < 8; n++) {
		p[n] = rc_pub_reserve(&pub, 300 + n, &status);
		CHECK_STATUS(status, RC_OK);
		CHECK(p[n] != NULL);
	}
	CHECK_EQ(pub.desc->head, pub.head); /* nothing published yet */
	CHECK_EQ(rc_sub_available(&sub), 0);
	for (uint32_t i = 0; i < n; i++)
		rc_test_fill(p[i], seq + i, 300 + i);
	rc_pub_commit(&pub);
	CHECK_EQ(pub.head_stores, stores + 1);
	for (uint32_t i = 0; i < n; i++)
		both_read_one(seq + i, 300 + i);
	both_read_nothing();
	seq += n;

	CHECK(rc_pub_reserve(&pub, pub.max_payload + 1, &status) == NULL);
	CHECK_STATUS(status, RC_ETOOBIG);
	CHECK(rc_pub_claim(&pub, 10, &status) != NULL);
	CHECK(rc_pub_reserve(&pub, 10, &status) == NULL);
	CHECK_STATUS(status, RC_ESTATE);
	CHECK_STATUS(rc_pub_claim_abort(&pub), RC_OK);

	/* until the ring is full: every reserved record, and nothing else */
	len = 4000;
	for (n = 0; n < 64 && (p[n] = rc_pub_reserve(&pub, len, &status)) != NULL; n++)
		rc_test_fill(p[n], seq + n, len);
	CHECK_STATUS(status, RC_EAGAIN);
	CHECK(n >= 14 && n < 64);
	rc_pub_commit(&pub);
	for (uint32_t i = 0; i < n; i++)
		both_read_one(seq + i, len);
	both_read_nothing();
	teardown();
}

int main(void)
{
	RUN(claim_then_commit_shorter);
	RUN(abort_leaves_nothing);
	RUN(claim_rules);
	RUN(aborted_claim_after_pad);
	RUN(claim_waits_for_room);
	RUN(claim_after_uncommitted_write);
	RUN(no_message_inside_an_unfinished_one);
	RUN(reserve_then_fill_then_commit);
	return rc_test_done("test_claim");
}
