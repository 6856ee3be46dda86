/*
 * The focused test of the grant device (kmod/ringcast_xengrant.c) in real
 * Xen domains, run by test/xen/run.sh:
 *
 *   xengrant_test owner RECEIVER_DOMID...   in the publisher domU, module loaded
 *   xengrant_test reader OWNER_DOMID         in each receiver domain
 *
 * The owner validates every ioctl argument on a scratch ring, then allocates
 * one ring of RING_PAGES pages, maps it, grants it read-only to every
 * receiver domain and publishes each domain's references in XenStore,
 * readable by that domain only. Readers map the same pages (gntdev), check
 * what the owner wrote, see its later writes live, fail to write, and report
 * their state in XenStore. The owner then revokes the first domU receiver's
 * grants while it maps (deferred: it keeps reading the same page; once it
 * unmaps, the references are refused), and kills itself: the device's
 * release marks the bus gone and notifies dom0's reader, whose pages stay
 * intact even after the module is unloaded.
 *
 * Every check prints "RCG ok NAME" or "RCG FAIL NAME: why"; exit 1 on a
 * failure that ends the program early.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rc_xen.h"
#include "rc_xenstore.h"
#include "ringcast_barrier.h"
#include "ringcast_layout.h"
#include "ringcast_xengrant.h"

#define RING_PAGES 4u
#define COUNTER_BEFORE_REVOKE 1001u
#define COUNTER_AFTER_REVOKE 2002u
#define WAIT_MS 180000
#define DOMID_FIRST_RESERVED_FOR_TEST 0x7ff0u /* DOMID_FIRST_RESERVED */

static int failures;

