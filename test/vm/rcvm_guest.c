/* SPDX-License-Identifier: MIT */
/*
 * Guest side of the VM test, phase 1: the ringcast_ivshmem driver's
 * contract (kmod/ringcast_ivshmem.h) checked from user space in a QEMU guest.
 * Static, no libraries; run by test/vm/init as `rcvm-guest phase1 G`.
 * Prints one line per check: "RCVM ok NAME" or "RCVM FAIL NAME: why".
 * Synchronises with the host and the other guest through the flags in
 * rcvm_shared.h, woken by the doorbells under test; every wait has a
 * fail-safe deadline so a broken doorbell fails the check instead of hanging.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ringcast_ivshmem.h"
#define RCVM_REPORT_OK "RCVM ok "
#define RCVM_REPORT_FAIL "RCVM FAIL "
#include "rcvm_shared.h"

#define WAIT_MS 90000 /* fail-safe only: a healthy run takes a few seconds */
#define RING_SIZE (4u << 20)
#define ACK_SIZE 4096u
#define DOORBELL_SHM_SIZE (64u << 10)
#define DRIVER_SYSFS "/sys/bus/pci/drivers/ringcast_ivshmem"

static struct rcvm_ack *ack;

static void fatal(const char *name, const char *why)
{
	report(false, name, "%s (errno %s); giving up", why, strerror(errno));
	if (ack) {
		rcvm_store(&ack->failures, (uint32_t)failures);
		rcvm_store(&ack->step, (uint32_t)RCVM_STEP_DONE);
	}
	exit(1);
}

struct device {
	char path[64];
	int fd;
	struct ringcast_ivshmem_info info;
};

static int doorbell_fd(int dev_fd, uint32_t vector, uint32_t peer, uint32_t flags)
{
	struct ringcast_ivshmem_doorbell req = { .vector = vector, .peer = peer, .flags = flags };

	return ioctl(dev_fd, RINGCAST_IVSHMEM_DOORBELL_FD, &req);
}

/* Waits up to WAIT_MS for POLLIN; returns the revents (0 on timeout). */
static short wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do {
		r = poll(&p, 1, WAIT_MS);
	} while (r < 0 && errno == EINTR);
	return r > 0 ? p.revents : 0;
}

static sigjmp_buf sigbus_jump;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(sigbus_jump, 1);
}

/* Reads *p; true if that raised SIGBUS. */
static bool touch_faults(volatile const uint8_t *p)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	bool faulted = false;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(sigbus_jump, 1) == 0)
		(void)*p;
	else
		faulted = true;
	sigaction(SIGBUS, &old, NULL);
	return faulted;
}

static char process_state(pid_t pid)
{
	char path[64], buf[256], *paren;
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' ? paren[2] : '?';
}

/* Uses every entry point of the device at `path` in a loop, until killed;
 * failures (the device is being unbound) are expected and ignored. */
static void hammer(const char *path, uint32_t self_peer)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	uint64_t one = 1, count;

	sigaction(SIGBUS, &sa, NULL);
	for (;;) {
		struct ringcast_ivshmem_info info;
		struct pollfd p;
		int fd = open(path, O_RDWR | O_CLOEXEC), db;
		volatile uint8_t *m;

		if (fd < 0) {
			sched_yield();
			continue;
		}
		(void)ioctl(fd, RINGCAST_IVSHMEM_INFO, &info);
		db = doorbell_fd(fd, 3, self_peer, RINGCAST_IVSHMEM_FD_CLOEXEC | RINGCAST_IVSHMEM_FD_NONBLOCK);
		if (db >= 0) {
			(void)!write(db, &one, 8);
			p = (struct pollfd){ .fd = db, .events = POLLIN };
			(void)poll(&p, 1, 0);
			(void)!read(db, &count, 8);
			close(db);
		}
		m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			if (sigsetjmp(sigbus_jump, 1) == 0)
				(void)m[0];
			munmap((void *)m, 4096);
		}
		close(fd);
	}
}

static int write_sysfs(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -errno;
}

