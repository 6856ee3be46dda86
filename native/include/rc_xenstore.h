/* SPDX-License-Identifier: MIT */
/*
 * A minimal XenStore client: the few requests the Xen provider (rc_xen.h)
 * needs, spoken directly in xenstored's wire protocol (a 16-byte header
 * {type, req_id, tx_id, len} in host byte order, then at most 4096 bytes of
 * payload) over xenstored's Unix socket (dom0) or /dev/xen/xenbus (any Linux
 * domain). It replaces libxenstore so that the provider needs no library at
 * run time: the Node addon and the static ringcast-xen link nothing more.
 *
 * Requests are synchronous and outside any transaction (tx_id 0). There are
 * no watches (and so no reader thread): a watch event that arrives anyway is
 * skipped. Everything the peer sends is checked before it is used; after a
 * reply that breaks the protocol (wrong req_id or type, a length over 4096,
 * a closed stream) the connection answers every later call with that error.
 * Blocking, as libxenstore is. One thread at a time per connection.
 *
 * Plain C, Linux only, no Node. Functions return 0 or -errno: xenstored's
 * own errors as their errno (ENOENT, EACCES, ...; "EQUOTA" as EDQUOT, an
 * unknown name as EIO), -EPROTO for a reply that breaks the protocol,
 * -EPIPE when the peer closed the connection, -E2BIG for a request over
 * 4096 bytes or a value larger than the caller's buffer. (Linux's xenbus
 * device buffers a request with its header in 4096 bytes, so through it the
 * payload limit is 4080: it refuses a longer one whole, -EINVAL, and the
 * connection stays usable.)
 */
#ifndef RC_XENSTORE_H
#define RC_XENSTORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RC_XS_PAYLOAD_MAX 4096u /* XENSTORE_PAYLOAD_MAX, both directions */

enum rc_xs_perm_bits {
	RC_XS_PERM_NONE = 0,  /* 'n' */
	RC_XS_PERM_READ = 1,  /* 'r' */
	RC_XS_PERM_WRITE = 2, /* 'w' */
	RC_XS_PERM_BOTH = 3,  /* 'b' */
};

struct rc_xs_perm {
	uint16_t domid;
	uint8_t perms; /* enum rc_xs_perm_bits */
};

struct rc_xs; /* one connection */

/* Connects: $XENSTORED_PATH if set (a socket or a device), else xenstored's
 * socket (/run/xenstored/socket, /var/run/xenstored/socket) if one accepts,
 * else /dev/xen/xenbus (or xenfs's /proc/xen/xenbus): libxenstore's order. */
int rc_xs_open(struct rc_xs **out);
/* Wraps a connected descriptor, which the connection then owns (closed by
 * rc_xs_close, or here on failure). For other transports and for tests. */
int rc_xs_open_fd(struct rc_xs **out, int fd);
void rc_xs_close(struct rc_xs *xs);

/* Reads the value at `path` into out[0..*len) plus a terminating NUL (values
 * may hold NUL bytes: *len counts them). -E2BIG, connection intact, when
 * the value needs more than `cap` bytes with its NUL. `len` may be NULL. */
int rc_xs_read(struct rc_xs *xs, const char *path, char *out, size_t cap, size_t *len);
/* Creates or replaces the node at `path` (and missing parents). */
int rc_xs_write(struct rc_xs *xs, const char *path, const void *value, size_t len);
/* Removes `path` and everything under it; absent is -ENOENT. */
int rc_xs_rm(struct rc_xs *xs, const char *path);
/* perms[0] names the owner and, in its bits, what every domain not listed
 * may do; perms[1..] grant the listed domains more (XenStore's rule). */
int rc_xs_set_perms(struct rc_xs *xs, const char *path, const struct rc_xs_perm *perms, unsigned count);
/* "/local/domain/<domid>", as xenstored names it, NUL-terminated in out. */
int rc_xs_get_domain_path(struct rc_xs *xs, uint16_t domid, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* RC_XENSTORE_H */
