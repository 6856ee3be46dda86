// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the control-message decoder, on arbitrary bytes.
 *
 * What must hold, whatever the bytes:
 *   - no crash, no read outside the datagram (libFuzzer hands over a heap
 *     block of exactly `size` bytes; AddressSanitizer watches it);
 *   - only RC_OK, RC_EINVAL or RC_ETOOBIG (exactly when size exceeds
 *     RC_CONTROL_MAX_SIZE), and a rejected message leaves `out` all zero;
 *   - an accepted message is canonical: it encodes back to exactly the same
 *     bytes, and decoding those gives the same message;
 *   - a decoded REFUSED text is NUL-terminated at text_length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "ringcast.h"
#include "ringcast_control.h"

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rc_control_msg msg, again;
	uint8_t wire[RC_CONTROL_MAX_SIZE];
	int r, len;

	memset(&msg, 0xa5, sizeof(msg));
	r = rc_control_decode(data, size, &msg);
	if (r != RC_OK) {
		FUZZ_CHECK(r == (size > RC_CONTROL_MAX_SIZE ? RC_ETOOBIG : RC_EINVAL));
		FUZZ_CHECK(all_zero(&msg, sizeof(msg)));
		return 0;
	}
	FUZZ_CHECK(size >= RC_CONTROL_HEADER_SIZE && size <= RC_CONTROL_MAX_SIZE);
	FUZZ_CHECK(msg.type >= RC_CONTROL_HELLO && msg.type <= RC_CONTROL_TYPE_MAX);
	if (msg.type == RC_CONTROL_REFUSED) {
		FUZZ_CHECK(msg.u.refused.text_length <= RC_CONTROL_MAX_TEXT);
		FUZZ_CHECK(strlen(msg.u.refused.text) == msg.u.refused.text_length);
	}

	len = rc_control_encode(&msg, wire, sizeof(wire));
	FUZZ_CHECK(len >= 0 && (size_t)len == size);
	FUZZ_CHECK(memcmp(wire, data, size) == 0);
	/* and it does not need a byte more than it says */
	FUZZ_CHECK(rc_control_encode(&msg, wire, size - 1) == RC_ETOOBIG);

	memset(&again, 0x5a, sizeof(again));
	FUZZ_CHECK(rc_control_decode(wire, (size_t)len, &again) == RC_OK);
	FUZZ_CHECK(memcmp(&again, &msg, sizeof(msg)) == 0);
	return 0;
}
