// SPDX-License-Identifier: MIT
/*
 * ringcast C core: publisher and subscriber sides of the ring protocol.
 * The normative description is docs/protocol.md; the barrier pairings are
 * docs/memory-ordering.md (labels [P1].. and [S1].. below refer to it).
 */
#define _GNU_SOURCE
#include "ringcast.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringcast_barrier.h"

#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h> /* copy_streaming, copy_payload */
#endif

#define RC_NO_CLAIM UINT64_MAX
#ifndef RC_FRAGMENT_MAX
#define RC_FRAGMENT_MAX (256u << 10)
#endif

#if defined(__x86_64__) && defined(__SSE2__)
/* Copies the whole 64-byte lines of `n` bytes, 16 bytes a load and a store;
 * returns how many it copied. `stream`: non-temporal stores (copy_streaming;
 * `to` 16-byte aligned). Inlined with a constant `stream`, so each caller
 * gets one loop without the test. */
static inline uint64_t copy_lines(uint8_t *to, const uint8_t *from, uint64_t n, bool stream)
{
	uint64_t done = 0;

	for (; n - done >= 64; done += 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)(from + done));
		__m128i b = _mm_loadu_si128((const __m128i *)(from + done + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(from + done + 32));
		__m128i d = _mm_loadu_si128((const __m128i *)(from + done + 48));

		if (stream) {
			_mm_stream_si128((__m128i *)(to + done), a);
			_mm_stream_si128((__m128i *)(to + done + 16), b);
			_mm_stream_si128((__m128i *)(to + done + 32), c);
			_mm_stream_si128((__m128i *)(to + done + 48), d);
		} else {
			_mm_storeu_si128((__m128i *)(to + done), a);
			_mm_storeu_si128((__m128i *)(to + done + 16), b);
			_mm_storeu_si128((__m128i *)(to + done + 32), c);
			_mm_storeu_si128((__m128i *)(to + done + 48), d);
		}
	}
	return done;
}
#endif

/* Copies a payload into or out of the ring. glibc's memcpy moves large
 * blocks with `rep movsb`, which on the AMD EPYC these benchmarks run on
 * crawls when the destination is 1 to 15 bytes ahead of the source modulo
 * 4 KiB: 2 to 3.5 GB/s for 1 MiB against 36 to 49 GB/s at every other
 * distance. Payload copies meet that distance whenever a message starts a
 * few bytes into a page-aligned buffer (after a length prefix, say) and its
 * record's payload lands at the matching page offset: a third of the
 * publisher's copies of the benchmark's 1 MiB messages, which then took half
 * the publisher's time. The 64-byte loop copies at 40 GB/s at every
 * distance, so those take it. Below COPY_LINES_BELOW every copy takes it:
 * there `rep movsb` is slower at any distance (16 KiB from a 4 MiB pool
 * into a 4 MiB ring, one core: 508 against 458 ns; the publisher's CPU per
 * 16 KiB message with a subscriber reading on the other core, median of
 * five alternating runs: 1 185 against 1 103 ns). Larger copies (fragments,
 * reassembly into a fresh buffer) keep memcpy: with the loop, 1 MiB
 * messages cost the publisher and the subscriber more (104 to 118 against
 * 99 to 106 us per message). */
#define COPY_LINES_BELOW (64u << 10)

static void copy_payload(uint8_t *to, const uint8_t *from, uint64_t n)
{
#if defined(__x86_64__) && defined(__SSE2__)
	/* unsigned: a distance of 0 wraps to the top and takes memcpy */
	if (n >= RC_COPY_GUARDED_FROM &&
	    (n < COPY_LINES_BELOW || ((((uintptr_t)to - (uintptr_t)from) & 4095) - 1) < 15)) {
		uint64_t done = copy_lines(to, from, n, false);

		to += done;
		from += done;
		n -= done;
	}
#endif
	memcpy(to, from, n);
}

/* The bounded spins (RC_LARGE_SPIN_NS) read this clock: vDSO, no syscall. */
static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One step of a spin: tells the core (and a hyperthread sibling) we wait. */
static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Checks between two clock reads: the clock costs more than a check. */
#define SPIN_CHECKS_PER_CLOCK 32

/* A spin that found nothing skips the next 1, 2, 4 .. SPIN_SKIP_MAX chances
 * to spin; one that found resets. A spin helps only while the other side
 * runs on another CPU: when it shares ours (a loaded machine, here 2 vCPUs
 * and a third busy process) it cannot move until we stop, and every spin
 * was measured to fail and cost its whole bound. */
#define SPIN_SKIP_MAX 64u

/* Whether this chance to spin is taken (the backoff's skips used first). */
static bool spin_turn(struct rc_spin_backoff *b)
{
	if (b->skip == 0)
		return true;
	b->skip--;
	return false;
}

static bool spin_done(struct rc_spin_backoff *b, bool found)
{
	if (found) {
		b->next_skip = 0;
		b->found++;
	} else {
		b->next_skip = b->next_skip ? (b->next_skip * 2 > SPIN_SKIP_MAX ? SPIN_SKIP_MAX : b->next_skip * 2) : 1;
		b->skip = b->next_skip;
	}
	return found;
}

/* Spins up to `bound_ns` until ready(ctx), unless the backoff skips this
 * chance. True: ready. */
static bool spin_until(struct rc_spin_backoff *b, uint64_t bound_ns, bool (*ready)(void *), void *ctx)
{
	uint64_t deadline;

	if (bound_ns == 0 || !spin_turn(b))
		return false;
	b->spins++;
	deadline = monotonic_ns() + bound_ns;
	do {
		for (int i = 0; i < SPIN_CHECKS_PER_CLOCK; i++) {
			spin_pause();
			if (ready(ctx))
				return spin_done(b, true);
		}
	} while (monotonic_ns() < deadline);
	return spin_done(b, false);
}

static inline uint64_t align_record(uint64_t payload)
{
	return (RC_RECORD_HEADER_SIZE + payload + (RC_RECORD_ALIGN - 1)) & ~(uint64_t)(RC_RECORD_ALIGN - 1);
}

static inline bool is_power_of_two(uint64_t v) { return v && !(v & (v - 1)); }

static inline uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

struct rc_publisher;
static uint64_t record_need(const struct rc_publisher *pub, uint64_t tail, uint64_t payload);

/* A doorbell is an eventfd unless the region provider installed its own
 * ring function (Xen event channels); one predictable branch before the
 * system call either way. A failed eventfd write only means the peer is gone
 * or the counter is saturated (then it is readable anyway). */
static void ring_doorbell(rc_doorbell_ring_fn ring, void *ctx, int fd)
{
	uint64_t one = 1;
	ssize_t r;

	if (fd < 0)
		return;
	if (ring) {
		ring(ctx, fd);
		return;
	}
	do {
		r = write(fd, &one, sizeof(one));
	} while (r < 0 && errno == EINTR);
}

const char *rc_status_name(int status)
{
	switch (status) {
	case RC_OK: return "OK";
	case RC_EAGAIN: return "EAGAIN";
	case RC_EINVAL: return "EINVAL";
	case RC_ECORRUPT: return "ECORRUPT";
	case RC_ELAPPED: return "ELAPPED";
	case RC_EEVICTED: return "EEVICTED";
	case RC_ECLOSED: return "ECLOSED";
	case RC_ETOOBIG: return "ETOOBIG";
	case RC_ESTATE: return "ESTATE";
	case RC_ENOSLOT: return "ENOSLOT";
	case RC_EABORTED: return "EABORTED";
	case RC_EMESSAGE: return "EMESSAGE";
	default: return "EUNKNOWN";
	}
}

uint32_t rc_default_max_payload(uint64_t capacity)
{
	uint64_t quarter = capacity / 4;

	if (quarter > (1u << 24))
		quarter = 1u << 24;
	return (uint32_t)(quarter - RC_RECORD_HEADER_SIZE);
}

/* ======================================================================== */
/* publisher                                                                 */

