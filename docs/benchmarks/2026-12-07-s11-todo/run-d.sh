#!/bin/bash
# (d) error: ToDo image vs no-ToDo image and vs the exact fp32 pipeline (full VAE, same seed), as ToMe's h3
cd /work/wt/todo
date -u; cat /proc/loadavg
node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --bench-dir /work/bench/todo --stages image --steps 1 --runs 1 --image-runs 1 --option unetQuantization=int8 --option lowMemory=true --set unetQuantization=int8,lowMemory=true,todoFactor=2 --set unetQuantization=int8,lowMemory=true,todoFactor=2,todoMaxDepth=2 --compare-quality --json /work/bench/todo/d-quality.json > /work/bench/todo/d-quality.txt 2>&1
date -u; cat /proc/loadavg
