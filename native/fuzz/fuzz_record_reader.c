// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the subscriber's record reader against a hostile
 * publisher. The input (fuzz_record_input.h) chooses head, tail_intent, the
 * slot's state, generation and lost range, the publisher's state, and the
 * bytes of the data area; then a short program of rc_sub_read, rc_sub_poll,
 * rc_sub_release, rc_sub_release_partial calls and publisher moves runs.
 *
 * What must hold, whatever the bytes:
 *   - no crash, no read outside the ring: the ring is exactly
 *     rc_ring_size(64 KiB) bytes between two PROT_NONE guard pages, and is
 *     mapped read-only while the reader runs (it must never write there);
 *     `out` buffers and entry arrays are heap blocks of exactly the size
 *     passed (AddressSanitizer);
 *   - only the statuses each call documents;
 *   - every entry inside the data area (poll) or inside `out` (read), no
 *     longer than max_payload, with known flags, and no more than asked;
 *   - the read position only moves forward, by at most the capacity per
 *     call, and the ack page always says what the reader acknowledged;
 *   - a lost range (RC_ELAPPED, RC_EEVICTED) never ends before it starts;
 *   - the records handed out and acknowledged form a well-formed fragment
 *     sequence (FIRST ... LAST of one seq), up to the first error that ends
 *     the stream (RC_ECORRUPT, RC_ELAPPED).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "fuzz_record_input.h"
#include "ringcast.h"

#define CAP       RI_CAPACITY
#define RING_SIZE (RC_DESC_SIZE + CAP)
#define BUS_ID    0x5a5a1234c0ffee00ULL
#define MAX_ENTRIES 64u

static uint8_t *ring;                /* RING_SIZE bytes between guard pages */
static struct rc_ring_desc *desc;
static struct rc_slot *mirror;       /* slot 0: ours                      */
static struct rc_ack_page *ack;
static struct rc_subscriber sub;
static uint32_t max_payload;
static volatile uint8_t sink;        /* keeps the byte touches alive      */
static bool trace;                   /* FUZZ_TRACE=1: print every call    */

#define TRACE(...) do { if (trace) fprintf(stderr, __VA_ARGS__); } while (0)

/* The fragment sequence the application has been handed so far. */
static struct {
	bool live;          /* false after an error that ends the stream */
	bool in_message;
	uint64_t seq;
	bool whole;         /* RI_WHOLE: whole messages only           */
	uint8_t *message;   /* RC_EMESSAGE: the buffer being filled    */
	uint64_t length;    /* its length, exactly as allocated        */
	uint64_t filled;
} stream;

static void setup_once(void)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *region;

	FUZZ_CHECK(page > 0 && RING_SIZE % (unsigned long)page == 0);
	FUZZ_CHECK(rc_ring_size(CAP) == RING_SIZE);
	region = mmap(NULL, RING_SIZE + 2 * (size_t)page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FUZZ_CHECK(region != MAP_FAILED);
	ring = region + page;
	desc = (struct rc_ring_desc *)ring;
	mirror = rc_ring_slot(ring, 0);
	ack = aligned_alloc(RC_PAGE_SIZE, RC_ACK_PAGE_SIZE);
	FUZZ_CHECK(ack != NULL);
	trace = getenv("FUZZ_TRACE") != NULL;
}

/* The publisher's pen: the reader only ever sees the ring read-only. */
static void publisher_writes(bool on)
{
	FUZZ_CHECK(mprotect(ring, RING_SIZE, on ? PROT_READ | PROT_WRITE : PROT_READ) == 0);
}

static uint64_t align_record(uint64_t payload)
{
	return (RC_RECORD_HEADER_SIZE + payload + (RC_RECORD_ALIGN - 1)) & ~(uint64_t)(RC_RECORD_ALIGN - 1);
}

