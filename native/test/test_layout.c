// SPDX-License-Identifier: MIT
/*
 * Layout validation: rc_ring_format, rc_pub_init, rc_sub_init and
 * rc_pub_attach reject every descriptor or ack page that breaks the layout,
 * with RC_EINVAL and before deriving a pointer from it.
 */
#include "rc_test.h"

#define CAP RC_TEST_CAPACITY
#define RING_SIZE rc_ring_size(CAP)

static struct rc_publisher pub;
static struct rc_subscriber sub;

static void format_rejects_bad_arguments(void)
{
	uint8_t *ring = calloc(1, RING_SIZE);
	struct rc_ring_desc *desc = (struct rc_ring_desc *)ring;

	CHECK(ring != NULL);
	CHECK_STATUS(rc_ring_format(NULL, CAP, 0, RC_POLICY_BLOCK, 1, 1), RC_EINVAL);
	CHECK_STATUS(rc_ring_format(ring, CAP + RC_PAGE_SIZE, 0, RC_POLICY_BLOCK, 1, 1), RC_EINVAL);
	CHECK_STATUS(rc_ring_format(ring, 0, 0, RC_POLICY_BLOCK, 1, 1), RC_EINVAL);
	CHECK_STATUS(rc_ring_format(ring, RC_MIN_CAPACITY / 2, 0, RC_POLICY_BLOCK, 1, 1), RC_EINVAL);
	CHECK_STATUS(rc_ring_format(ring, RC_MAX_CAPACITY * 2, 0, RC_POLICY_BLOCK, 1, 1), RC_EINVAL);
	CHECK_STATUS(rc_ring_format(ring, CAP, CAP / 2, RC_POLICY_BLOCK, 1, 1), RC_EINVAL);
	CHECK_STATUS(rc_ring_format(ring, CAP, UINT32_MAX, RC_POLICY_BLOCK, 1, 1), RC_EINVAL);
	CHECK_STATUS(rc_ring_format(ring, CAP, 0, 0, 1, 1), RC_EINVAL);
	CHECK_STATUS(rc_ring_format(ring, CAP, 0, 3, 1, 1), RC_EINVAL);
	/* nothing was written by the rejected calls */
	for (uint64_t i = 0; i < RING_SIZE; i++)
		CHECK(ring[i] == 0);

	CHECK_STATUS(rc_ring_format(ring, CAP, 0, RC_POLICY_DROP, 77, 1234), RC_OK);
	CHECK_EQ(desc->magic, RC_RING_MAGIC);
	CHECK_EQ(desc->layout_version, RC_LAYOUT_VERSION);
	CHECK_EQ(desc->desc_size, RC_DESC_SIZE);
	CHECK_EQ(desc->capacity, CAP);
	CHECK_EQ(desc->max_subscribers, RC_MAX_SUBSCRIBERS);
	CHECK_EQ(desc->slot_size, RC_SLOT_SIZE);
	CHECK_EQ(desc->max_payload, rc_default_max_payload(CAP));
	CHECK_EQ(desc->record_align, RC_RECORD_ALIGN);
	CHECK_EQ(desc->bus_id, 77);
	CHECK_EQ(desc->policy, RC_POLICY_DROP);
	CHECK_EQ(desc->publisher_pid, 1234);
	CHECK_EQ(desc->publisher_state, RC_PUB_OPEN);
	CHECK_EQ(desc->head, 0);
	CHECK_EQ(desc->tail_intent, 0);

	/* explicit max_payload, and the largest one allowed */
	CHECK_STATUS(rc_ring_format(ring, CAP, 1000, RC_POLICY_BLOCK, 1, 1), RC_OK);
	CHECK_EQ(desc->max_payload, 1000);
	CHECK_STATUS(rc_ring_format(ring, CAP, CAP / 2 - RC_RECORD_HEADER_SIZE, RC_POLICY_BLOCK, 1, 1), RC_OK);
	free(ring);
}

