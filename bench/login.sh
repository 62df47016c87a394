#!/usr/bin/env bash
# Owner logins (issue 5) at the configured Argon2id cost (the defaults of
# `audiomus serve`, read from its help) against the raw cost of the hash:
# bench/argon2_ref runs libsodium's crypto_pwhash_str_verify with the same
# parameters in one thread per core (the server runs at most one hash per core
# at a time), so the ratio is our overhead over the hash itself (TLS
# handshake, JSON, throttling, session row, cookie).
# audiomus: bench/logins.mjs, LOGIN_CONCURRENCY (default 4 = 2 per core, inside
# the server's queue of 4 per core) loops of real logins over new TLS
# connections for LOGIN_SECONDS (default 6), alternating with the reference,
# BENCH_REPS runs: logins/s medians, min-max, ratio, peak RSS of each. Then a
# burst of 16 concurrent logins for 3 s (more than the queue takes: the
# surplus gets 503 + Retry-After): its answers and the peak RSS.
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
reps=${BENCH_REPS:-3}
secs=${LOGIN_SECONDS:-6}
conc=${LOGIN_CONCURRENCY:-4}
ref=${BENCH_BUILD:-build/release/bench}/argon2_ref
[ -x "$ref" ] || { echo "login.sh: $ref not built (make bench)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/am-bench-login.XXXXXX)
trap 'am_stop; kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(bench_port)
load0=$(loadavg)
help=$("$AUDIOMUS_BIN" --help 2>&1)
ops=$(awk '/argon2_opslimit/ {gsub(/[^0-9]/, "", $NF); print $NF}' <<< "$help")
memtxt=$(awk '/argon2_memlimit/ {v=$NF; gsub(/[")]/, "", v); print v}' <<< "$help")
mem=$(awk -v v="$memtxt" 'BEGIN {n = v + 0; u = substr(v, length(v));
  f = (u == "G") ? 1073741824 : (u == "M") ? 1048576 : (u == "K") ? 1024 : 1; printf "%d", n * f}')
[ -n "$ops" ] && [ "$mem" -gt 0 ] || { echo "login.sh: cannot read the Argon2id defaults from --help" >&2; exit 1; }

"$AUDIOMUS_BIN" init --data "$tmp/data" > /dev/null 2>&1 || { echo "login.sh: init failed" >&2; exit 1; }
bench_users "$tmp/data" 4 || exit 1  # at the default cost: no re-hash at login
am_start "$tmp/data" "$port" "$tmp/am.log" || exit 1
idle=$(rss_kib "$AM_PID")
for r in $(seq "$reps"); do
  rss_watch_start "$AM_PID" "$tmp/rss"
  node bench/logins.mjs --port "$port" --password "$BENCH_PASSWORD" --users 4 --concurrency "$conc" \
    --seconds "$secs" --net $(( 10 + r )) > "$tmp/l.json"
  rss_watch_stop >> "$tmp/amrss"
  json_get per_s < "$tmp/l.json" >> "$tmp/am"
  json_get p99_ms < "$tmp/l.json" >> "$tmp/amp99"
  ok=$(json_get ok < "$tmp/l.json"); st=$(json_get statuses < "$tmp/l.json")
  [ "$st" = "{\"200\":$ok}" ] && [ "${ok:-0}" -gt 0 ] || fail_note login "run $r: answers other than 200: $st"
  "$ref" "$ops" "$mem" "$(nproc)" "$secs" > "$tmp/ref.out" || exit 1
  awk '{print $2}' "$tmp/ref.out" >> "$tmp/ref"; awk '{print $4}' "$tmp/ref.out" >> "$tmp/refrss"
done
rss_watch_start "$AM_PID" "$tmp/rss"
node bench/logins.mjs --port "$port" --password "$BENCH_PASSWORD" --users 4 --concurrency 16 --seconds 3 \
  --net 20 > "$tmp/burst.json"
burst_rss=$(rss_watch_stop)
hwm=$(vm_hwm_kib "$AM_PID")
read -r am amin amax < <(stats < "$tmp/am")
read -r rf rmin rmax < <(stats < "$tmp/ref")
read -r p99 _ _ < <(stats < "$tmp/amp99")
read -r ar _ _ < <(stats_int < "$tmp/amrss"); read -r rr _ _ < <(stats_int < "$tmp/refrss")
echo "Argon2id opslimit $ops, memlimit $memtxt (the defaults). Load average at start: $load0 (other work on the machine: figures are noisy). Medians of $reps, min–max in brackets."
echo
echo "| measure | audiomus | libsodium alone (argon2_ref, $(nproc) threads) | ratio | peak RSS audiomus / reference (MiB) |"
echo "|---|---|---|---|---|"
row_check login
echo "| owner logins per second, $conc concurrent, new TLS connection each (p99 ${p99} ms)${ROW_BAD:+ — **FAIL**: $ROW_BAD} | $am ($amin–$amax) | $rf ($rmin–$rmax) verifies/s | $(ratio "$am" "$rf") | $(mib "$ar") / $(mib "$rr") (idle $(mib "$idle")) |"
echo "| burst: 16 concurrent logins for 3 s: answers $(json_get statuses < "$tmp/burst.json") | $(json_get per_s < "$tmp/burst.json" | xargs printf '%.1f') logins/s | – | – | $(mib "$burst_rss") (VmHWM over the whole run $(mib "$hwm")) |"
bench_exit
