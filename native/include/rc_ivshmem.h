/* SPDX-License-Identifier: MIT */
/*
 * The ivshmem region provider: a bus whose publisher runs on a KVM/QEMU host
 * and whose subscribers run in guests that cannot receive descriptors.
 * Plain C, no Node; links with ringcast.c and rc_memfd.c. Functions return 0 /
 * a count, or -errno (system errors) / RC_* (protocol verdicts).
 * Normative description: docs/protocol.md, "Attach through shared memory";
 * layout: docs/layout.md (join answers, ack page line 3).
 *
 * Deployment, per guest (QEMU options):
 *   -object memory-backend-file,id=ring,share=on,mem-path=/dev/shm/BUS.ring,size=RING
 *   -device ivshmem-plain,memdev=ring               (the ring; read-only if QEMU allows)
 *   -object memory-backend-file,id=ack,share=on,mem-path=/dev/shm/BUS.ack.GUEST,size=4K
 *   -device ivshmem-plain,memdev=ack                (this guest's own ack page)
 *   -chardev socket,id=db,path=SERVER.sock -device ivshmem-doorbell,chardev=db,vectors=1
 *                                                   (doorbells; vector 0 is ringcast's)
 * RING is rc_ivshmem_region_size(capacity): ivshmem sizes are powers of two.
 * Start the publisher first: it creates and formats the files (QEMU needs
 * them to exist), and it must be a peer of the server before guests join.
 * The same files may serve a restarted publisher (never shrunk under QEMU);
 * guests of the old bus then fail with a clear error and join again.
 *
 * Host (the publisher):
 *   rc_ivshmem_ring_file_create(path, rc_ivshmem_region_size(cap), 0600, &map)
 *   rc_ring_format(map.addr, cap, ...); rc_pub_init(&pub, map.addr, rc_ring_size(cap))
 *   rc_ivshmem_host_init(&host, &pub, guests, n, 0600)   ack files; guest i = slot i
 *   rc_ivshmem_host_connect(&host, server_path, -1, 5000) become a server peer
 *   then rc_ivshmem_host_service() whenever rc_ivshmem_host_server_fd() or
 *   rc_ivshmem_host_doorbell_fd() is readable (and after result.retry_ms),
 *   and rc_ivshmem_host_heartbeat() every 250 ms.
 *
 * Guest (a subscriber) -- for a static C program in a VM:
 *
 *   #include "rc_ivshmem.h"   // link ringcast.c rc_memfd.c rc_ivshmem.c core/rc_join.c
 *   struct rc_ivshmem_guest g;
 *   int r = rc_ivshmem_guest_open_devices(&g, "/dev/ringcast-ivshmem0",
 *                                         "/dev/ringcast-ivshmem1",
 *                                         "/dev/ringcast-ivshmem2");
 *   if (r == 0) r = rc_ivshmem_guest_join(&g, 10000);   // RC_OK when attached
 *   for (;;) {
 *       n = rc_sub_read(&g.sub, buf, sizeof(buf), entries, 64);  // as usual
 *       if (n == 0) { rc_ivshmem_guest_wait(&g, 1000); continue; }
 *       if (n == RC_EEVICTED || n == RC_ELAPPED) rc_ivshmem_guest_join(&g, 10000);
 *       if (n == RC_ECLOSED) break;
 *       ... every few hundred ms: rc_sub_heartbeat(&g.sub);  (the publisher
 *       evicts a guest whose heartbeat stands still, 5 s by default)
 *   }
 *   rc_ivshmem_guest_leave(&g);   // gives the slot back at once
 *   rc_ivshmem_guest_close(&g);
 * native/tools/ivshmem_guest.c (ringcast-ivshmem-guest, built -static by
 * `make -C native/tools`) is this loop with checks, ready for an initramfs:
 *   ringcast-ivshmem-guest devices RING_DEV ACK_DEV DOORBELL_DEV count
 *
 * Which device is which is the user's word (the paths); the sizes are
 * checked with the INFO ioctl and again against the ring's own descriptor.
 * On a host, with no VM, rc_ivshmem_guest_open_files(ring file, ack file,
 * server socket, -1) gives the same object over the plain files and the
 * server's eventfds: the only difference is where the memory and the two
 * doorbell descriptors come from (struct rc_ivshmem_guest.files).
 */
