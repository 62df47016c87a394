#!/usr/bin/env bash
# Tracer time for a 45 s excerpt (issue 26; docs/watermark.md "Tracer"):
# bench/wm_trace.mjs, BENCH_REPS traces of a listener's 45 s excerpt (WAV and
# MP3 128 kbit/s) through `audiomus watermark trace` and the web tracer.
# AUDIOMUS_BIN picks the binary (audiomus-xcode beside it runs the child).
set -uo pipefail
cd "$(dirname "$0")/.."
echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
node bench/wm_trace.mjs
