#!/bin/sh
# j3 on the merge: the bench's UNet in a worker thread (default) vs in the stage's main thread (SDLITE_UNET_WORKER=0), interleaved
OUT=$(cd "$(dirname "$0")" && pwd)
J3="bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/q --stages image --steps 4 --image-runs 3 --option unetQuantization=int8 --option decoder=taesd --option deepCacheInterval=3"
cd /work/wt/integ
for round in 1 2; do
  for w in 1 0; do
    echo "$round worker=$w j3 $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/j3w-log.txt"
    SDLITE_UNET_WORKER=$w node dist/src/cli/main.js $J3 --json "$OUT/j3w-r$round-worker$w.json" > "$OUT/j3w-r$round-worker$w.txt" 2>&1
  done
done
echo "end $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/j3w-log.txt"
