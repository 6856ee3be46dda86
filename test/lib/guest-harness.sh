# Shared by the guest test harnesses, test/vm/run.sh and test/xen/run.sh
# (sourced, after `set -uo pipefail` and after WORK, the harness's work
# folder, exists). The report is TAP-like: "ok - NAME" / "FAIL - NAME: why"
# lines, "[  12.3 s] text" notes, "# text" comments, and a last line
# "N passed, N failed" (exit 1 on any failure).
#
# Globals it sets: passed, failed, T0 and HARNESS_NAME (harness_begin);
# KVER, PKGVER and BUSYBOX (require_tools).

# Starts the report and its clock. $1: the name in the timing line
# ("test:vm"); $2: milliseconds between looks in wait_for_line.
harness_begin() {
	HARNESS_NAME=$1
	WAIT_POLL_MS=$2
	T0=$(date +%s%N)
	passed=0
	failed=0
}

ok() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1${2:+: $2}"; }
# Milliseconds since harness_begin.
elapsed() { echo "$(( ($(date +%s%N) - T0) / 1000000 ))"; }
# A progress line stamped with the seconds since harness_begin.
note() { printf '[%6.1f s] %s\n' "$(echo "$(elapsed)" | awk '{print $1/1000}')" "$*"; }

# Prints the timing and the "N passed, N failed" line and exits: 0 when
# nothing failed, else 1.
finish() {
	echo "$HARNESS_NAME took $(elapsed) ms"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

# For the harness's EXIT trap: removes the work folder, or with $1 = 1
# keeps it (logs, initramfs) and says where it is.
remove_work_folder() {
	if [ "${1:-0}" = 1 ]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}

# Waits until file $1 has a line matching $2, process $3 (optional) is alive,
# and $4 seconds (default 60) have not passed. Sleeps between looks are the
# polling of a marker, never a guess at how long something takes.
wait_for_line() {
	local file=$1 pattern=$2 pid=${3:-} limit=${4:-60} pause i
	pause=$(printf '%d.%03d' $((WAIT_POLL_MS / 1000)) $((WAIT_POLL_MS % 1000)))
	for ((i = 0; i < limit * 1000 / WAIT_POLL_MS; i++)); do
		grep -q -- "$pattern" "$file" 2>/dev/null && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			grep -q -- "$pattern" "$file" 2>/dev/null && return 0
			return 1
		fi
		sleep "$pause"
	done
	return 1
}

# Prints " NAME" for each command of $@ that is not on PATH.
missing_commands() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || printf ' %s' "$tool"
	done
}

# The tools check every guest harness starts with. $1: what is missing so
# far (" name" each); $2: the Debian packages that provide it all. Finds the
# guest kernel version KVER (the newest /usr/src/linux-headers-*-amd64: the
# guests boot Debian's image of the same version) and PKGVER (the Debian
# version of those headers, empty when dpkg did not install them). Fails
# "tools present" and finishes when anything is missing or when busybox is
# not static (it runs alone in the initramfs); sets BUSYBOX.
require_tools() {
	local missing=$1 packages=$2
	KVER=$(ls /usr/src 2>/dev/null | sed -n 's/^linux-headers-\(.*-amd64\)$/\1/p' | sort -V | tail -n 1)
	[ -n "$KVER" ] || missing="$missing linux-headers-amd64"
	if [ -n "$missing" ]; then
		fail "tools present" "missing:$missing (Debian: $packages)"
		finish
	fi
	BUSYBOX=$(command -v busybox)
	if ldd "$BUSYBOX" >/dev/null 2>&1; then
		fail "busybox is static" "$BUSYBOX is dynamically linked (install busybox-static)"
		finish
	fi
	PKGVER=$(dpkg-query -W -f='${Version}' "linux-headers-$KVER" 2>/dev/null)
}

# Debian's linux-image-$KVER, of the same package version as the headers
# (so a module built against them has the kernel's vermagic and symbol
# CRCs), fetched once into cache folder $1. $2: the cached file that says
# it is there; $3: a function given the downloaded .deb that unpacks what
# the harness needs into the cache (status 0 when all of $2 is in place,
# else it leaves no partial $2 behind). Reports "guest kernel ..." as
# fetched or cached; finishes when the fetch fails.
fetch_guest_kernel() {
	local cache=$1 cached=$2 unpack=$3 t deb
	mkdir -p "$cache"
	if [ -s "$cached" ]; then
		ok "guest kernel linux-image-$KVER $PKGVER (cached)"
		return
	fi
	t=$(elapsed)
	(cd "$WORK" && apt-get download -q "linux-image-$KVER${PKGVER:+=$PKGVER}") >"$WORK/apt.log" 2>&1
	deb=$(ls "$WORK"/linux-image-"$KVER"_*.deb 2>/dev/null | head -n 1)
	if [ -n "$deb" ] && "$unpack" "$deb"; then
		rm -f "$deb"
		ok "guest kernel linux-image-$KVER $PKGVER fetched ($(($(elapsed) - t)) ms)"
	else
		fail "guest kernel linux-image-$KVER $PKGVER fetched" "$(tail -n 5 "$WORK/apt.log")"
		finish
	fi
}

