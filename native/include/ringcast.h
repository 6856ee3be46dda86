/* SPDX-License-Identifier: MIT */
/*
 * ringcast C core: the ring protocol over memory someone else mapped.
 *
 * No Node, no allocation, no threads. The publisher side owns a writable
 * mapping of the ring and read-only views of each subscriber's ack page; the
 * subscriber side owns a read-only mapping of the ring and a writable
 * mapping of its own ack page. Region providers (memfd, ivshmem, Xen) only
 * supply the pages; see rc_memfd.h (memfds, eventfds) and rc_unix.h (sockets).
 *
 * Shared pointers are named after the field they reach (desc, ack_page);
 * private shadow copies carry no such marker (tail, acked).
 */
#ifndef RINGCAST_H
#define RINGCAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringcast_layout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Errors are negative; 0 or a count is success. */
enum rc_status {
	RC_OK = 0,
	RC_EAGAIN = -1,     /* nothing to read / no room to write now          */
	RC_EINVAL = -2,     /* bad argument or a layout that fails validation  */
	RC_ECORRUPT = -3,   /* a record header broke the rules                 */
	RC_ELAPPED = -4,    /* the publisher overwrote what we had not read    */
	RC_EEVICTED = -5,   /* our slot says EVICTED (or was reused)           */
	RC_ECLOSED = -6,    /* the publisher closed and everything was read    */
	RC_ETOOBIG = -7,    /* claim larger than one record                    */
	RC_ESTATE = -8,     /* call not valid now (claim outstanding, ...)      */
	RC_ENOSLOT = -9,    /* every subscriber slot is taken                  */
	RC_EABORTED = -10,  /* the publisher aborted and everything was read   */
	RC_EMESSAGE = -11,  /* whole-message reads: the next message is
	                     * fragmented; read it with rc_sub_read_message     */
};

const char *rc_status_name(int status);

/* rc_subscriber.lost_to_seq when the loss cannot be counted in messages. */
#define RC_SEQ_UNKNOWN UINT64_MAX

/* Ring size in bytes for a data area of `capacity`. */
static inline uint64_t rc_ring_size(uint64_t capacity) { return RC_DESC_SIZE + capacity; }

/* Largest payload one record carries for this capacity: a quarter of the
 * ring (at most 16 MiB), so a record plus the pad before it always fits. */
uint32_t rc_default_max_payload(uint64_t capacity);

/* How a doorbell is rung. NULL (what rc_pub_init / rc_sub_init leave) means
 * the doorbell is an eventfd and gets an 8-byte write. A region provider
 * whose doorbells are not descriptors (Xen: event-channel ports) installs its
 * own after init; `doorbell` (slot doorbell_fd / publisher_doorbell_fd) is
 * then its own number, and a negative one still means "none". */
typedef void (*rc_doorbell_ring_fn)(void *ctx, int doorbell);

/* ------------------------------------------------------------------------ */
/* publisher                                                                 */

/* An eviction as the publisher decided it (rc_pub_evict). */
struct rc_eviction {
	uint64_t count;                     /* evictions of this slot index so far */
	uint32_t reason;                    /* enum rc_evict_reason of the last    */
	uint32_t lost_messages;
	uint64_t lost_from, lost_to;
};

struct rc_pub_slot {
	const struct rc_ack_page *ack_page; /* shared, hostile; NULL when FREE */
	int doorbell_fd;                    /* eventfd to ring, or -1          */
	uint32_t state;                     /* enum rc_slot_state (authoritative) */
	uint32_t last_rung_sleep_seq;       /* ring at most once per sleep     */
	uint64_t acked;                     /* last validated ack              */
	uint64_t generation;
	uint64_t heartbeat;                 /* last heartbeat value seen        */
	uint64_t heartbeat_changed_ms;      /* caller's clock when it last moved */
	struct rc_eviction last_eviction;   /* kept across rejoins: an eviction
	                                     * and the rejoin after it between two
	                                     * rc_pub_take_changes leave the state
	                                     * as it was, but not this count     */
};

/* A bounded spin's record (RC_LARGE_SPIN_NS): how often it ran and found
 * what it waited for, and the backoff after spins that found nothing (the
 * chances to skip, and how many the next failure skips). Private. */
struct rc_spin_backoff {
	uint64_t spins;
	uint64_t found;
	uint32_t skip;
	uint32_t next_skip;
};