#ifndef RC_IVSHMEM_H
#define RC_IVSHMEM_H

#include <stdbool.h>
#include <stdint.h>

#include "rc_join.h"
#include "rc_memfd.h"
#include "ringcast.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The guest driver's user-space interface: the kernel module owns it (one
 * header for both sides; a source package must ship kmod/ringcast_ivshmem.h). */
#include "../../kmod/ringcast_ivshmem.h"

/* ---- ivshmem server peer (QEMU docs/specs/ivshmem-spec.rst) ------------ */

#define RC_IVSHMEM_MAX_PEER_ID 0xffffu /* the doorbell register has 16 bits */
#define RC_IVSHMEM_MAX_VECTORS 8u      /* more per peer are closed          */
#define RC_IVSHMEM_MAX_PEERS 128u      /* more peers are ignored (logged as dropped) */
#define RC_IVSHMEM_NO_PEER RINGCAST_IVSHMEM_NO_PEER
/* The vector every ringcast doorbell uses: guests are woken on it, and the
 * host is woken on it (join requests, room after acks). */
#define RC_IVSHMEM_VECTOR 0u

struct rc_ivshmem_remote {
	uint32_t id;        /* RC_IVSHMEM_NO_PEER when the entry is free */
	uint32_t vectors;
	int fds[RC_IVSHMEM_MAX_VECTORS]; /* writing one rings that peer's vector */
};

/* One connection to an ivshmem server, as a peer (the publisher on the
 * host, or a host process standing in for a guest in tests). */
struct rc_ivshmem_peer {
	int sock;
	uint32_t own_id;                 /* RC_IVSHMEM_NO_PEER until received */
	uint32_t own_vectors;
	int own_fds[RC_IVSHMEM_MAX_VECTORS]; /* readable when our vector is rung */
	bool version_seen;
	bool shm_seen;
	uint8_t partial[8];              /* a message split by the stream */
	uint32_t partial_len;
	uint32_t dropped_peers;          /* peers beyond RC_IVSHMEM_MAX_PEERS */
	bool lost;                       /* the connection failed; nothing is read any more */
	uint32_t highest_id;             /* highest peer id announced so far (ids grow) */
	struct rc_ivshmem_remote remotes[RC_IVSHMEM_MAX_PEERS];
};

/* Connects to the server at `path` (or adopts a connected stream socket,
 * for tests) and reads until the own id and at least one own vector arrived
 * or `timeout_ms` passed (-ETIMEDOUT). */
int rc_ivshmem_peer_connect(struct rc_ivshmem_peer *peer, const char *path, int timeout_ms);
int rc_ivshmem_peer_adopt(struct rc_ivshmem_peer *peer, int sock, int timeout_ms);
/* Reads what the server sent since (non-blocking). Each peer that left is
 * reported in left[] (up to max_left); returns that count, or -errno
 * (-ECONNRESET: the server went away). */
int rc_ivshmem_peer_service(struct rc_ivshmem_peer *peer, uint32_t *left, int max_left);
/* The remote `id`, or NULL if the server does not know it. */
const struct rc_ivshmem_remote *rc_ivshmem_peer_find(const struct rc_ivshmem_peer *peer, uint32_t id);
void rc_ivshmem_peer_close(struct rc_ivshmem_peer *peer);

/* ---- host side ---------------------------------------------------------- */

/* Bytes of the ring file: rc_ring_size(capacity) rounded up to a power of
 * two (ivshmem BAR sizes are). 0 if capacity is out of range. */
uint64_t rc_ivshmem_region_size(uint64_t capacity);

/* Creates (or truncates) the file at `path` with `size` bytes and maps it
 * writable. The file must be one no untrusted host process can truncate
 * (mode 0600 by default): a shrink would SIGBUS the publisher. */
int rc_ivshmem_ring_file_create(const char *path, uint64_t size, unsigned mode, struct rc_mapping *map);

/* A mixed bus (local processes and guests on one ring): the ring is the
 * publisher's sealed memfd (rc_ring_memfd_create with
 * rc_ivshmem_region_size), which local subscribers receive over the bus
 * socket. QEMU cannot receive a descriptor for memory-backend-file, so
 * rc_ivshmem_ring_link makes `path` a symbolic link to /proc/PID/fd/FD, which
 * opens that memfd itself: QEMU maps it with readonly=on (a writable mapping
 * is refused by the seal), and a QEMU of another uid cannot open it (the
 * /proc link needs ptrace-read access to the publisher). Replaces whatever
 * file `path` named (atomically, rename). docs/vm.md, "Mixed bus". */
