// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "rc_memfd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static int neg_errno(void) { return errno ? -errno : -EIO; }

static void close_quietly(int fd)
{
	if (fd >= 0)
		close(fd);
}

int rc_map(int fd, uint64_t size, int writable, struct rc_mapping *map)
{
	void *addr = mmap(NULL, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);

	if (addr == MAP_FAILED)
		return neg_errno();
	map->addr = addr;
	map->size = size;
	return 0;
}

int rc_map_protect_readonly(struct rc_mapping *map)
{
	return mprotect(map->addr, map->size, PROT_READ) ? neg_errno() : 0;
}

void rc_unmap(struct rc_mapping *map)
{
	if (map->addr)
		munmap(map->addr, map->size);
	map->addr = NULL;
	map->size = 0;
}

int rc_ring_memfd_create(uint64_t size, int *fd, int *readonly_fd, struct rc_mapping *map)
{
	char proc_path[64];
	int r;

	*fd = memfd_create("ringcast-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	*readonly_fd = -1;
	if (*fd < 0)
		return neg_errno();
	if (ftruncate(*fd, (off_t)size) || (r = rc_map(*fd, size, 1, map)) < 0) {
		r = neg_errno();
		goto fail;
	}
	/* Our writable mapping survives the seal; nobody gets another one. */
	if (fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)) {
		r = neg_errno();
		rc_unmap(map);
		goto fail;
	}
	snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", *fd);
	*readonly_fd = open(proc_path, O_RDONLY | O_CLOEXEC);
	if (*readonly_fd < 0) {
		r = neg_errno();
		rc_unmap(map);
		goto fail;
	}
	return 0;
fail:
	close_quietly(*fd);
	*fd = -1;
	return r;
}

int rc_ack_memfd_create(uint64_t size, int *fd, struct rc_mapping *map)
{
	int r;

	*fd = memfd_create("ringcast-ack", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (*fd < 0)
		return neg_errno();
	if (ftruncate(*fd, (off_t)size) ||
	    fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		r = neg_errno();
		goto fail;
	}
	if ((r = rc_map(*fd, size, 1, map)) < 0)
		goto fail;
	return 0;
fail:
	close_quietly(*fd);
	*fd = -1;
	return r;
}

int rc_memfd_verify(int fd, uint64_t size, int required_seals)
{
	struct stat st;
	int seals;

	if (fstat(fd, &st))
		return neg_errno();
	if (!S_ISREG(st.st_mode))
		return -EBADF;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return -EBADF; /* not a memfd (or sealing not allowed) */
	if ((seals & (F_SEAL_SHRINK | required_seals)) != (F_SEAL_SHRINK | required_seals))
		return -EPERM;
	if ((uint64_t)st.st_size != size)
		return -EMSGSIZE;
	return 0;
}

const char *rc_memfd_problem(int status)
{
	switch (status) {
	case -EBADF:
		return "not a memfd";
	case -EPERM:
		return "a memfd without the required seals";
	case -EMSGSIZE:
		return "a memfd of the wrong size";
	default:
		return strerror(-status);
	}
}

int rc_eventfd_create(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	return fd < 0 ? neg_errno() : fd;
}

int rc_eventfd_verify(int fd)
{
	char proc_path[64], target[64];
	ssize_t n;
	int flags;

	snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", fd);
	n = readlink(proc_path, target, sizeof(target) - 1);
	if (n < 0)
		return neg_errno();
	target[n] = '\0';
	if (strcmp(target, "anon_inode:[eventfd]") != 0)
		return -EBADF;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return neg_errno();
	return (flags & O_NONBLOCK) ? 0 : -EPERM;
}

const char *rc_eventfd_problem(int status)
{
	switch (status) {
	case -EBADF:
		return "not an eventfd";
	case -EPERM:
		return "a blocking eventfd (a doorbell must be non-blocking)";
	default:
		return strerror(-status);
	}
}

int64_t rc_eventfd_drain(int fd)
{
	uint64_t count = 0;
	ssize_t r;

	do {
		r = read(fd, &count, sizeof(count));
	} while (r < 0 && errno == EINTR);
	return r == (ssize_t)sizeof(count) ? (int64_t)count : 0;
}

int rc_eventfd_ring(int fd)
{
	uint64_t one = 1;
	ssize_t r;

	do {
		r = write(fd, &one, sizeof(one));
	} while (r < 0 && errno == EINTR);
	return r < 0 && errno != EAGAIN ? neg_errno() : 0;
}
