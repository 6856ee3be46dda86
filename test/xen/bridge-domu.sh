# Sourced by test/xen/domu-init for rcx.role=bridge-pub and rcx.role=bridge
# (the bridge domain, test/xen/bridge-dom0.sh). Uses domu-init's arg.
#
# bridge-pub: the publisher of bus rcb in this domain (rcx.self), one slot
#   for rcx.receiver (node bridge-peer.mjs pub).
# bridge: the bridge domain, everything on its own loopback (no network
#   leaves the emulated machine): `ringcast bridge --republish` into a socket
#   bus with two subscribers, and `ringcast bridge --forward xen:P/rcb/0`
#   over TCP to it. Once the first subscriber has MESSAGES/4, the forwarding
#   bridge is killed (SIGKILL) and, after a pause in which the publisher
#   sees it dead and publishes on with no subscriber, started again; it takes
#   its slot again and the stream goes on. Every message must arrive in
#   order and intact or lie in a gap the republishing bridge reported.
# Lines "RCB ok/FAIL/note" reach dom0 through the console.

# Seconds since this domain booted, for the record.
bridge_uptime() { cut -d' ' -f1 /proc/uptime; }

# Polls file $1 for a line matching $2 for at most $3 seconds.
bridge_wait() {
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

bridge_domain() {
	p=$(arg publisher)
	m=$(arg messages)
	cli=/pkg/dist/cli.js
	ifconfig lo 127.0.0.1 up || echo "RCB FAIL loopback-up: ifconfig failed"
	node $cli bridge --json --republish unix:/tmp/mirror.sock --tcp-listen 127.0.0.1:7400 >/tmp/far.log 2>&1 &
	far=$!
	if bridge_wait /tmp/far.log '"event":"ready"' 300; then echo "RCB ok republishing-bridge-ready (at $(bridge_uptime) s)"; else
		echo "RCB FAIL republishing-bridge-ready: $(tail -n 3 /tmp/far.log)"; return; fi
	node /pkg/bridge-peer.mjs /pkg sub unix:/tmp/mirror.sock "$m" $((m / 4)) >/tmp/sub0.log 2>&1 &
	node /pkg/bridge-peer.mjs /pkg sub unix:/tmp/mirror.sock "$m" $((m / 4)) >/tmp/sub1.log 2>&1 &
	for s in 0 1; do
		bridge_wait /tmp/sub$s.log "RCB note attached" 300 || echo "RCB FAIL subscribers-attached: $(tail -n 3 /tmp/sub$s.log)"
	done
	node $cli bridge --json --forward "xen:$p/rcb/0" --handshake-timeout-ms 120000 --tcp-connect 127.0.0.1:7400 >/tmp/near1.log 2>&1 &
	near=$!
	if bridge_wait /tmp/sub0.log "RCB note reached" 300; then
		kill -9 $near
		echo "RCB ok forwarding-bridge-killed-mid-stream (SIGKILL after $((m / 4)) messages arrived, at $(bridge_uptime) s)"
	else
		echo "RCB FAIL forwarding-bridge-killed-mid-stream: $(tail -n 3 /tmp/sub0.log) $(tail -n 3 /tmp/near1.log)"
		return
	fi
	# The outage: long enough for the publisher to see the death (its unmap
	# notification comes within milliseconds) and publish with no subscriber.
	sleep 3
	node $cli bridge --json --forward "xen:$p/rcb/0" --handshake-timeout-ms 120000 --tcp-connect 127.0.0.1:7400 >/tmp/near2.log 2>&1 &
	near=$!
	for s in 0 1; do
		bridge_wait /tmp/sub$s.log "RCB result" 300 || echo "RCB FAIL subscriber-$s-ends: $(tail -n 3 /tmp/sub$s.log)"
		sed "s/^/[sub$s] /" /tmp/sub$s.log
	done
	echo "RCB note subscribers done at $(bridge_uptime) s"
	kill $far
	bridge_wait /tmp/far.log '"event":"closed"' 60 || echo "RCB FAIL republishing-bridge-closes: $(tail -n 3 /tmp/far.log)"
	grep -v '^{"event":"closed"' /tmp/far.log | sed 's/^/[far] /'
	grep '^{"event":"closed"' /tmp/far.log | sed 's/^/[far] /'
	node /pkg/bridge-peer.mjs /pkg check /tmp/far.log "$m" /tmp/sub0.log /tmp/sub1.log
	kill $near
	sed 's/^/[near1] /' /tmp/near1.log
	sed 's/^/[near2] /' /tmp/near2.log
}

case "$(arg role)" in
bridge-pub)
	node /pkg/bridge-peer.mjs /pkg pub rcb "$(arg messages)" "$(arg receiver)" "$(arg self)"
	echo "RCX note bridge-bus publisher exit $?"
	;;
bridge) bridge_domain ;;
esac
