/* SPDX-License-Identifier: MIT */
/*
 * The peers' view of the publisher's slot table in the ring (read-only for
 * them): where a slot's mirror is, and an eviction reason's name as the
 * test markers print it. Shared by the hostile peers and ringcast-xen.
 */
#ifndef SLOT_MIRROR_H
#define SLOT_MIRROR_H

#include <stdint.h>

#include "ringcast_layout.h"

static inline const struct rc_slot *mirror_of(const void *ring, uint32_t slot)
{
	return rc_ring_slot_const(ring, slot);
}

static inline const char *reason_name(uint32_t r)
{
	switch (r) {
	case RC_EVICT_SLOW: return "slow";
	case RC_EVICT_PROTOCOL: return "protocol";
	case RC_EVICT_DEAD: return "dead";
	case RC_EVICT_CLOSED: return "closed";
	default: return "none";
	}
}

#endif
