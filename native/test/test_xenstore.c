// SPDX-License-Identifier: MIT
/*
 * rc_xenstore (the XenStore client of the Xen provider) against a fake
 * xenstored on a socketpair, written from the wire protocol (Xen's
 * xs_wire.h: header {type, req_id, tx_id, len}; READ 2, GET_DOMAIN_PATH 10,
 * WRITE 11, RM 13, SET_PERMS 14 (12 is MKDIR), WATCH_EVENT 15, ERROR 16;
 * payload <= 4096): exact request bytes, replies and errors, a watch event
 * before a reply, and a hostile peer (wrong req_id or type, oversized or
 * truncated replies, a flood of events, a hang-up), after which the
 * connection refuses every call without touching the socket. No Xen needed.
 *
 * The fake runs in a child process and follows a script; it exits 0 only if
 * every request matched and, once the script ends, nothing more arrives
 * before the client closes.
 */
#define _GNU_SOURCE
#include "rc_test.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rc_xenstore.h"

#define MAX 4096u

enum reply {
	OK,	      /* the request's type, `reply` as payload */
	ERROR,	      /* type 16, `reply` as payload */
	EVENT_FIRST,  /* a watch event, then as OK */
	EVENT_FLOOD,  /* 65 watch events and no reply */
	WRONG_ID,     /* as OK with req_id + 1 */
	ERROR_WRONG_ID,
	WRONG_TYPE,   /* a WRITE reply to whatever was asked */
	OVERSIZE,     /* a header announcing `reply_len` (> 4096) bytes, and
		       * 4097 of them: a client that reads them overflows */
	TRUNCATED,    /* a header announcing 10 bytes, 3 of them, hang up */
	SHORT_HEADER, /* 8 bytes of a header, hang up */
	HANG_UP,      /* no reply at all */
};

struct step {
	uint32_t type;
	const char *want; /* request payload */
	size_t want_len;
	enum reply kind;
	const char *reply;
	size_t reply_len;
};

#define S(str) str, sizeof(str) - 1 /* with the NULs inside, without the last */

struct header {
	uint32_t type, req_id, tx_id, len;
};

static char big_value[MAX + 1]; /* 'v' * 4096, NUL */
static char big_request[MAX + 1];

/* ---- the fake xenstored ---------------------------------------------------- */

static void fake_read(int fd, void *p, size_t n, int code)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r <= 0)
			_exit(code);
		p = (char *)p + r;
		n -= (size_t)r;
	}
}

static void fake_send(int fd, uint32_t type, uint32_t req_id, const void *payload, uint32_t len,
		      uint32_t announced)
{
	struct header h = { type, req_id, 0, announced };
	char msg[sizeof(h) + MAX + 1];

	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), payload, len);
	if (write(fd, msg, sizeof(h) + len) != (ssize_t)(sizeof(h) + len))
		_exit(90);
}

static void fake(int fd, const struct step *script, size_t steps)
{
	static char payload[MAX];

	for (size_t i = 0; i < steps; i++) {
		const struct step *s = &script[i];
		int code = 10 + (int)i; /* which step went wrong, in the exit code */
		struct header h;
		uint32_t len = (uint32_t)s->reply_len;

		fake_read(fd, &h, sizeof(h), code);
		if (h.type != s->type || h.tx_id != 0 || h.len != s->want_len || h.len > MAX)
			_exit(code);
		fake_read(fd, payload, h.len, code);
		if (memcmp(payload, s->want, h.len) != 0)
			_exit(code);
		switch (s->kind) {
		case EVENT_FIRST:
			fake_send(fd, 15, 0, "/a\0tok", 7, 7);
			/* fall through */
		case OK:
			fake_send(fd, h.type, h.req_id, s->reply, len, len);
			break;
		case ERROR:
			fake_send(fd, 16, h.req_id, s->reply, len, len);
			break;
		case EVENT_FLOOD:
			for (int e = 0; e < 65; e++)
				fake_send(fd, 15, 0, "/a\0tok", 7, 7);
			break;
		case WRONG_ID:
			fake_send(fd, h.type, h.req_id + 1, s->reply, len, len);
			break;
		case ERROR_WRONG_ID:
			fake_send(fd, 16, h.req_id + 1, "ENOENT", 7, 7);
			break;
		case WRONG_TYPE:
			fake_send(fd, 11, h.req_id, "OK", 3, 3);
			break;
		case OVERSIZE:
			fake_send(fd, h.type, h.req_id, big_value, MAX + 1, len);
			break;
		case TRUNCATED:
			fake_send(fd, h.type, h.req_id, "abc", 3, 10);
			_exit(0);
		case SHORT_HEADER:
			if (write(fd, &h, 8) != 8)
				_exit(90);
			_exit(0);
		case HANG_UP:
			_exit(0);
		}
	}
	/* The script is over: the client must only close now (ECONNRESET if
	 * it left part of a reply unread). */
	if (read(fd, payload, 1) > 0)
		_exit(99);
	_exit(0);
}

