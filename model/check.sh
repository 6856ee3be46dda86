#!/usr/bin/env bash
# Model-checks model/ringcast.pml with spin (see model/README.md).
#
#   bash model/check.sh            every check, then every mutant (default)
#   bash model/check.sh --checks   the checks only
#   bash model/check.sh --mutants  the mutants only: spin MUST find an error
#   bash model/check.sh --findings reproduce the gaps the model found (now fixed)
#   bash model/check.sh --deep     bigger configurations (minutes; bitstate
#                                  search: not exhaustive), for humans
#
# Each run: spin -a in a private temp dir, gcc pan.c, ./pan, parse. One line
# per run, then "spin: N passed, M failed". Exit 0 only if M == 0.
# Runs go in parallel, one per CPU (at most 2). Needs spin and gcc.
# Everything is generated in a temp dir that is removed at the end
# (RINGCAST_SPIN_KEEP=1 keeps it, with pan.out and trails, for debugging).
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
model="$here/ringcast.pml"

mode=default
case "${1:-}" in
"") ;;
--checks) mode=checks ;;
--mutants) mode=mutants ;;
--findings) mode=findings ;;
--deep) mode=deep ;;
-h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "usage: $0 [--checks|--mutants|--findings|--deep]" >&2; exit 2 ;;
esac

for tool in spin gcc; do
	command -v "$tool" >/dev/null 2>&1 || { echo "check.sh: $tool not found (Debian: apt-get install spin build-essential)" >&2; exit 2; }
