# Phase 2 of test/vm/run.sh (sourced by it): the issue's end-to-end scenario.
# A ringcast Publisher on the host serves a mixed bus (the package's `vm`
# option with a Unix socket: the ring is its sealed memfd, linked at the ring
# file QEMU maps read-only; one ack file per guest; a peer of the ivshmem
# server) and publishes two streams with sequence numbers and checksums;
# guest 1 receives with a static C subscriber on the C core (rcvm_csub.c),
# guest 2 with a Node subscriber using the package (phase2-guest.mjs, the
# host's node binary copied into the initramfs), both woken by MSI-X
# doorbells, and a local process on the host through the bus socket, from
# the same ring. After stream A, guest 1's QEMU is killed: the publisher must
# evict it and deliver stream B to guest 2 and the local process.

PHASE2_COUNT_A=${RINGCAST_VM_COUNT_A:-3000}
PHASE2_COUNT_B=${RINGCAST_VM_COUNT_B:-2000}

# Fails unless guest console $1 (label $2) has the line "RCVM ok $3...".
require_line() {
	if grep -aq "^RCVM ok $3" "$1.txt" 2>/dev/null; then
		ok "$2: reported $3"
	else
		fail "$2: reported $3" "no such line in $(basename "$1")"
	fi
}

# The pid of QEMU itself: boot_guest's subshell $1 runs `timeout`, which runs QEMU.
qemu_of() {
	local timeout_pid
	timeout_pid=$(awk '{print $1}' "/proc/$1/task/$1/children" 2>/dev/null)
	[ -n "$timeout_pid" ] && awk '{print $1}' "/proc/$timeout_pid/task/$timeout_pid/children" 2>/dev/null
}