struct peer {
	struct rc_xs *xs;
	pid_t pid;
};

static struct peer connect_fake(const struct step *script, size_t steps)
{
	struct peer p;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	p.pid = fork();
	CHECK(p.pid >= 0);
	if (p.pid == 0) {
		close(sv[0]);
		fake(sv[1], script, steps);
	}
	close(sv[1]);
	CHECK_EQ(rc_xs_open_fd(&p.xs, sv[0]), 0);
	return p;
}

/* Closes the client's end and checks that the fake saw its whole script. */
static void finish(struct peer p)
{
	int status;

	rc_xs_close(p.xs);
	CHECK(waitpid(p.pid, &status, 0) == p.pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "fake xenstored: status %d (exit 10+N: step N)\n", status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#define RUN_SCRIPT(script) connect_fake(script, sizeof(script) / sizeof(script[0]))

/* ---- cases ----------------------------------------------------------------- */

static void requests_and_replies(void)
{
	static const struct step script[] = {
		{ 2, S("/a\0"), OK, S("hello") },
		{ 2, S("/empty\0"), OK, "", 0 },
		{ 11, S("/w\0v1"), OK, S("OK\0") },
		{ 14, S("/w\0n1\0r2\0"), OK, S("OK\0") },
		{ 14, S("/w\0b7\0"), OK, S("OK\0") },
		{ 10, S("3\0"), OK, S("/local/domain/3\0") },
		{ 10, S("0\0"), OK, S("/local/domain/0") }, /* no NUL: accepted */
		{ 13, S("/w\0"), OK, S("OK\0") },
		{ 2, S("/nul\0"), OK, S("a\0b") },
	};
	const struct rc_xs_perm two[] = { { 1, RC_XS_PERM_NONE }, { 2, RC_XS_PERM_READ } };
	const struct rc_xs_perm one[] = { { 7, RC_XS_PERM_BOTH } };
	struct peer p = RUN_SCRIPT(script);
	char out[32];
	size_t len = 99;

	CHECK_EQ(rc_xs_read(p.xs, "/a", out, sizeof(out), &len), 0);
	CHECK_EQ(len, 5);
	CHECK(strcmp(out, "hello") == 0);
	CHECK_EQ(rc_xs_read(p.xs, "/empty", out, sizeof(out), &len), 0);
	CHECK_EQ(len, 0);
	CHECK_EQ(out[0], 0);
	CHECK_EQ(rc_xs_write(p.xs, "/w", "v1", 2), 0);
	CHECK_EQ(rc_xs_set_perms(p.xs, "/w", two, 2), 0);
	CHECK_EQ(rc_xs_set_perms(p.xs, "/w", one, 1), 0);
	CHECK_EQ(rc_xs_get_domain_path(p.xs, 3, out, sizeof(out)), 0);
	CHECK(strcmp(out, "/local/domain/3") == 0);
	CHECK_EQ(rc_xs_get_domain_path(p.xs, 0, out, sizeof(out)), 0);
	CHECK(strcmp(out, "/local/domain/0") == 0);
	CHECK_EQ(rc_xs_rm(p.xs, "/w"), 0);
	CHECK_EQ(rc_xs_read(p.xs, "/nul", out, sizeof(out), &len), 0);
	CHECK_EQ(len, 3);
	CHECK(memcmp(out, "a\0b\0", 4) == 0);
	finish(p);
}

/* xenstored's errors by name; the connection stays usable after each. */
static void errors_by_name(void)
{
	static const struct step script[] = {
		{ 2, S("/missing\0"), ERROR, S("ENOENT\0") },
		{ 11, S("/ro\0x"), ERROR, S("EACCES") },  /* no NUL */
		{ 11, S("/q\0x"), ERROR, S("EQUOTA\0") }, /* oxenstored's */
		{ 13, S("/w\0"), ERROR, S("EBOGUS\0") },
		{ 13, S("/w\0"), ERROR, "", 0 },
		{ 13, S("/w\0"), ERROR, S("ENOENTENOENTENOENTENOENT\0") },
		{ 2, S("/e2big\0"), ERROR, S("E2BIG\0") },
		{ 10, S("5\0"), ERROR, S("EINVAL\0") },
		{ 2, S("/a\0"), OK, S("still") },
	};
	struct peer p = RUN_SCRIPT(script);
	char out[16];

	CHECK_EQ(rc_xs_read(p.xs, "/missing", out, sizeof(out), NULL), -ENOENT);
	CHECK_EQ(rc_xs_write(p.xs, "/ro", "x", 1), -EACCES);
	CHECK_EQ(rc_xs_write(p.xs, "/q", "x", 1), -EDQUOT);
	CHECK_EQ(rc_xs_rm(p.xs, "/w"), -EIO);
	CHECK_EQ(rc_xs_rm(p.xs, "/w"), -EIO);
	CHECK_EQ(rc_xs_rm(p.xs, "/w"), -EIO);
	CHECK_EQ(rc_xs_read(p.xs, "/e2big", out, sizeof(out), NULL), -E2BIG);
	CHECK_EQ(rc_xs_get_domain_path(p.xs, 5, out, sizeof(out)), -EINVAL);
	CHECK_EQ(rc_xs_read(p.xs, "/a", out, sizeof(out), NULL), 0);
	CHECK(strcmp(out, "still") == 0);
	finish(p);
}

/* A value that does not fit the caller's buffer is consumed whole: the next
 * reply still lines up. A watch event before a reply is skipped. */
static void sizes_and_events(void)
{
	static struct step script[] = {
		{ 2, S("/big\0"), OK, S("12345") },
		{ 2, S("/a\0"), EVENT_FIRST, S("x") },
		{ 10, S("7\0"), OK, S("/local/domain/7\0") },
		{ 2, S("/max\0"), OK, big_value, MAX },
		{ 11, NULL, MAX, OK, S("OK\0") },
	};
	struct peer p;
	char out[8];
	char *large = malloc(MAX + 1);
	size_t len = 0;

	CHECK(large);
	/* "/p\0" and 4093 bytes: exactly the payload maximum. */
	memcpy(big_request, "/p\0", 3);
	memset(big_request + 3, 'w', MAX - 3);
	script[4].want = big_request;
	p = RUN_SCRIPT(script);

	CHECK_EQ(rc_xs_read(p.xs, "/big", out, 5, &len), -E2BIG); /* 5 bytes + NUL > 5 */
	CHECK_EQ(rc_xs_read(p.xs, "/a", out, sizeof(out), &len), 0);
	CHECK_EQ(len, 1);
	CHECK(strcmp(out, "x") == 0);
	CHECK_EQ(rc_xs_get_domain_path(p.xs, 7, out, sizeof(out)), -E2BIG);
	CHECK_EQ(rc_xs_read(p.xs, "/max", large, MAX + 1, &len), 0);
	CHECK_EQ(len, MAX);
	CHECK_EQ(large[MAX], 0);
	CHECK(memcmp(large, big_value, MAX) == 0);
	/* Refused before anything is sent (the fake would see a request). */
	memset(large, 'p', MAX);
	large[0] = '/';
	large[MAX] = 0;
	CHECK_EQ(rc_xs_read(p.xs, large, out, sizeof(out), NULL), -E2BIG); /* 4097 with its NUL */
	CHECK_EQ(rc_xs_write(p.xs, "/p", big_request + 3, MAX - 2), -E2BIG);
	CHECK_EQ(rc_xs_write(p.xs, "/p", big_request + 3, MAX - 3), 0);
	free(large);
	finish(p);
}

static void bad_arguments(void)
{
	static const struct step none[1];
	const struct rc_xs_perm bad[] = { { 1, 4 } };
	struct peer p = connect_fake(none, 0);
	char out[8];

	CHECK_EQ(rc_xs_set_perms(p.xs, "/w", bad, 1), -EINVAL);
	CHECK_EQ(rc_xs_set_perms(p.xs, "/w", bad, 0), -EINVAL);
	CHECK_EQ(rc_xs_read(p.xs, NULL, out, sizeof(out), NULL), -EINVAL);
	CHECK_EQ(rc_xs_read(NULL, "/a", out, sizeof(out), NULL), -EINVAL);
	finish(p);
	rc_xs_close(NULL);
	CHECK_EQ(rc_xs_open_fd(&p.xs, -1), -EBADF);
	CHECK(p.xs == NULL);
}

/* One hostile reply: the call fails with `want`, not a XenStore error (an
 * ENOENT here would read as a dead subscriber to rc_xen.c), and every later
 * call fails the same way without a byte sent (the fake checks). */
static void hostile(enum reply kind, size_t announced, int want)
{
	const struct step script[] = { { 2, S("/a\0"), kind, "", announced } };
	struct peer p = connect_fake(script, 1);
	char out[16];

	CHECK_EQ(rc_xs_read(p.xs, "/a", out, sizeof(out), NULL), want);
	CHECK_EQ(rc_xs_read(p.xs, "/a", out, sizeof(out), NULL), want);
	CHECK_EQ(rc_xs_write(p.xs, "/a", "x", 1), want);
	finish(p);
}

static void hostile_replies(void)
{
	hostile(WRONG_ID, 0, -EPROTO);
	hostile(ERROR_WRONG_ID, 0, -EPROTO);
	hostile(WRONG_TYPE, 0, -EPROTO);
	hostile(EVENT_FLOOD, 0, -EPROTO);
	hostile(OVERSIZE, MAX + 1, -EPROTO);
	hostile(OVERSIZE, 0xffffffffu, -EPROTO);
	hostile(TRUNCATED, 0, -EPIPE);
	hostile(SHORT_HEADER, 0, -EPIPE);
	hostile(HANG_UP, 0, -EPIPE);
}

/* rc_xs_open through $XENSTORED_PATH: a Unix socket is connected to, a
 * missing path is the error. */
static void open_by_path(void)
{
	static const struct step script[] = { { 2, S("domid\0"), OK, S("4") } };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/rc-xenstore.XXXXXX", out[8];
	struct rc_xs *xs;
	int lfd, status;
	pid_t pid;

	CHECK(mkdtemp(dir));
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/socket", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0);
	CHECK(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	CHECK(listen(lfd, 1) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			_exit(91);
		fake(fd, script, 1);
	}
	close(lfd);
	CHECK(setenv("XENSTORED_PATH", addr.sun_path, 1) == 0);
	CHECK_EQ(rc_xs_open(&xs), 0);
	CHECK_EQ(rc_xs_read(xs, "domid", out, sizeof(out), NULL), 0);
	CHECK(strcmp(out, "4") == 0);
	rc_xs_close(xs);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unlink(addr.sun_path);
	rmdir(dir);

	CHECK(setenv("XENSTORED_PATH", addr.sun_path, 1) == 0); /* now gone */
	CHECK_EQ(rc_xs_open(&xs), -ENOENT);
	CHECK(xs == NULL);
	unsetenv("XENSTORED_PATH");
}

int main(void)
{
	/* A write to a fake that hung up must be an error, not a signal: the
	 * client sends with MSG_NOSIGNAL. Left at SIG_DFL to prove it. */
	signal(SIGPIPE, SIG_DFL);
	/* The client blocks as libxenstore does; a fake that waits for a
	 * request the client never sends must fail the test, not hang it. */
	alarm(30);
	memset(big_value, 'v', MAX);
	RUN(requests_and_replies);
	RUN(errors_by_name);
	RUN(sizes_and_events);
	RUN(bad_arguments);
	RUN(hostile_replies);
	RUN(open_by_path);
	return rc_test_done("xenstore client");
}
