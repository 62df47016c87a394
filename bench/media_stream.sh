#!/usr/bin/env bash
# Encrypted Range streaming (issue 6) against nginx serving the same bytes in
# plaintext over TLS, then 1,000 slow downloaders + 200 slow uploaders.
#
# audiomus: `serve` on loopback; an owner (audiomus user add) creates a
# project and a track through the JSON API and uploads a 64 MiB WAV through
# the signed tus URL (bench/amapi.mjs); once the worker made the version
# ready, the guest API hands out a signed download URL (d=1: the ORIGINAL,
# 64 MiB, AM1-encrypted at rest, decrypted per 64 KiB segment on the fly).
# nginx (Debian, 2 workers, the same self-signed certificate) serves the same
# WAV file from disk. wrk (-t2, keep-alive, `Range: bytes=0-`, so 206 with the
# whole object) with 4 and 64 connections for STREAM_SECONDS (default 8) per
# run, audiomus and nginx alternating, BENCH_REPS runs: MiB/s medians, min-max,
# ratio (target >= 0.9x nginx), the peak RSS of each server during its run and
# its CPU-seconds per GiB served (issue 25: user + system from /proc/PID/stat
# before and after the run, nginx with its workers; target <= 1.1x nginx's).
# MiB/s from the exact byte count and duration (bench/wrk_bytes.lua).
# nginx is limited to the suite audiomus picks (TLS_AES_128_GCM_SHA256, lib.sh
# ng_start) and both are checked to negotiate the same suite first (tls_same);
# a difference, or wrk socket errors or non-2xx/3xx answers, fail the row.
#
# Slow clients: the server is restarted (clean VmHWM), then bench/slowclients.mjs
# opens 1,000 TLS downloads of the same URL read at 16 KiB/s and 200 tus PATCHes
# sending 16 KiB/s (each to its own upload, 7 owners because of the per-account
# upload-creation limit), from 10 loopback source addresses, held SLOW_SECONDS
# (default 30); meanwhile curl probes /healthz every 100 ms on a new TLS
# connection. Targets: peak RSS <= 200 MiB, /healthz p99 < 50 ms.
#
# Knobs for looking into the slow part (issue 25): SLOW_ONLY=1 skips the
# streaming rows (and nginx); SLOW_TRACE=1 records the server's fsync and
# fdatasync calls during the slow run (`perf trace`) and each thread's CPU and
# run-queue wait (/proc/PID/task/*/schedstat) and prints a summary row;
# SLOW_ATTACH='CMD' runs CMD with PID in its environment (the server's) over
# the slow run and stops it with SIGINT (e.g. perf record -p "$PID" of uprobes);
# SLOW_KEEP=DIR keeps the per-probe lines (code, total, connect, TLS done,
# first byte, start time in s after the slow clients started), the trace, the
# schedstat snapshots and the server log there.
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
reps=${BENCH_REPS:-3}
secs=${STREAM_SECONDS:-8}
slow_secs=${SLOW_SECONDS:-30}
n_down=${SLOW_DOWNLOADS:-1000} n_up=${SLOW_UPLOADS:-200}
tmp=$(mktemp -d /tmp/am-bench-stream.XXXXXX); chmod 755 "$tmp"
trap 'am_stop; ng_stop; kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(bench_port); nport=$((port + 1))
load0=$(loadavg)