int rc_ring_format(void *mem, uint64_t capacity, uint32_t max_payload, uint32_t policy,
		   uint64_t bus_id, uint32_t publisher_pid)
{
	struct rc_ring_desc *desc = mem;

	if (!mem || !is_power_of_two(capacity) || capacity < RC_MIN_CAPACITY || capacity > RC_MAX_CAPACITY)
		return RC_EINVAL;
	if (max_payload == 0)
		max_payload = rc_default_max_payload(capacity);
	if (max_payload < RC_MIN_MAX_PAYLOAD || align_record(max_payload) > capacity / 2)
		return RC_EINVAL;
	if (policy != RC_POLICY_BLOCK && policy != RC_POLICY_DROP)
		return RC_EINVAL;

	/* All const fields: the memfd is not shared yet, plain stores suffice. */
	memset(desc, 0, RC_DESC_SIZE);
	desc->magic = RC_RING_MAGIC;
	desc->layout_version = RC_LAYOUT_VERSION;
	desc->desc_size = RC_DESC_SIZE;
	desc->capacity = capacity;
	desc->max_subscribers = RC_MAX_SUBSCRIBERS;
	desc->slot_size = RC_SLOT_SIZE;
	desc->max_payload = max_payload;
	desc->max_message = RC_DEFAULT_MAX_MESSAGE;
	desc->record_align = RC_RECORD_ALIGN;
	desc->bus_id = bus_id;
	desc->policy = policy;
	desc->publisher_pid = publisher_pid;
	desc->publisher_state = RC_PUB_OPEN;
	return RC_OK;
}

int rc_ring_set_features(void *mem, uint32_t features)
{
	struct rc_ring_desc *desc = mem;

	if (!mem || (features & ~RC_FEATURES_KNOWN))
		return RC_EINVAL;
	desc->features = features; /* const: the ring is not shared yet */
	return RC_OK;
}

int rc_ring_set_max_message(void *mem, uint64_t max_message)
{
	struct rc_ring_desc *desc = mem;

	if (!mem || max_message < desc->max_payload)
		return RC_EINVAL;
	desc->max_message = max_message; /* const: the ring is not shared yet */
	return RC_OK;
}

static struct rc_slot *slot_mirror(struct rc_publisher *pub, uint32_t slot)
{
	return rc_ring_slot(pub->ring, slot);
}

static uint64_t *lost_to_seq(struct rc_publisher *pub, uint32_t slot)
{
	return rc_ring_lost_to_seq(pub->ring, slot);
}

int rc_pub_init(struct rc_publisher *pub, void *ring_mem, uint64_t ring_size)
{
	struct rc_ring_desc *desc = ring_mem;

	memset(pub, 0, sizeof(*pub));
	pub->room_spin_ns = RC_LARGE_SPIN_NS;
	/* The ring may come from an earlier life of the memfd: every constant
	 * we derive a mask or a record bound from is checked, or a bad
	 * capacity/max_payload would send writes past the data area. */
	if (!ring_mem || ring_size < RC_DESC_SIZE || desc->magic != RC_RING_MAGIC ||
	    desc->layout_version != RC_LAYOUT_VERSION || desc->desc_size != RC_DESC_SIZE ||
	    !is_power_of_two(desc->capacity) || desc->capacity < RC_MIN_CAPACITY ||
	    desc->capacity > RC_MAX_CAPACITY || rc_ring_size(desc->capacity) != ring_size ||
	    align_record(desc->max_payload) > desc->capacity / 2 ||
	    desc->max_payload < RC_MIN_MAX_PAYLOAD || desc->max_message < desc->max_payload ||
	    (desc->policy != RC_POLICY_BLOCK && desc->policy != RC_POLICY_DROP) ||
	    (desc->features & ~RC_FEATURES_KNOWN))
		return RC_EINVAL;
	pub->ring = ring_mem;
	pub->desc = desc;
	pub->data = pub->ring + RC_DESC_SIZE;
	pub->capacity = desc->capacity;
	pub->mask = desc->capacity - 1;
	pub->max_payload = desc->max_payload;
	pub->max_message = desc->max_message;
	pub->policy = desc->policy;
	pub->tail = pub->head = rc_load_relaxed(&desc->head);
	pub->limit = UINT64_MAX;
	pub->lag_bound = pub->capacity;
	pub->evict_laggards = pub->policy == RC_POLICY_DROP;
	pub->claim_position = RC_NO_CLAIM;
	for (uint32_t i = 0; i < RC_MAX_SUBSCRIBERS; i++)
		pub->slots[i].doorbell_fd = -1;
	return RC_OK;
}

int rc_pub_free_slot(const struct rc_publisher *pub)
{
	for (uint32_t i = 0; i < RC_MAX_SUBSCRIBERS; i++)
		if (pub->slots[i].state == RC_SLOT_FREE && !(pub->reserved_slots & (1ULL << i)))
			return (int)i;
	return RC_ENOSLOT;
}

void rc_ack_page_format(void *ack_mem, const struct rc_publisher *pub, uint32_t slot, uint64_t generation)
{
	struct rc_ack_page *page = ack_mem;

	memset(page, 0, RC_ACK_PAGE_SIZE);
	page->magic = RC_ACK_MAGIC;
	page->bus_id = pub->desc->bus_id;
	page->slot = slot;
	page->layout_version = RC_LAYOUT_VERSION;
	page->generation = generation;
	page->ack = pub->head;
}

static bool slot_counts(const struct rc_pub_slot *s)
{
	return s->state == RC_SLOT_ACTIVE || s->state == RC_SLOT_LAGGING;
}

/* Visits each slot whose bit is set in `slots` (a copy: the body may evict),
 * lowest first, as `i`. */
#define for_each_slot(i, slots) \
	for (uint64_t left_ = (slots), i; left_ && ((i = (uint64_t)__builtin_ctzll(left_)), 1); left_ &= left_ - 1)

int rc_pub_attach(struct rc_publisher *pub, uint32_t slot, const struct rc_ack_page *ack_page,
		  int doorbell_fd, uint32_t pid, uint32_t uid, uint64_t *generation_out)
{
	struct rc_pub_slot *s;
	struct rc_slot *m;

	if (slot >= RC_MAX_SUBSCRIBERS || !ack_page)
		return RC_EINVAL;
	s = &pub->slots[slot];
	m = slot_mirror(pub, slot);
	if (s->state == RC_SLOT_FREE)
		pub->attached++;
	s->ack_page = ack_page;
	s->doorbell_fd = doorbell_fd;
	s->acked = pub->head;
	s->generation = m->generation + 1;
	s->last_rung_sleep_seq = rc_load_relaxed(&ack_page->sleep_seq);
	s->heartbeat = rc_load_relaxed(&ack_page->heartbeat);
	s->heartbeat_changed_ms = 0;
	s->state = RC_SLOT_ACTIVE;
	pub->counted |= 1ULL << slot;
	pub->changed |= 1ULL << slot;
	pub->limit = 0; /* recompute: the newcomer starts at head */

	rc_store_relaxed(&m->evict_reason, (uint32_t)RC_EVICT_NONE);
	rc_store_relaxed(&m->generation, s->generation);
	rc_store_relaxed(&m->ack, s->acked);
	rc_store_relaxed(&m->join_position, pub->head);
	rc_store_relaxed(&m->lost_from, (uint64_t)0);
	rc_store_relaxed(&m->lost_to, (uint64_t)0);
	rc_store_relaxed(&m->lost_messages, 0u);
	rc_store_relaxed(&m->pid, pid);
	rc_store_relaxed(&m->uid, uid);
	/* [P4] slot fields before state; pairs with [S4] in check_slot. */
	rc_store_release(&m->state, (uint32_t)RC_SLOT_ACTIVE);
	if (generation_out)
		*generation_out = s->generation;
	return RC_OK;
}

