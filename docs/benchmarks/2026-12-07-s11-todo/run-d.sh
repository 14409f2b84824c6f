#!/bin/bash
# (d) error references for c1's images (same seed 42, LCM 1 step, TAESD): the exact fp32 UNet (direct convs), and
# ToDo at max depth 2; images land in /work/bench/todo/images, compared by scripts/todo-image-psnr.ts
cd /work/wt/todo
date -u; cat /proc/loadavg
node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/todo --stages image --steps 1 --runs 1 --image-runs 1 --option decoder=taesd --option lowMemory=true --option convAlgorithm=direct --set unetQuantization=int8,decoder=taesd,lowMemory=true,todoFactor=2,todoMaxDepth=2 --json /work/bench/todo/d-quality.json > /work/bench/todo/d-quality.txt 2>&1
date -u; cat /proc/loadavg