int rc_ivshmem_ring_link(const char *path, int ring_fd);
/* Removes the link if it still points at `ring_fd` of this process. */
void rc_ivshmem_ring_unlink(const char *path, int ring_fd);

struct rc_ivshmem_guest_config {
	const char *ack_path;   /* its ack file (created, RC_ACK_PAGE_SIZE bytes) */
	uint32_t peer_id;       /* its ivshmem peer id, or RC_IVSHMEM_NO_PEER:
	                         * any connected peer not bound to another guest */
};

struct rc_ivshmem_host_guest {
	struct rc_mapping ack;          /* the ack file, RW (line 0 is rewritten at joins) */
	uint32_t configured_peer;
	uint32_t bound_peer;            /* peer whose join was accepted, or NO_PEER */
	uint64_t deferred_since_ms;     /* a request naming a peer id not announced
	                                 * yet waits since then (0: none)          */
	struct rc_join_slot join;       /* the shared handshake's state (rc_join.h):
	                                 * requests seen, back-off, stats          */
};

struct rc_ivshmem_host {
	struct rc_publisher *pub;       /* not owned; guest i uses slot i */
	struct rc_ivshmem_peer server;
	uint32_t guests;
	/* A guest may ring before the server told us of it (the server greets a
	 * newcomer before it announces it): a request naming a peer id above
	 * every id announced so far waits this long for the announcement before
	 * it is refused. Default 1000 ms; tests set 0. */
	uint32_t unknown_peer_grace_ms;
	/* After rc_ivshmem_host_init failed: the index of the guest whose ack
	 * file could not be made, so the caller can name that path; `count`
	 * when the failure was not one file's. */
	uint32_t failed_guest;
	struct rc_ivshmem_host_guest guest[RC_MAX_SUBSCRIBERS];
};

/* Creates one ack file per guest (formatted: magic, bus id, slot = index)
 * and binds the host to `pub`, whose ring must have been formatted on a
 * ring file. Slots 0..guests-1 are the guests'. On failure nothing is left
 * open and `failed_guest` says which guest's ack file failed. */
int rc_ivshmem_host_init(struct rc_ivshmem_host *host, struct rc_publisher *pub,
			 const struct rc_ivshmem_guest_config *guests, uint32_t count, unsigned mode);
/* Becomes a peer of the ivshmem server and publishes the host's peer id in
 * the ring ([V1]). `sock` >= 0 adopts a connected socket instead of `path`. */
int rc_ivshmem_host_connect(struct rc_ivshmem_host *host, const char *path, int sock, int timeout_ms);

/* What one service call did, a bit per slot. */
struct rc_ivshmem_service_result {
	uint64_t accepted;   /* joins attached                          */
	uint64_t rejected;   /* join requests refused (verdict in the answer table) */
	uint64_t dead;       /* evicted DEAD: their peer left the server */
	uint64_t left;       /* freed at their own request (CLOSED)      */
	uint32_t retry_ms;   /* a request waits for its peer's announcement:
	                      * call again after this long (0: nothing waits) */
	/* Server peers whose departure this pass read, bound to a guest or not
	 * (a guest that left first is no longer bound): their eventfds are
	 * closed now, the last descriptors the host held for them. */
	uint32_t peers_gone_count;
	uint32_t peers_gone[RC_IVSHMEM_MAX_PEERS];
};

/* Reads the server (peers coming and going: a guest's peer leaving evicts
 * its slot DEAD), drains the host doorbell, answers join requests. Returns
 * 0 or -errno if the server connection failed: then every bound guest is
 * evicted DEAD, no guest can join any more, and the caller stops watching
 * the server socket (it stays open until rc_ivshmem_host_close). */
int rc_ivshmem_host_service(struct rc_ivshmem_host *host, struct rc_ivshmem_service_result *result);
/* Proof of life for guests, which have no socket to see the publisher die:
 * bumps the ring's publisher_heartbeat. Call it well within the guests'
 * timeout (the binding: every 250 ms). */
