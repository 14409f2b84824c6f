#!/bin/bash
# int8 text encoder beside --fast's parts: server and generate --fast sets, 1 and 4 steps
cd /work/main
B="node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/q --stages image --image-runs 3 --option unetQuantization=int8 --option decoder=taesd"
$B --steps 1 --set unetQuantization=int8,decoder=taesd,textEncoderQuantization=int8 --set unetQuantization=int8,decoder=taesd,lowMemory=true,textEncoderQuantization=int8 --image-runs 1 --json /work/bench/s11/te8-warm.json > /work/bench/s11/te8-warm.txt 2>&1
for r in 1 2; do
$B --steps 1 --set unetQuantization=int8,decoder=taesd,textEncoderQuantization=int8 --set unetQuantization=int8,decoder=taesd,lowMemory=true --set unetQuantization=int8,decoder=taesd,lowMemory=true,textEncoderQuantization=int8 --json /work/bench/s11/te8-j1-r$r.json > /work/bench/s11/te8-j1-r$r.txt 2>&1
$B --steps 4 --option deepCacheInterval=3 --set unetQuantization=int8,decoder=taesd,deepCacheInterval=3,textEncoderQuantization=int8 --set unetQuantization=int8,decoder=taesd,deepCacheInterval=3,lowMemory=true --set unetQuantization=int8,decoder=taesd,deepCacheInterval=3,lowMemory=true,textEncoderQuantization=int8 --json /work/bench/s11/te8-j3-r$r.json > /work/bench/s11/te8-j3-r$r.txt 2>&1
done