void rc_pub_detach(struct rc_publisher *pub, uint32_t slot, uint32_t reason)
{
	struct rc_pub_slot *s;
	struct rc_slot *m;

	if (slot >= RC_MAX_SUBSCRIBERS || pub->slots[slot].state == RC_SLOT_FREE)
		return;
	s = &pub->slots[slot];
	m = slot_mirror(pub, slot);
	/* An evicted subscriber that then goes away keeps its eviction's reason. */
	if (s->state != RC_SLOT_EVICTED)
		rc_store_relaxed(&m->evict_reason, reason);
	rc_store_release(&m->state, (uint32_t)RC_SLOT_FREE); /* [P4] */
	s->state = RC_SLOT_FREE;
	pub->counted &= ~(1ULL << slot);
	pub->changed |= 1ULL << slot;
	s->ack_page = NULL;
	s->doorbell_fd = -1;
	pub->attached--;
	pub->limit = 0; /* recompute: the slowest may have left */
}

uint64_t rc_pub_next_whole_seq(const struct rc_publisher *pub)
{
	return pub->next_seq + (pub->in_message ? 1 : 0);
}

/* Messages between `from` (a subscriber's validated ack, so still in the
 * ring: nobody overwrites past a counted subscriber's ack) and the tail:
 * the publisher's own records, read back to find the first one's seq. */
static uint64_t messages_since(const struct rc_publisher *pub, uint64_t from)
{
	struct rc_record_header h;

	if (from > pub->tail || pub->tail - from > pub->capacity)
		return 0; /* not ours to know any more */
	while (from < pub->tail) {
		memcpy(&h, pub->data + (from & pub->mask), sizeof(h));
		if (h.type != RC_RECORD_PAD)
			return rc_pub_next_whole_seq(pub) - h.seq;
		from += pub->capacity - (from & pub->mask);
	}
	return 0;
}

void rc_pub_evict(struct rc_publisher *pub, uint32_t slot, uint32_t reason)
{
	struct rc_pub_slot *s;
	struct rc_slot *m;

	if (slot >= RC_MAX_SUBSCRIBERS || !slot_counts(&pub->slots[slot]))
		return;
	s = &pub->slots[slot];
	m = slot_mirror(pub, slot);
	/* Report the loss from its latest valid ack, not the one cached at the
	 * last refresh (heartbeat and control-plane evictions come unannounced). */
	if (s->ack_page) {
		uint64_t ack = rc_load_acquire(&s->ack_page->ack); /* [P7] */

		if (ack >= s->acked && ack <= pub->head)
			s->acked = ack;
	}
	s->state = RC_SLOT_EVICTED;
	pub->counted &= ~(1ULL << slot);
	pub->changed |= 1ULL << slot;
	s->last_eviction.count++;
	s->last_eviction.reason = reason;
	s->last_eviction.lost_from = s->acked;
	s->last_eviction.lost_to = pub->tail;
	s->last_eviction.lost_messages = (uint32_t)min_u64(messages_since(pub, s->acked), UINT32_MAX);
	rc_store_relaxed(&m->evict_reason, reason);
	rc_store_relaxed(&m->lost_from, s->acked);
	rc_store_relaxed(&m->lost_to, pub->tail);
	rc_store_relaxed(&m->lost_messages, s->last_eviction.lost_messages);
	rc_store_relaxed(lost_to_seq(pub, slot), rc_pub_next_whole_seq(pub));
	rc_store_relaxed(&m->evictions, rc_load_relaxed(&m->evictions) + 1);
	rc_store_release(&m->state, (uint32_t)RC_SLOT_EVICTED); /* [P4] */
	ring_doorbell(pub->ring_doorbell, pub->ring_doorbell_ctx, s->doorbell_fd); /* a sleeping subscriber must see it */
	pub->limit = 0;
}

/* ACTIVE <-> LAGGING with hysteresis: LAGGING once the lag exceeds half the
 * lag bound, ACTIVE again only once it is down to a quarter, so a healthy
 * subscriber whose lag hovers around one threshold does not flap (it did:
 * 22-142 state events per 100 k messages on a 64 KiB ring). */
static bool is_lagging(const struct rc_publisher *pub, const struct rc_pub_slot *s, uint64_t lag)
{
	return lag > (s->state == RC_SLOT_LAGGING ? pub->lag_bound / 4 : pub->lag_bound / 2);
}

/* ACTIVE <-> LAGGING: informational (both count), mirrored for stat tools
 * and the subscriber itself. */
static void set_lagging(struct rc_publisher *pub, uint32_t slot, bool lagging)
{
	struct rc_pub_slot *s = &pub->slots[slot];
	uint32_t want = lagging ? RC_SLOT_LAGGING : RC_SLOT_ACTIVE;

	if (s->state == want)
		return;
	s->state = want;
	pub->changed |= 1ULL << slot;
	rc_store_release(&slot_mirror(pub, slot)->state, want); /* [P4] */
}

uint64_t rc_min_max_lag(uint32_t max_payload)
{
	/* Two of the largest records, so one always fits behind a pad. */
	return 2 * (uint64_t)align_record((uint64_t)max_payload + RC_RECORD_ALIGN);
}

int rc_pub_set_max_lag(struct rc_publisher *pub, uint64_t max_lag)
{
	if (max_lag == 0) {
		pub->lag_bound = pub->capacity;
		pub->evict_laggards = pub->policy == RC_POLICY_DROP;
		return RC_OK;
	}
	if (max_lag > pub->capacity || max_lag < rc_min_max_lag(pub->max_payload))
		return RC_EINVAL;
	pub->lag_bound = max_lag;
	pub->evict_laggards = true;
	pub->limit = 0;
	return RC_OK;
}

uint64_t rc_pub_take_changes(struct rc_publisher *pub)
{
	uint64_t changed = pub->changed;

	pub->changed = 0;
	return changed;
}

int rc_pub_check_heartbeats(struct rc_publisher *pub, uint64_t now_ms, uint64_t timeout_ms)
{
	int evicted = 0;

	for_each_slot(i, pub->counted) {
		struct rc_pub_slot *s = &pub->slots[i];
		uint64_t beat;

		beat = rc_load_relaxed(&s->ack_page->heartbeat);
		if (beat != s->heartbeat || s->heartbeat_changed_ms == 0) {
			s->heartbeat = beat;
			s->heartbeat_changed_ms = now_ms;
		} else if (now_ms - s->heartbeat_changed_ms >= timeout_ms) {
			rc_pub_evict(pub, (uint32_t)i, RC_EVICT_DEAD);
			evicted++;
		}
	}
	return evicted;
}

uint64_t rc_pub_refresh(struct rc_publisher *pub)
{
	uint64_t slowest = UINT64_MAX;

	for_each_slot(i, pub->counted) {
		struct rc_pub_slot *s = &pub->slots[i];
		uint64_t ack;

		/* [P7] acquire: the subscriber finished reading below ack before
		 * it stored it; pairs with [S2]. Hostile input: validate. */
		ack = rc_load_acquire(&s->ack_page->ack);
		if (ack < s->acked || ack > pub->head) {
			rc_pub_evict(pub, (uint32_t)i, RC_EVICT_PROTOCOL);
			continue;
		}
		if (ack != s->acked) {
			s->acked = ack;
			rc_store_relaxed(&slot_mirror(pub, (uint32_t)i)->ack, ack);
		}
		set_lagging(pub, (uint32_t)i, is_lagging(pub, s, pub->head - ack));
		if (ack < slowest)
			slowest = ack;
	}
	pub->limit = slowest == UINT64_MAX ? UINT64_MAX : slowest + pub->lag_bound;
	return pub->limit == UINT64_MAX ? UINT64_MAX : pub->limit - pub->tail;
}

/* Bytes the next record of `payload` bytes needs at the current tail,
 * including the pad that moves it to the start of the data area. */
static uint64_t record_need(const struct rc_publisher *pub, uint64_t tail, uint64_t payload)
{
	uint64_t rec = align_record(payload);
	uint64_t to_end = pub->capacity - (tail & pub->mask);

	return rec > to_end ? to_end + rec : rec;
}

/* Message bytes the record written at `offset` of a `len`-byte message
 * carries; *lead says whether it begins with a struct rc_first_fragment
 * (the first record of a message that needs more than one). */
static uint64_t fragment_chunk(const struct rc_publisher *pub, uint64_t len, uint64_t offset, uint32_t *lead)
{
	*lead = offset == 0 && len > pub->max_payload ? RC_FIRST_FRAGMENT_SIZE : 0;
	return min_u64(len - offset, min_u64(pub->max_payload, RC_FRAGMENT_MAX) - *lead);
}

