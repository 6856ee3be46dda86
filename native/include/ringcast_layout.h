/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * ringcast shared-memory layout: the one source of truth.
 *
 * Included by the C core (native/src), the Node binding (which hands every
 * constant to TypeScript) and the kernel module (kmod/). Plain C, no libc
 * dependency beyond fixed-width integers, so it builds in the kernel too.
 *
 * Two kinds of shared object exist per bus:
 *
 *   ring      = descriptor (RC_DESC_SIZE bytes) + data area (capacity bytes,
 *               a power of two). Written ONLY by the publisher; every
 *               subscriber maps it read-only (memfd sealed against growth,
 *               shrinking and future writable mappings).
 *   ack page  = RC_ACK_PAGE_SIZE bytes per subscriber. Written ONLY by that
 *               subscriber; read by the publisher, which trusts nothing in it.
 *
 * Every field below states: writer -> readers, and how it is published.
 *   "const"    written once before the object is shared, never again.
 *   "release"  stored with release ordering (rc_store_release); readers load
 *              it with acquire ordering (rc_load_acquire).
 *   "relaxed"  plain atomic store; informational (stats), orders nothing.
 * The barrier pairings are listed in docs/memory-ordering.md. Fields that
 * only some region providers use (ivshmem line 3, the join answers, the
 * join line of the ack page), and why they stay here: docs/layout.md,
 * "Provider fields in the core layout".
 *
 * A "position" is a free-running 64-bit byte count since the bus began;
 * the offset of a position in the data area is (position & (capacity - 1)).
 */
#ifndef RINGCAST_LAYOUT_H
#define RINGCAST_LAYOUT_H

#ifdef __KERNEL__
#include <linux/stddef.h>
#include <linux/types.h>
typedef __u8 rc_u8;
typedef __u16 rc_u16;
typedef __u32 rc_u32;
typedef __u64 rc_u64;
#define RC_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#else
#include <stdint.h>
#include <stddef.h>
typedef uint8_t rc_u8;
typedef uint16_t rc_u16;
typedef uint32_t rc_u32;
typedef uint64_t rc_u64;
#ifdef __cplusplus
#define RC_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define RC_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
#endif

/* ---- identity and sizes ------------------------------------------------ */

#define RC_RING_MAGIC        0x54534143474e4952ULL /* "RINGCAST" little-endian */
#define RC_ACK_MAGIC         0x4b43414354534352ULL /* "RCSTCACK" little-endian */
#define RC_LAYOUT_VERSION    2u /* 2: max_message, struct rc_first_fragment */

#define RC_CACHE_LINE        64u
#define RC_PAGE_SIZE         4096u
#define RC_MAX_SUBSCRIBERS   64u   /* slots in the descriptor table        */
#define RC_SLOT_SIZE         64u   /* one cache line per subscriber slot   */
#define RC_SLOT_TABLE_OFFSET RC_PAGE_SIZE
#define RC_DESC_SIZE         (RC_SLOT_TABLE_OFFSET + RC_MAX_SUBSCRIBERS * RC_SLOT_SIZE)
#define RC_ACK_PAGE_SIZE     RC_PAGE_SIZE

#define RC_MIN_CAPACITY      (64u * 1024u)            /* 64 KiB   */
#define RC_MAX_CAPACITY      (1ULL << 30)             /* 1 GiB    */

/* Records are aligned to the header size, so the space left before the end
 * of the data area is always 0 or room for at least one header: a pad record
 * can always be written and a header never wraps. */
#define RC_RECORD_ALIGN      16u
#define RC_RECORD_HEADER_SIZE 16u

/* Smallest max_payload a ring may have: a first fragment must carry its
 * struct rc_first_fragment and some of the message. */
#define RC_MIN_MAX_PAYLOAD   64u
/* max_message of a ring whose publisher declares none: what a subscriber
 * allocates at most for one message unless told otherwise. */
#define RC_DEFAULT_MAX_MESSAGE (64ULL << 20)   /* 64 MiB */

/* ---- descriptor, page 0: written by the publisher only ----------------- */

enum rc_publisher_state {
	RC_PUB_GONE = 0,      /* the publisher's kernel side ended it: its
	                       * process died without an orderly close (Xen
	                       * unmap notification, kmod/ringcast_xengrant.c) */
	RC_PUB_OPEN = 1,      /* publishing                                     */
	RC_PUB_CLOSED = 2,    /* orderly close: head is final, drain then end   */
	RC_PUB_ABORTED = 3,   /* cut short: head is final but the stream is not
	                       * complete; drain, then end with an error        */
};

