// SPDX-License-Identifier: GPL-2.0
/*
 * ringcast_ivshmem: guest driver for QEMU's ivshmem PCI device (1af4:1110).
 *
 * Gives user space what a ringcast bus needs inside a KVM/QEMU guest:
 *   - mmap of the shared memory (BAR2), write-back cached;
 *   - the peer id the ivshmem server assigned (IVPosition, BAR0 + 8);
 *   - doorbells: one eventfd-like descriptor per (vector, peer) that counts
 *     this device's MSI-X interrupts on `vector` and, when written, rings
 *     `peer`'s `vector` through the doorbell register (BAR0 + 12).
 * The user-space contract is in ringcast_ivshmem.h.
 *
 * Lifetime. struct rc_ivshmem is reference counted: the PCI binding holds one
 * reference, every open device file and every doorbell descriptor another.
 * Unbinding (remove) marks the device dead under `lock` (write), then tears
 * down user mappings, interrupts and BAR mappings; every path that touches
 * hardware checks `dead` under `lock` (read), so after remove returns no
 * descriptor can reach a register, and they all answer ENODEV.
 */
#include <linux/anon_inodes.h>
#include <linux/atomic.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/kref.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/poll.h>
#include <linux/rwsem.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "ringcast_layout.h"
#include "ringcast_ivshmem.h"

#define DRV_NAME "ringcast_ivshmem"

/* BAR0 registers (QEMU docs/specs/ivshmem-spec). */
#define IVSHMEM_REG_IVPOSITION 8
#define IVSHMEM_REG_DOORBELL   12
#define IVSHMEM_REGS_SIZE      256

/* The doorbell register has 16 bits of vector; QEMU allows far fewer. */
#define RC_IVSHMEM_MAX_VECTORS 64

/* uapi structs: fixed size, so 32- and 64-bit callers agree. */
static_assert(sizeof(struct ringcast_ivshmem_info) == 32);
static_assert(sizeof(struct ringcast_ivshmem_doorbell) == 32);
/* A ringcast ack page is one mappable page. */
static_assert(RC_ACK_PAGE_SIZE % PAGE_SIZE == 0);

struct rc_ivshmem_vector {
	/* Interrupts since probe: written by the IRQ handler only (atomic
	 * increment, then wake_up, whose waitqueue lock pairs with the
	 * reader's prepare_to_wait); each doorbell descriptor keeps the value
	 * it last handed out. */
	atomic64_t interrupts;
	wait_queue_head_t wait;
	char irq_name[40];
};

struct rc_ivshmem {
	struct kref ref;
	struct pci_dev *pdev;
	struct miscdevice misc;
	char name[32];
	int index;

	/* Held for reading around every register access and user mapping
	 * insert; taken for writing once, by remove, to set `dead`. */
	struct rw_semaphore lock;
	bool dead;

	void __iomem *regs;        /* BAR0                                      */
	void *shm;                 /* BAR2, memremap(WB): also reserves the WB
	                            * memory type that user mappings inherit    */
	resource_size_t shm_phys;
	resource_size_t shm_size;
	u32 peer_id;               /* IVPosition, or RINGCAST_IVSHMEM_NO_PEER   */
	u32 nvectors;
	struct rc_ivshmem_vector *vectors;

	/* Open device files, so remove can zap their mappings. */
	struct mutex files_lock;
	struct list_head files;
};

struct rc_ivshmem_file {
	struct list_head node;     /* in rc_ivshmem.files                       */
	struct rc_ivshmem *dev;
	struct file *file;
};

struct rc_ivshmem_doorbell_file {
	struct rc_ivshmem *dev;
	struct rc_ivshmem_vector *vector;
	u32 vector_index;
	u32 peer;
	spinlock_t seen_lock;      /* serialises concurrent reads of one fd     */
	s64 seen;                  /* vector->interrupts at the last read       */
};

static DEFINE_IDA(rc_ivshmem_ida);

static void rc_ivshmem_release_dev(struct kref *ref)
{
	struct rc_ivshmem *dev = container_of(ref, struct rc_ivshmem, ref);

	kfree(dev->vectors);
	kfree(dev);
}

