// SPDX-License-Identifier: MIT
/*
 * Publish/read round trip: every size class (empty, sub-alignment, exactly
 * one record, fragmented, many times the ring), record flags and sequence
 * numbers, wrap-around through pad records, batching limits, and both read
 * paths (rc_sub_read copies, rc_sub_poll/rc_sub_release is zero copy).
 */
#define _GNU_SOURCE
#include <stdbool.h>

#include "rc_test.h"

#define CAP RC_TEST_CAPACITY
#define MAX_MESSAGES 4096

static struct rc_publisher pub;
static struct rc_subscriber copy_sub, zc_sub;
static struct rc_ack_page *copy_ack, *zc_ack;
static uint8_t *ring;
static uint8_t out[CAP];

/* Reassembles messages from records and checks everything about them. */
struct reader {
	struct rc_subscriber *sub;
	bool zero_copy;
	uint32_t batch;          /* entries per read/poll                     */
	uint64_t next_seq;       /* seq the next record must carry            */
	uint64_t got;            /* bytes of the current message so far       */
	bool in_message;
	uint64_t messages;       /* completed messages                        */
	uint64_t records;
	const uint64_t *lengths; /* expected length of message `seq`          */
};

static uint64_t lengths[MAX_MESSAGES];
static struct reader copy_reader, zc_reader;

static void take(struct reader *r, const uint8_t *payload, const struct rc_entry *e)
{
	if (!r->in_message) {
		CHECK(e->flags & RC_FRAG_FIRST);
		r->in_message = true;
		r->got = 0;
	} else {
		CHECK(!(e->flags & RC_FRAG_FIRST));
	}
	CHECK_EQ(e->seq, r->next_seq);
	CHECK_EQ(e->reserved, 0);
	CHECK(e->length <= pub.max_payload);
	CHECK(rc_test_matches(payload, e->seq, r->got, e->length));
	r->got += e->length;
	r->records++;
	if (e->flags & RC_FRAG_LAST) {
		CHECK_EQ(r->got, r->lengths[e->seq]);
		r->in_message = false;
		r->next_seq++;
		r->messages++;
	} else {
		/* only the last fragment of a message may be short; the first
		 * gives room to its struct rc_first_fragment */
		CHECK_EQ(e->length, pub.max_payload - (e->flags & RC_FRAG_FIRST ? RC_FIRST_FRAGMENT_SIZE : 0));
	}
}

/* Reads until nothing is left; returns the records delivered. A caller that
 * gets 0 from poll does not release: nothing was handed out. */
static uint64_t drain(struct reader *r)
{
	struct rc_entry entries[64];
	uint64_t before = r->records;

	CHECK(r->batch <= 64);
	for (;;) {
		int n;

		if (r->zero_copy) {
			n = rc_sub_poll(r->sub, entries, r->batch);
			CHECK(n >= 0 || (fprintf(stderr, "poll: %s\n", rc_status_name(n)), 0));
			for (int i = 0; i < n; i++) {
				CHECK(entries[i].offset + entries[i].length <= CAP);
				take(r, r->sub->data + entries[i].offset, &entries[i]);
			}
			if (n > 0)
				CHECK_STATUS(rc_sub_release(r->sub), RC_OK);
		} else {
			n = rc_sub_read(r->sub, out, sizeof(out), entries, r->batch);
			CHECK(n >= 0 || (fprintf(stderr, "read: %s\n", rc_status_name(n)), 0));
			for (int i = 0; i < n; i++) {
				CHECK(entries[i].offset + entries[i].length <= sizeof(out));
				take(r, out + entries[i].offset, &entries[i]);
			}
		}
		if (n == 0)
			break;
	}
	CHECK_EQ(rc_sub_available(r->sub), 0);
	CHECK_EQ(r->sub->ack_page->ack, pub.head);
	return r->records - before;
}

static void drain_both(void)
{
	drain(&copy_reader);
	drain(&zc_reader);
}

