// SPDX-License-Identifier: MIT
/*
 * The Xen region provider (rc_xen.h, docs/xen.md): grants, event channels,
 * XenStore rendezvous and the shared-memory join handshake of the ivshmem
 * provider ([V2]..[V4] in docs/memory-ordering.md), over the Linux Xen
 * devices. Everything read from a grant, an event or XenStore is hostile.
 */
#define _GNU_SOURCE
#include "rc_xen.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* The Linux uapi headers (linux-libc-dev), not libxen-dev's xen/sys/ ones:
 * evtchn.h and gntdev.h use Xen's domid_t and grant_ref_t without defining
 * them (xen/xen.h and xen/grant_table.h would, from libxen-dev). */
typedef uint16_t domid_t;
typedef uint32_t grant_ref_t;
#include <xen/evtchn.h>
#include <xen/gntalloc.h>
#include <xen/gntdev.h>

#include "rc_xenstore.h"
#include "ringcast_barrier.h"
#include "../../kmod/ringcast_xengrant.h"

static int neg_errno(void) { return errno ? -errno : -EIO; }

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ======================================================================== */
/* devices                                                                   */

int rc_xen_devices_open(struct rc_xen_devices *dev)
{
	dev->gntalloc_fd = open("/dev/xen/gntalloc", O_RDWR | O_CLOEXEC);
	dev->gntdev_fd = open("/dev/xen/gntdev", O_RDWR | O_CLOEXEC);
	dev->evtchn_fd = open("/dev/xen/evtchn", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (dev->gntalloc_fd < 0 || dev->gntdev_fd < 0 || dev->evtchn_fd < 0) {
		int r = neg_errno();

		rc_xen_devices_close(dev);
		return r;
	}
	return 0;
}

void rc_xen_devices_close(struct rc_xen_devices *dev)
{
	if (dev->gntalloc_fd >= 0)
		close(dev->gntalloc_fd);
	if (dev->gntdev_fd >= 0)
		close(dev->gntdev_fd);
	if (dev->evtchn_fd >= 0)
		close(dev->evtchn_fd);
	dev->gntalloc_fd = dev->gntdev_fd = dev->evtchn_fd = -1;
}

int rc_xen_grant_alloc(const struct rc_xen_devices *dev, uint16_t domid, bool writable, uint32_t count,
		       uint32_t *refs, uint64_t *index, void **addr)
{
	struct ioctl_gntalloc_alloc_gref *op;
	void *mem;
	int r = 0;

	if (count == 0 || count > RC_XEN_MAX_RING_PAGES)
		return -EINVAL;
	op = calloc(1, sizeof(*op) + count * sizeof(uint32_t));
	if (!op)
		return -ENOMEM;
	op->domid = domid;
	op->flags = writable ? GNTALLOC_FLAG_WRITABLE : 0;
	op->count = count;
	if (ioctl(dev->gntalloc_fd, IOCTL_GNTALLOC_ALLOC_GREF, op) < 0) {
		r = neg_errno();
		goto out;
	}
	/* Our own mapping is always writable: the grant's flag limits the
	 * other domain only. */
	mem = mmap(NULL, (size_t)count * RC_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, dev->gntalloc_fd,
		   (off_t)op->index);
	if (mem == MAP_FAILED) {
		struct ioctl_gntalloc_dealloc_gref d = { .index = op->index, .count = count };

		r = neg_errno();
		ioctl(dev->gntalloc_fd, IOCTL_GNTALLOC_DEALLOC_GREF, &d);
		goto out;
	}
	memcpy(refs, op->gref_ids, count * sizeof(uint32_t));
	*index = op->index;
	*addr = mem;
out:
	free(op);
	return r;
}

int rc_xen_grant_free(const struct rc_xen_devices *dev, uint64_t index, uint32_t count, void *addr)
{
	struct ioctl_gntalloc_dealloc_gref d = { .index = index, .count = count };

	if (addr)
		munmap(addr, (size_t)count * RC_PAGE_SIZE);
	/* The kernel ends the grants once the other domain unmapped them. */
	return ioctl(dev->gntalloc_fd, IOCTL_GNTALLOC_DEALLOC_GREF, &d) < 0 ? neg_errno() : 0;
}

int rc_xen_grant_map(const struct rc_xen_devices *dev, uint16_t domid, const uint32_t *refs, uint32_t count,
		     bool writable, uint64_t *index, void **addr)
{
	struct ioctl_gntdev_map_grant_ref *op;
	void *mem;
	int r = 0;

	if (count == 0 || count > RC_XEN_MAX_RING_PAGES)
		return -EINVAL;
	op = calloc(1, sizeof(*op) + count * sizeof(op->refs[0]));
	if (!op)
		return -ENOMEM;
	op->count = count;
	for (uint32_t i = 0; i < count; i++) {
		op->refs[i].domid = domid;
		op->refs[i].ref = refs[i];
	}
	if (ioctl(dev->gntdev_fd, IOCTL_GNTDEV_MAP_GRANT_REF, op) < 0) {
		r = neg_errno();
		goto out;
	}
	/* gntdev maps a grant read-only (GNTMAP_readonly) exactly when the
	 * mapping is not writable; a read-only grant refuses a writable map. */
	mem = mmap(NULL, (size_t)count * RC_PAGE_SIZE, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED,
		   dev->gntdev_fd, (off_t)op->index);
	if (mem == MAP_FAILED) {
		struct ioctl_gntdev_unmap_grant_ref u = { .index = op->index, .count = count };

		r = neg_errno();
		ioctl(dev->gntdev_fd, IOCTL_GNTDEV_UNMAP_GRANT_REF, &u);
		goto out;
	}
	*index = op->index;
	*addr = mem;
out:
	free(op);
	return r;
}

int rc_xen_grant_unmap(const struct rc_xen_devices *dev, uint64_t index, uint32_t count, void *addr)
{
	struct ioctl_gntdev_unmap_grant_ref u = { .index = index, .count = count };

	if (addr)
		munmap(addr, (size_t)count * RC_PAGE_SIZE);
	return ioctl(dev->gntdev_fd, IOCTL_GNTDEV_UNMAP_GRANT_REF, &u) < 0 ? neg_errno() : 0;
}

int rc_xen_unmap_notify(const struct rc_xen_devices *dev, bool allocated, uint64_t index, uint32_t offset,
			uint32_t port)
{
	int r;

	if (allocated) {
		struct ioctl_gntalloc_unmap_notify n = {
			.index = index + offset,
			.action = UNMAP_NOTIFY_CLEAR_BYTE | UNMAP_NOTIFY_SEND_EVENT,
			.event_channel_port = port,
		};

		r = ioctl(dev->gntalloc_fd, IOCTL_GNTALLOC_SET_UNMAP_NOTIFY, &n);
	} else {
		struct ioctl_gntdev_unmap_notify n = {
			.index = index + offset,
			.action = UNMAP_NOTIFY_CLEAR_BYTE | UNMAP_NOTIFY_SEND_EVENT,
			.event_channel_port = port,
		};

		r = ioctl(dev->gntdev_fd, IOCTL_GNTDEV_SET_UNMAP_NOTIFY, &n);
	}
	return r < 0 ? neg_errno() : 0;
}

int rc_xen_evtchn_unbound(const struct rc_xen_devices *dev, uint16_t remote_domid)
{
	struct ioctl_evtchn_bind_unbound_port op = { .remote_domain = remote_domid };
	int r = ioctl(dev->evtchn_fd, IOCTL_EVTCHN_BIND_UNBOUND_PORT, &op);

	return r < 0 ? neg_errno() : r;
}

int rc_xen_evtchn_bind(const struct rc_xen_devices *dev, uint16_t remote_domid, uint32_t remote_port)
{
	struct ioctl_evtchn_bind_interdomain op = { .remote_domain = remote_domid, .remote_port = remote_port };
	int r = ioctl(dev->evtchn_fd, IOCTL_EVTCHN_BIND_INTERDOMAIN, &op);

	return r < 0 ? neg_errno() : r;
}

static void evtchn_unbind(const struct rc_xen_devices *dev, uint32_t port)
{
	struct ioctl_evtchn_unbind op = { .port = port };

	ioctl(dev->evtchn_fd, IOCTL_EVTCHN_UNBIND, &op);
}

int rc_xen_evtchn_notify(const struct rc_xen_devices *dev, uint32_t port)
{
	struct ioctl_evtchn_notify op = { .port = port };

	return ioctl(dev->evtchn_fd, IOCTL_EVTCHN_NOTIFY, &op) < 0 ? neg_errno() : 0;
}

void rc_xen_ring_doorbell(void *ctx, int port)
{
	/* A failed notify means the channel is gone; death is found elsewhere. */
	rc_xen_evtchn_notify(ctx, (uint32_t)port);
}

int rc_xen_evtchn_pending(const struct rc_xen_devices *dev, uint32_t *ports, int max)
{
	ssize_t n = read(dev->evtchn_fd, ports, (size_t)max * sizeof(uint32_t));

	if (n < 0)
		return errno == EAGAIN ? 0 : neg_errno();
	/* The device masks a port when it delivers it: unmask by writing back. */
	if (n > 0 && write(dev->evtchn_fd, ports, (size_t)n) < 0)
		return neg_errno();
	return (int)(n / (ssize_t)sizeof(uint32_t));
}

/* ======================================================================== */
/* XenStore                                                                  */

static bool bus_name_ok(const char *bus)
{
	size_t n = bus ? strlen(bus) : 0;

	if (n == 0 || n > RC_XEN_BUS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = bus[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_'))
			return false;
	}
	return true;
}

/* Writes `value` at `path`, owned by `owner` with no access for others but
 * read for `reader`. */
static int xs_put(struct rc_xs *xs, const char *path, const char *value, uint16_t owner, uint16_t reader)
{
	const struct rc_xs_perm perms[2] = {
		{ .domid = owner, .perms = RC_XS_PERM_NONE },
		{ .domid = reader, .perms = RC_XS_PERM_READ },
	};
	int r;

	if ((r = rc_xs_write(xs, path, value, strlen(value))) < 0)
		return r;
	return rc_xs_set_perms(xs, path, perms, owner == reader ? 1 : 2);
}

/* Reads a value of at most `cap - 1` bytes as a string; -ENOENT if absent. */
static int xs_get(struct rc_xs *xs, const char *path, char *out, size_t cap)
{
	return rc_xs_read(xs, path, out, cap, NULL);
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int own_domid(struct rc_xs *xs, uint16_t *domid)
{
	char buf[16];
	uint32_t v;
	int r = xs_get(xs, "domid", buf, sizeof(buf));

	if (r == -ENOENT || r == -EACCES) {
		/* dom0 before xen-init-dom0 wrote its own node. */
		char path[32];

		*domid = 0;
		rc_xs_get_domain_path(xs, 0, path, sizeof(path));
		return 0;
	}
	if (r < 0)
		return r;
	if ((r = parse_u32(buf, 0x7fef, &v)) < 0)
		return r;
	*domid = (uint16_t)v;
	return 0;
}

int rc_xen_own_domid(uint16_t *domid)
{
	struct rc_xs *xs;
	int r = rc_xs_open(&xs);

	if (r < 0)
		return r;
	r = own_domid(xs, domid);
	rc_xs_close(xs);
	return r;
}

/* ======================================================================== */
/* publisher                                                                 */

static void pub_event(struct rc_xen_pub *xp, uint32_t domain, uint32_t slot, uint32_t kind, uint32_t death)
{
	if (xp->events < sizeof(xp->event) / sizeof(xp->event[0]))
		xp->event[xp->events++] = (struct rc_xen_pub_event){ domain, slot, kind, death };
}

static void pub_node(const struct rc_xen_pub *xp, const struct rc_xen_domain *d, int slot, const char *leaf,
		     char *out, size_t cap)
{
	if (slot < 0)
		snprintf(out, cap, "/local/domain/%u/data/ringcast/%s/%u/%s", xp->own_domid, xp->bus, d->domid, leaf);
	else
		snprintf(out, cap, "/local/domain/%u/data/ringcast/%s/%u/%d/%s", xp->own_domid, xp->bus, d->domid,
			 slot, leaf);
}

static void sub_node(const struct rc_xen_pub *xp, const struct rc_xen_domain *d, uint32_t slot, const char *leaf,
		     char *out, size_t cap)
{
	snprintf(out, cap, "/local/domain/%u/data/ringcast/%s/%u/%u%s%s", d->domid, xp->bus, xp->own_domid, slot,
		 *leaf ? "/" : "", leaf);
}

/* What domain d may know, readable by d alone: the references of its
 * index pages (which hold the ring's references granted to it, no other
 * domain's), the ring's size, and per slot its ring slot, ack-ref (when we
 * grant the page) and port (last). */
static int domain_publish(struct rc_xen_pub *xp, struct rc_xen_domain *d)
{
	char path[160], refs[RC_XEN_MAX_INDEX_PAGES * 11 + 1], value[24];
	size_t used = 0;
	int r;

	refs[0] = 0;
	for (uint32_t i = 0; i < d->index_pages; i++)
		used += (size_t)snprintf(refs + used, sizeof(refs) - used, i ? " %u" : "%u", d->index_refs[i]);
	pub_node(xp, d, -1, "ring-index", path, sizeof(path));
	if ((r = xs_put(xp->xs, path, refs, xp->own_domid, d->domid)) < 0)
		return r;
	snprintf(value, sizeof(value), "%llu", (unsigned long long)rc_ring_size(xp->pub.capacity));
	pub_node(xp, d, -1, "ring-size", path, sizeof(path));
	if ((r = xs_put(xp->xs, path, value, xp->own_domid, d->domid)) < 0)
		return r;
	for (uint32_t s = 0; s < d->slots; s++) {
		struct rc_xen_pub_slot *ps = &d->slot[s];

		snprintf(value, sizeof(value), "%u", ps->ring_slot);
		pub_node(xp, d, (int)s, "ring-slot", path, sizeof(path));
		if ((r = xs_put(xp->xs, path, value, xp->own_domid, d->domid)) < 0)
			return r;
		if (ps->ack_grant == RC_XEN_ACK_BY_PUBLISHER) {
			snprintf(value, sizeof(value), "%u", ps->ack_ref);
			pub_node(xp, d, (int)s, "ack-ref", path, sizeof(path));
			if ((r = xs_put(xp->xs, path, value, xp->own_domid, d->domid)) < 0)
				return r;
		}
		/* The port last: a subscriber that reads it finds the rest. */
		snprintf(value, sizeof(value), "%u", ps->port);
		pub_node(xp, d, (int)s, "port", path, sizeof(path));
		if ((r = xs_put(xp->xs, path, value, xp->own_domid, d->domid)) < 0)
			return r;
	}
	return 0;
}

/* ---- the grant device (kmod/ringcast_xengrant.h) ------------------------ */

static int xengrant_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? neg_errno() : 0;
}

/* The one ring: allocated by the device, mapped writable here. */
static int ring_alloc(struct rc_xen_pub *xp, uint32_t pages)
{
	struct ringcast_xengrant_alloc alloc = { .pages = pages };
	void *mem;
	int r;

	xp->grant_fd = open("/dev/" RINGCAST_XENGRANT_DEVICE, O_RDWR | O_CLOEXEC);
	if (xp->grant_fd < 0)
		return neg_errno();
	if ((r = xengrant_ioctl(xp->grant_fd, RINGCAST_XENGRANT_ALLOC, &alloc)) < 0)
		return r;
	mem = mmap(NULL, (size_t)pages * RC_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, xp->grant_fd, 0);
	if (mem == MAP_FAILED)
		return neg_errno();
	xp->ring = mem;
	xp->ring_pages = pages;
	return 0;
}

static int ring_grant(struct rc_xen_pub *xp, struct rc_xen_domain *d)
{
	struct ringcast_xengrant_grant grant = {
		.domid = d->domid, .count = RC_XEN_MAX_RING_PAGES, .refs = (uintptr_t)d->ring_refs,
	};

	return xengrant_ioctl(xp->grant_fd, RINGCAST_XENGRANT_GRANT, &grant);
}

/* Domain d's index pages: its references for the ring, page by page (u32
 * each, ring page order), granted read-only to d alone (gntalloc: fresh
 * pages for one domain is all this needs). Written once, here, before
 * domain_publish or a manual line names them (that write is their
 * publication), never changed; they stay while the bus lives, so a
 * subscriber that joins later reads them too. */
static int index_grant(struct rc_xen_pub *xp, struct rc_xen_domain *d)
{
	uint32_t pages = RC_XEN_INDEX_PAGES(xp->ring_pages);
	int r;

	r = rc_xen_grant_alloc(&xp->dev, d->domid, false, pages, d->index_refs, &d->index_index, &d->index);
	if (r < 0)
		return r;
	d->index_pages = pages;
	memcpy(d->index, d->ring_refs, (size_t)xp->ring_pages * sizeof(uint32_t));
	return 0;
}

static struct rc_xen_domain *domain_for(struct rc_xen_pub *xp, uint16_t domid)
{
	for (uint32_t i = 0; i < xp->domains; i++)
		if (xp->domain[i]->domid == domid)
			return xp->domain[i];
	if (xp->domains == RC_XEN_MAX_DOMAINS)
		return NULL;
	xp->domain[xp->domains] = calloc(1, sizeof(struct rc_xen_domain));
	if (!xp->domain[xp->domains])
		return NULL;
	xp->domain[xp->domains]->domid = domid;
	return xp->domain[xp->domains++];
}

int rc_xen_pub_open(struct rc_xen_pub *xp, const char *bus, uint64_t capacity, uint32_t policy, uint32_t features,
		    const struct rc_xen_receiver *receivers, uint32_t count, bool use_xenstore)
{
	const char *step = "arguments";
	uint64_t bus_id;
	int r;

	memset(xp, 0, sizeof(*xp));
	xp->dev.gntalloc_fd = xp->dev.gntdev_fd = xp->dev.evtchn_fd = -1;
	xp->grant_fd = -1;
	if (!bus_name_ok(bus) || capacity > RC_XEN_MAX_CAPACITY || count == 0 || count > RC_MAX_SUBSCRIBERS)
		return -EINVAL;
	snprintf(xp->bus, sizeof(xp->bus), "%s", bus);
	step = "open /dev/xen/{gntalloc,gntdev,evtchn}";
	if ((r = rc_xen_devices_open(&xp->dev)) < 0)
		goto fail;
	if (use_xenstore) {
		step = "open XenStore";
		if ((r = rc_xs_open(&xp->xs)) < 0)
			goto fail;
		step = "read own domid from XenStore";
		if ((r = own_domid(xp->xs, &xp->own_domid)) < 0)
			goto fail;
	}
	if (getrandom(&bus_id, sizeof(bus_id), 0) != (ssize_t)sizeof(bus_id))
		bus_id = now_ms() ^ ((uint64_t)getpid() << 32);

	step = "allocate the ring (/dev/" RINGCAST_XENGRANT_DEVICE ", module ringcast_xengrant)";
	if ((r = ring_alloc(xp, (uint32_t)(rc_ring_size(capacity) / RC_PAGE_SIZE))) < 0)
		goto fail;
	step = "format the ring";
	if ((r = rc_ring_format(xp->ring, capacity, 0, policy, bus_id, (uint32_t)getpid())) != RC_OK ||
	    (r = rc_ring_set_features(xp->ring, features)) != RC_OK ||
	    (r = rc_pub_init(&xp->pub, xp->ring, rc_ring_size(capacity))) != RC_OK) {
		r = -EINVAL;
		goto fail;
	}
	xp->pub.ring_doorbell = rc_xen_ring_doorbell;
	xp->pub.ring_doorbell_ctx = &xp->dev;

	for (uint32_t i = 0; i < count; i++) {
		const struct rc_xen_receiver *rx = &receivers[i];
		struct ringcast_xengrant_notify notify = { .flags = RINGCAST_XENGRANT_NOTIFY_ADD };
		struct rc_xen_domain *d;
		struct rc_xen_pub_slot *ps;

		step = "receiver list";
		if ((rx->ack_grant != RC_XEN_ACK_BY_SUBSCRIBER && rx->ack_grant != RC_XEN_ACK_BY_PUBLISHER) ||
		    (!use_xenstore && rx->ack_grant != RC_XEN_ACK_BY_PUBLISHER) ||
		    (use_xenstore && rx->domid == xp->own_domid)) {
			r = -EINVAL;
			goto fail;
		}
		d = domain_for(xp, rx->domid);
		if (!d || d->slots == RC_XEN_MAX_DOMAIN_SLOTS) {
			r = -ENOSPC;
			goto fail;
		}
		if (d->slots == 0) {
			/* The same pages, read-only, with this domain's refs. */
			step = "grant the ring read-only (/dev/" RINGCAST_XENGRANT_DEVICE ")";
			if ((r = ring_grant(xp, d)) < 0)
				goto fail;
			step = "grant the ring's index pages (gntalloc)";
			if ((r = index_grant(xp, d)) < 0)
				goto fail;
		}
		ps = &d->slot[d->slots];
		ps->used = true;
		ps->ring_slot = i;
		ps->ack_grant = rx->ack_grant;
		step = "allocate an event channel";
		if ((r = rc_xen_evtchn_unbound(&xp->dev, d->domid)) < 0)
			goto fail;
		ps->port = (uint32_t)r;
		/* Our own death, seen by every reader: when our ring's file is
		 * released without an orderly close, the device stores
		 * RC_PUB_GONE in publisher_state and notifies every slot. */
		step = "notify on release (/dev/" RINGCAST_XENGRANT_DEVICE ")";
		notify.port = ps->port;
		if ((r = xengrant_ioctl(xp->grant_fd, RINGCAST_XENGRANT_NOTIFY_ON_RELEASE, &notify)) < 0)
			goto fail;
		if (ps->ack_grant == RC_XEN_ACK_BY_PUBLISHER) {
			step = "grant an ack page (gntalloc)";
			r = rc_xen_grant_alloc(&xp->dev, d->domid, true, 1, &ps->ack_ref, &ps->ack_index, &ps->ack);
			if (r < 0)
				goto fail;
			rc_ack_page_format(ps->ack, &xp->pub, ps->ring_slot, 0);
		}
		d->slots++;
	}
	step = "publish in XenStore";
	if (use_xenstore)
		for (uint32_t i = 0; i < xp->domains; i++)
			if ((r = domain_publish(xp, xp->domain[i])) < 0)
				goto fail;
	return 0;
fail:
	rc_xen_pub_destroy(xp);
	xp->failed_step = step;
	return r;
}

int rc_xen_pub_manual_line(const struct rc_xen_pub *xp, uint32_t domain, uint32_t slot, char *out, size_t cap)
{
	const struct rc_xen_domain *d;
	size_t used;

	if (domain >= xp->domains || slot >= xp->domain[domain]->slots)
		return -EINVAL;
	d = xp->domain[domain];
	if (d->slot[slot].ack_grant != RC_XEN_ACK_BY_PUBLISHER)
		return -EINVAL;
	used = (size_t)snprintf(out, cap, "%u %u %u %u %llu", d->domid, d->slot[slot].ring_slot, d->slot[slot].port,
				d->slot[slot].ack_ref, (unsigned long long)rc_ring_size(xp->pub.capacity));
	for (uint32_t i = 0; i < d->index_pages && used < cap; i++)
		used += (size_t)snprintf(out + used, cap - used, " %u", d->index_refs[i]);
	return used < cap ? 0 : -E2BIG;
}

static void forget_ack(struct rc_xen_pub *xp, struct rc_xen_pub_slot *ps)
{
	if (ps->ack_grant == RC_XEN_ACK_BY_SUBSCRIBER && ps->ack) {
		/* Let a dead domain's page go: Xen keeps a destroyed domain
		 * around while another still maps its memory. */
		rc_xen_grant_unmap(&xp->dev, ps->ack_index, 1, ps->ack);
		ps->ack = NULL;
	}
	ps->join.alive_at_join = false;
}

/* ---- the provider's part of the shared join handshake (rc_join.h) ------- */

/* Which subscriber a callback is about: ring slot -> xp->domain[di]->slot[s]. */
struct xen_join_ctx {
	struct rc_xen_pub *xp;
	uint32_t di, s;
};

static struct rc_xen_pub_slot *ctx_slot(const struct xen_join_ctx *c)
{
	return &c->xp->domain[c->di]->slot[c->s];
}

/* Every answer is rung on the subscriber's own channel: the port is bound to
 * that domain, whatever the request claimed. */
static void join_ring(void *ctx, uint32_t ring_slot, uint32_t peer_id)
{
	struct xen_join_ctx *c = ctx;

	(void)ring_slot;
	(void)peer_id;
	rc_xen_evtchn_notify(&c->xp->dev, ctx_slot(c)->port);
}

/* The page and the channel are this domain's alone; the id it claims must
 * be that domain. */
static bool join_peer_acceptable(void *ctx, uint32_t ring_slot, uint32_t peer_id)
{
	struct xen_join_ctx *c = ctx;

	(void)ring_slot;
	return peer_id == c->xp->domain[c->di]->domid;
}

static int join_bind(void *ctx, uint32_t ring_slot, uint32_t peer_id)
{
	struct xen_join_ctx *c = ctx;

	(void)ring_slot;
	(void)peer_id;
	ctx_slot(c)->death = RC_XEN_DEATH_NONE;
	return (int)ctx_slot(c)->port;
}

/* Left or died: a subscriber-granted page goes with its subscriber (the next
 * one in this slot grants a new page, a new ack-ref). */
static void join_unbind(void *ctx, uint32_t ring_slot)
{
	struct xen_join_ctx *c = ctx;

	(void)ring_slot;
	ctx_slot(c)->alive_seen = false;
	forget_ack(c->xp, ctx_slot(c));
}

/* The unmap notification: the subscriber's kernel zeroes `mapped` when its
 * mapping of the page goes away, also when its process dies. */
static bool join_alive(void *ctx, uint32_t ring_slot, const struct rc_ack_page *page)
{
	(void)ctx;
	(void)ring_slot;
	return rc_load_relaxed(&page->mapped) == RC_ACK_MAPPED;
}

static struct rc_join_provider join_provider(struct xen_join_ctx *c)
{
	return (struct rc_join_provider){
		.ctx = c,
		.ring = join_ring,
		.peer_acceptable = join_peer_acceptable,
		.bind = join_bind,
		.unbind = join_unbind,
		.alive = join_alive,
	};
}

/* One handshake step of xp->domain[di]->slot[s], as an event. `death`: how
 * a DEAD outcome was seen. */
static void report(struct rc_xen_pub *xp, uint32_t di, uint32_t s, const struct rc_join_result *res, uint32_t death)
{
	switch (res->outcome) {
	case RC_JOIN_OUTCOME_ACCEPTED:
		pub_event(xp, di, s, RC_XEN_EVENT_JOINED, 0);
		break;
	case RC_JOIN_OUTCOME_REFUSED:
		pub_event(xp, di, s, RC_XEN_EVENT_REFUSED, 0);
		break;
	case RC_JOIN_OUTCOME_LEFT:
		pub_event(xp, di, s, RC_XEN_EVENT_LEFT, 0);
		break;
	case RC_JOIN_OUTCOME_DEAD:
		xp->domain[di]->slot[s].death = death;
		pub_event(xp, di, s, RC_XEN_EVENT_DEAD, death);
		break;
	default:
		break;
	}
}

static void slot_died(struct rc_xen_pub *xp, uint32_t di, uint32_t s, uint32_t death)
{
	struct xen_join_ctx c = { xp, di, s };
	const struct rc_join_provider provider = join_provider(&c);
	struct rc_xen_pub_slot *ps = &xp->domain[di]->slot[s];
	struct rc_join_result res;

	/* Reclaimed at once, as when a socket closes: FREE, reason DEAD (unless
	 * it asked to leave first: then it left). */
	rc_join_death(&xp->pub, ps->ring_slot, ps->ack, &ps->join, &provider, now_ms(), &res);
	report(xp, di, s, &res, death);
}

/* Maps a subscriber-granted ack page once its ref is in XenStore. */
static int map_sub_ack(struct rc_xen_pub *xp, struct rc_xen_domain *d, uint32_t s)
{
	struct rc_xen_pub_slot *ps = &d->slot[s];
	struct rc_ack_page *page;
	char path[160], value[16];
	uint32_t ref;
	int r;

	if (!xp->xs)
		return -EINVAL;
	sub_node(xp, d, s, "ack-ref", path, sizeof(path));
	if ((r = xs_get(xp->xs, path, value, sizeof(value))) < 0 || (r = parse_u32(value, UINT32_MAX, &ref)) < 0)
		return r;
	if ((r = rc_xen_grant_map(&xp->dev, d->domid, &ref, 1, true, &ps->ack_index, &ps->ack)) < 0)
		return r;
	ps->ack_ref = ref;
	/* A new page starts a new request sequence: requests must grow on
	 * one page (no replays); the subscriber numbers its first from the
	 * answer table, which a fresh page cannot know better than. */
	rc_join_slot_reset(&ps->join);
	/* Line 0 is ours to write (const from the subscriber's view). */
	page = ps->ack;
	rc_store_relaxed(&page->magic, RC_ACK_MAGIC);
	rc_store_relaxed(&page->bus_id, xp->pub.desc->bus_id);
	rc_store_relaxed(&page->slot, ps->ring_slot);
	rc_store_relaxed(&page->layout_version, RC_LAYOUT_VERSION);
	return 0;
}

static void serve_join(struct rc_xen_pub *xp, uint32_t di, uint32_t s, uint64_t now)
{
	struct xen_join_ctx c = { xp, di, s };
	const struct rc_join_provider provider = join_provider(&c);
	struct rc_xen_pub_slot *ps = &xp->domain[di]->slot[s];
	struct rc_join_result res;

	if (!ps->ack && (ps->ack_grant != RC_XEN_ACK_BY_SUBSCRIBER || map_sub_ack(xp, xp->domain[di], s) < 0))
		return;
	rc_join_serve(&xp->pub, ps->ring_slot, ps->ack, &ps->join, &provider, now, &res);
	/* Its kernel cleared `mapped` (join_alive). */
	report(xp, di, s, &res, RC_XEN_DEATH_UNMAP);
}

void rc_xen_pub_backoff(struct rc_xen_pub *xp, uint32_t ring_slot, uint32_t wait_ms)
{
	for (uint32_t di = 0; di < xp->domains; di++)
		for (uint32_t s = 0; s < xp->domain[di]->slots; s++)
			if (xp->domain[di]->slot[s].ring_slot == ring_slot)
				rc_join_backoff(&xp->domain[di]->slot[s].join, now_ms(), wait_ms);
}

static void check_alive_nodes(struct rc_xen_pub *xp)
{
	for (uint32_t di = 0; di < xp->domains; di++) {
		struct rc_xen_domain *d = xp->domain[di];

		for (uint32_t s = 0; s < d->slots; s++) {
			struct rc_xen_pub_slot *ps = &d->slot[s];
			char path[160], value[16];
			int r;

			sub_node(xp, d, s, "alive", path, sizeof(path));
			r = xs_get(xp->xs, path, value, sizeof(value));
			/* A node that is gone reads as EACCES, not ENOENT, when its
			 * parents went with it (xenstored does not reveal whether
			 * a node we may not read exists): both mean gone once we
			 * had read it. */
			if (r == 0) {
				ps->alive_seen = true;
			} else if ((r == -ENOENT || r == -EACCES) && ps->alive_seen &&
				   xp->pub.slots[ps->ring_slot].state != RC_SLOT_FREE) {
				slot_died(xp, di, s, RC_XEN_DEATH_XENSTORE);
			}
			/* A free slot may still map the page of a subscriber that
			 * left just after we mapped it again: once the slot's
			 * ack-ref is another (or gone), let it go, so the next
			 * subscriber's page is the one looked at. */
			if (ps->ack_grant == RC_XEN_ACK_BY_SUBSCRIBER && ps->ack &&
			    xp->pub.slots[ps->ring_slot].state == RC_SLOT_FREE) {
				uint32_t ref;

				sub_node(xp, d, s, "ack-ref", path, sizeof(path));
				if (xs_get(xp->xs, path, value, sizeof(value)) < 0 ||
				    parse_u32(value, UINT32_MAX, &ref) < 0 || ref != ps->ack_ref)
					forget_ack(xp, ps);
			}
		}
	}
}

int rc_xen_pub_service(struct rc_xen_pub *xp, int timeout_ms)
{
	struct pollfd pfd = { .fd = xp->dev.evtchn_fd, .events = POLLIN };
	uint32_t ports[64];
	uint64_t now;
	int n;

	xp->events = 0;
	if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
		return neg_errno();
	n = rc_xen_evtchn_pending(&xp->dev, ports, 64);
	if (n < 0)
		return n;
	/* Which port rang matters less than not missing one: every slot is
	 * looked at (a few loads each), so a coalesced event loses nothing. */
	(void)ports;
	now = now_ms();
	for (uint32_t di = 0; di < xp->domains; di++)
		for (uint32_t s = 0; s < xp->domain[di]->slots; s++)
			serve_join(xp, di, s, now);
	/* XenStore is read, not watched: the client (rc_xenstore.h) has no
	 * watches, which would need a reader thread or a second descriptor
	 * to wait on (libxenstore's reader thread once failed here in static
	 * binaries). A read every RC_XEN_ALIVE_POLL_MS bounds how late a
	 * destroyed domain is noticed. */
	if (xp->xs && now - xp->alive_checked_ms >= RC_XEN_ALIVE_POLL_MS) {
		xp->alive_checked_ms = now;
		check_alive_nodes(xp);
	}
	if (xp->heartbeat_timeout_ms) {
		uint64_t before = 0;

		for (uint32_t rs = 0; rs < RC_MAX_SUBSCRIBERS; rs++)
			if (xp->pub.slots[rs].state == RC_SLOT_EVICTED)
				before |= 1ULL << rs;
		if (rc_pub_check_heartbeats(&xp->pub, now, xp->heartbeat_timeout_ms) > 0)
			for (uint32_t di = 0; di < xp->domains; di++)
				for (uint32_t s = 0; s < xp->domain[di]->slots; s++) {
					uint32_t rs = xp->domain[di]->slot[s].ring_slot;

					if (xp->pub.slots[rs].state == RC_SLOT_EVICTED && !(before & (1ULL << rs)))
						slot_died(xp, di, s, RC_XEN_DEATH_HEARTBEAT);
				}
	}
	return (int)xp->events;
}

int rc_xen_pub_offer(struct rc_xen_pub *xp, const void *data, uint64_t len, uint32_t *done_mask)
{
	int r;

	if (*done_mask & 1u)
		return RC_OK;
	r = rc_pub_offer(&xp->pub, data, len);
	if (r == RC_OK)
		*done_mask |= 1u;
	return r;
}

void rc_xen_pub_commit(struct rc_xen_pub *xp)
{
	rc_pub_commit(&xp->pub);
}

int rc_xen_pub_send(struct rc_xen_pub *xp, const void *data, uint64_t len, uint32_t *done_mask)
{
	int r = rc_xen_pub_offer(xp, data, len, done_mask);

	rc_xen_pub_commit(xp);
	return r;
}

bool rc_xen_pub_prepare_wait(struct rc_xen_pub *xp, uint64_t len, uint32_t done_mask)
{
	return !(done_mask & 1u) && rc_pub_prepare_wait(&xp->pub, len);
}

void rc_xen_pub_end_wait(struct rc_xen_pub *xp)
{
	rc_pub_end_wait(&xp->pub);
}

uint32_t rc_xen_pub_attached(const struct rc_xen_pub *xp)
{
	return xp->ring ? xp->pub.attached : 0;
}

void rc_xen_pub_close(struct rc_xen_pub *xp)
{
	if (xp->ring)
		rc_pub_close(&xp->pub);
}

void rc_xen_pub_destroy(struct rc_xen_pub *xp)
{
	for (uint32_t di = 0; di < xp->domains; di++) {
		struct rc_xen_domain *d = xp->domain[di];

		for (uint32_t s = 0; s < d->slots; s++) {
			struct rc_xen_pub_slot *ps = &d->slot[s];

			if (ps->ack_grant == RC_XEN_ACK_BY_PUBLISHER && ps->ack)
				rc_xen_grant_free(&xp->dev, ps->ack_index, 1, ps->ack);
			else
				forget_ack(xp, ps);
		}
	}
	/* Releasing the device's file ends every grant (deferred where a
	 * domain still maps) and, after no orderly close, marks the ring
	 * RC_PUB_GONE and notifies every slot's port: so before the ports go. */
	if (xp->ring)
		munmap(xp->ring, (size_t)xp->ring_pages * RC_PAGE_SIZE);
	xp->ring = NULL;
	if (xp->grant_fd >= 0)
		close(xp->grant_fd);
	xp->grant_fd = -1;
	for (uint32_t di = 0; di < xp->domains; di++) {
		struct rc_xen_domain *d = xp->domain[di];

		for (uint32_t s = 0; s < d->slots; s++)
			if (d->slot[s].port)
				evtchn_unbind(&xp->dev, d->slot[s].port);
		if (d->index)
			rc_xen_grant_free(&xp->dev, d->index_index, d->index_pages, d->index);
		free(d);
	}
	xp->domains = 0;
	if (xp->xs) {
		char path[128];

		snprintf(path, sizeof(path), "/local/domain/%u/data/ringcast/%s", xp->own_domid, xp->bus);
		rc_xs_rm(xp->xs, path);
		rc_xs_close(xp->xs);
		xp->xs = NULL;
	}
	rc_xen_devices_close(&xp->dev);
}


/* ======================================================================== */
/* subscriber                                                                */

static int parse_refs(char *s, uint32_t *refs, uint32_t max, uint32_t *count)
{
	uint32_t n = 0;
	char *save = NULL;

	for (char *t = strtok_r(s, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (n == max || parse_u32(t, UINT32_MAX, &refs[n]) < 0)
			return -EINVAL;
		n++;
	}
	*count = n;
	return 0;
}

/* The ring's size as the publisher states it, checked before anything is
 * mapped: a whole number of pages, a power-of-two data area in range, one
 * index page per RC_XEN_REFS_PER_INDEX_PAGE ring pages. */
static int ring_size_ok(uint64_t size, uint32_t index_pages)
{
	uint64_t capacity = size - RC_DESC_SIZE;

	if (size <= RC_DESC_SIZE || size % RC_PAGE_SIZE || capacity < RC_MIN_CAPACITY ||
	    capacity > RC_XEN_MAX_CAPACITY || (capacity & (capacity - 1)) ||
	    RC_XEN_INDEX_PAGES(size / RC_PAGE_SIZE) != index_pages)
		return -EINVAL;
	return 0;
}

/* Maps the first `pages` pages of the ring read-only through the refs its
 * index pages hold (the subscriber: all of them; a view: the descriptor).
 * Trusting them costs nothing: a ref that is not the publisher's grant to
 * us, or not read-only, is refused by Xen at the map; the count comes from
 * the size checked by ring_size_ok, not from the publisher's pages. */
static int map_ring(const struct rc_xen_devices *dev, uint16_t pub_domid, const struct rc_xen_manual *m,
		    uint32_t pages, uint64_t *ring_index, void **ring)
{
	uint32_t *refs;
	uint64_t index_index;
	void *index;
	int r;

	if (pages == 0 || pages > m->ring_size / RC_PAGE_SIZE)
		return -EINVAL;
	r = rc_xen_grant_map(dev, pub_domid, m->index_refs, m->index_pages, false, &index_index, &index);
	if (r < 0)
		return r;
	refs = malloc((size_t)pages * sizeof(uint32_t));
	if (refs) {
		memcpy(refs, index, (size_t)pages * sizeof(uint32_t));
		r = rc_xen_grant_map(dev, pub_domid, refs, pages, false, ring_index, ring);
		free(refs);
	} else {
		r = -ENOMEM;
	}
	rc_xen_grant_unmap(dev, index_index, m->index_pages, index);
	return r;
}

int rc_xen_manual_parse(const char *line, struct rc_xen_manual *out)
{
	char buf[RC_XEN_MANUAL_LINE_MAX], *save = NULL, *t;
	uint32_t v[5];
	int i = 0;

	if (!line || strlen(line) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, line);
	for (t = strtok_r(buf, " ", &save); t && i < 5; t = strtok_r(NULL, " ", &save), i++)
		if (parse_u32(t, UINT32_MAX, &v[i]) < 0)
			return -EINVAL;
	if (i < 5 || !t || v[0] > 0x7fef || v[1] >= RC_MAX_SUBSCRIBERS)
		return -EINVAL;
	out->domid = (uint16_t)v[0];
	out->slot = v[1];
	out->port = v[2];
	out->ack_ref = v[3];
	out->ring_size = v[4];
	/* t is the first ref: hand the rest of the string to parse_refs. */
	{
		char rest[sizeof(buf)];

		snprintf(rest, sizeof(rest), "%s%s%s", t, save && *save ? " " : "", save ? save : "");
		if (parse_refs(rest, out->index_refs, RC_XEN_MAX_INDEX_PAGES, &out->index_pages) < 0)
			return -EINVAL;
	}
	return ring_size_ok(out->ring_size, out->index_pages);
}

/* A node the publisher in `pub` wrote for receiver domain `own`:
 * /local/domain/PUB/data/ringcast/BUS/OWN[/LEAF]. */
static void published_for(uint16_t pub, const char *bus, uint16_t own, const char *leaf, char *out, size_t cap)
{
	snprintf(out, cap, "/local/domain/%u/data/ringcast/%s/%u%s%s", pub, bus, own, *leaf ? "/" : "", leaf);
}

static void sub_path(const struct rc_xen_sub *xs, bool publisher_side, const char *leaf, char *out, size_t cap)
{
	if (publisher_side)
		published_for(xs->pub_domid, xs->bus, xs->own_domid, leaf, out, cap);
	else
		snprintf(out, cap, "/local/domain/%u/data/ringcast/%s/%u/%u%s%s", xs->own_domid, xs->bus,
			 xs->pub_domid, xs->slot, *leaf ? "/" : "", leaf);
}

/* The ring as its publisher published it for domain `own`: its size and
 * the refs of its index pages, checked (domain_publish writes them before
 * any slot's nodes). -ENOENT or -EACCES: not published for `own`. */
static int lookup_ring(struct rc_xs *xs, uint16_t pub, const char *bus, uint16_t own, struct rc_xen_manual *m)
{
	char path[160], value[32], refs[RC_XEN_MAX_INDEX_PAGES * 11 + 1];
	uint32_t size;
	int r;

	published_for(pub, bus, own, "ring-size", path, sizeof(path));
	if ((r = xs_get(xs, path, value, sizeof(value))) < 0 || (r = parse_u32(value, UINT32_MAX, &size)) < 0)
		return r;
	m->ring_size = size;
	published_for(pub, bus, own, "ring-index", path, sizeof(path));
	if ((r = xs_get(xs, path, refs, sizeof(refs))) == 0)
		r = parse_refs(refs, m->index_refs, RC_XEN_MAX_INDEX_PAGES, &m->index_pages);
	if (r < 0)
		return r;
	return ring_size_ok(m->ring_size, m->index_pages);
}

/* Domain `own`'s slot `slot` of the bus: its index in the ring's slot table. */
static int lookup_ring_slot(struct rc_xs *xs, uint16_t pub, const char *bus, uint16_t own, uint32_t slot,
			    uint32_t *ring_slot)
{
	char path[160], leaf[32], value[32];
	int r;

	snprintf(leaf, sizeof(leaf), "%u/ring-slot", slot);
	published_for(pub, bus, own, leaf, path, sizeof(path));
	if ((r = xs_get(xs, path, value, sizeof(value))) < 0)
		return r;
	return parse_u32(value, RC_MAX_SUBSCRIBERS - 1, ring_slot);
}

/* Reads what the publisher published for us, waiting for `port` (its last
 * node) to appear. */
static int lookup(struct rc_xen_sub *xs, struct rc_xen_manual *m, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	char path[160], leaf[32], value[32];
	int r;

	snprintf(leaf, sizeof(leaf), "%u/port", xs->slot);
	sub_path(xs, true, leaf, path, sizeof(path));
	while ((r = xs_get(xs->xs, path, value, sizeof(value))) == -ENOENT || r == -EACCES) {
		uint64_t now = now_ms();

		if (now >= deadline)
			return -ETIMEDOUT;
		/* Polled, not watched (see rc_xen_pub_service). */
		poll(NULL, 0, (int)(deadline - now < RC_XEN_ALIVE_POLL_MS ? deadline - now : RC_XEN_ALIVE_POLL_MS));
	}
	if (r < 0 || (r = parse_u32(value, UINT32_MAX, &m->port)) < 0)
		return r;
	if ((r = lookup_ring(xs->xs, xs->pub_domid, xs->bus, xs->own_domid, m)) < 0 ||
	    (r = lookup_ring_slot(xs->xs, xs->pub_domid, xs->bus, xs->own_domid, xs->slot, &m->slot)) < 0)
		return r;
	snprintf(leaf, sizeof(leaf), "%u/ack-ref", xs->slot);
	sub_path(xs, true, leaf, path, sizeof(path));
	r = xs_get(xs->xs, path, value, sizeof(value));
	if (r == 0) {
		xs->ack_grant = RC_XEN_ACK_BY_PUBLISHER;
		return parse_u32(value, UINT32_MAX, &m->ack_ref);
	}
	xs->ack_grant = RC_XEN_ACK_BY_SUBSCRIBER;
	return r == -ENOENT || r == -EACCES ? 0 : r;
}

int rc_xen_sub_open(struct rc_xen_sub *xs, const char *bus, uint16_t pub_domid, uint32_t slot,
		    const struct rc_xen_manual *manual, int timeout_ms)
{
	struct rc_xen_manual *m = NULL;
	const char *step = "arguments";
	char path[160], value[16];
	uint32_t ack_ref;
	int r;

	memset(xs, 0, sizeof(*xs));
	xs->dev.gntalloc_fd = xs->dev.gntdev_fd = xs->dev.evtchn_fd = -1;
	xs->pub_domid = pub_domid;
	xs->slot = slot;
	if (!bus_name_ok(bus) || slot >= RC_XEN_MAX_DOMAIN_SLOTS)
		return -EINVAL;
	snprintf(xs->bus, sizeof(xs->bus), "%s", bus);
	step = "open /dev/xen/{gntalloc,gntdev,evtchn}";
	if ((r = rc_xen_devices_open(&xs->dev)) < 0)
		goto fail;
	if (manual) {
		m = (struct rc_xen_manual *)manual;
		xs->ack_grant = RC_XEN_ACK_BY_PUBLISHER;
		xs->own_domid = manual->domid;
		xs->slot = manual->slot;
	} else {
		m = calloc(1, sizeof(*m));
		if (!m) {
			r = -ENOMEM;
			goto fail;
		}
		step = "open XenStore";
		if ((r = rc_xs_open(&xs->xs)) < 0)
			goto fail;
		step = "read own domid from XenStore";
		if ((r = own_domid(xs->xs, &xs->own_domid)) < 0)
			goto fail;
		step = "look the bus up in XenStore";
		if ((r = lookup(xs, m, timeout_ms)) < 0)
			goto fail;
	}
	xs->ring_size = m->ring_size;
	xs->ring_pages = (uint32_t)(m->ring_size / RC_PAGE_SIZE);
	xs->ring_slot = m->slot;
	step = "map the ring read-only through its index pages (gntdev)";
	if ((r = map_ring(&xs->dev, pub_domid, m, xs->ring_pages, &xs->ring_index, &xs->ring)) < 0)
		goto fail;
	step = "bind the event channel";
	if ((r = rc_xen_evtchn_bind(&xs->dev, pub_domid, m->port)) < 0)
		goto fail;
	xs->port = (uint32_t)r;
	step = "set up the ack page";
	if (xs->ack_grant == RC_XEN_ACK_BY_PUBLISHER) {
		r = rc_xen_grant_map(&xs->dev, pub_domid, &m->ack_ref, 1, true, &xs->ack_index, &xs->ack);
		if (r < 0)
			goto fail;
	} else {
		r = rc_xen_grant_alloc(&xs->dev, pub_domid, true, 1, &ack_ref, &xs->ack_index, &xs->ack);
		if (r < 0)
			goto fail;
		snprintf(value, sizeof(value), "%u", ack_ref);
		sub_path(xs, false, "ack-ref", path, sizeof(path));
		if ((r = xs_put(xs->xs, path, value, xs->own_domid, pub_domid)) < 0)
			goto fail;
	}
	/* Our death, seen by the publisher: `mapped` zeroed and its channel
	 * rung by our kernel when this mapping goes away. */
	step = "unmap notification on the ack page";
	r = rc_xen_unmap_notify(&xs->dev, xs->ack_grant == RC_XEN_ACK_BY_SUBSCRIBER, xs->ack_index,
				(uint32_t)offsetof(struct rc_ack_page, mapped), xs->port);
	if (r < 0)
		goto fail;
	step = "publish `alive` in XenStore";
	if (xs->xs) {
		sub_path(xs, false, "alive", path, sizeof(path));
		if ((r = xs_put(xs->xs, path, "1", xs->own_domid, pub_domid)) < 0)
			goto fail;
	}
	if (m != manual)
		free(m);
	return 0;
fail:
	if (m != manual)
		free(m);
	rc_xen_sub_close(xs);
	xs->failed_step = step;
	return r;
}

static int sub_join_begin(struct rc_xen_sub *xs, uint32_t peer)
{
	xs->joined = false;
	xs->join_request = rc_join_ask(xs->ack, xs->ring, xs->ring_slot, peer, true);
	/* The notify is a system call: the request is visible first. */
	return rc_xen_evtchn_notify(&xs->dev, xs->port);
}

int rc_xen_sub_join(struct rc_xen_sub *xs, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0), next_ring = 0;
	uint64_t generation = 0;
	uint32_t ports[8];
	int r;

	if (!xs->ring || !xs->ack)
		return RC_ESTATE;
	xs->join_request = 0;
	for (;;) {
		struct pollfd pfd = { .fd = xs->dev.evtchn_fd, .events = POLLIN };
		uint64_t now = now_ms();

		if (now >= next_ring) {
			/* Again after a while: the first ring may have come before
			 * the publisher mapped our page (it looks at every slot on
			 * every wake-up, so once is enough once it has). */
			if (xs->join_request == 0) {
				if ((r = sub_join_begin(xs, xs->own_domid)) < 0)
					return r;
			} else {
				rc_xen_evtchn_notify(&xs->dev, xs->port);
			}
			next_ring = now + 200;
		}
		r = rc_join_answered(xs->ring, xs->ring_slot, xs->join_request, &xs->last_verdict, &generation);
		if (r != RC_EAGAIN) {
			if (r != RC_OK)
				return r;
			break;
		}
		if (now >= deadline)
			return -ETIMEDOUT;
		poll(&pfd, 1, (int)((deadline < next_ring ? deadline : next_ring) - now));
		rc_xen_evtchn_pending(&xs->dev, ports, 8);
	}
	xs->join_request = 0;
	if (xs->last_verdict != RC_JOIN_ACCEPTED)
		return RC_EINVAL;
	r = rc_join_attach(&xs->sub, xs->ring, xs->ring_size, xs->ack, xs->ring_slot, generation, (int)xs->port);
	if (r != RC_OK)
		return r;
	xs->sub.ring_doorbell = rc_xen_ring_doorbell;
	xs->sub.ring_doorbell_ctx = &xs->dev;
	xs->joined = true;
	return RC_OK;
}

int rc_xen_sub_wait(struct rc_xen_sub *xs, int timeout_ms)
{
	struct pollfd pfd = { .fd = xs->dev.evtchn_fd, .events = POLLIN };
	const struct rc_ring_desc *desc = xs->ring;
	uint32_t ports[8], state;
	int r = 1;

	if (rc_sub_prepare_wait(&xs->sub)) {
		r = poll(&pfd, 1, timeout_ms);
		rc_sub_end_wait(&xs->sub);
		if (r < 0)
			return errno == EINTR ? 0 : neg_errno();
	}
	if ((r = rc_xen_evtchn_pending(&xs->dev, ports, 8)) < 0)
		return r;
	/* The publisher's grant device stored RC_PUB_GONE when its ring's
	 * file was released without an orderly close (its death). */
	state = rc_load_acquire(&desc->publisher_state);
	if (state != RC_PUB_OPEN && state != RC_PUB_CLOSED && state != RC_PUB_ABORTED &&
	    rc_sub_available(&xs->sub) == 0)
		return -EPIPE;
	return r > 0 || rc_sub_available(&xs->sub) > 0;
}

int rc_xen_sub_leave(struct rc_xen_sub *xs, int timeout_ms)
{
	uint64_t generation;
	uint32_t verdict;
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	uint32_t ports[8];
	int r;

	if (!xs->ack)
		return RC_ESTATE;
	xs->joined = false;
	if ((r = sub_join_begin(xs, RC_JOIN_LEAVE)) < 0)
		return r;
	while ((r = rc_join_answered(xs->ring, xs->ring_slot, xs->join_request, &verdict, &generation)) == RC_EAGAIN) {
		struct pollfd pfd = { .fd = xs->dev.evtchn_fd, .events = POLLIN };
		uint64_t now = now_ms();

		if (now >= deadline)
			return -ETIMEDOUT;
		poll(&pfd, 1, (int)(deadline - now));
		rc_xen_evtchn_pending(&xs->dev, ports, 8);
	}
	xs->join_request = 0;
	if (r != RC_OK)
		return r;
	return verdict == RC_JOIN_LEFT ? RC_OK : RC_EINVAL;
}

void rc_xen_sub_close(struct rc_xen_sub *xs)
{
	if (xs->ack) {
		/* An orderly close: the unmap notification will still fire and
		 * tell the publisher, which then frees the slot (if a leave did
		 * not already). */
		if (xs->ack_grant == RC_XEN_ACK_BY_SUBSCRIBER)
			rc_xen_grant_free(&xs->dev, xs->ack_index, 1, xs->ack);
		else
			rc_xen_grant_unmap(&xs->dev, xs->ack_index, 1, xs->ack);
		xs->ack = NULL;
	}
	if (xs->ring) {
		rc_xen_grant_unmap(&xs->dev, xs->ring_index, xs->ring_pages, xs->ring);
		xs->ring = NULL;
	}
	if (xs->xs) {
		char path[160];

		sub_path(xs, false, "", path, sizeof(path));
		rc_xs_rm(xs->xs, path);
		rc_xs_close(xs->xs);
		xs->xs = NULL;
	}
	rc_xen_devices_close(&xs->dev);
}

/* ======================================================================== */
/* view (`ringcast stat` in a receiver domain)                              */

int rc_xen_view_open(struct rc_xen_view *v, const char *bus, uint16_t pub_domid)
{
	struct rc_xen_manual m;
	struct rc_xs *xs = NULL;
	const char *step = "arguments";
	int r;

	memset(v, 0, sizeof(*v));
	memset(&m, 0, sizeof(m));
	v->dev.gntalloc_fd = v->dev.gntdev_fd = v->dev.evtchn_fd = -1;
	v->pub_domid = pub_domid;
	if (!bus_name_ok(bus)) {
		r = -EINVAL;
		goto fail;
	}
	step = "open /dev/xen/{gntalloc,gntdev,evtchn}";
	if ((r = rc_xen_devices_open(&v->dev)) < 0)
		goto fail;
	step = "open XenStore";
	if ((r = rc_xs_open(&xs)) < 0)
		goto fail;
	step = "read own domid from XenStore";
	if ((r = own_domid(xs, &v->own_domid)) < 0)
		goto fail;
	/* The ring is granted to the receiver domains only: no process of the
	 * publisher's own domain but the publisher maps it. */
	step = "the publisher's own domain";
	if (v->own_domid == pub_domid) {
		r = -EXDEV;
		goto fail;
	}
	step = "look the bus up in XenStore";
	/* -ENODATA, not -ENOENT: the binding reads statuses above -10 as RC_*. */
	if ((r = lookup_ring(xs, pub_domid, bus, v->own_domid, &m)) < 0) {
		r = r == -EACCES || r == -ENOENT ? -ENODATA : r;
		goto fail;
	}
	/* Our domain's slots, numbered from 0 without holes (domain_publish). */
	while (v->slots < RC_XEN_MAX_DOMAIN_SLOTS &&
	       lookup_ring_slot(xs, pub_domid, bus, v->own_domid, v->slots, &v->ring_slot[v->slots]) == 0)
		v->slots++;
	step = "map the ring's descriptor read-only (gntdev)";
	if ((r = map_ring(&v->dev, pub_domid, &m, RC_DESC_SIZE / RC_PAGE_SIZE, &v->desc_index, &v->desc)) < 0)
		goto fail;
	v->ring_size = m.ring_size;
	rc_xs_close(xs);
	return 0;
fail:
	if (xs)
		rc_xs_close(xs);
	rc_xen_view_close(v);
	v->failed_step = step;
	return r;
}

void rc_xen_view_close(struct rc_xen_view *v)
{
	if (v->desc)
		rc_xen_grant_unmap(&v->dev, v->desc_index, RC_DESC_SIZE / RC_PAGE_SIZE, v->desc);
	v->desc = NULL;
	rc_xen_devices_close(&v->dev);
}