struct rc_publisher {
	uint8_t *ring;                  /* writable mapping: desc + data  */
	struct rc_ring_desc *desc;
	uint8_t *data;
	uint64_t capacity;
	uint64_t mask;
	uint32_t max_payload;
	uint32_t policy;
	uint64_t max_message;           /* desc max_message: longer is RC_ETOOBIG */
	uint64_t tail;                  /* next position to write (>= head) */
	uint64_t head;                  /* last published head              */
	uint64_t limit;                 /* cached: may write below this     */
	uint64_t next_seq;              /* sequence of the next message     */
	uint64_t messages;              /* messages fully written           */
	uint64_t claim_position;        /* UINT64_MAX when no claim is open */
	bool in_message;                /* a message is partly written      */
	bool closed;                    /* rc_pub_close ran: head is final  */
	bool ring_owed;                 /* head moved without a look for
	                                 * sleepers (rc_pub_write_part): the
	                                 * next rc_pub_commit looks        */
	uint32_t wait_id;               /* last value stored in publisher_waiting */
	uint32_t attached;              /* slots not FREE                    */
	uint64_t doorbells_rung;        /* stats: eventfd writes             */
	uint64_t head_stores;           /* stats: commits that moved head    */
	uint64_t room_spin_ns;          /* rc_pub_write_part: how long to spin
	                                 * for room before RC_EAGAIN (0: never;
	                                 * RC_LARGE_SPIN_NS by default)      */
	struct rc_spin_backoff room_spin; /* spins for room (stats: spins, found) */
	uint64_t lag_bound;             /* evict (drop, or max_lag set) or wait
	                                 * (block) past this many bytes of lag */
	bool evict_laggards;            /* policy drop, or block with max_lag  */
	uint64_t changed;               /* bit per slot whose state changed     */
	uint64_t counted;               /* bit per slot that counts (ACTIVE or
	                                 * LAGGING, slot_counts): the slots that
	                                 * commit, refresh and the eviction and
	                                 * heartbeat checks visit, instead of all
	                                 * RC_MAX_SUBSCRIBERS (set by attach,
	                                 * cleared by evict and detach)         */
	uint64_t reserved_slots;        /* bit per slot a region provider keeps
	                                 * for its own subscribers (ivshmem guest
	                                 * i owns slot i): rc_pub_free_slot skips
	                                 * them, so a mixed bus's local processes
	                                 * never take a guest's slot           */
	struct rc_pub_slot slots[RC_MAX_SUBSCRIBERS];
	rc_doorbell_ring_fn ring_doorbell; /* NULL: doorbells are eventfds   */
	void *ring_doorbell_ctx;
};

/* The ring's size as its descriptor declares it (rc_ring_size(capacity)),
 * or 0 if a mapping of `mapped` bytes does not hold such a ring. A region
 * may be larger than its ring: an ivshmem region is rounded up to a power
 * of two (rc_ivshmem_region_size), and a mixed bus hands that same region
 * to local subscribers. Hostile input: rc_sub_init checks the rest. */
uint64_t rc_ring_size_in(const void *ring_mem, uint64_t mapped);

/* Lays out a fresh ring in `mem` (zeroed, rc_ring_size(capacity) bytes). */
int rc_ring_format(void *mem, uint64_t capacity, uint32_t max_payload, uint32_t policy,
		   uint64_t bus_id, uint32_t publisher_pid);

/* Sets enum rc_feature bits on a ring just formatted, before it is shared. */
int rc_ring_set_features(void *mem, uint32_t features);
/* Declares the largest message (payload bytes) the publisher will write, on a
 * ring just formatted (rc_ring_format declares RC_DEFAULT_MAX_MESSAGE). At
 * least max_payload. */
int rc_ring_set_max_message(void *mem, uint64_t max_message);
/* Binds a publisher to a ring formatted by rc_ring_format. */
int rc_pub_init(struct rc_publisher *pub, void *ring_mem, uint64_t ring_size);

/* Smallest lag bound rc_pub_set_max_lag accepts for `max_payload`. */
uint64_t rc_min_max_lag(uint32_t max_payload);

/* Block policy with a lag bound: a subscriber more than `max_lag` bytes
 * behind is evicted (reason SLOW) instead of being waited for. 0 = none.
 * Must leave room for one record: max_lag >= 2 * (max_payload + 32). */
int rc_pub_set_max_lag(struct rc_publisher *pub, uint64_t max_lag);

/* Evicts (reason SLOW) every subscriber that keeps a record of `payload`
 * bytes from being written now; returns how many. For a block policy's
 * evict-after timeout. */
int rc_pub_evict_blocking(struct rc_publisher *pub, uint64_t payload);

/* Liveness for transports without a connection: a slot whose ack page's
 * heartbeat has not moved for `timeout_ms` (by the caller's clock `now_ms`)
 * is evicted with reason DEAD. Returns how many were evicted. */