static void default_max_payload_fits(void)
{
	for (uint64_t cap = RC_MIN_CAPACITY; cap <= RC_MAX_CAPACITY; cap <<= 1) {
		uint32_t mp = rc_default_max_payload(cap);
		uint64_t rec = (RC_RECORD_HEADER_SIZE + (uint64_t)mp + RC_RECORD_ALIGN - 1) & ~(uint64_t)(RC_RECORD_ALIGN - 1);

		CHECK(mp > 0);
		CHECK(rec <= cap / 2);
	}
}

static void pub_init_validates(void)
{
	uint8_t *ring = rc_test_ring(CAP, 0, RC_POLICY_BLOCK);
	struct rc_ring_desc *desc = (struct rc_ring_desc *)ring;
	struct rc_ring_desc saved = *desc;

	CHECK_STATUS(rc_pub_init(&pub, ring, RING_SIZE), RC_OK);
	CHECK(pub.data == ring + RC_DESC_SIZE);
	CHECK_EQ(pub.capacity, CAP);
	CHECK_EQ(pub.mask, CAP - 1);
	CHECK_EQ(pub.claim_position, UINT64_MAX);
	CHECK_EQ(pub.attached, 0);

	CHECK_STATUS(rc_pub_init(&pub, NULL, RING_SIZE), RC_EINVAL);
	CHECK_STATUS(rc_pub_init(&pub, ring, RC_DESC_SIZE - 1), RC_EINVAL);
	CHECK_STATUS(rc_pub_init(&pub, ring, RING_SIZE - RC_PAGE_SIZE), RC_EINVAL);
	CHECK_STATUS(rc_pub_init(&pub, ring, RING_SIZE + 1), RC_EINVAL);

	desc->magic ^= 1;
	CHECK_STATUS(rc_pub_init(&pub, ring, RING_SIZE), RC_EINVAL);
	*desc = saved;
	desc->layout_version = RC_LAYOUT_VERSION + 1;
	CHECK_STATUS(rc_pub_init(&pub, ring, RING_SIZE), RC_EINVAL);
	*desc = saved;
	desc->desc_size = RC_DESC_SIZE + RC_PAGE_SIZE;
	CHECK_STATUS(rc_pub_init(&pub, ring, RING_SIZE), RC_EINVAL);
	*desc = saved;
	/* Not a power of two, with a ring_size that matches it: the mask
	 * would be meaningless. */
	desc->capacity = CAP - RC_PAGE_SIZE;
	CHECK_STATUS(rc_pub_init(&pub, ring, rc_ring_size(CAP - RC_PAGE_SIZE)), RC_EINVAL);
	*desc = saved;
	/* A max_payload that cannot fit twice in the ring would let one
	 * record run past the data area. */
	desc->max_payload = UINT32_MAX;
	CHECK_STATUS(rc_pub_init(&pub, ring, RING_SIZE), RC_EINVAL);
	*desc = saved;
	desc->policy = 7;
	CHECK_STATUS(rc_pub_init(&pub, ring, RING_SIZE), RC_EINVAL);
	*desc = saved;
	CHECK_STATUS(rc_pub_init(&pub, ring, RING_SIZE), RC_OK);
	free(ring);
}

/* Fresh ring + publisher + formatted ack page for slot 3. */
static uint8_t *setup(struct rc_ack_page **ack_out)
{
	uint8_t *ring = rc_test_ring(CAP, 0, RC_POLICY_BLOCK);
	struct rc_ack_page *ack = rc_test_ack_page();

	CHECK_STATUS(rc_pub_init(&pub, ring, RING_SIZE), RC_OK);
	rc_ack_page_format(ack, &pub, 3, 1);
	CHECK_STATUS(rc_pub_attach(&pub, 3, ack, -1, 1, 1, NULL), RC_OK);
	*ack_out = ack;
	return ring;
}