uint64_t rc_pub_message_span(const struct rc_publisher *pub, uint64_t len)
{
	uint64_t tail = pub->tail, span = 0, offset = 0;

	do {
		uint32_t lead;
		uint64_t chunk = fragment_chunk(pub, len, offset, &lead);
		uint64_t need = record_need(pub, tail, lead + chunk);

		tail += need;
		span += need;
		offset += chunk;
	} while (offset < len);
	return span;
}

/* Evicts whoever would lag more than the bound once the publisher wrote up
 * to `end`. Drop policy: the bound is the ring, so they would be overwritten. */
static int evict_laggards(struct rc_publisher *pub, uint64_t end)
{
	int evicted = 0;

	for_each_slot(i, pub->counted) {
		struct rc_pub_slot *s = &pub->slots[i];

		if (s->acked + pub->lag_bound < end) {
			rc_pub_evict(pub, (uint32_t)i, RC_EVICT_SLOW);
			evicted++;
		}
	}
	rc_pub_refresh(pub);
	return evicted;
}

int rc_pub_evict_blocking(struct rc_publisher *pub, uint64_t payload)
{
	uint64_t end = pub->tail + record_need(pub, pub->tail, min_u64(payload, pub->max_payload));

	rc_pub_refresh(pub);
	return end > pub->limit ? evict_laggards(pub, end) : 0;
}

/* Makes room for `need` bytes at tail and announces the write. */
static bool reserve(struct rc_publisher *pub, uint64_t need)
{
	uint64_t end = pub->tail + need;
	uint64_t intent;

	if (end > pub->limit) {
		rc_pub_refresh(pub);
		if (end > pub->limit) {
			if (!pub->evict_laggards)
				return false;
			evict_laggards(pub, end);
		}
	}
	intent = rc_load_relaxed(&pub->desc->tail_intent);
	if (end > intent) {
		/* Raise the intent ahead of need so the fence is paid once per
		 * many records, never past what flow control allows. */
		intent = min_u64(pub->limit, end + pub->capacity / 8);
		if (intent < end)
			intent = end;
		rc_store_relaxed(&pub->desc->tail_intent, intent);
		/* [P1] intent before the bytes it covers; pairs with [S3]. */
		rc_fence_release();
	}
	return true;
}

static void write_header(uint8_t *at, uint32_t length, uint16_t type, uint16_t flags, uint64_t seq)
{
	struct rc_record_header h = { .length = length, .type = type, .flags = flags, .seq = seq };

	memcpy(at, &h, sizeof(h));
}

/* Pads to the end of the data area if a record of `payload` does not fit. */
static void pad_if_needed(struct rc_publisher *pub, uint64_t payload)
{
	uint64_t off = pub->tail & pub->mask;
	uint64_t to_end = pub->capacity - off;

	if (align_record(payload) > to_end) {
		write_header(pub->data + off, (uint32_t)(to_end - RC_RECORD_HEADER_SIZE), RC_RECORD_PAD, 0, 0);
		pub->tail += to_end;
	}
}

static void publish_head(struct rc_publisher *pub);

struct room_wanted {
	struct rc_publisher *pub;
	uint64_t need;
};

static bool room_ready(void *ctx)
{
	struct room_wanted *w = ctx;

	/* [P7] inside: acquire of each ack, validated as ever. */
	return rc_pub_refresh(w->pub) >= w->need;
}

/* rc_pub_write_part, out of room: commits what is written, then spins up to
 * room_spin_ns for the subscribers' acks to make `need` bytes of room. Only
 * while the slowest subscriber has something unread, which it is copying
 * out: with nothing to read no ack will come, and the publisher sleeps at
 * once as before. True: room now. */
static bool spin_for_room(struct rc_publisher *pub, uint64_t need)
{
	struct room_wanted wanted = { .pub = pub, .need = need };

	if (pub->room_spin_ns == 0)
		return false;
	rc_pub_commit(pub);
	/* reserve just refreshed: limit is the slowest ack plus lag_bound. */
	if (pub->limit == UINT64_MAX || pub->limit - pub->lag_bound >= pub->head)
		return false;
	return spin_until(&pub->room_spin, pub->room_spin_ns, room_ready, &wanted);
}

/* rc_pub_write and rc_pub_write_part: `commit_each` publishes each fragment
 * as soon as it is written, and spins for room mid-message (spin_for_room)
 * before giving up with RC_EAGAIN. */
static int write_message(struct rc_publisher *pub, const void *data, uint64_t len, uint64_t *offset,
			 bool commit_each)
{
	const uint8_t *src = data;

	if (pub->claim_position != RC_NO_CLAIM || pub->closed)
		return RC_ESTATE;
	/* A message begun must be finished before another starts, or readers
	 * would see a FIRST fragment inside it. */
	if ((*offset == 0) == pub->in_message)
		return RC_ESTATE;
	if (len > pub->max_message)
		return RC_ETOOBIG;
	do {
		uint32_t lead;
		uint64_t chunk = fragment_chunk(pub, len, *offset, &lead);
		uint16_t flags = 0;
		uint64_t off;
		uint8_t *payload;

		if (!reserve(pub, record_need(pub, pub->tail, lead + chunk))) {
			if (!commit_each || !spin_for_room(pub, record_need(pub, pub->tail, lead + chunk)))
				return RC_EAGAIN;
			continue;
		}
		pad_if_needed(pub, lead + chunk);
		if (*offset == 0)
			flags |= RC_FRAG_FIRST;
		if (*offset + chunk == len)
			flags |= RC_FRAG_LAST;
		off = pub->tail & pub->mask;
		write_header(pub->data + off, (uint32_t)(lead + chunk), RC_RECORD_DATA, flags, pub->next_seq);
		payload = pub->data + off + RC_RECORD_HEADER_SIZE;
		if (lead) {
			struct rc_first_fragment first = { .message_length = len, .reserved = 0 };

			memcpy(payload, &first, sizeof(first));
			payload += sizeof(first);
		}
		if (chunk)
			copy_payload(payload, src + *offset, chunk);
		pub->tail += align_record(lead + chunk);
		*offset += chunk;
		pub->in_message = true;
		/* Head moves for a reader that is awake (copying the last
		 * fragment, or spinning for this one); sleepers are rung once,
		 * when this call returns or spins for room (rc_pub_commit, owed
		 * till then): one wake per call, as before fragments were
		 * committed one by one, not one per fragment. */
		if (commit_each && *offset < len) {
			publish_head(pub);
			pub->ring_owed = true;
		}
	} while (*offset < len);
	pub->in_message = false;
	pub->next_seq++;
	pub->messages++;
	return RC_OK;
}

int rc_pub_write(struct rc_publisher *pub, const void *data, uint64_t len, uint64_t *offset)
{
	return write_message(pub, data, len, offset, false);
}

int rc_pub_write_part(struct rc_publisher *pub, const void *data, uint64_t len, uint64_t *offset)
{
	int r = write_message(pub, data, len, offset, true);

	rc_pub_commit(pub);
	return r;
}

/* Reserves room for one whole record of `payload` bytes at tail (padding to
 * the start of the data area first if it does not fit before the end) and
 * writes its header: FIRST|LAST, the next seq. Returns where its payload
 * goes, or NULL when there is no room now (tail unmoved but for the pad). */
static uint8_t *begin_record(struct rc_publisher *pub, uint32_t payload)
{
	uint64_t off;

	if (!reserve(pub, record_need(pub, pub->tail, payload)))
		return NULL;
	pad_if_needed(pub, payload);
	off = pub->tail & pub->mask;
	write_header(pub->data + off, payload, RC_RECORD_DATA, RC_FRAG_FIRST | RC_FRAG_LAST, pub->next_seq);
	return pub->data + off + RC_RECORD_HEADER_SIZE;
}

/* begin_record, then counts the record as written (tail, seq, messages): its
 * payload must be in place before the next commit. */