"$AUDIOMUS_BIN" init --data "$tmp/data" > /dev/null 2>&1 || { echo "media_stream: init failed" >&2; exit 1; }
owners=$(( (n_up + 29) / 30 + 1 ))
bench_users "$tmp/data" "$owners" "${FAST_ARGON[@]}" || exit 1
wav=$(bench_wav 233)  # 48 kHz/24-bit stereo: 64.0 MiB
size=$(stat -c %s "$wav")
am_start "$tmp/data" "$port" "$tmp/am.log" "${FAST_ARGON[@]}" || exit 1
setup=$(amapi stream "$port" "$tmp/data" 0 --file "$wav" --wait 300) || { echo "media_stream: set-up failed" >&2; exit 1; }
down=$(json_get download <<< "$setup")
cert=$tmp/data/tls/cert.pem key=$tmp/data/tls/key.pem
mkdir -p "$tmp/ng/html"; cp "$wav" "$tmp/ng/html/obj.wav"; chmod 644 "$tmp/ng/html/obj.wav"
ng_start "$tmp/ng" "$nport" "$cert" "$key" "" || exit 1
am_url="https://127.0.0.1:$port$down" ng_url="https://127.0.0.1:$nport/obj.wav"
# Both serve exactly the file's bytes.
want=$(sha256sum < "$wav")
for u in "$am_url" "$ng_url"; do
  got=$(curl -sk -H 'Range: bytes=0-' "$u" | sha256sum)
  [ "$got" = "$want" ] || { echo "media_stream: $u does not return the file" >&2; exit 1; }
done

tls_same "$port" "$nport" s4 s64

slow_only=${SLOW_ONLY:-0}
[ "$slow_only" = 1 ] && streams= || streams="4 64"
for c in $streams; do
  for r in $(seq "$reps"); do
    rss_watch_start "$AM_PID" "$tmp/rss"; t0=$(cpu_ticks "$AM_PID")
    wrk -t2 -c"$c" -d"${secs}s" --timeout 30s -s bench/wrk_bytes.lua -H 'Range: bytes=0-' "$am_url" > "$tmp/wrk" 2>&1
    cpu_per_gib $(( $(cpu_ticks "$AM_PID") - t0 )) "$(wrk_total_bytes "$tmp/wrk")" >> "$tmp/amcpu$c"
    rss=$(rss_watch_stop); wrk_mibps "$tmp/wrk" >> "$tmp/am$c"; echo "$rss" >> "$tmp/amrss$c"
    wrk_check "$tmp/wrk" "s$c" "audiomus run $r"
    rss_watch_start "$NG_PID" "$tmp/rss" tree; t0=$(cpu_ticks "$NG_PID" tree)
    wrk -t2 -c"$c" -d"${secs}s" --timeout 30s -s bench/wrk_bytes.lua -H 'Range: bytes=0-' "$ng_url" > "$tmp/wrk" 2>&1
    cpu_per_gib $(( $(cpu_ticks "$NG_PID" tree) - t0 )) "$(wrk_total_bytes "$tmp/wrk")" >> "$tmp/ngcpu$c"
    rss=$(rss_watch_stop); wrk_mibps "$tmp/wrk" >> "$tmp/ng$c"; echo "$rss" >> "$tmp/ngrss$c"
    wrk_check "$tmp/wrk" "s$c" "nginx run $r"
  done
done
ng_stop

# Slow clients: upload URLs first (30 per owner), then a fresh server process.
: > "$tmp/uplist"
for u in $(seq 1 $((owners - 1))); do
  amapi uploads "$port" "$tmp/data" "$u" --count 30 --size "$size" | json_get urls |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).join("\n")))' >> "$tmp/uplist" ||
    { echo "media_stream: upload URLs failed" >&2; exit 1; }
done
am_stop
am_start "$tmp/data" "$port" "$tmp/am.log" "${FAST_ARGON[@]}" || exit 1
idle_rss=$(rss_kib "$AM_PID")
cpu_cs() { awk '{print $14 + $15}' "/proc/$AM_PID/stat"; }  # user + system, 1/100 s
cpu0=$(cpu_cs)
rss_watch_start "$AM_PID" "$tmp/rss"
# schedstat per thread: CPU ns, run-queue wait ns, time slices.
sched_snap() { for t in /proc/"$AM_PID"/task/*; do echo "${t##*/} $(cat "$t/schedstat" 2>/dev/null)"; done; }
if [ "${SLOW_TRACE:-0}" = 1 ]; then
  sched_snap > "$tmp/sched0"
  perf trace -e fsync,fdatasync -p "$AM_PID" -o "$tmp/fsync.trace" 2> /dev/null & trace_pid=$!
  sleep 1