# Empties the initramfs staging folder $1 and puts in what every guest
# needs: the static busybox and the mount points its init uses.
stage_initramfs() {
	local stage=$1
	rm -rf "$stage"
	mkdir -p "$stage/bin" "$stage/dev" "$stage/proc" "$stage/sys" "$stage/tmp"
	cp "$BUSYBOX" "$stage/bin/busybox"
}

# The package as a guest loads it: compiled TypeScript and the addon, built
# from this checkout (log in $1).
build_package() {
	(cd "$ROOT" && npx tsc -p tsconfig.json && npx node-gyp build) >"$1" 2>&1 &&
		[ -f "$ROOT/dist/index.js" ] && [ -f "$ROOT/build/Release/ringcast.node" ]
}

# The host's node, the shared libraries it loads, and the package (dist/,
# the addon, package.json, production dependencies) under staging folder $1;
# the files $2... go to its /pkg beside them.
stage_node() {
	local stage=$1 lib dep
	shift
	mkdir -p "$stage/usr/bin" "$stage/pkg/build/Release" "$stage/pkg/node_modules"
	cp "$(command -v node)" "$stage/usr/bin/node"
	for lib in $(ldd "$(command -v node)" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
	cp -a "$ROOT/dist" "$ROOT/package.json" "$stage/pkg/"
	cp "$ROOT/build/Release/ringcast.node" "$stage/pkg/build/Release/"
	(cd "$ROOT" && npm ls --omit=dev --all --parseable 2>/dev/null) | while read -r dep; do
		case "$dep" in "$ROOT"/node_modules/*) ;; *) continue ;; esac
		mkdir -p "$stage/pkg/$(dirname "${dep#"$ROOT"/}")"
		cp -a "$dep" "$stage/pkg/${dep#"$ROOT"/}"
	done
	cp "$@" "$stage/pkg/"
}

# Packs staging folder $1 into the newc cpio archive $2, through the filter
# command in $3... when given (e.g. gzip -1).
pack_initramfs() {
	local stage=$1 out=$2
	shift 2
	[ $# -gt 0 ] || set -- cat
	(cd "$stage" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | "$@") >"$out"
}

# Turns the report lines a guest or host program wrote into file $1 into
# this report: "$3NAME" counts as ok and "$4NAME" as failed, each under the
# name "$2NAME"; with $5, "$5TEXT" lines become comments "# $2TEXT".
# Other lines are ignored.
report_lines() {
	local file=$1 label=$2 ok_mark=$3 fail_mark=$4 note_mark=${5:-} line
	while IFS= read -r line; do
		case "$line" in
		"$ok_mark"*) ok "$label${line#"$ok_mark"}" ;;
		"$fail_mark"*) fail "$label${line#"$fail_mark"}" ;;
		*) if [ -n "$note_mark" ] && [[ $line == "$note_mark"* ]]; then echo "# $label${line#"$note_mark"}"; fi ;;
		esac
	done < <(grep -aF -e "$ok_mark" -e "$fail_mark" ${note_mark:+-e "$note_mark"} "$file")
}

# The expected checks: every name listed in file $3 (one per line; blank
# lines and "#" comments ignored) must appear in file $1 as a line starting
# "$2NAME" (then the end of the line or a space), and every such line must
# name a listed check. Without the list, a FAIL line mangled on a shared
# console would vanish from the count and the run would pass. $4 names the
# list in the report.
expect_listed_checks() {
	local file=$1 mark=$2 list=$3 label=$4 names reported missing="" unlisted="" n
	names=$(sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$list" | grep -v '^$')
	reported=$(grep -a "^$mark" "$file" | cut -c$((${#mark} + 1))- | cut -d' ' -f1 | sort -u)
	for n in $names; do grep -qxF -- "$n" <<<"$reported" || missing="$missing $n"; done
	for n in $reported; do grep -qxF -- "$n" <<<"$names" || unlisted="$unlisted $n"; done
	if [ -z "$missing" ]; then ok "all $(wc -l <<<"$names") checks of $label reported ok"; else
		fail "all $(wc -l <<<"$names") checks of $label reported ok" "missing (failed, not run, or mangled):$missing"; fi
	if [ -n "$unlisted" ]; then fail "every check reported is on $label" "not listed:$unlisted"; fi
}

# Fails check $1 when a line of file $2 matches the extended regular
# expression $3 (a failure a program printed that no check counted, e.g. on
# a guest's console copied with a prefix); lists the first 5.
expect_no_stray_failures() {
	local found
	found=$(grep -aE -- "$3" "$2" | sort -u | head -n 5)
	if [ -z "$found" ]; then ok "$1"; else fail "$1" "$found"; fi
}

# Builds test/lib/canary/rc_canary.ko (one injected WARN_ON_ONCE at load)
# for guest kernel $KVER in folder $1 (a copy of the source; build log in
# $1/build.log). Status 0 when $1/rc_canary.ko exists.
build_canary_module() {
	local dir=$1
	rm -rf "$dir" && mkdir -p "$dir" && cp "$ROOT"/test/lib/canary/* "$dir/" &&
		make -s -C "/usr/src/linux-headers-$KVER" M="$dir" KCFLAGS=-Werror modules >"$dir/build.log" 2>&1 &&
		[ -f "$dir/rc_canary.ko" ]
}

# What counts as kernel or hypervisor trouble on a console.
KERNEL_TROUBLE='WARNING:|BUG:|kernel BUG|Oops|Call Trace|Kernel panic|general protection|refcount_t:|list_(add|del) corruption|UBSAN|KASAN|blocked for more than|detected stall|sleeping function called|invoked oom-killer|Out of memory|page allocation failure|Xen (WARN|BUG)|Assertion .* failed|FATAL'

# The kernel-log scan, two checks over console file $2 (report names start
# with $1). Each guest loaded rc_canary.ko at boot, so its log holds one
# WARNING naming rc_canary. Lines are attributed to a guest by their "[X] "
# prefix (X a short name, as dom0 prefixes the domUs' consoles it copies),
# "(XEN)" lines to "xen", other lines to $4 (default "-").
#   1. the scan found the canary's WARNING in the log of every guest named
#      in $3 (space-separated): each guest's log reached the scan, and the
#      pattern catches a real warning;
#   2. no other line matches KERNEL_TROUBLE (the canary's own block, from
#      its WARNING to its "end trace", at most 80 kernel lines of that guest,
#      is allowed; the guest's program lines in between are checked); the
#      first such line comes with the 3 lines of the same guest before it.
scan_kernel_logs() {
	local name=$1 file=$2 want=$3 unprefixed=${4:--} out g missing=""
	out=$(awk -v pat="$KERNEL_TROUBLE" -v unprefixed="$unprefixed" '
		{
			key = unprefixed; line = $0
			if (match(line, /^\[[A-Za-z0-9.]+\] /) && RLENGTH <= 8) {
				key = substr(line, 2, RLENGTH - 3); line = substr(line, RLENGTH + 1)
			} else if (line ~ /^\(XEN\)/) key = "xen"
			if (line ~ pat && line ~ /WARNING:.*rc_canary/) { canary[key] = 1; inblock[key] = 1; blocklen[key] = 0; next }
			# Only kernel lines ("[ seconds] ...") of that guest belong to the block:
			# its programs write to the same console, and the kernel may flush the
			# trace behind hundreds of their lines (a flooded publisher did).
			if (inblock[key] && line ~ /^\[ *[0-9]+\.[0-9]+\] /) {
				if (line ~ /---\[ end trace/ || ++blocklen[key] > 80) inblock[key] = 0
				next
			}
			if (line ~ pat && bad++ < 10) {
				if (bad == 1) for (i = 3; i >= 1; i--) if (before[key, i] != "") print "BAD (before) " before[key, i]
				print "BAD " NR ": " $0
			}
			before[key, 3] = before[key, 2]; before[key, 2] = before[key, 1]; before[key, 1] = NR ": " $0
		}
		END { for (k in canary) print "CANARY " k }' "$file")
	for g in $want; do
		grep -qx "CANARY $g" <<<"$out" || missing="$missing $g"
	done
	if [ -z "$missing" ]; then
		ok "$name: the scan catches the injected canary warning in every guest's kernel log ($want)"
	else
		fail "$name: the scan catches the injected canary warning in every guest's kernel log ($want)" \
			"no canary WARNING seen from:$missing"
	fi
	if grep -q '^BAD ' <<<"$out"; then
		fail "$name: no other hypervisor or kernel warning on any console" "$(grep '^BAD ' <<<"$out" | cut -c5-)"
	else
		ok "$name: no other hypervisor or kernel warning on any console"
	fi
}
