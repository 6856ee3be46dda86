/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * ringcast control messages: the wire format of the same-host control plane.
 *
 * One message is one SOCK_SEQPACKET datagram: a 16-byte header followed by a
 * body whose size is fixed by the message type (REFUSED: fixed part + its
 * text). Descriptors ride along with SCM_RIGHTS and are not part of the
 * bytes. Everything a peer sends is hostile input; rc_control_decode accepts
 * a datagram only if every rule below holds, and rc_control_encode produces
 * only datagrams that rc_control_decode accepts (the encoding is canonical:
 * encode(decode(d)) == d byte for byte; the fuzzer checks it).
 *
 *   datagram  = header (RC_CONTROL_HEADER_SIZE) + body (header.body_length)
 *   total     <= RC_CONTROL_MAX_SIZE
 *
 * All integers are little-endian and may sit at any alignment in a receive
 * buffer: the codec reads and writes them byte by byte, never through these
 * structs. The structs document the layout and pin it with the offset table
 * at the end of this file.
 *
 * Every field below states: writer -> reader, and the values allowed. A
 * reserved field must be zero; a receiver rejects the message otherwise, so
 * a later version can give it a meaning without being misread.
 *
 * Two version numbers, kept apart on purpose:
 *   header.version   RC_CONTROL_VERSION: how these bytes are laid out. A
 *                    receiver rejects any other value (a protocol violation).
 *   hello.version,   RC_PROTOCOL_VERSION: what the peers speak. Any non-zero
 *   welcome.version  value decodes, so a publisher can answer a connector of
 *                    another version with REFUSED(VERSION) instead of
 *                    dropping it. The header and the HELLO and REFUSED bodies
 *                    keep this layout in every future protocol version.
 *
 * User space only (the kernel module never speaks the control protocol).
 * Normative description of the handshake: docs/protocol.md.
 */
#ifndef RINGCAST_CONTROL_H
#define RINGCAST_CONTROL_H

#include "ringcast_layout.h"

typedef int32_t rc_s32;

