#!/bin/sh
# main (8aef3dd) vs the merged session-9 work (integ), j1 (1-step) and j3 (4-step DeepCache 3) image sets, interleaved, one sitting
OUT=$(cd "$(dirname "$0")" && pwd)
grep -m1 '^flags' /proc/cpuinfo > "$OUT/cpuflags.txt"
J1="bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/q --stages image --steps 1 --image-runs 3 --option unetQuantization=int8 --option decoder=taesd --set unetQuantization=int8,decoder=taesd,lowMemory=true"
J3="bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/q --stages image --steps 4 --image-runs 3 --option unetQuantization=int8 --option decoder=taesd --option deepCacheInterval=3"
for round in 1 2; do
  for side in main integ; do
    [ $side = main ] && cd /work/main || cd /work/wt/integ
    for j in j1 j3; do
      [ $j = j1 ] && ARGS=$J1 || ARGS=$J3
      echo "$round $side $j $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/log.txt"
      node dist/src/cli/main.js $ARGS --json "$OUT/r$round-$side-$j.json" > "$OUT/r$round-$side-$j.txt" 2>&1
    done
  done
done
echo "end $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/log.txt"
