// SPDX-License-Identifier: MIT
/*
 * Buses with RC_FEATURE_ENVELOPE (the ones a bridge republishes into):
 * readers hide each message's struct rc_envelope unless they keep it, on
 * both read paths and across fragments; a first record too short to hold
 * an envelope is corruption; unknown feature bits are refused.
 */
#define _GNU_SOURCE
#include "rc_test.h"

#define CAP RC_TEST_CAPACITY

static struct rc_publisher pub;
static struct rc_subscriber sub;
static struct rc_ack_page *ack;
static uint8_t *ring;
static uint8_t out[CAP];

/* A ring with the envelope feature, its publisher, one subscriber in slot 0. */
static void setup(void)
{
	ring = rc_test_ring(CAP, 0, RC_POLICY_BLOCK);
	CHECK_STATUS(rc_ring_set_features(ring, RC_FEATURE_ENVELOPE), RC_OK);
	CHECK_STATUS(rc_pub_init(&pub, ring, rc_ring_size(CAP)), RC_OK);
	ack = rc_test_ack_page();
	rc_test_join(&pub, &sub, ack, 0, -1, -1);
}

static void teardown(void)
{
	free(ack);
	free(ring);
}

/* Publishes envelope + `len` payload bytes of message `seq`. */
static void publish_enveloped(uint64_t seq, uint64_t len)
{
	uint64_t total = RC_ENVELOPE_SIZE + len, offset = 0;
	uint8_t *buf = calloc(1, total);
	struct rc_envelope e = { .origin = 0xfeedULL, .origin_seq = 1000 + seq, .hops = 1 };

	CHECK(buf != NULL);
	memcpy(buf, &e, sizeof(e));
	rc_test_fill(buf + RC_ENVELOPE_SIZE, seq, len);
	CHECK_STATUS(rc_pub_write(&pub, buf, total, &offset), RC_OK);
	rc_pub_commit(&pub);
	free(buf);
}

static void copy_read_hides_envelope(void)
{
	struct rc_entry e[8];

	setup();
	publish_enveloped(0, 100);
	publish_enveloped(1, 0);
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 8), 2);
	CHECK_EQ(e[0].length, 100);
	CHECK(rc_test_matches(out + e[0].offset, 0, 0, 100));
	CHECK_EQ(e[1].length, 0);
	teardown();
}

static void kept_envelopes_are_handed_out(void)
{
	struct rc_entry e[8];
	struct rc_envelope env;

	setup();
	rc_sub_keep_envelopes(&sub);
	publish_enveloped(0, 10);
	CHECK_STATUS(rc_sub_poll(&sub, e, 8), 1);
	CHECK_EQ(e[0].length, RC_ENVELOPE_SIZE + 10);
	memcpy(&env, sub.data + e[0].offset, sizeof(env));
	CHECK_EQ(env.origin, 0xfeed);
	CHECK_EQ(env.origin_seq, 1000);
	CHECK_EQ(env.hops, 1);
	CHECK(rc_test_matches(sub.data + e[0].offset + RC_ENVELOPE_SIZE, 0, 0, 10));
	CHECK_STATUS(rc_sub_release(&sub), RC_OK);
	teardown();
}

/* Only the first fragment carries the envelope: the rest arrive whole. */
static void fragments_lose_only_the_first_lead(void)
{
	struct rc_entry e[8];
	uint64_t len, got = 0;
	int n = 0;

	setup();
	len = (uint64_t)pub.max_payload * 2;
	publish_enveloped(0, len); /* three records */
	while (got < len) {
		n = rc_sub_poll(&sub, e, 8);
		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			CHECK(rc_test_matches(sub.data + e[i].offset, 0, got, e[i].length));
			got += e[i].length;
		}
		CHECK_STATUS(rc_sub_release(&sub), RC_OK);
	}
	CHECK_EQ(got, len);
	CHECK_EQ(e[n - 1].flags & RC_FRAG_LAST, RC_FRAG_LAST);
	teardown();
}

/* Whole-message reads announce the length without the envelope (or with
 * it, kept) and copy exactly that into one buffer. */
static void whole_message_reads_hide_the_envelope(void)
{
	for (int keep = 0; keep < 2; keep++) {
		uint64_t len, filled = 0, lead;
		uint8_t *message;

		setup();
		if (keep)
			rc_sub_keep_envelopes(&sub);
		rc_sub_hand_out_whole_messages(&sub);
		lead = keep ? RC_ENVELOPE_SIZE : 0;
		len = (uint64_t)pub.max_payload * 2;
		publish_enveloped(0, len);
		CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), (struct rc_entry[1]){ { 0 } }, 1), RC_EMESSAGE);
		CHECK_EQ(sub.frag.message_length, len + lead);
		message = malloc(len + lead);
		CHECK(message != NULL);
		CHECK_STATUS(rc_sub_read_message(&sub, message, len + lead, &filled), 1);
		CHECK_EQ(filled, len + lead);
		if (keep)
			CHECK_EQ(((struct rc_envelope *)message)->origin_seq, 1000);
		CHECK(rc_test_matches(message + lead, 0, 0, len));
		free(message);
		teardown();
	}
}

static void short_first_record_is_corrupt(void)
{
	struct rc_entry e[8];
	uint64_t offset = 0;
	uint8_t tiny[8] = { 0 };

	setup();
	CHECK_STATUS(rc_pub_write(&pub, tiny, sizeof(tiny), &offset), RC_OK);
	rc_pub_commit(&pub);
	CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 8), RC_ECORRUPT);
	CHECK_STATUS(rc_sub_poll(&sub, e, 8), RC_ECORRUPT);
	teardown();
}

static void unknown_features_are_refused(void)
{
	ring = rc_test_ring(CAP, 0, RC_POLICY_BLOCK);
	ack = rc_test_ack_page();
	CHECK_STATUS(rc_ring_set_features(ring, 1u << 7), RC_EINVAL);
	CHECK_STATUS(rc_pub_init(&pub, ring, rc_ring_size(CAP)), RC_OK);
	rc_ack_page_format(ack, &pub, 0, 1);
	((struct rc_ring_desc *)ring)->features = 1u << 7; /* a newer (or hostile) publisher */
	CHECK_STATUS(rc_sub_init(&sub, ring, rc_ring_size(CAP), ack, RC_ACK_PAGE_SIZE, -1), RC_EINVAL);
	CHECK_STATUS(rc_pub_init(&pub, ring, rc_ring_size(CAP)), RC_EINVAL);
	teardown();
}

int main(void)
{
	RUN(copy_read_hides_envelope);
	RUN(kept_envelopes_are_handed_out);
	RUN(fragments_lose_only_the_first_lead);
	RUN(whole_message_reads_hide_the_envelope);
	RUN(short_first_record_is_corrupt);
	RUN(unknown_features_are_refused);
	return rc_test_done("envelope");
}
