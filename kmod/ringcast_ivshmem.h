/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * ringcast_ivshmem: user-space interface of the ringcast guest driver for
 * QEMU's ivshmem PCI device (vendor 1af4, device 1110).
 *
 * One character device per ivshmem device: /dev/ringcast-ivshmem<N>, numbered
 * in probe order (PCI bus order). /sys/class/misc/ringcast-ivshmem<N>/device
 * links to the PCI device; its attributes shm_size, peer_id and vectors repeat
 * what RINGCAST_IVSHMEM_INFO returns, for shell scripts.
 *
 * mmap(fd, offset, length)
 *     Maps BAR2 (the shared memory) write-back cached, like memremap(WB):
 *     not the uncached mapping of sysfs' resource2. MAP_SHARED only
 *     (MAP_PRIVATE: EINVAL); offset and length page-aligned with
 *     offset + length <= size (else EINVAL). A descriptor opened O_RDONLY
 *     gives read-only mappings only. After the device is unbound, every
 *     mapping of it is torn down and touching it raises SIGBUS.
 *
 * ioctl(fd, RINGCAST_IVSHMEM_INFO, &info)
 *     Fills struct ringcast_ivshmem_info.
 *
 * ioctl(fd, RINGCAST_IVSHMEM_DOORBELL_FD, &req) -> new descriptor
 *     An eventfd-like descriptor bound to one MSI-X vector of this device and
 *     one peer:
 *       read(8 bytes)  the number of interrupts on `vector` since the last
 *                      read of THIS descriptor (interrupts before it was
 *                      created are not counted), as a native-endian u64,
 *                      and resets it to 0. Blocks while 0, or EAGAIN with
 *                      O_NONBLOCK. A buffer shorter than 8 bytes: EINVAL.
 *       poll()         POLLIN while that count is non-zero; POLLOUT always
 *                      (a doorbell write never blocks); POLLERR|POLLHUP once
 *                      the device is gone.
 *       write(8 bytes) a non-zero native-endian u64 rings `peer`'s `vector`
 *                      (doorbell register: (peer << 16) | vector); zero is
 *                      accepted and rings nothing, as eventfd adds nothing.
 *                      With peer == RINGCAST_IVSHMEM_NO_PEER: EPERM.
 *     Several descriptors may watch the same vector: each counts on its own.
 *     A ring reaches the peer only if the peer's driver has enabled MSI-X,
 *     and the device cannot tell whether it did: agree on readiness through
 *     the shared memory first (see docs/vm.md).
 *     Errors: EOPNOTSUPP on a device without interrupts (ivshmem-plain),
 *     EINVAL for vector >= vectors, peer > 0xffff (other than NO_PEER),
 *     unknown flags or non-zero reserved fields.
 *
 * ioctl(fd, RINGCAST_IVSHMEM_RING, &req)
 *     Rings `peer`'s `vector` once, without a descriptor (flags must be 0).
 *
 * Once the PCI device is unbound (driver unload, sysfs unbind, hot unplug),
 * descriptors still open fail every call with ENODEV (read, write, ioctl,
 * mmap); poll reports POLLERR|POLLHUP and wakes blocked readers.
 *
 * Changes from the contract agreed in issue 5 (additions only):
 *   - RINGCAST_IVSHMEM_DOORBELL_FD's request carries `flags`
 *     (RINGCAST_IVSHMEM_FD_CLOEXEC / _NONBLOCK, like EFD_CLOEXEC /
 *     EFD_NONBLOCK) and peer RINGCAST_IVSHMEM_NO_PEER for a receive-only
 *     descriptor; a zero-filled request is the plain contract.
 *   - RINGCAST_IVSHMEM_RING, and mmap at a page offset inside BAR2.
 */
#ifndef RINGCAST_IVSHMEM_H
#define RINGCAST_IVSHMEM_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define RINGCAST_IVSHMEM_DEVICE_PREFIX "ringcast-ivshmem"

/* peer_id of a device without interrupts (ivshmem-plain). */
#define RINGCAST_IVSHMEM_NO_PEER 0xffffffffu

/* info.flags */
#define RINGCAST_IVSHMEM_F_DOORBELL 0x1u /* MSI-X vectors and a peer id: ivshmem-doorbell */

struct ringcast_ivshmem_info {
	__u64 size;        /* 0x00 bytes of shared memory (BAR2), a power of two   */
	__u32 peer_id;     /* 0x08 own id from the server (IVPosition, BAR0 + 8);
	                    *      RINGCAST_IVSHMEM_NO_PEER for ivshmem-plain       */
	__u32 vectors;     /* 0x0c MSI-X vectors enabled; 0 for ivshmem-plain       */
	__u32 flags;       /* 0x10 RINGCAST_IVSHMEM_F_*                             */
	__u32 reserved[3]; /* 0x14 zero                                             */
};

/* doorbell request flags */
#define RINGCAST_IVSHMEM_FD_CLOEXEC  0x1u
#define RINGCAST_IVSHMEM_FD_NONBLOCK 0x2u

struct ringcast_ivshmem_doorbell {
	__u32 vector;      /* 0x00 own vector to count; peer's vector to ring      */
	__u32 peer;        /* 0x04 peer id to ring (0..0xffff) or NO_PEER           */
	__u32 flags;       /* 0x08 RINGCAST_IVSHMEM_FD_* (DOORBELL_FD); 0 for RING  */
	__u32 reserved[5]; /* 0x0c zero                                             */
};

#define RINGCAST_IVSHMEM_IOC_MAGIC 0xb7
#define RINGCAST_IVSHMEM_INFO        _IOR(RINGCAST_IVSHMEM_IOC_MAGIC, 0x01, struct ringcast_ivshmem_info)
#define RINGCAST_IVSHMEM_DOORBELL_FD _IOW(RINGCAST_IVSHMEM_IOC_MAGIC, 0x02, struct ringcast_ivshmem_doorbell)
#define RINGCAST_IVSHMEM_RING        _IOW(RINGCAST_IVSHMEM_IOC_MAGIC, 0x03, struct ringcast_ivshmem_doorbell)

#endif /* RINGCAST_IVSHMEM_H */