int rc_pub_check_heartbeats(struct rc_publisher *pub, uint64_t now_ms, uint64_t timeout_ms);

/* Slots whose state changed since the last call (bit i = slot i). */
uint64_t rc_pub_take_changes(struct rc_publisher *pub);

/* Free slot index outside reserved_slots, or RC_ENOSLOT. */
int rc_pub_free_slot(const struct rc_publisher *pub);

/* Writes the const part of a fresh ack page (mapped writable by the
 * publisher only for this) so the subscriber can check it belongs here. */
void rc_ack_page_format(void *ack_mem, const struct rc_publisher *pub, uint32_t slot,
			uint64_t generation);

/* Makes `slot` ACTIVE at the current head. `ack_page` stays mapped by the
 * caller until rc_pub_detach. Returns the generation given to the slot. */
int rc_pub_attach(struct rc_publisher *pub, uint32_t slot, const struct rc_ack_page *ack_page,
		  int doorbell_fd, uint32_t pid, uint32_t uid, uint64_t *generation_out);

/* Stops counting `slot`; FREE for reuse (reason DEAD/CLOSED) */
void rc_pub_detach(struct rc_publisher *pub, uint32_t slot, uint32_t reason);

/* EVICTED with `reason`; keeps the slot (the subscriber must learn of it) */
void rc_pub_evict(struct rc_publisher *pub, uint32_t slot, uint32_t reason);

/* Re-reads and validates every ack, updates the mirror and the cached
 * limit; evicts protocol violators. Returns bytes writable now. */
uint64_t rc_pub_refresh(struct rc_publisher *pub);

/* The sequence number of the first whole message a subscriber attached now
 * receives: while a message is partly written it joins inside it and skips
 * its tail, so that one is not counted as its. Eviction's lost counts and
 * lost_to_seq use the same count. */
uint64_t rc_pub_next_whole_seq(const struct rc_publisher *pub);

/* Bytes a message of `len` payload bytes occupies (all its fragments). */
uint64_t rc_pub_message_span(const struct rc_publisher *pub, uint64_t len);

/* Writes part of a message without publishing it. A message longer than
 * max_message is RC_ETOOBIG. `*offset` is how much of
 * `len` is already in the ring (0 for a new message) and advances; returns
 * RC_OK when the whole message is written, RC_EAGAIN when the ring is full
 * first (call again with the same offset after room appears). */
int rc_pub_write(struct rc_publisher *pub, const void *data, uint64_t len, uint64_t *offset);

/* rc_pub_write for a message that flows through the ring (one larger than
 * the ring, or than the room now): each fragment is committed as soon as it
 * is written, not once at the end, so a subscriber copies one fragment while
 * the publisher writes the next (4 MiB messages through a 4 MiB ring: the
 * two copies of a message overlap instead of taking turns). Everything
 * written, the message's fragments and what was written before, is
 * committed when it returns. */
int rc_pub_write_part(struct rc_publisher *pub, const void *data, uint64_t len, uint64_t *offset);

/* The bounded spin of the large-message path, on both sides: mid-message
 * the other side is known to be working (the publisher writing the next
 * fragment, the subscriber copying out and acknowledging the last), and its
 * next step comes within about one fragment's copy; sleeping instead costs a
 * doorbell and the wake of a halted vCPU each time (docs/protocol.md,
 * "Sleeping and waking"). Nothing spins outside a message. */
#define RC_LARGE_SPIN_NS 50000u

/* Writes a whole message only if all of it fits now (after the policy's
 * evictions); RC_EAGAIN with nothing written otherwise. Not committed. */
int rc_pub_offer(struct rc_publisher *pub, const void *data, uint64_t len);

/* rc_pub_offer of one record without its payload: writes the record's
 * header, counts it as written (it is not committed) and returns where its
 * `len` payload bytes go, which the caller fills before the next commit;
 * NULL when not now (`*status`: RC_EAGAIN, RC_ETOOBIG beyond max_payload,
 * RC_ESTATE). For a caller that copies each message in from memory only it
 * can reach (the Node publisher's JavaScript: publishBatch). */
uint8_t *rc_pub_reserve(struct rc_publisher *pub, uint32_t len, int *status);

/* Publishes everything written so far with one head store, then rings the
 * doorbells of announced sleepers. */
void rc_pub_commit(struct rc_publisher *pub);

/* Zero-copy: reserves one record of `len` payload bytes; returns a pointer
 * into the ring or NULL (`*status` says why: RC_EAGAIN, RC_ETOOBIG, RC_ESTATE). */
