#!/usr/bin/env bash
# Run by `npm test` first, before the build: makes sure the programs the test suite
# starts are on this machine, and installs the Debian packages that carry the
# missing ones (as root, with apt-get), saying so first. Where it cannot (not
# root, no apt-get, the install failed) it stops with what to install, so the
# suite never fails halfway for a missing program.
#
# A fresh Debian machine with Node, npm, python3, make and gcc/g++ lacks
# nats-server (the bridge tests run a real broker); iproute2 (`ip`, two hosts
# as network namespaces), util-linux (`unshare`, `setpriv`, the
# container-like isolation test) and valgrind (the benchmark test counts the
# publish path's instructions with callgrind) are checked too, for slimmer
# images.
set -euo pipefail

# program (absolute path, or a name looked up in PATH) -> Debian package
needs=(
  "/usr/sbin/nats-server nats-server"
  "ip iproute2"
  "unshare util-linux"
  "setpriv util-linux"
  "valgrind valgrind"
)
# More "program package" lines, one per line (test/test-deps.test.ts checks the failure path with one).
while read -r extra; do [[ -n $extra ]] && needs+=("$extra"); done <<<"${RINGCAST_TEST_NEEDS-}"

missing=()
for need in "${needs[@]}"; do
  read -r program package <<<"$need"
  if [[ $program == /* ]]; then [[ -x $program ]] && continue
  else command -v "$program" >/dev/null 2>&1 && continue
  fi
  [[ " ${missing[*]-} " == *" $package "* ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

list="${missing[*]}"
fail() {
  echo "ringcast test: cannot install the Debian packages the tests need ($list): $1" >&2
  echo "ringcast test: install them as root (apt-get install $list), then run npm test again" >&2
  exit 1
}
[[ $(id -u) -eq 0 ]] || fail "not root"
command -v apt-get >/dev/null 2>&1 || fail "no apt-get on this machine"

echo "ringcast test: installing the Debian packages the tests need: $list (apt-get install)"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet: update once, then install.
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || fail "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || fail "apt-get install failed"
fi
echo "ringcast test: installed $list"
