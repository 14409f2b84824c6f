#!/bin/bash
# (g) the float UNet step (MHA, fp16 weight storage, direct convs), 512x512 batch 1, with and without ToDo, interleaved
cd /work/wt/todo
date -u; cat /proc/loadavg
npx tsx scripts/unet-graph-ab.ts --checkpoint /work/bench/sd15/model.safetensors --cache /work/bench/todo/cache --batch 1 --size 64 --runs 7 --variants default-todo2,default > /work/bench/todo/g-unet-ab-fp32.txt 2>&1
echo rc=$?
date -u; cat /proc/loadavg