enum rc_policy {
	RC_POLICY_BLOCK = 1,  /* publisher waits for the slowest ACTIVE slot    */
	RC_POLICY_DROP = 2,   /* publisher never waits; laggards are evicted    */
};

enum rc_feature {
	/* Every message's payload starts with a struct rc_envelope: where it was
	 * first published and how many bridges carried it here. Set on buses a
	 * bridge republishes into; readers hand applications the payload after
	 * it. */
	RC_FEATURE_ENVELOPE = 1,
};
#define RC_FEATURES_KNOWN ((rc_u32)RC_FEATURE_ENVELOPE)

struct rc_ring_desc {
	/* line 0: identity. All const: written before the memfd is sealed. */
	rc_u64 magic;              /* 0x00 RC_RING_MAGIC                              */
	rc_u32 layout_version;     /* 0x08 RC_LAYOUT_VERSION                          */
	rc_u32 desc_size;          /* 0x0c RC_DESC_SIZE: data area starts here        */
	rc_u64 capacity;           /* 0x10 data area bytes, power of two              */
	rc_u32 max_subscribers;    /* 0x18 RC_MAX_SUBSCRIBERS                         */
	rc_u32 slot_size;          /* 0x1c RC_SLOT_SIZE                               */
	rc_u32 max_payload;        /* 0x20 largest payload of one record              */
	rc_u32 record_align;       /* 0x24 RC_RECORD_ALIGN                            */
	rc_u64 bus_id;             /* 0x28 random; ties ack pages to this ring        */
	rc_u32 policy;             /* 0x30 enum rc_policy                             */
	rc_u32 features;           /* 0x34 enum rc_feature bits; a reader refuses a
	                            *      ring with a bit it does not know          */
	rc_u64 max_message;        /* 0x38 largest message (payload bytes, envelope
	                            *      included) the publisher writes; a reader
	                            *      refuses a first fragment declaring more
	                            *      before it allocates anything            */

	/* line 1: the commit point, read by every subscriber on every poll.
	 * head: publisher -> subscribers, release (after the records it covers).
	 * tail_intent: publisher -> subscribers; raised, then a release fence,
	 *   BEFORE the publisher writes bytes up to it, so a reader that copied from
	 *   position p and then sees tail_intent - capacity > p knows it may have
	 *   copied overwritten bytes (seqlock re-check). */
	rc_u64 head;               /* 0x40 committed position                         */
	rc_u64 tail_intent;        /* 0x48 highest position the publisher may be writing */
	rc_u64 messages;           /* 0x50 relaxed: messages committed (stats)        */
	rc_u64 reserved2[5];       /* 0x58 zero                                       */

	/* line 2: publisher lifecycle and its sleep announcement. */
	rc_u32 publisher_state;    /* 0x80 enum rc_publisher_state, release           */
	rc_u32 publisher_waiting;  /* 0x84 publisher -> subscribers: non-zero while the
	                            *      publisher sleeps for room; set, then full
	                            *      fence, then re-check acks (pairs with the
	                            *      subscriber's ack store + fence + load here) */
	rc_u32 publisher_pid;      /* 0x88 const: for humans (ringcast stat)          */
	rc_u32 reserved3;          /* 0x8c zero                                       */
	rc_u64 publisher_heartbeat; /* 0x90 relaxed: a counter the publisher bumps
	                            *      while it lives (VM transports); only its
	                            *      movement matters, not its value          */
	rc_u64 reserved4[5];       /* 0x98 zero                                       */

	/* line 3: the ivshmem region provider (all zero on memfd buses). Guests
	 * cannot receive descriptors, so they learn here whom to ring.
	 * ivshmem_host_peer: publisher -> guests, written before the release
	 *   store of ivshmem_flags (guests acquire-load the flags first, [V1]).
	 * ivshmem_flags: publisher -> guests, release. */
	rc_u32 ivshmem_flags;      /* 0xc0 enum rc_ivshmem_flags                      */
	rc_u32 ivshmem_host_peer;  /* 0xc4 the publisher's peer id on the ivshmem
	                            *      server: a guest rings it to be served  */
	rc_u64 reserved5[7];       /* 0xc8 zero                                       */
	/* rest of page 0 reserved (zero), except the join answer table at
	 * RC_JOIN_ANSWER_OFFSET */
};

