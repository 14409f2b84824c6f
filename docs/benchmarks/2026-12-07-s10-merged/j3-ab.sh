#!/bin/sh
# j3 (server 4-step, int8 + TAESD + DeepCache 3) on main, rss4 alone, prepack alone, and the merge, interleaved, under the heavy lock
OUT=$(cd "$(dirname "$0")" && pwd)
J3="bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/q --stages image --steps 4 --image-runs 3 --option unetQuantization=int8 --option decoder=taesd --option deepCacheInterval=3"
for round in 1 2; do
  for side in main rss4 prepack integ; do
    case $side in main) D=/work/main;; integ) D=/work/wt/integ;; *) D=/work/wt/$side;; esac
    cd $D
    echo "$round $side j3 $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/j3-log.txt"
    node dist/src/cli/main.js $J3 --json "$OUT/j3ab-r$round-$side.json" > "$OUT/j3ab-r$round-$side.txt" 2>&1
  done
done
echo "end $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/j3-log.txt"
