# Sourced by test/xen/domu-init for rcx.role=bridge-pub and rcx.role=bridge
# (the bridge domain, test/xen/bridge-dom0.sh). Uses domu-init's arg.
#
# bridge-pub: the publisher of bus rcb in this domain (rcx.self), one slot
#   for rcx.receiver (node bridge-peer.mjs pub).
# bridge: the bridge domain, everything on its own loopback (no network
#   leaves the emulated machine): `ringcast bridge --republish xen:SELF/rcm
#   --receivers 0,0` into a Xen bus of this domain with two subscribers in
#   dom0 (test/xen/bridge-dom0.sh), and `ringcast bridge --forward
#   xen:P/rcb/0` over TCP to it. Once dom0's subscribers joined (the
#   republishing bridge's stats say so), the forwarding bridge starts; once
#   MESSAGES/4 were republished it is killed (SIGKILL) and, after a pause in
#   which the publisher sees it dead and publishes on with no subscriber,
#   started again; it takes its slot again and the stream goes on. Once
#   dom0's subscribers left, the republishing bridge closes; its --json log
#   (its `gap` events) goes to the console for dom0's check.
# Lines "RCB ok/FAIL/note" reach dom0 through the console.

# Seconds since this domain booted, for the record.
bridge_uptime() { cut -d' ' -f1 /proc/uptime; }

# Polls file $1 for a line matching $2 for at most $3 seconds (giving up
# at once when process $4, if given, is gone).
bridge_wait() {
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		[ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# The republishing bridge's figure "republish.NAME" (its /stats.json).
bridge_figure() {
	wget -q -O - http://127.0.0.1:7401/stats.json 2>/dev/null | sed 's/.*"republish":{//' |
		sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

# Polls the figure $1 until it is at least $2 (or, with $4 = below, less than
# $2) for at most $3 seconds.
bridge_figure_wait() {
	i=0
	while [ $i -lt $3 ]; do
		v=$(bridge_figure "$1")
		if [ "${4:-}" = below ]; then [ -n "$v" ] && [ "$v" -lt "$2" ] && return 0
		else [ -n "$v" ] && [ "$v" -ge "$2" ] && return 0; fi
		sleep 1
		i=$((i + 1))
	done
	return 1
}

bridge_domain() {
	p=$(arg publisher)
	m=$(arg messages)
	cli=/pkg/dist/cli.js
	ifconfig lo 127.0.0.1 up || echo "RCB FAIL loopback-up: ifconfig failed"
	# A small ring: dom0 maps it page by page.
	node $cli bridge --json --republish "xen:$(arg self)/rcm" --receivers 0,0 --capacity 262144 \
		--tcp-listen 127.0.0.1:7400 --metrics-port 7401 --metrics-host 127.0.0.1 >/tmp/far.log 2>&1 &
	far=$!
	if bridge_wait /tmp/far.log '"event":"ready"' 300 $far; then echo "RCB ok republishing-bridge-ready (at $(bridge_uptime) s)"; else
		echo "RCB FAIL republishing-bridge-ready: $(head -n 2 /tmp/far.log)"; return; fi
	# Nothing flows before both of dom0's subscribers read the Xen bus.
	if bridge_figure_wait subscribers 2 300; then echo "RCB ok republished-xen-bus-subscribers-joined (2 in dom0, at $(bridge_uptime) s)"; else
		echo "RCB FAIL republished-xen-bus-subscribers-joined: $(bridge_figure subscribers) joined"; fi
	node $cli bridge --json --forward "xen:$p/rcb/0" --handshake-timeout-ms 120000 --tcp-connect 127.0.0.1:7400 >/tmp/near1.log 2>&1 &
	near=$!
	if bridge_figure_wait messages $((m / 4)) 300; then
		kill -9 $near
		echo "RCB ok forwarding-bridge-killed-mid-stream (SIGKILL after $(bridge_figure messages) messages republished, at $(bridge_uptime) s)"
	else
		echo "RCB FAIL forwarding-bridge-killed-mid-stream: $(tail -n 3 /tmp/near1.log)"
		return
	fi
	# The outage: long enough for the publisher to see the death (its unmap
	# notification comes within milliseconds) and publish with no subscriber.
	sleep 3
	node $cli bridge --json --forward "xen:$p/rcb/0" --handshake-timeout-ms 120000 --tcp-connect 127.0.0.1:7400 >/tmp/near2.log 2>&1 &
	near=$!
	# dom0's subscribers leave once they have the last message.
	bridge_figure_wait subscribers 1 600 below || echo "RCB FAIL subscribers-leave: $(bridge_figure subscribers) still joined"
	echo "RCB note subscribers done at $(bridge_uptime) s"
	kill $far
	bridge_wait /tmp/far.log '"event":"closed"' 60 || echo "RCB FAIL republishing-bridge-closes: $(tail -n 3 /tmp/far.log)"
	# dom0's check reads these lines (the `gap` events) back from this console.
	grep -v '^{"event":"closed"' /tmp/far.log | sed 's/^/[far] /'
	grep '^{"event":"closed"' /tmp/far.log | sed 's/^/[far] /'
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