phase2() {
	local t host_pid host_rc q1 q2 rc1 rc2 qpid extra=$WORK/phase2-extra ring i
	t=$(elapsed)
	if [ ! -f "$ROOT/native/src/providers/ivshmem/rc_ivshmem.c" ] || ! grep -q ivshmem "$ROOT/src/subscriber.ts" 2>/dev/null; then
		fail "phase 2: the ivshmem region provider is present (native/src/providers/ivshmem/rc_ivshmem.c, src/providers/ivshmem.ts)"
		return
	fi
	if gcc -static -O2 -Wall -Wextra -Werror -I"$ROOT/native/include" -I"$ROOT/kmod" -o "$BIN/rcvm-csub" \
		"$ROOT/test/vm/rcvm_csub.c" "$ROOT/native/src/core/ringcast.c" "$ROOT/native/src/providers/memfd/rc_memfd.c" \
		"$ROOT/native/src/providers/ivshmem/rc_ivshmem.c" "$ROOT/native/src/core/rc_join.c" >"$WORK/csub.log" 2>&1; then
		ok "phase 2: static C subscriber builds on the C core"
	else
		fail "phase 2: static C subscriber builds on the C core" "$(tail -n 10 "$WORK/csub.log")"
		return
	fi
	if build_package "$WORK/package-build.log"; then
		ok "phase 2: the package builds (dist/, build/Release/ringcast.node)"
	else
		fail "phase 2: the package builds" "$(tail -n 10 "$WORK/package-build.log")"
		return
	fi

	rm -rf "$extra-1" "$extra-2"
	mkdir -p "$extra-1/bin" "$extra-2"
	cp "$BIN/rcvm-csub" "$extra-1/bin/"
	cp "$ROOT/test/vm/phase2-guest.sh" "$extra-1/phase2"
	cp "$ROOT/test/vm/phase2-guest.sh" "$extra-2/phase2"
	stage_node "$extra-2" "$ROOT/test/vm/phase2-guest.mjs"
	build_initramfs p2-c "$extra-1" || { fail "phase 2: initramfs builds"; return; }
	build_initramfs p2-node "$extra-2" || { fail "phase 2: initramfs builds"; return; }
	note "phase 2: initramfs with node: $(($(stat -c %s "$WORK/initrd-p2-node.cpio") / 1048576)) MiB"

	rm -f "$SHM_PREFIX"-p2-*
	ring=$SHM_PREFIX-p2-ring
	start_server || return
	node "$ROOT/test/vm/phase2-host.mjs" "$WORK/ivshmem.sock" "$ring" "$SHM_PREFIX-p2-ack1" \
		"$SHM_PREFIX-p2-ack2" "$PHASE2_COUNT_A" "$PHASE2_COUNT_B" "$WORK/p2-bus.sock" >"$WORK/host-phase2.log" 2>&1 &
	host_pid=$!
	if ! wait_for_line "$WORK/host-phase2.log" '^HOST READY' "$host_pid" 30; then
		fail "phase 2: host publisher ready" "$(tail -n 10 "$WORK/host-phase2.log")"
		return
	fi
	note "phase 2: publisher ready ($(stat -L -c %s "$ring")-byte ring, $ring -> $(readlink "$ring")); booting guest 1 (C) and guest 2 (Node)"
	BOOT_APPEND="rcvm.a=$PHASE2_COUNT_A rcvm.b=$PHASE2_COUNT_B"
	boot_guest 1 2 "$WORK/initrd-p2-c.cpio" 256 "$ring" "$SHM_PREFIX-p2-ack1"
	q1=$QEMU_PID
	boot_guest 2 2 "$WORK/initrd-p2-node.cpio" 1024 "$ring" "$SHM_PREFIX-p2-ack2"
	q2=$QEMU_PID
	BOOT_APPEND=""

	# The host says when; a guest that powered off before (its subscriber
	# failed) ends the wait rather than the fail-safe deadline.
	for ((i = 0; i < 240 * 50; i++)); do
		grep -q '^KILL GUEST 1' "$WORK/host-phase2.log" && break
		if ! kill -0 "$host_pid" 2>/dev/null || ! kill -0 "$q1" 2>/dev/null || ! kill -0 "$q2" 2>/dev/null; then
			break
		fi
		sleep 0.02
	done
	if ! grep -q '^KILL GUEST 1' "$WORK/host-phase2.log"; then
		fail "phase 2: host asked for guest 1 to be killed after stream A" "a guest or the host ended first"
		kill "$host_pid" "$q1" "$q2" 2>/dev/null
	else
		# Its kernel log first: guest 1 dumps it once stream A is in.
		if wait_for_line "$WORK/guest1-phase2.log" '^RCVM-DMESG-END' "$q1" 60; then
			ok "phase 2: guest 1 dumped its kernel log before the kill"
		else
			fail "phase 2: guest 1 dumped its kernel log before the kill" "no RCVM-DMESG-END"
		fi
		qpid=$(qemu_of "$q1")
		if [ -n "$qpid" ] && kill -KILL "$qpid"; then
			ok "phase 2: guest 1's QEMU killed (SIGKILL) after stream A"
		else
			fail "phase 2: guest 1's QEMU killed after stream A" "no QEMU process under $q1"
		fi
		note "phase 2: guest 1 killed"
	fi
	wait "$host_pid"
	host_rc=$?
	wait "$q2"; rc2=$?
	kill "$q1" 2>/dev/null
	wait "$q1" 2>/dev/null; rc1=$?
	report_lines "$WORK/host-phase2.log" "host: " "ok - " "FAIL - " "note - "
	expect_exit_zero "host: phase 2 publisher" "$host_rc"
	grep -q '^HOST DONE' "$WORK/host-phase2.log" && ok "host: phase 2 publisher ran to its end" ||
		fail "host: phase 2 publisher ran to its end" "$(tail -n 3 "$WORK/host-phase2.log")"

	# Guest 1 was killed: its lines up to then, its kernel log (dumped before
	# the kill) and its whole console scanned.
	tr -d '\r' <"$WORK/guest1-phase2.log" >"$WORK/guest1-phase2.log.txt"
	report_lines "$WORK/guest1-phase2.log.txt" "guest 1 (C): " "RCVM ok " "RCVM FAIL "
	require_line "$WORK/guest1-phase2.log" "guest 1 (C)" "c-subscriber-stream-a"
	scan_kernel_logs "guest 1 (C), killed" "$WORK/guest1-phase2.log.txt" guest guest
	[ "$rc1" -ne 0 ] || fail "guest 1 (C): was killed" "QEMU exited 0 (powered off by itself?)"

	score_guest "$WORK/guest2-phase2.log" "guest 2 (Node)" "$rc2"
	require_line "$WORK/guest2-phase2.log" "guest 2 (Node)" "node-subscriber-all"
	stop_server "phase 2"
	note "phase 2 took $(($(elapsed) - t)) ms"
}
