// SPDX-License-Identifier: MIT
/*
 * The Xen publisher's side of the shared join handshake (rc_xen_pub_service
 * on rc_join.c), on the host: no Xen. A publisher struct is put together by
 * hand as rc_xen_pub_open would leave it for one receiver domain whose ack
 * page the publisher allocated; the event-channel device is an empty pipe
 * (nothing pending, every notify fails harmlessly), there is no XenStore.
 * The subscriber's side writes its requests with rc_join_ask, as
 * rc_xen_sub_join does. What Xen adds on top of rc_join.c is checked here:
 * the domain id as the only acceptable peer, the `mapped` byte as death, the
 * back-off, the events the binding reports.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "rc_xen.h"
#include "rc_test.h"

#define DOMID 7u

struct xbus {
	struct rc_xen_pub xp;
	struct rc_xen_domain domain;
	uint8_t *ring;
	struct rc_ack_page *page;
	int pipe_fds[2];
};

static void xbus_open(struct xbus *b)
{
	memset(b, 0, sizeof(*b));
	b->ring = rc_test_ring(RC_TEST_CAPACITY, 0, RC_POLICY_BLOCK);
	b->page = rc_test_ack_page();
	CHECK(pipe2(b->pipe_fds, O_NONBLOCK | O_CLOEXEC) == 0);
	b->xp.dev.gntalloc_fd = b->xp.dev.gntdev_fd = -1;
	b->xp.dev.evtchn_fd = b->pipe_fds[0];
	b->xp.ring = b->ring;
	CHECK_STATUS(rc_pub_init(&b->xp.pub, b->ring, rc_ring_size(RC_TEST_CAPACITY)), RC_OK);
	b->xp.pub.ring_doorbell = rc_xen_ring_doorbell;
	b->xp.pub.ring_doorbell_ctx = &b->xp.dev;
	b->domain.domid = DOMID;
	b->domain.slots = 1;
	b->domain.slot[0].used = true;
	b->domain.slot[0].ring_slot = 0;
	b->domain.slot[0].ack_grant = RC_XEN_ACK_BY_PUBLISHER;
	b->domain.slot[0].port = 5;
	b->domain.slot[0].ack = b->page;
	rc_ack_page_format(b->page, &b->xp.pub, 0, 0);
	b->xp.domains = 1;
	b->xp.domain[0] = &b->domain;
}

static void xbus_close(struct xbus *b)
{
	close(b->pipe_fds[0]);
	close(b->pipe_fds[1]);
	free(b->page);
	free(b->ring);
}

/* One request from the receiver domain, one service pass: the one event it
 * caused, and the verdict answered. */
static uint32_t ask(struct xbus *b, uint32_t peer, uint32_t want_kind, uint32_t *verdict)
{
	uint64_t generation;
	uint32_t request = rc_join_ask(b->page, b->ring, 0, peer, true);

	CHECK_EQ(rc_xen_pub_service(&b->xp, 0), 1);
	CHECK_EQ(b->xp.event[0].kind, want_kind);
	CHECK_STATUS(rc_join_answered(b->ring, 0, request, verdict, &generation), RC_OK);
	return request;
}

static void joins_are_the_domains_own_and_leave_frees(void)
{
	struct xbus b;
	uint32_t verdict;

	xbus_open(&b);
	ask(&b, DOMID + 1, RC_XEN_EVENT_REFUSED, &verdict);
	CHECK_EQ(verdict, RC_JOIN_BAD_PEER);
	ask(&b, DOMID, RC_XEN_EVENT_JOINED, &verdict);
	CHECK_EQ(verdict, RC_JOIN_ACCEPTED);
	CHECK_EQ(rc_test_mirror(&b.xp.pub, 0)->state, RC_SLOT_ACTIVE);
	CHECK_EQ(b.xp.pub.slots[0].doorbell_fd, 5);
	CHECK_EQ(rc_xen_pub_service(&b.xp, 0), 0); /* nothing new */
	ask(&b, RC_JOIN_LEAVE, RC_XEN_EVENT_LEFT, &verdict);
	CHECK_EQ(verdict, RC_JOIN_LEFT);
	CHECK_EQ(rc_test_mirror(&b.xp.pub, 0)->state, RC_SLOT_FREE);
	CHECK_EQ(rc_test_mirror(&b.xp.pub, 0)->evict_reason, RC_EVICT_CLOSED);
	xbus_close(&b);
}

static void a_cleared_mapped_byte_is_a_death(void)
{
	struct xbus b;
	uint32_t verdict;

	xbus_open(&b);
	ask(&b, DOMID, RC_XEN_EVENT_JOINED, &verdict);
	b.page->mapped = 0; /* its kernel's unmap notification */
	CHECK_EQ(rc_xen_pub_service(&b.xp, 0), 1);
	CHECK_EQ(b.xp.event[0].kind, RC_XEN_EVENT_DEAD);
	CHECK_EQ(b.xp.event[0].death, RC_XEN_DEATH_UNMAP);
	CHECK_EQ(b.domain.slot[0].death, RC_XEN_DEATH_UNMAP);
	CHECK_EQ(rc_test_mirror(&b.xp.pub, 0)->state, RC_SLOT_FREE);
	CHECK_EQ(rc_test_mirror(&b.xp.pub, 0)->evict_reason, RC_EVICT_DEAD);
	CHECK_EQ(rc_test_mirror(&b.xp.pub, 0)->evictions, 1);
	CHECK_EQ(rc_xen_pub_service(&b.xp, 0), 0); /* once */
	xbus_close(&b);
}

/* The back-off ivshmem guests had, now for receiver domains as well. */
static void a_domain_evicted_repeatedly_is_answered_backoff(void)
{
	struct xbus b;
	uint32_t verdict;

	xbus_open(&b);
	ask(&b, DOMID, RC_XEN_EVENT_JOINED, &verdict);
	rc_pub_evict(&b.xp.pub, 0, RC_EVICT_SLOW);
	rc_xen_pub_backoff(&b.xp, 0, 600000);
	ask(&b, DOMID, RC_XEN_EVENT_REFUSED, &verdict);
	CHECK_EQ(verdict, RC_JOIN_BACKOFF);
	CHECK_EQ(rc_test_mirror(&b.xp.pub, 0)->state, RC_SLOT_EVICTED); /* as it was */
	/* A ring slot no domain slot has: nothing happens. */
	rc_xen_pub_backoff(&b.xp, 9, 0);
	ask(&b, DOMID, RC_XEN_EVENT_REFUSED, &verdict);
	CHECK_EQ(verdict, RC_JOIN_BACKOFF);
	/* Lifted: the next join is accepted. */
	rc_xen_pub_backoff(&b.xp, 0, 0);
	ask(&b, DOMID, RC_XEN_EVENT_JOINED, &verdict);
	CHECK_EQ(verdict, RC_JOIN_ACCEPTED);
	xbus_close(&b);
}

int main(void)
{
	RUN(joins_are_the_domains_own_and_leave_frees);
	RUN(a_cleared_mapped_byte_is_a_death);
	RUN(a_domain_evicted_repeatedly_is_answered_backoff);
	return rc_test_done("xen join");
}