static uint8_t *take_record(struct rc_publisher *pub, uint32_t payload)
{
	uint8_t *at = begin_record(pub, payload);

	if (!at)
		return NULL;
	pub->tail += align_record(payload);
	pub->next_seq++;
	pub->messages++;
	return at;
}

int rc_pub_offer(struct rc_publisher *pub, const void *data, uint64_t len)
{
	uint64_t offset = 0;
	uint64_t span;
	uint8_t *payload;

	if (pub->claim_position != RC_NO_CLAIM || pub->in_message || pub->closed)
		return RC_ESTATE;
	if (len > pub->max_message)
		return RC_ETOOBIG;
	if (len <= pub->max_payload) {
		/* One record: what rc_pub_write's loop does once, with one
		 * reserve instead of a span walk and a reserve per call. Most
		 * messages of a batch come this way (about 110 of the ~370
		 * instructions rc_pub_offer took per 1 KiB message). A record
		 * always fits the lag bound (rc_min_max_lag). */
		payload = take_record(pub, (uint32_t)len);
		if (!payload)
			return RC_EAGAIN;
		if (len)
			copy_payload(payload, data, len);
		return RC_OK;
	}
	span = rc_pub_message_span(pub, len);
	if (span > pub->lag_bound)
		return RC_ETOOBIG;
	/* Room for every fragment at once, so rc_pub_write cannot stop half way. */
	if (!reserve(pub, span))
		return RC_EAGAIN;
	return rc_pub_write(pub, data, len, &offset);
}

/* Moves head to tail: what a reader may read. No doorbell. */
static void publish_head(struct rc_publisher *pub)
{
	/* [P2] records before head; pairs with [S1]. */
	rc_store_release(&pub->desc->head, pub->tail);
	rc_store_relaxed(&pub->desc->messages, pub->messages);
	pub->head = pub->tail;
	pub->head_stores++;
}

void rc_pub_commit(struct rc_publisher *pub)
{
	if (pub->tail == pub->head && !pub->ring_owed)
		return;
	if (pub->tail != pub->head)
		publish_head(pub);
	pub->ring_owed = false;
	/* [P3] head store before reading sleep announcements; pairs with [S5]. */
	rc_fence_full();
	for_each_slot(i, pub->counted) {
		struct rc_pub_slot *s = &pub->slots[i];
		uint32_t seq;

		if (!rc_load_relaxed(&s->ack_page->sleeping))
			continue;
		seq = rc_load_relaxed(&s->ack_page->sleep_seq);
		if (seq == s->last_rung_sleep_seq)
			continue;
		s->last_rung_sleep_seq = seq;
		ring_doorbell(pub->ring_doorbell, pub->ring_doorbell_ctx, s->doorbell_fd);
		pub->doorbells_rung++;
	}
}

/* Why one record of `len` payload bytes cannot begin now, whatever the
 * room: RC_ESTATE (a claim or a fragmented message open, or closed),
 * RC_ETOOBIG (more than a record holds); else RC_OK. */
static int record_refusal(const struct rc_publisher *pub, uint32_t len)
{
	if (pub->claim_position != RC_NO_CLAIM || pub->in_message || pub->closed)
		return RC_ESTATE;
	return len > pub->max_payload ? RC_ETOOBIG : RC_OK;
}

uint8_t *rc_pub_reserve(struct rc_publisher *pub, uint32_t len, int *status)
{
	uint8_t *payload;

	*status = record_refusal(pub, len);
	if (*status != RC_OK)
		return NULL;
	payload = take_record(pub, len);
	if (!payload)
		*status = RC_EAGAIN;
	return payload;
}

uint8_t *rc_pub_claim(struct rc_publisher *pub, uint32_t len, int *status)
{
	uint8_t *payload;

	*status = record_refusal(pub, len);
	if (*status != RC_OK)
		return NULL;
	payload = begin_record(pub, len);
	if (!payload) {
		*status = RC_EAGAIN;
		return NULL;
	}
	pub->claim_position = pub->tail;
	return payload;
}

int rc_pub_claim_commit(struct rc_publisher *pub, uint32_t len)
{
	struct rc_record_header *h;

	if (pub->claim_position == RC_NO_CLAIM || pub->closed)
		return RC_ESTATE;
	h = (struct rc_record_header *)(pub->data + (pub->claim_position & pub->mask));
	if (len > h->length)
		return RC_EINVAL;
	h->length = len;
	pub->tail = pub->claim_position + align_record(len);
	pub->claim_position = RC_NO_CLAIM;
	pub->next_seq++;
	pub->messages++;
	rc_pub_commit(pub);
	return RC_OK;
}

int rc_pub_claim_abort(struct rc_publisher *pub)
{
	if (pub->claim_position == RC_NO_CLAIM)
		return RC_ESTATE;
	pub->claim_position = RC_NO_CLAIM;
	return RC_OK;
}

bool rc_pub_prepare_wait(struct rc_publisher *pub, uint64_t payload)
{
	uint64_t need = record_need(pub, pub->tail, min_u64(payload, pub->max_payload));

	if (++pub->wait_id == 0)
		pub->wait_id = 1;
	rc_store_relaxed(&pub->desc->publisher_waiting, pub->wait_id);
	/* [P5] announce before re-reading acks; pairs with [S2b]. */
	rc_fence_full();
	rc_pub_refresh(pub);
	if (pub->tail + need <= pub->limit) {
		rc_pub_end_wait(pub);
		return false;
	}
	return true;
}

void rc_pub_end_wait(struct rc_publisher *pub)
{
	rc_store_relaxed(&pub->desc->publisher_waiting, 0u);
}

/* The end of the stream, orderly (CLOSED) or cut short (ABORTED). */
static void finish(struct rc_publisher *pub, uint32_t final_state)
{
	/* An open claim is dropped: head is final from here on ([P6]). */
	pub->claim_position = RC_NO_CLAIM;
	rc_pub_commit(pub);
	pub->closed = true;
	/* [P6] final head before CLOSED/ABORTED; pairs with [S6]. */
	rc_store_release(&pub->desc->publisher_state, final_state);
	rc_fence_full();
	for_each_slot(i, pub->counted)
		ring_doorbell(pub->ring_doorbell, pub->ring_doorbell_ctx, pub->slots[i].doorbell_fd);
}

void rc_pub_close(struct rc_publisher *pub)
{
	if (!pub->closed)
		finish(pub, RC_PUB_CLOSED);
}

void rc_pub_abort(struct rc_publisher *pub)
{
	if (!pub->closed)
		finish(pub, RC_PUB_ABORTED);
}

/* ======================================================================== */
/* subscriber                                                                */

uint64_t rc_ring_size_in(const void *ring_mem, uint64_t mapped)
{
	const struct rc_ring_desc *desc = ring_mem;
	uint64_t capacity;

	if (!ring_mem || mapped < RC_DESC_SIZE + RC_MIN_CAPACITY)
		return 0;
	capacity = desc->capacity; /* const once formatted; rc_sub_init reads it again */
	if (!is_power_of_two(capacity) || capacity < RC_MIN_CAPACITY || capacity > RC_MAX_CAPACITY ||
	    rc_ring_size(capacity) > mapped)
		return 0;
	return rc_ring_size(capacity);
}

