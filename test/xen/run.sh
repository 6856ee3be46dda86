#!/usr/bin/env bash
# npm run test:xen — a ringcast bus between Xen domains, on real Xen 4.17
# under QEMU's software emulation (docs/xen.md).
#
# Installs nothing. Needs (Debian): xen-hypervisor-4.17-amd64 xen-utils-4.17
# qemu-system-x86 busybox-static build-essential linux-headers-amd64 (only to
# name the guest kernel's version); no Xen development package: ringcast-xen
# speaks XenStore itself (rc_xenstore.c) and takes the device ioctls from the
# kernel's uapi headers (linux-libc-dev). Fetches the matching Debian kernel
# image once (apt-get download + dpkg-deb into .cache/xen/, git-ignored).
#
# Boots Xen (the uncompressed hypervisor as QEMU's -kernel, -cpu
# max,-smap,-smep,-xsave: see docs/xen.md for why each flag) with a PV dom0
# and two PV domUs (domain 1 = B, domain 2 = A):
#   domU A  publisher: ringcast-xen pub, lanes for B (ack page granted by B)
#           and dom0 (slot 0 granted by dom0, slot 1 granted by A)
#   domU B  subscriber; stops reading after MESSAGES/2 but lives
#   dom0    toolstack (xenstored, xen-init-dom0, xenconsoled, xl) and the
#           subscribers: slot 0 must receive every message in order; slots
#           2 and 1 stop at MESSAGES/8 and /4 and are killed (SIGKILL); a new
#           process joins slot 2 mid-stream and reads to the end
# A must evict the killed processes (reason dead, via the unmap
# notification), then, after `xl destroy` B, B (reason dead, via XenStore),
# and finish the stream. Then a bus with manual rendezvous (no XenStore) to dom0, and one
# whose publisher A kills: dom0's subscriber must end cleanly.
# Then the same from Node, with the package (the host's node binary copied
# into the initramfs): a Publisher (xen: address) in domU C (domain 4), two subscribers in
# domU D (domain 3; one stalls, is evicted `slow` and rejoins with a gap that
# accounts for every message) and one in dom0, which after the publisher's
# close checks that a new join is refused (`closing`).
# Each check is an "RCX ok"/"RCX FAIL" line on dom0's console; every check
# listed in test/xen/expected-checks must be reported ok (a FAIL line
# mangled on the console cannot vanish), and a failure any program prints
# in any domain fails the run. Every kernel (dom0's, each domU's) boots with
# loglevel=5, so warnings reach its console as they happen, and loads
# test/lib/canary's rc_canary.ko, one injected WARN_ON_ONCE: the scan must
# find that warning in every domain's log, and any other Xen or kernel
# WARNING/BUG/Oops/panic on any console fails the run. dom0 must power Xen
# off, and QEMU must then exit by itself with status 0.
# Ends with "N passed, N failed"; exit 1 on any failure.
#
# Environment: RINGCAST_XEN_CACHE (default .cache/xen), RINGCAST_XEN_MESSAGES
# (default 20000), RINGCAST_XEN_KEEP=1 keeps the work folder (logs,
# initramfs) and prints its path, RINGCAST_XEN_SMP (default 2 vCPUs),
# RINGCAST_XEN_ONLY=xengrant runs only the grant device's test (below),
# RINGCAST_XEN_ONLY=hostile only the hostile receiver domain's (below),
# RINGCAST_XEN_ONLY=xenpub only the Node Publisher's write-once buses (below).
# RINGCAST_XEN_ONLY=channel only the channel between two domUs (below).
# RINGCAST_XEN_ONLY=bridge only the bridge domain's (below).
#
# Last, the grant device (kmod/ringcast_xengrant.c, built here against the
# guest kernel's headers): domU P loads it, allocates one ring, grants it
# read-only to domU R and dom0, which map the same pages; P revokes R while
# R maps (deferred), dies, and unloads the module while dom0 still maps
# (test/xen/xengrant_test.c, test/xen/xengrant-dom0.sh).
# Then a hostile receiver domain H attacks a bus that domU U publishes to
# it and to dom0 through its ack page: acks beyond head, backwards,
# flapping with rejoins, a join-request flood; U must evict each forged ack
# (protocol) and dom0's subscribers receive everything intact
# (test/xen/hostile-dom0.sh, `ringcast-xen hostile`).
# Then a Xen bus is a Publisher: domU W's Node Publisher publishes the same
# sequence (small messages, one of 16 MiB, a zero-copy claim, a write
# stream) on 2 MiB rings to dom0 alone and then to dom0 and domUs X and Y;
# every subscriber's sha256 must be the publisher's, and the bytes W wrote
# must be the same for 1 and 3 receiver domains; `ringcast stat` is refused
# in W and, in X mid-stream, lists all three subscribers and takes no slot
# (test/xen/xenpub-dom0.sh).
# Then a point-to-point channel between domUs N and M from Node
# (ChannelServer, Channel.connect): 64 MiB from N to M through the Duplex
# with the same sha256 in both, shutdown from either end
# (test/xen/channel-dom0.sh, test/xen/channel-peer.mjs).
# Then the bridge domain: domU G forwards a bus of domU S with `ringcast
# bridge --forward xen:...` over TCP on its loopback to a second bridge that
# republishes it into a Xen bus of G read by two subscribers in dom0; the
# forwarding bridge is killed mid-stream and started again; every message
# arrives in order and intact or lies in a reported gap
# (test/xen/bridge-dom0.sh, bridge-domu.sh).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${RINGCAST_XEN_CACHE:-$ROOT/.cache/xen}
MESSAGES=${RINGCAST_XEN_MESSAGES:-20000}
PAUSE=$((MESSAGES / 2))
MANUAL_MESSAGES=1000
# The third bus's publisher is killed after exactly this many commits.
HOLD_AFTER=3000
NODE_MESSAGES=${RINGCAST_XEN_NODE_MESSAGES:-20000}
SMP=${RINGCAST_XEN_SMP:-2}
ONLY=${RINGCAST_XEN_ONLY:-}
case "$ONLY" in
'' | xengrant | hostile | xenpub | channel | bridge) ;;
*) echo "RINGCAST_XEN_ONLY=$ONLY: one of xengrant, hostile, xenpub, channel, bridge (or unset)" >&2; exit 2 ;;
esac
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringcast-xen.XXXXXX")
# The Node part (the package, Node domUs) is built unless one C-only scenario runs alone.
case "$ONLY" in xengrant | hostile) NODE_PART= ;; *) NODE_PART=1 ;; esac
# What the Node domains carry besides node-peer.mjs: the bridge domain's programs.
BRIDGE_FILES="$ROOT/test/xen/bridge-peer.mjs $ROOT/test/xen/bridge-domu.sh $ROOT/test/fixtures/numbered.mjs"
QEMU_TIMEOUT=900
XENBIN=/usr/lib/xen-4.17/bin
XENGZ=/boot/xen-4.17-amd64.gz