/* A fresh ring, ack page and subscriber, then the input's hostile values. */
static void build(const struct ri_header *h, const uint8_t *data, size_t len)
{
	uint32_t sel = (h->flags >> 8) & 0xff;
	uint64_t head, off;

	publisher_writes(true);
	memset(ring + RC_DESC_SIZE, 0, CAP);
	/* sel * 64 <= 16320: a record of it always fits half the ring */
	FUZZ_CHECK(rc_ring_format(ring, CAP, sel * 64u, RC_POLICY_BLOCK, BUS_ID, 1) == RC_OK);
	max_payload = desc->max_payload;
	desc->head = h->pos;
	desc->tail_intent = h->pos;
	mirror->state = RC_SLOT_ACTIVE;
	mirror->generation = 1;

	/* What the publisher hands a joining subscriber (rc_ack_page_format). */
	memset(ack, 0, RC_ACK_PAGE_SIZE);
	ack->magic = RC_ACK_MAGIC;
	ack->bus_id = BUS_ID;
	ack->slot = 0;
	ack->layout_version = RC_LAYOUT_VERSION;
	ack->generation = 1;
	ack->ack = h->pos;

	publisher_writes(false);
	FUZZ_CHECK(rc_sub_init(&sub, ring, RING_SIZE, ack, RC_ACK_PAGE_SIZE, -1) == RC_OK);
	if (h->flags & RI_WHOLE) {
		rc_sub_set_max_message(&sub, RI_MAX_MESSAGE);
		rc_sub_hand_out_whole_messages(&sub);
	}
	publisher_writes(true);

	head = (h->flags & RI_HEAD_BEHIND) ? h->pos - h->head_delta : h->pos + h->head_delta;
	desc->head = head;
	desc->tail_intent = h->pos + h->intent_delta;
	desc->publisher_state = (h->flags & RI_CLOSED) ? RC_PUB_CLOSED : RC_PUB_OPEN;
	desc->publisher_waiting = (h->flags & RI_WAITING) ? 1 : 0;
	mirror->state = h->slot_state;
	mirror->generation = (h->flags & RI_OTHER_GEN) ? 2 : 1;
	mirror->lost_from = h->lost_from;
	mirror->lost_to = h->lost_to;
	off = h->pos & (CAP - 1);
	if (len > CAP)
		len = CAP;
	for (size_t done = 0; done < len;) {
		size_t chunk = len - done < CAP - off ? len - done : CAP - off;

		memcpy(ring + RC_DESC_SIZE + off, data + done, chunk);
		done += chunk;
		off = (off + chunk) & (CAP - 1);
	}
	publisher_writes(false);
}

/* Invariants of the reader's own state after any call. */
static void check_state(uint64_t pos_before, int status)
{
	FUZZ_CHECK(sub.pos >= pos_before && sub.pos - pos_before <= CAP);
	FUZZ_CHECK(sub.pending >= sub.pos && sub.pending - sub.pos <= CAP);
	FUZZ_CHECK(sub.acked == sub.pos);
	FUZZ_CHECK(ack->ack == sub.acked);
	if (status == RC_ELAPPED || status == RC_EEVICTED)
		FUZZ_CHECK(sub.lost_from <= sub.lost_to);
	if (status == RC_ECORRUPT || status == RC_ELAPPED)
		stream.live = false;
}

static void check_entry_fields(const struct rc_entry *e)
{
	FUZZ_CHECK(e->length <= max_payload);
	if (stream.whole && stream.live)
		FUZZ_CHECK((e->flags & (RC_FRAG_FIRST | RC_FRAG_LAST)) == (RC_FRAG_FIRST | RC_FRAG_LAST));
	FUZZ_CHECK((e->flags & ~(uint16_t)(RC_FRAG_FIRST | RC_FRAG_LAST)) == 0);
	FUZZ_CHECK(e->reserved == 0);
}

/* The application consumed these records: they must continue the stream. */
static void consume(const struct rc_entry *e, uint32_t n)
{
	for (uint32_t i = 0; i < n && stream.live; i++) {
		if (e[i].flags & RC_FRAG_FIRST)
			FUZZ_CHECK(!stream.in_message);
		else
			FUZZ_CHECK(stream.in_message && e[i].seq == stream.seq);
		stream.in_message = !(e[i].flags & RC_FRAG_LAST);
		stream.seq = e[i].seq;
	}
}

/* RC_EMESSAGE: a buffer of exactly the announced length (ASan sees any
 * overrun); rc_sub_read_message fills it over the next read ops. */
static void begin_message(uint64_t before)
{
	FUZZ_CHECK(stream.whole && !stream.message);
	FUZZ_CHECK(sub.frag.message_length <= RI_MAX_MESSAGE);
	FUZZ_CHECK(sub.pending == sub.pos && sub.pos - before <= CAP); /* only pads passed */
	stream.length = sub.frag.message_length;
	stream.message = malloc(stream.length);
	stream.filled = 0;
	FUZZ_CHECK(stream.message != NULL);
}

static void end_message(void)
{
	free(stream.message);
	stream.message = NULL;
}