int rc_sub_init(struct rc_subscriber *sub, const void *ring_mem, uint64_t ring_size,
		void *ack_mem, uint64_t ack_size, int publisher_doorbell_fd)
{
	const struct rc_ring_desc *desc = ring_mem;
	struct rc_ack_page *ack = ack_mem;
	uint64_t capacity, head;

	memset(sub, 0, sizeof(*sub));
	if (!ring_mem || !ack_mem || ring_size < RC_DESC_SIZE + RC_MIN_CAPACITY || ack_size < RC_ACK_PAGE_SIZE)
		return RC_EINVAL;
	/* The descriptor's constants are hostile input too: check each against
	 * what we mapped before any pointer is derived from it. */
	capacity = desc->capacity;
	if (desc->magic != RC_RING_MAGIC || desc->layout_version != RC_LAYOUT_VERSION ||
	    desc->desc_size != RC_DESC_SIZE || desc->max_subscribers != RC_MAX_SUBSCRIBERS ||
	    desc->slot_size != RC_SLOT_SIZE || desc->record_align != RC_RECORD_ALIGN ||
	    !is_power_of_two(capacity) || capacity < RC_MIN_CAPACITY || capacity > RC_MAX_CAPACITY ||
	    rc_ring_size(capacity) != ring_size || align_record(desc->max_payload) > capacity / 2 ||
	    desc->max_payload < RC_MIN_MAX_PAYLOAD || desc->max_message < desc->max_payload ||
	    (desc->features & ~RC_FEATURES_KNOWN) ||
	    ((desc->features & RC_FEATURE_ENVELOPE) && desc->max_payload < RC_ENVELOPE_SIZE))
		return RC_EINVAL;
	if (ack->magic != RC_ACK_MAGIC || ack->bus_id != desc->bus_id ||
	    ack->layout_version != RC_LAYOUT_VERSION || ack->slot >= RC_MAX_SUBSCRIBERS)
		return RC_EINVAL;

	sub->ring = ring_mem;
	sub->desc = desc;
	sub->data = sub->ring + RC_DESC_SIZE;
	sub->ack_page = ack;
	sub->capacity = capacity;
	sub->mask = capacity - 1;
	sub->max_payload = desc->max_payload;
	sub->max_message = desc->max_message;
	sub->envelope_bytes = sub->strip_bytes =
		(desc->features & RC_FEATURE_ENVELOPE) ? RC_ENVELOPE_SIZE : 0;
	sub->slot = ack->slot;
	sub->generation = ack->generation;
	sub->slot_mirror = rc_ring_slot_const(sub->ring, sub->slot);
	sub->lost_to_seq_entry = rc_ring_lost_to_seq_const(sub->ring, sub->slot);
	sub->lost_to_seq = RC_SEQ_UNKNOWN;
	sub->publisher_doorbell_fd = publisher_doorbell_fd;
	sub->pos = rc_load_relaxed(&ack->ack);
	head = rc_load_acquire(&desc->head);
	if (sub->pos > head || head - sub->pos > capacity)
		return RC_EINVAL;
	sub->acked = sub->pending = sub->pos;
	sub->frag.joined_mid = true;
	return RC_OK;
}

void rc_sub_keep_envelopes(struct rc_subscriber *sub)
{
	sub->strip_bytes = 0;
}

void rc_sub_set_max_message(struct rc_subscriber *sub, uint64_t max_message)
{
	if (max_message && max_message < sub->desc->max_message)
		sub->max_message = max_message;
	else
		sub->max_message = sub->desc->max_message;
}

void rc_sub_hand_out_whole_messages(struct rc_subscriber *sub)
{
	sub->whole_messages = true;
}

static inline bool fragmented_first(const struct rc_record_header *h)
{
	return (h->flags & (RC_FRAG_FIRST | RC_FRAG_LAST)) == RC_FRAG_FIRST;
}

/* Payload bytes of this record hidden from the caller: a fragmented
 * message's struct rc_first_fragment, then the message's envelope. */
static inline uint32_t hidden_lead(const struct rc_subscriber *sub, const struct rc_record_header *h)
{
	if (!(h->flags & RC_FRAG_FIRST))
		return 0;
	return sub->strip_bytes + (fragmented_first(h) ? RC_FIRST_FRAGMENT_SIZE : 0);
}

/* Our slot says whether we still count. */
static int check_slot(struct rc_subscriber *sub)
{
	/* [S4] acquire: the lost range was stored before state; pairs with [P4]. */
	uint32_t state = rc_load_acquire(&sub->slot_mirror->state);

	if (rc_load_relaxed(&sub->slot_mirror->generation) != sub->generation ||
	    (state != RC_SLOT_ACTIVE && state != RC_SLOT_LAGGING)) {
		sub->lost_from = rc_load_relaxed(&sub->slot_mirror->lost_from);
		sub->lost_to = rc_load_relaxed(&sub->slot_mirror->lost_to);
		/* Only our own eviction's: a freed or reused slot's is someone else's. */
		sub->lost_to_seq = RC_SEQ_UNKNOWN;
		if (state == RC_SLOT_EVICTED &&
		    rc_load_relaxed(&sub->slot_mirror->generation) == sub->generation)
			sub->lost_to_seq = rc_load_relaxed(sub->lost_to_seq_entry);
		if (sub->lost_from < sub->pos)
			sub->lost_from = sub->pos;
		/* A detached slot keeps the range of its last attach (0, 0), and
		 * the mirror is the publisher's word anyway: never hand out a
		 * range that ends before it starts (lost_to - lost_from wraps). */
		if (sub->lost_to < sub->lost_from)
			sub->lost_to = sub->lost_from;
		return RC_EEVICTED;
	}
	return RC_OK;
}

/* [S3] Were bytes from `from` on overwritten by the time of this call? The
 * caller's reads come before the acquire fence; pairs with [P1]. */
static bool lapped_since(struct rc_subscriber *sub, uint64_t from)
{
	uint64_t intent;

	rc_fence_acquire();
	intent = rc_load_relaxed(&sub->desc->tail_intent);
	/* Not `intent > from + capacity`: positions are the publisher's word,
	 * and near 2^64 that sum wraps, reporting a lap (with a lost range
	 * ending before it starts) where there is none. Found by
	 * native/fuzz/fuzz_record_reader. */
	if (intent > from && intent - from > sub->capacity) {
		sub->lost_from = from;
		sub->lost_to = intent - sub->capacity;
		sub->lost_to_seq = RC_SEQ_UNKNOWN; /* overwritten: no seq to read */
		return true;
	}
	return false;
}

/* A header that breaks the rules is corruption, unless it was torn by an
 * overwrite in progress (then we were lapped). */
static int bad_record(struct rc_subscriber *sub)
{
	return lapped_since(sub, sub->pos) ? RC_ELAPPED : RC_ECORRUPT;
}

/* Reads and validates the record at `at` (below `head`). Returns its size in
 * the ring, 0 for a record to skip silently with *skip set, or an error. */
static int64_t next_record(struct rc_subscriber *sub, uint64_t at, uint64_t head,
			   struct rc_record_header *h, bool *deliver)
{
	uint64_t off = at & sub->mask;
	uint64_t span;

	*deliver = false;
	if (head - at < RC_RECORD_HEADER_SIZE || (off & (RC_RECORD_ALIGN - 1)))
		return bad_record(sub);
	memcpy(h, sub->data + off, sizeof(*h));
	if (h->type == RC_RECORD_PAD) {
		span = sub->capacity - off;
		if (h->length != span - RC_RECORD_HEADER_SIZE || head - at < span)
			return bad_record(sub);
		return (int64_t)span;
	}
	if (h->type != RC_RECORD_DATA || h->length > sub->max_payload || (h->flags & ~3u))
		return bad_record(sub);
	span = align_record(h->length);
	if (off + span > sub->capacity || head - at < span)
		return bad_record(sub);

	if (h->flags & RC_FRAG_FIRST) {
		if (sub->frag.in_message || h->length < sub->envelope_bytes)
			return bad_record(sub);
		if (fragmented_first(h)) {
			/* Its declared length bounds what the rest may add up to, and
			 * what a reader allocates: check it before anyone does. */
			struct rc_first_fragment first;
			uint64_t carried = h->length - RC_FIRST_FRAGMENT_SIZE;

			if (h->length < RC_FIRST_FRAGMENT_SIZE + sub->envelope_bytes)
				return bad_record(sub);
			memcpy(&first, sub->data + off + RC_RECORD_HEADER_SIZE, sizeof(first));
			if (first.reserved || first.message_length <= carried ||
			    first.message_length > sub->max_message)
				return bad_record(sub);
			sub->frag.message_left = first.message_length - carried;
			sub->frag.message_length = first.message_length - sub->strip_bytes;
		} else {
			sub->frag.message_left = 0;
			sub->frag.message_length = h->length - sub->strip_bytes;
		}
		sub->frag.joined_mid = false;
	} else if (!sub->frag.in_message) {
		/* The tail of a message that began before we joined. */
		if (sub->frag.joined_mid)
			return (int64_t)span;
		return bad_record(sub);
	} else if (h->seq != sub->frag.message_seq) {
		return bad_record(sub);
	} else if ((h->flags & RC_FRAG_LAST) ? h->length != sub->frag.message_left
					    : h->length == 0 || h->length >= sub->frag.message_left) {
		/* A message's fragments add up to exactly its declared length,
		 * and each one before the last brings it closer: a publisher
		 * cannot make a reader assemble more than it declared. */
		return bad_record(sub);
	} else {
		sub->frag.message_left -= h->length;
	}
	sub->frag.in_message = !(h->flags & RC_FRAG_LAST);
	sub->frag.message_seq = h->seq;
	*deliver = true;
	return (int64_t)span;
}

