#!/bin/sh
# j3 on the merge (shallow DeepCache session released after each image's UNet stage) vs the same build with that
# release taken out (/work/bench/ab-ns: integ's dist with the releasedAfterStage line removed), interleaved, 3 rounds
OUT=$(cd "$(dirname "$0")" && pwd)
J3="bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/q --stages image --steps 4 --image-runs 3 --option unetQuantization=int8 --option decoder=taesd --option deepCacheInterval=3"
for round in 1 2 3; do
  for side in integ noshallowrelease; do
    [ $side = integ ] && cd /work/wt/integ || cd /work/bench/ab-ns
    echo "$round $side j3 $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/j3s-log.txt"
    node dist/src/cli/main.js $J3 --json "$OUT/j3s-r$round-$side.json" > "$OUT/j3s-r$round-$side.txt" 2>&1
  done
done
echo "end $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/j3s-log.txt"