static void sub_init_validates_ring(void)
{
	struct rc_ack_page *ack;
	uint8_t *ring = setup(&ack);
	struct rc_ring_desc *desc = (struct rc_ring_desc *)ring;
	struct rc_ring_desc saved = *desc;

	CHECK_STATUS(rc_sub_init(&sub, ring, RING_SIZE, ack, RC_ACK_PAGE_SIZE, -1), RC_OK);
	CHECK_EQ(sub.slot, 3);
	CHECK_EQ(sub.generation, 1);
	CHECK_EQ(sub.capacity, CAP);
	CHECK(sub.data == ring + RC_DESC_SIZE);
	CHECK(sub.slot_mirror == rc_test_mirror(&pub, 3));

	CHECK_STATUS(rc_sub_init(&sub, NULL, RING_SIZE, ack, RC_ACK_PAGE_SIZE, -1), RC_EINVAL);
	CHECK_STATUS(rc_sub_init(&sub, ring, RING_SIZE, NULL, RC_ACK_PAGE_SIZE, -1), RC_EINVAL);
	CHECK_STATUS(rc_sub_init(&sub, ring, RING_SIZE, ack, RC_ACK_PAGE_SIZE - 1, -1), RC_EINVAL);
	CHECK_STATUS(rc_sub_init(&sub, ring, RC_DESC_SIZE, ack, RC_ACK_PAGE_SIZE, -1), RC_EINVAL);
	/* ring_size mismatch, both ways */
	CHECK_STATUS(rc_sub_init(&sub, ring, RING_SIZE - RC_PAGE_SIZE, ack, RC_ACK_PAGE_SIZE, -1), RC_EINVAL);
	CHECK_STATUS(rc_sub_init(&sub, ring, RING_SIZE + RC_PAGE_SIZE, ack, RC_ACK_PAGE_SIZE, -1), RC_EINVAL);

#define REJECT(mutation)                                                                        \
	do {                                                                                    \
		mutation;                                                                       \
		CHECK_STATUS(rc_sub_init(&sub, ring, RING_SIZE, ack, RC_ACK_PAGE_SIZE, -1), RC_EINVAL); \
		*desc = saved;                                                                  \
	} while (0)

	REJECT(desc->magic = 0);
	REJECT(desc->layout_version = 0);
	REJECT(desc->layout_version = RC_LAYOUT_VERSION + 1);
	REJECT(desc->desc_size = RC_DESC_SIZE - RC_PAGE_SIZE);
	REJECT(desc->max_subscribers = RC_MAX_SUBSCRIBERS * 2);
	REJECT(desc->slot_size = RC_SLOT_SIZE * 2);
	REJECT(desc->record_align = 8);
	REJECT(desc->capacity = CAP * 2);
	REJECT(desc->capacity = CAP / 2);
	REJECT(desc->capacity = CAP - 16);
	REJECT(desc->capacity = 0);
	REJECT(desc->capacity = UINT64_MAX);
	REJECT(desc->max_payload = CAP / 2);
	REJECT(desc->max_payload = UINT32_MAX);
	/* head behind the ack page's position, or more than a ring ahead */
	REJECT(desc->head = 0; ack->ack = 16);
	ack->ack = 0;
	REJECT(desc->head = CAP + 16);
#undef REJECT

	/* capacity not a power of two with a ring_size that agrees with it */
	desc->capacity = CAP - RC_PAGE_SIZE;
	CHECK_STATUS(rc_sub_init(&sub, ring, rc_ring_size(CAP - RC_PAGE_SIZE), ack, RC_ACK_PAGE_SIZE, -1),
		     RC_EINVAL);
	*desc = saved;

	CHECK_STATUS(rc_sub_init(&sub, ring, RING_SIZE, ack, RC_ACK_PAGE_SIZE, -1), RC_OK);
	free(ack);
	free(ring);
}