static void rc_ivshmem_put(struct rc_ivshmem *dev)
{
	kref_put(&dev->ref, rc_ivshmem_release_dev);
}

/* Rings `peer`'s `vector`. Returns -ENODEV once the device is gone. */
static int rc_ivshmem_ring(struct rc_ivshmem *dev, u32 peer, u32 vector)
{
	int ret = 0;

	down_read(&dev->lock);
	if (dev->dead)
		ret = -ENODEV;
	else
		iowrite32((peer << 16) | vector, dev->regs + IVSHMEM_REG_DOORBELL);
	up_read(&dev->lock);
	return ret;
}

/* ---- doorbell descriptors ---------------------------------------------- */

static u64 rc_doorbell_take(struct rc_ivshmem_doorbell_file *db)
{
	s64 now;
	u64 count;

	spin_lock(&db->seen_lock);
	now = atomic64_read(&db->vector->interrupts);
	count = (u64)(now - db->seen);
	db->seen = now;
	spin_unlock(&db->seen_lock);
	return count;
}

static bool rc_doorbell_pending(struct rc_ivshmem_doorbell_file *db)
{
	return atomic64_read(&db->vector->interrupts) != READ_ONCE(db->seen);
}

static ssize_t rc_doorbell_read(struct file *file, char __user *buf, size_t len, loff_t *ppos)
{
	struct rc_ivshmem_doorbell_file *db = file->private_data;
	struct rc_ivshmem *dev = db->dev;
	u64 count;
	int ret;

	if (len < sizeof(u64))
		return -EINVAL;
	for (;;) {
		if (READ_ONCE(dev->dead))
			return -ENODEV;
		count = rc_doorbell_take(db);
		if (count)
			break;
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		ret = wait_event_interruptible(db->vector->wait,
					       READ_ONCE(dev->dead) || rc_doorbell_pending(db));
		if (ret)
			return ret;
	}
	if (put_user(count, (u64 __user *)buf))
		return -EFAULT;
	return sizeof(u64);
}

static ssize_t rc_doorbell_write(struct file *file, const char __user *buf, size_t len,
				 loff_t *ppos)
{
	struct rc_ivshmem_doorbell_file *db = file->private_data;
	u64 value;
	int ret;

	if (len < sizeof(u64))
		return -EINVAL;
	if (copy_from_user(&value, buf, sizeof(value)))
		return -EFAULT;
	if (READ_ONCE(db->dev->dead))
		return -ENODEV;
	if (db->peer == RINGCAST_IVSHMEM_NO_PEER)
		return -EPERM;
	if (value == 0)
		return sizeof(u64);
	ret = rc_ivshmem_ring(db->dev, db->peer, db->vector_index);
	return ret ? ret : sizeof(u64);
}

static __poll_t rc_doorbell_poll(struct file *file, poll_table *wait)
{
	struct rc_ivshmem_doorbell_file *db = file->private_data;
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;

	poll_wait(file, &db->vector->wait, wait);
	if (READ_ONCE(db->dev->dead))
		return EPOLLERR | EPOLLHUP;
	if (rc_doorbell_pending(db))
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

static int rc_doorbell_release(struct inode *inode, struct file *file)
{
	struct rc_ivshmem_doorbell_file *db = file->private_data;

	rc_ivshmem_put(db->dev);
	kfree(db);
	return 0;
}

static const struct file_operations rc_doorbell_fops = {
	.owner = THIS_MODULE,
	.read = rc_doorbell_read,
	.write = rc_doorbell_write,
	.poll = rc_doorbell_poll,
	.release = rc_doorbell_release,
	.llseek = noop_llseek,
};

static int rc_check_doorbell_request(struct rc_ivshmem *dev,
				     const struct ringcast_ivshmem_doorbell *req, u32 allowed_flags)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(req->reserved); i++)
		if (req->reserved[i])
			return -EINVAL;
	if (req->flags & ~allowed_flags)
		return -EINVAL;
	if (!dev->nvectors)
		return -EOPNOTSUPP;
	if (req->vector >= dev->nvectors)
		return -EINVAL;
	if (req->peer > 0xffff && req->peer != RINGCAST_IVSHMEM_NO_PEER)
		return -EINVAL;
	return 0;
}

