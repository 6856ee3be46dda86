# Sourced by test/xen/dom0-init: the point-to-point channel between two
# domUs (issue 15, item 4). dom0 creates domU N (the connector) paused, then
# domU M (the listener), then lets N run: M's ChannelServer publishes a ring
# for N and N's Channel.connect publishes one for M, and each grant names a
# domain that must exist by then. Both run test/xen/channel-peer.mjs with the
# package: send/recv both ways, 64 MiB streamed from N to M through the
# Duplex with the same sha256 on both sides, shutdown from N's end and then
# from M's (the digest goes back on M's direction, still open after N's
# shutdown), and the orderly teardown (each close waits for the peer to
# read everything and leave before its grants end).
# Uses dom0-init's ok, fail and wait_line, and xengrant-dom0.sh's node_domu_cfg.

# $1: the id of the last domain created so far (0 if none).
channel_scenario() {
	local y=$(($1 + 1)) x=$(($1 + 2)) bytes=${CHANNEL_BYTES:-67108864} lx ly d sx sy
	node_domu_cfg rcx-N "rcx.role=node-chan-connect rcx.address=xen:$x/pipe rcx.bytes=$bytes" >/etc/xen/domN.cfg
	node_domu_cfg rcx-M "rcx.role=node-chan-listen rcx.address=xen:$x/pipe rcx.peer=$y rcx.bytes=$bytes" >/etc/xen/domM.cfg
	if xl create -p /etc/xen/domN.cfg >/tmp/create-N.log 2>&1; then ok channel-create-domN-paused; else
		fail channel-create-domN-paused "$(tail -n 5 /tmp/create-N.log)"; return; fi
	if xl create /etc/xen/domM.cfg >/tmp/create-M.log 2>&1; then ok channel-create-domM; else
		fail channel-create-domM "$(tail -n 5 /tmp/create-M.log)"; return; fi
	if [ "$(xl domid rcx-N)" = "$y" ] && [ "$(xl domid rcx-M)" = "$x" ]; then
		ok "channel-domain-ids (N=$y M=$x)"
	else
		fail channel-domain-ids "N=$(xl domid rcx-N) M=$(xl domid rcx-M), expected $y, $x"
	fi
	xl unpause rcx-N || fail channel-create-domN-paused "xl unpause failed"
	lx=/var/log/xen/console/guest-rcx-M.log
	ly=/var/log/xen/console/guest-rcx-N.log
	# M and N boot at once: copied live, their kernels' canary warnings
	# reached dom0's console interleaved, once mangled into a line the
	# kernel-log scan took for another warning. The checks read the console
	# files; finish() copies both whole, one after the other.
	# Node under emulation in a domain: start-up alone takes a while.
	if wait_line $lx "RCN ok chan-accepted" 300 "RCN FAIL\|RCX-DOMU-END"; then ok channel-listener-accepts-the-connector; else
		fail channel-listener-accepts-the-connector "$(grep 'RCN' $lx | tail -n 2)"; fi
	if wait_line $ly "RCN ok chan-connector-send-then-recv" 120 "RCN FAIL\|RCX-DOMU-END" &&
		grep -q "RCN ok chan-listener-recv-then-send" $lx; then
		ok channel-send-recv-both-ways
	else
		fail channel-send-recv-both-ways "$(grep 'RCN' $ly | tail -n 2)"
	fi
	if wait_line $lx "RCN ok chan-listener-received-all" 600 "RCN FAIL\|RCX-DOMU-END"; then
		ok "channel-listener-receives-every-byte ($(grep -o 'received-all [0-9]* bytes.*' $lx | tr -d '\r' | sed 's/sha256 [0-9a-f]* //'))"
	else
		fail channel-listener-receives-every-byte "$(grep 'RCN' $lx | tail -n 2)"
	fi
	if wait_line $ly "RCN ok chan-sha256-same-on-both-sides" 120 "RCN FAIL\|RCX-DOMU-END"; then
		sx=$(tr -d '\r' <$lx | sed -n 's/.*chan-listener-received-all [0-9]* bytes sha256 \([0-9a-f]*\).*/\1/p')
		sy=$(tr -d '\r' <$ly | sed -n 's/.*chan-connector-sent-and-shut-down [0-9]* bytes sha256 \([0-9a-f]*\).*/\1/p')
		if [ -n "$sx" ] && [ "$sx" = "$sy" ]; then ok "channel-64MiB-same-sha256-in-both-domains ($sx)"; else
			fail channel-64MiB-same-sha256-in-both-domains "X read ${sx:-?}, Y sent ${sy:-?}"; fi
	else
		fail channel-64MiB-same-sha256-in-both-domains "$(grep 'RCN' $ly | tail -n 2)"
	fi
	if wait_line $ly "RCN ok chan-connector-sees-the-end-after-the-listener-shutdown" 120 "RCN FAIL\|RCX-DOMU-END"; then
		ok channel-shutdown-from-either-end-is-seen-after-the-data
	else
		fail channel-shutdown-from-either-end-is-seen-after-the-data "$(grep 'RCN' $ly | tail -n 2)"
	fi
	if wait_line $lx "RCN ok chan-listener-closed" 120 "RCN FAIL\|RCX-DOMU-END" &&
		wait_line $ly "RCN ok chan-connector-closed" 120 "RCN FAIL\|RCX-DOMU-END"; then
		ok channel-both-ends-close-in-order
	else
		fail channel-both-ends-close-in-order "$(grep 'RCN' $lx $ly | tail -n 2)"
	fi
	for d in M N; do
		if wait_line /var/log/xen/console/guest-rcx-$d.log "RCX-DOMU-END" 120; then ok "channel-dom$d-ends"; else
			fail "channel-dom$d-ends" "no end marker from $d"; fi
		if grep -q "RCX-DOMU grant device unloaded" /var/log/xen/console/guest-rcx-$d.log; then
			ok "channel-dom$d-unloads-the-grant-device"
		else
			fail "channel-dom$d-unloads-the-grant-device" "$(grep 'RCX-DOMU grant' /var/log/xen/console/guest-rcx-$d.log)"
		fi
	done
}
