#!/usr/bin/env bash
# Review-page data (issue 12): `GET /api/v1/s/{token}` — the guest API call
# the review page makes on every load: the project, its tracks with ready
# versions and freshly signed media URLs (stream, peaks, download), every
# comment (decrypted field by field), plus a page_open event written — against
# nginx (Debian) serving a static JSON file of the same size (a saved answer)
# over TLS with the same certificate and the same TLS suite (lib.sh ng_start;
# checked with tls_same before the runs).
# Set-up through the real API (bench/amapi.mjs): one owner, a project with 10
# tracks (a 2-second WAV each, uploaded with tus and transcoded by serve's
# worker) and REVIEW_COMMENTS (default 200) owner comments; a second project
# with REVIEW_COMMENTS_BIG (default 1000) comments shows how the cost grows.
# Each project also gets REVIEW_LINKS (default 200) named share links.
#
# Two rows per project (issue 18):
# - cached: wrk on the project's one default link. The web role keeps the
#   whole answer in its view cache (src/api/api_view.c) for up to 2 s, and
#   the key changes with the signed URLs' expiry second, so this measures
#   about one build per second and cache hits otherwise.
# - uncached: wrk with bench/rotate.lua rotating over the REVIEW_LINKS named
#   links, each wrk thread over its own half. The cache key includes the link
#   (api_view_key: project, link, revisions, flags, expiry), and the cache has
#   API_VIEW_SLOTS (32) direct-mapped slots: a link comes back after about
#   REVIEW_LINKS requests, when its slot has almost surely been taken by
#   another link (it survives only if none of the other REVIEW_LINKS-1 keys
#   maps to it: (31/32)^199 = 0.18 % for 200 links). The server has no hit
#   counter; the expected rate is printed with the slot count read from the
#   source. nginx rotates the same way over REVIEW_LINKS hard links of the
#   saved answer, so wrk's Lua costs the same on both sides.
# wrk -t2 -c64 --latency --timeout 30s (so slow answers count in p99) for
# REVIEW_SECONDS (default 5) per run, alternating, BENCH_REPS runs: req/s
# medians, min-max, ratio, p99, peak RSS. wrk socket errors or non-2xx/3xx
# answers fail the row.
# Target: >= 0.5x nginx req/s, p99 < 20 ms at 64 connections, graded on the
# uncached row with 200 comments (the 1,000-comment figures are reported
# beside it).
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
reps=${BENCH_REPS:-3}
secs=${REVIEW_SECONDS:-5}
nlinks=${REVIEW_LINKS:-200}
small=${REVIEW_COMMENTS:-200} big=${REVIEW_COMMENTS_BIG:-1000}
sizes="$small $big"
tmp=$(mktemp -d /tmp/am-bench-review.XXXXXX); chmod 755 "$tmp"
trap 'am_stop; ng_stop; kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(bench_port); nport=$((port + 1))
load0=$(loadavg)
slots=$(sed -n 's/^#define API_VIEW_SLOTS[[:space:]]*\([0-9]*\).*/\1/p' src/api/api_view.c)
slots=${slots:-32}
hit_pct=$(awk -v s="$slots" -v n="$nlinks" 'BEGIN {printf "%.2g", 100 * (1 - 1 / s) ^ (n - 1)}')
[ "$nlinks" -gt $(( slots * 4 )) ] ||
  echo "review_api: REVIEW_LINKS=$nlinks is not well above the view cache's $slots slots: the uncached row may hit" >&2

"$AUDIOMUS_BIN" init --data "$tmp/data" > /dev/null 2>&1 || { echo "review_api: init failed" >&2; exit 1; }
bench_users "$tmp/data" 1 "${FAST_ARGON[@]}" || exit 1
wav=$(bench_wav 2)
am_start "$tmp/data" "$port" "$tmp/am.log" "${FAST_ARGON[@]}" || exit 1
cert=$tmp/data/tls/cert.pem key=$tmp/data/tls/key.pem
mkdir -p "$tmp/ng/html"
for n in $sizes; do
  setup=$(amapi review "$port" "$tmp/data" 0 --tracks 10 --comments "$n" --file "$wav" --title "review $n" --wait 300 \
    --links "$nlinks" --links-out "$tmp/links$n") ||
    { echo "review_api: set-up failed" >&2; exit 1; }
  path=$(json_get guest_path <<< "$setup"); echo "$path" > "$tmp/path$n"
  [ "$(json_get comments <<< "$setup")" = "$n" ] && [ "$(json_get tracks <<< "$setup")" = 10 ] &&
    [ "$(json_get links <<< "$setup")" = "$nlinks" ] && [ "$(wc -l < "$tmp/links$n")" = "$nlinks" ] ||
    { echo "review_api: the guest API does not show 10 tracks, $n comments and $nlinks links: $setup" >&2; exit 1; }
  curl -sk "https://127.0.0.1:$port$path" > "$tmp/ng/html/review$n.json"
  chmod 644 "$tmp/ng/html/review$n.json"
  # The uncached reference: one named link's answer, hard-linked under every name.
  mkdir -p "$tmp/ng/html/miss$n"; chmod 755 "$tmp/ng/html/miss$n"
  curl -sk -o "$tmp/ng/html/miss$n/1.json" -w '%{http_code}' "https://127.0.0.1:$port$(head -1 "$tmp/links$n")" | grep -q 200 ||
    { echo "review_api: a named link does not answer 200" >&2; exit 1; }
  chmod 644 "$tmp/ng/html/miss$n/1.json"
  : > "$tmp/ngpaths$n"
  for i in $(seq 1 "$nlinks"); do
    [ "$i" = 1 ] || ln "$tmp/ng/html/miss$n/1.json" "$tmp/ng/html/miss$n/$i.json"
    echo "/miss$n/$i.json" >> "$tmp/ngpaths$n"
  done
