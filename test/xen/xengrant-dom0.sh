# Sourced by test/xen/dom0-init: the focused test of the grant device
# (kmod/ringcast_xengrant.c). dom0 creates domU R (a receiver) and then
# domU P, which loads the module and runs `xengrant_test owner` with R and
# dom0 as receiver domains; R and dom0 run `xengrant_test reader`
# (test/xen/xengrant_test.c says what each checks). When P's owner has
# killed itself, P unloads the module while dom0 still maps the pages, and
# dom0's reader checks them once more. Every "RCG ok/FAIL NAME" line of the
# three programs becomes an "RCX ok/FAIL xengrant-WHO-NAME" check here (WHO:
# dom0, domR or domP; all listed in test/xen/expected-checks).
# Then, write once: P publishes the same messages (ringcast-xen, the Xen
# provider) to one receiver domain (dom0) and to three (two subscribers in
# dom0, one in R, one in domU Q), and the bytes it wrote into shared memory
# must be the same; every subscriber must receive every message in order.
# Uses dom0-init's ok, fail, wait_line and prefix.

# One xl configuration file per domU (see run.sh: no key=value overrides).
xengrant_cfg() { # name extra
	cat <<CFG
name = "$1"
type = "pv"
kernel = "/guest/vmlinuz"
ramdisk = "/guest/domu.cpio.gz"
extra = "console=hvc0 quiet $2"
memory = 128
vcpus = 1
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
CFG
}

# The same for a domU that runs Node and the package (the xenpub, channel and
# bridge scenarios): the Node initramfs, 512 MiB, the kernel's warnings shown.
node_domu_cfg() { # name extra
	cat <<CFG
name = "$1"
type = "pv"
kernel = "/guest/vmlinuz"
ramdisk = "/guest/domu-node.cpio.gz"
extra = "console=hvc0 loglevel=5 $2"
memory = 512
vcpus = 1
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
CFG
}

