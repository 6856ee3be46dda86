# Sourced by test/xen/dom0-init: the focused test of the grant device
# (kmod/ringcast_xengrant.c). dom0 creates domU R (a receiver) and then
# domU P, which loads the module and runs `xengrant_test owner` with R and
# dom0 as receiver domains; R and dom0 run `xengrant_test reader`
# (test/xen/xengrant_test.c says what each checks). When P's owner has
# killed itself, P unloads the module while dom0 still maps the pages, and
# dom0's reader checks them once more. Every "RCG ok/FAIL NAME" line of the
# three programs becomes an "RCX ok/FAIL xengrant-WHO-NAME" check here (WHO:
# dom0, domR or domP; all listed in test/xen/expected-checks).
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

# $1: the id of the last domain created so far (0 if none).
xengrant_scenario() {
	local next=$(($1 + 1)) p r log
	# Domain ids grow by one per xl create: R gets the next, P the one
	# after; R is told P's id before P exists (checked below).
	xengrant_cfg rcx-R "rcx.role=xengrant-reader rcx.publisher=$((next + 1))" >/etc/xen/domR.cfg
	xengrant_cfg rcx-P "rcx.role=xengrant-owner rcx.receivers=0,$next" >/etc/xen/domP.cfg
	for d in R P; do
		if xl create /etc/xen/dom$d.cfg >/tmp/create-$d.log 2>&1; then ok "xengrant-create-dom$d"; else
			fail "xengrant-create-dom$d" "$(tail -n 5 /tmp/create-$d.log)"; return; fi
	done
	r=$(xl domid rcx-R)
	p=$(xl domid rcx-P)
	if [ "$r" = "$next" ] && [ "$p" = $((next + 1)) ]; then ok "xengrant-domain-ids (R=$r P=$p)"; else
		fail "xengrant-domain-ids" "R=$r P=$p, expected $next and $((next + 1))"; fi
	for d in R P; do
		f=/var/log/xen/console/guest-rcx-$d.log
		i=0
		while [ ! -e $f ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		tail -n +1 -F $f 2>/dev/null | prefix "[$d] " &
	done
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
	for d in R P; do
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
