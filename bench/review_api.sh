#!/usr/bin/env bash
# Review-page data (issue 12): `GET /api/v1/s/{token}` — the guest API call
# the review page makes on every load: the project, its tracks with ready
# versions and freshly signed media URLs (stream, peaks, download), every
# comment (decrypted field by field), plus a page_open event written — against
# nginx (Debian) serving a static JSON file of the same size (a saved answer)
# over TLS with the same certificate.
# Set-up through the real API (bench/amapi.mjs): one owner, a project with 10
# tracks (a 2-second WAV each, uploaded with tus and transcoded by serve's
# worker) and REVIEW_COMMENTS (default 200) owner comments; a second project
# with REVIEW_COMMENTS_BIG (default 1000) comments shows how the cost grows.
# wrk -t2 -c64 --latency --timeout 30s (so slow answers count in p99) for REVIEW_SECONDS (default 5) per run, alternating,
# BENCH_REPS runs: req/s medians, min-max, ratio, p99, peak RSS.
# Targets: >= 0.5x nginx req/s, p99 < 20 ms at 64 connections.
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
reps=${BENCH_REPS:-3}
secs=${REVIEW_SECONDS:-5}
sizes="${REVIEW_COMMENTS:-200} ${REVIEW_COMMENTS_BIG:-1000}"
tmp=$(mktemp -d /tmp/am-bench-review.XXXXXX); chmod 755 "$tmp"
trap 'am_stop; ng_stop; kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(bench_port); nport=$((port + 1))
load0=$(loadavg)

"$AUDIOMUS_BIN" init --data "$tmp/data" > /dev/null 2>&1 || { echo "review_api: init failed" >&2; exit 1; }
bench_users "$tmp/data" 1 "${FAST_ARGON[@]}" || exit 1
wav=$(bench_wav 2)
am_start "$tmp/data" "$port" "$tmp/am.log" "${FAST_ARGON[@]}" || exit 1
cert=$tmp/data/tls/cert.pem key=$tmp/data/tls/key.pem
mkdir -p "$tmp/ng/html"
for n in $sizes; do
  setup=$(amapi review "$port" "$tmp/data" 0 --tracks 10 --comments "$n" --file "$wav" --title "review $n" --wait 300) ||
    { echo "review_api: set-up failed" >&2; exit 1; }
  path=$(json_get guest_path <<< "$setup"); echo "$path" > "$tmp/path$n"
  [ "$(json_get comments <<< "$setup")" = "$n" ] && [ "$(json_get tracks <<< "$setup")" = 10 ] ||
    { echo "review_api: the guest API does not show 10 tracks and $n comments: $setup" >&2; exit 1; }
  curl -sk "https://127.0.0.1:$port$path" > "$tmp/ng/html/review$n.json"
  chmod 644 "$tmp/ng/html/review$n.json"
done
ng_start "$tmp/ng" "$nport" "$cert" "$key" "" || exit 1

for n in $sizes; do
  am_url="https://127.0.0.1:$port$(cat "$tmp/path$n")" ng_url="https://127.0.0.1:$nport/review$n.json"
  for r in $(seq "$reps"); do
    rss_watch_start "$AM_PID" "$tmp/rss"
    wrk -t2 -c64 -d"${secs}s" --timeout 30s --latency "$am_url" > "$tmp/wrk" 2>&1
    echo "$(rss_watch_stop)" >> "$tmp/amrss$n"
    wrk_rps "$tmp/wrk" >> "$tmp/am$n"; wrk_p99_ms "$tmp/wrk" >> "$tmp/amp$n"
    e=$(wrk_errors "$tmp/wrk"); [ -n "$e" ] && echo "review_api: audiomus $n: $e" >&2
    rss_watch_start "$NG_PID" "$tmp/rss" tree
    wrk -t2 -c64 -d"${secs}s" --timeout 30s --latency "$ng_url" > "$tmp/wrk" 2>&1
    echo "$(rss_watch_stop)" >> "$tmp/ngrss$n"
    wrk_rps "$tmp/wrk" >> "$tmp/ng$n"; wrk_p99_ms "$tmp/wrk" >> "$tmp/ngp$n"
    e=$(wrk_errors "$tmp/wrk"); [ -n "$e" ] && echo "review_api: nginx $n: $e" >&2
  done
done
echo "Load average at start: $load0, at the end: $(loadavg) (other work on the machine: figures are noisy). wrk -t2 -c64 --latency, ${secs} s per run, medians of $reps, min–max in brackets."
echo
echo "| measure | audiomus | nginx (static JSON, same size) | ratio | p99 ms audiomus / nginx | peak RSS audiomus / nginx (MiB) | target |"
echo "|---|---|---|---|---|---|---|"
for n in $sizes; do
  read -r am amin amax < <(stats < "$tmp/am$n")
  read -r ng nmin nmax < <(stats < "$tmp/ng$n")
  read -r ap _ _ < <(stats < "$tmp/amp$n"); read -r np _ _ < <(stats < "$tmp/ngp$n")
  read -r ar _ _ < <(stats_int < "$tmp/amrss$n"); read -r nr _ _ < <(stats_int < "$tmp/ngrss$n")
  echo "| GET /api/v1/s/{token}: 10 tracks, $n comments, fresh signed URLs ($(stat -c %s "$tmp/ng/html/review$n.json") bytes), req/s | $am ($amin–$amax) | $ng ($nmin–$nmax) | $(ratio "$am" "$ng") | $ap / $np | $(mib "$ar") / $(mib "$nr") | ≥ 0.5×, p99 < 20 ms |"
done