static void setup(uint32_t batch)
{
	ring = rc_test_bus(&pub, CAP, RC_POLICY_BLOCK, &copy_ack, &zc_ack);
	rc_test_join(&pub, &copy_sub, copy_ack, 0, -1, -1);
	rc_test_join(&pub, &zc_sub, zc_ack, 5, -1, -1);
	copy_reader = (struct reader){ .sub = &copy_sub, .batch = batch, .lengths = lengths };
	zc_reader = (struct reader){ .sub = &zc_sub, .zero_copy = true, .batch = batch, .lengths = lengths };
}

static void teardown(void)
{
	rc_test_bus_free(ring, copy_ack, zc_ack);
}

static uint64_t align_record(uint64_t payload)
{
	return (RC_RECORD_HEADER_SIZE + payload + RC_RECORD_ALIGN - 1) & ~(uint64_t)(RC_RECORD_ALIGN - 1);
}

/* Publishes message `seq` of `len` bytes, checking the span prediction and
 * the record headers it leaves in the ring. */
static void publish(uint64_t seq, uint64_t len)
{
	uint64_t tail = pub.tail, span = rc_pub_message_span(&pub, len);

	CHECK(seq < MAX_MESSAGES);
	CHECK_EQ(pub.next_seq, seq);
	lengths[seq] = len;
	rc_test_publish(&pub, seq, len);
	CHECK_EQ(pub.tail - tail, span);
	CHECK_EQ(pub.head, pub.tail);
	CHECK_EQ(pub.desc->head, pub.tail);
	CHECK(pub.desc->tail_intent >= pub.tail);
}

static void every_size_class(void)
{
	uint32_t mp;
	uint64_t sizes[32], n = 0, seq = 0;

	setup(8);
	mp = pub.max_payload;
	CHECK_EQ(mp, rc_default_max_payload(CAP));
	sizes[n++] = 0;
	sizes[n++] = 1;
	sizes[n++] = 15;
	sizes[n++] = 16;
	sizes[n++] = 17;
	sizes[n++] = 31;
	sizes[n++] = 32;
	sizes[n++] = 33;
	sizes[n++] = 1000;
	sizes[n++] = mp - 1;
	sizes[n++] = mp;
	sizes[n++] = mp + 1;
	sizes[n++] = 2ull * mp;
	sizes[n++] = 2ull * mp + 1;
	sizes[n++] = 3ull * mp - 1;
	sizes[n++] = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t len = sizes[i];
		uint64_t records = len <= mp ? 1 : 1 + (len - (mp - RC_FIRST_FRAGMENT_SIZE) + mp - 1) / mp;
		uint64_t pos = pub.tail;
		struct rc_record_header h;

		publish(seq, len);
		CHECK_EQ(rc_sub_available(&copy_sub), pub.tail - pos);
		/* the first record of the message, as the ring holds it */
		memcpy(&h, pub.data + (pos & pub.mask), sizeof(h));
		if (h.type == RC_RECORD_PAD) {
			pos += CAP - (pos & pub.mask);
			memcpy(&h, pub.data + (pos & pub.mask), sizeof(h));
		}
		CHECK_EQ(h.type, RC_RECORD_DATA);
		CHECK_EQ(h.seq, seq);
		CHECK_EQ(h.flags, records == 1 ? (RC_FRAG_FIRST | RC_FRAG_LAST) : RC_FRAG_FIRST);
		CHECK_EQ(h.length, len < mp ? len : mp);
		CHECK_EQ(drain(&copy_reader), records);
		CHECK_EQ(drain(&zc_reader), records);
		seq++;
	}
	CHECK_EQ(copy_reader.messages, n);
	CHECK_EQ(zc_reader.messages, n);
	CHECK_EQ(pub.desc->messages, n);

	/* a batch: many messages, one head store */
	for (int i = 0; i < 20; i++) {
		uint64_t offset = 0;
		uint8_t buf[64];

		lengths[seq] = (uint64_t)i * 3;
		rc_test_fill(buf, seq, lengths[seq]);
		CHECK_STATUS(rc_pub_write(&pub, buf, lengths[seq], &offset), RC_OK);
		seq++;
		CHECK(pub.desc->head < pub.tail);
		CHECK_EQ(rc_sub_available(&copy_sub), 0);
	}
	rc_pub_commit(&pub);
	CHECK_EQ(pub.desc->messages, n + 20);
	CHECK_EQ(drain(&copy_reader), 20);
	CHECK_EQ(drain(&zc_reader), 20);
	teardown();
}

