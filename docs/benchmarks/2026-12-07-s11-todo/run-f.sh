#!/bin/bash
# (f) error with the full VAE decoder (the random TAESD's images are nearly black: mean 2 levels): int8, int8 + ToDo 2,
# int8 + ToDo 2 depth 2, and the exact fp32 UNet (direct convs), 1 LCM step, seed 42, as ToMe's h3
cd /work/wt/todo
date -u; cat /proc/loadavg
node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --bench-dir /work/bench/todo --stages image --steps 1 --runs 1 --image-runs 1 --option unetQuantization=int8 --option decoder=vae --option lowMemory=true --set unetQuantization=int8,decoder=vae,lowMemory=true,todoFactor=2 --set unetQuantization=int8,decoder=vae,lowMemory=true,todoFactor=2,todoMaxDepth=2 --set unetQuantization=none,decoder=vae,lowMemory=true,convAlgorithm=direct --json /work/bench/todo/f-quality-vae.json > /work/bench/todo/f-quality-vae.txt 2>&1
echo rc=$?
date -u; cat /proc/loadavg