# shellcheck source=../lib/guest-harness.sh
. "$ROOT/test/lib/guest-harness.sh"
harness_begin test:xen 100
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	remove_work_folder "${RINGCAST_XEN_KEEP:-0}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools ---------------------------------------------------------------------
missing=$(missing_commands qemu-system-x86_64 busybox gcc dpkg-deb apt-get timeout gzip)
for f in "$XENGZ" "$XENBIN/xl" "$XENBIN/xenstored" "$XENBIN/xen-init-dom0" "$XENBIN/xenconsoled" \
	/usr/include/xen/gntalloc.h; do
	[ -e "$f" ] || missing="$missing $f"
done
require_tools "$missing" \
	"xen-hypervisor-4.17-amd64 xen-utils-4.17 qemu-system-x86 busybox-static build-essential linux-headers-amd64"
XENVER=$(dpkg-query -W -f='${Version}' xen-hypervisor-4.17-amd64 2>/dev/null)
ok "tools present (Xen $XENVER, guest kernel $KVER, $(qemu-system-x86_64 --version | head -n 1))"

# ---- guest kernel and its Xen modules, cached ---------------------------------------
KDIR=$CACHE/linux-$KVER-$PKGVER
XENMODS="xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs/xenfs"
# The kernel and the Xen device modules the domains load, into $KDIR.
unpack_kernel_and_xen_modules() {
	local m
	rm -rf "$KDIR.tmp" && mkdir -p "$KDIR.tmp" && dpkg-deb -x "$1" "$WORK/kernel" &&
		cp "$WORK/kernel/boot/vmlinuz-$KVER" "$KDIR.tmp/vmlinuz" || { rm -rf "$KDIR.tmp"; return 1; }
	for m in $XENMODS; do
		cp "$WORK/kernel/lib/modules/$KVER/kernel/drivers/xen/$m.ko" "$KDIR.tmp/" || { rm -rf "$KDIR.tmp"; return 1; }
	done
	rm -rf "$KDIR" && mv "$KDIR.tmp" "$KDIR"
	rm -rf "$WORK/kernel"
}
fetch_guest_kernel "$CACHE" "$KDIR/vmlinuz" unpack_kernel_and_xen_modules
# Xen itself, uncompressed: QEMU's multiboot loader takes an ELF, not a gzip.
zcat "$XENGZ" >"$WORK/xen"

