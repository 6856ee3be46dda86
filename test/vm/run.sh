#!/usr/bin/env bash
# npm run test:vm — the ivshmem driver, server and doorbells in real QEMU guests.
#
# Builds kmod/ringcast_ivshmem.ko against Debian's linux-headers-amd64, fetches
# the matching Debian kernel image once (apt-get download + dpkg-deb, cached in
# .cache/vm/), builds a busybox initramfs with the module and static test
# programs, starts ringcast-ivshmem-server, and boots two guests under QEMU's
# software emulation (TCG), each with:
#   ivshmem-plain    the ring file   (memory-backend-file, readonly=on if QEMU takes it)
#   ivshmem-plain    its own ack file
#   ivshmem-doorbell connected to the server (4 MSI-X vectors)
# Phase 1 (test/vm/rcvm_guest.c, rcvm_host.c): the driver's contract, the
# doorbells host->guest, guest->host, guest->guest, unbind and unload, and a
# kernel log free of warnings. Each guest boots with loglevel=5 (warnings
# reach the console as they happen) and loads test/lib/canary's rc_canary.ko,
# one injected WARN_ON_ONCE: the scan must find it in every guest's console,
# a guest killed on purpose included, and no other warning. A host program
# that exits non-zero fails the run, whatever it printed. Phase 2 (test/vm/phase2.sh): a ringcast bus
# from a host publisher to a C and a Node subscriber in the guests.
#
# Every wait is on a marker (a line from a process, a flag in shared memory),
# bounded by a fail-safe deadline; QEMU always runs under `timeout`.
# Ends with "N passed, N failed"; exit 1 on any failure.
#
# Needs: qemu-system-x86, busybox-static, build-essential, linux-headers-amd64
# (Debian), and `npm ci` done (phase 2 rebuilds dist/ and the addon from it).
# Environment: RINGCAST_VM_CACHE (default .cache/vm), RINGCAST_VM_KEEP=1 keeps
# the work folder (logs, initramfs) and prints its path, RINGCAST_VM_PHASES
# ("1 2" by default), RINGCAST_VM_COUNT_A / _B (phase 2's stream lengths).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${RINGCAST_VM_CACHE:-$ROOT/.cache/vm}
PHASES=${RINGCAST_VM_PHASES:-1 2}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringcast-vm.XXXXXX")
SHM_PREFIX=/dev/shm/ringcast-vm-$$
QEMU_TIMEOUT=240

# shellcheck source=../lib/guest-harness.sh
. "$ROOT/test/lib/guest-harness.sh"
harness_begin test:vm 20

