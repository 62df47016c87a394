# Shared helpers for bench/*.sh scenarios (sourced, not run).
# median and min–max of numbers on stdin, one per line: prints "MED MIN MAX".
stats() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "0 0 0"; exit}
  m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.4g %.4g %.4g\n", m, a[1], a[NR]}'; }
# the same for integers (KiB, counts): no exponent notation.
stats_int() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "0 0 0"; exit}
  m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%d %d %d\n", m, a[1], a[NR]}'; }
# ratio A B with 2 decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "n/a"; else printf "%.2f\n", a / b}'; }
# peak RSS (KiB) of a command: runs it under /usr/bin/time -v if present.
peak_rss_kib() { /usr/bin/time -v "$@" 2>&1 >/dev/null | sed -n 's/.*Maximum resident set size (kbytes): //p'; }

# ---- servers and load (media_stream, upload, review_api, login) ---------------------------
# Everything listens on loopback; every load is bounded in count and time.
BENCH_PASSWORD='correct horse battery staple'
FAST_ARGON=(--set argon2_opslimit=2 --set argon2_memlimit=8M)  # set-up only: not the login scenario

# A random free-looking loopback port pair base.
bench_port() { echo $((20000 + RANDOM % 20000)); }
# 1-minute load average (noise indicator printed next to the figures).
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# wait_200 URL [SECONDS]: poll until URL answers 200 (self-signed TLS).
wait_200() {
  local deadline=$(( $(date +%s) + ${2:-20} ))
  until curl -sk -o /dev/null --max-time 2 -w '%{http_code}' "$1" 2>/dev/null | grep -q 200; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "bench: $1 not answering" >&2; return 1; }
    sleep 0.05
  done
}

# am_start DATA PORT LOG [--set ...]: audiomus serve in the background, AM_PID set.
am_start() {
  local data=$1 port=$2 log=$3; shift 3
  "$AUDIOMUS_BIN" serve --data "$data" --listen "127.0.0.1:$port" "$@" >> "$log" 2>&1 &
  AM_PID=$!
  wait_200 "https://127.0.0.1:$port/healthz" 30 || { tail -5 "$log" >&2; return 1; }
}
am_stop() { [ -n "${AM_PID:-}" ] && kill "$AM_PID" 2>/dev/null && wait "$AM_PID" 2>/dev/null; AM_PID=; }

# ng_start DIR PORT CERT KEY 'server-block directives': nginx (Debian) with TLS on
# loopback, 2 workers (one per core), access log off; NG_PID = master.
ng_start() {
  local dir=$1 port=$2 cert=$3 key=$4 extra=$5
  mkdir -p "$dir/html" "$dir/tmp"; chmod 755 "$dir" "$dir/html"; chmod 777 "$dir/tmp"
  cat > "$dir/nginx.conf" <<EOC
daemon off; worker_processes $(nproc); pid $dir/pid; error_log $dir/error.log;
events { worker_connections 4096; }
http { access_log off; include /etc/nginx/mime.types; default_type application/octet-stream;
  client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp; keepalive_requests 1000000;
  server { listen 127.0.0.1:$port ssl; ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $cert; ssl_certificate_key $key; root $dir/html;
    location = /healthz { return 200 "ok\n"; }
    $extra } }
EOC
  nginx -c "$dir/nginx.conf" -e "$dir/error.log" > /dev/null 2>&1 &
  NG_PID=$!
  wait_200 "https://127.0.0.1:$port/healthz" 20 || { cat "$dir/error.log" >&2; return 1; }
}
ng_stop() { [ -n "${NG_PID:-}" ] && kill "$NG_PID" 2>/dev/null && wait "$NG_PID" 2>/dev/null; NG_PID=; }

