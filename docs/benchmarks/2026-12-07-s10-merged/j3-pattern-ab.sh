#!/bin/sh
# j3 on the merge (UNet sessions without a memory pattern) vs the same build with the memory pattern back on
# (/work/bench/ab-ns: integ's dist with UNET_SESSION_MEMORY = {} in dist/src/engine/networks/unet.js), interleaved, 3 rounds
OUT=$(cd "$(dirname "$0")" && pwd)
J3="bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/q --stages image --steps 4 --image-runs 3 --option unetQuantization=int8 --option decoder=taesd --option deepCacheInterval=3"
for round in 1 2 3; do
  for side in integ mempattern; do
    [ $side = integ ] && cd /work/wt/integ || cd /work/bench/ab-ns
    echo "$round $side j3 $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/j3p-log.txt"
    node dist/src/cli/main.js $J3 --json "$OUT/j3p-r$round-$side.json" > "$OUT/j3p-r$round-$side.txt" 2>&1
  done
done
echo "end $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/j3p-log.txt"
