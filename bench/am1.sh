#!/usr/bin/env bash
# AM1 crypto (issue 3): AM1 encrypt/decrypt throughput per core against
# `openssl speed -evp aes-256-gcm -bytes 16384` in the same run, alternating,
# BENCH_REPS repetitions (default 3); medians, min-max and ratios as markdown
# rows. Object sizes: 1 MiB (cache-resident, like openssl's 16 KiB buffer)
# and 64 MiB (memory-bound). Then the peak RSS of a 10 MiB and a 2 GiB object
# streamed through the writer into a null sink (constant memory).
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
reps=${BENCH_REPS:-3}
bin=${BENCH_BUILD:-build/release/bench}/am1_speed
secs=${AM1_SECONDS:-3}
[ -x "$bin" ] || { echo "am1.sh: $bin not built (make bench)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for r in $(seq "$reps"); do
  openssl speed -evp aes-256-gcm -bytes 16384 -seconds "$secs" 2>/dev/null |
    awk '/^(AES-256-GCM|aes-256-gcm)/ {v=$NF; sub("k","",v); printf "%.1f\n", v*1000/1e6}' >> "$tmp/ossl"
  "$bin" enc "$secs" 1  | awk '{print $2}' >> "$tmp/enc1"
  "$bin" dec "$secs" 1  | awk '{print $2}' >> "$tmp/dec1"
  "$bin" enc "$secs" 64 | awk '{print $2}' >> "$tmp/enc64"
  "$bin" dec "$secs" 64 | awk '{print $2}' >> "$tmp/dec64"
done
read -r om omin omax < <(stats < "$tmp/ossl")
echo "| measure | median | min–max | vs openssl speed (median $om MB/s) |"
echo "|---|---|---|---|"
echo "| openssl speed -evp aes-256-gcm -bytes 16384 | $om MB/s | $omin–$omax | 1.00 |"
for m in enc1 dec1 enc64 dec64; do
  read -r med mn mx < <(stats < "$tmp/$m")
  case $m in enc1) l="AM1 encrypt, 1 MiB object";; dec1) l="AM1 decrypt, 1 MiB object";;
    enc64) l="AM1 encrypt, 64 MiB object";; dec64) l="AM1 decrypt, 64 MiB object";; esac
  echo "| $l | $med MB/s | $mn–$mx | $(ratio "$med" "$om") |"
done
r10=$("$bin" stream 10 | awk '{print $2}')
r2g=$("$bin" stream 2048 | awk '{print $2}')
echo "| peak RSS, 10 MiB object streamed | $r10 KiB | | |"
echo "| peak RSS, 2 GiB object streamed | $r2g KiB | | difference $(( (r2g - r10) )) KiB |"