# ---- programs ----------------------------------------------------------------------
t=$(elapsed)
if make --no-print-directory -s -C "$ROOT/native/tools" xen >"$WORK/tools.log" 2>&1; then
	ok "ringcast-xen builds static with no Xen library ($(($(elapsed) - t)) ms)"
else
	fail "ringcast-xen builds static with no Xen library" "$(tail -n 20 "$WORK/tools.log")"
	finish
fi
PEER=$ROOT/native/build-tools/ringcast-xen

t=$(elapsed)
if build_canary_module "$WORK/canary"; then
	ok "rc_canary.ko (one injected kernel warning) builds for $KVER ($(($(elapsed) - t)) ms)"
else
	fail "rc_canary.ko builds for $KVER" "$(tail -n 10 "$WORK/canary/build.log")"
	finish
fi

t=$(elapsed)
if make --no-print-directory -C "$ROOT/kmod" modules KVER="$KVER" >"$WORK/kmod.log" 2>&1 &&
	! grep -qi 'warning' "$WORK/kmod.log" &&
	gcc -std=gnu11 -O1 -g -Wall -Wextra -Werror -static -I"$ROOT/native/include" -I"$ROOT/kmod" \
		-o "$WORK/xengrant_test" "$ROOT/test/xen/xengrant_test.c" "$ROOT/native/src/providers/xen/rc_xen.c" \
		"$ROOT/native/src/providers/xen/rc_xenstore.c" "$ROOT/native/src/core/ringcast.c" "$ROOT/native/src/core/rc_join.c" >>"$WORK/kmod.log" 2>&1; then
	ok "the grant device builds against the $KVER headers without warnings, and its test ($(($(elapsed) - t)) ms)"
else
	fail "the grant device builds against the $KVER headers without warnings, and its test" \
		"$(tail -n 20 "$WORK/kmod.log")"
	finish
fi

if [ -n "$NODE_PART" ]; then
	t=$(elapsed)
	if build_package "$WORK/package-build.log"; then
		ok "the package builds for the Node part (dist/, build/Release/ringcast.node) ($(($(elapsed) - t)) ms)"
	else
		fail "the package builds for the Node part" "$(tail -n 20 "$WORK/package-build.log")"
		finish
	fi
fi

# The one part that needs no Xen: the manual rendezvous line, under ASan/UBSan.
t=$(elapsed)
if gcc -std=gnu11 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all \
	-I"$ROOT/native/include" -o "$WORK/test_manual_line" "$ROOT/test/xen/test_manual_line.c" \
	"$ROOT/native/src/providers/xen/rc_xen.c" "$ROOT/native/src/providers/xen/rc_xenstore.c" "$ROOT/native/src/core/ringcast.c" "$ROOT/native/src/core/rc_join.c" \
	>"$WORK/unit.log" 2>&1 &&
	"$WORK/test_manual_line" >>"$WORK/unit.log" 2>&1; then
	ok "manual rendezvous line: written, read back, bad lines refused ($(grep -c '^ok' "$WORK/unit.log") cases, $(($(elapsed) - t)) ms)"
else
	fail "manual rendezvous line: written, read back, bad lines refused" "$(grep -v '^ok' "$WORK/unit.log" | tail -n 10)"