static bool head_moved(void *ctx)
{
	struct rc_subscriber *sub = ctx;

	/* Relaxed: begin_read's acquire ([S1]) follows a change. */
	return rc_load_relaxed(&sub->desc->head) != sub->pos;
}

/* Everything committed is read and acknowledged, and the publisher is known
 * to be writing: mid-message (rc_sub_read_message), or just after the last
 * fragment of a fragmented message (begin_read, once: a publisher streaming
 * large messages begins the next within about one fragment's copy). Spins up
 * to fragment_spin_ns for head to move. True: it moved; read on. */
static bool spin_for_fragment(struct rc_subscriber *sub)
{
	return spin_until(&sub->fragment_spin, sub->fragment_spin_ns, head_moved, sub);
}

/* Common start of poll and read: still counted, head sane, not lapped. */
static int begin_read(struct rc_subscriber *sub, uint64_t *head)
{
	bool just_after_message = sub->spin_after_message;
	int r = check_slot(sub);

	sub->spin_after_message = false; /* only the read right after it */
	if (r < 0)
		return r;
	/* [S1] acquire: records below head are complete; pairs with [P2]. */
	*head = rc_load_acquire(&sub->desc->head);
	if (*head < sub->pos || *head - sub->pos > sub->capacity)
		return bad_record(sub);
	if (*head == sub->pos) {
		/* [S6] CLOSED/ABORTED is stored after the final head; pairs with [P6]. */
		uint32_t state = rc_load_acquire(&sub->desc->publisher_state);

		if ((state == RC_PUB_CLOSED || state == RC_PUB_ABORTED) &&
		    rc_load_acquire(&sub->desc->head) == sub->pos) {
			/* An eviction stored before CLOSED ([P4] precedes [P6]) must
			 * still be reported, even with nothing left to read (found
			 * by model/ringcast.pml). */
			r = check_slot(sub);
			return r < 0 ? r : state == RC_PUB_CLOSED ? RC_ECLOSED : RC_EABORTED;
		}
		/* Mid-message, or right after one: worth a bounded spin. */
		if (!(sub->frag.in_message || just_after_message) || !spin_for_fragment(sub))
			return 0;
		*head = rc_load_acquire(&sub->desc->head); /* [S1] */
		if (*head < sub->pos || *head - sub->pos > sub->capacity)
			return bad_record(sub);
	}
	if (lapped_since(sub, sub->pos))
		return RC_ELAPPED;
	return 1;
}

static void store_ack(struct rc_subscriber *sub, uint64_t position);

/* Whole-message reads, at the first fragment `h` (at position `at`) of a
 * fragmented message: the fragment state goes back to what it was `before`
 * it, and the batch ends there. If nothing was handed out (`handed_out` 0,
 * only pads before it), the message is left for rc_sub_read_message with its
 * length and seq, which RC_EMESSAGE announces; else it is read next time. */
static int stop_before_message(struct rc_subscriber *sub, const struct rc_fragment_state *before,
			       const struct rc_record_header *h, uint64_t at, uint32_t handed_out)
{
	uint64_t length = sub->frag.message_length;

	sub->frag = *before;
	if (handed_out)
		return 0;
	/* The header (and the pads before it) must not have been torn. */
	if (lapped_since(sub, sub->pos))
		return RC_ELAPPED;
	if (at != sub->pos)
		store_ack(sub, at);
	sub->frag.message_length = length;
	sub->frag.message_seq = h->seq;
	return RC_EMESSAGE;
}

int rc_sub_poll(struct rc_subscriber *sub, struct rc_entry *entries, uint32_t max)
{
	uint64_t head, at;
	uint32_t n = 0;
	int r;

	if (sub->pending != sub->pos)
		return RC_ESTATE;
	r = begin_read(sub, &head);
	if (r <= 0)
		return r;
	sub->polled_from = sub->frag;
	for (at = sub->pos; at < head && n < max;) {
		struct rc_record_header h;
		bool deliver;
		struct rc_fragment_state before = sub->frag;
		int64_t span = next_record(sub, at, head, &h, &deliver);

		/* Hand out the good records before a bad one; the next call
		 * meets the bad one first and reports it. */
		if (span < 0) {
			if (n == 0)
				return (int)span;
			break;
		}
		if (deliver && sub->whole_messages && fragmented_first(&h)) {
			r = stop_before_message(sub, &before, &h, at, n);
			if (n == 0)
				return r;
			break;
		}
		if (deliver) {
			uint32_t lead = hidden_lead(sub, &h);

			entries[n].offset = (at & sub->mask) + RC_RECORD_HEADER_SIZE + lead;
			entries[n].length = h.length - lead;
			entries[n].flags = h.flags;
			entries[n].reserved = 0;
			entries[n].seq = h.seq;
			n++;
		}
		at += (uint64_t)span;
	}
	/* The headers we just validated must not have been torn. */
	if (lapped_since(sub, sub->pos))
		return RC_ELAPPED;
	/* Only pads or the tail of a message from before we joined: nothing
	 * was handed out, so give the space back now. Left pending, a caller
	 * that (rightly) does not release after 0 would get RC_ESTATE forever
	 * and hold back a blocking publisher. */
	if (n == 0) {
		store_ack(sub, at);
		return 0;
	}
	sub->pending = at;
	return (int)n;
}

/* [S2] alone: the ack, its look for a waiting publisher owed (look_owed). */
static void store_ack_quietly(struct rc_subscriber *sub, uint64_t position)
{
	sub->pos = sub->pending = position;
	if (position == sub->acked)
		return;
	sub->acked = position;
	/* [S2] release: our reads below position are done; pairs with [P7]. */
	rc_store_release(&sub->ack_page->ack, position);
	sub->look_owed = true;
}

/* Rings a publisher that announced a wait for room since the last look. */
static void look_for_waiting_publisher(struct rc_subscriber *sub)
{
	uint32_t waiting;

	sub->look_owed = false;
	sub->looked_at = sub->acked;
	/* [S2b] ack before looking for a sleeping publisher; pairs with [P5]. */
	rc_fence_full();
	waiting = rc_load_relaxed(&sub->desc->publisher_waiting);
	if (waiting && waiting != sub->last_rung_wait_id) {
		sub->last_rung_wait_id = waiting;
		ring_doorbell(sub->ring_doorbell, sub->ring_doorbell_ctx, sub->publisher_doorbell_fd);
		sub->doorbells_rung++;
	}
}

static void store_ack(struct rc_subscriber *sub, uint64_t position)
{
	store_ack_quietly(sub, position);
	if (sub->look_owed)
		look_for_waiting_publisher(sub);
}

int rc_sub_release(struct rc_subscriber *sub)
{
	if (sub->pending == sub->pos)
		return RC_OK;
	if (lapped_since(sub, sub->pos)) {
		sub->pending = sub->pos;
		return RC_ELAPPED;
	}
	store_ack(sub, sub->pending);
	return RC_OK;
}

int rc_sub_release_partial(struct rc_subscriber *sub, uint32_t records)
{
	uint64_t end = sub->pending, at;
	uint32_t n = 0;

	if (sub->pending == sub->pos)
		return RC_OK;
	/* Walk the polled records again from the fragment state poll began
	 * with, so that state matches what is acknowledged. */
	sub->frag = sub->polled_from;
	for (at = sub->pos; at < end && n < records;) {
		struct rc_record_header h;
		bool deliver;
		int64_t span = next_record(sub, at, end, &h, &deliver);

		if (span < 0) {
			sub->pending = sub->pos;
			return (int)span;
		}
		n += deliver;
		at += (uint64_t)span;
	}
	if (lapped_since(sub, sub->pos)) {
		sub->pending = sub->pos;
		return RC_ELAPPED;
	}
	store_ack(sub, at);
	return RC_OK;
}