static int rc_ivshmem_doorbell_fd(struct rc_ivshmem *dev,
				  const struct ringcast_ivshmem_doorbell *req)
{
	struct rc_ivshmem_doorbell_file *db;
	int open_flags = O_RDWR;
	int fd, ret;

	ret = rc_check_doorbell_request(dev, req,
					RINGCAST_IVSHMEM_FD_CLOEXEC | RINGCAST_IVSHMEM_FD_NONBLOCK);
	if (ret)
		return ret;
	if (req->flags & RINGCAST_IVSHMEM_FD_CLOEXEC)
		open_flags |= O_CLOEXEC;
	if (req->flags & RINGCAST_IVSHMEM_FD_NONBLOCK)
		open_flags |= O_NONBLOCK;

	db = kzalloc(sizeof(*db), GFP_KERNEL);
	if (!db)
		return -ENOMEM;
	db->dev = dev;
	db->vector_index = req->vector;
	db->vector = &dev->vectors[req->vector];
	db->peer = req->peer;
	spin_lock_init(&db->seen_lock);
	/* Count only interrupts that arrive from now on. */
	db->seen = atomic64_read(&db->vector->interrupts);

	kref_get(&dev->ref);
	fd = anon_inode_getfd("[ringcast-doorbell]", &rc_doorbell_fops, db, open_flags);
	if (fd < 0) {
		rc_ivshmem_put(dev);
		kfree(db);
	}
	return fd;
}

/* ---- the device file --------------------------------------------------- */

static vm_fault_t rc_ivshmem_vm_fault(struct vm_fault *vmf)
{
	struct rc_ivshmem_file *of = vmf->vma->vm_file->private_data;
	struct rc_ivshmem *dev = of->dev;
	vm_fault_t ret;

	/* Insert under the read lock: remove sets `dead` under the write lock
	 * and only then zaps, so no page can be inserted after the zap. */
	down_read(&dev->lock);
	if (dev->dead || vmf->pgoff >= (dev->shm_size >> PAGE_SHIFT))
		ret = VM_FAULT_SIGBUS;
	else
		ret = vmf_insert_pfn(vmf->vma, vmf->address,
				     PHYS_PFN(dev->shm_phys) + vmf->pgoff);
	up_read(&dev->lock);
	return ret;
}

static const struct vm_operations_struct rc_ivshmem_vm_ops = {
	.fault = rc_ivshmem_vm_fault,
};

static int rc_ivshmem_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct rc_ivshmem_file *of = file->private_data;
	struct rc_ivshmem *dev = of->dev;
	unsigned long pages = dev->shm_size >> PAGE_SHIFT;
	int ret = 0;

	/* PFN mappings cannot be copied on write. VM_MAYSHARE, not VM_SHARED:
	 * the latter is cleared for MAP_SHARED of a read-only descriptor. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	down_read(&dev->lock);
	if (dev->dead)
		ret = -ENODEV;
	else if (vma->vm_pgoff >= pages || vma_pages(vma) > pages - vma->vm_pgoff)
		ret = -EINVAL;
	up_read(&dev->lock);
	if (ret)
		return ret;
	/* The memory type comes from the reservation memremap(WB) made at
	 * probe (x86 PAT looks it up on insert), so vm_page_prot stays as is. */
	vma->vm_flags |= VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_ops = &rc_ivshmem_vm_ops;
	return 0;
}