fi
if [ -n "${SLOW_ATTACH:-}" ]; then
  PID=$AM_PID bash -c "exec $SLOW_ATTACH" & attach_pid=$!
  sleep 1
fi
slow_t0=$(date +%s.%N)
/usr/bin/time -f '%U %S' -o "$tmp/client.time" node bench/slowclients.mjs --port "$port" --down "$down" --uplist "$tmp/uplist" --downloads "$n_down" \
  --uploads "$n_up" --rate 16384 --seconds "$slow_secs" --ramp 5 --addrs 10 > "$tmp/slow.json" &
slow=$!
sleep 1
( end=$(( $(date +%s) + slow_secs + 3 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    t=$(date +%s.%N)
    curl -sk -o /dev/null --max-time 5 -w "%{http_code} %{time_total} %{time_connect} %{time_appconnect} %{time_starttransfer} $t\n" \
      "https://127.0.0.1:$port/healthz" >> "$tmp/health"
    sleep 0.1
  done ) &
probe=$!
load_mid=
sleep $(( slow_secs / 2 )); load_mid=$(loadavg)
wait "$slow"; wait "$probe"
if [ "${SLOW_TRACE:-0}" = 1 ]; then
  sched_snap > "$tmp/sched1"; kill -INT "$trace_pid" 2>/dev/null; wait "$trace_pid" 2>/dev/null
fi
[ -n "${SLOW_ATTACH:-}" ] && { kill -INT "$attach_pid" 2>/dev/null; wait "$attach_pid" 2>/dev/null; }
hwm=$(vm_hwm_kib "$AM_PID")
cpu1=$(cpu_cs)
slow_rss=$(rss_watch_stop)
am_stop  # the access log lines of the cut downloads are written now
if [ -n "${SLOW_KEEP:-}" ]; then
  mkdir -p "$SLOW_KEEP"
  cp "$tmp/health" "$tmp/am.log" "$tmp/slow.json" "$SLOW_KEEP/"
  echo "$slow_t0" > "$SLOW_KEEP/slow_t0"
  [ "${SLOW_TRACE:-0}" = 1 ] && cp "$tmp/fsync.trace" "$tmp/sched0" "$tmp/sched1" "$SLOW_KEEP/"
fi
# Bytes the server produced for the slow downloads (access log) against what
# the clients read: the difference waited in kernel socket buffers.
produced=$(grep '"path":"/m/{object}"' "$tmp/am.log" | tail -n "$n_down" |
  sed -n 's/.*"bytes":"\([0-9]*\)".*/\1/p' | awk '{s += $1} END {printf "%.0f", s / 1048576}')
awk '$1 == 200 {print $2 * 1000}' "$tmp/health" | pctl > "$tmp/hp"
read -r h50 h99 hmax hn < "$tmp/hp"
h99raw=$(awk '$1 == 200 {print $2 * 1000}' "$tmp/health" | p99_raw)
hbad=$(awk '$1 != 200' "$tmp/health" | wc -l)
# Where a probe waits (issue 25): TCP connect (the kernel's accept queue and
# the client's own start), the TLS handshake (served by an HTTP thread
# between its other connections' work) and the request to its first byte.
phase() { awk -v a="$1" -v b="$2" '$1 == 200 {print ($a - (b ? $b : 0)) * 1000}' "$tmp/health" | pctl | awk '{print $1 " / " $2 " / " $3}'; }
hphases="connect $(phase 3 0) · TLS $(phase 4 3) · request $(phase 5 4)"
# When the slow probes started: in the ramp (the first 5 s of the slow
# clients, when 1,200 connections arrive) or after it.
hslow=$(awk -v t0="$slow_t0" '$1 == 200 && $2 * 1000 > 15 {n++; if ($6 - t0 < 5) r++}
  END {printf "%d, %d of them in the ramp", n, r}' "$tmp/health")
sj=$(cat "$tmp/slow.json")
# perf trace lines: ' 0.123 ( 4.567 ms): MHD-worker/TID fsync(fd: 12) = 0' (a call
# interrupted by another event is split into a line with an empty duration and a
# '... [continued]: fsync())' line with it; the name is the thread's).
slow_trace_summary() {
  awk '{tid = ""; for (i = 1; i <= NF; i++) if ($i ~ /^[^ ]+\/[0-9]+$/) {tid = $i; break}
        if (tid == "") next
        d = 0; if (match($0, /\( *[0-9.]+ ms\)/)) {v = substr($0, RSTART + 1, RLENGTH - 5); d = v + 0}
        ms[tid] += d; MS += d
        if ($0 !~ /\[continued\]/) {n[tid]++; N++}}
    END {for (t in n) printf "%s: %d / %.0f; ", t, n[t], ms[t]; printf "total %d / %.0f ms", N, MS}' "$tmp/fsync.trace"
  printf '; '
  join <(sort "$tmp/sched0") <(sort "$tmp/sched1") |
    awk '{printf "%s %.2f %.2f\n", $1, ($5 - $2) / 1e9, ($6 - $3) / 1e9}' | sort -k2 -gr | head -2 |
    awk '{printf "%s%s: %s / %s", (NR > 1 ? ", " : ""), $1, $2, $3}'
}
sget() { json_get "$1" <<< "$sj"; }

echo "Load average: $load0 at start, $load_mid during the slow-client run (other work on the machine: figures are noisy). wrk -t2, ${secs} s per run, medians of $reps, min–max in brackets. Object: ${size} bytes (64 MiB WAV), audiomus streams the AM1-encrypted original (d=1) decrypted on the fly; nginx the plaintext file. $TLS_NOTE"
echo
echo "CPU per GiB: the server's user + system CPU-seconds during its wrk run (/proc/PID/stat; nginx: master and workers) over the GiB wrk read (bench/wrk_bytes.lua); the ratio column is audiomus / nginx (lower is better)."
echo
echo "| measure | audiomus | nginx (plaintext file) | ratio | peak RSS audiomus / nginx (MiB) | target |"
echo "|---|---|---|---|---|---|"
figs= bads= ok=1 cfigs= cok=1
for c in $streams; do
  read -r am amin amax < <(stats < "$tmp/am$c")
  read -r ng nmin nmax < <(stats < "$tmp/ng$c")
  read -r ac acmin acmax < <(stats < "$tmp/amcpu$c"); read -r nc ncmin ncmax < <(stats < "$tmp/ngcpu$c")
  read -r ar _ _ < <(stats_int < "$tmp/amrss$c"); read -r nr _ _ < <(stats_int < "$tmp/ngrss$c")
  row_check "s$c"
  echo "| 64 MiB Range stream over TLS, $c clients, MiB/s, both TLS_AES_128_GCM_SHA256 | $am ($amin–$amax) | $ng ($nmin–$nmax) | $(ratio "$am" "$ng") | $(mib "$ar") / $(mib "$nr") | $(target_cell "≥ 0.9×") |"
  echo "| … the same runs: server CPU-seconds per GiB served | $ac ($acmin–$acmax) | $nc ($ncmin–$ncmax) | $(ratio "$ac" "$nc") | | $(target_cell "≤ 1.1× nginx's") |"
  figs="${figs:+$figs, }$(ratio "$am" "$ng")× at $c clients ($am / $ng MiB/s)"
  cfigs="${cfigs:+$cfigs, }$(ratio "$(med "$tmp/amcpu$c")" "$(med "$tmp/ngcpu$c")")× at $c clients ($ac / $nc s/GiB)"
  [ -n "$ROW_BAD" ] && bads="${bads:+$bads; }$ROW_BAD"
  [ "$(ratio_ge "$(med "$tmp/am$c")" "$(med "$tmp/ng$c")" 0.9)" = 1 ] || ok=0
  [ "$(ratio_ge "$(med "$tmp/ngcpu$c")" "$(med "$tmp/amcpu$c")" "$(awk 'BEGIN {print 1 / 1.1}')")" = 1 ] || cok=0
done
if [ -n "$streams" ]; then
  grade "streaming ≥ 0.9× nginx, 4 and 64 clients, same TLS suite (6)" "$figs" "$ok" "$bads"
  grade "streaming CPU-seconds per GiB ≤ 1.1× nginx's, 4 and 64 clients (25)" "$cfigs" "$cok" "$bads"
fi
# Slow clients: every connection must open, none may fail.
[ "$(sget down_open)" = "$n_down" ] && [ "$(sget down_206)" = "$n_down" ] && [ "$(sget down_err)" = 0 ] &&
  [ "$(sget up_open)" = "$n_up" ] && [ "$(sget up_early_answer)" = 0 ] && [ "$(sget up_err)" = 0 ] ||
  fail_note slow "not all slow clients were served: downloads open/206/errors $(sget down_open)/$(sget down_206)/$(sget down_err), uploads open/early answers/errors $(sget up_open)/$(sget up_early_answer)/$(sget up_err)"
[ "$hbad" = 0 ] || fail_note slow "$hbad /healthz probes not 200"
[ "$hn" -gt 0 ] || fail_note slow "no /healthz probe answered 200"
row_check slow
echo "| $n_down slow downloaders + $n_up slow uploaders (16 KiB/s each, ${slow_secs} s): peak RSS (VmHWM; sampled max $(mib "$slow_rss"); idle $(mib "$idle_rss")) | $(mib "$hwm") MiB | – | – | | ≤ 200 MiB |"
echo "| /healthz on a new TLS connection during that load, ms p50 / p99 / max ($hn probes, $hbad not 200) | $h50 / $h99 / $hmax | – | – | | p99 < 50 ms |"
echo "| … where the probes waited, ms p50 / p99 / max of each phase (curl: TCP connect, TLS handshake, request to first byte) | $hphases | – | – | | |"
echo "| … probes over 15 ms; of them started in the first 5 s (the ramp) | $hslow | – | – | | |"
[ "${SLOW_TRACE:-0}" = 1 ] && echo "| … fsync + fdatasync calls during that run (perf trace): per thread, calls / ms waiting; the two busiest threads' CPU / run-queue wait, s | $(slow_trace_summary) | – | – | | |"
echo "| … the slow clients' own CPU on the same cores (user + system, s) | $(awk '{printf "%.1f", $1 + $2}' "$tmp/client.time") s | – | – | | |"
echo "| … server CPU during that run (user + system, s); MiB the server produced for the slow downloads / MiB they read | $(awk -v c=$((cpu1 - cpu0)) 'BEGIN {printf "%.1f", c / 100}') s; $produced / $(awk -v b="$(sget down_bytes)" 'BEGIN {printf "%.0f", b / 1048576}') MiB | – | – | | |"
echo "| slow clients reached: downloads open / 206 / errors; uploads open / early answers / errors | $(sget down_open) / $(sget down_206) / $(sget down_err); $(sget up_open) / $(sget up_early_answer) / $(sget up_err) | – | – | | $(target_cell "all open, 0 errors") |"
grade "$n_down slow downloaders + $n_up slow uploaders: RSS ≤ 200 MiB, \`/healthz\` p99 < 50 ms, all served (6)" \
  "$(mib "$hwm") MiB, p99 $h99 ms" "$(( $(le "$hwm" 204800) && $(lt "$h99raw" 50) ))" "$ROW_BAD"
bench_exit
