#!/usr/bin/env bash
# Playable in seconds (issues 20, 21): `audiomus serve` with its defaults
# (transcode_jobs = online cores, the worker woken by the queue), an owner
# uploads over tus (one PATCH each, bench/amapi.mjs playable), and each
# upload is timed from the PATCH's 204 (upload complete) to its version's
# "ready" as the API shows it (polled every 20 ms):
#   - a 5-minute 44.1 kHz/24-bit stereo WAV, PLAYABLE_RUNS times (default 5):
#     p50 and p95 (nearest rank), target p50 < 6 s;
#   - a 60-minute 44.1 kHz/24-bit mono WAV, PLAYABLE_LONG_RUNS times
#     (default 5): target p50 < 60 s;
#   - four 5-minute uploads at once, PLAYABLE_RUNS rounds: from the first 204
#     to the last "ready"; target: p50 within 2x the single file's p50;
#   - the transcoding child's peak memory (VmHWM, logged by the worker as
#     transcode_done child_peak_kib): target <= 40 MiB, and flat: the
#     60-minute file's peak within 5% of the 5-minute file's.
# Inputs are generated once into BENCH_CACHE (a tone sweep with noise, as
# bench/xcode.sh; the 60-minute file is the 5-minute mono one looped).
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${PLAYABLE_RUNS:-5} long_runs=${PLAYABLE_LONG_RUNS:-5}
tmp=$(mktemp -d /tmp/am-bench-playable.XXXXXX); chmod 755 "$tmp"
trap 'am_stop; rm -rf "$tmp"' EXIT
port=$(bench_port)
load0=$(loadavg)
mkdir -p "$BENCH_CACHE"
st=$BENCH_CACHE/playable-5min-44k24-stereo.wav mono5=$BENCH_CACHE/playable-5min-44k24-mono.wav
long=$BENCH_CACHE/playable-60min-44k24-mono.wav
sig="0.3*sin(2*PI*(220+200*sin(0.1*t))*t)+0.05*(random(0)-0.5)"
if [ ! -s "$st" ]; then
  ffmpeg -v error -y -f lavfi -i "aevalsrc='$sig|0.3*sin(2*PI*(330+150*sin(0.07*t))*t)+0.05*(random(1)-0.5)':s=44100:d=300" \
    -c:a pcm_s24le "$st.tmp.wav" && mv "$st.tmp.wav" "$st" || exit 1
fi
if [ ! -s "$long" ]; then
  ffmpeg -v error -y -f lavfi -i "aevalsrc='$sig':s=44100:d=300" -c:a pcm_s24le "$mono5" &&
    ffmpeg -v error -y -stream_loop 11 -i "$mono5" -c copy "$long.tmp.wav" && mv "$long.tmp.wav" "$long" || exit 1
fi

"$AUDIOMUS_BIN" init --data "$tmp/data" > /dev/null 2>&1 || { echo "upload_to_playable: init failed" >&2; exit 1; }
bench_users "$tmp/data" 1 "${FAST_ARGON[@]}" || exit 1
am_start "$tmp/data" "$port" "$tmp/am.log" "${FAST_ARGON[@]}" || exit 1
jobs=$(grep -o '"transcode_jobs":"[0-9]*"' "$tmp/am.log" | head -1 | tr -dc 0-9)
# playable FILE K RUNS OUT: per-upload ms to OUT.ms, per-round all_ms to OUT.all
playable() {
  amapi playable "$port" "$tmp/data" 0 --file "$1" --parallel "$2" --runs "$3" --wait 900 > "$tmp/$4.json" ||
    { fail_note "$4" "amapi playable failed (see stderr)"; return 1; }
  node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]));
    require("fs").writeFileSync(process.argv[2], j.runs.flatMap((r)=>r.ms).map((x)=>x/1000).join("\n")+"\n");
    require("fs").writeFileSync(process.argv[3], j.runs.map((r)=>r.all_ms/1000).join("\n")+"\n")' \
    "$tmp/$4.json" "$tmp/$4.ms" "$tmp/$4.all"
}
# p95 by nearest rank, unrounded
p95() { sort -g "$1" | awk '{a[NR]=$1} END {i=int(NR*0.95+0.999); if (i<1) i=1; printf "%.10g\n", a[i]}'; }
playable "$st" 1 "$runs" single
peak5=$(grep '"event":"transcode_done"' "$tmp/am.log" | grep '"duration_ms":"300000"' | grep -o '"child_peak_kib":"[0-9]*"' | tr -dc '0-9\n' | sort -n | tail -1)
playable "$long" 1 "$long_runs" long
peak60=$(grep '"event":"transcode_done"' "$tmp/am.log" | grep '"duration_ms":"3600000"' | grep -o '"child_peak_kib":"[0-9]*"' | tr -dc '0-9\n' | sort -n | tail -1)
playable "$st" 4 "$runs" four
echo "| measure (serve, transcode_jobs=$jobs on $(nproc) cores; upload complete → ready) | p50 s | p95 s | min–max s | runs | target |"
echo "|---|---|---|---|---|---|"
row() { # KEY LABEL FILE TARGET
  read -r _ mn mx < <(stats < "$tmp/$3")
  row_check "$1"
  echo "| $2 | $(med "$tmp/$3") | $(p95 "$tmp/$3") | $mn–$mx | $(wc -l < "$tmp/$3") | $(target_cell "$4") |"
}
row single "5-min 44.1 kHz/24-bit stereo WAV (79 MB)" single.ms "p50 < 6 s"
row long "60-min 44.1 kHz/24-bit mono WAV (476 MB)" long.ms "p50 < 60 s"
row four "four 5-min WAVs uploaded at once: first 204 → last ready" four.all "p50 ≤ 2× the single p50"
row four "… each of the four, its own 204 → ready" four.ms "–"
echo "| transcoding child peak memory (VmHWM), 5-min / 60-min | $(( ${peak5:-0} / 1024 )) / $(( ${peak60:-0} / 1024 )) MiB | | ${peak5:-?} / ${peak60:-?} KiB | | ≤ 40 MiB, flat (within 5%) |"
echo
echo "Load average at start: $load0, at the end: $(loadavg) (other work on the machine makes these figures noisy)."
s50=$(med "$tmp/single.ms") l50=$(med "$tmp/long.ms") f50=$(med "$tmp/four.all")
row_check single; grade "upload → ready, 5-min stereo WAV: p50 < 6 s (21)" "p50 $s50 s, p95 $(p95 "$tmp/single.ms") s" "$(lt "$s50" 6)" "$ROW_BAD"
row_check long; grade "upload → ready, 60-min mono WAV: p50 < 60 s (21)" "p50 $l50 s" "$(lt "$l50" 60)" "$ROW_BAD"
row_check four; grade "four 5-min uploads at once: all ready ≤ 2× single (21)" "p50 $f50 s vs 2 × $s50 s" "$(le "$f50" "$(awk -v s="$s50" 'BEGIN {print 2 * s}')")" "$ROW_BAD"
flat=$(awk -v a="${peak5:-0}" -v b="${peak60:-0}" 'BEGIN {d = b - a; if (d < 0) d = -d; print (a > 0 && b > 0 && d <= a * 0.05) ? 1 : 0}')
grade "transcode child peak ≤ 40 MiB and flat with duration (21)" "${peak5:-?} KiB (5 min), ${peak60:-?} KiB (60 min)" \
  "$(( $(le "${peak5:-99999999}" 40960) && $(le "${peak60:-99999999}" 40960) && flat ))"
bench_exit