static long rc_ivshmem_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct rc_ivshmem_file *of = file->private_data;
	struct rc_ivshmem *dev = of->dev;
	void __user *uarg = (void __user *)arg;
	struct ringcast_ivshmem_doorbell req;
	struct ringcast_ivshmem_info info;
	int ret;

	if (READ_ONCE(dev->dead))
		return -ENODEV;
	switch (cmd) {
	case RINGCAST_IVSHMEM_INFO:
		memset(&info, 0, sizeof(info));
		info.size = dev->shm_size;
		info.peer_id = dev->peer_id;
		info.vectors = dev->nvectors;
		info.flags = dev->nvectors ? RINGCAST_IVSHMEM_F_DOORBELL : 0;
		return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
	case RINGCAST_IVSHMEM_DOORBELL_FD:
		if (copy_from_user(&req, uarg, sizeof(req)))
			return -EFAULT;
		return rc_ivshmem_doorbell_fd(dev, &req);
	case RINGCAST_IVSHMEM_RING:
		if (copy_from_user(&req, uarg, sizeof(req)))
			return -EFAULT;
		ret = rc_check_doorbell_request(dev, &req, 0);
		if (ret)
			return ret;
		if (req.peer == RINGCAST_IVSHMEM_NO_PEER)
			return -EINVAL;
		return rc_ivshmem_ring(dev, req.peer, req.vector);
	default:
		return -ENOTTY;
	}
}

static int rc_ivshmem_open(struct inode *inode, struct file *file)
{
	/* misc_open holds misc_mtx around this call, and remove deregisters
	 * the misc device (taking misc_mtx) before dropping its reference, so
	 * `dev` is alive here. */
	struct rc_ivshmem *dev = container_of(file->private_data, struct rc_ivshmem, misc);
	struct rc_ivshmem_file *of;

	of = kzalloc(sizeof(*of), GFP_KERNEL);
	if (!of)
		return -ENOMEM;
	down_read(&dev->lock);
	if (dev->dead) {
		up_read(&dev->lock);
		kfree(of);
		return -ENODEV;
	}
	kref_get(&dev->ref);
	up_read(&dev->lock);
	of->dev = dev;
	of->file = file;
	mutex_lock(&dev->files_lock);
	list_add(&of->node, &dev->files);
	mutex_unlock(&dev->files_lock);
	file->private_data = of;
	return 0;
}

static int rc_ivshmem_release(struct inode *inode, struct file *file)
{
	struct rc_ivshmem_file *of = file->private_data;
	struct rc_ivshmem *dev = of->dev;

	mutex_lock(&dev->files_lock);
	list_del(&of->node);
	mutex_unlock(&dev->files_lock);
	kfree(of);
	rc_ivshmem_put(dev);
	return 0;
}

