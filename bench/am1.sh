#!/usr/bin/env bash
# AM1 crypto (issue 3): AM1 encrypt/decrypt throughput per core against
# `openssl speed -evp aes-256-gcm -bytes 65536` in the same run, alternating,
# BENCH_REPS repetitions (default 3); medians, min-max and ratios as markdown
# rows. 65536 bytes is AM1's segment (AM1_SEGMENT, src/crypto/crypto.h: each
# 64 KiB of plaintext is one AES-256-GCM message with its own nonce and tag),
# so openssl does per call what AM1 does per segment (issue 18: it used to be
# compared with openssl's 16 KiB calls). Object sizes: 1 MiB (cache-resident)
# and 64 MiB (memory-bound). Then the peak RSS of a 10 MiB and a 2 GiB object
# streamed through the writer into a null sink (constant memory).
# Target (issue 3): >= 0.85x openssl per core, graded on the 1 MiB object
# (encrypt and decrypt); memory constant within 1 MiB between 10 MiB and 2 GiB.
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
reps=${BENCH_REPS:-3}
bin=${BENCH_BUILD:-build/release/bench}/am1_speed
secs=${AM1_SECONDS:-3}
[ -x "$bin" ] || { echo "am1.sh: $bin not built (make bench)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for r in $(seq "$reps"); do
  openssl speed -evp aes-256-gcm -bytes 65536 -seconds "$secs" 2>/dev/null |
    awk '/^(AES-256-GCM|aes-256-gcm)/ {v=$NF; sub("k","",v); printf "%.1f\n", v*1000/1e6}' >> "$tmp/ossl"
  "$bin" enc "$secs" 1  | awk '{print $2}' >> "$tmp/enc1"
  "$bin" dec "$secs" 1  | awk '{print $2}' >> "$tmp/dec1"
  "$bin" enc "$secs" 64 | awk '{print $2}' >> "$tmp/enc64"
  "$bin" dec "$secs" 64 | awk '{print $2}' >> "$tmp/dec64"
done
read -r om omin omax < <(stats < "$tmp/ossl")
echo "| measure | median | min–max | vs openssl speed (median $om MB/s) |"
echo "|---|---|---|---|"
[ "$(med "$tmp/ossl")" != 0 ] || scenario_fail "openssl speed gave no figure"
echo "| openssl speed -evp aes-256-gcm -bytes 65536 (one AM1 segment per call) | $om MB/s | $omin–$omax | 1.000 |"
for m in enc1 dec1 enc64 dec64; do
  read -r med mn mx < <(stats < "$tmp/$m")
  case $m in enc1) l="AM1 encrypt, 1 MiB object";; dec1) l="AM1 decrypt, 1 MiB object";;
    enc64) l="AM1 encrypt, 64 MiB object";; dec64) l="AM1 decrypt, 64 MiB object";; esac
  echo "| $l | $med MB/s | $mn–$mx | $(ratio "$med" "$om") |"
done
o=$(med "$tmp/ossl")
e1=$(med "$tmp/enc1") d1=$(med "$tmp/dec1") e64=$(med "$tmp/enc64") d64=$(med "$tmp/dec64")
ok=$(( $(ratio_ge "$e1" "$o" 0.85) && $(ratio_ge "$d1" "$o" 0.85) ))
grade "AM1 ≥ 0.85× \`openssl speed -bytes 65536\` per core, 1 MiB object (3)" \
  "encrypt / decrypt $(ratio "$e1" "$o") / $(ratio "$d1" "$o") (64 MiB object: $(ratio "$e64" "$o") / $(ratio "$d64" "$o")); openssl $om MB/s" "$ok"
r10=$("$bin" stream 10 | awk '{print $2}')
r2g=$("$bin" stream 2048 | awk '{print $2}')
echo "| peak RSS, 10 MiB object streamed | $r10 KiB | | |"
echo "| peak RSS, 2 GiB object streamed | $r2g KiB | | difference $(( (r2g - r10) )) KiB |"
d=$(( r2g - r10 )); d=${d#-}
grade "AM1 memory constant, 10 MiB and 2 GiB objects within 1 MiB (3)" "$r10 / $r2g KiB (difference $d KiB)" "$(le "$d" 1024)"
bench_exit