fi

# ---- initramfs: domUs ---------------------------------------------------------------------
stage_common() {
	local stage=$1
	stage_initramfs "$stage"
	mkdir -p "$stage/modules"
	cp "$PEER" "$stage/bin/ringcast-xen"
	cp "$WORK/xengrant_test" "$stage/bin/xengrant_test"
	cp "$ROOT/kmod/ringcast_xengrant.ko" "$stage/modules/"
	for m in $XENMODS; do cp "$KDIR/${m##*/}.ko" "$stage/modules/"; done
	cp "$WORK/canary/rc_canary.ko" "$stage/modules/"
}

t=$(elapsed)
stage_common "$WORK/domu"
cp "$ROOT/test/xen/domu-init" "$WORK/domu/init"
chmod 755 "$WORK/domu/init"
pack_initramfs "$WORK/domu" "$WORK/domu.cpio.gz" gzip -1
# The Node domUs: the same init, plus node and the package.
if [ -n "$NODE_PART" ]; then
	stage_common "$WORK/domu-node"
	# shellcheck disable=SC2086 # BRIDGE_FILES: paths without spaces
	stage_node "$WORK/domu-node" "$ROOT/test/xen/node-peer.mjs" "$ROOT/test/xen/channel-peer.mjs" $BRIDGE_FILES
	cp "$ROOT/test/xen/domu-init" "$WORK/domu-node/init"
	chmod 755 "$WORK/domu-node/init"
	pack_initramfs "$WORK/domu-node" "$WORK/domu-node.cpio.gz" gzip -1
fi

# ---- initramfs: dom0 (toolstack + its shared libraries) ---------------------------------
D0=$WORK/dom0
stage_common "$D0"
cp "$ROOT/test/xen/dom0-init" "$D0/init"
chmod 755 "$D0/init"
mkdir -p "$D0/etc"
cp "$ROOT/test/xen/xengrant-dom0.sh" "$D0/etc/xengrant-dom0.sh"
cp "$ROOT/test/xen/hostile-dom0.sh" "$D0/etc/hostile-dom0.sh"
cp "$ROOT/test/xen/xenpub-dom0.sh" "$D0/etc/xenpub-dom0.sh"
cp "$ROOT/test/xen/channel-dom0.sh" "$D0/etc/channel-dom0.sh"
cp "$ROOT/test/xen/bridge-dom0.sh" "$D0/etc/bridge-dom0.sh"
mkdir -p "$D0/usr/lib/xen-4.17/bin" "$D0/lib/x86_64-linux-gnu" "$D0/lib64" "$D0/etc/xen" "$D0/guest" \
	"$D0/var/lib/xen" "$D0/var/log/xen"
for b in xl xenstored xen-init-dom0 xenconsoled; do cp "$XENBIN/$b" "$D0/usr/lib/xen-4.17/bin/"; done
# The libraries the toolstack links, plus libgcc_s (glibc dlopens it for
# pthread_cancel; without it xl aborts).
libs=$(for b in xl xenstored xen-init-dom0 xenconsoled; do ldd "$XENBIN/$b"; done |
	awk '/=> \// {print $3} /^\t\/lib64\// {print $1}' | sort -u)
gccs=$(gcc -print-file-name=libgcc_s.so.1)
for l in $libs $(readlink -f "$gccs") /lib/x86_64-linux-gnu/libgcc_s.so.1; do
	[ -e "$l" ] && cp -L "$l" "$D0/lib/x86_64-linux-gnu/"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$D0/lib64/"
cp "$KDIR/vmlinuz" "$D0/guest/vmlinuz"
cp "$WORK/domu.cpio.gz" "$D0/guest/"
if [ -n "$NODE_PART" ]; then
	cp "$WORK/domu-node.cpio.gz" "$D0/guest/"
	# shellcheck disable=SC2086 # BRIDGE_FILES: paths without spaces; dom0 reads the bridge's Xen bus
	stage_node "$D0" "$ROOT/test/xen/node-peer.mjs" "$ROOT/test/xen/channel-peer.mjs" $BRIDGE_FILES
