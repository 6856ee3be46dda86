/* SPDX-License-Identifier: MIT */
/*
 * Guest 1 of the VM test, phase 2: a static C subscriber on the ringcast C
 * core (native/src/core/ringcast.c + rc_ivshmem.c) attached through the
 * ringcast_ivshmem devices, woken by MSI-X doorbells.
 *
 *   rcvm-csub RING_DEV ACK_DEV DOORBELL_DEV COUNT_A
 *
 * Checks every message of phase2-host.mjs's stream (sequence in order, body
 * checksum) and prints "RCVM ok c-subscriber-stream-a" once COUNT_A arrived;
 * then keeps reading until the publisher closes (or the harness kills this
 * VM, which is the point of the test).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_ivshmem.h"

#define MAX_RECORDS 64

static uint32_t fnv1a32(const uint8_t *p, size_t n)
{
	uint32_t h = 0x811c9dc5u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x01000193u;
	return h;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

int main(int argc, char **argv)
{
	static struct rc_ivshmem_guest g;
	static uint8_t out[1 << 20];
	struct rc_entry entries[MAX_RECORDS];
	uint64_t expected = 0, count_a, wakeups = 0;
	int r;

	if (argc != 5) {
		fprintf(stderr, "usage: rcvm-csub RING_DEV ACK_DEV DOORBELL_DEV COUNT_A\n");
		return 2;
	}
	count_a = strtoull(argv[4], NULL, 10);
	setvbuf(stdout, NULL, _IOLBF, 0);

	r = rc_ivshmem_guest_open_devices(&g, argv[1], argv[2], argv[3]);
	if (r) {
		printf("RCVM FAIL c-subscriber-open: %d (%s)\n", r, r < 0 ? strerror(-r) : rc_status_name(r));
		return 1;
	}
	r = rc_ivshmem_guest_join(&g, 120000);
	if (r != RC_OK) {
		printf("RCVM FAIL c-subscriber-join: %d verdict %u\n", r, g.last_verdict);
		return 1;
	}
	printf("RCVM ok c-subscriber-joined (slot %u)\n", g.sub.slot);
	for (;;) {
		int n = rc_sub_read(&g.sub, out, sizeof(out), entries, MAX_RECORDS);

		rc_sub_heartbeat(&g.sub);
		if (n == 0) {
			r = rc_ivshmem_guest_wait(&g, 1000);
			if (r < 0) {
				printf("RCVM FAIL c-subscriber-wait: %s\n", strerror(-r));
				return 1;
			}
			wakeups += (uint64_t)r;
			continue;
		}
		if (n == RC_ECLOSED) {
			printf("RCVM ok c-subscriber-saw-close after %llu messages\n", (unsigned long long)expected);
			break;
		}
		if (n < 0) {
			printf("RCVM FAIL c-subscriber-read: %s at message %llu\n", rc_status_name(n),
			       (unsigned long long)expected);
			return 1;
		}
		for (int i = 0; i < n; i++) {
			const uint8_t *m = out + entries[i].offset;
			uint32_t len = entries[i].length, body;

			if (entries[i].flags != (RC_FRAG_FIRST | RC_FRAG_LAST) || len < 16 ||
			    le64(m) != expected || (body = le32(m + 8)) != len - 16 ||
			    fnv1a32(m, 12 + body) != le32(m + 12 + body)) {
				printf("RCVM FAIL c-subscriber-message: expected seq %llu, got seq %llu len %u flags %u\n",
				       (unsigned long long)expected, len >= 8 ? (unsigned long long)le64(m) : 0ULL, len,
				       entries[i].flags);
				return 1;
			}
			expected++;
			if (expected == count_a)
				printf("RCVM ok c-subscriber-stream-a %llu messages in order, checksums good "
				       "(%llu doorbell wake-ups)\n", (unsigned long long)count_a,
				       (unsigned long long)wakeups);
		}
	}
	rc_ivshmem_guest_close(&g);
	return 0;
}
