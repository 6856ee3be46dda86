/* SPDX-License-Identifier: MIT */
/*
 * The Xen region provider: a bus whose publisher runs in one Xen domain and
 * whose subscribers run in other domains (domUs or dom0), over grant tables
 * and interdomain event channels: the publisher's ring comes from the
 * ringcast grant device (kmod/ringcast_xengrant.h), everything else from the
 * Linux devices /dev/xen/gntalloc, /dev/xen/gntdev and /dev/xen/evtchn. Rendezvous through
 * XenStore (rc_xenstore.h, spoken directly: no library), or by hand. Plain
 * C, no Node; links with ringcast.c and rc_xenstore.c. docs/xen.md is the
 * normative description; functions return 0 / a count, or -errno (system
 * errors) / RC_* (protocol verdicts).
 *
 * The shape of a Xen bus:
 *   - ONE ring, allocated once by the grant device in the publisher's
 *     domain and granted read-only to every receiver domain (one grant
 *     reference per page per domain): each message is written once,
 *     whatever the number of receiver domains. gntalloc alone could not:
 *     it grants only pages it allocates, each allocation to one domain.
 *   - ring slot i (of RC_MAX_SUBSCRIBERS) is the i-th entry of the
 *     publisher's receiver list; within its domain it is "slot s", the
 *     s-th entry naming that domain (XenStore paths and the API use that).
 *   - each subscriber's ack page is the only page it can write. Who
 *     allocates it is a choice (enum rc_xen_ack_grant), see docs/xen.md for
 *     who can then exhaust whose memory and how that is bounded.
 *   - one interdomain event channel per subscriber carries both doorbells
 *     (publisher -> subscriber: data / eviction / close; subscriber ->
 *     publisher: join request, ack while the publisher waits, and the
 *     subscriber's death: the unmap notification of its ack page mapping).
 *
 * XenStore (P = publisher domain, D = receiver domain, s = D's slot s):
 *   /local/domain/P/data/ringcast/BUS/D/ring-index  "i0 i1 ..." the refs of D's
 *                   index pages: read-only pages granted to D alone that hold
 *                   the ring's refs for D (u32 each, page order)   (read: D)
 *   /local/domain/P/data/ringcast/BUS/D/ring-size   bytes        (read: D)
 *   /local/domain/P/data/ringcast/BUS/D/s/ring-slot its slot in the ring
 *   /local/domain/P/data/ringcast/BUS/D/s/ack-ref   ack by publisher only
 *   /local/domain/P/data/ringcast/BUS/D/s/port      P's port, written last
 *   /local/domain/D/data/ringcast/BUS/P/s/ack-ref   ack by subscriber only (read: P)
 *   /local/domain/D/data/ringcast/BUS/P/s/alive     "1" while attached (read: P);
 *                   its removal (xl destroy removes /local/domain/D) is
 *                   one of the publisher's death signals
 * Every node is owned by its writer with no access for others, plus read
 * for the one intended domain (dom0 reads everything anyway).
 */
#ifndef RC_XEN_H
#define RC_XEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_join.h"
#include "ringcast.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rc_xs; /* rc_xenstore.h */

#define RC_XEN_MAX_DOMAINS       8u  /* receiver domains per bus            */
#define RC_XEN_MAX_DOMAIN_SLOTS  8u  /* subscribers per receiver domain     */
/* A data area of at most 16 MiB: the grant device's default max_pages
 * (4098: the descriptor's 2 pages + 4096). A domain's refs for the ring do
 * not travel in XenStore (one value holds 4096 bytes at most, a domU's
 * xenstored quota 2048: about 1 MiB of ring) but in index pages, as
 * blkfront's indirect descriptors do: read-only pages granted to that
 * domain alone, RC_XEN_REFS_PER_INDEX_PAGE refs each, whose own refs (at
 * most RC_XEN_MAX_INDEX_PAGES) are what XenStore or the manual line carry. */
