#!/usr/bin/env bash
# The Node tests once more, with the addon built under AddressSanitizer and
# UndefinedBehaviorSanitizer (.ci/run runs it after `npm test`).
#
# Node itself is not instrumented, so the ASan runtime is preloaded into
# every node process (LD_PRELOAD, inherited by the fixture processes the
# tests start); leak detection is off (Node's own allocations at exit are
# not ours to judge); any ASan or UBSan report aborts that process, and the
# test that ran it fails. The addon is built in a scratch copy of the
# checkout (its own build/ and dist/), so the regular build stays as it is.
#
#   bash test/asan-node.sh [vitest arguments]   e.g. test/bus.test.ts
#
# Ends with vitest's summary; exit status as vitest's. RINGCAST_ASAN_KEEP=1
# keeps the scratch copy and prints its path.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ringcast-asan.XXXXXX")
# mktemp makes it 0700: the isolation tests run the fixtures as uid 65534.
chmod 755 "$work"
cleanup() { if [ "${RINGCAST_ASAN_KEEP:-0}" = 1 ]; then echo "asan: kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

# The checkout's files (tracked, and new ones not ignored), the same
# node_modules.
(cd "$root" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$work"
ln -s "$root/node_modules" "$work/node_modules"

sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
echo "asan: building the addon with $sanitize"
(cd "$work" && CFLAGS="$sanitize" CXXFLAGS="$sanitize" LDFLAGS="-fsanitize=address,undefined" \
	npx node-gyp rebuild >"$work/node-gyp.log" 2>&1) || { tail -n 30 "$work/node-gyp.log"; exit 1; }
(cd "$work" && npx tsc -p tsconfig.json)
# The addon must really be instrumented: it imports ASan's entry points.
nm -D "$work/build/Release/ringcast.node" | grep '__asan_init' >/dev/null ||
	{ echo "asan: build/Release/ringcast.node is not instrumented"; exit 1; }

asan_lib=$(gcc -print-file-name=libasan.so)
ubsan_lib=$(gcc -print-file-name=libubsan.so)
echo "asan: vitest with LD_PRELOAD=$asan_lib:$ubsan_lib"
cd "$work"
LD_PRELOAD="$asan_lib:$ubsan_lib" \
	ASAN_OPTIONS="detect_leaks=0:verify_asan_link_order=0:abort_on_error=1:halt_on_error=1" \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
	npx vitest run "$@"
