#!/bin/sh
# /phase2 in the VM test's guests: finds the three ringcast-ivshmem devices by
# what the driver says of them (sysfs), then runs this guest's subscriber.
GUEST=$1
arg() { sed -n "s/.*rcvm\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
COUNT_A=$(arg a)
COUNT_B=$(arg b)
ring="" ack="" doorbell=""
for d in /sys/class/misc/ringcast-ivshmem*; do
	node=/dev/${d##*/}
	if [ "$(cat "$d/device/vectors")" != 0 ]; then doorbell=$node
	elif [ "$(cat "$d/device/shm_size")" = 4096 ]; then ack=$node
	else ring=$node
	fi
done
if [ -z "$ring" ] || [ -z "$ack" ] || [ -z "$doorbell" ]; then
	echo "RCVM FAIL phase2-devices: ring '$ring' ack '$ack' doorbell '$doorbell'"
	exit 1
fi
if [ "$GUEST" = 1 ]; then
	# Guest 1 is killed after stream A and never reaches init's kernel-log
	# dump: it dumps its log here, once stream A is in, and the host kills
	# it only after that.
	/bin/rcvm-csub "$ring" "$ack" "$doorbell" "$COUNT_A" | while IFS= read -r line; do
		echo "$line"
		case "$line" in
		"RCVM ok c-subscriber-stream-a"*)
			echo RCVM-DMESG-BEGIN
			dmesg
			echo RCVM-DMESG-END
			;;
		esac
	done
else
	/usr/bin/node /pkg/phase2-guest.mjs /pkg "$ring" "$ack" "$doorbell" "$COUNT_A" "$COUNT_B"
fi