#define RC_XEN_MAX_CAPACITY    (16u << 20)
#define RC_XEN_MAX_RING_PAGES  ((RC_DESC_SIZE + RC_XEN_MAX_CAPACITY) / RC_PAGE_SIZE)
#define RC_XEN_REFS_PER_INDEX_PAGE (RC_PAGE_SIZE / 4u)
#define RC_XEN_INDEX_PAGES(ring_pages) (((ring_pages) + RC_XEN_REFS_PER_INDEX_PAGE - 1) / RC_XEN_REFS_PER_INDEX_PAGE)
#define RC_XEN_MAX_INDEX_PAGES RC_XEN_INDEX_PAGES(RC_XEN_MAX_RING_PAGES)
/* A manual line: five numbers and the index refs, each at most 10 digits. */
#define RC_XEN_MANUAL_LINE_MAX (16u + (5u + RC_XEN_MAX_INDEX_PAGES) * 11u)
#define RC_XEN_BUS_NAME_MAX    32u   /* [A-Za-z0-9_-]                        */
/* How often XenStore is read for a subscriber's `alive` node (and a
 * subscriber waits for the publisher's nodes): polled, not watched. */
#define RC_XEN_ALIVE_POLL_MS   200u

enum rc_xen_ack_grant {
	/* The subscriber's domain allocates its ack page (gntalloc) and grants
	 * it to the publisher's domain: the less-trusted side shares, the
	 * publisher maps (the paper's direction when subscribers are the
	 * less-trusted parties). */
	RC_XEN_ACK_BY_SUBSCRIBER = 1,
	/* The publisher allocates it and grants it writable to the subscriber's
	 * domain, which maps it: nothing of the publisher's depends on memory
	 * the subscriber owns. Also the only mode of manual rendezvous. */
	RC_XEN_ACK_BY_PUBLISHER = 2,
};

/* How the publisher learned that a subscriber died. */
enum rc_xen_death {
	RC_XEN_DEATH_NONE = 0,
	RC_XEN_DEATH_UNMAP = 1,      /* the `mapped` byte of its ack page went to 0 */
	RC_XEN_DEATH_XENSTORE = 2,   /* its `alive` node vanished (domain destroyed) */
	RC_XEN_DEATH_HEARTBEAT = 3,  /* its heartbeat stopped                     */
};

struct rc_xen_devices {
	int gntalloc_fd;   /* -1 if not opened (not needed)  */
	int gntdev_fd;
	int evtchn_fd;     /* non-blocking                   */
};

/* ---- thin wrappers over the Linux devices (exposed for tests/tools) ----- */

int rc_xen_devices_open(struct rc_xen_devices *dev);
/* This domain's id, from XenStore ("domid"; 0 in a dom0 that has not written
 * its own node yet): a channel end names its ring by it before it publishes. */
int rc_xen_own_domid(uint16_t *domid);
void rc_xen_devices_close(struct rc_xen_devices *dev);
/* Allocates `count` zeroed pages, grants them to `domid` (read-only unless
 * writable), maps them here read-write. refs[count] receives the refs. */
int rc_xen_grant_alloc(const struct rc_xen_devices *dev, uint16_t domid, bool writable, uint32_t count,
		       uint32_t *refs, uint64_t *index, void **addr);
int rc_xen_grant_free(const struct rc_xen_devices *dev, uint64_t index, uint32_t count, void *addr);
/* Maps `count` refs granted by `domid` (read-only unless writable). */
int rc_xen_grant_map(const struct rc_xen_devices *dev, uint16_t domid, const uint32_t *refs, uint32_t count,
		     bool writable, uint64_t *index, void **addr);
int rc_xen_grant_unmap(const struct rc_xen_devices *dev, uint64_t index, uint32_t count, void *addr);
/* Asks the kernel to zero byte `offset` of the page at `index` (device
 * gntalloc if `allocated`, else gntdev) and to notify local `port` when this
 * side's mapping goes away, also when the process dies. */