static void sub_init_validates_ack_page(void)
{
	struct rc_ack_page *ack;
	uint8_t *ring = setup(&ack);
	struct rc_ack_page saved = *ack;

#define REJECT(mutation)                                                                        \
	do {                                                                                    \
		mutation;                                                                       \
		CHECK_STATUS(rc_sub_init(&sub, ring, RING_SIZE, ack, RC_ACK_PAGE_SIZE, -1), RC_EINVAL); \
		*ack = saved;                                                                   \
	} while (0)

	REJECT(ack->magic = RC_RING_MAGIC);
	REJECT(ack->bus_id ^= 0x100);
	REJECT(ack->layout_version = RC_LAYOUT_VERSION + 1);
	REJECT(ack->slot = RC_MAX_SUBSCRIBERS);
	REJECT(ack->slot = UINT32_MAX);
#undef REJECT
	CHECK_STATUS(rc_sub_init(&sub, ring, RING_SIZE, ack, RC_ACK_PAGE_SIZE, -1), RC_OK);

	/* a generation the slot does not have: init succeeds, the first read
	 * says the slot is not ours */
	ack->generation = 99;
	CHECK_STATUS(rc_sub_init(&sub, ring, RING_SIZE, ack, RC_ACK_PAGE_SIZE, -1), RC_OK);
	{
		uint8_t out[16];
		struct rc_entry e[1];

		CHECK_STATUS(rc_sub_read(&sub, out, sizeof(out), e, 1), RC_EEVICTED);
	}
	free(ack);
	free(ring);
}

static void attach_validates_and_slots_run_out(void)
{
	uint8_t *ring = rc_test_ring(CAP, 0, RC_POLICY_BLOCK);
	struct rc_ack_page *ack = rc_test_ack_page();
	uint64_t generation = 0;

	CHECK_STATUS(rc_pub_init(&pub, ring, RING_SIZE), RC_OK);
	CHECK_STATUS(rc_pub_attach(&pub, RC_MAX_SUBSCRIBERS, ack, -1, 1, 1, NULL), RC_EINVAL);
	CHECK_STATUS(rc_pub_attach(&pub, 0, NULL, -1, 1, 1, NULL), RC_EINVAL);
	CHECK_EQ(pub.attached, 0);
	CHECK_EQ(rc_pub_free_slot(&pub), 0);

	/* one ack page may back every slot here: nobody reads it */
	for (uint32_t i = 0; i < RC_MAX_SUBSCRIBERS; i++) {
		CHECK_EQ(rc_pub_free_slot(&pub), i);
		CHECK_STATUS(rc_pub_attach(&pub, i, ack, -1, 7, 8, &generation), RC_OK);
		CHECK_EQ(generation, 1);
		CHECK_EQ(rc_test_mirror(&pub, i)->state, RC_SLOT_ACTIVE);
		CHECK_EQ(rc_test_mirror(&pub, i)->pid, 7);
		CHECK_EQ(rc_test_mirror(&pub, i)->uid, 8);
	}
	CHECK_EQ(pub.attached, RC_MAX_SUBSCRIBERS);
	CHECK_STATUS(rc_pub_free_slot(&pub), RC_ENOSLOT);

	rc_pub_detach(&pub, 17, RC_EVICT_DEAD);
	CHECK_EQ(rc_pub_free_slot(&pub), 17);
	CHECK_EQ(rc_test_mirror(&pub, 17)->state, RC_SLOT_FREE);
	CHECK_EQ(rc_test_mirror(&pub, 17)->evict_reason, RC_EVICT_DEAD);
	rc_pub_detach(&pub, 17, RC_EVICT_DEAD); /* twice: no effect */
	rc_pub_detach(&pub, RC_MAX_SUBSCRIBERS, RC_EVICT_DEAD);
	CHECK_EQ(pub.attached, RC_MAX_SUBSCRIBERS - 1);

	/* reuse bumps the generation */
	CHECK_STATUS(rc_pub_attach(&pub, 17, ack, -1, 7, 8, &generation), RC_OK);
	CHECK_EQ(generation, 2);
	CHECK_EQ(rc_test_mirror(&pub, 17)->generation, 2);
	CHECK_EQ(rc_test_mirror(&pub, 17)->evict_reason, RC_EVICT_NONE);
	CHECK_EQ(pub.attached, RC_MAX_SUBSCRIBERS);
	free(ack);
	free(ring);
}