uint8_t *rc_pub_claim(struct rc_publisher *pub, uint32_t len, int *status);
/* Finishes the open claim with `len` <= claimed bytes, and commits. */
int rc_pub_claim_commit(struct rc_publisher *pub, uint32_t len);
/* Drops the open claim; nothing was visible, the space is reused. */
int rc_pub_claim_abort(struct rc_publisher *pub);

/* Sleep announcement: returns true if the caller should sleep on its
 * doorbell (still no room for the next record of a `payload`-byte message
 * after the fence). */
bool rc_pub_prepare_wait(struct rc_publisher *pub, uint64_t payload);
void rc_pub_end_wait(struct rc_publisher *pub);

/* Orderly close: head is final. */
void rc_pub_close(struct rc_publisher *pub);
/* Abort: head is final too, but subscribers end with RC_EABORTED instead of
 * RC_ECLOSED once drained: the stream was cut short (its source did not end).
 * After rc_pub_close it does nothing: that stream was already complete. */
void rc_pub_abort(struct rc_publisher *pub);

/* ------------------------------------------------------------------------ */
/* subscriber                                                                */

struct rc_entry {
	uint64_t offset;   /* zero-copy: offset in the data area; copy: offset in out */
	uint32_t length;
	uint16_t flags;    /* RC_FRAG_* */
	uint16_t reserved;
	uint64_t seq;
};

struct rc_subscriber {
	const uint8_t *ring;                /* read-only mapping           */
	const struct rc_ring_desc *desc;
	const struct rc_slot *slot_mirror;
	const uint8_t *data;
	struct rc_ack_page *ack_page;       /* our own, writable           */
	uint64_t capacity;
	uint64_t mask;
	uint32_t max_payload;
	uint32_t slot;
	uint32_t envelope_bytes;  /* RC_ENVELOPE_SIZE on an envelope bus, else 0 */
	uint32_t strip_bytes;     /* leading bytes of each message hidden from the
	                           * caller: the envelope, unless kept */
	uint64_t generation;
	uint64_t pos;             /* next position to read (private)   */
	uint64_t acked;           /* last ack stored                   */
	uint64_t pending;         /* zero-copy: polled, not released   */
	uint64_t max_message;     /* refuse a first fragment declaring more */
	bool whole_messages;      /* rc_sub_hand_out_whole_messages was called */
	struct rc_fragment_state {
		bool in_message;          /* between FIRST and LAST fragments  */
		bool joined_mid;          /* no FIRST seen yet: skip a message's tail */
		uint64_t message_seq;     /* seq of the message being read     */
		uint64_t message_length;  /* its length as handed out (declared
		                           * length less the hidden envelope)   */
		uint64_t message_left;    /* ring payload bytes of it still to come */
	} frag, polled_from;      /* now, and when the last poll began   */
	uint32_t last_rung_wait_id;
	bool look_owed;           /* an ack stored without [S2b]'s look for a
	                           * waiting publisher (rc_sub_read_message)  */
	uint64_t looked_at;       /* the ack at the last such look          */
	const uint64_t *lost_to_seq_entry;  /* our slot's RC_LOST_TO_SEQ_OFFSET entry */
	uint64_t lost_from;       /* filled on RC_ELAPPED / RC_EEVICTED */
	uint64_t lost_to;
	uint64_t lost_to_seq;     /* RC_EEVICTED: first message not lost (layout
	                           * RC_LOST_TO_SEQ_OFFSET); RC_SEQ_UNKNOWN on a
	                           * lap or a slot no longer ours             */
	uint64_t doorbells_rung;
	uint64_t fragment_spin_ns;  /* rc_sub_read_message: how long to spin for
	                             * the next fragment of a message begun
	                             * before returning 0 (0, the default:
	                             * never). Off because, measured, a
	                             * subscriber spinning for the publisher's
	                             * next fragment slowed that publisher on
	                             * the 2-vCPU test machine: zero-copy fell
	                             * below copy at 1 and 4 MiB in 4 of 12
	                             * judged lines against 0 of 10 with no
	                             * spin (docs/protocol.md)              */
	bool spin_after_message;    /* a fragmented message just ended: the
	                             * next read that finds nothing spins once */
	struct rc_spin_backoff fragment_spin; /* (stats: spins, found)      */
	int publisher_doorbell_fd;
	rc_doorbell_ring_fn ring_doorbell; /* NULL: the doorbell is an eventfd */
	void *ring_doorbell_ctx;
};

/* Validates the ring and ack page against each other and the sizes the
 * caller mapped; never trusts the descriptor's sizes beyond `ring_size`. */
int rc_sub_init(struct rc_subscriber *sub, const void *ring_mem, uint64_t ring_size,
		void *ack_mem, uint64_t ack_size, int publisher_doorbell_fd);
