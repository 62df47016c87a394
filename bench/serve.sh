# Scenario: cold start of `audiomus serve` (embedded default, after first-run
# initialisation) to the first 200 on /healthz, and RSS at idle. Reference:
# nginx (Debian) started the same way with TLS on loopback, to its first 200.
# Targets (issue 12): cold start < 100 ms, idle RSS < 30 MiB.
. "$(dirname "$0")/lib.sh"
set -u
tmp=$(mktemp -d /tmp/am-bench-serve.XXXXXX); chmod 755 "$tmp"  # nginx workers (www-data) read html/
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
"$AUDIOMUS_BIN" init --data "$tmp/data" > /dev/null 2>&1
port=$((20000 + RANDOM % 20000)); nport=$((port + 1))
mkdir -p "$tmp/nginx/html"; echo ok > "$tmp/nginx/html/healthz"
cat > "$tmp/nginx/nginx.conf" <<EOC
daemon off; worker_processes 2; pid $tmp/nginx/pid; error_log $tmp/nginx/error.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$nport ssl; ssl_protocols TLSv1.2 TLSv1.3;
  ssl_conf_command Ciphersuites $NG_TLS13_SUITES; ssl_ciphers $NG_TLS12_CIPHERS; ssl_prefer_server_ciphers on;
  ssl_certificate $tmp/data/tls/cert.pem; ssl_certificate_key $tmp/data/tls/key.pem;
  root $tmp/nginx/html; } }
EOC
# ms from exec to the first 200 of URL, with the server killed after.
start_ms() { # start_ms URL CMD...
  local url=$1; shift
  local t0 t1 pid
  t0=$(date +%s%N); "$@" > /dev/null 2>&1 & pid=$!
  local deadline=$(( $(date +%s) + 20 ))
  until curl -sk -o /dev/null --max-time 1 -w '%{http_code}' "$url" 2>/dev/null | grep -q 200; do
    [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null || { echo "bench: $1 did not start" >&2; kill "$pid" 2>/dev/null; cat "$tmp"/nginx/error.log >&2; echo 0; return 1; }
  done
  t1=$(date +%s%N)
  if [ "${RSS_OUT:-}" ]; then sleep 1; ps -o rss= -p "$pid" > "$RSS_OUT"; fi
  kill "$pid"; wait "$pid" 2>/dev/null
  echo $(( (t1 - t0) / 1000000 ))
}
: > "$tmp/am"; : > "$tmp/ng"
for i in $(seq 1 "${BENCH_REPS:-3}"); do
  start_ms "https://127.0.0.1:$port/healthz" "$AUDIOMUS_BIN" serve --data "$tmp/data" --listen "127.0.0.1:$port" >> "$tmp/am"
  start_ms "https://127.0.0.1:$nport/healthz" nginx -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" >> "$tmp/ng"
done
read -r am amin amax < <(stats < "$tmp/am")
read -r ng nmin nmax < <(stats < "$tmp/ng")
RSS_OUT=$tmp/rss start_ms "https://127.0.0.1:$port/healthz" "$AUDIOMUS_BIN" serve --data "$tmp/data" --listen "127.0.0.1:$port" > /dev/null
rss=$(( $(cat "$tmp/rss") / 1024 ))
echo "| measure | audiomus | reference | ratio | target |"
echo "|---|---|---|---|---|"
echo "| cold start to first /healthz 200, ms (median, min–max of ${BENCH_REPS:-3}; includes curl polling) | $am ($amin–$amax) | nginx $ng ($nmin–$nmax) | $(ratio "$am" "$ng") | < 100 ms |"
echo "| RSS at idle, 1 s after start, MiB | $rss | – | – | < 30 MiB |"
grade "cold start < 100 ms, idle RSS < 30 MiB (12)" "$am ms (curl polling included; nginx $ng ms), $rss MiB ($(cat "$tmp/rss") KiB)" \
  "$(( $(lt "$(med "$tmp/am")" 100) && $(lt "$(cat "$tmp/rss")" 30720) ))"
