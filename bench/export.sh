#!/usr/bin/env bash
# Memory of the full data export (issue 5: "memory constant for a 2 GiB
# project"). Not a timing assertion: it reports the peak RSS (VmHWM) of the
# media role while it streams the export archive of a project whose original
# is 100 MiB, and then, on a fresh process, of one whose original is 2 GiB.
# The two peaks must be equal within a few MiB (the builder holds one AM1
# segment, one 64 KiB chunk and a two-step output buffer per download).
#
# The fixtures are written directly through the store by bench/export_bench.c
# (AM1-encrypted like an upload, but in seconds), which also prints a signed
# export URL; curl downloads it from `audiomus media` and GNU tar lists it
# (so the archive is also checked to be complete and well-formed).
#
#   bench/export.sh                   # build/release
#   BUILD=build/h-export bench/export.sh
#   EXPORT_BIG_MIB=2048 EXPORT_SMALL_MIB=100 (defaults)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
BIN=${AUDIOMUS_BIN:-$BUILD/audiomus}
# bench/run sets BENCH_BUILD (the directory of bench/*.c's programs)
DRIVER=${EXPORT_BENCH_BIN:-${BENCH_BUILD:-$BUILD/bench}/export_bench}
small=${EXPORT_SMALL_MIB:-100}
big=${EXPORT_BIG_MIB:-2048}
if [ ! -x "$DRIVER" ]; then
  [ -z "${BENCH_BUILD:-}" ] || { echo "export: $DRIVER not built (make bench)" >&2; exit 1; }
  make -s BUILD="$BUILD" "$DRIVER" || exit 1
fi
tmp=$(mktemp -d /tmp/am-bench-export.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

"$BIN" init --data "$tmp/data" > /dev/null 2>&1 || { echo "export: init failed" >&2; exit 1; }
t0=$(date +%s)
url_small=$("$DRIVER" "$tmp/data" small@example.org "$small") || exit 1
url_big=$("$DRIVER" "$tmp/data" big@example.org "$big") || exit 1
echo "fixtures: ${small} MiB and ${big} MiB originals written in $(( $(date +%s) - t0 )) s"

hwm() { awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$1/status"; }

# One export on a fresh media process: prints "MiB_in_archive peak_before peak_after seconds".
run_one() {
	local url=$1 log=$tmp/media.log port t1 t2 bytes
	"$BIN" media --data "$tmp/data" --listen 127.0.0.1:0 > /dev/null 2> "$log" &
	pid=$!
	for _ in $(seq 200); do
		port=$(grep -o '"event":"listening".*"port":"[0-9]*"' "$log" | grep -o '[0-9]*"$' | tr -d '"')
		[ -n "$port" ] && break
		sleep 0.05
	done
	[ -n "$port" ] || { echo "export: media did not start: $(cat "$log")" >&2; return 1; }
	local before
	before=$(hwm "$pid")
	t1=$(date +%s.%N)
	curl -sk --fail "https://127.0.0.1:$port$url" | tar -tvf - > "$tmp/list" || { echo "export: download or tar failed" >&2; return 1; }
	t2=$(date +%s.%N)
	local after
	after=$(hwm "$pid")
	bytes=$(awk '{s += $3} END {print int(s / 1048576)}' "$tmp/list")
	kill "$pid"; wait "$pid" 2>/dev/null; pid=
	echo "$bytes $before $after $(echo "$t2 - $t1" | bc)"
}

read -r s_mib s_before s_after s_secs < <(run_one "$url_small") || exit 1
read -r b_mib b_before b_after b_secs < <(run_one "$url_big") || exit 1
printf 'export of a %4d MiB project: media peak RSS %3d MiB (idle %3d MiB), %.1f s\n' "$s_mib" "$s_after" "$s_before" "$s_secs"
printf 'export of a %4d MiB project: media peak RSS %3d MiB (idle %3d MiB), %.1f s\n' "$b_mib" "$b_after" "$b_before" "$b_secs"
diff=$(( b_after - s_after ))
echo "difference: ${diff#-} MiB (target: within a few MiB)"
. bench/lib.sh
grade "export memory constant, within 4 MiB (5)" "$s_after MiB for ${s_mib} MiB and $b_after MiB for ${b_mib} MiB" "$(le "${diff#-}" 4)"
[ "${diff#-}" -le 4 ]