static const struct file_operations rc_ivshmem_fops = {
	.owner = THIS_MODULE,
	.open = rc_ivshmem_open,
	.release = rc_ivshmem_release,
	.mmap = rc_ivshmem_mmap,
	.unlocked_ioctl = rc_ivshmem_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/* ---- sysfs: the same facts as RINGCAST_IVSHMEM_INFO, for scripts -------- */

static ssize_t shm_size_show(struct device *d, struct device_attribute *attr, char *buf)
{
	struct rc_ivshmem *dev = dev_get_drvdata(d);

	return sysfs_emit(buf, "%llu\n", (unsigned long long)dev->shm_size);
}
static DEVICE_ATTR_RO(shm_size);

static ssize_t peer_id_show(struct device *d, struct device_attribute *attr, char *buf)
{
	struct rc_ivshmem *dev = dev_get_drvdata(d);

	if (dev->peer_id == RINGCAST_IVSHMEM_NO_PEER)
		return sysfs_emit(buf, "none\n");
	return sysfs_emit(buf, "%u\n", dev->peer_id);
}
static DEVICE_ATTR_RO(peer_id);

static ssize_t vectors_show(struct device *d, struct device_attribute *attr, char *buf)
{
	struct rc_ivshmem *dev = dev_get_drvdata(d);

	return sysfs_emit(buf, "%u\n", dev->nvectors);
}
static DEVICE_ATTR_RO(vectors);

static ssize_t misc_name_show(struct device *d, struct device_attribute *attr, char *buf)
{
	struct rc_ivshmem *dev = dev_get_drvdata(d);

	return sysfs_emit(buf, "%s\n", dev->name);
}
static DEVICE_ATTR_RO(misc_name);

static struct attribute *rc_ivshmem_attrs[] = {
	&dev_attr_shm_size.attr,
	&dev_attr_peer_id.attr,
	&dev_attr_vectors.attr,
	&dev_attr_misc_name.attr,
	NULL,
};
ATTRIBUTE_GROUPS(rc_ivshmem);

/* ---- PCI ---------------------------------------------------------------- */

static irqreturn_t rc_ivshmem_interrupt(int irq, void *data)
{
	struct rc_ivshmem_vector *vector = data;

	atomic64_inc(&vector->interrupts);
	wake_up_all(&vector->wait);
	return IRQ_HANDLED;
}

static void rc_ivshmem_free_irqs(struct rc_ivshmem *dev, u32 requested)
{
	u32 i;

	for (i = 0; i < requested; i++)
		free_irq(pci_irq_vector(dev->pdev, i), &dev->vectors[i]);
	if (dev->nvectors)
		pci_free_irq_vectors(dev->pdev);
}

static int rc_ivshmem_setup_irqs(struct rc_ivshmem *dev)
{
	struct pci_dev *pdev = dev->pdev;
	int count = pci_msix_vec_count(pdev);
	u32 i;
	int ret;

	if (count <= 0) /* ivshmem-plain: no MSI-X capability */
		return 0;
	count = min(count, RC_IVSHMEM_MAX_VECTORS);
	dev->vectors = kcalloc(count, sizeof(*dev->vectors), GFP_KERNEL);
	if (!dev->vectors)
		return -ENOMEM;
	ret = pci_alloc_irq_vectors(pdev, count, count, PCI_IRQ_MSIX);
	if (ret < 0)
		return ret;
	dev->nvectors = count;
	for (i = 0; i < dev->nvectors; i++) {
		struct rc_ivshmem_vector *vector = &dev->vectors[i];

		atomic64_set(&vector->interrupts, 0);
		init_waitqueue_head(&vector->wait);
		snprintf(vector->irq_name, sizeof(vector->irq_name), "%s-v%u", dev->name, i);
		ret = request_irq(pci_irq_vector(pdev, i), rc_ivshmem_interrupt, 0,
				  vector->irq_name, vector);
		if (ret) {
			rc_ivshmem_free_irqs(dev, i);
			dev->nvectors = 0;
			return ret;
		}
	}
	/* MSI-X messages are memory writes by the device. */
	pci_set_master(pdev);
	return 0;
}

static void rc_ivshmem_describe(struct rc_ivshmem *dev)
{
	const struct rc_ring_desc *desc = dev->shm;

	/* Informational only: the shared memory is another party's to write. */
	if (dev->shm_size >= RC_DESC_SIZE && READ_ONCE(desc->magic) == RC_RING_MAGIC)
		dev_info(&dev->pdev->dev, "%s: %llu bytes, holds a ringcast ring (layout %u)\n",
			 dev->name, (unsigned long long)dev->shm_size, READ_ONCE(desc->layout_version));
	else
		dev_info(&dev->pdev->dev, "%s: %llu bytes, %u vectors, peer %d\n", dev->name,
			 (unsigned long long)dev->shm_size, dev->nvectors,
			 dev->peer_id == RINGCAST_IVSHMEM_NO_PEER ? -1 : (int)dev->peer_id);
}

static int rc_ivshmem_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct rc_ivshmem *dev;
	int ret;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	kref_init(&dev->ref);
	init_rwsem(&dev->lock);
	mutex_init(&dev->files_lock);
	INIT_LIST_HEAD(&dev->files);
	dev->pdev = pdev;
	dev->peer_id = RINGCAST_IVSHMEM_NO_PEER;

	dev->index = ida_alloc(&rc_ivshmem_ida, GFP_KERNEL);
	if (dev->index < 0) {
		ret = dev->index;
		goto err_free;
	}
	snprintf(dev->name, sizeof(dev->name), RINGCAST_IVSHMEM_DEVICE_PREFIX "%d", dev->index);

	ret = pci_enable_device(pdev);
	if (ret)
		goto err_ida;
	ret = pci_request_regions(pdev, DRV_NAME);
	if (ret)
		goto err_disable;

	if (!(pci_resource_flags(pdev, 0) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, 0) < IVSHMEM_REGS_SIZE ||
	    !(pci_resource_flags(pdev, 2) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, 2) < PAGE_SIZE) {
		dev_err(&pdev->dev, "unexpected BAR layout: not an ivshmem device\n");
		ret = -ENODEV;
		goto err_release;
	}
	dev->regs = pci_iomap(pdev, 0, IVSHMEM_REGS_SIZE);
	if (!dev->regs) {
		ret = -ENOMEM;
		goto err_release;
	}
	dev->shm_phys = pci_resource_start(pdev, 2);
	dev->shm_size = pci_resource_len(pdev, 2);
	dev->shm = memremap(dev->shm_phys, dev->shm_size, MEMREMAP_WB);
	if (!dev->shm) {
		ret = -ENOMEM;
		goto err_iounmap;
	}

	ret = rc_ivshmem_setup_irqs(dev);
	if (ret) {
		dev_err(&pdev->dev, "MSI-X setup failed: %d\n", ret);
		goto err_memunmap;
	}
	if (dev->nvectors)
		dev->peer_id = ioread32(dev->regs + IVSHMEM_REG_IVPOSITION);

	pci_set_drvdata(pdev, dev);
	dev->misc.minor = MISC_DYNAMIC_MINOR;
	dev->misc.name = dev->name;
	dev->misc.fops = &rc_ivshmem_fops;
	dev->misc.parent = &pdev->dev;
	ret = misc_register(&dev->misc);
	if (ret)
		goto err_irqs;
	rc_ivshmem_describe(dev);
	return 0;

err_irqs:
	rc_ivshmem_free_irqs(dev, dev->nvectors);
err_memunmap:
	memunmap(dev->shm);
err_iounmap:
	pci_iounmap(pdev, dev->regs);
err_release:
	pci_release_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_ida:
	ida_free(&rc_ivshmem_ida, dev->index);
err_free:
	rc_ivshmem_put(dev);
	return ret;
}

