#!/usr/bin/env bash
# Serving cost per listener (issue 26, docs/watermark.md "Serving a
# listener"): Range streaming of a marked version to guests with mark
# tickets against the same version's plain stream (marking off), the same
# clients. `audiomus serve` on loopback; an owner (audiomus user add) makes a
# project with marking on and uploads a 120 s 48 kHz/24-bit WAV (the
# first 2 minutes of bench/xcode.sh's input; bench/wm_api.mjs); once the worker made A and B, WM_LISTENERS (default 64)
# new listeners each get the guest view and a mark ticket, as N browsers
# would, and their stream URLs (signed URL + "&mt=TICKET") go to a list.
# wrk (-t2, keep-alive, `Range: bytes=0-`, so 206 with the whole stream)
# rotates over the list (bench/rotate.lua: each request is the next
# listener's URL) with 4 and 64 connections for STREAM_SECONDS (default 8)
# per run. Marking is switched on and off between the runs (PUT …/mark; the
# media role reads the setting per request, and with marking off it serves
# the plain rendition to the same URLs, tickets ignored), alternating,
# BENCH_REPS runs each: MiB/s (exact bytes, bench/wrk_bytes.lua's line),
# requests/s, the server's CPU-milliseconds per request (one listener's
# whole stream) and its CPU-seconds per GiB served (user + system of
# the serve process from /proc/PID/stat before and after the run, as
# bench/media_stream.sh measures it); ratios marked / plain. The marked
# stream is 44.1 kHz with padded units, the plain one keeps the upload's
# 48 kHz: per GiB normalises the different sizes, per request does not.
# Checked first: with marking on two listeners get different bytes of the
# same size and the ticket-less URL is refused; with it off both get the
# same plain bytes. wrk socket errors or non-2xx/3xx answers fail the row.
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
reps=${BENCH_REPS:-3}
secs=${STREAM_SECONDS:-8}
n=${WM_LISTENERS:-64}
tmp=$(mktemp -d /tmp/am-bench-wmserve.XXXXXX); chmod 755 "$tmp"
trap 'am_stop; kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(bench_port)
load0=$(loadavg)
"$AUDIOMUS_BIN" init --data "$tmp/data" > /dev/null 2>&1 || { echo "wm_serve: init failed" >&2; exit 1; }
bench_users "$tmp/data" 1 "${FAST_ARGON[@]}" || exit 1
# 120 s of bench/xcode.sh's 5-minute input (two swept tones with noise: a
# pure sine, bench_wav, encodes to a quarter of the bytes), cached.
src5=${XCODE_BENCH_DIR:-/tmp/am-xcode-bench}/in-5min.wav wav=$BENCH_CACHE/wm-120s.wav
mkdir -p "$BENCH_CACHE"
if [ ! -s "$wav" ]; then
  [ -s "$src5" ] || ffmpeg -v error -y -f lavfi -i "aevalsrc='0.3*sin(2*PI*(220+200*sin(0.1*t))*t)+0.05*(random(0)-0.5)|0.3*sin(2*PI*(330+150*sin(0.07*t))*t)+0.05*(random(1)-0.5)':s=48000:d=120" \
    -c:a pcm_s24le "$wav.tmp.wav" || exit 1
  [ -s "$src5" ] && { ffmpeg -v error -y -i "$src5" -t 120 -c copy "$wav.tmp.wav" || exit 1; }
  mv "$wav.tmp.wav" "$wav"
fi
am_start "$tmp/data" "$port" "$tmp/am.log" "${FAST_ARGON[@]}" || exit 1
wmapi() { local m=$1; shift
  node bench/wm_api.mjs "$m" --port "$port" --ca "$tmp/data/tls/cert.pem" --email bench0@example.org --password "$BENCH_PASSWORD" "$@"; }
t_setup=$(date +%s)
setup=$(wmapi setup --file "$wav" --listeners "$n" --out "$tmp/paths") || { echo "wm_serve: set-up failed" >&2; tail -5 "$tmp/am.log" >&2; exit 1; }
t_setup=$(( $(date +%s) - t_setup ))
project=$(json_get project <<< "$setup")
p1=$(sed -n 1p "$tmp/paths") p2=$(sed -n 2p "$tmp/paths")
base="https://127.0.0.1:$port"
fetch() { curl -sk -H 'Range: bytes=0-' "$base$1" | sha256sum | cut -c1-16; }
fsize() { curl -sk -H 'Range: bytes=0-' -o /dev/null -w '%{size_download}' "$base$1"; }
plain_code=$(curl -sk -o /dev/null -w '%{http_code}' -H 'Range: bytes=0-' "$base${p1%%&mt=*}")
a=$(fetch "$p1") b=$(fetch "$p2") sa=$(fsize "$p1") sb=$(fsize "$p2")
[ "$a" != "$b" ] && [ "$sa" = "$sb" ] && [ "$plain_code" = 403 ] ||
  scenario_fail "marked streams not as expected: listeners' hashes $a / $b, sizes $sa / $sb, ticket-less URL $plain_code"
