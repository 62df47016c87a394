#!/usr/bin/env bash
# A new listener's time to first sound with marking on and off (issue 26,
# target under 1 s): bench/wm_ttfs.mjs, in a browser (Chromium through
# playwright, as tests/browser) and at the HTTP level, BENCH_REPS new
# listeners per mode, alternating. AUDIOMUS_BIN picks the binary.
set -uo pipefail
cd "$(dirname "$0")/.."
echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
node bench/wm_ttfs.mjs
