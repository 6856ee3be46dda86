// SPDX-License-Identifier: GPL-2.0
/*
 * ringcast_xengrant: one ring, allocated once, granted read-only to several
 * Xen domains. The user-space contract is in ringcast_xengrant.h.
 *
 * Why a module: /dev/xen/gntalloc grants only pages it allocates in the same
 * call, to one domain, so a ring read by N domains had to be written N times.
 * gnttab_grant_foreign_access() grants an existing frame to any domain, once
 * per domain, so the publisher writes each message once whatever the number
 * of receiver domains (XenSocket was a kernel module for the same reason).
 *
 * Lifetime. One struct rc_xg_ring per open file, reached only through that
 * file (ioctl, mmap, release), so it needs no reference count: the file
 * lives while a descriptor or a mapping of it does, and release runs once,
 * after both are gone. `lock` serialises ioctls of threads sharing the file.
 * The pages are ours (one reference each from alloc_page) until release; a
 * publisher mapping holds its own references (vm_map_pages), and a grant
 * that a remote domain still maps when we end it holds one more, taken and
 * dropped by the grant-table core (gnttab_end_foreign_access with a NULL
 * page), so no page is freed or reused while any domain can read it.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/page.h>
#include <xen/xen.h>
#include <xen/interface/grant_table.h>

#include "ringcast_layout.h"
#include "ringcast_xengrant.h"

#define DRV_NAME "ringcast_xengrant"

/* uapi structs: fixed size, so 32- and 64-bit callers agree. */
static_assert(sizeof(struct ringcast_xengrant_alloc) == 32);
static_assert(sizeof(struct ringcast_xengrant_grant) == 32);
static_assert(sizeof(struct ringcast_xengrant_revoke) == 16);
static_assert(sizeof(struct ringcast_xengrant_notify) == 16);
/* Grants are per Xen page; the ring is mapped per Linux page. */
static_assert(PAGE_SIZE == XEN_PAGE_SIZE);
static_assert(RC_PAGE_SIZE == PAGE_SIZE);

/* The descriptor pages plus a 16 MiB data area by default. Bounded because
 * every page costs one grant reference per receiver domain, and the grant
 * table of a domain is a few thousand references (gnttab_max_frames). */
static unsigned int max_pages = RC_DESC_SIZE / PAGE_SIZE + (16u << 20) / PAGE_SIZE;
module_param(max_pages, uint, 0444);
MODULE_PARM_DESC(max_pages, "largest ring, in pages (descriptor + data area)");

static unsigned int max_domains = 16;
module_param(max_domains, uint, 0444);
MODULE_PARM_DESC(max_domains, "receiver domains per ring");

#define RC_XG_MAX_PORTS RC_MAX_SUBSCRIBERS

struct rc_xg_receiver {
	domid_t domid;
	grant_ref_t *refs;         /* one per ring page, page 0 first            */
};

struct rc_xg_ring {
	struct mutex lock;         /* every field below                          */
	struct page **pages;       /* NULL until ALLOC                           */
	unsigned int npages;
	struct rc_xg_receiver *receivers; /* max_domains entries, `nreceivers` used */
	unsigned int nreceivers;
	evtchn_port_t ports[RC_XG_MAX_PORTS]; /* notified at release; evtchn_get'd */
	unsigned int nports;
};

static bool rc_xg_reserved_zero(const __u32 *reserved, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (reserved[i])
			return false;
	return true;
}

/* Ends the grants of refs[0..count). Returns how many were still mapped by
 * the remote domain: those end later, the core holding the page meanwhile. */
static unsigned int rc_xg_end_grants(const grant_ref_t *refs, unsigned int count)
{
	unsigned int i, deferred = 0;

	for (i = 0; i < count; i++) {
		if (gnttab_try_end_foreign_access(refs[i]))
			continue;
		/* Still mapped: the core takes its own page reference, retries,
		 * and frees the reference (not our page) once unmapped. */
		gnttab_end_foreign_access(refs[i], NULL);
		deferred++;
	}
	return deferred;
}

static struct rc_xg_receiver *rc_xg_find(struct rc_xg_ring *ring, domid_t domid)
{
	unsigned int i;

	for (i = 0; i < ring->nreceivers; i++)
		if (ring->receivers[i].domid == domid)
			return &ring->receivers[i];
	return NULL;
}

/* Removes receiver r (ends its grants first). Returns the deferred count. */
static unsigned int rc_xg_drop_receiver(struct rc_xg_ring *ring, struct rc_xg_receiver *r)
{
	unsigned int deferred = rc_xg_end_grants(r->refs, ring->npages);

	kfree(r->refs);
	*r = ring->receivers[--ring->nreceivers];
	return deferred;
}