enum rc_ivshmem_flags {
	RC_IVSHMEM_HOST_PEER_KNOWN = 1, /* ivshmem_host_peer is valid              */
};

/* ---- descriptor, join answers: written by the publisher only ----------- */

/* Subscribers that cannot receive descriptors (ivshmem guests, Xen domains) attach
 * through shared memory: a join request in their own ack page (line 3 of
 * struct rc_ack_page), answered here, one entry per slot, in page 0 of the
 * read-only ring. The entry of slot i belongs to the guest configured for
 * slot i. Unused (zero) on memfd buses. docs/protocol.md, "Attach through
 * shared memory". */
#define RC_JOIN_ANSWER_OFFSET 0x800u
#define RC_JOIN_ANSWER_SIZE   16u

enum rc_join_verdict {
	RC_JOIN_NONE = 0,           /* nothing answered yet                          */
	RC_JOIN_ACCEPTED = 1,       /* slot attached; generation is the slot's       */
	RC_JOIN_BAD_PEER = 2,       /* peer id unknown to the server, the host's own,
	                             * bound to another guest or not the configured one */
	RC_JOIN_BAD_ORDER = 3,      /* request counter did not move forward          */
	RC_JOIN_CLOSED = 4,         /* the publisher closed the bus                  */
	RC_JOIN_LEFT = 5,           /* a leave request (join_peer_id = RC_JOIN_LEAVE):
	                             * the slot was freed (reason CLOSED)            */
	RC_JOIN_BACKOFF = 6,        /* evicted (slow, protocol) repeatedly: ask again
	                             * later, with a new request (the publisher's
	                             * rejoinBackoffMs)                              */
};
/* join_peer_id of a request to leave: the orderly detach of the socket path. */
#define RC_JOIN_LEAVE 0xffffffffu

struct rc_join_answer {
	rc_u32 request;        /* 0x00 the join_request value answered; release,
	                        *      stored last ([V3]; pairs with the guest's
	                        *      acquire load, [V4])                          */
	rc_u32 verdict;        /* 0x04 enum rc_join_verdict; relaxed, stored before
	                        *      request (published by its release, [V3])     */
	rc_u64 generation;     /* 0x08 ACCEPTED: the slot's generation (equals the
	                        *      slot mirror's and the ack page's); relaxed,
	                        *      stored before request like verdict           */
};

/* ---- descriptor, eviction sequence numbers: written by the publisher only */

/* One rc_u64 per slot, in page 0 of the read-only ring: at an eviction, the
 * sequence number of the first message the evicted subscriber did not lose
 * (the publisher's next message then; one it was part-way through writing
 * counts as lost). The subscriber subtracts the sequence number of the next
 * message it would have delivered: that is its lost message count, measured
 * from its own read position like its lost byte range (the slot's
 * lost_messages counts from the publisher's last validated ack, which may be
 * behind it). publisher -> that slot's subscriber; relaxed, stored before the
 * slot's state (published by its release, [P4]). Zero while never evicted. */
#define RC_LOST_TO_SEQ_OFFSET 0xc00u
#define RC_LOST_TO_SEQ_SIZE   8u

/* ---- descriptor, slot table: written by the publisher only ------------- */

/* A mirror of the publisher's private, validated view of each subscriber.
 * Subscribers read their own slot to learn that they were evicted; `ringcast
 * stat` reads all of them. Every field is published relaxed, except state,
 * which is stored with release after the other fields of the slot so that a
 * reader that acquires state == EVICTED sees the matching lost range. */
enum rc_slot_state {
	RC_SLOT_FREE = 0,
	RC_SLOT_ACTIVE = 1,    /* counted in flow control                        */
	RC_SLOT_LAGGING = 2,   /* behind by more than half the lag bound (until
	                        * down to a quarter again); counted            */
	RC_SLOT_EVICTED = 3,   /* not counted; the subscriber must rejoin         */
};

enum rc_evict_reason {
	RC_EVICT_NONE = 0,
	RC_EVICT_SLOW = 1,     /* blocked the publisher too long / lagged too far */
	RC_EVICT_PROTOCOL = 2, /* its ack broke the rules (backwards, past head)  */
	RC_EVICT_DEAD = 3,     /* its control connection closed                   */
	RC_EVICT_CLOSED = 4,   /* it detached in an orderly way                   */
};

