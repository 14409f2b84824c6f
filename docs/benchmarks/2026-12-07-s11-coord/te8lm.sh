#!/bin/bash
# generate --fast (low memory) with and without the int8 text encoder, after the final run; 2 rounds
cd /work/main
O=/work/bench/s11/final; 
B="node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/q --stages image --option unetQuantization=int8 --option decoder=taesd --option todoFactor=2 --option lowMemory=true"
for r in warm 1 2 3; do
  n=3; [ $r = warm ] && n=1
  uptime >> $O/load-te8lm.txt
  $B --steps 1 --image-runs $n --set unetQuantization=int8,decoder=taesd,todoFactor=2,lowMemory=true,textEncoderQuantization=int8 --json $O/te8lm-$r.json > $O/te8lm-$r.txt 2>&1
done
