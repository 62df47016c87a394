#!/usr/bin/env bash
# Encrypted streaming from S3 (issue 10): the media role reading AM1 objects
# from OpenStack Swift + s3api on loopback (scripts/s3-test; started here if
# it is not running, and stopped again) against curl fetching the very same
# stored object from Swift with one plain ranged GET (SigV4, no decryption).
#
# audiomus: `serve` (its media role) with storage = s3://audiomus-test?...&prefix=
# bench-<random>/ and SQLite; an owner uploads a 64 MiB WAV through tus
# (bench/amapi.mjs); once ready, the guest API's download URL (d=1: the
# original, AM1-encrypted in the bucket, decrypted per 64 KiB segment) is
# fetched with `curl -H 'Range: bytes=0-'`. Reference: `curl --aws-sigv4` with
# `Range: bytes=0-` of the stored orig/ object (the same bytes plus AM1's
# 0.03 % overhead). 1 and 4 concurrent transfers, audiomus and Swift
# alternating, BENCH_REPS runs; MiB/s of payload, medians (min–max), ratio
# (target >= 0.8x). Everything under the prefix is deleted at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
reps=${BENCH_REPS:-3}
tmp=$(mktemp -d /tmp/am-bench-s3.XXXXXX)
started=
eval "$(scripts/s3-test env)"
s3_q=${AUDIOMUS_TEST_S3_URL#*\?}
endpoint=$(sed -n 's/.*endpoint=\([^&]*\).*/\1/p' <<< "$s3_q")
bucket=${AUDIOMUS_TEST_S3_URL#s3://}; bucket=${bucket%%\?*}
prefix=bench-$$-$RANDOM/
enc_user=$(node -e 'console.log(encodeURIComponent(process.argv[1]) + ":" + encodeURIComponent(process.argv[2]))' \
  "$AUDIOMUS_S3_ACCESS_KEY" "$AUDIOMUS_S3_SECRET_KEY")
s3_base="${endpoint/:\/\//://$enc_user@}/$bucket"
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
s3curl() { curl -s --aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: $EMPTY_SHA" "$@"; }
s3_keys() { s3curl "$s3_base?list-type=2&prefix=${1//\//%2F}" | grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g'; }
cleanup() {
  [ "${pinned:-0}" = 1 ] && for p in $(swift_pids); do taskset -a -p -c "0-$(( $(nproc) - 1 ))" "$p" > /dev/null 2>&1; done
  am_stop
  for k in $(s3_keys "$prefix" 2>/dev/null); do s3curl -X DELETE -o /dev/null "$s3_base/$k"; done
  [ -n "$started" ] && scripts/s3-test stop > /dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
if [ "$(s3curl -o /dev/null -w '%{http_code}' "$s3_base?list-type=2&max-keys=1")" != 200 ]; then
  scripts/s3-test start > /dev/null || { echo "s3_stream: cannot start Swift" >&2; exit 1; }
  started=1
fi
port=$(bench_port)
load0=$(loadavg)

storage="$AUDIOMUS_TEST_S3_URL&prefix=$prefix"
"$AUDIOMUS_BIN" init --data "$tmp/data" > /dev/null 2>&1 || { echo "s3_stream: init failed" >&2; exit 1; }
bench_users "$tmp/data" 1 "${FAST_ARGON[@]}" || exit 1
wav=$(bench_wav 233)  # 48 kHz/24-bit stereo: 64.0 MiB
size=$(stat -c %s "$wav")
am_start "$tmp/data" "$port" "$tmp/am.log" "${FAST_ARGON[@]}" --set "storage=$storage" || exit 1
setup=$(amapi stream "$port" "$tmp/data" 0 --file "$wav" --wait 300) || { echo "s3_stream: set-up failed" >&2; tail -5 "$tmp/am.log" >&2; exit 1; }
am_url="https://127.0.0.1:$port$(json_get download <<< "$setup")"
orig=$(s3_keys "${prefix}orig/")
[ "$(wc -w <<< "$orig")" = 1 ] || { echo "s3_stream: expected one original in the bucket, got: $orig" >&2; exit 1; }
s3_url="$s3_base/$orig"
# audiomus returns exactly the file; Swift holds AM1 ciphertext of it.
[ "$(curl -sk -H 'Range: bytes=0-' "$am_url" | sha256sum)" = "$(sha256sum < "$wav")" ] ||
  { echo "s3_stream: audiomus does not return the file" >&2; exit 1; }
s3curl -H 'Range: bytes=0-' -o "$tmp/obj" "$s3_url"
stored=$(stat -c %s "$tmp/obj")
[ "$(head -c 6 "$tmp/obj")" = "AM1SEG" ] || { echo "s3_stream: the stored object is not AM1" >&2; exit 1; }
rm -f "$tmp/obj"

# mibps C URL CURL-ARGS...: C parallel ranged GETs of URL; payload MiB/s over the wall time.
mibps() {
  local c=$1 url=$2 t0 t1 i pids=(); shift 2
  t0=$(date +%s.%N)
  for i in $(seq "$c"); do
    ${PIN:-} curl -s -o /dev/null -w '%{size_download}\n' -H 'Range: bytes=0-' "$@" "$url" > "$tmp/got$i" & pids+=($!)
  done
  wait "${pids[@]}"
  t1=$(date +%s.%N)
  cat "$tmp"/got* | awk -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" '{s += $1} END {printf "%.1f\n", s / 1048576 / t}'
  # every transfer must be whole (issue 18: a short or failed transfer fails the row)
  awk -v want="$MIBPS_WANT" '$1 != want {bad++} END {exit bad > 0}' "$tmp"/got* ||
    fail_note "$MIBPS_KEY" "$MIBPS_WHO: a transfer of $c was not $MIBPS_WANT bytes ($(cat "$tmp"/got* | paste -sd' '))"
  rm -f "$tmp"/got*
}
# CPU per GiB (issue 25): audiomus = the server process (user + system from
# /proc/PID/stat around the run) over the GiB its clients read; the reference
# = the curl processes' own CPU (this shell's reaped children) over the GiB
# they read from Swift.
# rounds TAG: BENCH_REPS runs at 1 and 4 concurrent, audiomus and Swift alternating.
rounds() {
  local tag=$1 c r t0
  for c in 1 4; do
    for r in $(seq "$reps"); do
      t0=$(cpu_ticks "$AM_PID")
      MIBPS_KEY=s3$c MIBPS_WHO=audiomus MIBPS_WANT=$size mibps "$c" "$am_url" -k --fail >> "$tmp/am$tag$c"
      cpu_per_gib $(( $(cpu_ticks "$AM_PID") - t0 )) $(( c * size )) >> "$tmp/amcpu$tag$c"
      t0=$(cpu_cticks)
      MIBPS_KEY=s3$c MIBPS_WHO=Swift MIBPS_WANT=$stored mibps "$c" "$s3_url" --fail --aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: $EMPTY_SHA" >> "$tmp/s3$tag$c"
      cpu_per_gib $(( $(cpu_cticks) - t0 )) $(( c * stored )) >> "$tmp/s3cpu$tag$c"
    done
  done
}
rounds ""
# Pinned (issue 25): on two cores the store, the server and the clients
# share both, so the ratio is a share of the machine. Here Swift (every
# process and thread of scripts/s3-test's servers) runs on CPU 0, and
# audiomus, its curl clients and the reference curl on CPU 1: the store has
# a core of its own, as it would on its own host. Affinity is restored at
# the end (cleanup).
swift_pids() { local p; for p in $(cat "$S3_RUN"/*.pid 2> /dev/null); do echo "$p"; pgrep -P "$p"; done; }
pin() { local cpu=$1 p; shift; for p in "$@"; do taskset -a -p -c "$cpu" "$p" > /dev/null 2>&1 || return 1; done; }
S3_RUN=${S3_DIR:-/tmp/am-s3-$(id -u)-${S3_PORT:-18080}}/run
pinned=0
if [ "$(nproc)" -ge 2 ] && [ -n "$(swift_pids)" ] && pin 0 $(swift_pids) && pin 1 "$AM_PID"; then
  pinned=1
  PIN="taskset -c 1" rounds p
fi

echo "Load average: $load0 at start (other work on the machine: figures are noisy). Swift 2.30 + s3api on loopback (plain HTTP, one proxy worker; scripts/s3-test). Object: ${size}-byte WAV, stored as ${stored} bytes of AM1 ciphertext. audiomus: \`serve\`'s media role over TLS, S3 reads (one streaming GET from byte 0, started at the open), AM1 decryption; reference: curl's one plain ranged GET of the stored object from Swift. Medians of $reps, min–max in brackets."
echo
echo "| measure | audiomus (encrypted, via media role) | curl from Swift (plain ranged GET) | ratio | target |"
echo "|---|---|---|---|---|"
figs= pfigs= ok=1 bads=
# rows TAG LABEL TARGET: the throughput and CPU rows of one set of rounds.
rows() {
  local tag=$1 label=$2 target=$3 c am amin amax s3 smin smax ac acmin acmax sc scmin scmax
  for c in 1 4; do
    read -r am amin amax < <(stats < "$tmp/am$tag$c")
    read -r s3 smin smax < <(stats < "$tmp/s3$tag$c")
    read -r ac acmin acmax < <(stats < "$tmp/amcpu$tag$c"); read -r sc scmin scmax < <(stats < "$tmp/s3cpu$tag$c")
    row_check "s3$c"
    echo "| 64 MiB original from S3, $c concurrent$label, MiB/s | $am ($amin–$amax) | $s3 ($smin–$smax) | $(ratio "$am" "$s3") | $target |"
    echo "| … the same runs: CPU-seconds per GiB (audiomus: server process; reference: curl) | $ac ($acmin–$acmax) | $sc ($scmin–$scmax) | $(ratio "$ac" "$sc") | – (reported) |"
    [ -n "$ROW_BAD" ] && bads="${bads:+$bads; }$ROW_BAD"
  done
}
rows "" ", all on both cores" "$([ "$pinned" = 1 ] && echo "– (reported; graded pinned)" || target_cell "≥ 0.8×")"
[ "$pinned" = 1 ] && rows p ", pinned: Swift on CPU 0, audiomus and the clients on CPU 1" "$(target_cell "≥ 0.8×")"
g=$([ "$pinned" = 1 ] && echo p)
for c in 1 4; do
  figs="${figs:+$figs, }$(ratio "$(med "$tmp/am$g$c")" "$(med "$tmp/s3$g$c")")× at $c"
  pfigs="${pfigs:+$pfigs, }$(ratio "$(med "$tmp/am$c")" "$(med "$tmp/s3$c")")× at $c"
  [ "$(ratio_ge "$(med "$tmp/am$g$c")" "$(med "$tmp/s3$g$c")" 0.8)" = 1 ] || ok=0
done
[ "$pinned" = 1 ] && figs="pinned (Swift on CPU 0, the rest on CPU 1): $figs; unpinned: $pfigs"
grade "S3 streaming ≥ 0.8× a plain ranged GET, 1 and 4 concurrent, the store on its own core (10, 25)" "$figs" "$ok" "$bads"
bench_exit