int rc_xen_unmap_notify(const struct rc_xen_devices *dev, bool allocated, uint64_t index, uint32_t offset,
			uint32_t port);
int rc_xen_evtchn_unbound(const struct rc_xen_devices *dev, uint16_t remote_domid);       /* port */
int rc_xen_evtchn_bind(const struct rc_xen_devices *dev, uint16_t remote_domid, uint32_t remote_port);
int rc_xen_evtchn_notify(const struct rc_xen_devices *dev, uint32_t port);
/* Reads pending ports (non-blocking) and unmasks them; returns a count. */
int rc_xen_evtchn_pending(const struct rc_xen_devices *dev, uint32_t *ports, int max);
/* The core's doorbell hook: `ctx` is a struct rc_xen_devices. */
void rc_xen_ring_doorbell(void *ctx, int port);

/* ---- publisher ---------------------------------------------------------- */

struct rc_xen_receiver {
	uint16_t domid;
	uint32_t ack_grant;   /* enum rc_xen_ack_grant */
};

struct rc_xen_pub_slot {
	bool used;
	uint32_t ring_slot;            /* its index in the ring's slot table    */
	uint32_t ack_grant;
	uint32_t port;                 /* our end of the subscriber's channel  */
	void *ack;                     /* the ack page (RW), NULL until known   */
	uint64_t ack_index;
	uint32_t ack_ref;              /* the ref of the page (ours, or mapped) */
	bool alive_seen;               /* its XenStore `alive` node was read    */
	uint32_t death;                /* enum rc_xen_death of the last death   */
	struct rc_join_slot join;      /* the shared handshake's state (rc_join.h):
	                                * requests seen, `mapped` at the join,
	                                * back-off, stats                        */
};

/* A receiver domain: the ring's grant references for it, the index pages
 * that hand them over, and its slots. */
struct rc_xen_domain {
	uint16_t domid;
	uint32_t ring_refs[RC_XEN_MAX_RING_PAGES];
	uint32_t index_refs[RC_XEN_MAX_INDEX_PAGES];
	uint32_t index_pages;
	uint64_t index_index;          /* gntalloc's offset of the index pages  */
	void *index;                   /* the index pages, mapped here (RW)     */
	uint32_t slots;
	struct rc_xen_pub_slot slot[RC_XEN_MAX_DOMAIN_SLOTS];
};

enum rc_xen_event_kind {
	RC_XEN_EVENT_JOINED = 1,   /* a join request was accepted             */
	RC_XEN_EVENT_LEFT = 2,     /* a leave request freed the slot (CLOSED)  */
	RC_XEN_EVENT_DEAD = 3,     /* the slot was freed, reason DEAD          */
	RC_XEN_EVENT_REFUSED = 4,  /* a join request was refused (verdict in the
	                            * ring's join answer table)               */
};

struct rc_xen_pub_event {
	uint32_t domain, slot;        /* xp->domain[domain]->slot[slot]         */
	uint32_t kind;        /* enum rc_xen_event_kind               */
	uint32_t death;       /* enum rc_xen_death (RC_XEN_EVENT_DEAD) */
};

struct rc_xen_pub {
	struct rc_xen_devices dev;
	struct rc_xs *xs;              /* NULL: manual rendezvous            */
	uint16_t own_domid;
	char bus[RC_XEN_BUS_NAME_MAX + 1];
	uint64_t heartbeat_timeout_ms; /* 0: no heartbeat checks             */
	uint64_t alive_checked_ms;     /* when XenStore was last read        */
	int grant_fd;                  /* /dev/ringcast-xengrant: the ring    */
	void *ring;                    /* mapped writable, RC_PAGE_SIZE * ring_pages */
	uint32_t ring_pages;
	struct rc_publisher pub;       /* the one ring, read by every domain  */
	uint32_t domains;
	struct rc_xen_domain *domain[RC_XEN_MAX_DOMAINS];
	/* events since the caller last looked (rc_xen_pub_service fills) */
	const char *failed_step;       /* what rc_xen_pub_open was doing when it failed */
	uint32_t events;
	struct rc_xen_pub_event event[2 * RC_MAX_SUBSCRIBERS];
};