static void wraps_many_times_through_pads(void)
{
	uint64_t pads = 0, seq;

	setup(3);
	for (seq = 0; seq < 2000; seq++) {
		uint64_t len = (seq * 389) % 3000;
		uint64_t off = pub.tail & pub.mask, to_end = CAP - off;

		publish(seq, len);
		if (align_record(len) > to_end) {
			struct rc_record_header h;

			memcpy(&h, pub.data + off, sizeof(h));
			CHECK_EQ(h.type, RC_RECORD_PAD);
			CHECK_EQ(h.length, to_end - RC_RECORD_HEADER_SIZE);
			pads++;
		}
		if (seq % 7 == 6)
			drain_both();
	}
	drain_both();
	CHECK(pub.tail > 20 * CAP);
	CHECK(pads > 10);
	CHECK_EQ(copy_reader.messages, seq);
	CHECK_EQ(zc_reader.messages, seq);
	teardown();
}

/* Steers the tail to `to_end` bytes before the end of the data area. */
static void steer_tail(uint64_t *seq, uint64_t want_to_end)
{
	while (CAP - (pub.tail & pub.mask) != want_to_end) {
		uint64_t to_end = CAP - (pub.tail & pub.mask);
		uint64_t step = to_end > want_to_end ? to_end - want_to_end : to_end;

		if (step > 1024)
			step = 1024;
		if (to_end < want_to_end && step > to_end)
			step = to_end;
		publish(*seq, step - RC_RECORD_HEADER_SIZE);
		(*seq)++;
		drain_both();
	}
}

static void pad_at_the_exact_end(void)
{
	uint64_t seq = 0, pos;
	struct rc_record_header h;

	setup(16);
	/* 48 bytes left: a 100-byte message needs a 48-byte pad first */
	steer_tail(&seq, 48);
	pos = pub.tail;
	CHECK_EQ(rc_pub_message_span(&pub, 100), 48 + align_record(100));
	publish(seq, 100);
	memcpy(&h, pub.data + (pos & pub.mask), sizeof(h));
	CHECK_EQ(h.type, RC_RECORD_PAD);
	CHECK_EQ(h.length, 32);
	memcpy(&h, pub.data, sizeof(h));
	CHECK_EQ(h.type, RC_RECORD_DATA);
	CHECK_EQ(h.length, 100);
	CHECK_EQ(h.seq, seq);
	CHECK_EQ(pub.tail & pub.mask, align_record(100));
	seq++;
	drain_both();

	/* 48 bytes left and a 32-byte message: fits exactly, no pad */
	steer_tail(&seq, 48);
	pos = pub.tail;
	publish(seq, 32);
	memcpy(&h, pub.data + (pos & pub.mask), sizeof(h));
	CHECK_EQ(h.type, RC_RECORD_DATA);
	CHECK_EQ(pub.tail & pub.mask, 0);
	seq++;
	drain_both();

	/* 16 bytes left (a pad with no payload), then a fragmented message */
	steer_tail(&seq, 16);
	pos = pub.tail;
	publish(seq, (uint64_t)pub.max_payload + 5);
	memcpy(&h, pub.data + (pos & pub.mask), sizeof(h));
	CHECK_EQ(h.type, RC_RECORD_PAD);
	CHECK_EQ(h.length, 0);
	seq++;
	drain_both();
	CHECK_EQ(copy_reader.messages, seq);
	CHECK_EQ(zc_reader.messages, seq);
	teardown();
}

