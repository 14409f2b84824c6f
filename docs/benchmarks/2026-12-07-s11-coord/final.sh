#!/bin/bash
# session 11 final: --fast's parts on the merged tree, quiet machine; warm-up builds graphs, round 1 writes hints
cd /work/main
O=/work/bench/s11/final; mkdir -p $O
B="node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/q --stages image --option unetQuantization=int8 --option decoder=taesd"
S1="--set unetQuantization=int8,decoder=taesd,todoFactor=2 --set unetQuantization=int8,decoder=taesd,todoFactor=2,textEncoderQuantization=int8 --set unetQuantization=int8,decoder=taesd,todoFactor=2,lowMemory=true"
S3="--set unetQuantization=int8,decoder=taesd,deepCacheInterval=3,todoFactor=2 --set unetQuantization=int8,decoder=taesd,deepCacheInterval=3,todoFactor=2,textEncoderQuantization=int8 --set unetQuantization=int8,decoder=taesd,deepCacheInterval=3,todoFactor=2,lowMemory=true"
grep -o -m1 "flags.*" /proc/cpuinfo > $O/cpuflags.txt
for r in warm 1 2; do
  n=3; [ $r = warm ] && n=1
  uptime >> $O/load.txt
  $B --steps 1 --image-runs $n $S1 --json $O/j1-$r.json > $O/j1-$r.txt 2>&1
  $B --steps 4 --option deepCacheInterval=3 --image-runs $n $S3 --json $O/j3-$r.json > $O/j3-$r.txt 2>&1
done
uptime >> $O/load.txt
