#!/usr/bin/env bash
# Marking cost per track (issue 26, docs/watermark.md "The worker's
# renditions"): what the worker's jobs cost for a 5-minute track with marking
# off and on. Off: the transcode job (bench/xcode_bench: xcode_run, parent +
# sandboxed child: stream rendition, peaks, overview, loudness, true peak).
# On: the same transcode plus the mark_ab job (xcode_bench's `ab` mode:
# XCODE_OUT_AB, the child decodes, resamples to 44.1 kHz, marks every piece
# twice and encodes A and B in lockstep, strength 0.2, a fixed seed). The two
# run alternately, BENCH_REPS times, on the 48 kHz/24-bit stereo 5-minute WAV
# of bench/xcode.sh (XCODE_BENCH_DIR): wall time and CPU time (user + system
# of the process tree, /usr/bin/time: wait4's rusage includes the child),
# CPU-seconds per minute of audio, and the child's peak RSS as the driver
# reports it (the sandboxed child's own limit is what bounds it). Not in
# these figures: the worker's AM1 encryption of the outputs and its database
# writes (the same for both modes but for A and B being two objects).
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
reps=${BENCH_REPS:-3}
bin=${BENCH_BUILD:-build/release/bench}/xcode_bench
dir=${XCODE_BENCH_DIR:-/tmp/am-xcode-bench}
[ -x "$bin" ] || { echo "wm_mark.sh: $bin not built (make bench)" >&2; exit 1; }
mkdir -p "$dir"
in5=$dir/in-5min.wav
if [ ! -s "$in5" ]; then  # the input of bench/xcode.sh
  ffmpeg -v error -y -f lavfi -i "aevalsrc='0.3*sin(2*PI*(220+200*sin(0.1*t))*t)+0.05*(random(0)-0.5)|0.3*sin(2*PI*(330+150*sin(0.07*t))*t)+0.05*(random(1)-0.5)':s=48000:d=300" \
    -c:a pcm_s24le "$in5" || exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
load0=$(loadavg)
# run MODE KEY: one job under /usr/bin/time; wall, CPU and child RSS appended.
run() {
  /usr/bin/time -f '%e %U %S' -o "$tmp/t" "$bin" "$in5" "$tmp/a.mp4" "$tmp/b.dat" "$tmp/c.dat" $1 > "$tmp/o" ||
    { fail_note job "the $2 job failed: $(cat "$tmp/o")"; return 1; }
  awk '{print $1}' "$tmp/t" >> "$tmp/$2_wall"; awk '{print $2 + $3}' "$tmp/t" >> "$tmp/$2_cpu"
  awk '$1 == "ok" {print $5}' "$tmp/o" >> "$tmp/$2_rss"
  [ "$2" = ab ] && stat -c %s "$tmp/a.mp4" > "$tmp/ab_size"
  [ "$2" = plain ] && stat -c %s "$tmp/a.mp4" > "$tmp/plain_size"
  return 0
}
for r in $(seq "$reps"); do
  run "" plain && run ab ab || break
  # marking on = the transcode and mark_ab of this repetition
  paste "$tmp/plain_wall" "$tmp/ab_wall" | tail -1 | awk '{print $1 + $2}' >> "$tmp/on_wall"
  paste "$tmp/plain_cpu" "$tmp/ab_cpu" | tail -1 | awk '{print $1 + $2}' >> "$tmp/on_cpu"
done
row_check job
[ -n "$ROW_BAD" ] && { echo "| marking cost | **FAIL**: $ROW_BAD |"; bench_exit; }
permin() { awk -v c="$1" 'BEGIN {printf "%.3f", c / 5}'; }
echo "Load average: $load0 at start, $(loadavg) at the end (other work on the machine: figures are noisy). 5-minute 48 kHz/24-bit stereo WAV, $reps repetitions, the two modes alternating; medians, min–max in brackets."
echo
echo "| job (5 min of audio) | wall s | CPU s (user + sys) | CPU-s per minute of audio | child peak RSS, MiB (median) |"
echo "|---|---|---|---|---|"
for k in plain ab on; do
  read -r w wmin wmax < <(stats < "$tmp/${k}_wall"); read -r c cmin cmax < <(stats < "$tmp/${k}_cpu")
  case $k in
    plain) what="marking off: the transcode job (stream + peaks + overview + loudness)"
      read -r rs _ _ < <(stats_int < "$tmp/plain_rss"); rss=$(mib "$rs");;
    ab) what="the mark_ab job alone (44.1 kHz, two marks, A and B encoded in lockstep)"
      read -r rs _ _ < <(stats_int < "$tmp/ab_rss"); rss=$(mib "$rs");;
    on) what="**marking on: transcode + mark_ab**"; rss="(the larger of the two; they run one after the other)";;
  esac
  echo "| $what | $w ($wmin–$wmax) | $c ($cmin–$cmax) | $(permin "$(med "$tmp/${k}_cpu")") ($(permin "$cmin")–$(permin "$cmax")) | $rss |"
done
echo
echo "Marking on / off (medians): CPU $(ratio "$(med "$tmp/on_cpu")" "$(med "$tmp/plain_cpu")")×, wall $(ratio "$(med "$tmp/on_wall")" "$(med "$tmp/plain_wall")")×; extra CPU-s per minute of audio for marking: $(permin "$(med "$tmp/ab_cpu")"). Stream bytes: plain $(cat "$tmp/plain_size"), A (= B) $(cat "$tmp/ab_size") ($(awk -v a="$(cat "$tmp/ab_size")" -v p="$(cat "$tmp/plain_size")" 'BEGIN {printf "%+.2f %%", (a / p - 1) * 100}'); A is 44.1 kHz, the plain rendition keeps the original's 48 kHz)."
bench_exit
