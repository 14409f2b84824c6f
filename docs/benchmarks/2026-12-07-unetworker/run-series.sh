#!/bin/bash
# N interleaved pairs of run-pair.sh (old path w0 = UNet in the main thread, new path w1 = UNet in a
# worker), the order alternating pair by pair. Run it under the heavy lock:
#   flock /work/bench/heavy.lock docs/benchmarks/2026-12-07-unetworker/run-series.sh OUTDIR N
set -euo pipefail
out=$1; n=$2
here=$(dirname "$0")
for i in $(seq 1 "$n"); do
  if (( i % 2 )); then order="0 1"; else order="1 0"; fi
  for w in $order; do "$here/run-pair.sh" "$out" "pair$i-w$w" "$w"; done
done
