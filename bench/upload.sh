#!/usr/bin/env bash
# Upload ingest (issue 6): one tus PATCH of a 1 GiB and of a 100 MiB file over
# TLS on loopback (curl -T, streamed from disk, no Expect: 100-continue), into
# `audiomus serve` (AM1-encrypted segment by segment into a part object,
# fsync + rename, recorded in the database) against nginx (Debian) storing the
# same PUT in plaintext with its WebDAV module (body to a temp file, then
# renamed; no fsync). Alternating, BENCH_REPS runs each: MiB/s medians,
# min-max, ratio, and the peak RSS of each server sampled every 50 ms during
# each upload. Targets: >= 250 MiB/s; audiomus peak RSS for 1 GiB within
# +-2 MiB of 100 MiB. nginx is limited to the suite audiomus picks
# (TLS_AES_128_GCM_SHA256, lib.sh ng_start); tls_same checks both negotiate it
# first, and a difference fails the rows.
# The files are a 2-second WAV header and data followed by zeros up to the
# size (sparse on disk, so the client reads no disk): ingest does not depend
# on the content, and the transcode job each completed upload enqueues ends
# after the WAV's 2 s of declared audio instead of competing for the CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
reps=${BENCH_REPS:-3}
big_mib=${UPLOAD_BIG_MIB:-1024} small_mib=${UPLOAD_SMALL_MIB:-100}
tmp=$(mktemp -d /tmp/am-bench-upload.XXXXXX); chmod 755 "$tmp"
trap 'am_stop; ng_stop; kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(bench_port); nport=$((port + 1))
load0=$(loadavg)

"$AUDIOMUS_BIN" init --data "$tmp/data" > /dev/null 2>&1 || { echo "upload: init failed" >&2; exit 1; }
bench_users "$tmp/data" 1 "${FAST_ARGON[@]}" || exit 1
head=$(bench_wav 2)
for m in "$big_mib" "$small_mib"; do
  cp "$head" "$tmp/in$m.wav"; truncate -s "$((m * 1048576))" "$tmp/in$m.wav"
done
am_start "$tmp/data" "$port" "$tmp/am.log" "${FAST_ARGON[@]}" || exit 1
cert=$tmp/data/tls/cert.pem key=$tmp/data/tls/key.pem
ng_start "$tmp/ng" "$nport" "$cert" "$key" \
  "location /put/ { dav_methods PUT; client_max_body_size 0; }" || exit 1
mkdir -p "$tmp/ng/html/put"; chmod 777 "$tmp/ng/html/put"  # nginx workers run as www-data
tls_same "$port" "$nport" "up$big_mib" "up$small_mib"
for m in "$big_mib" "$small_mib"; do
  amapi uploads "$port" "$tmp/data" 0 --count "$reps" --size "$((m * 1048576))" --title "upload $m" |
    json_get urls | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).join("\n")))' \
    > "$tmp/urls$m" || { echo "upload: upload URLs failed" >&2; exit 1; }
done

# put METHOD URL FILE PID self|tree OUT-PREFIX [headers...]: one upload; appends
# MiB/s and the peak RSS.
put() {
  local method=$1 url=$2 file=$3 pid=$4 how=$5 out=$6; shift 6
  local res code speed rss
  rss_watch_start "$pid" "$tmp/rss" "$how"
  res=$(curl -sk -o "$tmp/resp" -X "$method" -T "$file" -H 'Expect:' "$@" --max-time 120 \
    -w '%{http_code} %{speed_upload}' "$url")
  rss=$(rss_watch_stop)
  read -r code speed <<< "$res"
  case $code in 2??) ;; *) echo "upload: $method answered $code: $(head -c 300 "$tmp/resp")" >&2; return 1;; esac
  awk -v s="$speed" 'BEGIN {printf "%.1f\n", s / 1048576}' >> "$out.speed"
  echo "$rss" >> "$out.rss"
}
for r in $(seq "$reps"); do
  for m in "$big_mib" "$small_mib"; do
    url=$(sed -n "${r}p" "$tmp/urls$m")  # public_url defaults to https://LISTEN
    put PATCH "$url" "$tmp/in$m.wav" "$AM_PID" self "$tmp/am$m" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
      -H 'Content-Type: application/offset+octet-stream' || exit 1
    put PUT "https://127.0.0.1:$nport/put/f$r-$m.wav" "$tmp/in$m.wav" "$NG_PID" tree "$tmp/ng$m" || exit 1
    rm -f "$tmp/ng/html/put/f$r-$m.wav"
  done
done
echo "| measure | audiomus | nginx (WebDAV PUT, plaintext to disk) | ratio | peak RSS audiomus / nginx (MiB) | target |"
echo "|---|---|---|---|---|---|"
for m in "$big_mib" "$small_mib"; do
  read -r am amin amax < <(stats < "$tmp/am$m.speed")
  read -r ng nmin nmax < <(stats < "$tmp/ng$m.speed")
  read -r ar armin armax < <(stats_int < "$tmp/am$m.rss"); read -r nr _ _ < <(stats_int < "$tmp/ng$m.rss")
  eval "rss$m=$ar rmin$m=$armin rmax$m=$armax"
  row_check "up$m"
  echo "| upload ingest, $m MiB file, one tus PATCH over TLS, MiB/s, both TLS_AES_128_GCM_SHA256 | $am ($amin–$amax) | $ng ($nmin–$nmax) | $(ratio "$am" "$ng") | $(mib "$ar") / $(mib "$nr") | $(target_cell "≥ 250 MiB/s") |"
done
eval "b=\$rss$big_mib s=\$rss$small_mib"
echo "| peak RSS of audiomus during the upload: $big_mib MiB minus $small_mib MiB (medians; KiB) | $(( b - s )) KiB ($b vs $s) | – | – | | ±2 MiB (±2048 KiB) |"
echo
echo "Load average at start: $load0 (other work on the machine: figures are noisy). Medians of $reps, min–max in brackets. $TLS_NOTE"
row_check "up$big_mib" "up$small_mib"
ab=$(med "$tmp/am$big_mib.speed") as=$(med "$tmp/am$small_mib.speed")
grade "upload ingest ≥ 250 MiB/s, $big_mib and $small_mib MiB (6)" \
  "$ab MiB/s ($big_mib MiB), $as ($small_mib MiB); nginx $(med "$tmp/ng$big_mib.speed") / $(med "$tmp/ng$small_mib.speed")" \
  "$(( $(ge "$ab" 250) && $(ge "$as" 250) ))" "$ROW_BAD"
d=$(( b - s )); d=${d#-}
grade "upload RSS constant: $big_mib MiB within ±2 MiB of $small_mib MiB (6)" "$(( b - s )) KiB" "$(le "$d" 2048)"
bench_exit