struct rc_slot {
	rc_u32 state;          /* 0x00 enum rc_slot_state, release (last)            */
	rc_u32 evict_reason;   /* 0x04 enum rc_evict_reason                          */
	rc_u64 generation;     /* 0x08 bumped on every attach: tells reuses apart    */
	rc_u64 ack;            /* 0x10 last validated ack                            */
	rc_u64 join_position;  /* 0x18 head when the subscriber (re)joined           */
	rc_u64 lost_from;      /* 0x20 eviction: first position it had not acked     */
	rc_u64 lost_to;        /* 0x28 eviction: publisher's write position then     */
	rc_u32 evictions;      /* 0x30 count of evictions of this slot's subscriber  */
	rc_u32 pid;            /* 0x34 peer pid from SO_PEERCRED (0 if unknown)      */
	rc_u32 uid;            /* 0x38 peer uid                                      */
	rc_u32 lost_messages;  /* 0x3c eviction: messages from lost_from to lost_to
	                        *      (one partly read counts as lost)              */
};

/* ---- ack page: written by its subscriber only -------------------------- */

/* The publisher maps it and reads it as hostile input: ack is clamped to
 * [previous validated ack, head] and a violation evicts with RC_EVICT_PROTOCOL. */
struct rc_ack_page {
	/* line 0: const, written by the publisher BEFORE the page is handed
	 * over; the subscriber checks it, the publisher never trusts it again. */
	rc_u64 magic;          /* 0x00 RC_ACK_MAGIC                                 */
	rc_u64 bus_id;         /* 0x08 equals rc_ring_desc.bus_id                   */
	rc_u32 slot;           /* 0x10 index in the slot table                      */
	rc_u32 layout_version; /* 0x14 RC_LAYOUT_VERSION                            */
	rc_u64 generation;     /* 0x18 equals rc_slot.generation at attach          */
	rc_u64 reserved0[4];   /* 0x20 zero                                         */

	/* line 1: the read position. subscriber -> publisher, release after the
	 * subscriber finished reading everything below it (pairs with the
	 * publisher's acquire load before it overwrites that space). */
	rc_u64 ack;            /* 0x40                                              */
	rc_u64 reserved1[7];   /* 0x48 zero                                         */

	/* line 2: the sleep announcement. The subscriber bumps sleep_seq and sets
	 * sleeping = 1, full fence, re-reads head; only then sleeps on its
	 * doorbell. The publisher stores head, full fence, reads these; it rings a
	 * slot at most once per sleep_seq value. */
	rc_u32 sleeping;       /* 0x80 non-zero while the subscriber may sleep      */
	rc_u32 sleep_seq;      /* 0x84 bumped every time it announces a sleep       */
	rc_u64 heartbeat;      /* 0x88 relaxed: a counter the subscriber bumps; the
	                        *      publisher only watches it move (clocks of
	                        *      VM guests are not the host's)               */
	rc_u64 reserved2[6];   /* 0x90 zero                                         */

	/* line 3: the join request of a subscriber that cannot receive
	 * descriptors (ivshmem guests; zero and unused on the memfd path).
	 * subscriber -> publisher: the guest stores join_peer_id, then
	 * join_request with release ([V2]; pairs with the publisher's acquire
	 * load, [V2a]), then rings the host. The publisher answers in the ring's
	 * join answer table and, on ACCEPTED, rewrites line 0 and ack of this
	 * page (generation, ack = join position) before that answer ([V3]); the
	 * guest writes neither while it waits. Hostile input: the publisher
	 * checks the peer id against the ivshmem server and the configuration,
	 * and requires join_request to move forward. */
	rc_u32 join_request;   /* 0xc0 bumped for every (re)join; 0 = never asked   */
	rc_u32 join_peer_id;   /* 0xc4 the guest's own ivshmem peer id (Xen: its
	                        *      domain id), or RC_JOIN_LEAVE to give the
	                        *      slot back                                    */
	rc_u32 mapped;         /* 0xc8 subscriber -> publisher, relaxed (Xen only;
	                        *      else zero): RC_ACK_MAPPED, stored before the
	                        *      join request, while the subscriber's mapping
	                        *      of this page lives. Its kernel zeroes the low
	                        *      byte when that mapping goes away (Xen unmap
	                        *      notification, also on process death), then
	                        *      signals the publisher's event channel: zero
	                        *      after RC_ACK_MAPPED means the subscriber died,
	                        *      and a join request beside a zero is a dead
	                        *      subscriber's, not served. Read by the
	                        *      publisher after its acquire of join_request
	                        *      ([V2a], partner [V2]).                       */
	rc_u32 reserved3a;     /* 0xcc zero                                         */
	rc_u64 reserved3[6];   /* 0xd0 zero                                         */
};
#define RC_ACK_MAPPED 1u