static void op_read_message(void)
{
	uint64_t before = sub.pos, filled = stream.filled;
	int r = rc_sub_read_message(&sub, stream.message, stream.length, &stream.filled);

	TRACE("read_message(%llu of %llu) = %d %s, pos +%llu\n", (unsigned long long)filled,
	      (unsigned long long)stream.length, r, r < 0 ? rc_status_name(r) : "",
	      (unsigned long long)(sub.pos - before));
	check_state(before, r);
	FUZZ_CHECK(stream.filled >= filled && stream.filled <= stream.length);
	if (r == 1) {
		FUZZ_CHECK(stream.filled == stream.length);
		for (uint64_t k = 0; k < stream.length; k++)
			sink ^= stream.message[k];
		end_message();
	} else if (r < 0) {
		FUZZ_CHECK(r == RC_ECORRUPT || r == RC_ELAPPED || r == RC_EEVICTED || r == RC_ECLOSED);
		end_message();
		stream.live = false;
	}
}

static struct rc_entry *new_entries(uint32_t max)
{
	struct rc_entry *e = malloc(sizeof(*e) * max); /* exact: ASan sees overruns */

	FUZZ_CHECK(e != NULL);
	return e;
}

static void op_read(uint32_t max, uint64_t out_cap)
{
	struct rc_entry *e = new_entries(max);
	uint8_t *out = out_cap ? malloc(out_cap) : NULL;
	uint64_t before = sub.pos, used = 0, spans = 0;
	bool pending = sub.pending != sub.pos;
	int n;

	FUZZ_CHECK(out_cap == 0 || out != NULL);
	if (stream.message && !pending) {
		free(e);
		free(out);
		op_read_message();
		return;
	}
	n = rc_sub_read(&sub, out, out_cap, e, max);
	TRACE("read(max %u, cap %llu) = %d %s, pos +%llu\n", max, (unsigned long long)out_cap, n,
	      n < 0 ? rc_status_name(n) : "", (unsigned long long)(sub.pos - before));
	check_state(before, n);
	if (pending) {
		FUZZ_CHECK(n == RC_ESTATE);
	} else if (n == RC_EMESSAGE) {
		begin_message(before);
	} else if (n >= 0) {
		FUZZ_CHECK((uint32_t)n <= max);
		for (int i = 0; i < n; i++) {
			check_entry_fields(&e[i]);
			FUZZ_CHECK(e[i].offset == used); /* packed, in order */
			used += e[i].length;
			FUZZ_CHECK(used <= out_cap);
			for (uint32_t k = 0; k < e[i].length; k++)
				sink ^= out[e[i].offset + k];
			spans += align_record(e[i].length);
		}
		FUZZ_CHECK(spans <= sub.pos - before);
		consume(e, (uint32_t)n);
	} else {
		FUZZ_CHECK(n == RC_EINVAL || n == RC_ECORRUPT || n == RC_ELAPPED || n == RC_EEVICTED ||
			   n == RC_ECLOSED);
		FUZZ_CHECK(sub.pos == before);
	}
	free(out);
	free(e);
}

/* rc_sub_poll; returns the count (entries described in *e) or a status. */
static int op_poll(uint32_t max, struct rc_entry *e)
{
	uint64_t before = sub.pos, spans = 0;
	bool pending = sub.pending != sub.pos;
	int n;

	if (stream.message && !pending) { /* an application keeps filling it */
		op_read_message();
		return 0;
	}
	n = rc_sub_poll(&sub, e, max);

	TRACE("poll(max %u) = %d %s, pending +%llu\n", max, n, n < 0 ? rc_status_name(n) : "",
	      (unsigned long long)(sub.pending - before));
	check_state(before, n);
	if (pending) {
		FUZZ_CHECK(n == RC_ESTATE);
		return n;
	}
	if (n == RC_EMESSAGE) {
		begin_message(before);
		return n;
	}
	if (n < 0) {
		FUZZ_CHECK(n == RC_ECORRUPT || n == RC_ELAPPED || n == RC_EEVICTED || n == RC_ECLOSED);
		FUZZ_CHECK(sub.pos == before && sub.pending == before);
		return n;
	}
	FUZZ_CHECK((uint32_t)n <= max);
	if (n == 0) {
		FUZZ_CHECK(sub.pending == sub.pos); /* nothing handed out, nothing held */
		return 0;
	}
	FUZZ_CHECK(sub.pos == before); /* held until released */
	for (int i = 0; i < n; i++) {
		const uint8_t *payload;

		check_entry_fields(&e[i]);
		FUZZ_CHECK(e[i].offset >= RC_RECORD_HEADER_SIZE);
		FUZZ_CHECK(((e[i].offset - RC_RECORD_HEADER_SIZE) & (RC_RECORD_ALIGN - 1)) == 0);
		FUZZ_CHECK(e[i].offset <= CAP && e[i].length <= CAP - e[i].offset);
		payload = sub.data + e[i].offset;
		for (uint32_t k = 0; k < e[i].length; k++)
			sink ^= payload[k];
		spans += align_record(e[i].length);
	}
	FUZZ_CHECK(spans <= sub.pending - sub.pos);
	return n;
}