static void four_mib_through_a_64k_ring(void)
{
	const uint64_t len = 4ull << 20;
	uint8_t *big = malloc(len);
	uint64_t offset = 0, rounds = 0;
	int r;

	CHECK(big != NULL);
	setup(64);
	lengths[0] = len;
	rc_test_fill(big, 0, len);
	do {
		r = rc_pub_write(&pub, big, len, &offset);
		CHECK(r == RC_OK || r == RC_EAGAIN);
		CHECK(offset <= len);
		/* never more than a ring ahead of the slowest reader */
		CHECK(pub.tail <= copy_sub.pos + CAP);
		CHECK(pub.desc->tail_intent <= copy_sub.pos + CAP);
		rc_pub_commit(&pub);
		drain_both();
		rounds++;
	} while (r == RC_EAGAIN);
	CHECK_EQ(offset, len);
	CHECK(rounds >= len / CAP);
	CHECK_EQ(copy_reader.messages, 1);
	CHECK_EQ(zc_reader.messages, 1);
	CHECK_EQ(copy_reader.records, (len + pub.max_payload - 1) / pub.max_payload);
	/* the sequence continues after it */
	publish(1, 10);
	drain_both();
	CHECK_EQ(zc_reader.messages, 2);
	CHECK_EQ(copy_reader.next_seq, 2);
	free(big);
	teardown();
}

static void read_respects_out_cap(void)
{
	struct rc_entry e[8];
	uint8_t small[2048];
	uint64_t mp;

	setup(8);
	mp = pub.max_payload;
	publish(0, 1000);
	publish(1, 1000);
	publish(2, 1000);
	/* room for one: the second is read next time */
	CHECK_STATUS(rc_sub_read(&copy_sub, small, 1500, e, 8), 1);
	CHECK_EQ(e[0].length, 1000);
	CHECK(rc_test_matches(small, 0, 0, 1000));
	/* room for none: refused, nothing consumed */
	CHECK_STATUS(rc_sub_read(&copy_sub, small, 999, e, 8), RC_EINVAL);
	CHECK_STATUS(rc_sub_read(&copy_sub, small, sizeof(small), e, 8), 2);
	CHECK_EQ(e[0].seq, 1);
	CHECK_EQ(e[1].seq, 2);
	CHECK_EQ(e[1].offset, 1000);
	CHECK(rc_test_matches(small + 1000, 2, 0, 1000));

	/* one fragment per call: the undone fragment bookkeeping must let the
	 * next call continue the same message */
	{
		uint8_t *frag = malloc(mp);
		uint64_t got = 0;
		int calls = 0;

		CHECK(frag != NULL);
		publish(3, 2 * mp + 5);
		while (got < 2 * mp + 5) {
			int n = rc_sub_read(&copy_sub, frag, mp, e, 8);

			CHECK_EQ(n, 1);
			CHECK_EQ(e[0].seq, 3);
			CHECK_EQ(e[0].flags, got == 0 ? RC_FRAG_FIRST : got + e[0].length == 2 * mp + 5 ? RC_FRAG_LAST : 0);
			CHECK(rc_test_matches(frag, 3, got, e[0].length));
			got += e[0].length;
			calls++;
		}
		CHECK_EQ(calls, 3);
		CHECK_STATUS(rc_sub_read(&copy_sub, frag, mp, e, 8), 0);
		free(frag);
	}
	zc_reader.batch = 1;
	CHECK_EQ(drain(&zc_reader), 6);
	teardown();
}

static void poll_batches_and_release(void)
{
	struct rc_entry e[4];
	uint8_t buf[16];

	setup(3);
	for (uint64_t s = 0; s < 10; s++)
		publish(s, s);
	CHECK_STATUS(rc_sub_poll(&zc_sub, e, 3), 3);
	CHECK_EQ(e[0].seq, 0);
	CHECK_EQ(e[2].seq, 2);
	CHECK_EQ(e[2].length, 2);
	/* nothing is acknowledged until release */
	CHECK_EQ(zc_ack->ack, 0);
	CHECK_STATUS(rc_sub_poll(&zc_sub, e, 3), RC_ESTATE);
	CHECK_STATUS(rc_sub_read(&zc_sub, buf, sizeof(buf), e, 3), RC_ESTATE);
	CHECK_STATUS(rc_sub_release(&zc_sub), RC_OK);
	CHECK_EQ(zc_ack->ack, align_record(0) + align_record(1) + align_record(2));
	CHECK_STATUS(rc_sub_release(&zc_sub), RC_OK); /* nothing pending: no-op */
	CHECK_EQ(zc_ack->ack, align_record(0) + align_record(1) + align_record(2));
	/* max 0 describes nothing and consumes nothing */
	CHECK_STATUS(rc_sub_poll(&zc_sub, e, 0), 0);
	CHECK_STATUS(rc_sub_poll(&zc_sub, e, 3), 3);
	CHECK_EQ(e[0].seq, 3);
	CHECK_STATUS(rc_sub_release(&zc_sub), RC_OK);
	zc_reader.next_seq = 6;
	CHECK_EQ(drain(&zc_reader), 4);
	CHECK_EQ(drain(&copy_reader), 10);
	teardown();
}