fi
# One config file per domU (xl 4.17 corrupted its heap when a second domain
# was created with key=value overrides on the command line).
domu_cfg() { # name memory extra [ramdisk]
	cat <<EOF
name = "$1"
type = "pv"
kernel = "/guest/vmlinuz"
ramdisk = "/guest/${4:-domu.cpio.gz}"
extra = "console=hvc0 loglevel=5 $3"
memory = $2
vcpus = 1
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
EOF
}
# dom0 creates B (domain 1) before A (domain 2).
# A's lanes: domain 1 (B) with one slot, ack page granted by B; dom0 with
# slots 0 and 2 (ack pages granted by dom0) and slot 1 (granted by A).
domu_cfg rcx-A 160 "rcx.role=pub rcx.receivers=1:sub,0:sub,0:pub,0:sub rcx.subscribers=4 rcx.messages=$MESSAGES rcx.manual_messages=$MANUAL_MESSAGES rcx.hold_after=$HOLD_AFTER" \
	>"$D0/etc/xen/domA.cfg"
domu_cfg rcx-B 128 "rcx.role=sub rcx.publisher=2 rcx.messages=$MESSAGES rcx.pause=$PAUSE" >"$D0/etc/xen/domB.cfg"
# The Node part, once A and B are gone: dom0 creates D (domain 3, two Node
# subscribers) before C (domain 4, the Node publisher). C's slots: D's 0 and
# 1, dom0's 0 (a Node subscriber) and 1 (only ever asked for after the close).
domu_cfg rcx-C 512 "rcx.role=node-pub rcx.domid=4 rcx.receivers=3,3,0,0 rcx.subscribers=3 rcx.messages=$NODE_MESSAGES" \
	domu-node.cpio.gz >"$D0/etc/xen/domC.cfg"
domu_cfg rcx-D 512 "rcx.role=node-sub rcx.publisher=4 rcx.messages=$NODE_MESSAGES rcx.stall=$((NODE_MESSAGES / 4))" \
	domu-node.cpio.gz >"$D0/etc/xen/domD.cfg"
pack_initramfs "$D0" "$WORK/dom0.cpio.gz" gzip -1
ok "initramfs for dom0 ($(($(stat -c %s "$WORK/dom0.cpio.gz") / 1024)) KiB) and the domUs built ($(($(elapsed) - t)) ms)"

# ---- boot -----------------------------------------------------------------------------
LOG=$WORK/console.log
note "booting Xen + dom0 ($SMP vCPUs, TCG); $MESSAGES messages, B pauses at $PAUSE"
t=$(elapsed)
# -smap,-smep: with SMAP exposed the PV dom0 crashes at its first bounce
# frame. -xsave: with XSAVE, processes in the PV domains now and then got
# another context's register state (general protection faults in glibc's
# TLS code, and once a subscriber's copy holding bytes of a message 26
# further on); without it none in repeated runs, and twice as fast.
# dom0_max_vcpus=1: dom0 needs no second vCPU; publisher and subscriber
# domains can then run on the two physical CPUs at once.
timeout "$QEMU_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max,-smap,-smep,-xsave -smp "$SMP" -m 3072 \
	-nographic -no-reboot -nic none \
	-kernel "$WORK/xen" \
	-append "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 noreboot loglvl=all guest_loglvl=all" \
	-initrd "$KDIR/vmlinuz console=hvc0 loglevel=5 rcx.messages=$MESSAGES rcx.kill_at=$((MESSAGES / 4)) rcx.kill2_at=$((MESSAGES / 8)) rcx.manual_messages=$MANUAL_MESSAGES rcx.hold_after=$HOLD_AFTER rcx.node_messages=$NODE_MESSAGES${ONLY:+ rcx.only=$ONLY},$WORK/dom0.cpio.gz" \
	</dev/null >"$LOG" 2>&1 &
QEMU=$!
pids+=("$QEMU")

if wait_for_line "$LOG" "RCX note dom0 up" "$QEMU" 180; then
	ok "Xen boots a PV dom0 ($(($(elapsed) - t)) ms)"
else
	fail "Xen boots a PV dom0" "$(tail -n 15 "$LOG" | tr -d '\r')"
	finish
fi
if wait_for_line "$LOG" "RCX-DOM0-END" "$QEMU" "$QEMU_TIMEOUT"; then
	note "dom0 finished ($(($(elapsed) - t)) ms after boot start)"
