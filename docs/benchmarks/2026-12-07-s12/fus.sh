#!/bin/bash
# the int8 layout fusions (session 8's three and the gathered im2col) with ToDo, AMX and AVX-512 VNNI
cd /work/main
O=/work/bench/s12/fus; mkdir -p $O
V=int8-todo2,int8-todo2-gather,int8-todo2-pg,int8-todo2-pgg,int8-todo2-all
uptime >> $O/load.txt
npx tsx scripts/unet-graph-ab.ts --checkpoint /work/bench/sd15/model.safetensors --cache /work/bench/ab-cache --batch 1 --size 64 --runs 9 --variants $V --profile > $O/ab-fus-amx.txt 2>&1
uptime >> $O/load.txt
/work/bench/s12/noamx/noamx npx tsx scripts/unet-graph-ab.ts --checkpoint /work/bench/sd15/model.safetensors --cache /work/bench/ab-cache --batch 1 --size 64 --runs 9 --variants $V > $O/ab-fus-noamx.txt 2>&1
uptime >> $O/load.txt