int rc_sub_read(struct rc_subscriber *sub, uint8_t *out, uint64_t out_cap,
		struct rc_entry *entries, uint32_t max)
{
	uint64_t head, at, used = 0;
	uint32_t n = 0;
	int r;

	if (sub->pending != sub->pos)
		return RC_ESTATE;
	r = begin_read(sub, &head);
	if (r <= 0)
		return r;
	for (at = sub->pos; at < head && n < max;) {
		struct rc_record_header h;
		bool deliver;
		struct rc_fragment_state before = sub->frag;
		int64_t span = next_record(sub, at, head, &h, &deliver);

		if (span < 0) { /* as in rc_sub_poll: the good ones first */
			if (n == 0)
				return (int)span;
			break;
		}
		if (deliver && sub->whole_messages && fragmented_first(&h)) {
			r = stop_before_message(sub, &before, &h, at, n);
			if (n == 0)
				return r;
			break;
		}
		if (deliver) {
			uint32_t lead = hidden_lead(sub, &h);
			uint32_t length = h.length - lead;

			if (used + length > out_cap) {
				/* Undo the fragment bookkeeping: it is read next time. */
				sub->frag = before;
				if (n == 0)
					return RC_EINVAL;
				break;
			}
			/* empty messages may come with out == NULL, out_cap == 0:
			 * memcpy(NULL, .., 0) is still undefined */
			if (length)
				copy_payload(out + used,
				             sub->data + (at & sub->mask) + RC_RECORD_HEADER_SIZE + lead, length);
			entries[n].offset = used;
			entries[n].length = length;
			entries[n].flags = h.flags;
			entries[n].reserved = 0;
			entries[n].seq = h.seq;
			used += length;
			n++;
		}
		at += (uint64_t)span;
	}
	/* Seqlock re-check: the copy is good only if nothing was overwritten. */
	if (lapped_since(sub, sub->pos))
		return RC_ELAPPED;
	store_ack(sub, at);
	return (int)n;
}

/* Copies with non-temporal stores (RC_COPY_STREAM): whole 64-byte lines go
 * to memory without a read for ownership of each. The head up to the first
 * 16-byte aligned destination byte and the tail go through memcpy. */
static void copy_streaming(uint8_t *to, const uint8_t *from, uint64_t n)
{
#if defined(__x86_64__) && defined(__SSE2__)
	uint64_t head = (16 - ((uintptr_t)to & 15)) & 15;
	uint64_t lines;

	if (n < 4096) {
		memcpy(to, from, n);
		return;
	}
	memcpy(to, from, head);
	to += head;
	from += head;
	n -= head;
	lines = copy_lines(to, from, n, true);
	to += lines;
	from += lines;
	n -= lines;
	/* Streaming stores are weakly ordered: make them globally visible
	 * before the ack says the copy is done and before the caller hands the
	 * buffer to another thread. */
	_mm_sfence();
	memcpy(to, from, n);
#else
	memcpy(to, from, n);
#endif
}

int rc_sub_read_message(struct rc_subscriber *sub, uint8_t *message, uint64_t length, uint64_t *filled)
{
	return rc_sub_read_message_flags(sub, message, length, filled, 0);
}

int rc_sub_read_message_flags(struct rc_subscriber *sub, uint8_t *message, uint64_t length, uint64_t *filled,
                              uint32_t copy_flags)
{
	uint64_t head, at;
	int r;

	if (sub->pending != sub->pos || *filled > length ||
	    (*filled > 0) != sub->frag.in_message)
		return RC_ESTATE;
	if (sub->look_owed)
		look_for_waiting_publisher(sub);
	r = begin_read(sub, &head); /* mid-message, it spins for the next fragment */
	if (r <= 0)
		return r;
	for (at = sub->pos;;) {
		struct rc_record_header h;
		bool deliver, starting;
		int64_t span;
		uint32_t lead;
		uint64_t part;
		const uint8_t *from;

		/* Everything committed is copied and acknowledged (pos == at). */
		if (at == head) {
			/* Before we may wait: the publisher may be waiting too. */
			if (sub->look_owed)
				look_for_waiting_publisher(sub);
			r = begin_read(sub, &head); /* spins for the next fragment */
			if (r <= 0)
				return r;
		}
		starting = !sub->frag.in_message;
		span = next_record(sub, at, head, &h, &deliver);
		/* Each fragment is acknowledged before the next is read, so
		 * nothing good precedes a bad record here. */
		if (span < 0)
			return (int)span;
		at += (uint64_t)span;
		if (!deliver) { /* a pad */
			if (lapped_since(sub, sub->pos))
				return RC_ELAPPED;
			store_ack(sub, at);
			continue;
		}
		lead = hidden_lead(sub, &h);
		part = h.length - lead;
		/* The buffer is as long as RC_EMESSAGE said; the ring may have
		 * said otherwise since (a hostile publisher rewrote the first
		 * fragment): never copy past it. */
		if ((starting && !fragmented_first(&h)) || part > length - *filled ||
		    ((h.flags & RC_FRAG_LAST) && *filled + part != length))
			return bad_record(sub);
		from = sub->data + ((at - (uint64_t)span) & sub->mask) + RC_RECORD_HEADER_SIZE + lead;
		if (copy_flags & RC_COPY_STREAM)
			copy_streaming(message + *filled, from, part);
		else
			copy_payload(message + *filled, from, part);
		/* Seqlock re-check, then give the fragment's space back at once:
		 * the publisher writes the next ones while we copy. A publisher
		 * waiting for that room is rung once a quarter of the ring was
		 * given back since the last look (what a wait for the largest
		 * record needs), at the message's end, and before we may wait:
		 * not once per fragment, which woke it for each 256 KiB. */
		if (lapped_since(sub, sub->pos))
			return RC_ELAPPED;
		*filled += part;
		store_ack_quietly(sub, at);
		if ((h.flags & RC_FRAG_LAST) || at - sub->looked_at >= sub->capacity / 4)
			look_for_waiting_publisher(sub);
		if (h.flags & RC_FRAG_LAST) {
			sub->spin_after_message = true;
			return 1;
		}
	}
}

uint64_t rc_sub_available(const struct rc_subscriber *sub)
{
	uint64_t head = rc_load_acquire(&sub->desc->head);

	return head > sub->pos ? head - sub->pos : 0;
}

void rc_sub_heartbeat(struct rc_subscriber *sub)
{
	rc_store_relaxed(&sub->ack_page->heartbeat, rc_load_relaxed(&sub->ack_page->heartbeat) + 1);
}

uint32_t rc_sub_slot_state(const struct rc_subscriber *sub)
{
	/* [S4] pairs with [P4]. */
	uint32_t state = rc_load_acquire(&sub->slot_mirror->state);

	if (rc_load_relaxed(&sub->slot_mirror->generation) != sub->generation)
		return RC_SLOT_EVICTED;
	return state;
}

bool rc_sub_prepare_wait(struct rc_subscriber *sub)
{
	uint32_t seq = rc_load_relaxed(&sub->ack_page->sleep_seq) + 1;

	rc_store_relaxed(&sub->ack_page->sleep_seq, seq);
	rc_store_relaxed(&sub->ack_page->sleeping, 1u);
	/* [S5] announce before re-reading head; pairs with [P3]. */
	rc_fence_full();
	if (rc_load_acquire(&sub->desc->head) != sub->pos ||
	    rc_load_acquire(&sub->desc->publisher_state) != RC_PUB_OPEN || check_slot(sub) < 0) {
		rc_sub_end_wait(sub);
		return false;
	}
	return true;
}

void rc_sub_end_wait(struct rc_subscriber *sub)
{
	rc_store_relaxed(&sub->ack_page->sleeping, 0u);
}
