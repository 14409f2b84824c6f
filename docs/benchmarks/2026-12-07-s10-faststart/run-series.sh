#!/bin/bash
# N interleaved pairs (base build, this branch's build), the order alternating pair by pair; first one
# unmeasured warm-up run of each (the branch's writes its UNet hint). Run it under the heavy lock:
#   flock /work/bench/heavy.lock docs/benchmarks/2026-12-07-s10-faststart/run-series.sh OUTDIR N BEFORE AFTER
set -euo pipefail
out=$1; n=$2; before=$3; after=$4
here=$(dirname "$0")
mkdir -p "$out" /work/bench/faststart/out
grep -m1 '^flags' /proc/cpuinfo > "$out/cpuflags.txt"
"$here/run-one.sh" "$out" warm-before "$before"
"$here/run-one.sh" "$out" warm-after "$after"
for i in $(seq 1 "$n"); do
  if (( i % 2 )); then order="before after"; else order="after before"; fi
  for side in $order; do
    build=$before; [[ $side == after ]] && build=$after
    "$here/run-one.sh" "$out" "r$i-$side" "$build"
  done
done
md5sum /work/bench/faststart/out/* > "$out/images.md5" 2>/dev/null || true