static void ok(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("RCG ok ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

static void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("RCG FAIL %s: ", name);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
	failures++;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The byte every data page i (1..RING_PAGES-1) is filled with, past the
 * counter at the start of page 1. */
static uint8_t fill_byte(uint32_t page) { return (uint8_t)(0xa0u + page); }
#define COUNTER_OFFSET RC_PAGE_SIZE
#define FILL_FROM 64u

static bool fill_intact(const uint8_t *ring)
{
	for (uint32_t p = 1; p < RING_PAGES; p++)
		for (uint32_t i = FILL_FROM; i < RC_PAGE_SIZE; i++)
			if (ring[p * RC_PAGE_SIZE + i] != fill_byte(p))
				return false;
	return true;
}

static volatile uint64_t *counter_of(void *ring)
{
	return (volatile uint64_t *)((uint8_t *)ring + COUNTER_OFFSET);
}

/* ---- XenStore -------------------------------------------------------------------- */

static uint16_t own_domid(struct rc_xs *xs)
{
	char buf[16];

	/* dom0 has no "domid" node until xen-init-dom0 wrote it. */
	if (rc_xs_read(xs, "domid", buf, sizeof(buf), NULL) < 0)
		return 0;
	return (uint16_t)strtoul(buf, NULL, 10);
}

/* Writes `value` at `path`, owned by `owner`, readable by `reader` only
 * (reader == owner: by nobody else; reader < 0: by everyone). */
static int xs_put(struct rc_xs *xs, const char *path, const char *value, uint16_t owner, int reader)
{
	struct rc_xs_perm perms[2] = {
		{ owner, reader < 0 ? RC_XS_PERM_READ : RC_XS_PERM_NONE },
		{ (uint16_t)(reader < 0 ? owner : reader), RC_XS_PERM_READ },
	};
	int r = rc_xs_write(xs, path, value, strlen(value));

	return r < 0 ? r : rc_xs_set_perms(xs, path, perms, 2);
}

/* Polls `path` until it reads `want` (or, with want NULL, exists), for at
 * most WAIT_MS. 0, or the last error. */
static int xs_wait(struct rc_xs *xs, const char *path, const char *want, char *out, size_t cap)
{
	uint64_t until = now_ms() + WAIT_MS;
	int r;

	do {
		r = rc_xs_read(xs, path, out, cap, NULL);
		if (r == 0 && (!want || strcmp(out, want) == 0))
			return 0;
		if (r == 0 && strncmp(out, "FAIL", 4) == 0)
			return -ECANCELED;
		sleep_ms(100);
	} while (now_ms() < until);
	return r < 0 ? r : -ETIMEDOUT;
}

/* ---- owner ----------------------------------------------------------------------- */

static int xg_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

/* One bad argument: `got` must be -`want`. */
static void expect_errno(int *cases, const char *what, int got, int want)
{
	(*cases)++;
	if (got != -want)
		fail("device-validates-arguments", "%s: got %d (%s), want -%s", what, got,
		     got < 0 ? strerror(-got) : "success", strerrorname_np(want));
}

static void validate_arguments(void)
{
	struct ringcast_xengrant_alloc alloc = { 0 };
	struct ringcast_xengrant_grant grant = { 0 };
	struct ringcast_xengrant_revoke revoke = { 0 };
	struct ringcast_xengrant_notify notify = { 0 };
	uint32_t refs[RING_PAGES];
	int cases = 0, before = failures;
	void *m;
	int fd = open("/dev/" RINGCAST_XENGRANT_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fail("device-validates-arguments", "open: %s", strerror(errno));
		return;
	}
	grant.domid = 0;
	grant.count = RING_PAGES;
	grant.refs = (uintptr_t)refs;
	expect_errno(&cases, "GRANT before ALLOC", xg_ioctl(fd, RINGCAST_XENGRANT_GRANT, &grant), EINVAL);
	m = mmap(NULL, RC_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	expect_errno(&cases, "mmap before ALLOC", m == MAP_FAILED ? -errno : 0, EINVAL);
	alloc.pages = 0;
	expect_errno(&cases, "ALLOC 0 pages", xg_ioctl(fd, RINGCAST_XENGRANT_ALLOC, &alloc), EINVAL);
	alloc.pages = 0xffffffffu;
	expect_errno(&cases, "ALLOC 2^32-1 pages", xg_ioctl(fd, RINGCAST_XENGRANT_ALLOC, &alloc), EINVAL);
	alloc.pages = RING_PAGES;
	alloc.reserved[4] = 1;
	expect_errno(&cases, "ALLOC reserved", xg_ioctl(fd, RINGCAST_XENGRANT_ALLOC, &alloc), EINVAL);
	alloc.reserved[4] = 0;
	expect_errno(&cases, "ALLOC", xg_ioctl(fd, RINGCAST_XENGRANT_ALLOC, &alloc), 0);
	printf("RCG note device limits: max_pages %u, max_domains %u\n", alloc.max_pages, alloc.max_domains);
	alloc.max_pages = alloc.max_domains = 0;
	expect_errno(&cases, "ALLOC twice", xg_ioctl(fd, RINGCAST_XENGRANT_ALLOC, &alloc), EBUSY);
	m = mmap(NULL, RC_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	expect_errno(&cases, "mmap MAP_PRIVATE", m == MAP_FAILED ? -errno : 0, EINVAL);
	m = mmap(NULL, (RING_PAGES + 1) * RC_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	cases++;
	if (m != MAP_FAILED)
		fail("device-validates-arguments", "mmap past the ring's end succeeded");
	grant.domid = DOMID_FIRST_RESERVED_FOR_TEST;
	expect_errno(&cases, "GRANT to a reserved domid", xg_ioctl(fd, RINGCAST_XENGRANT_GRANT, &grant), EINVAL);
	grant.domid = 0;
	grant.count = RING_PAGES - 1;
	expect_errno(&cases, "GRANT count too small", xg_ioctl(fd, RINGCAST_XENGRANT_GRANT, &grant), EINVAL);
	grant.count = RING_PAGES;
	grant.reserved[0] = 1;
	expect_errno(&cases, "GRANT reserved", xg_ioctl(fd, RINGCAST_XENGRANT_GRANT, &grant), EINVAL);
	grant.reserved[0] = 0;
	grant.refs = 8; /* not a user address */
	expect_errno(&cases, "GRANT refs unwritable", xg_ioctl(fd, RINGCAST_XENGRANT_GRANT, &grant), EFAULT);
	revoke.domid = 0; /* EFAULT above left nothing granted */
	expect_errno(&cases, "REVOKE without grants", xg_ioctl(fd, RINGCAST_XENGRANT_REVOKE, &revoke), ENOENT);
	notify.port = 0;
	notify.flags = RINGCAST_XENGRANT_NOTIFY_ADD | RINGCAST_XENGRANT_NOTIFY_REMOVE;
	expect_errno(&cases, "NOTIFY both flags", xg_ioctl(fd, RINGCAST_XENGRANT_NOTIFY_ON_RELEASE, &notify), EINVAL);
	notify.flags = RINGCAST_XENGRANT_NOTIFY_REMOVE;
	expect_errno(&cases, "NOTIFY remove absent", xg_ioctl(fd, RINGCAST_XENGRANT_NOTIFY_ON_RELEASE, &notify),
		     ENOENT);
	notify.flags = RINGCAST_XENGRANT_NOTIFY_ADD;
	notify.port = 100000; /* past any event-channel ABI's limit here */
	cases++;
	if (xg_ioctl(fd, RINGCAST_XENGRANT_NOTIFY_ON_RELEASE, &notify) == 0)
		fail("device-validates-arguments", "NOTIFY accepted port 100000");
	cases++;
	if (xg_ioctl(fd, _IO(RINGCAST_XENGRANT_IOC_MAGIC, 0x7f), NULL) != -ENOTTY)
		fail("device-validates-arguments", "an unknown ioctl was not ENOTTY");
	close(fd);
	if (failures == before)
		ok("device-validates-every-ioctl-argument (%d cases)", cases);
}

static int owner(int argc, char **argv)
{
	struct rc_xen_devices dev;
	struct rc_xs *xs;
	uint16_t me, receivers[8];
	uint32_t refs[8][RING_PAGES];
	int nreceivers = 0, revoked = -1, r;
	char path[128], value[256], state[64];
	uint8_t *ring;
	int fd;

	for (int i = 2; i < argc && nreceivers < 8; i++)
		receivers[nreceivers++] = (uint16_t)strtoul(argv[i], NULL, 10);
	if ((r = rc_xs_open(&xs)) < 0 || (r = rc_xen_devices_open(&dev)) < 0) {
		fail("owner-starts", "xenstore or xen devices: %s", strerror(-r));
		return 1;
	}
	me = own_domid(xs);
	validate_arguments();

	fd = open("/dev/" RINGCAST_XENGRANT_DEVICE, O_RDWR | O_CLOEXEC);
	struct ringcast_xengrant_alloc alloc = { .pages = RING_PAGES };
	if (fd < 0 || xg_ioctl(fd, RINGCAST_XENGRANT_ALLOC, &alloc) < 0) {
		fail("ring-allocated-once-and-mapped", "open/ALLOC: %s", strerror(errno));
		return 1;
	}
	ring = mmap(NULL, RING_PAGES * RC_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ring == MAP_FAILED) {
		fail("ring-allocated-once-and-mapped", "mmap: %s", strerror(errno));
		return 1;
	}
	struct rc_ring_desc *desc = (struct rc_ring_desc *)ring;
	desc->magic = RC_RING_MAGIC;
	desc->layout_version = RC_LAYOUT_VERSION;
	rc_store_release(&desc->publisher_state, (uint32_t)RC_PUB_OPEN);
	for (uint32_t p = 1; p < RING_PAGES; p++)
		memset(ring + p * RC_PAGE_SIZE + FILL_FROM, fill_byte(p), RC_PAGE_SIZE - FILL_FROM);
	ok("ring-allocated-once-and-mapped-writable (%u pages)", RING_PAGES);

	for (int d = 0; d < nreceivers; d++) {
		struct ringcast_xengrant_grant grant = { .domid = receivers[d], .count = RING_PAGES,
							 .refs = (uintptr_t)refs[d] };
		struct ringcast_xengrant_notify notify = { .flags = RINGCAST_XENGRANT_NOTIFY_ADD };
		int port, len = 0;

		if ((r = xg_ioctl(fd, RINGCAST_XENGRANT_GRANT, &grant)) < 0) {
			fail("granted-read-only-to-every-receiver", "GRANT %u: %s", receivers[d], strerror(-r));
			return 1;
		}
		if ((r = xg_ioctl(fd, RINGCAST_XENGRANT_GRANT, &grant)) != -EEXIST)
			fail("granted-read-only-to-every-receiver", "a second GRANT to %u gave %d", receivers[d], r);
		port = rc_xen_evtchn_unbound(&dev, receivers[d]);
		notify.port = (uint32_t)port;
		if (port < 0 || (r = xg_ioctl(fd, RINGCAST_XENGRANT_NOTIFY_ON_RELEASE, &notify)) < 0) {
			fail("granted-read-only-to-every-receiver", "port for %u: %d / %d", receivers[d], port, r);
			return 1;
		}
		if ((r = xg_ioctl(fd, RINGCAST_XENGRANT_NOTIFY_ON_RELEASE, &notify)) != -EEXIST)
			fail("device-validates-arguments", "adding port %d twice gave %d", port, r);
		for (uint32_t p = 0; p < RING_PAGES; p++)
			len += snprintf(value + len, sizeof(value) - len, "%s%u", p ? " " : "", refs[d][p]);
		snprintf(path, sizeof(path), "/local/domain/%u/data/rcg/%u/refs", me, receivers[d]);
		r = xs_put(xs, path, value, me, receivers[d]);
		snprintf(path, sizeof(path), "/local/domain/%u/data/rcg/%u/port", me, receivers[d]);
		snprintf(value, sizeof(value), "%d", port);
		if (r < 0 || (r = xs_put(xs, path, value, me, receivers[d])) < 0) {
			fail("granted-read-only-to-every-receiver", "xenstore: %s", strerror(-r));
			return 1;
		}
		printf("RCG note domain %u: refs %s, port %d\n", receivers[d], value, port);
		if (revoked < 0 && receivers[d] != 0)
			revoked = d;
	}
	ok("granted-the-same-pages-read-only-to-%d-domains", nreceivers);

	*counter_of(ring) = COUNTER_BEFORE_REVOKE;
	snprintf(path, sizeof(path), "/local/domain/%u/data/rcg/step", me);
	xs_put(xs, path, "1", me, -1);
	for (int d = 0; d < nreceivers; d++) {
		snprintf(path, sizeof(path), "/local/domain/%u/data/rcg/state", receivers[d]);
		if ((r = xs_wait(xs, path, "saw-1", state, sizeof(state))) < 0) {
			fail("receivers-see-the-same-pages", "domain %u: %s (%s)", receivers[d], strerror(-r), state);
			return 1;
		}
	}
	ok("every-receiver-domain-read-the-same-pages");
	if (fill_intact(ring) && desc->magic == RC_RING_MAGIC)
		ok("no-receiver-changed-a-byte");
	else
		fail("no-receiver-changed-a-byte", "the ring's contents changed");

	if (revoked >= 0) {
		struct ringcast_xengrant_revoke revoke = { .domid = receivers[revoked] };

		if ((r = xg_ioctl(fd, RINGCAST_XENGRANT_REVOKE, &revoke)) < 0)
			fail("revoke-while-mapped-is-deferred", "REVOKE: %s", strerror(-r));
		else if (revoke.deferred != RING_PAGES)
			fail("revoke-while-mapped-is-deferred", "%u of %u deferred", revoke.deferred, RING_PAGES);
		else
			ok("revoke-while-mapped-is-deferred (%u of %u references still mapped)", revoke.deferred,
			   RING_PAGES);
		revoke.deferred = 0;
		if ((r = xg_ioctl(fd, RINGCAST_XENGRANT_REVOKE, &revoke)) != -ENOENT)
			fail("device-validates-arguments", "a second REVOKE gave %d", r);
	}
	*counter_of(ring) = COUNTER_AFTER_REVOKE;
	snprintf(path, sizeof(path), "/local/domain/%u/data/rcg/step", me);
	xs_put(xs, path, "2", me, -1);
	if (revoked >= 0) {
		snprintf(path, sizeof(path), "/local/domain/%u/data/rcg/state", receivers[revoked]);
		if ((r = xs_wait(xs, path, "refused", state, sizeof(state))) < 0)
			fail("revoked-receiver-done", "domain %u: %s (%s)", receivers[revoked], strerror(-r), state);
	}
	for (int d = 0; d < nreceivers; d++) {
		if (d == revoked)
			continue;
		snprintf(path, sizeof(path), "/local/domain/%u/data/rcg/state", receivers[d]);
		if ((r = xs_wait(xs, path, "ready-for-release", state, sizeof(state))) < 0)
			fail("receivers-ready-for-release", "domain %u: %s (%s)", receivers[d], strerror(-r), state);
	}
	/* The module cannot go while its device is open. */
	if (syscall(SYS_delete_module, "ringcast_xengrant", O_NONBLOCK) == 0)
		fail("rmmod-refused-while-open", "the module unloaded with a ring open");
	else
		ok("rmmod-refused-while-open (%s)", strerrorname_np(errno));
	printf("RCG note owner killing itself, ring still open and mapped\n");
	fflush(stdout);
	raise(SIGKILL);
	return 1;
}

/* ---- reader ---------------------------------------------------------------------- */

static int parse_refs(const char *s, uint32_t *refs)
{
	char *end;

	for (uint32_t p = 0; p < RING_PAGES; p++) {
		errno = 0;
		unsigned long v = strtoul(s, &end, 10);
		if (errno || end == s || v > UINT32_MAX)
			return -EINVAL;
		refs[p] = (uint32_t)v;
		s = end;
	}
	return *s ? -EINVAL : 0;
}

/* Waits until the mapped counter reads `want`. */
static bool counter_reaches(void *ring, uint64_t want)
{
	uint64_t until = now_ms() + WAIT_MS;

	while (*counter_of(ring) != want && now_ms() < until)
		sleep_ms(10);
	return *counter_of(ring) == want;
}

static int reader(uint16_t owner_domid)
{
	struct rc_xen_devices dev;
	struct rc_xs *xs;
	uint32_t refs[RING_PAGES], port;
	char path[128], value[256], state_path[128];
	uint64_t index;
	void *ring, *rw;
	uint16_t me;
	int r, status;

	if ((r = rc_xs_open(&xs)) < 0 || (r = rc_xen_devices_open(&dev)) < 0) {
		fail("reader-starts", "xenstore or xen devices: %s", strerror(-r));
		return 1;
	}
	me = own_domid(xs);
	snprintf(state_path, sizeof(state_path), "/local/domain/%u/data/rcg/state", me);
#define READER_FAIL(name, ...)                                                                                 \
	do {                                                                                                   \
		fail(name, __VA_ARGS__);                                                                       \
		xs_put(xs, state_path, "FAIL " name, me, owner_domid);                                         \
		return 1;                                                                                      \
	} while (0)
	xs_put(xs, state_path, "waiting", me, owner_domid);

	snprintf(path, sizeof(path), "/local/domain/%u/data/rcg/%u/refs", owner_domid, me);
	if ((r = xs_wait(xs, path, NULL, value, sizeof(value))) < 0 || parse_refs(value, refs) < 0)
		READER_FAIL("refs-published-to-this-domain", "%s: %s '%s'", path, strerror(-r), value);
	/* The owner writes refs, then port: wait for port too (read once, it
	 * can be missing for a moment; seen under load as ENOENT). */
	snprintf(path, sizeof(path), "/local/domain/%u/data/rcg/%u/port", owner_domid, me);
	if ((r = xs_wait(xs, path, NULL, value, sizeof(value))) < 0)
		READER_FAIL("refs-published-to-this-domain", "%s: %s", path, strerror(-r));
	port = (uint32_t)strtoul(value, NULL, 10);
	ok("refs-published-to-this-domain (domain %u)", me);
	if (me != 0) {
		/* dom0's references are for dom0 alone. */
		snprintf(path, sizeof(path), "/local/domain/%u/data/rcg/0/refs", owner_domid);
		r = rc_xs_read(xs, path, value, sizeof(value), NULL);
		if (r == -EACCES || r == -ENOENT)
			ok("another-domains-refs-unreadable (%s)", strerrorname_np(-r));
		else
			fail("another-domains-refs-unreadable", "read gave %d: '%s'", r, r == 0 ? value : "");
	}

	r = rc_xen_grant_map(&dev, owner_domid, refs, RING_PAGES, true, &index, &rw);
	if (r == 0)
		READER_FAIL("writable-map-refused", "a writable mapping of the read-only grants succeeded");
	ok("writable-map-refused (%s)", strerrorname_np(-r));
	uint64_t t = now_ms();
	if ((r = rc_xen_grant_map(&dev, owner_domid, refs, RING_PAGES, false, &index, &ring)) < 0)
		READER_FAIL("maps-the-ring-read-only", "map: %s", strerror(-r));
	const struct rc_ring_desc *desc = ring;
	if (desc->magic != RC_RING_MAGIC || !fill_intact(ring))
		READER_FAIL("maps-the-ring-read-only", "the contents are not the owner's");
	ok("maps-the-ring-read-only-and-reads-the-owners-bytes (%" PRIu64 " ms)", now_ms() - t);

	/* A write through mprotect: Xen's read-only mapping faults the writer
	 * (SIGBUS), which is this child alone. */
	pid_t child = fork();
	if (child == 0) {
		alarm(30);
		if (mprotect(ring, RC_PAGE_SIZE * RING_PAGES, PROT_READ | PROT_WRITE) < 0)
			_exit(2);
		((volatile uint8_t *)ring)[RC_PAGE_SIZE + FILL_FROM] = 0x55;
		_exit(0);
	}
	waitpid(child, &status, 0);
	if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGBUS || WTERMSIG(status) == SIGSEGV))
		ok("a-receivers-write-fails (the writer got %s)", sigabbrev_np(WTERMSIG(status)));
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
		ok("a-receivers-write-fails (mprotect refused)");
	else
		fail("a-receivers-write-fails", "the writing child ended with status %#x", status);
	if (!fill_intact(ring))
		fail("a-receivers-write-fails", "the write reached the ring");

	int local_port = rc_xen_evtchn_bind(&dev, owner_domid, port);
	if (local_port < 0)
		READER_FAIL("binds-the-owners-port", "%s", strerror(-local_port));

	snprintf(path, sizeof(path), "/local/domain/%u/data/rcg/step", owner_domid);
	if ((r = xs_wait(xs, path, "1", value, sizeof(value))) < 0 || !counter_reaches(ring, COUNTER_BEFORE_REVOKE))
		READER_FAIL("sees-the-owners-writes-live", "counter %" PRIu64, *counter_of(ring));
	ok("sees-the-owners-writes-live");
	xs_put(xs, state_path, "saw-1", me, owner_domid);

	if (me != 0) {
		/* The owner revokes our grants while we map them. */
		if ((r = xs_wait(xs, path, "2", value, sizeof(value))) < 0 ||
		    !counter_reaches(ring, COUNTER_AFTER_REVOKE) || !fill_intact(ring))
			READER_FAIL("revoked-pages-stay-the-owners-while-mapped", "counter %" PRIu64,
				    *counter_of(ring));
		ok("revoked-pages-stay-the-owners-while-mapped (not freed, not reused: still its writes)");
		rc_xen_grant_unmap(&dev, index, RING_PAGES, ring);
		/* The grant-table core retries deferred ends every second. */
		t = now_ms();
		for (;;) {
			r = rc_xen_grant_map(&dev, owner_domid, refs, RING_PAGES, false, &index, &ring);
			if (r < 0)
				break;
			rc_xen_grant_unmap(&dev, index, RING_PAGES, ring);
			if (now_ms() - t > 30000)
				READER_FAIL("revoked-refs-refused-after-unmap", "still mappable after 30 s");
			sleep_ms(200);
		}
		ok("revoked-refs-refused-after-unmap (%s after %" PRIu64 " ms)", strerrorname_np(-r), now_ms() - t);
		xs_put(xs, state_path, "refused", me, owner_domid);
		return failures ? 1 : 0;
	}

	/* dom0: the owner's death, once it revoked R (step 2: it waits for
	 * our "saw-1" first, so we may not overwrite that before). Xen sets a
	 * freshly bound interdomain port pending (in case the other side
	 * notified before the bind): take that event now, so the one awaited
	 * below is the release's. */
	if ((r = xs_wait(xs, path, "2", value, sizeof(value))) < 0)
		READER_FAIL("release-marks-the-bus-gone-and-notifies", "no step 2 from the owner: %s", strerror(-r));
	struct pollfd pfd = { .fd = dev.evtchn_fd, .events = POLLIN };
	uint32_t pending[16];
	while (rc_xen_evtchn_pending(&dev, pending, 16) > 0)
		;
	xs_put(xs, state_path, "ready-for-release", me, owner_domid);
	uint32_t state = RC_PUB_OPEN;
	int notified = 0;
	uint64_t until = now_ms() + WAIT_MS;
	/* The state is stored before the notification is sent: once notified,
	 * it must read GONE. */
	while (!notified && now_ms() < until) {
		poll(&pfd, 1, 1000);
		int n = rc_xen_evtchn_pending(&dev, pending, 16);
		for (int i = 0; i < n; i++)
			notified += pending[i] == (uint32_t)local_port;
	}
	state = rc_load_acquire(&desc->publisher_state);
	if (notified && state == RC_PUB_GONE)
		ok("release-marks-the-bus-gone-and-notifies (port %d, publisher_state %u)", local_port, state);
	else
		fail("release-marks-the-bus-gone-and-notifies", "notified %d, publisher_state %u", notified, state);
	if (!fill_intact(ring) || *counter_of(ring) != COUNTER_AFTER_REVOKE)
		fail("pages-intact-after-the-owners-death", "contents changed");
	/* run.sh's dom0 script creates this file once the owner's domain
	 * unloaded the module. */
	until = now_ms() + WAIT_MS;
	while (access("/tmp/rcg-rmmod-done", F_OK) != 0 && now_ms() < until)
		sleep_ms(100);
	if (access("/tmp/rcg-rmmod-done", F_OK) == 0 && fill_intact(ring) &&
	    *counter_of(ring) == COUNTER_AFTER_REVOKE)
		ok("pages-intact-after-rmmod-while-still-mapped");
	else
		fail("pages-intact-after-rmmod-while-still-mapped", "no rmmod seen, or contents changed");
	rc_xen_grant_unmap(&dev, index, RING_PAGES, ring);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && strcmp(argv[1], "owner") == 0)
		return owner(argc, argv);
	if (argc == 3 && strcmp(argv[1], "reader") == 0)
		return reader((uint16_t)strtoul(argv[2], NULL, 10));
	fprintf(stderr, "usage: xengrant_test owner RECEIVER_DOMID... | reader OWNER_DOMID\n");
	return 2;
}