static void ack_page_format_ties_page_to_ring(void)
{
	uint8_t *ring = rc_test_ring(CAP, 0, RC_POLICY_BLOCK);
	struct rc_ack_page *ack = rc_test_ack_page();

	CHECK_STATUS(rc_pub_init(&pub, ring, RING_SIZE), RC_OK);
	memset(ack, 0xa5, RC_ACK_PAGE_SIZE);
	rc_ack_page_format(ack, &pub, 9, 5);
	CHECK_EQ(ack->magic, RC_ACK_MAGIC);
	CHECK_EQ(ack->bus_id, pub.desc->bus_id);
	CHECK_EQ(ack->slot, 9);
	CHECK_EQ(ack->layout_version, RC_LAYOUT_VERSION);
	CHECK_EQ(ack->generation, 5);
	CHECK_EQ(ack->ack, 0);
	CHECK_EQ(ack->sleeping, 0);
	CHECK_EQ(ack->sleep_seq, 0);
	for (size_t i = sizeof(*ack); i < RC_ACK_PAGE_SIZE; i++)
		CHECK(((uint8_t *)ack)[i] == 0);
	free(ack);
	free(ring);
}

/* True if bytes [from, to) of `mem` are all zero. */
static bool zero_between(const void *mem, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (((const uint8_t *)mem)[i] != 0)
			return false;
	return true;
}

/*
 * The provider fields that stay in the core layout (docs/layout.md,
 * "Provider fields in the core layout") cost the memfd path nothing: the
 * core, which every provider runs, never writes them. A whole lifecycle
 * through the core alone (attach, publish, read, sleep announcements,
 * heartbeats, eviction, rejoin, detach, close) leaves the descriptor's
 * ivshmem line, the join answer table and each ack page's join line zero.
 */
static void core_never_writes_provider_fields(void)
{
	struct rc_ack_page *ack_a, *ack_b;
	uint8_t *ring = rc_test_bus(&pub, CAP, RC_POLICY_BLOCK, &ack_a, &ack_b);
	static struct rc_subscriber sub_b;
	struct rc_entry entries[8];
	uint8_t out[4096], message[100];

	rc_test_join(&pub, &sub, ack_a, 0, -1, -1);
	rc_test_join(&pub, &sub_b, ack_b, 5, -1, -1);
	for (uint64_t seq = 0; seq < 10; seq++) {
		rc_test_fill(message, seq, sizeof(message));
		CHECK_STATUS(rc_pub_offer(&pub, message, sizeof(message)), RC_OK);
	}
	rc_pub_commit(&pub);
	CHECK(rc_sub_read(&sub, out, sizeof(out), entries, 8) > 0);
	CHECK(rc_sub_poll(&sub_b, entries, 8) > 0);
	CHECK_STATUS(rc_sub_release(&sub_b), RC_OK);
	rc_sub_heartbeat(&sub);
	rc_sub_heartbeat(&sub_b);
	(void)rc_sub_prepare_wait(&sub);
	rc_sub_end_wait(&sub);
	(void)rc_pub_prepare_wait(&pub, sizeof(message));
	rc_pub_end_wait(&pub);
	CHECK(rc_pub_check_heartbeats(&pub, 1, 1000) >= 0);
	rc_pub_evict(&pub, 5, RC_EVICT_SLOW);
	rc_test_join(&pub, &sub_b, ack_b, 5, -1, -1);
	rc_pub_detach(&pub, 0, RC_EVICT_CLOSED);
	rc_pub_close(&pub);

	CHECK(zero_between(ring, offsetof(struct rc_ring_desc, ivshmem_flags), sizeof(struct rc_ring_desc)));
	CHECK(zero_between(ring, RC_JOIN_ANSWER_OFFSET, RC_JOIN_ANSWER_OFFSET + RC_MAX_SUBSCRIBERS * RC_JOIN_ANSWER_SIZE));
	CHECK(zero_between(ring, offsetof(struct rc_ring_desc, publisher_heartbeat),
			   offsetof(struct rc_ring_desc, publisher_heartbeat) + sizeof(rc_u64)));
	CHECK(zero_between(ack_a, offsetof(struct rc_ack_page, join_request), sizeof(struct rc_ack_page)));
	CHECK(zero_between(ack_b, offsetof(struct rc_ack_page, join_request), sizeof(struct rc_ack_page)));
	rc_test_bus_free(ring, ack_a, ack_b);
}