/* Allocates the ring through the grant device (ENOENT: the module is not
 * loaded), formats it with `features` (RC_FEATURE_*: a republishing bridge's
 * RC_FEATURE_ENVELOPE, which every subscriber's core reads), grants it read-only to each distinct receiver domain (one slot
 * per entry, ring slot i for entry i), makes the event channels (each also
 * notified by the device if we die) and the ack pages allocated on our
 * side, and publishes all of it in XenStore (use_xenstore) where only the
 * intended domain may read it. */
int rc_xen_pub_open(struct rc_xen_pub *xp, const char *bus, uint64_t capacity, uint32_t policy, uint32_t features,
		    const struct rc_xen_receiver *receivers, uint32_t count, bool use_xenstore);
/* Manual rendezvous: one line per slot to hand to its subscriber
 * ("DOMID RING-SLOT PORT ACK-REF RING-SIZE INDEX-REF...", at most
 * RC_XEN_MANUAL_LINE_MAX bytes), the paper's way. */
int rc_xen_pub_manual_line(const struct rc_xen_pub *xp, uint32_t domain, uint32_t slot, char *out, size_t cap);
/* Serves join/leave requests and detects deaths, sleeping up to timeout_ms
 * for an event channel or XenStore watch. Returns the number of new events
 * in xp->event (reset at each call) or -errno. */
int rc_xen_pub_service(struct rc_xen_pub *xp, int timeout_ms);
/* Offers one message to the ring unless *done_mask says it has it (bit 0),
 * and commits it. RC_OK when written, RC_EAGAIN when there is no room (call
 * rc_xen_pub_service, then again with the same mask). */
int rc_xen_pub_send(struct rc_xen_pub *xp, const void *data, uint64_t len, uint32_t *done_mask);
/* rc_xen_pub_send without the commit: a batch offers each message, then
 * commits once (one head store, one doorbell pass), and must commit before
 * it waits for room. */
int rc_xen_pub_offer(struct rc_xen_pub *xp, const void *data, uint64_t len, uint32_t *done_mask);
void rc_xen_pub_commit(struct rc_xen_pub *xp);
/* Announces that the publisher sleeps for room (unless done_mask has it). */
bool rc_xen_pub_prepare_wait(struct rc_xen_pub *xp, uint64_t len, uint32_t done_mask);
void rc_xen_pub_end_wait(struct rc_xen_pub *xp);
uint32_t rc_xen_pub_attached(const struct rc_xen_pub *xp);
/* The subscriber in ring slot `ring_slot` was evicted (slow, protocol)
 * repeatedly: its joins for the next `wait_ms` are answered RC_JOIN_BACKOFF
 * (the publisher's rejoinBackoffMs, as for ivshmem guests). */
void rc_xen_pub_backoff(struct rc_xen_pub *xp, uint32_t ring_slot, uint32_t wait_ms);
void rc_xen_pub_close(struct rc_xen_pub *xp);  /* orderly: CLOSED */
void rc_xen_pub_destroy(struct rc_xen_pub *xp); /* frees the ring (grants end), ports, XenStore nodes */

/* ---- subscriber --------------------------------------------------------- */

/* What a subscriber needs to map the bus: from XenStore, or a manual line. */
struct rc_xen_manual {
	uint16_t domid;       /* the receiver domain the line is for: ours      */
	uint32_t slot;        /* the ring slot                                  */
	uint32_t port;
	uint32_t ack_ref;
	uint64_t ring_size;
	uint32_t index_pages; /* RC_XEN_INDEX_PAGES(ring_size / RC_PAGE_SIZE)   */
	uint32_t index_refs[RC_XEN_MAX_INDEX_PAGES];
};

