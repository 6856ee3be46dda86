/* SPDX-License-Identifier: MIT */
/*
 * The input of fuzz_record_reader, shared with the seed generator
 * (gen_corpus.c). The fuzzer plays a hostile publisher: the input picks the
 * values of everything a subscriber reads from shared memory, then a short
 * program of reader calls and publisher moves.
 *
 *   offset  size  field
 *   0x00    8     pos            subscriber's start position (its ack)
 *   0x08    4     head_delta     head = pos + head_delta (pos - head_delta
 *                                with RI_HEAD_BEHIND), wrapping
 *   0x0c    4     intent_delta   tail_intent = pos + intent_delta, wrapping
 *   0x10    4     slot_state     rc_slot.state of the subscriber's slot (any u32)
 *   0x14    4     flags          RI_* below; bits 8..15: max_payload / 64
 *                                (0: the default for the capacity)
 *   0x18    8     lost_from      rc_slot.lost_from (eviction range)
 *   0x20    8     lost_to        rc_slot.lost_to
 *   0x28    16    ops            the program, one byte per step: low 3 bits
 *                                the op (RI_OP_*), high 5 bits its argument
 *   0x38    ...   data           copied into the data area from the offset
 *                                of pos on, wrapping; the rest is zero
 *
 * A shorter input is zero-padded. All integers little-endian.
 */
#ifndef FUZZ_RECORD_INPUT_H
#define FUZZ_RECORD_INPUT_H

#include <stdint.h>

#define RI_CAPACITY       (64u * 1024u)
#define RI_OPS            16u
#define RI_HEADER_SIZE    0x38u

#define RI_HEAD_BEHIND    (1u << 0) /* head below pos: a publisher going backwards */
#define RI_OTHER_GEN      (1u << 1) /* the slot's generation is not ours: reused   */
#define RI_CLOSED         (1u << 2) /* publisher_state CLOSED                        */
#define RI_WAITING        (1u << 3) /* publisher_waiting set: the reader rings it  */
#define RI_WHOLE          (1u << 4) /* whole-message reads (rc_sub_hand_out_whole_
                                     * messages, cap RI_MAX_MESSAGE): RC_EMESSAGE
                                     * continues with rc_sub_read_message      */
#define RI_MAX_MESSAGE    (4u * RI_CAPACITY)

enum ri_op {
	RI_OP_READ = 0,        /* rc_sub_read, max arg+1 records, out of CAP bytes  */
	RI_OP_READ_TIGHT = 1,  /* rc_sub_read, 64 records into arg*97 bytes (0: NULL) */
	RI_OP_POLL = 2,        /* rc_sub_poll max arg+1, then rc_sub_release        */
	RI_OP_POLL_TWICE = 3,  /* poll, poll and read again (RC_ESTATE), release    */
	RI_OP_POLL_PARTIAL = 4,/* poll max 64, rc_sub_release_partial(arg % (n+2))  */
	RI_OP_COMMIT = 5,      /* publisher: head += arg * 16                       */
	RI_OP_OVERWRITE = 6,   /* publisher: tail_intent += arg * 4096              */
	RI_OP_STATE = 7,       /* publisher: arg < 4 slot state = arg; < 8 bump the
	                        * generation; < 16 CLOSED; else publisher_waiting = arg */
};

#define RI_OP(op, arg) ((uint8_t)((op) | ((arg) << 3)))

struct ri_header {
	uint64_t pos;
	uint32_t head_delta;
	uint32_t intent_delta;
	uint32_t slot_state;
	uint32_t flags;
	uint64_t lost_from;
	uint64_t lost_to;
	uint8_t ops[RI_OPS];
};

_Static_assert(sizeof(struct ri_header) == RI_HEADER_SIZE, "fuzz input header");

#endif /* FUZZ_RECORD_INPUT_H */
