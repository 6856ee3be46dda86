// SPDX-License-Identifier: MIT
/*
 * The manual rendezvous line is handed between domains by people or
 * scripts: rc_xen_manual_parse must take exactly what
 * rc_xen_pub_manual_line writes and refuse everything else with -EINVAL
 * (never overrun its ref array, never accept a ring the subscriber would
 * then map with the wrong size). The line carries the refs of the ring's
 * index pages (one per RC_XEN_REFS_PER_INDEX_PAGE ring pages), so it stays
 * short for the largest ring. Runs on the host, no Xen needed; built and
 * run by test/xen/run.sh. Prints "ok ..." per case, exits 1 on failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_xen.h"

static int failures;

static void check(int cond, const char *what)
{
	printf("%s - %s\n", cond ? "ok" : "FAIL", what);
	if (!cond)
		failures++;
}

static void refused(const char *line, const char *what)
{
	struct rc_xen_manual m;

	check(rc_xen_manual_parse(line, &m) == -EINVAL, what);
}

int main(void)
{
	static struct rc_xen_pub xp;
	static struct rc_xen_domain domain;
	static char line[RC_XEN_MANUAL_LINE_MAX], big[RC_XEN_MAX_RING_PAGES * 11 + 96];
	struct rc_xen_manual m;
	size_t used;

	/* A receiver domain as rc_xen_pub_open leaves it, without the devices:
	 * its slot 1 is the ring's slot 5. */
	domain.domid = 7;
	xp.pub.capacity = RC_XEN_MAX_CAPACITY;
	xp.ring_pages = (uint32_t)(rc_ring_size(xp.pub.capacity) / RC_PAGE_SIZE);
	domain.index_pages = RC_XEN_INDEX_PAGES(xp.ring_pages);
	for (uint32_t i = 0; i < domain.index_pages; i++)
		domain.index_refs[i] = 4000000000u - i;
	domain.slots = 2;
	domain.slot[1].ack_grant = RC_XEN_ACK_BY_PUBLISHER;
	domain.slot[1].ring_slot = 5;
	domain.slot[1].port = 33;
	domain.slot[1].ack_ref = 123;
	domain.slot[0].ack_grant = RC_XEN_ACK_BY_SUBSCRIBER;
	xp.domains = 1;
	xp.domain[0] = &domain;

	check(domain.index_pages == 5 && RC_XEN_MAX_INDEX_PAGES == 5,
	      "the largest ring (16 MiB + the descriptor: 4098 pages) needs 5 index pages");
	check(rc_xen_pub_manual_line(&xp, 0, 1, line, sizeof(line)) == 0,
	      "the publisher writes the largest ring's line within RC_XEN_MANUAL_LINE_MAX");
	check(rc_xen_manual_parse(line, &m) == 0 && m.domid == 7 && m.slot == 5 && m.port == 33 &&
		      m.ack_ref == 123 && m.ring_size == rc_ring_size(xp.pub.capacity) &&
		      m.index_pages == domain.index_pages && m.index_refs[4] == 4000000000u - 4,
	      "the subscriber reads back every field, the ring slot and the index refs among them");
	check(rc_xen_pub_manual_line(&xp, 0, 0, line, sizeof(line)) == -EINVAL,
	      "no line for a slot whose ack page the subscriber grants (XenStore only)");
	check(rc_xen_pub_manual_line(&xp, 1, 0, line, sizeof(line)) == -EINVAL,
	      "no line for a receiver domain that is not there");

	refused("", "empty line");
	refused("7 1 33 123", "too few fields");
	refused("7 1 33 123 73728", "no refs");
	refused("7 1 x 123 73728 1 2", "a field that is not a number");
	refused("7 1 -1 123 73728 1 2", "a negative field");
	refused("7 1 33 123 73728 1 99999999999", "a ref beyond 32 bits");
	refused("32752 1 33 123 73728 1", "a domain id beyond DOMID_FIRST_RESERVED");
	refused("7 64 33 123 73728 1", "a slot beyond the ring's slot table");
	refused("7 1 33 123 73728 1 2", "ring size and index ref count disagree (18 pages: one index page)");
	refused("7 1 33 123 4202496 1 2 3 4", "a 4 MiB ring with 4 index pages instead of 2");
	check(rc_xen_manual_parse("7 1 33 123 4202496 1 2", &m) == 0 && m.index_pages == 2,
	      "a 4 MiB ring (1026 pages) with its 2 index pages");
	refused("7 1 33 123 33562624 1 2 3 4 5 6 7 8 9", "a ring above RC_XEN_MAX_CAPACITY (32 MiB, 8194 pages, 9 index pages)");
	refused("7 1 33 123 4096 1", "a ring without a data area");
	refused("7 1 33 123 77824 1", "a data area that is not a power of two (19 pages, one index page)");

	/* A ref per ring page (the line before index pages), and a line longer
	 * than any valid one: refused, nothing written past the ref array. */
	used = (size_t)snprintf(big, sizeof(big), "7 1 33 123 %u", (unsigned)rc_ring_size(RC_XEN_MAX_CAPACITY));
	for (uint32_t i = 0; i < RC_XEN_MAX_RING_PAGES && used < sizeof(big) - 12; i++)
		used += (size_t)snprintf(big + used, sizeof(big) - used, " %u", i);
	refused(big, "more refs than index pages of the largest ring");
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	refused(big, "an overlong line");

	printf("%s\n", failures ? "test_manual_line: FAILED" : "test_manual_line: all ok");
	return failures ? 1 : 0;
}