done
[ -f "$model" ] || { echo "check.sh: $model missing" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ringcast-spin.XXXXXX") || exit 2
cleanup() {
	if [ -n "${RINGCAST_SPIN_KEEP:-}" ]; then echo "spin: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'kill $(jobs -p) 2>/dev/null; exit 130' INT TERM

# pan build flags. Exhaustive search; COLLAPSE compresses stored states;
# MEMLIM (MB) makes pan stop instead of swallowing the machine.
SAFETY="-DSAFETY -DNOCLAIM -DCOLLAPSE -DMEMLIM=1900"
LIVE="-DCOLLAPSE -DMEMLIM=1900"
# --deep only: exhaustive liveness that needs about 2.5 GB (hash compaction
# is not an option for LTL: a signature collision fakes acceptance cycles).
LIVE_BIG="-DCOLLAPSE -DMEMLIM=3500"
DEEP="-DSAFETY -DNOCLAIM -DBITSTATE"
PAN="-m200000 -w24"

# name | kind | spin -D flags | pan build flags | pan run flags | what / expected error (regex for mutants)
checks=(
"evict-after|check|-DMSGS=3 -DEVICT_AFTER -DSTUCK|$SAFETY|$PAN|block + evictAfterMs timer, subscriber 1 may hang: (a) (a') (b) (c)"
"ltl-evict-seen|check|-DMSGS=3 -DPOLICY_DROP -DSTUCK|$LIVE|$PAN -a -N evict_seen|drop: LTL (c) [](evicted -> <>observed), no fairness needed"
"ltl-wake|check|-DMSGS=3|$LIVE|$PAN -a -f -N wake|block: LTL (b) asleep with data / for room -> <>awake, weak fairness"
"ltl-dos/drop|check|-DMSGS=3 -DPOLICY_DROP -DSTUCK|$LIVE|$PAN -a -N pub_finishes|drop, subscriber 1 may hang: LTL <>publisher done, no fairness needed"
"block|check|-DMSGS=3|$SAFETY|$PAN|block policy: (a) no overwrite, (a') no torn delivery, (b) no lost wake-up"
"drop|check|-DMSGS=3 -DPOLICY_DROP -DSTUCK|$SAFETY|$PAN|drop policy, subscriber 1 may hang: (a) (a') (b) (c)"
"heartbeat|check|-DMSGS=2 -DHEARTBEAT -DCLOSE_EARLY -DSTUCK|$SAFETY|$PAN|evictions at any moment, close() while waiting: (a) (a') (b) (c)"
"max-lag|check|-DMSGS=3 -DMAX_LAG=1 -DSTUCK|$SAFETY|$PAN|block + maxLagBytes, subscriber 1 may hang: (a) (a') (b) (c)"
"strict-c/heartbeat|check|-DMSGS=2 -DHEARTBEAT -DSTRICT_C|$SAFETY|$PAN|every eviction is reported, even one just before close() (strict (c))"
"strict-c/drop|check|-DMSGS=3 -DPOLICY_DROP -DSTUCK -DSTRICT_C|$SAFETY|$PAN|strict (c), drop policy"
"busy-poll/block|check|-DMSGS=3 -DBUSY_POLL|$SAFETY|$PAN|subscribers busy-poll head before sleeping: (a) (a') (b)"
"busy-poll/drop|check|-DMSGS=3 -DPOLICY_DROP -DSTUCK -DBUSY_POLL|$SAFETY|$PAN|busy-poll, drop policy, subscriber 1 may hang: (a) (a') (b) (c)"
"join/ivshmem|check|-DJOIN|$SAFETY|$PAN|join, leave, death (peer leaves the server): (j1) (j2) (j4) (j5) (j6)"
"join/xen|check|-DJOIN -DALIVE|$SAFETY|$PAN|join, leave, death (mapped byte, page mapped again): (j1)-(j6)"
"join/hostile|check|-DJOIN -DHOSTILE|$SAFETY|$PAN|a subscriber that writes anything: (j2) (j5), no crash, no invalid end"
"join/hostile-xen|check|-DJOIN -DHOSTILE -DALIVE|$SAFETY|$PAN|the same with the mapped byte: (j2) (j3) (j5)"
)
mutants=(
"BUG_NO_RECHECK|mutant|-DMSGS=3 -DBUG_NO_RECHECK|$SAFETY|$PAN|assertion violated.*sub_asleep"
"BUG_NO_RECHECK/ltl|mutant|-DMSGS=3 -DBUG_NO_RECHECK -DNO_MONITOR|$LIVE|$PAN -a -f -N wake|acceptance cycle"
"BUG_IGNORE_ACK|mutant|-DMSGS=3 -DBUG_IGNORE_ACK|$SAFETY|$PAN|assertion violated.*ack\\[1\\]"
"BUG_PUB_NO_RECHECK|mutant|-DMSGS=3 -DBUG_PUB_NO_RECHECK|$SAFETY|$PAN|assertion violated.*pub_asleep|invalid end state"
"BUG_SAME_SEQ|mutant|-DMSGS=3 -DBUG_SAME_SEQ|$SAFETY|$PAN|assertion violated.* !\\(sub_asleep\\[[01]\\]\\)"
"BUG_EVICT_NO_RING|mutant|-DMSGS=3 -DPOLICY_DROP -DSTUCK -DBUG_EVICT_NO_RING|$SAFETY|$PAN|assertion violated.*slot_state"
"BUG_EVICT_NO_RING/ltl|mutant|-DMSGS=3 -DPOLICY_DROP -DBUG_EVICT_NO_RING -DNO_MONITOR|$LIVE|$PAN -a -f -N evict_seen|acceptance cycle"
"BUG_INTENT_LATE|mutant|-DMSGS=3 -DPOLICY_DROP -DSTUCK -DBUG_INTENT_LATE|$SAFETY|$PAN|assertion violated  !\\((corrupt\\[me\\]|torn)\\)"
"BUG_ECLOSED_SKIPS_SLOT|mutant|-DMSGS=2 -DHEARTBEAT -DSTRICT_C -DBUG_ECLOSED_SKIPS_SLOT|$SAFETY|$PAN|assertion violated.*observed"
"plain-block+hung/ltl-dos|mutant|-DMSGS=3 -DSTUCK -DNO_MONITOR|$LIVE|$PAN -a -f -N pub_finishes|acceptance cycle"
"BUG_ANSWER_EARLY|mutant|-DJOIN -DBUG_ANSWER_EARLY|$SAFETY|$PAN|assertion violated \\(v==1\\)"
"BUG_NO_ORDER|mutant|-DJOIN -DHOSTILE -DBUG_NO_ORDER|$SAFETY|$PAN|assertion violated \\(req>g_accepted\\)"
"BUG_SERVE_UNMAPPED|mutant|-DJOIN -DALIVE -DBUG_SERVE_UNMAPPED|$SAFETY|$PAN|assertion violated.*dead_at_read"
"BUG_MAPPED_FIRST|mutant|-DJOIN -DALIVE -DBUG_MAPPED_FIRST|$SAFETY|$PAN|assertion violated.*dead_at_read"
"BUG_DEATH_FIRST|mutant|-DJOIN -DBUG_DEATH_FIRST|$SAFETY|$PAN|assertion violated.*g_left_asked"
"BUG_RING_DEAD|mutant|-DJOIN -DBUG_RING_DEAD|$SAFETY|$PAN|assertion violated.*g_door_closed"
)
# The findings (model/README.md) as they were found: F1 the old begin_read,
# F2 the old Xen join that read `mapped` again at the accept.
findings=(
"STRICT_C+BUG_ECLOSED_SKIPS_SLOT|finding|-DMSGS=2 -DHEARTBEAT -DSTRICT_C -DBUG_ECLOSED_SKIPS_SLOT|$SAFETY|$PAN|assertion violated.*observed"
"BUG_ALIVE_REREAD|finding|-DJOIN -DALIVE -DBUG_ALIVE_REREAD|$SAFETY|$PAN|assertion violated.*m_state==0"
)
deep=(
"ltl-dos/evict-after|check|-DMSGS=3 -DEVICT_AFTER -DSTUCK|$LIVE_BIG|$PAN -a -N pub_finishes|evictAfterMs, subscriber 1 may hang: LTL <>publisher done (about 2.5 GB)"
"block/4|check|-DMSGS=4|$DEEP|-m400000 -w32 -k3|block policy, 4 messages (bitstate)"
"drop/4|check|-DMSGS=4 -DPOLICY_DROP -DSTUCK|$DEEP|-m400000 -w32 -k3|drop policy, 4 messages (bitstate)"
"heartbeat/3|check|-DMSGS=3 -DHEARTBEAT -DCLOSE_EARLY|$DEEP|-m400000 -w32 -k3|evictions at any moment, 3 messages (bitstate)"
"evict-after/3|check|-DMSGS=3 -DEVICT_AFTER -DSTUCK -DCLOSE_EARLY|$DEEP|-m400000 -w32 -k3|evictAfterMs + close(), 3 messages (bitstate)"
)

jobs=()
case $mode in
default) jobs=("${checks[@]}" "${mutants[@]}") ;;
checks) jobs=("${checks[@]}") ;;
mutants) jobs=("${mutants[@]}") ;;
findings) jobs=("${findings[@]}") ;;
deep) jobs=("${deep[@]}") ;;
esac