/* The per-slot accessors of ringcast_layout.h are the table's offsets, for
 * the first and the last slot, in both flavours. */
static void per_slot_accessors_match_the_layout(void)
{
	static uint8_t desc[RC_DESC_SIZE];
	const uint32_t last = RC_MAX_SUBSCRIBERS - 1;

	CHECK((uint8_t *)rc_ring_slot(desc, 0) == desc + RC_SLOT_TABLE_OFFSET);
	CHECK((uint8_t *)rc_ring_slot(desc, last) == desc + RC_DESC_SIZE - RC_SLOT_SIZE);
	CHECK((const uint8_t *)rc_ring_slot_const(desc, last) == (uint8_t *)rc_ring_slot(desc, last));
	CHECK((uint8_t *)rc_ring_join_answer(desc, 0) == desc + RC_JOIN_ANSWER_OFFSET);
	CHECK((uint8_t *)rc_ring_join_answer(desc, last) == desc + RC_JOIN_ANSWER_OFFSET + last * RC_JOIN_ANSWER_SIZE);
	CHECK((const uint8_t *)rc_ring_join_answer_const(desc, last) == (uint8_t *)rc_ring_join_answer(desc, last));
	CHECK((uint8_t *)rc_ring_lost_to_seq(desc, 0) == desc + RC_LOST_TO_SEQ_OFFSET);
	CHECK((uint8_t *)rc_ring_lost_to_seq(desc, last) == desc + RC_LOST_TO_SEQ_OFFSET + last * RC_LOST_TO_SEQ_SIZE);
	CHECK((const uint8_t *)rc_ring_lost_to_seq_const(desc, last) == (uint8_t *)rc_ring_lost_to_seq(desc, last));
}

static void status_names(void)
{
	CHECK(strcmp(rc_status_name(RC_OK), "OK") == 0);
	CHECK(strcmp(rc_status_name(RC_EINVAL), "EINVAL") == 0);
	CHECK(strcmp(rc_status_name(RC_ECORRUPT), "ECORRUPT") == 0);
	CHECK(strcmp(rc_status_name(RC_ELAPPED), "ELAPPED") == 0);
	CHECK(strcmp(rc_status_name(RC_EEVICTED), "EEVICTED") == 0);
	CHECK(strcmp(rc_status_name(RC_ENOSLOT), "ENOSLOT") == 0);
	CHECK(strcmp(rc_status_name(-100), "EUNKNOWN") == 0);
}

int main(void)
{
	RUN(format_rejects_bad_arguments);
	RUN(default_max_payload_fits);
	RUN(pub_init_validates);
	RUN(sub_init_validates_ring);
	RUN(sub_init_validates_ack_page);
	RUN(attach_validates_and_slots_run_out);
	RUN(ack_page_format_ties_page_to_ring);
	RUN(core_never_writes_provider_fields);
	RUN(per_slot_accessors_match_the_layout);
	RUN(status_names);
	return rc_test_done("test_layout");
}
