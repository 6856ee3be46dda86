# Sourced by test/xen/dom0-init: a Xen bus is a Publisher (issue 14 item 4).
# dom0 creates domUs X and Y (Node subscribers) and then W, whose Node
# Publisher (address xen:W/BUS, ring from the grant device) publishes the
# same sequence twice, on rings of 2 MiB (above the 1 MiB that one XenStore
# value of refs allowed: the refs travel in index pages): bus rcw1 to one
# receiver domain (dom0), bus rcw3 to three (dom0, X, Y). The sequence: 300
# small messages (publishBatch), one of 16 MiB (fragmented: larger than the
# ring), one zero-copy claim, three chunks through createWriteStream().
# Every subscriber hashes what it receives (sha256 over each message's
# length and bytes, in order) and must end with the publisher's digest and
# the 16 MiB message whole; the publisher's bytes written into shared
# memory (stats().head) must be the same with 1 and with 3 receiver domains.
# `ringcast stat xen:W/rcw3` is refused in W and, run in X while X holds
# the stream mid-way, lists all three subscribers and takes no slot.
# Uses dom0-init's ok, fail, wait_line and prefix, and xengrant-dom0.sh's
# node_domu_cfg.

# The value of NAME=VALUE in the line matching $2 of file $1.
field() { tr -d '\r' <"$1" | grep -- "$2" | tail -n 1 | sed -n "s/.* $3=\([^ ]*\).*/\1/p"; }

