# Shared helpers for bench/*.sh scenarios (sourced, not run).
# median and min–max of numbers on stdin, one per line: prints "MED MIN MAX",
# 4 significant digits, whole numbers from 1000 up (no exponent notation).
stats() { sort -g | awk 'function f(x) {return (x >= 1000 || x <= -1000) ? sprintf("%.0f", x) : sprintf("%.4g", x)}
  {a[NR]=$1} END {if (NR==0) {print "0 0 0"; exit}
  m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; print f(m), f(a[1]), f(a[NR])}'; }
# the same for integers (KiB, counts): no exponent notation.
stats_int() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "0 0 0"; exit}
  m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%d %d %d\n", m, a[1], a[NR]}'; }
# ratio A B, truncated (not rounded) to 3 decimals, so a ratio under a
# threshold is never shown at or above it (0.9499 -> 0.949, not 0.95).
# Grading uses the unrounded values (ratio_ge), never this text.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "n/a"; else printf "%.3f\n", int(a / b * 1000 + 1e-9) / 1000}'; }
# median of the numbers in FILE, unrounded (stats prints 4 significant digits).
med() { sort -g "$1" | awk '{a[NR]=$1} END {if (NR==0) {print 0; exit}
  m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.10g\n", m}'; }
# ratio_ge A B T: 1 if A / B >= T, else 0 (unrounded). le A B / lt A B / ge A B: 1 or 0.
ratio_ge() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN {print (b > 0 && a / b >= t) ? 1 : 0}'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN {print (a + 0 >= b + 0) ? 1 : 0}'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN {print (a + 0 <= b + 0) ? 1 : 0}'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN {print (a + 0 < b + 0) ? 1 : 0}'; }

# ---- failures and grading (issue 18) --------------------------------------------------
# A measurement that does not count (wrk socket errors or non-2xx/3xx answers,
# different TLS suites, a load generator that failed) fails its row: the row
# shows **FAIL** and the reason, the scenario exits non-zero, and bench/run
# lists the reason (BENCH_FAILS) and exits non-zero.
# fail_note KEY REASON: record why the row KEY does not count (in the scenario's $tmp).
fail_note() { echo "$2" >> "${tmp:?}/fail.$1"; }
# row_check KEY...: ROW_BAD = the reasons recorded for those rows, empty if none.
row_check() {
  local k; ROW_BAD=
  for k in "$@"; do [ -s "$tmp/fail.$k" ] && ROW_BAD="${ROW_BAD:+$ROW_BAD; }$(sort -u "$tmp/fail.$k" | awk 'NR > 1 {printf "; "} {printf "%s", $0}')"; done
  if [ -n "$ROW_BAD" ]; then
    BENCH_FAILED=1
    echo "$(basename "$0" .sh): FAIL: $*: $ROW_BAD" >&2
    [ -n "${BENCH_FAILS:-}" ] && echo "$(basename "$0" .sh) ($*): $ROW_BAD" >> "$BENCH_FAILS"
  fi
  return 0
}
# target_cell TARGET: the target column of the row last checked, with FAIL and why.
target_cell() { if [ -n "${ROW_BAD:-}" ]; then echo "$1 — **FAIL**: $ROW_BAD"; else echo "$1"; fi; }
# scenario_fail REASON: a failure that belongs to no row (set-up, a check).
scenario_fail() {
  BENCH_FAILED=1; echo "$(basename "$0" .sh): FAIL: $1" >&2
  [ -n "${BENCH_FAILS:-}" ] && echo "$(basename "$0" .sh): $1" >> "$BENCH_FAILS"
  return 0
}
# bench_exit: the scenario's exit status (non-zero when a row failed).
bench_exit() { exit "${BENCH_FAILED:-0}"; }
# grade TARGET FIGURE OK [BAD]: one line of the run's "Targets" table (bench/run
# prints it on a full run only). OK: 1 met, 0 not met; BAD (reasons) makes it FAIL.
grade() {
  local st
  if [ -n "${4:-}" ]; then st="**FAIL** ($4)"; elif [ "$3" = 1 ]; then st=met; else st="**not met**"; fi
  [ -n "${BENCH_GRADES:-}" ] && echo "| $1 | $2 | $st |" >> "$BENCH_GRADES"
  return 0
}
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