static long rc_xg_alloc(struct rc_xg_ring *ring, struct ringcast_xengrant_alloc __user *uarg)
{
	struct ringcast_xengrant_alloc req;
	struct page **pages;
	unsigned int i;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (!rc_xg_reserved_zero(req.reserved, ARRAY_SIZE(req.reserved)) || req.max_pages ||
	    req.max_domains || req.pages == 0 || req.pages > max_pages)
		return -EINVAL;
	if (ring->pages)
		return -EBUSY;
	pages = kvcalloc(req.pages, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	ring->receivers = kcalloc(max_domains, sizeof(*ring->receivers), GFP_KERNEL);
	if (!ring->receivers)
		goto nomem;
	for (i = 0; i < req.pages; i++) {
		/* Order 0: the grant-table core and vm_map_pages handle single
		 * pages; charged to the opener's memory cgroup. */
		pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!pages[i])
			goto nomem;
	}
	ring->pages = pages;
	ring->npages = req.pages;
	req.max_pages = max_pages;
	req.max_domains = max_domains;
	/* The ring stays allocated even if this copy fails: the caller learns
	 * nothing it cannot ask again, and release frees it. */
	return copy_to_user(uarg, &req, sizeof(req)) ? -EFAULT : 0;

nomem:
	for (i = 0; i < req.pages && pages[i]; i++)
		__free_page(pages[i]);
	kvfree(pages);
	kfree(ring->receivers);
	ring->receivers = NULL;
	return -ENOMEM;
}

static long rc_xg_grant(struct rc_xg_ring *ring, struct ringcast_xengrant_grant __user *uarg)
{
	struct ringcast_xengrant_grant req;
	struct rc_xg_receiver *r;
	grant_ref_t *refs;
	unsigned int i;
	int ref;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (!rc_xg_reserved_zero(req.reserved, ARRAY_SIZE(req.reserved)) || !ring->pages ||
	    req.domid >= DOMID_FIRST_RESERVED || req.count < ring->npages)
		return -EINVAL;
	if (rc_xg_find(ring, req.domid))
		return -EEXIST;
	if (ring->nreceivers >= max_domains)
		return -ENOSPC;
	refs = kcalloc(ring->npages, sizeof(*refs), GFP_KERNEL);
	if (!refs)
		return -ENOMEM;
	for (i = 0; i < ring->npages; i++) {
		ref = gnttab_grant_foreign_access(req.domid, xen_page_to_gfn(ring->pages[i]), 1);
		if (ref < 0) {
			rc_xg_end_grants(refs, i);
			kfree(refs);
			return ref;
		}
		refs[i] = ref;
	}
	/* A domain may map a reference before it is told it (references are
	 * small numbers), so the ones granted here are ended the careful way
	 * on every failure path too. */
	if (copy_to_user(u64_to_user_ptr(req.refs), refs, ring->npages * sizeof(*refs)) ||
	    put_user(ring->npages, &uarg->count)) {
		rc_xg_end_grants(refs, ring->npages);
		kfree(refs);
		return -EFAULT;
	}
	r = &ring->receivers[ring->nreceivers++];
	r->domid = req.domid;
	r->refs = refs;
	return 0;
}

static long rc_xg_revoke(struct rc_xg_ring *ring, struct ringcast_xengrant_revoke __user *uarg)
{
	struct ringcast_xengrant_revoke req;
	struct rc_xg_receiver *r;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (!rc_xg_reserved_zero(req.reserved, ARRAY_SIZE(req.reserved)) || req.deferred ||
	    req.domid >= DOMID_FIRST_RESERVED)
		return -EINVAL;
	r = rc_xg_find(ring, req.domid);
	if (!r)
		return -ENOENT;
	req.deferred = rc_xg_drop_receiver(ring, r);
	return put_user(req.deferred, &uarg->deferred) ? -EFAULT : 0;
}

static long rc_xg_notify(struct rc_xg_ring *ring, const struct ringcast_xengrant_notify __user *uarg)
{
	struct ringcast_xengrant_notify req;
	unsigned int i;
	int ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (!rc_xg_reserved_zero(req.reserved, ARRAY_SIZE(req.reserved)) ||
	    (req.flags != RINGCAST_XENGRANT_NOTIFY_ADD && req.flags != RINGCAST_XENGRANT_NOTIFY_REMOVE))
		return -EINVAL;
	for (i = 0; i < ring->nports; i++)
		if (ring->ports[i] == req.port)
			break;
	if (req.flags == RINGCAST_XENGRANT_NOTIFY_REMOVE) {
		if (i == ring->nports)
			return -ENOENT;
		evtchn_put(ring->ports[i]);
		ring->ports[i] = ring->ports[--ring->nports];
		return 0;
	}
	if (i < ring->nports)
		return -EEXIST;
	if (ring->nports == RC_XG_MAX_PORTS)
		return -ENOSPC;
	/* Succeeds only for a port bound through /dev/xen/evtchn in this
	 * domain, and keeps it bound until evtchn_put. */
	ret = evtchn_get(req.port);
	if (ret)
		return ret;
	ring->ports[ring->nports++] = req.port;
	return 0;
}

