# Sourced by test/xen/dom0-init: the bridge domain (issue 15). dom0 creates
# domU G, a receiver domain that re-broadcasts a Xen bus, and then domU S,
# which publishes bus rcb with one slot for G. In G
# (test/xen/bridge-domu.sh), `ringcast bridge --forward xen:S/rcb/0`
# carries the bus over TCP on G's loopback to `ringcast bridge --republish
# xen:G/rcm`, which republishes it into a Xen bus of G whose two slots are
# read here, in dom0: slot 0 as any subscriber (the envelopes hidden), slot 1
# keeping the envelopes as a bridge would. The forwarding bridge is killed
# mid-stream and started again. Every message must reach both subscribers
# in order and intact, or lie in a gap the republishing bridge reported
# (its log comes back on G's console); S must see the killed bridge dead
# and the new one join. Every "RCB ok/FAIL NAME" line of G, S and dom0's
# check becomes an "RCX ok/FAIL bridge-NAME" check here
# (test/xen/expected-checks-bridge).
# Uses dom0-init's ok, fail, wait_line and prefix, and xengrant-dom0.sh's
# create_domains, follow_consoles and node_domu_cfg.

# $1: the id of the last domain created so far (0 if none).
bridge_scenario() {
	local g=$(($1 + 1)) s=$(($1 + 2)) m=${BRIDGE_MESSAGES:-6000} d f lg ls
	# G exists before S grants anything to it (XenStore refuses permissions
	# naming a domain that does not exist yet); G is told S's id.
	node_domu_cfg rcx-G "rcx.role=bridge rcx.publisher=$s rcx.messages=$m rcx.self=$g" >/etc/xen/domG.cfg
	node_domu_cfg rcx-S "rcx.role=bridge-pub rcx.receiver=$g rcx.self=$s rcx.messages=$m" >/etc/xen/domS.cfg
	create_domains bridge G=$g S=$s || return
	follow_consoles G S
	lg=/var/log/xen/console/guest-rcx-G.log
	ls=/var/log/xen/console/guest-rcx-S.log
	# The republished Xen bus's subscribers: they look it up until G's
	# bridge publishes it; G starts the stream once both joined.
	local subs="" i
	for i in 0 1; do
		/usr/bin/node /pkg/bridge-peer.mjs /pkg sub "xen:$g/rcm/$i" "$m" $((m / 4)) $([ $i = 1 ] && echo keep) \
			>/tmp/bsub$i.log 2>&1 &
		subs="$subs $!"
	done
	# Node under emulation, four processes in G: give it time.
	for d in G S; do
		wait_line /var/log/xen/console/guest-rcx-$d.log "RCX-DOMU-END" 400 ||
			fail "bridge-dom$d-ends" "no end marker from $d"
	done
	for i in $subs; do wait $i; done
	for i in 0 1; do prefix "[0.sub$i] " </tmp/bsub$i.log; done
	# The republishing bridge's log, from G's console, against what dom0 got.
	tr -d '\r' <$lg | grep -a '^\[far\] {' | sed 's/^\[far\] //' >/tmp/far.log
	/usr/bin/node /pkg/bridge-peer.mjs /pkg check /tmp/far.log "$m" /tmp/bsub0.log /tmp/bsub1.log >/tmp/bcheck.log 2>&1
	prefix "[0.check] " </tmp/bcheck.log
	for f in $lg $ls /tmp/bcheck.log; do
		tr -d '\r' <$f | grep -a "RCB ok \|RCB FAIL " | grep -v '^\[' | while IFS= read -r line; do
			case "$line" in
			*"RCB ok "*) echo "RCX ok bridge-${line#*RCB ok }" ;;
			*) echo "RCX FAIL bridge-${line#*RCB FAIL }" ;;
			esac
		done
	done
	# What S saw: the killed bridge dead (its unmap notification), then a
	# bridge in the slot again.
	if tr -d '\r' <$ls | grep -q "RCB evicted domain $g slot 0 reason dead"; then
		ok "bridge-publisher-sees-the-killed-bridge-dead"
	else
		fail "bridge-publisher-sees-the-killed-bridge-dead" "$(tr -d '\r' <$ls | grep 'RCB' | tail -n 3 | tr '\n' ' ')"
	fi
	if [ "$(tr -d '\r' <$ls | grep -c "RCB note joined domain $g slot 0")" -ge 2 ]; then
		ok "bridge-new-forwarding-bridge-takes-the-slot-again"
	else
		fail "bridge-new-forwarding-bridge-takes-the-slot-again" "$(tr -d '\r' <$ls | grep 'RCB note joined' | tr '\n' ' ')"
	fi
	# Every check the programs must have passed, so that one that never ran
	# (a program that died early) fails the run.
	for c in "$lg republishing-bridge-ready" "$lg republished-xen-bus-subscribers-joined" \
		"$lg forwarding-bridge-killed-mid-stream" "/tmp/bcheck.log gap-reported-upstream" \
		"/tmp/bcheck.log subscriber-0-every-message-in-order-intact-or-in-a-reported-gap" \
		"/tmp/bcheck.log subscriber-1-every-message-in-order-intact-or-in-a-reported-gap" \
		"$ls publisher-streaming" "$ls publisher-sent-all" "$ls publisher-closed"; do
		f=${c%% *}
		tr -d '\r' <$f | grep -aq "RCB ok ${c#* }" || echo "RCX FAIL bridge-${c#* }: never reported"
	done
}
