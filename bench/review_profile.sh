#!/usr/bin/env bash
# Instruction profile of the uncached review API (issue 25): where the
# instructions of one `GET /api/v1/s/{token}` go when the view cache misses.
# Wall-clock figures are meaningless on a shared machine; instruction counts
# are not. Set-up as bench/review_api.sh (bench/amapi.mjs: 10 tracks of a
# 2-second WAV, PROFILE_COMMENTS (default 200) owner comments, PROFILE_LINKS
# (default 200) named links), then `audiomus serve` again under
# valgrind --tool=callgrind. curl asks for every link once over one
# keep-alive TLS connection (warm-up: page_open events written, caches of
# the process filled), callgrind's counters are zeroed, every link is asked
# for once more (each link once: the view cache's 32 direct-mapped slots
# miss), and the counters are dumped. Prints instructions per request in
# total and inclusive in the functions that matter (a function's callees
# are counted in it, so the rows overlap: see docs/benchmarks.md).
#   bench/review_profile.sh [OUTDIR]   (PROFILE_KEEP=DIR reuses a set-up data directory)
#   bench/review_profile.sh --report OUTDIR [N]   (the table of an earlier run)
# `make bench` runs it too (bench/run takes every bench/*.sh; valgrind is a
# test package, and the run takes a few minutes); loopback only;
# AUDIOMUS_BIN as in bench/run.
set -uo pipefail
cd "$(dirname "$0")/.."
AUDIOMUS_BIN=${AUDIOMUS_BIN:-build/release/audiomus}
. bench/lib.sh
# report DIR N: the table of DIR/callgrind.out.1 (N requests).
report() {
  local out=$1 n=$2 f=$1/callgrind.out.1 total v fn
  [ -s "$f" ] || { echo "review_profile: no callgrind dump" >&2; exit 1; }
  callgrind_annotate --inclusive=yes --threshold=100 "$f" > "$out/inclusive.txt" 2>/dev/null
  total=$(sed -n 's/^\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' "$out/inclusive.txt" | tr -d ,)
  echo "requests: $n (each link once, one keep-alive TLS connection, after a warm-up pass)"
  echo "instructions per request, whole process: $((total / n))"
  echo
  echo "| where (inclusive of callees) | instructions per request | share |"
  echo "|---|---|---|"
  for fn in ${PROFILE_FUNCS:-api_guest_open resolve db_project_get_by_id view_build api_tracks_json \
      api_gtracks_load api_gtracks_write api_view_head_write db_track_list db_version_list db_object_find \
      api_media_index_load db_object_ready_refs api_comments_json \
      api_comments_write db_comment_list comment_row crypto_field_open crypto_field_open_to comment_item api_comment_write \
      json_dump_callback json_delete repo_project_key crypto_field_key_project view_send \
      access_url_sign_nonce crypto_mac api_view_make api_view_adopt api_open_is_new sqlite3_step \
      gnutls_record_send}; do
    v=$(grep -E "^ *[0-9,]+ \([ 0-9.]+%\)  [^ ]*:$fn " "$out/inclusive.txt" | head -1 | awk '{print $1}' | tr -d ,)
    [ -n "$v" ] || continue
    echo "| $fn | $((v / n)) | $(awk -v a="$v" -v b="$total" 'BEGIN {printf "%.1f %%", 100 * a / b}') |"
  done
}
if [ "${1:-}" = --report ]; then report "$2" "${3:-200}"; trap - EXIT; exit 0; fi
out=${1:-$(mktemp -d /tmp/am-prof.XXXXXX)}
ncom=${PROFILE_COMMENTS:-200} nlinks=${PROFILE_LINKS:-200}
data=${PROFILE_KEEP:-$out/data}
mkdir -p "$out"
trap 'am_stop; kill $(jobs -p) 2>/dev/null; wait 2>/dev/null' EXIT
port=$(bench_port)
if [ ! -s "$data/links" ]; then
  "$AUDIOMUS_BIN" init --data "$data" > /dev/null 2>&1 || { echo "review_profile: init failed" >&2; exit 1; }
  bench_users "$data" 1 "${FAST_ARGON[@]}" || exit 1
  wav=$(bench_wav 2)
  am_start "$data" "$port" "$out/setup.log" "${FAST_ARGON[@]}" || exit 1
  amapi review "$port" "$data" 0 --tracks 10 --comments "$ncom" --file "$wav" --title "profile" --wait 300 \
    --links "$nlinks" --links-out "$data/links.tmp" > "$out/setup.json" ||
    { echo "review_profile: set-up failed" >&2; exit 1; }
  mv "$data/links.tmp" "$data/links"
  am_stop
fi
n=$(wc -l < "$data/links")
rm -f "$out"/callgrind.out*
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
  "$AUDIOMUS_BIN" serve --data "$data" --listen "127.0.0.1:$port" >> "$out/serve.log" 2>&1 &
AM_PID=$!
wait_200 "https://127.0.0.1:$port/healthz" 120 || { tail -5 "$out/serve.log" >&2; exit 1; }
# pass: every link once, one connection; each answer must be 200.
pass() {
  local args=() p
  while read -r p; do args+=(-o /dev/null -w '%{http_code}\n' "https://127.0.0.1:$port$p"); done < "$data/links"
  curl -sk "${args[@]}" > "$out/codes"
  [ "$(grep -c '^200$' "$out/codes")" = "$n" ] || { echo "review_profile: not every answer was 200" >&2; exit 1; }
}
pass
callgrind_control -z "$AM_PID" > /dev/null 2>&1
pass
callgrind_control -d "$AM_PID" > /dev/null 2>&1
am_stop
report "$out" "$n"