void rc_ivshmem_host_heartbeat(struct rc_ivshmem_host *host);
/* Guest `index` was evicted (slow, protocol) repeatedly: its joins for the
 * next `wait_ms` are answered RC_JOIN_BACKOFF. */
void rc_ivshmem_host_backoff(struct rc_ivshmem_host *host, uint32_t index, uint32_t wait_ms);
/* The descriptors to watch: the server socket and the host's own doorbell. */
int rc_ivshmem_host_server_fd(const struct rc_ivshmem_host *host);
int rc_ivshmem_host_doorbell_fd(const struct rc_ivshmem_host *host);
void rc_ivshmem_host_close(struct rc_ivshmem_host *host);

/* ---- guest side --------------------------------------------------------- */

struct rc_ivshmem_guest {
	struct rc_subscriber sub;       /* valid after a successful join      */
	struct rc_mapping ring;         /* read-only, the whole region        */
	struct rc_mapping ack;          /* read-write                         */
	bool files;                     /* true: host files + server eventfds;
	                                 * false: the kernel module's devices */
	int ring_fd, ack_fd, doorbell_dev_fd;
	struct rc_ivshmem_peer *server; /* files only                          */
	uint32_t own_peer;
	uint32_t host_peer;             /* RC_IVSHMEM_NO_PEER until learned    */
	int wait_fd;                    /* readable when we are rung           */
	int host_fd;                    /* writing rings the publisher         */
	uint32_t join_request;          /* the request in flight (0: none)     */
	uint64_t publisher_beat;        /* publisher_heartbeat last seen       */
	uint64_t publisher_beat_ms;     /* caller's clock when it last moved   */
	uint32_t last_verdict;          /* enum rc_join_verdict of the last join */
	bool joined;
};

int rc_ivshmem_guest_open_devices(struct rc_ivshmem_guest *g, const char *ring_dev, const char *ack_dev,
				  const char *doorbell_dev);
/* `server_sock` >= 0 adopts a connected socket instead of `server_path`. */
int rc_ivshmem_guest_open_files(struct rc_ivshmem_guest *g, const char *ring_path, const char *ack_path,
				const char *server_path, int server_sock);
/* Joins (or rejoins after an eviction): asks in the ack page, rings the
 * host, waits up to timeout_ms for the answer. RC_OK and g->sub ready;
 * RC_EINVAL with g->last_verdict when refused; RC_ECLOSED / RC_EABORTED at
 * once when the ring says its publisher closed / aborted (a leftover ring
 * file: nobody will answer); -ETIMEDOUT; -errno. */
int rc_ivshmem_guest_join(struct rc_ivshmem_guest *g, int timeout_ms);
/* The same in two non-blocking steps, for event loops: begin writes the
 * request and rings the host (RC_EAGAIN while the host's peer id is not
 * published yet); poll returns RC_EAGAIN until the answer came, then as
 * rc_ivshmem_guest_join. Call begin again to re-ring a host that missed it. */
int rc_ivshmem_guest_join_begin(struct rc_ivshmem_guest *g);
int rc_ivshmem_guest_join_poll(struct rc_ivshmem_guest *g);
/* Sleeps on our doorbell until rung or timeout_ms (announcing the sleep
 * first, so no wake-up is lost). 1 if rung or there is something to read,
 * 0 on timeout, -errno. */
int rc_ivshmem_guest_wait(struct rc_ivshmem_guest *g, int timeout_ms);
/* True when the publisher's heartbeat has not moved for timeout_ms (by the
 * caller's clock now_ms; called periodically) while the bus is open: the
 * publisher died. Read what is left, then stop. */
bool rc_ivshmem_guest_publisher_gone(struct rc_ivshmem_guest *g, uint64_t now_ms, uint64_t timeout_ms);
/* Gives the slot back (the socket path's detach): a request with
 * join_peer_id = RC_JOIN_LEAVE; the host frees the slot at once instead of
 * waiting for heartbeats to stop. Does not wait for the answer. */
int rc_ivshmem_guest_leave(struct rc_ivshmem_guest *g);
void rc_ivshmem_guest_close(struct rc_ivshmem_guest *g);

#ifdef __cplusplus
}
#endif

#endif /* RC_IVSHMEM_H */
