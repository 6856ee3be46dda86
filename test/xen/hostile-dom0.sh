# Sourced by test/xen/dom0-init: a hostile receiver domain (issue 16). dom0
# creates domU H (the hostile receiver) and then domU U, which loads the
# grant device and publishes bus rch to six slots: two in dom0 (healthy
# subscribers that check every message: order, length, checksum) and four
# in H, where `ringcast-xen hostile` attacks through the one page it may
# write, its ack page (native/tools/xen_peer.c): slot 0 forges an ack beyond
# head, slot 1 one below what the publisher validated, slot 2 forges and
# rejoins 5 times (flapping), slot 3 writes 5000 join requests, every other
# one naming a domain it is not, then leaves. The publisher must evict every
# forged ack with reason protocol, every time, and dom0's subscribers must
# receive everything intact. (A receiver writing the ring itself fails: the
# grant is read-only, xengrant-*-a-receivers-write-fails.)
# Uses dom0-init's ok, fail, wait_line and prefix, and xengrant-dom0.sh's
# xengrant_cfg, create_domains and follow_consoles.

# $1: the id of the last domain created so far (0 if none).
hostile_scenario() {
	local h=$(($1 + 1)) u=$(($1 + 2)) m=${HOSTILE_MESSAGES:-10000} lh lu s got
	# H exists before U grants anything to it (XenStore refuses permissions
	# naming a domain that does not exist yet); H is told U's id.
	xengrant_cfg rcx-H "rcx.role=hostile rcx.publisher=$u" >/etc/xen/domH.cfg
	xengrant_cfg rcx-U "rcx.role=hostile-pub rcx.messages=$m rcx.receivers=0:sub,0:pub,$h:sub,$h:sub,$h:sub,$h:sub" \
		>/etc/xen/domU.cfg
	create_domains hostile H=$h U=$u || return
	lh=/var/log/xen/console/guest-rcx-H.log
	lu=/var/log/xen/console/guest-rcx-U.log
	follow_consoles H U
	ringcast-xen sub --bus rch --publisher "$u" --slot 0 --messages "$m" >/tmp/rch0.log 2>&1 &
	local s0=$!
	ringcast-xen sub --bus rch --publisher "$u" --slot 1 --messages "$m" >/tmp/rch1.log 2>&1 &
	local s1=$!
	wait $s0 $s1
	for s in 0 1; do
		prefix "[0.h$s] " </tmp/rch$s.log
		if grep -q "RCX-SUB done received $m of $m in order" /tmp/rch$s.log; then
			ok "hostile-bus-dom0-slot$s-receives-everything-intact ($m messages in order, checksums good)"
		else
			fail "hostile-bus-dom0-slot$s-receives-everything-intact" "$(grep 'RCX-SUB' /tmp/rch$s.log | tail -n 1)"
		fi
	done
	for d in H U; do
		wait_line /var/log/xen/console/guest-rcx-$d.log "RCX-DOMU-END" 120 ||
			fail "hostile-dom$d-ends" "no end marker from $d"
	done
	# What the hostile receiver saw the publisher do.
	logged() { # check file pattern
		if tr -d '\r' <"$2" | grep -q -- "$3"; then ok "$1"; else
			fail "$1" "$(tr -d '\r' <"$2" | grep 'RCX-HOSTILE\|RCX-PUB' | tail -n 3 | tr '\n' ' ')"; fi
	}
	logged hostile-receiver-ack-beyond-head-evicted-protocol $lh "RCX-HOSTILE ack-beyond forged ack [0-9]*: evicted reason protocol"
	logged hostile-receiver-ack-backwards-evicted-protocol $lh "RCX-HOSTILE ack-backwards forged ack [0-9]*: evicted reason protocol"
	logged hostile-receiver-flapping-ack-evicted-protocol-every-time $lh "RCX-HOSTILE flap evicted protocol 5 of 5 cycles"
	logged hostile-receiver-join-flood-served-and-left $lh "RCX-HOSTILE join-flood leave: left"
	# What the publisher counted, per slot (the mirror's eviction count).
	got=$(tr -d '\r' <$lu | sed -n 's/.*RCX-PUB slot domain \([0-9]*\) slot \([0-9]*\) evictions \([0-9]*\).*/\1:\2=\3/p' | tr '\n' ' ')
	if [ "$got" = "0:0=0 0:1=0 $h:0=1 $h:1=1 $h:2=5 $h:3=0 " ]; then
		ok "hostile-publisher-evicts-each-forged-ack-and-no-one-else ($got)"
	else
		fail "hostile-publisher-evicts-each-forged-ack-and-no-one-else" "got '$got'"
	fi
	logged hostile-publisher-refuses-join-requests-naming-another-domain $lu "RCX-PUB refused domain $h slot 3"
	logged hostile-publisher-sends-all $lu "RCX-PUB sent $m messages"
}