# Copies each named domU's console to dom0's, prefixed "[NAME] ", as it grows.
follow_consoles() {
	local d f i
	for d in "$@"; do
		f=/var/log/xen/console/guest-rcx-$d.log
		i=0
		while [ ! -e $f ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		tail -n +1 -F $f 2>/dev/null | prefix "[$d] " &
	done
}

# Creates the domains NAME=ID... in that order (xl create /etc/xen/domNAME.cfg,
# domain rcx-NAME) and checks that each got the ID expected: checks
# "$1-create-domNAME" and "$1-domain-ids". Status 1 when a creation failed.
create_domains() {
	local prefix=$1 pair name got="" want=""
	shift
	for pair in "$@"; do
		name=${pair%=*}
		if xl create /etc/xen/dom$name.cfg >/tmp/create-$name.log 2>&1; then ok "$prefix-create-dom$name"; else
			fail "$prefix-create-dom$name" "$(tail -n 5 /tmp/create-$name.log)"; return 1; fi
	done
	for pair in "$@"; do
		got="$got ${pair%=*}=$(xl domid rcx-${pair%=*})"
		want="$want $pair"
	done
	if [ "$got" = "$want" ]; then ok "$prefix-domain-ids (${want# })"; else
		fail "$prefix-domain-ids" "got${got}, expected${want}"; fi
}

# $1: the id of the last domain created so far (0 if none).
xengrant_scenario() {
	local next=$(($1 + 1)) p r q log wo=${WRITE_ONCE_MESSAGES:-5000}
	# Domain ids grow by one per xl create: R gets the next, Q the one
	# after, then P; R and Q are told P's id before P exists (checked below).
	xengrant_cfg rcx-R "rcx.role=xengrant-reader rcx.publisher=$((next + 2)) rcx.messages=$wo" >/etc/xen/domR.cfg
	xengrant_cfg rcx-Q "rcx.role=writeonce-reader rcx.publisher=$((next + 2)) rcx.messages=$wo" >/etc/xen/domQ.cfg
	xengrant_cfg rcx-P "rcx.role=xengrant-owner rcx.receivers=0,$next rcx.messages=$wo rcx.wo_receivers=0:sub,0:pub,$next:sub,$((next + 1)):sub" >/etc/xen/domP.cfg
	for d in R Q P; do
		if xl create /etc/xen/dom$d.cfg >/tmp/create-$d.log 2>&1; then ok "xengrant-create-dom$d"; else
			fail "xengrant-create-dom$d" "$(tail -n 5 /tmp/create-$d.log)"; return; fi
	done
	r=$(xl domid rcx-R)
	q=$(xl domid rcx-Q)
	p=$(xl domid rcx-P)
	if [ "$r" = "$next" ] && [ "$q" = $((next + 1)) ] && [ "$p" = $((next + 2)) ]; then
		ok "xengrant-domain-ids (R=$r Q=$q P=$p)"
	else
		fail "xengrant-domain-ids" "R=$r Q=$q P=$p, expected $next, $((next + 1)), $((next + 2))"
	fi
	follow_consoles R Q P
	rm -f /tmp/rcg-rmmod-done
	xengrant_test reader "$p" >/tmp/rcg0.log 2>&1 &
	local reader=$!
	tail -n +1 -F /tmp/rcg0.log 2>/dev/null | prefix "[0.g] " &
	log=/var/log/xen/console/guest-rcx-P.log
	if wait_line $log "RCG .*rmmod-after-release\|RCG FAIL rmmod" 300 "RCX-DOMU-END"; then
		touch /tmp/rcg-rmmod-done
	else
		fail "xengrant-domP-rmmod-after-release-while-receivers-still-map" "no rmmod line from P"
		touch /tmp/rcg-rmmod-done
	fi
	wait $reader
	# Write once: dom0's subscribers of both buses (the look-up waits for
	# the publisher's nodes; it gets there after its other tests).
	ringcast-xen sub --bus rcw1 --publisher "$p" --slot 0 --messages "$wo" >/tmp/wo1.log 2>&1 &
	local wo1=$!
	ringcast-xen sub --bus rcw3 --publisher "$p" --slot 0 --messages "$wo" >/tmp/wo3a.log 2>&1 &
	local wo3a=$!
	ringcast-xen sub --bus rcw3 --publisher "$p" --slot 1 --messages "$wo" >/tmp/wo3b.log 2>&1 &
	local wo3b=$!
	wait $wo1 $wo3a $wo3b
	for d in R Q P; do
		wait_line /var/log/xen/console/guest-rcx-$d.log "RCX-DOMU-END" 120 ||
			fail "xengrant-dom$d-ends" "no end marker from $d"
	done
	for f in /tmp/rcg0.log /var/log/xen/console/guest-rcx-R.log $log; do
		case $f in /tmp/*) who=dom0 ;; *R.log) who=domR ;; *) who=domP ;; esac
		tr -d '\r' <$f | grep -a "RCG ok \|RCG FAIL " | while IFS= read -r line; do
			case "$line" in
			*"RCG ok "*) echo "RCX ok xengrant-$who-${line#*RCG ok }" ;;
			*) echo "RCX FAIL xengrant-$who-${line#*RCG FAIL }" ;;
			esac
		done
	done
	# Every check the three programs must have passed, so that one that
	# never ran (a program that died early) fails the run.
	for f in /tmp/wo1.log /tmp/wo3a.log /tmp/wo3b.log; do prefix "[0.w] " <$f; done
	for who in dom0-one-domain-bus dom0-slot0 dom0-slot1 domR domQ; do
		case $who in
		dom0-one-domain-bus) f=/tmp/wo1.log ;; dom0-slot0) f=/tmp/wo3a.log ;; dom0-slot1) f=/tmp/wo3b.log ;;
		*) f=/var/log/xen/console/guest-rcx-${who#dom}.log ;;
		esac
		if tr -d '\r' <$f | grep -q "RCX-SUB done received $wo of $wo in order"; then
			ok "write-once-$who-receives-all ($wo messages in order, checksums good)"
		else
			fail "write-once-$who-receives-all" "$(tr -d '\r' <$f | grep 'RCX-SUB' | tail -n 1)"
		fi
	done
	# "RCX-PUB sent N messages in T ms, ring bytes written B to D receiver domains"
	local one three
	one=$(tr -d '\r' <$log | sed -n 's/.*RCX-PUB sent [0-9]* messages in [0-9]* ms, ring bytes written \([0-9]*\) to 1 receiver domains.*/\1/p' | head -n 1)
	three=$(tr -d '\r' <$log | sed -n 's/.*RCX-PUB sent [0-9]* messages in [0-9]* ms, ring bytes written \([0-9]*\) to 3 receiver domains.*/\1/p' | head -n 1)
	if [ -n "$one" ] && [ "$one" = "$three" ] && [ "$one" -gt 0 ]; then
		ok "write-once-same-ring-bytes-with-1-and-3-receiver-domains ($wo messages: $one bytes with 1, $three with 3)"
	else
		fail "write-once-same-ring-bytes-with-1-and-3-receiver-domains" "1: '${one}', 3: '${three}'"
	fi
	if tr -d '\r' <$log | grep -q "RCX-DOMU grant device unloaded"; then
		ok "write-once-publisher-domain-unloads-the-grant-device-after-its-buses-closed"
	else
		fail "write-once-publisher-domain-unloads-the-grant-device-after-its-buses-closed" \
			"$(tr -d '\r' <$log | grep 'RCX-DOMU grant')"
	fi
	for c in "domP device-validates-every-ioctl-argument" "domP ring-allocated-once-and-mapped-writable" \
		"domP granted-the-same-pages-read-only-to-2-domains" "domP every-receiver-domain-read-the-same-pages" \
		"domP no-receiver-changed-a-byte" "domP revoke-while-mapped-is-deferred" "domP rmmod-refused-while-open" \
		"domP rmmod-after-release-while-receivers-still-map" \
		"domR another-domains-refs-unreadable" "domR writable-map-refused" "domR a-receivers-write-fails" \
		"domR sees-the-owners-writes-live" "domR revoked-pages-stay-the-owners-while-mapped" \
		"domR revoked-refs-refused-after-unmap" \
		"dom0 writable-map-refused" "dom0 a-receivers-write-fails" "dom0 sees-the-owners-writes-live" \
		"dom0 release-marks-the-bus-gone-and-notifies" "dom0 pages-intact-after-rmmod-while-still-mapped"; do
		who=${c%% *}
		case $who in dom0) f=/tmp/rcg0.log ;; domR) f=/var/log/xen/console/guest-rcx-R.log ;; *) f=$log ;; esac
		grep -aq "RCG ok ${c#* }" $f || echo "RCX FAIL xengrant-$who-${c#* }: never reported"
	done
}
