#!/bin/bash
# start→first step of the generate --fast set in the bench, before/after the preload (run 1 writes the hint)
cd /work/main
for i in 1 2 3 4; do
  node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/q --stages image --steps 1 --image-runs 1 --option unetQuantization=int8 --option decoder=taesd --set unetQuantization=int8,decoder=taesd,lowMemory=true --json /work/bench/s11/pre-$i.json > /work/bench/s11/pre-$i.txt 2>&1
  grep -i "first step" /work/bench/s11/pre-$i.txt | head -3
done