/* On a bus with RC_FEATURE_ENVELOPE, poll and read hide each message's
 * struct rc_envelope from the caller; a bridge calls this to see them. */
void rc_sub_keep_envelopes(struct rc_subscriber *sub);

/* Lowers the largest message this subscriber accepts below the ring's
 * max_message (0 or more than the ring's: the ring's). A first fragment
 * declaring more is RC_ECORRUPT, before anything of it is copied. */
void rc_sub_set_max_message(struct rc_subscriber *sub, uint64_t max_message);

/* From now on rc_sub_poll and rc_sub_read hand out whole messages only:
 * they stop before the first fragment of a message longer than one record,
 * and when that is the next record they return RC_EMESSAGE with its length
 * (what the caller gets, envelope hidden) in sub->frag.message_length and
 * its sequence number in sub->frag.message_seq. The
 * caller then gives rc_sub_read_message a buffer of that length. */
void rc_sub_hand_out_whole_messages(struct rc_subscriber *sub);

/* Copies the fragments of the fragmented message at the read position
 * straight from the ring into `message`, `length` bytes (the
 * sub->frag.message_length that RC_EMESSAGE reported), from `*filled` on (0
 * at first), as far as they are committed. Re-checks each fragment for
 * lapping after its copy, then acknowledges it (the publisher may reuse its
 * space while the next is copied) and advances *filled. Returns 1 when the
 * message is complete (*filled == length), 0 when more is to come, or an
 * error: RC_ECORRUPT also if the fragments do not add up to `length`. */
int rc_sub_read_message(struct rc_subscriber *sub, uint8_t *message, uint64_t length, uint64_t *filled);

/* Payload copies of this many bytes and more take copy_payload's guard
 * against memcpy's slow case (a destination 1 to 15 bytes ahead of the source
 * modulo 4 KiB); shorter ones are plain memcpy. A caller that copies short
 * payloads itself (publishBatch's JavaScript, into reserved records) leaves
 * these sizes to the core. */
#define RC_COPY_GUARDED_FROM 4096u

/* rc_sub_read_message's copy flags. RC_COPY_STREAM: `message` is memory the
 * caller has not touched lately (a fresh Buffer per message): copy it with
 * non-temporal stores where the CPU has them (x86-64), which write whole
 * cache lines to memory without first reading each destination line into
 * the cache. Into a cold destination that is about twice as fast (1 MiB:
 * 80-90 against 100-220 us on the 2-vCPU test machine); into a buffer that
 * is in the cache (reused, smaller than the cache) it is slower, and the
 * copied bytes are not left in the cache for the reader. */
#define RC_COPY_STREAM 1u

/* rc_sub_read_message with copy flags (RC_COPY_*). */
int rc_sub_read_message_flags(struct rc_subscriber *sub, uint8_t *message, uint64_t length, uint64_t *filled,
                              uint32_t copy_flags);

/* Zero-copy: describes up to `max` records after the read position (offsets
 * into the data area). Nothing is released until rc_sub_release. Returns a
 * count (0: nothing now) or an error. */
int rc_sub_poll(struct rc_subscriber *sub, struct rc_entry *entries, uint32_t max);
/* Re-checks that what poll described was not overwritten meanwhile, then
 * acknowledges it. RC_ELAPPED if it was. */
int rc_sub_release(struct rc_subscriber *sub);
/* Acknowledges only the first `records` entries the last poll described
 * (the handler stopped early); the rest is described again by the next
 * poll. */
int rc_sub_release_partial(struct rc_subscriber *sub, uint32_t records);

/* Copy: copies up to `max` records into `out` (at most `out_cap` bytes),
 * re-checks for lapping after the copy, acknowledges. Returns a count. */
int rc_sub_read(struct rc_subscriber *sub, uint8_t *out, uint64_t out_cap,
		struct rc_entry *entries, uint32_t max);

/* Bytes committed and not yet read. */
uint64_t rc_sub_available(const struct rc_subscriber *sub);

/* Sleep announcement: true if the caller should sleep on its doorbell. */
bool rc_sub_prepare_wait(struct rc_subscriber *sub);
/* Proof of life for transports without a connection (VMs). */
void rc_sub_heartbeat(struct rc_subscriber *sub);
/* Our slot's state as the publisher mirrors it (enum rc_slot_state), or
 * RC_SLOT_EVICTED if the slot was given to someone else. */
uint32_t rc_sub_slot_state(const struct rc_subscriber *sub);
void rc_sub_end_wait(struct rc_subscriber *sub);

#ifdef __cplusplus
}
#endif

#endif /* RINGCAST_H */