struct rc_xen_sub {
	struct rc_xen_devices dev;
	struct rc_xs *xs;              /* NULL: manual rendezvous            */
	uint16_t own_domid, pub_domid;
	uint32_t slot;                 /* our domain's slot (XenStore paths)  */
	uint32_t ring_slot;            /* its index in the ring's slot table  */
	uint32_t ack_grant;
	char bus[RC_XEN_BUS_NAME_MAX + 1];
	void *ring;
	uint64_t ring_size, ring_index;
	uint32_t ring_pages;
	void *ack;
	uint64_t ack_index;
	uint32_t port;                 /* our end, bound to the publisher's    */
	uint32_t join_request;
	uint32_t last_verdict;
	bool joined;
	const char *failed_step;       /* what rc_xen_sub_open was doing when it failed */
	struct rc_subscriber sub;
};

/* Looks the bus up in XenStore (waiting up to timeout_ms for the publisher
 * to publish it), or takes `manual` (then its domid and slot are ours, and
 * `slot` is ignored); maps the ring read-only, binds the event channel, sets
 * up the ack page and its unmap notification. */
int rc_xen_sub_open(struct rc_xen_sub *xs, const char *bus, uint16_t pub_domid, uint32_t slot,
		    const struct rc_xen_manual *manual, int timeout_ms);
/* Parses a line of rc_xen_pub_manual_line; -EINVAL for anything else. */
int rc_xen_manual_parse(const char *line, struct rc_xen_manual *out);
/* The shared-memory join handshake of docs/protocol.md (the ivshmem one):
 * RC_OK and xs->sub ready; RC_EINVAL with last_verdict; -ETIMEDOUT. */
int rc_xen_sub_join(struct rc_xen_sub *xs, int timeout_ms);
/* Sleeps on the event channel (announcing the sleep first). 1 woken or
 * something to read, 0 timeout, -EPIPE if the publisher's mapping went
 * away (its kernel cleared publisher_state), -errno. */
int rc_xen_sub_wait(struct rc_xen_sub *xs, int timeout_ms);
/* Gives the slot back (join request RC_JOIN_LEAVE) and waits up to
 * timeout_ms for the answer (RC_OK when LEFT; 0 = do not wait). */
int rc_xen_sub_leave(struct rc_xen_sub *xs, int timeout_ms);
void rc_xen_sub_close(struct rc_xen_sub *xs);

/* ---- view: a read-only look from a receiver domain (`ringcast stat`) ---- */

/* What a subscriber looks up and maps, minus the join: no slot is taken,
 * nothing is written (no ack page, no XenStore node), no event channel is
 * bound. Only the descriptor (RC_DESC_SIZE: the header, the slot table the
 * publisher mirrors, the join answers) is mapped. */
struct rc_xen_view {
	struct rc_xen_devices dev;
	uint16_t own_domid, pub_domid;
	uint64_t ring_size;            /* the whole ring, as its publisher states it */
	void *desc;                    /* the descriptor, mapped PROT_READ           */
	uint64_t desc_index;
	uint32_t slots;                /* this domain's slots (XenStore ring-slot)   */
	uint32_t ring_slot[RC_XEN_MAX_DOMAIN_SLOTS]; /* their indexes in the slot table */
	const char *failed_step;       /* what rc_xen_view_open was doing when it failed */
};

/* -EXDEV in the publisher's own domain (the ring is granted to the receiver
 * domains only); -ENODATA when the bus is not published for this domain
 * (no such bus, or this domain is not among its receivers); no waiting. */
int rc_xen_view_open(struct rc_xen_view *v, const char *bus, uint16_t pub_domid);
void rc_xen_view_close(struct rc_xen_view *v);

#ifdef __cplusplus
}
#endif

#endif /* RC_XEN_H */
