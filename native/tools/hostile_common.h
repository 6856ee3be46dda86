/* SPDX-License-Identifier: MIT */
/*
 * Shared bits of the hostile peers used by test/hostile.test.ts: they speak
 * the real control protocol (rc_control), then misbehave on purpose.
 */
#ifndef HOSTILE_COMMON_H
#define HOSTILE_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rc_memfd.h"
#include "rc_unix.h"
#include "ringcast.h"
#include "ringcast_control.h"

static inline void die(const char *what, int err)
{
	fprintf(stderr, "%s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(2);
}

static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static inline void send_msg(int fd, const struct rc_control_msg *msg, const int *fds, int nfds)
{
	unsigned char buf[RC_CONTROL_MAX_SIZE];
	int len = rc_control_encode(msg, buf, sizeof(buf));
	int r;

	if (len < 0)
		die("encode", EINVAL);
	if ((r = rc_unix_send(fd, buf, (size_t)len, fds, nfds)) < 0)
		die("send", r);
}

/* Waits (up to 10 s) for one message. */
static inline void recv_msg(int fd, struct rc_control_msg *msg, int *fds, int *nfds)
{
	unsigned char buf[RC_CONTROL_MAX_SIZE];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	for (int i = 0; i < 1000; i++) {
		r = rc_unix_recv(fd, buf, sizeof(buf), fds, nfds);
		if (r == -EAGAIN) {
			poll(&p, 1, 10);
			continue;
		}
		if (r <= 0)
			die("recv", r ? r : ECONNRESET);
		if (rc_control_decode(buf, (size_t)r, msg) != RC_OK)
			die("decode", EPROTO);
		return;
	}
	die("recv", ETIMEDOUT);
}

#endif