static long rc_xg_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct rc_xg_ring *ring = file->private_data;
	void __user *uarg = (void __user *)arg;
	long ret;

	mutex_lock(&ring->lock);
	switch (cmd) {
	case RINGCAST_XENGRANT_ALLOC:
		ret = rc_xg_alloc(ring, uarg);
		break;
	case RINGCAST_XENGRANT_GRANT:
		ret = rc_xg_grant(ring, uarg);
		break;
	case RINGCAST_XENGRANT_REVOKE:
		ret = rc_xg_revoke(ring, uarg);
		break;
	case RINGCAST_XENGRANT_NOTIFY_ON_RELEASE:
		ret = rc_xg_notify(ring, uarg);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&ring->lock);
	return ret;
}

static int rc_xg_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct rc_xg_ring *ring = file->private_data;
	int ret;

	/* A private mapping would copy pages on write: the receivers would
	 * never see the publisher's writes. VM_MAYSHARE, not VM_SHARED: the
	 * latter is cleared for MAP_SHARED of a read-only descriptor. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	mutex_lock(&ring->lock);
	if (!ring->pages) {
		ret = -EINVAL;
	} else {
		vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
		/* Checks offset and length against the ring (EINVAL / ENXIO),
		 * and takes a reference to every page it maps. */
		ret = vm_map_pages(vma, ring->pages, ring->npages);
	}
	mutex_unlock(&ring->lock);
	return ret;
}

static int rc_xg_open(struct inode *inode, struct file *file)
{
	struct rc_xg_ring *ring = kzalloc(sizeof(*ring), GFP_KERNEL);

	if (!ring)
		return -ENOMEM;
	mutex_init(&ring->lock);
	file->private_data = ring;
	return nonseekable_open(inode, file);
}

/* The publisher is gone without saying so. An orderly close left
 * RC_PUB_CLOSED, which stays: its subscribers drain and end as after any
 * close. The page is the publisher's own, written by it alone, so its
 * contents are trusted here. */
static void rc_xg_mark_gone(struct rc_xg_ring *ring)
{
	struct rc_ring_desc *desc;

	if (ring->npages * PAGE_SIZE < RC_DESC_SIZE)
		return;
	desc = page_address(ring->pages[0]);
	if (READ_ONCE(desc->magic) != RC_RING_MAGIC ||
	    READ_ONCE(desc->layout_version) != RC_LAYOUT_VERSION ||
	    READ_ONCE(desc->publisher_state) != RC_PUB_OPEN)
		return;
	/* Pairs with the subscriber's acquire load of publisher_state: a
	 * subscriber that sees GONE sees every head the publisher stored. */
	smp_store_release(&desc->publisher_state, (u32)RC_PUB_GONE);
}

static int rc_xg_release(struct inode *inode, struct file *file)
{
	struct rc_xg_ring *ring = file->private_data;
	unsigned int i, deferred = 0;

	if (ring->pages) {
		rc_xg_mark_gone(ring);
		/* After the store: a woken subscriber must see GONE. */
		for (i = 0; i < ring->nports; i++)
			notify_remote_via_evtchn(ring->ports[i]);
		while (ring->nreceivers)
			deferred += rc_xg_drop_receiver(ring, &ring->receivers[0]);
		for (i = 0; i < ring->npages; i++)
			__free_page(ring->pages[i]);
		if (deferred)
			pr_info(DRV_NAME ": ring of %u pages released, %u grant references still mapped (ended later)\n",
				ring->npages, deferred);
	}
	for (i = 0; i < ring->nports; i++)
		evtchn_put(ring->ports[i]);
	kvfree(ring->pages);
	kfree(ring->receivers);
	kfree(ring);
	return 0;
}

static const struct file_operations rc_xg_fops = {
	.owner = THIS_MODULE,
	.open = rc_xg_open,
	.release = rc_xg_release,
	.mmap = rc_xg_mmap,
	.unlocked_ioctl = rc_xg_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = no_llseek,
};

static struct miscdevice rc_xg_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = RINGCAST_XENGRANT_DEVICE,
	.fops = &rc_xg_fops,
	.mode = 0600,
};

static int __init rc_xg_init(void)
{
	if (!xen_domain())
		return -ENODEV;
	if (max_pages == 0 || max_domains == 0 || max_domains > DOMID_FIRST_RESERVED) {
		pr_err(DRV_NAME ": max_pages and max_domains must be at least 1\n");
		return -EINVAL;
	}
	return misc_register(&rc_xg_misc);
}

static void __exit rc_xg_exit(void)
{
	misc_deregister(&rc_xg_misc);
}

module_init(rc_xg_init);
module_exit(rc_xg_exit);
MODULE_DESCRIPTION("ringcast: one ring granted read-only to several Xen domains");
MODULE_LICENSE("GPL");