done
ng_start "$tmp/ng" "$nport" "$cert" "$key" "" || exit 1
tls_same "$port" "$nport" $(for n in $sizes; do echo "hit$n miss$n"; done)

# run KIND N REP: one audiomus and one nginx run of a row; appends req/s, p99, RSS.
run() {
  local kind=$1 n=$2 r=$3 amargs ngargs
  if [ "$kind" = hit ]; then
    amargs=("https://127.0.0.1:$port$(cat "$tmp/path$n")") ngargs=("https://127.0.0.1:$nport/review$n.json")
  else
    amargs=(-s bench/rotate.lua "https://127.0.0.1:$port" -- "$tmp/links$n" 2)
    ngargs=(-s bench/rotate.lua "https://127.0.0.1:$nport" -- "$tmp/ngpaths$n" 2)
  fi
  rss_watch_start "$AM_PID" "$tmp/rss"
  wrk -t2 -c64 -d"${secs}s" --timeout 30s --latency "${amargs[@]}" > "$tmp/wrk" 2>&1
  echo "$(rss_watch_stop)" >> "$tmp/amrss$kind$n"
  wrk_rps "$tmp/wrk" >> "$tmp/am$kind$n"; wrk_p99_ms "$tmp/wrk" >> "$tmp/amp$kind$n"
  wrk_check "$tmp/wrk" "$kind$n" "audiomus run $r"
  rss_watch_start "$NG_PID" "$tmp/rss" tree
  wrk -t2 -c64 -d"${secs}s" --timeout 30s --latency "${ngargs[@]}" > "$tmp/wrk" 2>&1
  echo "$(rss_watch_stop)" >> "$tmp/ngrss$kind$n"
  wrk_rps "$tmp/wrk" >> "$tmp/ng$kind$n"; wrk_p99_ms "$tmp/wrk" >> "$tmp/ngp$kind$n"
  wrk_check "$tmp/wrk" "$kind$n" "nginx run $r"
}
for n in $sizes; do
  for kind in hit miss; do
    for r in $(seq "$reps"); do run "$kind" "$n" "$r"; done
  done
done

echo "Load average at start: $load0, at the end: $(loadavg) (other work on the machine: figures are noisy). wrk -t2 -c64 --latency, ${secs} s per run, medians of $reps, min–max in brackets. $TLS_NOTE"
echo "Cached rows: one share link hammered (the view cache answers; it rebuilds about once a second). Uncached rows: $nlinks named links of the project in rotation (bench/rotate.lua, each wrk thread its own half), more than the view cache's $slots direct-mapped slots, so nearly every request builds the answer (expected hit rate about ${hit_pct} %; the server exposes no hit counter); nginx rotates over $nlinks names of the saved answer."
echo
echo "| measure | audiomus | nginx (static JSON, same size) | ratio | p99 ms audiomus / nginx | peak RSS audiomus / nginx (MiB) | target |"
echo "|---|---|---|---|---|---|---|"
for n in $sizes; do
  for kind in hit miss; do
    read -r am amin amax < <(stats < "$tmp/am$kind$n")
    read -r ng nmin nmax < <(stats < "$tmp/ng$kind$n")
    read -r ap _ _ < <(stats < "$tmp/amp$kind$n"); read -r np _ _ < <(stats < "$tmp/ngp$kind$n")
    read -r ar _ _ < <(stats_int < "$tmp/amrss$kind$n"); read -r nr _ _ < <(stats_int < "$tmp/ngrss$kind$n")
    row_check "$kind$n"
    eval "bad_$kind$n=\$ROW_BAD"
    if [ "$kind" = hit ]; then
      label="cached: one link"; bytes=$(stat -c %s "$tmp/ng/html/review$n.json"); tgt="– (graded on the uncached row)"
    else
      label="**uncached**: $nlinks links in rotation"; bytes=$(stat -c %s "$tmp/ng/html/miss$n/1.json")
      if [ "$n" = "$small" ]; then tgt="≥ 0.5×, p99 < 20 ms"; else tgt="– (reported beside the $small-comment grade)"; fi
    fi
    echo "| GET /api/v1/s/{token}, $label: 10 tracks, $n comments, fresh signed URLs ($bytes bytes), req/s | $am ($amin–$amax) | $ng ($nmin–$nmax) | $(ratio "$am" "$ng") | $ap / $np | $(mib "$ar") / $(mib "$nr") | $(target_cell "$tgt") |"
  done
done
fig() { # fig KIND N: "ratio×, p99 X ms (nginx Y)"
  echo "$(ratio "$(med "$tmp/am$1$2")" "$(med "$tmp/ng$1$2")")×, p99 $(med "$tmp/amp$1$2") ms (nginx $(med "$tmp/ngp$1$2"))"
}
ok=$(( $(ratio_ge "$(med "$tmp/ammiss$small")" "$(med "$tmp/ngmiss$small")" 0.5) && $(lt "$(med "$tmp/ampmiss$small")" 20) ))
eval "bad=\$bad_miss$small"
grade "review-page data ≥ 0.5× nginx, p99 < 20 ms at 64 connections, uncached (12, 18)" \
  "uncached, $small comments: $(fig miss "$small"); $big comments: $(fig miss "$big"). Cached (one link): $(fig hit "$small") and $(fig hit "$big")" \
  "$ok" "$bad"
bench_exit
