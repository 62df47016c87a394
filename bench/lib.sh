# Shared helpers for bench/*.sh scenarios (sourced, not run).
# median and min–max of numbers on stdin, one per line: prints "MED MIN MAX".
stats() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "0 0 0"; exit}
  m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.4g %.4g %.4g\n", m, a[1], a[NR]}'; }
# ratio A B with 2 decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "n/a"; else printf "%.2f\n", a / b}'; }
# peak RSS (KiB) of a command: runs it under /usr/bin/time -v if present.
peak_rss_kib() { /usr/bin/time -v "$@" 2>&1 >/dev/null | sed -n 's/.*Maximum resident set size (kbytes): //p'; }
