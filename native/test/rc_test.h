/* SPDX-License-Identifier: MIT */
/*
 * The whole test vocabulary: CHECK and friends exit(1) at the first failure
 * with file:line, and a few fixtures that fake the other side of the bus in
 * raw memory (one process, no threads). Exit 77 means "skipped".
 *
 * Every ring is allocated with exactly rc_ring_size(capacity) bytes so that
 * AddressSanitizer catches any read past the data area.
 */
#ifndef RC_TEST_H
#define RC_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringcast.h"

#define RC_TEST_SKIP 77

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
			exit(1);                                                 \
		}                                                                \
	} while (0)

/* Integers of any width, printed on failure. */
#define CHECK_EQ(a, b)                                                           \
	do {                                                                     \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                 \
		if (a_ != b_) {                                                  \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s "      \
				"(%" PRIu64 " != %" PRIu64 ")\n", __FILE__,       \
				__LINE__, #a, #b, a_, b_);                       \
			exit(1);                                                 \
		}                                                                \
	} while (0)

/* rc_status values, printed by name on failure. */
#define CHECK_STATUS(expr, want)                                                 \
	do {                                                                     \
		int got_ = (int)(expr), want_ = (int)(want);                     \
		if (got_ != want_) {                                             \
			fprintf(stderr, "%s:%d: %s returned %d (%s), want %d (%s)\n", \
				__FILE__, __LINE__, #expr, got_,                 \
				rc_status_name(got_), want_,                     \
				rc_status_name(want_));                          \
			exit(1);                                                 \
		}                                                                \
	} while (0)

static int rc_test_cases;

/* Runs one case; a failing CHECK inside ends the program. */
#define RUN(fn)                                                                  \
	do {                                                                     \
		fn();                                                            \
		rc_test_cases++;                                                 \
	} while (0)

static inline int rc_test_done(const char *name)
{
	printf("ok %s (%d cases)\n", name, rc_test_cases);
	return 0;
}

/* ---- fixtures ----------------------------------------------------------- */

#define RC_TEST_CAPACITY (64u * 1024u)

/* Deterministic content: byte i of message `seq`. */
static inline uint8_t rc_test_byte(uint64_t seq, uint64_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + (i >> 9));
}

static inline void rc_test_fill(uint8_t *buf, uint64_t seq, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		buf[i] = rc_test_byte(seq, i);
}

/* Checks `len` bytes that belong at offset `from` of message `seq`. */
static inline int rc_test_matches(const uint8_t *buf, uint64_t seq, uint64_t from, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (buf[i] != rc_test_byte(seq, from + i))
			return 0;
	return 1;
}

/* A zeroed, formatted ring of exactly rc_ring_size(capacity) bytes. */
static inline uint8_t *rc_test_ring(uint64_t capacity, uint32_t max_payload, uint32_t policy)
{
	uint8_t *ring = calloc(1, rc_ring_size(capacity));

	CHECK(ring != NULL);
	CHECK_STATUS(rc_ring_format(ring, capacity, max_payload, policy, 0x1234abcd5678ef00ULL, 42), RC_OK);
	return ring;
}

static inline struct rc_ack_page *rc_test_ack_page(void)
{
	void *page = aligned_alloc(RC_PAGE_SIZE, RC_ACK_PAGE_SIZE);

	CHECK(page != NULL);
	memset(page, 0, RC_ACK_PAGE_SIZE);
	return page;
}

/* The start most cases share: a formatted ring of `capacity` under `policy`
 * (max_payload 0: the ring's default), `pub` initialised on it, and two
 * zeroed ack pages for the subscribers the test joins (it picks slots and
 * doorbells). Returns the ring; rc_test_bus_free releases all three. */
static inline uint8_t *rc_test_bus(struct rc_publisher *pub, uint64_t capacity, uint32_t policy,
				   struct rc_ack_page **ack_a, struct rc_ack_page **ack_b)
{
	uint8_t *ring = rc_test_ring(capacity, 0, policy);

	*ack_a = rc_test_ack_page();
	*ack_b = rc_test_ack_page();
	CHECK_STATUS(rc_pub_init(pub, ring, rc_ring_size(capacity)), RC_OK);
	return ring;
}

static inline void rc_test_bus_free(uint8_t *ring, struct rc_ack_page *ack_a, struct rc_ack_page *ack_b)
{
	free(ack_a);
	free(ack_b);
	free(ring);
}

/* What the control plane does on attach: format the ack page for the
 * slot's next generation, make the slot ACTIVE, then the subscriber side
 * validates and binds. */
static inline void rc_test_join(struct rc_publisher *pub, struct rc_subscriber *sub,
				struct rc_ack_page *ack, uint32_t slot, int sub_doorbell,
				int pub_doorbell)
{
	const struct rc_slot *mirror = rc_ring_slot_const(pub->ring, slot);
	uint64_t generation = 0, want = mirror->generation + 1;

	rc_ack_page_format(ack, pub, slot, want);
	CHECK_STATUS(rc_pub_attach(pub, slot, ack, sub_doorbell, 1000 + slot, 500, &generation), RC_OK);
	CHECK_EQ(generation, want);
	CHECK_STATUS(rc_sub_init(sub, pub->ring, rc_ring_size(pub->capacity), ack, RC_ACK_PAGE_SIZE,
				 pub_doorbell), RC_OK);
}

static inline const struct rc_slot *rc_test_mirror(const struct rc_publisher *pub, uint32_t slot)
{
	return rc_ring_slot_const(pub->ring, slot);
}

/* Writes and commits one whole message of deterministic content. */
static inline void rc_test_publish(struct rc_publisher *pub, uint64_t seq, uint64_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	uint64_t offset = 0;

	CHECK(buf != NULL);
	rc_test_fill(buf, seq, len);
	CHECK_STATUS(rc_pub_write(pub, buf, len, &offset), RC_OK);
	CHECK_EQ(offset, len);
	rc_pub_commit(pub);
	free(buf);
}

/* Writes a raw record header at `position` (a hostile publisher's pen). */
static inline void rc_test_raw_header(uint8_t *ring, uint64_t capacity, uint64_t position,
				      uint32_t length, uint16_t type, uint16_t flags, uint64_t seq)
{
	struct rc_record_header h = { .length = length, .type = type, .flags = flags, .seq = seq };

	memcpy(ring + RC_DESC_SIZE + (position & (capacity - 1)), &h, sizeof(h));
}

#endif /* RC_TEST_H */
