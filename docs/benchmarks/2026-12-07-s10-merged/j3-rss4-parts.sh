#!/bin/sh
# j3 (server set, UNet in one thread) on the merge vs the merge without the shallow session's release (/work/bench/ab-ns)
# vs the merge with the UNet sessions' memory pattern back on (/work/bench/ab-mp): dist copies, one line changed each
OUT=$(cd "$(dirname "$0")" && pwd)
J3="bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/q --stages image --steps 4 --image-runs 3 --option unetQuantization=int8 --option decoder=taesd --option deepCacheInterval=3"
for round in 1 2; do
  for side in integ ns mp; do
    [ $side = integ ] && cd /work/wt/integ || cd /work/bench/ab-$side
    echo "$round $side j3 $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/j3parts-log.txt"
    node dist/src/cli/main.js $J3 --json "$OUT/j3parts-r$round-$side.json" > "$OUT/j3parts-r$round-$side.txt" 2>&1
  done
done
echo "end $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/j3parts-log.txt"
