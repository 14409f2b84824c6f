#!/bin/bash
# session 12 baseline on the new machine: --fast's sets (1 step, 4 steps DeepCache 3, low memory); warm-up builds graphs
cd ${TREE:-/work/main}
O=${OUT:-/work/bench/s12/base}; mkdir -p $O
B="node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/q --stages image --option unetQuantization=int8 --option decoder=taesd"
F="unetQuantization=int8,decoder=taesd,todoFactor=2,textEncoderQuantization=int8"
S1="--set $F --set $F,lowMemory=true"
S3="--set $F,deepCacheInterval=3"
grep -o -m1 "flags.*" /proc/cpuinfo > $O/cpuflags.txt
lscpu > $O/lscpu.txt
for r in ${ROUNDS:-warm 1 2}; do
  n=3; [ $r = warm ] && n=1
  uptime >> $O/load.txt
  $B --steps 1 --image-runs $n $S1 --json $O/j1-$r.json > $O/j1-$r.txt 2>&1
  $B --steps 4 --option deepCacheInterval=3 --image-runs $n $S3 --json $O/j3-$r.json > $O/j3-$r.txt 2>&1
done
uptime >> $O/load.txt