# $1: the id of the last domain created so far (0 if none).
xenpub_scenario() {
	local x=$(($1 + 1)) y=$(($1 + 2)) w=$(($1 + 3)) lw d bus digest head1 head3 got
	# X and Y exist before W grants anything to them; they are told W's id.
	node_domu_cfg rcx-X "rcx.role=node-wosub rcx.publisher=$w rcx.self=$x" >/etc/xen/domX.cfg
	node_domu_cfg rcx-Y "rcx.role=node-wosub rcx.publisher=$w" >/etc/xen/domY.cfg
	node_domu_cfg rcx-W "rcx.role=node-wopub rcx.domid=$w rcx.receivers=$x,$y" >/etc/xen/domW.cfg
	for d in X Y W; do
		if xl create /etc/xen/dom$d.cfg >/tmp/create-$d.log 2>&1; then ok "xenpub-create-dom$d"; else
			fail "xenpub-create-dom$d" "$(tail -n 5 /tmp/create-$d.log)"; return; fi
	done
	if [ "$(xl domid rcx-X)" = "$x" ] && [ "$(xl domid rcx-Y)" = "$y" ] && [ "$(xl domid rcx-W)" = "$w" ]; then
		ok "xenpub-domain-ids (X=$x Y=$y W=$w)"
	else
		fail "xenpub-domain-ids" "X=$(xl domid rcx-X) Y=$(xl domid rcx-Y) W=$(xl domid rcx-W), expected $x $y $w"
	fi
	lw=/var/log/xen/console/guest-rcx-W.log
	# The domains' consoles, copied live (as follow_consoles does), but
	# stopped once they ended: finish() dumps every console whole, and a
	# live copy still catching up with a chatty (loglevel=5) domain's last
	# kernel-log dump would interleave with that dump, cutting a guest's
	# canary trace in two for the warning scan.
	local copies="" f i
	for d in X Y W; do
		f=/var/log/xen/console/guest-rcx-$d.log
		i=0
		while [ ! -e $f ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		tail -n +1 -F $f 2>/dev/null | prefix "[$d] " &
		copies="$copies $!"
	done
	for bus in rcw1 rcw3; do
		/usr/bin/node /pkg/node-peer.mjs /pkg wosub "$bus" "$w" 0 >/tmp/$bus.log 2>&1 &
		local sub=$!
		tail -n +1 -F /tmp/$bus.log 2>/dev/null | prefix "[0.$bus] " &
		if wait_line $lw "RCN ok wo-pub $bus " 600 "RCN FAIL\|RCX-DOMU-END"; then
			ok "xenpub-publisher-sends-$bus ($(tr -d '\r' <$lw | grep "RCN ok wo-pub $bus " | tail -n 1 | cut -d' ' -f5-))"
		else
			fail "xenpub-publisher-sends-$bus" "$(tr -d '\r' <$lw | grep 'RCN' | tail -n 2 | tr '\n' ' ')"
		fi
		wait $sub
		digest=$(field $lw "RCN ok wo-pub $bus " digest)
		got=$(field /tmp/$bus.log "RCN ok wo-sub $bus " digest)
		if [ -n "$digest" ] && [ "$got" = "$digest" ] && [ "$(field /tmp/$bus.log "RCN ok wo-sub $bus " largest)" = 16777216 ]; then
			ok "xenpub-dom0-receives-$bus-intact (16 MiB message and claim included, sha256 $digest)"
		else
			fail "xenpub-dom0-receives-$bus-intact" "publisher $digest, dom0 '$got': $(tail -n 2 /tmp/$bus.log | tr '\n' ' ')"
		fi
	done
	for d in X Y; do
		f=/var/log/xen/console/guest-rcx-$d.log
		wait_line $f "RCN ok wo-sub rcw3 \|RCN FAIL" 600 || true
		got=$(field $f "RCN ok wo-sub rcw3 " digest)
		if [ -n "$digest" ] && [ "$got" = "$digest" ] && [ "$(field $f "RCN ok wo-sub rcw3 " largest)" = 16777216 ]; then
			ok "xenpub-dom$d-receives-rcw3-intact (sha256 $digest)"
		else
			fail "xenpub-dom$d-receives-rcw3-intact" "publisher $digest, $d '$got': $(tr -d '\r' <$f | grep RCN | tail -n 2 | tr '\n' ' ')"
		fi
	done
	# ringcast stat: refused in W (no process there but the publisher maps
	# the ring), read in X mid-stream (node-peer.mjs statFromReceiverDomain).
	local c name line
	for c in "W stat-refused-in-publisher-domain" "X stat-from-receiver-domain-lists-every-subscriber" \
		"X stat-names-this-domains-slot" "X stat-head-ahead-of-every-ack" "X stat-takes-no-slot"; do
		name=${c#* }
		line=$(tr -d '\r' </var/log/xen/console/guest-rcx-${c%% *}.log | grep -a "RCN ok $name \|RCN fail $name:" | tail -n 1)
		case "$line" in
		*"RCN ok "*) ok "xenpub-$name ${line#*"RCN ok $name "}" ;;
		*) fail "xenpub-$name" "${line:-never reported}" ;;
		esac
	done
	# The claim and the 16 MiB message went through the one ring to every domain.
	if [ "$(field $lw "RCN ok wo-pub rcw3 " domains)" = 3 ] && [ "$(field $lw "RCN ok wo-pub rcw3 " claimed)" -gt 0 ] 2>/dev/null; then
		ok "xenpub-one-ring-three-domains-claim-and-16MiB-message"
	else
		fail "xenpub-one-ring-three-domains-claim-and-16MiB-message" "$(tr -d '\r' <$lw | grep 'RCN ok wo-pub rcw3')"
	fi
	got=$(field $lw "RCN ok wo-pub rcw3 " ringPages)
	if [ "${got:-0}" -gt 258 ] 2>/dev/null; then ok "xenpub-ring-above-1MiB ($got pages granted to each domain)"; else
		fail "xenpub-ring-above-1MiB" "ring pages '$got'"; fi
	head1=$(field $lw "RCN ok wo-pub rcw1 " head)
	head3=$(field $lw "RCN ok wo-pub rcw3 " head)
	if [ -n "$head1" ] && [ "$head1" = "$head3" ]; then
		ok "xenpub-write-once-bytes-written-equal-1-vs-3-domains ($head1 and $head3 bytes)"
	else
		fail "xenpub-write-once-bytes-written-equal-1-vs-3-domains" "1 domain: '$head1', 3 domains: '$head3'"
	fi
	for d in X Y W; do
		wait_line /var/log/xen/console/guest-rcx-$d.log "RCX-DOMU-END" 120 ||
			fail "xenpub-dom$d-ends" "no end marker from $d"
	done
	sleep 3
	kill $copies 2>/dev/null
	if grep -q "RCX-DOMU grant device unloaded" $lw; then ok xenpub-publisher-domain-unloads-the-grant-device
	else fail xenpub-publisher-domain-unloads-the-grant-device "$(grep 'RCX-DOMU grant' $lw)"; fi
}