/* ---- records in the data area ------------------------------------------ */

enum rc_record_type {
	RC_RECORD_DATA = 1,
	RC_RECORD_PAD = 2,     /* fills the end of the data area; skip it        */
};

enum rc_record_flags {
	RC_FRAG_FIRST = 1,     /* first record of a message                      */
	RC_FRAG_LAST = 2,      /* last record of a message (whole = FIRST|LAST)  */
};

/* Written by the publisher before the head store that covers it. A reader
 * validates every field before using it: type known, flags consistent with
 * the fragment sequence, length <= max_payload, record inside the data area
 * and below head, fragment lengths adding up to the message_length their
 * first fragment declared. */
struct rc_record_header {
	rc_u32 length;         /* 0x00 payload bytes (PAD: bytes after the header) */
	rc_u16 type;           /* 0x04 enum rc_record_type                         */
	rc_u16 flags;          /* 0x06 enum rc_record_flags (DATA only)            */
	rc_u64 seq;            /* 0x08 message sequence number; fragments share it */
};

/* The first payload bytes of a fragmented message's first record (flags
 * FIRST without LAST), before the message's own bytes. A message that fits
 * one record (FIRST|LAST) has none. It tells a reader, before it copies
 * anything, how much memory the whole message takes (one buffer, one copy
 * per byte) and lets it refuse a message above max_message (its own cap, or
 * the ring's) before it allocates. Written by the publisher with the rest of
 * the record (covered by the same head store); untrusted: the reader checks
 * message_length > the fragment's own bytes, <= its cap, reserved == 0, and
 * that the fragments that follow add up to exactly message_length. */
struct rc_first_fragment {
	rc_u64 message_length; /* 0x00 payload bytes of the whole message, this
	                        *      struct excluded, envelope included       */
	rc_u64 reserved;       /* 0x08 zero                                     */
};
#define RC_FIRST_FRAGMENT_SIZE 16u

/* The first bytes of every message on a bus with RC_FEATURE_ENVELOPE.
 * Written by the bridge that republished the message (it is the publisher
 * of that bus), covered by the same head store as the rest of the record;
 * untrusted input to every reader like the rest of the payload. */
struct rc_envelope {
	rc_u64 origin;         /* 0x00 bus_id of the bus the message was first published on */
	rc_u64 origin_seq;     /* 0x08 its sequence number there                    */
	rc_u32 hops;           /* 0x10 bridges crossed so far (>= 1)                */
	rc_u32 reserved;       /* 0x14 zero                                         */
};
#define RC_ENVELOPE_SIZE 24u

/* ---- where each per-slot entry of the descriptor lives ----------------- */

/* The only address arithmetic on the descriptor's per-slot tables: every
 * reader and writer (core, providers, binding, tools, kernel) goes through
 * these, so an entry cannot be computed two ways. `ring` is the start of the
 * descriptor; `slot` < RC_MAX_SUBSCRIBERS is the caller's to check. The
 * const variants serve read-only mappings (subscribers, guests). */
static inline struct rc_slot *rc_ring_slot(void *ring, rc_u32 slot)
{
	return (struct rc_slot *)((rc_u8 *)ring + RC_SLOT_TABLE_OFFSET + (rc_u64)slot * RC_SLOT_SIZE);
}

static inline const struct rc_slot *rc_ring_slot_const(const void *ring, rc_u32 slot)
{
	return (const struct rc_slot *)((const rc_u8 *)ring + RC_SLOT_TABLE_OFFSET + (rc_u64)slot * RC_SLOT_SIZE);
}

static inline struct rc_join_answer *rc_ring_join_answer(void *ring, rc_u32 slot)
{
	return (struct rc_join_answer *)((rc_u8 *)ring + RC_JOIN_ANSWER_OFFSET + (rc_u64)slot * RC_JOIN_ANSWER_SIZE);
}

