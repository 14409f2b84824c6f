#!/bin/bash
# N interleaved rounds of the four runs (before/after x UNet in the main thread w0 / in a worker w1),
# the order rotating round by round; first one warm-up run of each build (fills the cache: the
# after build saves its prepacked optimised UNet), not counted. Run it under the heavy lock:
#   flock /work/bench/heavy.lock docs/benchmarks/2026-12-07-s9-prepack/run-series.sh OUTDIR N BEFORE AFTER
set -euo pipefail
out=$1; n=$2; before=$3; after=$4
here=$(dirname "$0")
mkdir -p "$out" /work/bench/prepack/out
"$here/run-one.sh" "$out" warm-before "$before" 0
"$here/run-one.sh" "$out" warm-after "$after" 0
runs=("before-w0" "after-w0" "before-w1" "after-w1")
for i in $(seq 1 "$n"); do
  for j in 0 1 2 3; do
    r=${runs[$(( (j + i - 1) % 4 ))]}
    build=$before; [[ $r == after-* ]] && build=$after
    "$here/run-one.sh" "$out" "r$i-$r" "$build" "${r: -1}"
  done
done
md5sum /work/bench/prepack/out/* > "$out/images.md5" 2>/dev/null || true
