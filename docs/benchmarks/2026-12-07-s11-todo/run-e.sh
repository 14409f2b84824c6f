#!/bin/bash
# (e) 768x768 (96x96 latents): int8 UNet step with and without ToDo, interleaved
cd /work/wt/todo
date -u; cat /proc/loadavg
npx tsx scripts/unet-graph-ab.ts --checkpoint /work/bench/sd15/model.safetensors --cache /work/bench/todo/cache --batch 1 --size 96 --runs 5 --variants int8,int8-todo2 > /work/bench/todo/e-unet-ab-768.txt 2>&1
date -u; cat /proc/loadavg
