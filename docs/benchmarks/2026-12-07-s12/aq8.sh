#!/bin/bash
# int8 attention products (matmul form) against --fast's MHA UNet, AMX and AVX-512 VNNI
cd /work/main
O=/work/bench/s12/rest
uptime >> $O/load.txt
npx tsx scripts/unet-graph-ab.ts --checkpoint /work/bench/sd15/model.safetensors --cache /work/bench/ab-cache --batch 1 --size 64 --runs 7 --variants int8-todo2,int8-todo2-aq8 > $O/ab-aq8-amx.txt 2>&1
uptime >> $O/load.txt
/work/bench/s12/noamx/noamx npx tsx scripts/unet-graph-ab.ts --checkpoint /work/bench/sd15/model.safetensors --cache /work/bench/ab-cache --batch 1 --size 64 --runs 7 --variants int8-todo2,int8-todo2-aq8 > $O/ab-aq8-noamx.txt 2>&1
uptime >> $O/load.txt
