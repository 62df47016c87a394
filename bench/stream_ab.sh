#!/usr/bin/env bash
# A/B of two audiomus binaries' encrypted Range streaming, beside nginx and
# the prototype (bench/stream_proto.c, 4 records per send + an AES-256-GCM
# pass), alternating run by run on one data directory: CPU-seconds per GiB
# (server user + system, /proc/PID/stat; nginx with its workers) and MiB/s.
# Not part of `make bench` (no targets): for comparing a change by hand, e.g.
# docs/benchmarks.md "Built: the streaming loops".
# Usage: bench/stream_ab.sh OLD_BIN NEW_BIN [ROUNDS=3] [SECONDS=6]
set -uo pipefail
cd "$(dirname "$0")/.."
OLD=$(realpath "$1") NEW=$(realpath "$2") reps=${3:-3} secs=${4:-6}
export AUDIOMUS_BIN=$NEW
. bench/lib.sh
proto=${BUILD:-build/release}/bench/stream_proto
[ -x "$proto" ] || { echo "stream_ab: build $proto first (make unit-bins)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/am-ab.XXXXXX); chmod 755 "$tmp"
PROTO=
trap 'am_stop; ng_stop; [ -n "$PROTO" ] && kill "$PROTO" 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(bench_port); nport=$((port + 1)) pport=$((port + 2))
"$AUDIOMUS_BIN" init --data "$tmp/data" > /dev/null 2>&1 || exit 1
bench_users "$tmp/data" 1 "${FAST_ARGON[@]}" || exit 1
wav=$(bench_wav 233)
am_start "$tmp/data" "$port" "$tmp/am.log" "${FAST_ARGON[@]}" || exit 1
setup=$(amapi stream "$port" "$tmp/data" 0 --file "$wav" --wait 300) || exit 1
down=$(json_get download <<< "$setup")
am_stop
cert=$tmp/data/tls/cert.pem key=$tmp/data/tls/key.pem
mkdir -p "$tmp/ng/html"; cp "$wav" "$tmp/ng/html/obj.wav"; chmod 644 "$tmp/ng/html/obj.wav"
ng_start "$tmp/ng" "$nport" "$cert" "$key" "" || exit 1
"$proto" "$pport" "$cert" "$key" "$wav" 4 1 > /dev/null 2>&1 & PROTO=$!
sleep 1
one() { # NAME PID [tree] URL CLIENTS
  local t0; t0=$(cpu_ticks "$2" $3)
  wrk -t2 -c"$5" -d"${secs}s" --timeout 30s -s bench/wrk_bytes.lua -H 'Range: bytes=0-' "$4" > "$tmp/wrk" 2>&1
  printf '%-6s %2s clients: CPU-s/GiB %s  MiB/s %s %s load %s\n' "$1" "$5" \
    "$(cpu_per_gib $(( $(cpu_ticks "$2" $3) - t0 )) "$(wrk_total_bytes "$tmp/wrk")")" \
    "$(wrk_mibps "$tmp/wrk")" "$(wrk_errors "$tmp/wrk")" "$(loadavg)"
}
for c in 4 64; do
  for r in $(seq "$reps"); do
    for b in old new; do
      AUDIOMUS_BIN=$([ "$b" = old ] && echo "$OLD" || echo "$NEW")
      am_start "$tmp/data" "$port" "$tmp/am.log" "${FAST_ARGON[@]}" || exit 1
      one "$b" "$AM_PID" "" "https://127.0.0.1:$port$down" "$c"
      am_stop
    done
    one nginx "$NG_PID" tree "https://127.0.0.1:$nport/obj.wav" "$c"
    one proto "$PROTO" "" "https://127.0.0.1:$pport/obj.wav" "$c"
  done
done