# Stops what is still running: our background jobs, and for a guest the
# `timeout` under its subshell (which passes the signal on to QEMU).
cleanup() {
	local p c
	for p in $(jobs -p); do
		for c in $(cat "/proc/$p/task/$p/children" 2>/dev/null); do kill "$c" 2>/dev/null; done
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -f "$SHM_PREFIX"-*
	remove_work_folder "${RINGCAST_VM_KEEP:-0}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools -------------------------------------------------------------------
require_tools "$(missing_commands qemu-system-x86_64 busybox gcc make dpkg-deb apt-get timeout)" \
	"qemu-system-x86 busybox-static build-essential linux-headers-amd64"
ok "tools present (guest kernel $KVER, $(qemu-system-x86_64 --version | head -n 1))"

# ---- module ----------------------------------------------------------------------
t=$(elapsed)
if make --no-print-directory -s -C "$ROOT/kmod" modules KVER="$KVER" >"$WORK/kmod.log" 2>&1 &&
	! grep -qi 'warning' "$WORK/kmod.log"; then
	ok "module builds against the $KVER headers without warnings ($(($(elapsed) - t)) ms)"
else
	fail "module builds against the $KVER headers without warnings" "$(tail -n 20 "$WORK/kmod.log")"
	finish
fi
if build_canary_module "$WORK/canary"; then
	ok "rc_canary.ko (one injected kernel warning) builds for $KVER"
else
	fail "rc_canary.ko builds for $KVER" "$(tail -n 10 "$WORK/canary/build.log")"
	finish
fi

# ---- guest kernel: the Debian image of exactly the headers' version ---------------
# Headers not installed by dpkg: whatever apt has for $KVER.
VMLINUZ=$CACHE/vmlinuz-$KVER${PKGVER:+-$PKGVER}
# Only the kernel itself: the guests load no module but ours.
unpack_vmlinuz() {
	if dpkg-deb --fsys-tarfile "$1" | tar -xO "./boot/vmlinuz-$KVER" >"$VMLINUZ.tmp" && [ -s "$VMLINUZ.tmp" ]; then
		mv "$VMLINUZ.tmp" "$VMLINUZ"
	else
		rm -f "$VMLINUZ.tmp"
		return 1
	fi
}
fetch_guest_kernel "$CACHE" "$VMLINUZ" unpack_vmlinuz

# ---- programs ---------------------------------------------------------------------------
t=$(elapsed)
BIN=$WORK/bin
mkdir -p "$BIN"
if make --no-print-directory -s -C "$ROOT/native/tools" >"$WORK/tools.log" 2>&1 &&
	gcc -static -O2 -Wall -Wextra -Werror -I"$ROOT/kmod" -o "$BIN/rcvm-guest" "$ROOT/test/vm/rcvm_guest.c" \
		>>"$WORK/tools.log" 2>&1 &&
	gcc -O2 -Wall -Wextra -Werror -I"$ROOT/native/test" -o "$BIN/rcvm-host" "$ROOT/test/vm/rcvm_host.c" \
		>>"$WORK/tools.log" 2>&1; then
	ok "server, host and static guest programs build ($(($(elapsed) - t)) ms)"
else
	fail "server, host and static guest programs build" "$(tail -n 20 "$WORK/tools.log")"
	finish
fi
SERVER=$ROOT/native/build-tools/ringcast-ivshmem-server

# Builds $WORK/initrd-$1.cpio from the common files plus any extra staged in $2.
build_initramfs() {
	local name=$1 extra=${2:-} stage=$WORK/initrd-$1
	stage_initramfs "$stage"
	cp "$ROOT/test/vm/init" "$stage/init"
	cp "$ROOT/kmod/ringcast_ivshmem.ko" "$WORK/canary/rc_canary.ko" "$stage/"
	cp "$BIN/rcvm-guest" "$stage/bin/"
	chmod 755 "$stage/init"
	if [ -n "$extra" ]; then cp -a "$extra/." "$stage/"; fi
	pack_initramfs "$stage" "$WORK/initrd-$name.cpio"
}

# ---- QEMU: does it take a read-only backend for the ring? ------------------------------------------------
truncate -s 4M "$SHM_PREFIX-probe"
if echo quit | timeout 30 qemu-system-x86_64 -accel tcg -display none -nic none -S -monitor stdio \
	-object "memory-backend-file,id=probe,share=on,mem-path=$SHM_PREFIX-probe,size=4M,readonly=on" \
	-device ivshmem-plain,memdev=probe >"$WORK/probe.log" 2>&1; then
	RING_READONLY=1
	note "QEMU accepts memory-backend-file readonly=on for ivshmem-plain: the ring is read-only to guests"
else
	RING_READONLY=0
	note "QEMU refused readonly=on ($(grep -v '^(qemu)' "$WORK/probe.log" | tail -n 1)): the ring is writable by guests"
fi
rm -f "$SHM_PREFIX-probe"
export RCVM_RING_READONLY=$RING_READONLY

# Boots guest $1 (1|2) for phase $2 with initramfs $3 and memory $4 MiB;
# ring file $5, ack file $6; BOOT_APPEND adds to the kernel command line.
# Console to $WORK/guest$1-phase$2.log; sets QEMU_PID (the subshell that
# runs `timeout`, which runs QEMU).
boot_guest() {
	local g=$1 phase=$2 initrd=$3 mem=$4 ring=$5 ackf=$6 ro=""
	[ "$RING_READONLY" = 1 ] && ro=",readonly=on"
	# In a subshell whose stderr is dropped: a QEMU killed on purpose would
	# otherwise make bash print a "Killed" job notice.
	( timeout "$QEMU_TIMEOUT" qemu-system-x86_64 -accel tcg -nographic -no-reboot -nic none -m "$mem" \
		-kernel "$VMLINUZ" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 loglevel=5 rcvm.guest=$g rcvm.phase=$phase ${BOOT_APPEND:-}" \
		-object "memory-backend-file,id=ring,share=on,mem-path=$ring,size=$(stat -L -c %s "$ring")$ro" \
		-device ivshmem-plain,memdev=ring \
		-object "memory-backend-file,id=ack,share=on,mem-path=$ackf,size=4K" \
		-device ivshmem-plain,memdev=ack \
		-chardev "socket,id=doorbell,path=$WORK/ivshmem.sock" \
		-device ivshmem-doorbell,chardev=doorbell,vectors=4 \
		</dev/null >"$WORK/guest$g-phase$phase.log" 2>&1; exit $? ) 2>/dev/null &
	QEMU_PID=$!
}

# Starts the ivshmem server (doorbell shm: 64 KiB file $SHM_PREFIX-doorbell); sets SERVER_PID.
start_server() {
	rm -f "$SHM_PREFIX-doorbell" "$WORK/ivshmem.sock"
	"$SERVER" -S "$WORK/ivshmem.sock" -m "$SHM_PREFIX-doorbell" -l 64K -n 4 \
		>"$WORK/server.out" 2>"$WORK/server.log" &
	SERVER_PID=$!
	if wait_for_line "$WORK/server.out" '^listening on' "$SERVER_PID" 10; then
		return 0
	fi
	fail "ivshmem server starts" "$(tail -n 5 "$WORK/server.log")"
	return 1
}

# Stops the server with SIGTERM: it must still be alive and exit 0.
stop_server() {
	local rc
	if kill -TERM "$SERVER_PID" 2>/dev/null; then
		wait "$SERVER_PID"
		rc=$?
		if [ "$rc" -eq 0 ]; then ok "$1: ivshmem server alive at the end, exits 0 on SIGTERM"; else fail "$1: ivshmem server exits 0 on SIGTERM" "exit $rc"; fi
	else
		fail "$1: ivshmem server alive at the end" "it died: $(tail -n 5 "$WORK/server.log")"
	fi
}

# Scores guest console $1 (label $2): its RCVM lines, its end marker, its
# kernel log dump, the kernel-log scan of the whole console, and QEMU's
# exit status $3.
score_guest() {
	local log=$1 label=$2 rc=$3
	tr -d '\r' <"$log" >"$log.txt"
	report_lines "$log.txt" "$label: " "RCVM ok " "RCVM FAIL " "RCVM note "
	if grep -aq '^RCVM-GUEST-END' "$log.txt"; then ok "$label: ran to its end marker"; else fail "$label: ran to its end marker" "see $(basename "$log") (tail: $(tail -n 3 "$log.txt" | tr '\n' ' '))"; fi
	if grep -aq '^RCVM-DMESG-END' "$log.txt"; then ok "$label: dumped its kernel log"; else fail "$label: dumped its kernel log" "no RCVM-DMESG-END"; fi
	scan_kernel_logs "$label" "$log.txt" guest guest
	if [ "$rc" -eq 0 ]; then ok "$label: QEMU powered off cleanly"; else fail "$label: QEMU powered off cleanly" "exit $rc (124 = timeout)"; fi
}

# Fails check "$1: exit status 0" unless host program exit status $2 is 0.
expect_exit_zero() {
	if [ "$2" -eq 0 ]; then ok "$1: exit status 0"; else fail "$1: exit status 0" "exit $2"; fi
}

# ---- phase 1: the driver, the server and the doorbells ------------------------------------------
phase1() {
	local host_pid host_rc q1 q2 rc1 rc2 t
	t=$(elapsed)
	build_initramfs p1 || { fail "phase 1: initramfs builds"; return; }
	rm -f "$SHM_PREFIX"-p1-*
	truncate -s 4M "$SHM_PREFIX-p1-ring"
	truncate -s 4K "$SHM_PREFIX-p1-ack1" "$SHM_PREFIX-p1-ack2"
	start_server || return
	"$BIN/rcvm-host" phase1 "$WORK/ivshmem.sock" "$SHM_PREFIX-p1-ring" "$SHM_PREFIX-p1-ack1" \
		"$SHM_PREFIX-p1-ack2" "$SHM_PREFIX-doorbell" >"$WORK/host-phase1.log" 2>&1 &
	host_pid=$!
	if ! wait_for_line "$WORK/host-phase1.log" '^HOST READY' "$host_pid" 30; then
		fail "phase 1: host ready" "$(tail -n 5 "$WORK/host-phase1.log")"
		return
	fi
	note "phase 1: booting two guests"
	boot_guest 1 1 "$WORK/initrd-p1.cpio" 256 "$SHM_PREFIX-p1-ring" "$SHM_PREFIX-p1-ack1"
	q1=$QEMU_PID
	boot_guest 2 1 "$WORK/initrd-p1.cpio" 256 "$SHM_PREFIX-p1-ring" "$SHM_PREFIX-p1-ack2"
	q2=$QEMU_PID
	wait "$host_pid"
	host_rc=$?
	wait "$q1"; rc1=$?
	wait "$q2"; rc2=$?
	report_lines "$WORK/host-phase1.log" "host: " "ok - " "FAIL - " "note - "
	expect_exit_zero "host: phase 1 program" "$host_rc"
	score_guest "$WORK/guest1-phase1.log" "guest 1" "$rc1"
	score_guest "$WORK/guest2-phase1.log" "guest 2" "$rc2"
	stop_server "phase 1"
	if grep -q 'sent .* bytes: the protocol is one way' "$WORK/server.log"; then
		ok "phase 1: server logged and dropped the garbage client"
	else
		fail "phase 1: server logged and dropped the garbage client" "$(tail -n 3 "$WORK/server.log")"
	fi
	note "phase 1 took $(($(elapsed) - t)) ms"
}

for phase in $PHASES; do
	case "$phase" in
	1) phase1 ;;
	2)
		if [ -f "$ROOT/test/vm/phase2.sh" ]; then
			# shellcheck source=phase2.sh
			. "$ROOT/test/vm/phase2.sh"
			phase2
		else
			note "phase 2 skipped: test/vm/phase2.sh not present"
		fi
		;;
	esac
done
finish
