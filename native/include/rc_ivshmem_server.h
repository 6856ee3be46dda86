/* SPDX-License-Identifier: MIT */
/*
 * An ivshmem server: the doorbell side of QEMU's ivshmem-doorbell device
 * (QEMU docs/specs/ivshmem-spec, "The ivshmem Client-Server Protocol").
 * Debian ships none; ringcast-ivshmem-server (native/tools) wraps this.
 *
 * The server hands every peer (a QEMU ivshmem-doorbell device, or a host
 * process such as a ringcast publisher) the shared memory and one eventfd
 * per (peer, vector): a peer reads its own eventfds to be woken and writes
 * another peer's to ring it. The server only brokers descriptors; it never
 * reads or writes the shared memory nor rings anyone.
 *
 * Protocol, server -> peer only, each message one little-endian int64,
 * some with one descriptor (SCM_RIGHTS):
 *   on connect: 0 (version), own id, -1 + shm fd,
 *               for each other peer P: P x vectors, each with P's eventfd v,
 *               own id x vectors, each with own eventfd v;
 *   later:      P x vectors with fds = peer P connected,
 *               P without fd         = peer P disconnected.
 * Ids are 0..65535 (16 bits of the doorbell register), handed out in
 * increasing order and not reused until they wrap, so a ring aimed at a
 * peer that just left never reaches its successor at once.
 *
 * Peers are untrusted. A peer that sends anything (the protocol is one
 * way), hangs up, or does not read its messages (its socket buffer fills)
 * is disconnected and the others are told; the server itself never blocks
 * on a peer and never dies because of one.
 *
 * Single-threaded: call rc_ivshmem_server_run from one thread.
 */
#ifndef RC_IVSHMEM_SERVER_H
#define RC_IVSHMEM_SERVER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RC_IVSHMEM_SERVER_MAX_VECTORS 64u
#define RC_IVSHMEM_SERVER_MAX_PEERS 65536u /* the id space */
#define RC_IVSHMEM_SERVER_DEFAULT_PEERS 64u
#define RC_IVSHMEM_PROTOCOL_VERSION 0

struct rc_ivshmem_server_config {
	const char *socket_path; /* Unix socket to listen on; a stale socket file there is replaced */
	int shm_fd;              /* the shared memory; the server takes ownership (closes it).
	                          * Size: a power of two, at least 4096 (a PCI BAR). */
	uint32_t vectors;        /* eventfds per peer: 1..RC_IVSHMEM_SERVER_MAX_VECTORS */
	uint32_t max_peers;      /* connected peers at once; 0 = RC_IVSHMEM_SERVER_DEFAULT_PEERS.
	                          * Connections beyond it are closed at once. */
	/* Optional: one line per event (connect, disconnect, reasons). */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
};

struct rc_ivshmem_server;

/* Validates the config, binds and listens. 0 or -errno (-EINVAL for a bad
 * config or shared memory size; the fd is closed in every case). */
int rc_ivshmem_server_open(const struct rc_ivshmem_server_config *config, struct rc_ivshmem_server **out);

/* Serves events for up to timeout_ms (-1: until one batch of events).
 * Returns 0, -EINTR when a signal interrupted the wait, or -errno for a
 * failure of the server itself (never for a misbehaving peer). */
int rc_ivshmem_server_run(struct rc_ivshmem_server *server, int timeout_ms);

/* Peers connected now, and the shared memory size. */
uint32_t rc_ivshmem_server_peers(const struct rc_ivshmem_server *server);
uint64_t rc_ivshmem_server_shm_size(const struct rc_ivshmem_server *server);

/* Disconnects every peer, removes the socket file, frees everything. */
void rc_ivshmem_server_close(struct rc_ivshmem_server *server);

/* The shared memory argument of the command-line tool: a size ("4096",
 * "64K", "4M", "1G": an anonymous memfd of that size) or a file path
 * (containing a '/'; created with `create_size` bytes when missing or empty,
 * 0 = must exist). Returns an fd or -errno. */
int rc_ivshmem_server_open_shm(const char *path_or_size, uint64_t create_size);
/* Parses "4096", "64K", "4M", "1G". 0 on success, -EINVAL otherwise. */
int rc_ivshmem_parse_size(const char *text, uint64_t *size);

/* One server -> peer message on `sock`: `value` as a little-endian int64,
 * with descriptor `fd` when fd >= 0. Never blocks. 0, -EAGAIN when the
 * peer's socket buffer is full, -EIO for a short write, or another -errno.
 * The server's own encoder, exported for tests that play the server in
 * front of the region provider (native/test/test_ivshmem.c). */
int rc_ivshmem_server_send(int sock, int64_t value, int fd);

#ifdef __cplusplus
}
#endif

#endif /* RC_IVSHMEM_SERVER_H */