int main(int argc, char **argv)
{
	struct device devs[8], *ring_dev = NULL, *ack_dev = NULL, *db_dev = NULL;
	int ndevs = 0, guest, other;
	uint8_t *ring, *ack_mem, *db_shm;
	const struct rcvm_control *ctl;
	int host_fd, recv_fd, self_fd, send_fd;
	uint64_t one = 1, count;
	void *m;

	if (argc != 3 || strcmp(argv[1], "phase1") || (guest = atoi(argv[2])) < 1 || guest > RCVM_GUESTS) {
		fprintf(stderr, "usage: rcvm-guest phase1 1|2\n");
		return 2;
	}
	other = 3 - guest;

	/* ---- the device nodes, told apart by what INFO says ---- */
	for (int i = 0; i < 8; i++) {
		struct device *d = &devs[ndevs];

		snprintf(d->path, sizeof(d->path), "/dev/" RINGCAST_IVSHMEM_DEVICE_PREFIX "%d", i);
		d->fd = open(d->path, O_RDWR | O_CLOEXEC);
		if (d->fd < 0)
			continue;
		if (ioctl(d->fd, RINGCAST_IVSHMEM_INFO, &d->info) < 0)
			fatal("info-ioctl", d->path);
		if (d->info.flags & RINGCAST_IVSHMEM_F_DOORBELL)
			db_dev = d;
		else if (d->info.size == RING_SIZE)
			ring_dev = d;
		else if (d->info.size == ACK_SIZE)
			ack_dev = d;
		ndevs++;
	}
	check(ndevs == 3 && ring_dev && ack_dev && db_dev, "three-device-nodes",
	      "%d nodes, ring %s ack %s doorbell %s", ndevs, ring_dev ? "yes" : "no",
	      ack_dev ? "yes" : "no", db_dev ? "yes" : "no");
	if (!ring_dev || !ack_dev || !db_dev)
		fatal("devices", "cannot go on without ring, ack and doorbell devices");
	check(ring_dev->info.peer_id == RINGCAST_IVSHMEM_NO_PEER && ring_dev->info.vectors == 0 &&
	      ack_dev->info.peer_id == RINGCAST_IVSHMEM_NO_PEER && ack_dev->info.vectors == 0,
	      "info-plain", "ring peer %#x vectors %u", ring_dev->info.peer_id, ring_dev->info.vectors);
	check(db_dev->info.size == DOORBELL_SHM_SIZE && db_dev->info.vectors == RCVM_VECTORS &&
	      db_dev->info.peer_id <= 0xffff, "info-doorbell", "size %llu vectors %u peer %u",
	      (unsigned long long)db_dev->info.size, db_dev->info.vectors, db_dev->info.peer_id);

	/* ---- mappings ---- */
	ack_mem = mmap(NULL, ACK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ack_dev->fd, 0);
	if (ack_mem == MAP_FAILED)
		fatal("mmap-ack", "mmap");
	ack = (struct rcvm_ack *)ack_mem;
	ring = mmap(NULL, RING_SIZE, PROT_READ, MAP_SHARED, ring_dev->fd, 0);
	db_shm = mmap(NULL, DOORBELL_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, db_dev->fd, 0);
	check(ring != MAP_FAILED && db_shm != MAP_FAILED, "mmap-whole-bar2", "%s", strerror(errno));
	if (ring == MAP_FAILED || db_shm == MAP_FAILED)
		fatal("mmap", "mmap");
	m = mmap(NULL, RING_SIZE + 4096, PROT_READ, MAP_SHARED, ring_dev->fd, 0);
	check(m == MAP_FAILED && errno == EINVAL, "mmap-beyond-bar2-refused", "got %p errno %d", m, errno);
	m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, ring_dev->fd, RING_SIZE - 4096);
	check(m == MAP_FAILED && errno == EINVAL, "mmap-offset-past-end-refused", "got %p errno %d", m, errno);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, ack_dev->fd, 0);
	check(m == MAP_FAILED && errno == EINVAL, "mmap-private-refused", "got %p errno %d", m, errno);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ring_dev->fd, RCVM_PATTERN_OFFSET);
	check(m != MAP_FAILED && memcmp(m, ring + RCVM_PATTERN_OFFSET, 4096) == 0, "mmap-at-offset",
	      "%s", m == MAP_FAILED ? strerror(errno) : "differs from the whole mapping");
	if (m != MAP_FAILED)
		munmap(m, 4096);
	{
		int ro = open(ring_dev->path, O_RDONLY | O_CLOEXEC);

		m = mmap(NULL, RING_SIZE, PROT_READ, MAP_SHARED, ro, 0);
		check(m != MAP_FAILED && memcmp(m, ring, 4096) == 0, "readonly-open-maps-readonly", "%s",
		      m == MAP_FAILED ? strerror(errno) : "differs from the read-write open's mapping");
		if (m != MAP_FAILED)
			munmap(m, RING_SIZE);
		m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
		check(ro >= 0 && m == MAP_FAILED && errno == EACCES, "readonly-open-no-writable-map",
		      "got %p errno %d", m, errno);
		close(ro);
	}

	/* ---- what the host wrote before we booted ---- */
	ctl = (const struct rcvm_control *)ring;
	check(rcvm_load(&ctl->magic) == RCVM_MAGIC, "host-data-magic", "magic %#llx",
	      (unsigned long long)ctl->magic);
	check(rcvm_sum(ring + RCVM_PATTERN_OFFSET, RCVM_PATTERN_LEN) == ctl->pattern_sum,
	      "host-data-1MiB-checksum", "checksum differs");

	/* The read-only ring: try to write through a writable mapping. */
	{
		uint8_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ring_dev->fd, 0);

		if (w == MAP_FAILED) {
			check(false, "ring-write-attempt", "mmap: %s", strerror(errno));
		} else {
			volatile uint64_t *scratch = (volatile uint64_t *)(w + RCVM_SCRATCH_OFFSET);

			*scratch = RCVM_SCRATCH_VALUE;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			ack->ring_write = *scratch == RCVM_SCRATCH_VALUE ? RCVM_RING_WRITE_VISIBLE
									 : RCVM_RING_WRITE_IGNORED;
			printf("RCVM note ring write by the guest: %s\n",
			       ack->ring_write == RCVM_RING_WRITE_IGNORED ? "ignored (read-only backend)"
									  : "visible (writable backend)");
			munmap(w, 4096);
		}
	}

	/* ---- doorbell descriptor errors ---- */
	errno = 0;
	check(doorbell_fd(ring_dev->fd, 0, 0, 0) < 0 && errno == EOPNOTSUPP, "doorbell-on-plain-refused",
	      "errno %d", errno);
	errno = 0;
	check(doorbell_fd(db_dev->fd, RCVM_VECTORS, 0, 0) < 0 && errno == EINVAL, "doorbell-bad-vector-refused",
	      "errno %d", errno);
	errno = 0;
	check(doorbell_fd(db_dev->fd, 0, 0x10000, 0) < 0 && errno == EINVAL, "doorbell-bad-peer-refused",
	      "errno %d", errno);
	errno = 0;
	check(doorbell_fd(db_dev->fd, 0, 0, 0x80) < 0 && errno == EINVAL, "doorbell-unknown-flag-refused",
	      "errno %d", errno);
	{
		struct ringcast_ivshmem_doorbell req = { .reserved = { [2] = 1 } };

		errno = 0;
		check(ioctl(db_dev->fd, RINGCAST_IVSHMEM_DOORBELL_FD, &req) < 0 && errno == EINVAL,
		      "doorbell-reserved-refused", "errno %d", errno);
	}
	errno = 0;
	check(ioctl(db_dev->fd, _IO(RINGCAST_IVSHMEM_IOC_MAGIC, 0x7f)) < 0 && errno == ENOTTY,
	      "unknown-ioctl-ENOTTY", "errno %d", errno);

	/* ---- self-ring: our own vector 3 through QEMU and back as MSI-X ---- */
	self_fd = doorbell_fd(db_dev->fd, 3, db_dev->info.peer_id, RINGCAST_IVSHMEM_FD_CLOEXEC);
	if (self_fd < 0)
		fatal("doorbell-fd", "DOORBELL_FD");
	check(write(self_fd, &one, 8) == 8, "self-ring-write", "%s", strerror(errno));
	count = 0;
	check(wait_readable(self_fd) & POLLIN && read(self_fd, &count, 8) == 8 && count >= 1,
	      "self-ring-msix-delivered", "count %llu", (unsigned long long)count);
	{
		struct ringcast_ivshmem_doorbell req = { .vector = 3, .peer = db_dev->info.peer_id };

		check(ioctl(db_dev->fd, RINGCAST_IVSHMEM_RING, &req) == 0, "ring-ioctl", "%s", strerror(errno));
		count = 0;
		check(wait_readable(self_fd) & POLLIN && read(self_fd, &count, 8) == 8 && count >= 1,
		      "ring-ioctl-delivered", "count %llu", (unsigned long long)count);
	}
	{
		/* Two descriptors on one vector count on their own. */
		int twin = doorbell_fd(db_dev->fd, 3, RINGCAST_IVSHMEM_NO_PEER, RINGCAST_IVSHMEM_FD_CLOEXEC);
		uint64_t twin_count = 0;

		count = 0;
		check(twin >= 0 && write(self_fd, &one, 8) == 8 && (wait_readable(self_fd) & POLLIN) &&
		      read(self_fd, &count, 8) == 8 && (wait_readable(twin) & POLLIN) &&
		      read(twin, &twin_count, 8) == 8 && count >= 1 && twin_count >= 1,
		      "two-descriptors-one-vector-count-apart", "counts %llu %llu",
		      (unsigned long long)count, (unsigned long long)twin_count);
		close(twin);
	}
	{
		uint64_t zero = 0;
		char small[4];

		check(write(self_fd, &zero, 8) == 8, "write-zero-accepted", "%s", strerror(errno));
		errno = 0;
		check(read(self_fd, small, sizeof(small)) < 0 && errno == EINVAL, "short-read-EINVAL",
		      "errno %d", errno);
	}

	/* ---- descriptors for the host and the other guest, then ready ---- */
	host_fd = doorbell_fd(db_dev->fd, (uint32_t)(guest - 1), ctl->host_peer,
			      RINGCAST_IVSHMEM_FD_CLOEXEC | RINGCAST_IVSHMEM_FD_NONBLOCK);
	recv_fd = doorbell_fd(db_dev->fd, RCVM_GUEST_VECTOR, RINGCAST_IVSHMEM_NO_PEER, RINGCAST_IVSHMEM_FD_CLOEXEC);
	if (host_fd < 0 || recv_fd < 0)
		fatal("doorbell-fd", "DOORBELL_FD");
	errno = 0;
	check(read(host_fd, &count, 8) < 0 && errno == EAGAIN, "nonblocking-read-EAGAIN", "errno %d", errno);
	{
		struct pollfd p = { .fd = host_fd, .events = POLLIN | POLLOUT };
		int r = poll(&p, 1, 0);

		check(r == 1 && p.revents == POLLOUT, "poll-idle-no-POLLIN", "poll %d revents %#x", r, p.revents);
	}
	errno = 0;
	check(write(recv_fd, &one, 8) < 0 && errno == EPERM, "receive-only-write-EPERM", "errno %d", errno);
	rcvm_store(&ack->peer_id, db_dev->info.peer_id);
	rcvm_store(&ack->step, (uint32_t)RCVM_STEP_READY);
	printf("RCVM note guest %d is peer %u, ready\n", guest, db_dev->info.peer_id);
	fflush(stdout);

	/* ---- host -> guest ---- */
	{
		short revents = wait_readable(host_fd);

		count = 0;
		check((revents & POLLIN) && read(host_fd, &count, 8) == 8 && count >= 1, "host-to-guest-doorbell",
		      "revents %#x count %llu", revents, (unsigned long long)count);
		ack->host_rings_seen = count;
		errno = 0;
		check(read(host_fd, &count, 8) < 0 && errno == EAGAIN, "read-resets-count", "errno %d", errno);
		check(rcvm_load(&ctl->round) == 1, "host-data-live-after-doorbell", "round %u", ctl->round);
		rcvm_store(&ack->step, (uint32_t)RCVM_STEP_HOST_RUNG);
	}

	/* ---- guest -> host ---- */
	check(write(host_fd, &one, 8) == 8, "guest-to-host-write", "%s", strerror(errno));
	rcvm_store(&ack->step, (uint32_t)RCVM_STEP_RANG_HOST);

	/* ---- guest -> guest: a token in the doorbell shm, then the ring ---- */
	{
		struct rcvm_token *tokens = (struct rcvm_token *)db_shm;
		uint32_t other_peer = rcvm_load(&ctl->guest_peer[other - 1]);
		pid_t child;
		int status = -1;

		send_fd = doorbell_fd(db_dev->fd, RCVM_GUEST_VECTOR, other_peer, RINGCAST_IVSHMEM_FD_CLOEXEC);
		if (send_fd < 0)
			fatal("doorbell-fd", "DOORBELL_FD to the other guest");
		/* A blocking read, in a child so a lost ring fails by alarm. */
		child = fork();
		if (child == 0) {
			alarm(WAIT_MS / 1000);
			count = 0;
			_exit(read(recv_fd, &count, 8) == 8 && count >= 1 ? 0 : 1);
		}
		rcvm_store(&tokens[guest].value, rcvm_token_for(guest));
		check(write(send_fd, &one, 8) == 8, "guest-to-guest-write", "%s", strerror(errno));
		waitpid(child, &status, 0);
		check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "guest-to-guest-doorbell-blocking-read",
		      "child status %#x", status);
		check(rcvm_load(&tokens[other].value) == rcvm_token_for(other), "guest-to-guest-data",
		      "token %#llx", (unsigned long long)tokens[other].value);
		rcvm_store(&ack->step, (uint32_t)RCVM_STEP_GUEST_RUNG);
	}

	/* ---- unbind with descriptors, a mapping and a blocked reader open ---- */
	{
		char link[PATH_MAX], target[PATH_MAX], *pci_addr;
		ssize_t n;
		pid_t child;
		int status = -1, r;
		struct ringcast_ivshmem_info info;
		struct pollfd p = { .fd = recv_fd, .events = POLLIN };

		/* Our ring to the other guest is already on its way through
		 * QEMU: unbinding our device cannot lose it. */
		snprintf(link, sizeof(link), "/sys/class/misc/%s/device", db_dev->path + 5);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			fatal("unbind", "readlink of the misc device's PCI parent");
		target[n] = 0;
		pci_addr = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;

		child = fork();
		if (child == 0) {
			alarm(WAIT_MS / 1000);
			errno = 0;
			_exit(read(recv_fd, &count, 8) < 0 && errno == ENODEV ? 0 : 1);
		}
		/* Let it block first: its state becomes S(leeping) in read. */
		for (int i = 0; i < 10000 && process_state(child) != 'S'; i++)
			sched_yield();
		r = write_sysfs(DRIVER_SYSFS "/unbind", pci_addr);
		check(r == 0, "unbind-doorbell-device", "%s: %s", pci_addr, strerror(-r));
		waitpid(child, &status, 0);
		check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "blocked-reader-woken-ENODEV",
		      "child status %#x", status);
		errno = 0;
		check(read(self_fd, &count, 8) < 0 && errno == ENODEV, "read-after-unbind-ENODEV", "errno %d", errno);
		errno = 0;
		check(write(send_fd, &one, 8) < 0 && errno == ENODEV, "write-after-unbind-ENODEV", "errno %d", errno);
		errno = 0;
		check(ioctl(db_dev->fd, RINGCAST_IVSHMEM_INFO, &info) < 0 && errno == ENODEV,
		      "ioctl-after-unbind-ENODEV", "errno %d", errno);
		check(poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)) == (POLLERR | POLLHUP),
		      "poll-after-unbind-POLLHUP", "revents %#x", p.revents);
		check(touch_faults(db_shm), "mapping-after-unbind-SIGBUS", "the old mapping still reads");
		errno = 0;
		m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, db_dev->fd, 0);
		check(m == MAP_FAILED && errno == ENODEV, "mmap-after-unbind-ENODEV", "errno %d", errno);
		check(access(db_dev->path, F_OK) < 0 && errno == ENOENT, "node-gone-after-unbind", "%s exists",
		      db_dev->path);
		check(!touch_faults(ring) && rcvm_load(&ctl->magic) == RCVM_MAGIC, "other-devices-unaffected",
		      "the ring mapping broke");
		/* Open descriptors (ours on the other devices, these stale ones)
		 * hold the module: rmmod must refuse, not pull code from under them. */
		errno = 0;
		check(syscall(SYS_delete_module, "ringcast_ivshmem", O_NONBLOCK) < 0 && errno == EWOULDBLOCK,
		      "rmmod-refused-while-descriptors-open", "errno %d", errno);
		/* Bind it again, so the module's unload path meets a live device too. */
		r = write_sysfs(DRIVER_SYSFS "/bind", pci_addr);
		check(r == 0 && access(db_dev->path, F_OK) == 0, "rebind-doorbell-device", "%s: %s", pci_addr,
		      strerror(-r));

		/* Unbind and bind again and again while two processes use every
		 * entry point of the device: the kernel log check at the end
		 * catches what a race would leave. */
		{
			pid_t hammers[2];
			int cycles = 0, bad = 0;

			for (int i = 0; i < 2; i++) {
				hammers[i] = fork();
				if (hammers[i] == 0)
					hammer(db_dev->path, db_dev->info.peer_id);
			}
			for (; cycles < 20 && !bad; cycles++) {
				if (write_sysfs(DRIVER_SYSFS "/unbind", pci_addr) ||
				    write_sysfs(DRIVER_SYSFS "/bind", pci_addr))
					bad = 1;
			}
			for (int i = 0; i < 2; i++) {
				kill(hammers[i], SIGKILL);
				waitpid(hammers[i], NULL, 0);
			}
			check(!bad, "unbind-bind-20-cycles-under-load", "cycle %d failed", cycles);
		}
		/* And the device still rings itself afterwards: MSI-X set up anew.
		 * On vector other-1, which nobody else rings on this guest (the
		 * host rings us on guest-1, the hammers used 3). */
		{
			int fd = open(db_dev->path, O_RDWR | O_CLOEXEC);
			int db = fd < 0 ? -1
					: doorbell_fd(fd, (uint32_t)(other - 1), db_dev->info.peer_id,
						      RINGCAST_IVSHMEM_FD_CLOEXEC);

			count = 0;
			check(db >= 0 && write(db, &one, 8) == 8 && (wait_readable(db) & POLLIN) &&
			      read(db, &count, 8) == 8 && count >= 1, "doorbell-works-after-rebinds", "%s",
			      strerror(errno));
			if (db >= 0)
				close(db);
			if (fd >= 0)
				close(fd);
		}
	}

	close(self_fd);
	close(host_fd);
	close(recv_fd);
	close(send_fd);
	munmap(db_shm, DOORBELL_SHM_SIZE);
	munmap(ring, RING_SIZE);
	for (int i = 0; i < ndevs; i++)
		if (&devs[i] != ack_dev)
			close(devs[i].fd);
	printf("RCVM note guest %d phase 1 done, %d failures\n", guest, failures);
	fflush(stdout);
	rcvm_store(&ack->failures, (uint32_t)failures);
	rcvm_store(&ack->step, (uint32_t)RCVM_STEP_DONE);
	munmap(ack_mem, ACK_SIZE);
	close(ack_dev->fd);
	return failures ? 1 : 0;
}