else
	fail "dom0 finishes its scenario" "$(tail -n 15 "$LOG" | tr -d '\r')"
fi
# dom0 powers the machine off (poweroff -f, Xen's ACPI S5); QEMU must then
# exit by itself, with status 0 (from `timeout`: 124 when it ran out).
if wait_for_line "$LOG" "reboot: Power down" "$QEMU" 60; then ok "dom0 powers Xen off"; else
	fail "dom0 powers Xen off" "$(tail -n 5 "$LOG" | tr -d '\r')"; fi
for ((i = 0; i < 600; i++)); do kill -0 "$QEMU" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$QEMU" 2>/dev/null; then
	fail "QEMU exits by itself after the power-off" "still running 60 s later"
	kill "$QEMU" 2>/dev/null
	wait "$QEMU" 2>/dev/null
else
	wait "$QEMU"
	qemu_rc=$?
	if [ "$qemu_rc" -eq 0 ]; then ok "QEMU exits by itself after the power-off, status 0"; else
		fail "QEMU exits by itself after the power-off, status 0" "exit $qemu_rc (124 = timeout)"; fi
fi

tr -d '\r' <"$LOG" >"$LOG.txt"
report_lines "$LOG.txt" "" "RCX ok " "RCX FAIL "
# The grant device's checks come last (or alone, after the toolstack's).
# Each scenario's domains, in the order dom0 creates them.
scenario_guests() {
	case $1 in
	xengrant) echo "R Q P" ;; hostile) echo "H U" ;; xenpub) echo "X Y W" ;;
	channel) echo "M N" ;; bridge) echo "G S" ;;
	esac
}
SCENARIOS="xengrant hostile xenpub channel bridge"
if [ -n "$ONLY" ]; then
	grep -E '^toolstack-' "$ROOT/test/xen/expected-checks" >"$WORK/expected-checks"
	cat "$ROOT/test/xen/expected-checks-$ONLY" >>"$WORK/expected-checks"
	GUESTS="dom0 $(scenario_guests "$ONLY")"
else
	cp "$ROOT/test/xen/expected-checks" "$WORK/expected-checks"
	GUESTS="dom0 A B C D"
	for scenario in $SCENARIOS; do
		cat "$ROOT/test/xen/expected-checks-$scenario" >>"$WORK/expected-checks"
		GUESTS="$GUESTS $(scenario_guests "$scenario")"
	done
fi
expect_listed_checks "$LOG.txt" "RCX ok " "$WORK/expected-checks" "test/xen/expected-checks${ONLY:+ ($ONLY)}"
# A program's failure in a domain reaches dom0's console with a prefix ("[A] ",
# "[0.k] "): a check may have waited past it.
expect_no_stray_failures "no program in any domain reported a failure" "$LOG.txt" '.(RCX|RCX-PUB|RCX-SUB|RCX-HOSTILE|RCN|RCB) FAIL'
# Progress lines of the programs, for the record.
grep -E '^\[(A|B|0|0\.[12mkl])\] RCX-(PUB|SUB) |^\[(C|D|N|W|X|Y|0\.rcw[13])\] RCN ' "$LOG.txt" | grep -v 'RCX-GUEST-LOG' | sort -u | sed 's/^/  /' | head -n 60
grep -E '^\[(P|R|0\.g)\] RCG note' "$LOG.txt" | sort -u | sed 's/^/  /'
grep -E '^\[(H|U)\] RCX-(HOSTILE|PUB) ' "$LOG.txt" | grep -v 'refused domain' | sort -u | sed 's/^/  /' | head -n 40
grep -E '^\[(G|S)\] (\[sub[01]\] )?RCB (ok|note)' "$LOG.txt" | sort -u | sed 's/^/  /' | head -n 40

# Every kernel's log, on every console (dom0's, the domUs' as copied by
# xenconsoled, Xen's own ring): the canary in each, nothing else.
scan_kernel_logs "kernel logs" "$LOG.txt" "$GUESTS" dom0
if [ "${RINGCAST_XEN_KEEP:-0}" = 1 ]; then cp "$LOG.txt" "$WORK/console.txt"; fi
finish