#ifdef __cplusplus
extern "C" {
#endif

/* ---- identity and sizes ------------------------------------------------ */

#define RC_CONTROL_MAGIC       0x4c544352u /* "RCTL" little-endian                 */
#define RC_CONTROL_VERSION     1u          /* header.version                       */
#define RC_PROTOCOL_VERSION    1u          /* hello.version, welcome.version       */

#define RC_CONTROL_HEADER_SIZE 16u
#define RC_CONTROL_MAX_TEXT    200u        /* REFUSED text bytes (UTF-8)           */
#define RC_CONTROL_MAX_SIZE    512u        /* largest datagram either side accepts */

/* Body sizes; a header whose body_length differs is rejected. */
#define RC_CONTROL_HELLO_SIZE        16u
#define RC_CONTROL_WELCOME_SIZE      32u
#define RC_CONTROL_REFUSED_BASE_SIZE 8u    /* + refused.text_length              */
#define RC_CONTROL_DETACH_SIZE       0u
#define RC_CONTROL_REJOIN_SIZE       0u

/* ---- enumerations ------------------------------------------------------ */

enum rc_control_type {
	RC_CONTROL_HELLO = 1,    /* connector -> publisher, first message          */
	RC_CONTROL_WELCOME = 2,  /* publisher -> connector, with the ring's fds     */
	RC_CONTROL_REFUSED = 3,  /* publisher -> connector, then the publisher closes */
	RC_CONTROL_DETACH = 4,   /* subscriber -> publisher after attach: leaving   */
	RC_CONTROL_REJOIN = 5,   /* subscriber -> publisher after eviction          */
};
#define RC_CONTROL_TYPE_MAX RC_CONTROL_REJOIN

enum rc_control_role {
	RC_ROLE_SUBSCRIBE = 1,   /* a bus subscriber: ring, ack page, doorbells     */
	RC_ROLE_INSPECT = 2,     /* read-only look at the ring (ringcast stat)      */
	RC_ROLE_CHANNEL = 3,     /* one end of a point-to-point channel             */
};
#define RC_ROLE_MAX RC_ROLE_CHANNEL

enum rc_refuse_reason {
	RC_REFUSE_VERSION = 1,    /* hello.version is not ours                      */
	RC_REFUSE_ALLOW_LIST = 2, /* SO_PEERCRED uid/gid not allowed                */
	RC_REFUSE_FULL = 3,       /* no subscriber slot left                        */
	RC_REFUSE_QUOTA = 4,      /* this uid holds its maximum of slots            */
	RC_REFUSE_PROTOCOL = 5,   /* malformed or unexpected message                */
	RC_REFUSE_TIMEOUT = 6,    /* no hello within the handshake timeout          */
	RC_REFUSE_CLOSING = 7,    /* the bus is closing                             */
	RC_REFUSE_FLOOD = 8,      /* too many handshakes in progress: try again     */
	RC_REFUSE_BACKOFF = 9,    /* evicted (slow, protocol) repeatedly: the rejoin
	                           * or attach must wait; the text says how long.
	                           * A refused rejoin keeps the connection open.   */
};
#define RC_REFUSE_MAX RC_REFUSE_BACKOFF

/* ---- wire layout -------------------------------------------------------- */

/* Starts every datagram. Writer: the sender of the message. */
struct rc_control_header {
	rc_u32 magic;        /* 0x00 RC_CONTROL_MAGIC                                 */
	rc_u16 version;      /* 0x04 RC_CONTROL_VERSION                               */
	rc_u16 type;         /* 0x06 enum rc_control_type                             */
	rc_u32 body_length;  /* 0x08 bytes after the header: exactly the body size of
	                      *      the type (REFUSED: base size + text_length), and
	                      *      header + body is the whole datagram             */
	rc_u32 reserved;     /* 0x0c zero                                             */
};

/* RC_CONTROL_HELLO. Writer: the connector; reader: the publisher (or a
 * channel listener). */
struct rc_control_hello {
	rc_u32 version;      /* 0x00 RC_PROTOCOL_VERSION the connector speaks; any
	                      *      non-zero value (another one is refused with
	                      *      RC_REFUSE_VERSION, not dropped)                 */
	rc_u32 role;         /* 0x04 enum rc_control_role                             */
	rc_u64 reserved;     /* 0x08 zero                                             */
};

/* RC_CONTROL_WELCOME. Writer: the publisher; reader: the connector. Carries
 * descriptors (docs/protocol.md: ring, ack page, doorbells; inspect: ring). */
struct rc_control_welcome {
	rc_u32 version;      /* 0x00 RC_PROTOCOL_VERSION the publisher speaks, non-zero */
	rc_s32 slot;         /* 0x04 index in the slot
	                      *      table, 0 .. RC_MAX_SUBSCRIBERS-1; -1 for the
	                      *      inspect role (no slot)                          */
	rc_u64 generation;   /* 0x08 rc_slot.generation given at attach (inspect: 0)  */
	rc_u64 next_seq;     /* 0x10 the publisher's next message sequence number at
	                      *      attach (rc_publisher.messages): the first
	                      *      message this subscriber receives, or the one
	                      *      after it if that one was already partly
	                      *      written (its tail is skipped)                   */
	rc_u64 reserved;     /* 0x18 zero                                             */
};

/* RC_CONTROL_REFUSED. Writer: the publisher (or channel listener); reader:
 * the connector. The fixed part is followed by text_length bytes of text. */
struct rc_control_refused {
	rc_u32 reason;       /* 0x00 enum rc_refuse_reason                            */
	rc_u16 text_length;  /* 0x04 0 .. RC_CONTROL_MAX_TEXT                         */
	rc_u16 reserved;     /* 0x06 zero                                             */
	/* 0x08 text: well-formed UTF-8 (no overlong forms, no surrogates, nothing
	 *      above U+10FFFF) without NUL bytes; checked byte by byte, never
	 *      interpreted. Not NUL-terminated on the wire.                        */
};

/* RC_CONTROL_DETACH and RC_CONTROL_REJOIN have no body. */

/* ---- decoded form (host memory, not shared) ----------------------------- */

/* What rc_control_decode fills and rc_control_encode reads. Only the member
 * of `u` named by `type` is meaningful; decode zeroes the rest, so two
 * decoded messages compare equal with memcmp iff their datagrams are equal. */
struct rc_control_msg {
	rc_u32 type;                      /* enum rc_control_type                   */
	rc_u32 reserved;                  /* zero (padding made explicit)           */
	union {
		struct {
			rc_u32 version;           /* non-zero                                */
			rc_u32 role;              /* enum rc_control_role                    */
		} hello;
		struct {
			rc_u32 version;           /* non-zero                                */
			rc_s32 slot;              /* -1 .. RC_MAX_SUBSCRIBERS-1             */
			rc_u64 generation;
			rc_u64 next_seq;
		} welcome;
		struct {
			rc_u32 reason;            /* enum rc_refuse_reason                   */
			rc_u32 text_length;       /* 0 .. RC_CONTROL_MAX_TEXT                */
			char text[RC_CONTROL_MAX_TEXT + 1]; /* NUL-terminated after decode  */
		} refused;
	} u;
};

/* Decodes one whole datagram of `len` bytes. Returns RC_OK (0), RC_ETOOBIG
 * when len > RC_CONTROL_MAX_SIZE, or RC_EINVAL when any rule above is broken;
 * `out` is zeroed first and left zeroed on failure. */
int rc_control_decode(const void *buf, size_t len, struct rc_control_msg *out);

/* Encodes `msg` into `buf`. Returns the datagram length, RC_EINVAL when the
 * message breaks a rule decode would reject, or RC_ETOOBIG when it does not
 * fit in `cap` bytes (RC_CONTROL_MAX_SIZE always suffices). */
int rc_control_encode(const struct rc_control_msg *msg, void *buf, size_t cap);

/* ---- compile-time layout table ---------------------------------------- */

RC_ASSERT_OFFSET(rc_control_header, magic,       0x00);
RC_ASSERT_OFFSET(rc_control_header, version,     0x04);
RC_ASSERT_OFFSET(rc_control_header, type,        0x06);
RC_ASSERT_OFFSET(rc_control_header, body_length, 0x08);
RC_ASSERT_OFFSET(rc_control_header, reserved,    0x0c);
RC_STATIC_ASSERT(sizeof(struct rc_control_header) == RC_CONTROL_HEADER_SIZE, "control header size");

RC_ASSERT_OFFSET(rc_control_hello, version,  0x00);
RC_ASSERT_OFFSET(rc_control_hello, role,     0x04);
RC_ASSERT_OFFSET(rc_control_hello, reserved, 0x08);
RC_STATIC_ASSERT(sizeof(struct rc_control_hello) == RC_CONTROL_HELLO_SIZE, "hello body size");

RC_ASSERT_OFFSET(rc_control_welcome, version,    0x00);
RC_ASSERT_OFFSET(rc_control_welcome, slot,       0x04);
RC_ASSERT_OFFSET(rc_control_welcome, generation, 0x08);
RC_ASSERT_OFFSET(rc_control_welcome, next_seq,   0x10);
RC_ASSERT_OFFSET(rc_control_welcome, reserved,   0x18);
RC_STATIC_ASSERT(sizeof(struct rc_control_welcome) == RC_CONTROL_WELCOME_SIZE, "welcome body size");

RC_ASSERT_OFFSET(rc_control_refused, reason,      0x00);
RC_ASSERT_OFFSET(rc_control_refused, text_length, 0x04);
RC_ASSERT_OFFSET(rc_control_refused, reserved,    0x06);
RC_STATIC_ASSERT(sizeof(struct rc_control_refused) == RC_CONTROL_REFUSED_BASE_SIZE, "refused base size");

RC_STATIC_ASSERT(RC_CONTROL_HEADER_SIZE + RC_CONTROL_WELCOME_SIZE <= RC_CONTROL_MAX_SIZE, "welcome fits");
RC_STATIC_ASSERT(RC_CONTROL_HEADER_SIZE + RC_CONTROL_REFUSED_BASE_SIZE + RC_CONTROL_MAX_TEXT
		 <= RC_CONTROL_MAX_SIZE, "longest refused fits");
RC_STATIC_ASSERT(RC_CONTROL_MAX_TEXT <= 0xffffu, "text_length is 16 bits");
RC_STATIC_ASSERT(RC_MAX_SUBSCRIBERS <= 0x7fffffffu, "slot fits a signed 32-bit field");

#ifdef __cplusplus
}
#endif

#endif /* RINGCAST_CONTROL_H */