# Resident set (KiB) of a process and its children (nginx master + workers).
rss_tree_kib() {
  local p total=0 v
  for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null); total=$(( total + ${v:-0} ))
  done
  echo "$total"
}
vm_hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# rss_watch_start PID FILE [tree]: sample the RSS of PID (with "tree": PID and
# its children, for nginx's workers) every 50 ms into FILE's max;
# rss_watch_stop prints the maximum in KiB. audiomus is sampled alone: the
# transcoding child of serve's worker is a separate process with its own limit.
rss_watch_start() {
  local pid=$1 f=$2 how=${3:-}
  echo 0 > "$f"
  ( max=0; while kill -0 "$pid" 2>/dev/null; do
      if [ "$how" = tree ]; then v=$(rss_tree_kib "$pid"); else v=$(rss_kib "$pid"); fi
      [ "${v:-0}" -gt "$max" ] && { max=$v; echo "$max" > "$f"; }
      sleep 0.05; done ) &
  RSS_WATCH=$! RSS_FILE=$f
}
rss_watch_stop() { kill "$RSS_WATCH" 2>/dev/null; wait "$RSS_WATCH" 2>/dev/null; cat "$RSS_FILE"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.0f", k / 1024}'; }

# wrk output -> numbers. Requests/sec; Transfer/sec in MiB/s; the 99% latency in ms.
wrk_rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
wrk_mibps() { awk '/^Transfer\/sec:/ {v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+$/, "", v);
  f = (u == "GB") ? 1024 : (u == "MB") ? 1 : (u == "KB") ? 1/1024 : 1/1048576; printf "%.1f\n", v * f}' "$1"; }
wrk_p99_ms() { awk '$1 == "99%" {v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
  f = (u == "s") ? 1000 : (u == "ms") ? 1 : (u == "us") ? 0.001 : 60000; printf "%.2f\n", v * f}' "$1"; }
wrk_errors() { awk '/Socket errors|Non-2xx/ {print}' "$1" | tr '\n' ' '; }

# A test WAV of about SECONDS of 48 kHz/24-bit stereo (cached in BENCH_CACHE).
BENCH_CACHE=${BENCH_CACHE:-/tmp/am-bench-cache}
bench_wav() { # bench_wav SECONDS -> path
  local f=$BENCH_CACHE/tone-$1s.wav
  mkdir -p "$BENCH_CACHE"
  if [ ! -s "$f" ]; then
    ffmpeg -v error -y -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$1" -ac 2 \
      -c:a pcm_s24le "$f.tmp.wav" && mv "$f.tmp.wav" "$f"
  fi
  echo "$f"
}
# json_get FIELD < JSON: one top-level field (Node, no jq needed).
json_get() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)[process.argv[1]];console.log(typeof v==="object"?JSON.stringify(v):v)})' "$1"; }
# percentiles of numbers on stdin: prints "P50 P99 MAX COUNT".
pctl() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "0 0 0 0"; exit}
  i50=int(NR*0.50+0.999); i99=int(NR*0.99+0.999); if (i50<1) i50=1; if (i99<1) i99=1;
  printf "%.1f %.1f %.1f %d\n", a[i50], a[i99], a[NR], NR}'; }
# bench_users DATA N [--set ...]: owners bench0..bench{N-1}@example.org (audiomus user add).
bench_users() {
  local data=$1 n=$2 i; shift 2
  for i in $(seq 0 $((n - 1))); do
    printf '%s\n' "$BENCH_PASSWORD" | "$AUDIOMUS_BIN" user add "bench$i@example.org" --data "$data" "$@" > /dev/null 2>&1 ||
      { echo "bench: user add failed" >&2; return 1; }
  done
}
# amapi MODE PORT DATA USER# ARGS...: bench/amapi.mjs set-up as owner benchN.
amapi() {
  local mode=$1 port=$2 data=$3 u=$4; shift 4
  node bench/amapi.mjs "$mode" --port "$port" --ca "$data/tls/cert.pem" --email "bench$u@example.org" \
    --password "$BENCH_PASSWORD" "$@"
}
