/* SPDX-License-Identifier: MIT */
/*
 * ringcast-ivshmem-server: the doorbell server for QEMU's ivshmem-doorbell
 * devices (and host peers such as a ringcast publisher).
 *
 *   ringcast-ivshmem-server -S SOCKET -m SHM [-l SIZE] -n VECTORS [-p MAX_PEERS] [-q]
 *
 *   -S  Unix socket to listen on (QEMU: -chardev socket,path=SOCKET)
 *   -m  shared memory: a size (4096, 64K, 4M: an anonymous memfd) or a file
 *       path containing '/' (e.g. /dev/shm/NAME), sized by -l if missing/empty
 *   -n  interrupt vectors per peer (QEMU: ivshmem-doorbell,vectors=N)
 *   -p  peers connected at once (default 64)
 *   -q  no log lines on stderr
 * Prints "listening on SOCKET" on stdout once clients may connect; runs
 * until SIGINT or SIGTERM, then disconnects everyone and removes SOCKET.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rc_ivshmem_server.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void log_stderr(void *ctx, const char *line)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(stderr, "[%ld.%03ld] ivshmem-server: %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000000L, line);
}

static void usage(const char *why)
{
	fprintf(stderr, "ringcast-ivshmem-server: %s\n"
		"usage: ringcast-ivshmem-server -S SOCKET -m SIZE|PATH [-l SIZE] -n VECTORS [-p MAX_PEERS] [-q]\n",
		why);
	exit(2);
}

static uint32_t parse_count(const char *text, const char *what)
{
	uint64_t value;

	if (rc_ivshmem_parse_size(text, &value) < 0 || value == 0 || value > UINT32_MAX)
		usage(what);
	return (uint32_t)value;
}

int main(int argc, char **argv)
{
	struct rc_ivshmem_server_config config = { .log = log_stderr };
	struct rc_ivshmem_server *server;
	const char *shm = NULL;
	uint64_t create_size = 0;
	struct sigaction sa;
	int opt, r;

	while ((opt = getopt(argc, argv, "S:m:l:n:p:q")) != -1) {
		switch (opt) {
		case 'S': config.socket_path = optarg; break;
		case 'm': shm = optarg; break;
		case 'l':
			if (rc_ivshmem_parse_size(optarg, &create_size) < 0)
				usage("-l: not a size");
			break;
		case 'n': config.vectors = parse_count(optarg, "-n: not a vector count"); break;
		case 'p': config.max_peers = parse_count(optarg, "-p: not a peer count"); break;
		case 'q': config.log = NULL; break;
		default: usage("unknown option");
		}
	}
	if (!config.socket_path || !shm || !config.vectors || optind != argc)
		usage("-S, -m and -n are required");

	config.shm_fd = rc_ivshmem_server_open_shm(shm, create_size);
	if (config.shm_fd < 0) {
		fprintf(stderr, "ringcast-ivshmem-server: shared memory %s: %s\n", shm, strerror(-config.shm_fd));
		return 1;
	}
	r = rc_ivshmem_server_open(&config, &server);
	if (r < 0) {
		fprintf(stderr, "ringcast-ivshmem-server: %s: %s%s\n", config.socket_path, strerror(-r),
			r == -EINVAL ? " (the shared memory must be a power of two >= 4096 bytes, "
				       "vectors 1..64)" : "");
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	printf("listening on %s (%llu bytes, %u vectors)\n", config.socket_path,
	       (unsigned long long)rc_ivshmem_server_shm_size(server), config.vectors);
	fflush(stdout);
	while (!stop_requested) {
		r = rc_ivshmem_server_run(server, -1);
		if (r < 0 && r != -EINTR) {
			fprintf(stderr, "ringcast-ivshmem-server: %s\n", strerror(-r));
			break;
		}
	}
	rc_ivshmem_server_close(server);
	return r < 0 && r != -EINTR ? 1 : 0;
}
