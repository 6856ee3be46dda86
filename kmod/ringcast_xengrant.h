/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * ringcast_xengrant: user-space interface of the ringcast grant device, the
 * publisher's side of a Xen bus whose one ring is read by several domains.
 *
 * Linux's /dev/xen/gntalloc grants only pages it has just allocated, to one
 * domain per call, so a ring read by N receiver domains had to exist N times
 * (docs/xen.md). The kernel's own grant API has no such limit: this device
 * allocates the ring's pages once, maps them into the publisher, and grants
 * the same pages read-only to every receiver domain it is asked for, one
 * grant reference per page per domain.
 *
 * One character device, /dev/ringcast-xengrant (mode 0600: root, or whom the
 * administrator gives it). Every open file is one ring, at most one.
 *
 * ioctl(fd, RINGCAST_XENGRANT_ALLOC, &alloc)
 *     Allocates the ring: alloc.pages zeroed pages (the descriptor pages and
 *     the data area, docs/layout.md). Once per file (again: EBUSY). Fills
 *     max_pages and max_domains with the module's limits (module parameters
 *     of the same names). EINVAL: pages 0 or over max_pages, reserved not
 *     zero. ENOMEM.
 *
 * mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
 *     Maps the ring into the publisher (a part of it at a page offset is
 *     allowed). MAP_SHARED only (MAP_PRIVATE: EINVAL); before ALLOC, or past
 *     the ring's end: EINVAL. The mapping cannot grow (mremap).
 *
 * ioctl(fd, RINGCAST_XENGRANT_GRANT, &grant)
 *     Grants every ring page READ-ONLY to domain grant.domid and writes the
 *     grant references, page 0 first, to the __u32 array at grant.refs
 *     (grant.count entries, at least the ring's pages; count is set to the
 *     number written). The receiver maps them with /dev/xen/gntdev; a
 *     writable mapping is refused by Xen. EINVAL: no ring yet, domid not an
 *     ordinary domain (>= 0x7ff0), count too small,
 *     reserved not zero. EEXIST: that domain has its grants already.
 *     ENOSPC: max_domains domains hold grants, or Xen's grant table is full.
 *     EFAULT: the refs array is not writable (nothing stays granted).
 *
 * ioctl(fd, RINGCAST_XENGRANT_REVOKE, &revoke)
 *     Ends domain revoke.domid's grants (its subscribers left, died, or the
 *     domain is gone). A page the domain still maps is neither freed nor
 *     reused while it does: the kernel's grant-table core keeps a reference
 *     to it and ends the access once the domain unmaps (it retries every
 *     second), as Xen's own frontends do. revoke.deferred says how many of
 *     the references were still mapped (deferred), the others ended at
 *     once. ENOENT: that domain holds no grants.
 *
 * ioctl(fd, RINGCAST_XENGRANT_NOTIFY_ON_RELEASE, &notify)
 *     notify.port is an event-channel port this domain bound through
 *     /dev/xen/evtchn (ENOENT/EINVAL otherwise); flags
 *     RINGCAST_XENGRANT_NOTIFY_ADD or _REMOVE (ENOENT when absent, EEXIST
 *     when present already). At most RC_MAX_SUBSCRIBERS ports (ENOSPC). The
 *     device holds a reference to each added port: the port stays bound
 *     until it is removed or the file is released, as with gntalloc's
 *     unmap notification.
 *
 * Release (the last close and the last munmap, including the publisher's
 * death): when page 0 holds a ringcast descriptor (magic and layout version
 * of ringcast_layout.h) whose publisher_state is still RC_PUB_OPEN (no
 * orderly close), the device stores RC_PUB_GONE there with release
 * ordering; then it notifies every added port, so subscribers see the bus
 * end after draining what was committed. Then
 * it ends every domain's grants (deferred where still mapped, as REVOKE) and
 * drops its own references to the pages. The module unloads once no file is
 * open, even while a receiver still maps pages: deferred grants belong to
 * the kernel's grant-table core, not to the module.
 */
#ifndef RINGCAST_XENGRANT_H
#define RINGCAST_XENGRANT_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define RINGCAST_XENGRANT_DEVICE "ringcast-xengrant"

struct ringcast_xengrant_alloc {
	__u32 pages;       /* 0x00 in: ring pages, 1..max_pages                  */
	__u32 max_pages;   /* 0x04 out: the module's limit of pages per ring     */
	__u32 max_domains; /* 0x08 out: the module's limit of domains per ring   */
	__u32 reserved[5]; /* 0x0c zero                                          */
};

struct ringcast_xengrant_grant {
	__u32 domid;       /* 0x00 in: the receiver domain                       */
	__u32 count;       /* 0x04 in: entries at refs; out: refs written        */
	__u64 refs;        /* 0x08 in: user address of __u32 refs[count]         */
	__u32 reserved[4]; /* 0x10 zero                                          */
};

struct ringcast_xengrant_revoke {
	__u32 domid;       /* 0x00 in: the receiver domain                       */
	__u32 deferred;    /* 0x04 out: references still mapped, ended later     */
	__u32 reserved[2]; /* 0x08 zero                                          */
};

/* notify.flags */
#define RINGCAST_XENGRANT_NOTIFY_ADD    0x1u
#define RINGCAST_XENGRANT_NOTIFY_REMOVE 0x2u

struct ringcast_xengrant_notify {
	__u32 port;        /* 0x00 in: local event-channel port (/dev/xen/evtchn) */
	__u32 flags;       /* 0x04 in: exactly one RINGCAST_XENGRANT_NOTIFY_*      */
	__u32 reserved[2]; /* 0x08 zero                                           */
};

#define RINGCAST_XENGRANT_IOC_MAGIC 0xb8
#define RINGCAST_XENGRANT_ALLOC  _IOWR(RINGCAST_XENGRANT_IOC_MAGIC, 0x01, struct ringcast_xengrant_alloc)
#define RINGCAST_XENGRANT_GRANT  _IOWR(RINGCAST_XENGRANT_IOC_MAGIC, 0x02, struct ringcast_xengrant_grant)
#define RINGCAST_XENGRANT_REVOKE _IOWR(RINGCAST_XENGRANT_IOC_MAGIC, 0x03, struct ringcast_xengrant_revoke)
#define RINGCAST_XENGRANT_NOTIFY_ON_RELEASE \
	_IOW(RINGCAST_XENGRANT_IOC_MAGIC, 0x04, struct ringcast_xengrant_notify)

#endif /* RINGCAST_XENGRANT_H */