# One run; writes $work/<n>.res as "status<TAB>line".
run_one() {
	local n=$1 spec=$2
	local name kind defs cflags pflags what
	IFS='|' read -r name kind defs cflags pflags what <<<"$spec"
	# the expected-error regex of a mutant may itself contain '|'
	what=${spec#*|*|*|*|*|}
	local dir="$work/$n"
	mkdir -p "$dir" && cp "$model" "$dir/ringcast.pml" || return
	local t0 t1 secs out status line errs states detail
	t0=$(date +%s.%N)
	# shellcheck disable=SC2086
	if ! (cd "$dir" && spin $defs -a ringcast.pml >spin.out 2>&1); then
		printf 'FAIL\t%-30s spin -a failed: %s\n' "$name" "$(tail -n 3 "$dir/spin.out" | tr '\n' ' ')" >"$work/$n.res"
		return
	fi
	# shellcheck disable=SC2086
	if ! (cd "$dir" && gcc -O2 -w $cflags -o pan pan.c >gcc.out 2>&1); then
		printf 'FAIL\t%-30s gcc failed: %s\n' "$name" "$(head -n 3 "$dir/gcc.out" | tr '\n' ' ')" >"$work/$n.res"
		return
	fi
	# shellcheck disable=SC2086
	(cd "$dir" && ./pan $pflags >pan.out 2>&1)
	status=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	out="$dir/pan.out"
	errs=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$out" | head -n 1)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$out" | head -n 1)
	states=$(awk -v s="${states:-0}" 'BEGIN { printf "%d", s }')
	detail=$(grep -m 1 -E '^pan:[0-9]+: ' "$out" | sed 's/^pan:[0-9]*: //')
	mem=$(sed -n 's/^ *\([0-9.]*\)[[:space:]]*total actual memory usage.*/\1/p' "$out" | head -n 1)
	mem=$(awk -v m="${mem:-0}" 'BEGIN { printf "%d", m }')
	local incomplete=""
	if grep -qE 'Search not completed|out of memory|max search depth too small|aborting' "$out"; then
		incomplete=$(grep -m 1 -E 'Search not completed|out of memory|max search depth too small|aborting' "$out")
	fi
	if [ "$kind" = check ]; then
		if [ "$status" -eq 0 ] && [ "${errs:-x}" = 0 ] && [ -z "$incomplete" ]; then
			printf 'PASS\t%-30s %11s states %5s MB %6ss  %s\n' "$name" "$states" "$mem" "$secs" "$what" >"$work/$n.res"
		else
			printf 'FAIL\t%-30s %11s states %7ss  errors=%s %s %s (%s)\n' "$name" "$states" "$secs" \
				"${errs:-?}" "$detail" "$incomplete" "$what" >"$work/$n.res"
		fi
	else
		# a mutant (or a finding) passes when spin reports the error it was made for
		if [ "${errs:-0}" != 0 ] && [ -n "$errs" ] && printf '%s\n' "$detail" | grep -qE "$what"; then
			printf 'PASS\t%-30s %11s states %7ss  %s: %s\n' "$kind $name" "$states" "$secs" \
				"$([ "$kind" = finding ] && echo reproduced || echo caught)" "$detail" >"$work/$n.res"
		else
			printf 'FAIL\t%-30s %11s states %7ss  NOT caught (errors=%s, wanted /%s/): %s\n' "$kind $name" "$states" \
				"$secs" "${errs:-?}" "$what" "${detail:-no error}" >"$work/$n.res"
		fi
	fi
}

lanes=$(nproc 2>/dev/null || echo 1)
[ "$lanes" -gt 2 ] && lanes=2
[ "$lanes" -lt 1 ] && lanes=1

start=$(date +%s)
echo "spin: model-checking $(basename "$model") ($mode, ${#jobs[@]} runs, $lanes at a time)"
i=0
for spec in "${jobs[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$lanes" ]; do wait -n; done
	run_one "$i" "$spec" &
	i=$((i + 1))
done
wait

passed=0 failed=0
for ((k = 0; k < i; k++)); do
	if [ -f "$work/$k.res" ]; then
		IFS=$'\t' read -r status line <"$work/$k.res"
	else
		status=FAIL line="run $k produced no result"
	fi
	printf '%s %s\n' "$status" "$line"
	if [ "$status" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "spin: total $(($(date +%s) - start))s"
echo "spin: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