static inline const struct rc_join_answer *rc_ring_join_answer_const(const void *ring, rc_u32 slot)
{
	return (const struct rc_join_answer *)((const rc_u8 *)ring + RC_JOIN_ANSWER_OFFSET +
					       (rc_u64)slot * RC_JOIN_ANSWER_SIZE);
}

static inline rc_u64 *rc_ring_lost_to_seq(void *ring, rc_u32 slot)
{
	return (rc_u64 *)((rc_u8 *)ring + RC_LOST_TO_SEQ_OFFSET + (rc_u64)slot * RC_LOST_TO_SEQ_SIZE);
}

static inline const rc_u64 *rc_ring_lost_to_seq_const(const void *ring, rc_u32 slot)
{
	return (const rc_u64 *)((const rc_u8 *)ring + RC_LOST_TO_SEQ_OFFSET + (rc_u64)slot * RC_LOST_TO_SEQ_SIZE);
}

/* ---- compile-time layout table ---------------------------------------- */

#define RC_ASSERT_OFFSET(type, field, off) \
	RC_STATIC_ASSERT(offsetof(struct type, field) == (off), #type "." #field " moved")

RC_ASSERT_OFFSET(rc_ring_desc, magic,                  0x00);
RC_ASSERT_OFFSET(rc_ring_desc, layout_version,         0x08);
RC_ASSERT_OFFSET(rc_ring_desc, desc_size,              0x0c);
RC_ASSERT_OFFSET(rc_ring_desc, capacity,               0x10);
RC_ASSERT_OFFSET(rc_ring_desc, max_subscribers,        0x18);
RC_ASSERT_OFFSET(rc_ring_desc, slot_size,              0x1c);
RC_ASSERT_OFFSET(rc_ring_desc, max_payload,            0x20);
RC_ASSERT_OFFSET(rc_ring_desc, record_align,           0x24);
RC_ASSERT_OFFSET(rc_ring_desc, bus_id,                 0x28);
RC_ASSERT_OFFSET(rc_ring_desc, policy,                 0x30);
RC_ASSERT_OFFSET(rc_ring_desc, features,               0x34);
RC_ASSERT_OFFSET(rc_ring_desc, max_message,            0x38);
RC_ASSERT_OFFSET(rc_ring_desc, head,                   0x40);
RC_ASSERT_OFFSET(rc_ring_desc, tail_intent,            0x48);
RC_ASSERT_OFFSET(rc_ring_desc, messages,               0x50);
RC_ASSERT_OFFSET(rc_ring_desc, publisher_state,        0x80);
RC_ASSERT_OFFSET(rc_ring_desc, publisher_waiting,      0x84);
RC_ASSERT_OFFSET(rc_ring_desc, publisher_pid,          0x88);
RC_ASSERT_OFFSET(rc_ring_desc, publisher_heartbeat,    0x90);
RC_ASSERT_OFFSET(rc_ring_desc, ivshmem_flags,          0xc0);
RC_ASSERT_OFFSET(rc_ring_desc, ivshmem_host_peer,      0xc4);
RC_STATIC_ASSERT(sizeof(struct rc_ring_desc) == 0x100, "rc_ring_desc size");
RC_STATIC_ASSERT(sizeof(struct rc_ring_desc) <= RC_JOIN_ANSWER_OFFSET, "desc header overlaps join answers");
RC_STATIC_ASSERT(RC_JOIN_ANSWER_OFFSET + RC_MAX_SUBSCRIBERS * RC_JOIN_ANSWER_SIZE <= RC_SLOT_TABLE_OFFSET,
		 "join answers overlap slots");

RC_STATIC_ASSERT(RC_JOIN_ANSWER_OFFSET + RC_MAX_SUBSCRIBERS * RC_JOIN_ANSWER_SIZE <= RC_LOST_TO_SEQ_OFFSET,
		 "join answers overlap eviction sequence numbers");
RC_STATIC_ASSERT(RC_LOST_TO_SEQ_OFFSET + RC_MAX_SUBSCRIBERS * RC_LOST_TO_SEQ_SIZE <= RC_SLOT_TABLE_OFFSET,
		 "eviction sequence numbers overlap slots");
RC_STATIC_ASSERT(RC_LOST_TO_SEQ_OFFSET % RC_CACHE_LINE == 0, "eviction sequence numbers start a cache line");

RC_ASSERT_OFFSET(rc_join_answer, request,    0x00);
RC_ASSERT_OFFSET(rc_join_answer, verdict,    0x04);
RC_ASSERT_OFFSET(rc_join_answer, generation, 0x08);
RC_STATIC_ASSERT(sizeof(struct rc_join_answer) == RC_JOIN_ANSWER_SIZE, "rc_join_answer size");

RC_ASSERT_OFFSET(rc_slot, state,         0x00);
RC_ASSERT_OFFSET(rc_slot, evict_reason,  0x04);
RC_ASSERT_OFFSET(rc_slot, generation,    0x08);
RC_ASSERT_OFFSET(rc_slot, ack,           0x10);
RC_ASSERT_OFFSET(rc_slot, join_position, 0x18);
RC_ASSERT_OFFSET(rc_slot, lost_from,     0x20);
RC_ASSERT_OFFSET(rc_slot, lost_to,       0x28);
RC_ASSERT_OFFSET(rc_slot, evictions,     0x30);
RC_ASSERT_OFFSET(rc_slot, pid,           0x34);
RC_ASSERT_OFFSET(rc_slot, uid,           0x38);
RC_ASSERT_OFFSET(rc_slot, lost_messages, 0x3c);
RC_STATIC_ASSERT(sizeof(struct rc_slot) == RC_SLOT_SIZE, "rc_slot is one cache line");

RC_ASSERT_OFFSET(rc_ack_page, magic,          0x00);
RC_ASSERT_OFFSET(rc_ack_page, bus_id,         0x08);
RC_ASSERT_OFFSET(rc_ack_page, slot,           0x10);
RC_ASSERT_OFFSET(rc_ack_page, layout_version, 0x14);
RC_ASSERT_OFFSET(rc_ack_page, generation,     0x18);
RC_ASSERT_OFFSET(rc_ack_page, ack,            0x40);
RC_ASSERT_OFFSET(rc_ack_page, sleeping,       0x80);
RC_ASSERT_OFFSET(rc_ack_page, sleep_seq,      0x84);
RC_ASSERT_OFFSET(rc_ack_page, heartbeat,      0x88);
RC_ASSERT_OFFSET(rc_ack_page, join_request,   0xc0);
RC_ASSERT_OFFSET(rc_ack_page, join_peer_id,   0xc4);
RC_ASSERT_OFFSET(rc_ack_page, mapped,         0xc8);
RC_STATIC_ASSERT(sizeof(struct rc_ack_page) == 0x100, "rc_ack_page size");
RC_STATIC_ASSERT(sizeof(struct rc_ack_page) <= RC_ACK_PAGE_SIZE, "ack page overflow");

RC_ASSERT_OFFSET(rc_record_header, length, 0x00);
RC_ASSERT_OFFSET(rc_record_header, type,   0x04);
RC_ASSERT_OFFSET(rc_record_header, flags,  0x06);
RC_ASSERT_OFFSET(rc_record_header, seq,    0x08);
RC_STATIC_ASSERT(sizeof(struct rc_record_header) == RC_RECORD_HEADER_SIZE, "record header size");
RC_ASSERT_OFFSET(rc_first_fragment, message_length, 0x00);
RC_ASSERT_OFFSET(rc_first_fragment, reserved,       0x08);
RC_STATIC_ASSERT(sizeof(struct rc_first_fragment) == RC_FIRST_FRAGMENT_SIZE, "first fragment lead size");
RC_STATIC_ASSERT(RC_FIRST_FRAGMENT_SIZE % RC_RECORD_ALIGN == 0, "message bytes stay aligned after the lead");
RC_ASSERT_OFFSET(rc_envelope, origin,     0x00);
RC_ASSERT_OFFSET(rc_envelope, origin_seq, 0x08);
RC_ASSERT_OFFSET(rc_envelope, hops,       0x10);
RC_STATIC_ASSERT(sizeof(struct rc_envelope) == RC_ENVELOPE_SIZE, "envelope size");

RC_STATIC_ASSERT(RC_RECORD_ALIGN % RC_RECORD_HEADER_SIZE == 0, "header must never straddle the end");
RC_STATIC_ASSERT(RC_DESC_SIZE % RC_PAGE_SIZE == 0, "data area must start on a page");

#endif /* RINGCAST_LAYOUT_H */