/* Zero-length messages need no buffer at all. */
static void empty_messages_need_no_buffer(void)
{
	struct rc_entry e[8];

	setup(8);
	publish(0, 0);
	publish(1, 0);
	publish(2, 0);
	CHECK_STATUS(rc_sub_read(&copy_sub, NULL, 0, e, 8), 3);
	CHECK_EQ(e[2].seq, 2);
	CHECK_EQ(e[2].length, 0);
	CHECK_EQ(e[2].flags, RC_FRAG_FIRST | RC_FRAG_LAST);
	CHECK_STATUS(rc_sub_read(&copy_sub, NULL, 0, e, 8), 0);
	teardown();
}

/* A subscriber that joins while a fragmented message is half committed
 * skips that message's tail silently and starts at the next FIRST. */
static void joining_mid_message_skips_its_tail(void)
{
	struct rc_subscriber late_copy, late_zc;
	struct rc_ack_page *late_copy_ack = rc_test_ack_page(), *late_zc_ack = rc_test_ack_page();
	struct rc_entry e[8];
	uint64_t len, offset = 0;
	uint8_t *msg;
	int r;

	setup(8);
	len = 6ull * pub.max_payload; /* more than the ring: must block midway */
	msg = malloc(len);
	CHECK(msg != NULL);
	lengths[0] = len;
	rc_test_fill(msg, 0, len);
	CHECK_STATUS(rc_pub_write(&pub, msg, len, &offset), RC_EAGAIN);
	CHECK(offset > 0 && offset < len);
	rc_pub_commit(&pub);
	drain_both();

	/* join now: head is inside message 0 */
	rc_test_join(&pub, &late_copy, late_copy_ack, 10, -1, -1);
	rc_test_join(&pub, &late_zc, late_zc_ack, 11, -1, -1);
	do {
		r = rc_pub_write(&pub, msg, len, &offset);
		CHECK(r == RC_OK || r == RC_EAGAIN);
		rc_pub_commit(&pub);
		drain_both();
		/* only tails so far: nothing to deliver, but the space is theirs
		 * to give back or the publisher would wait on them forever */
		CHECK_STATUS(rc_sub_read(&late_copy, out, sizeof(out), e, 8), 0);
		CHECK_STATUS(rc_sub_poll(&late_zc, e, 8), 0);
		CHECK_EQ(late_copy_ack->ack, pub.head);
		CHECK_EQ(late_zc_ack->ack, pub.head);
	} while (r == RC_EAGAIN);

	publish(1, 300);
	drain_both();
	CHECK_STATUS(rc_sub_read(&late_copy, out, sizeof(out), e, 8), 1);
	CHECK_EQ(e[0].seq, 1);
	CHECK_EQ(e[0].length, 300);
	CHECK(rc_test_matches(out, 1, 0, 300));
	CHECK_STATUS(rc_sub_poll(&late_zc, e, 8), 1);
	CHECK_EQ(e[0].seq, 1);
	CHECK(rc_test_matches(late_zc.data + e[0].offset, 1, 0, 300));
	CHECK_STATUS(rc_sub_release(&late_zc), RC_OK);
	CHECK_EQ(copy_reader.messages, 2);
	free(msg);
	free(late_copy_ack);
	free(late_zc_ack);
	teardown();
}

int main(void)
{
	RUN(every_size_class);
	RUN(wraps_many_times_through_pads);
	RUN(pad_at_the_exact_end);
	RUN(four_mib_through_a_64k_ring);
	RUN(read_respects_out_cap);
	RUN(poll_batches_and_release);
	RUN(empty_messages_need_no_buffer);
	RUN(joining_mid_message_skips_its_tail);
	return rc_test_done("test_roundtrip");
}