static void rc_ivshmem_remove(struct pci_dev *pdev)
{
	struct rc_ivshmem *dev = pci_get_drvdata(pdev);
	struct rc_ivshmem_file *of;
	u32 i;

	/* No new opens; misc_deregister waits for opens in progress. */
	misc_deregister(&dev->misc);

	down_write(&dev->lock);
	dev->dead = true;
	up_write(&dev->lock);

	/* Tear down user mappings; later touches fault and get SIGBUS. */
	mutex_lock(&dev->files_lock);
	list_for_each_entry(of, &dev->files, node)
		unmap_mapping_range(of->file->f_mapping, 0, 0, 1);
	mutex_unlock(&dev->files_lock);

	rc_ivshmem_free_irqs(dev, dev->nvectors);
	/* Blocked readers and pollers see `dead` and return ENODEV. */
	for (i = 0; i < dev->nvectors; i++)
		wake_up_all(&dev->vectors[i].wait);

	memunmap(dev->shm);
	pci_iounmap(pdev, dev->regs);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	ida_free(&rc_ivshmem_ida, dev->index);
	dev_info(&pdev->dev, "%s removed\n", dev->name);
	rc_ivshmem_put(dev);
}

static const struct pci_device_id rc_ivshmem_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_REDHAT_QUMRANET, 0x1110) },
	{ 0 },
};
MODULE_DEVICE_TABLE(pci, rc_ivshmem_ids);

static struct pci_driver rc_ivshmem_driver = {
	.name = DRV_NAME,
	.id_table = rc_ivshmem_ids,
	.probe = rc_ivshmem_probe,
	.remove = rc_ivshmem_remove,
	.dev_groups = rc_ivshmem_groups,
};
module_pci_driver(rc_ivshmem_driver);

MODULE_DESCRIPTION("ringcast: ivshmem shared memory and MSI-X doorbells for user space");
MODULE_LICENSE("GPL");