mark() { wmapi mark --project "$project" --on "$1" --probe "$p1" > /dev/null || scenario_fail "switching marking to $1 failed"; }
mark 0
a0=$(fetch "$p1") b0=$(fetch "$p2") s0=$(fsize "$p1")
[ "$a0" = "$b0" ] || scenario_fail "with marking off two listeners got different bytes"
# one wrk run: KEY (on|off) C
run() {
  local t0 dt; t0=$(cpu_ticks "$AM_PID")
  wrk -t2 -c"$2" -d"${secs}s" --timeout 30s -H 'Range: bytes=0-' -s bench/rotate.lua "$base" -- "$tmp/paths" 2 > "$tmp/wrk" 2>&1
  dt=$(( $(cpu_ticks "$AM_PID") - t0 ))
  cpu_per_gib "$dt" "$(wrk_total_bytes "$tmp/wrk")" >> "$tmp/cpu_$1$2"
  awk -v t="$dt" -v hz="$CLK_TCK" '$2 == "requests" && $3 == "in" {n = $1} END {if (n > 0) printf "%.3f\n", t / hz * 1000 / n}' "$tmp/wrk" >> "$tmp/req_$1$2"
  wrk_mibps "$tmp/wrk" >> "$tmp/mib_$1$2"; wrk_rps "$tmp/wrk" >> "$tmp/rps_$1$2"
  wrk_check "$tmp/wrk" "c$2" "marking $1, run $r"
}
for c in 4 64; do
  for r in $(seq "$reps"); do
    mark 1; run on "$c"
    mark 0; run off "$c"
  done
done
load1=$(loadavg)
echo "Load average: $load0 at start, $load1 at the end (other work on the machine: figures are noisy). wrk -t2, ${secs} s per run, $n listeners' URLs in rotation, medians of $reps, min–max in brackets, marking on and off alternating. Stream of a 120 s upload (48 kHz/24-bit): marked splice $sa bytes (44.1 kHz, A and B padded to one layout), plain rendition $s0 bytes (48 kHz). Set-up (upload, transcode, mark_ab, $n tickets): ${t_setup} s."
echo
echo "| measure | marked (each request another listener's splice) | plain (marking off, the same URLs) | ratio marked / plain |"
echo "|---|---|---|---|"
for c in 4 64; do
  row_check "c$c"
  read -r m mmin mmax < <(stats < "$tmp/mib_on$c"); read -r p pmin pmax < <(stats < "$tmp/mib_off$c")
  read -r rm rmin rmax < <(stats < "$tmp/rps_on$c"); read -r rp rpmin rpmax < <(stats < "$tmp/rps_off$c")
  read -r cm cmin cmax < <(stats < "$tmp/cpu_on$c"); read -r cp cpmin cpmax < <(stats < "$tmp/cpu_off$c")
  read -r qm qmin qmax < <(stats < "$tmp/req_on$c"); read -r qp qpmin qpmax < <(stats < "$tmp/req_off$c")
  bad=${ROW_BAD:+ — **FAIL**: $ROW_BAD}
  echo "| Range stream, $c connections, MiB/s$bad | $m ($mmin–$mmax) | $p ($pmin–$pmax) | $(ratio "$(med "$tmp/mib_on$c")" "$(med "$tmp/mib_off$c")") |"
  echo "| … requests/s (whole streams) | $rm ($rmin–$rmax) | $rp ($rpmin–$rpmax) | $(ratio "$(med "$tmp/rps_on$c")" "$(med "$tmp/rps_off$c")") |"
  echo "| … server CPU-seconds per GiB served | $cm ($cmin–$cmax) | $cp ($cpmin–$cpmax) | $(ratio "$(med "$tmp/cpu_on$c")" "$(med "$tmp/cpu_off$c")") |"
  echo "| … server CPU-ms per listener's whole stream (per request) | $qm ($qmin–$qmax) | $qp ($qpmin–$qpmax) | $(ratio "$(med "$tmp/req_on$c")" "$(med "$tmp/req_off$c")") |"
done
bench_exit