# The suites nginx may negotiate: the one audiomus's server order puts first
# (src/http/tls.c: AES-128-GCM before AES-256-GCM and ChaCha20), so both
# servers do the same TLS work per byte (before issue 18 nginx negotiated
# AES-256-GCM with the default client offer). Checked per scenario: tls_same.
NG_TLS13_SUITES=TLS_AES_128_GCM_SHA256
NG_TLS12_CIPHERS=ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256
# ng_start DIR PORT CERT KEY 'server-block directives': nginx (Debian) with TLS on
# loopback, 2 workers (one per core), access log off, the suites above; NG_PID = master.
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
    ssl_conf_command Ciphersuites $NG_TLS13_SUITES; ssl_ciphers $NG_TLS12_CIPHERS;
    ssl_prefer_server_ciphers on;
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
# ---- CPU per GiB (issue 25) ------------------------------------------------------------
# Where the load generator and the server share the cores, a throughput ratio
# measures the machine; CPU-seconds per GiB served measures the server.
# cpu_ticks PID [tree]: user + system clock ticks of PID so far (/proc/PID/stat
# fields 14 and 15, read after the ")" of the name); with "tree", PID and its
# children (nginx's workers). cpu_cticks: the reaped children of this shell
# (fields 16 and 17 of the script's own process, $$: the curl processes a
# function run in it, not in a subshell, started and waited for).
cpu_ticks() {
  local p total=0 v
  for p in "$1" $([ "${2:-}" = tree ] && pgrep -P "$1" 2>/dev/null); do
    v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}'); total=$(( total + ${v:-0} ))
  done
  echo "$total"
}
cpu_cticks() { sed 's/.*) //' "/proc/$$/stat" | awk '{print $14 + $15}'; }
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
# cpu_per_gib TICKS BYTES: CPU-seconds per GiB (3 decimals), "n/a" without bytes.
cpu_per_gib() { awk -v t="$1" -v b="$2" -v hz="$CLK_TCK" 'BEGIN {if (b <= 0) print "n/a"; else printf "%.3f\n", t / hz / (b / 1073741824)}'; }
# wrk_total_bytes FILE: the exact byte count of bench/wrk_bytes.lua's line.
wrk_total_bytes() { awk '$1 == "wrk_bytes" {print $2; f = 1} END {if (!f) print 0}' "$1"; }

# wrk_mibps prefers the exact "wrk_bytes BYTES MICROSECONDS" line of
# bench/wrk_bytes.lua (wrk -s) to wrk's 3-digit "Transfer/sec".
wrk_mibps() { awk '$1 == "wrk_bytes" && $3 > 0 {exact = $2 / 1048576 / ($3 / 1e6)}
  /^Transfer\/sec:/ {v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+$/, "", v);
  f = (u == "GB") ? 1024 : (u == "MB") ? 1 : (u == "KB") ? 1/1024 : 1/1048576; t = v * f}
  END {printf "%.1f\n", exact != "" ? exact : t}' "$1"; }
wrk_p99_ms() { awk '$1 == "99%" {v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
  f = (u == "s") ? 1000 : (u == "ms") ? 1 : (u == "us") ? 0.001 : 60000; printf "%.2f\n", v * f}' "$1"; }
wrk_errors() { awk '/Socket errors|Non-2xx/ {print}' "$1" | tr '\n' ' '; }
# wrk_problems FILE: why a wrk run does not count, empty if it does: socket
# errors (connect, read, write, timeout), non-2xx/3xx answers, no result.
wrk_problems() {
  awk '/^ *Socket errors:/ {sub(/^ *Socket errors: */, ""); s = "socket errors (" $0 ")"}
       /^ *Non-2xx or 3xx responses:/ {n = $NF}
       /^Requests\/sec:/ {rps = $2}
       END {r = s; if (n + 0 > 0) r = r (r != "" ? ", " : "") n " non-2xx/3xx answers";
            if (rps == "") r = r (r != "" ? ", " : "") "no result (wrk failed)"; print r}' "$1"
}
# wrk_check FILE KEY WHO: record wrk_problems of FILE against the row KEY.
wrk_check() {
  local p; p=$(wrk_problems "$1")
  [ -n "$p" ] && fail_note "$2" "$3: $p"
  return 0
}

# tls_suite PORT [s_client options]: "PROTOCOL SUITE" that openssl s_client
# (OpenSSL's default offer, as wrk's and curl's) negotiates with 127.0.0.1:PORT.
tls_suite() {
  local port=$1; shift
  openssl s_client -connect "127.0.0.1:$port" -servername localhost "$@" < /dev/null 2>/dev/null |
    sed -n 's/^New, \(TLSv[0-9.]*\), Cipher is \(.*\)$/\1 \2/p' | head -1
}
# tls_same AM_PORT NG_PORT [KEY...]: both servers must negotiate the same suite,
# with the default offer and with a TLS 1.2-only offer. Sets TLS_NOTE (for the
# notes line); a difference fails the rows KEY... (fail_note).
tls_same() {
  local a=$1 n=$2 k am ng am12 ng12; shift 2
  am=$(tls_suite "$a"); ng=$(tls_suite "$n")
  am12=$(tls_suite "$a" -tls1_2); ng12=$(tls_suite "$n" -tls1_2)
  if [ -n "$am" ] && [ "$am" = "$ng" ] && [ -n "$am12" ] && [ "$am12" = "$ng12" ]; then
    TLS_NOTE="TLS (checked with openssl s_client before the runs): both servers negotiate ${am% *} ${am#* } with the default client offer, and ${am12#* } with a TLS 1.2-only offer."
    return 0
  fi
  TLS_NOTE="TLS suites DIFFER: audiomus '${am:-none}' / '${am12:-none}' (TLS 1.2), nginx '${ng:-none}' / '${ng12:-none}'."
  for k in "$@"; do fail_note "$k" "TLS suites differ (audiomus ${am:-none}, nginx ${ng:-none}; TLS 1.2: ${am12:-none} / ${ng12:-none})"; done
  return 0
}

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
# the 99th percentile of numbers on stdin, as pctl picks it, unrounded (for grading).
p99_raw() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print 0; exit}
  i=int(NR*0.99+0.999); if (i<1) i=1; printf "%.10g\n", a[i]}'; }
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