static void op_release(const struct rc_entry *e, int polled)
{
	uint64_t before = sub.pos, pending = sub.pending;
	int r = rc_sub_release(&sub);

	TRACE("release = %s, pos +%llu\n", rc_status_name(r), (unsigned long long)(sub.pos - before));
	check_state(before, r);
	FUZZ_CHECK(r == RC_OK || r == RC_ELAPPED);
	if (r == RC_OK) {
		FUZZ_CHECK(sub.pos == pending);
		if (polled > 0)
			consume(e, (uint32_t)polled);
	} else {
		FUZZ_CHECK(sub.pos == before && sub.pending == before);
	}
}

static void op_release_partial(const struct rc_entry *e, int polled, uint32_t records)
{
	uint64_t before = sub.pos, pending = sub.pending;
	int r = rc_sub_release_partial(&sub, records);

	TRACE("release_partial(%u of %d) = %s, pos +%llu\n", records, polled, rc_status_name(r),
	      (unsigned long long)(sub.pos - before));
	check_state(before, r);
	FUZZ_CHECK(r == RC_OK || r == RC_ELAPPED || r == RC_ECORRUPT);
	FUZZ_CHECK(sub.pos <= pending);
	if (r == RC_OK && polled > 0) {
		if (records == 0)
			FUZZ_CHECK(sub.pos == before);
		else
			FUZZ_CHECK(sub.pos > before);
		consume(e, records < (uint32_t)polled ? records : (uint32_t)polled);
	} else if (r != RC_OK) {
		FUZZ_CHECK(sub.pos == before && sub.pending == before);
	}
}

static void run_op(uint8_t code)
{
	uint32_t op = code & 7u, arg = code >> 3;
	struct rc_entry *e;
	int n;

	if (op >= RI_OP_COMMIT)
		TRACE("publisher op %u arg %u\n", op, arg);
	switch (op) {
	case RI_OP_READ:
		op_read(arg + 1, CAP);
		break;
	case RI_OP_READ_TIGHT:
		op_read(MAX_ENTRIES, (uint64_t)arg * 97u);
		break;
	case RI_OP_POLL:
		e = new_entries(arg + 1);
		n = op_poll(arg + 1, e);
		op_release(e, n);
		free(e);
		break;
	case RI_OP_POLL_TWICE:
		e = new_entries(arg + 1);
		n = op_poll(arg + 1, e);
		if (n > 0) {
			struct rc_entry again[1];

			FUZZ_CHECK(rc_sub_poll(&sub, again, 1) == RC_ESTATE);
			op_read(1, CAP); /* checks RC_ESTATE itself */
		}
		op_release(e, n);
		free(e);
		break;
	case RI_OP_POLL_PARTIAL:
		e = new_entries(MAX_ENTRIES);
		n = op_poll(MAX_ENTRIES, e);
		op_release_partial(e, n, arg % (uint32_t)((n > 0 ? n : 0) + 2));
		free(e);
		break;
	case RI_OP_COMMIT:
		publisher_writes(true);
		desc->head += (uint64_t)arg * 16u;
		publisher_writes(false);
		break;
	case RI_OP_OVERWRITE:
		publisher_writes(true);
		desc->tail_intent += (uint64_t)arg * 4096u;
		publisher_writes(false);
		break;
	case RI_OP_STATE:
		publisher_writes(true);
		if (arg < 4)
			mirror->state = arg;
		else if (arg < 8)
			mirror->generation++;
		else if (arg < 16)
			desc->publisher_state = RC_PUB_CLOSED;
		else
			desc->publisher_waiting = arg;
		publisher_writes(false);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ri_header h;

	if (!ring)
		setup_once();
	memset(&h, 0, sizeof(h));
	memcpy(&h, data, size < RI_HEADER_SIZE ? size : RI_HEADER_SIZE);
	build(&h, size > RI_HEADER_SIZE ? data + RI_HEADER_SIZE : data,
	      size > RI_HEADER_SIZE ? size - RI_HEADER_SIZE : 0);
	stream.live = true;
	stream.in_message = false;
	stream.seq = 0;
	stream.whole = (h.flags & RI_WHOLE) != 0;
	end_message();
	for (uint32_t i = 0; i < RI_OPS; i++)
		run_op(h.ops[i]);
	end_message();
	return 0;
}
