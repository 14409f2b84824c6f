#!/bin/bash
# after isa.sh: generate --fast wall series, the exact default vs the plain export (j4), UNet attention A/B
cd /work/main
O=/work/bench/s12/rest; mkdir -p $O /work/bench/s12/gen-out
grep -o -m1 "flags.*" /proc/cpuinfo > $O/cpuflags.txt
for i in warm 1 2 3 4 5; do
  cat /proc/loadavg > $O/gen-$i.load
  SDLITE_CACHE=/work/bench/q /usr/bin/time -v -o $O/gen-$i.time node dist/src/cli/main.js generate "a photo of a cat" -m /work/bench/sd15/model.safetensors --fast --taesd /work/bench/taesd --steps 1 --cfg 1 --sampler LCM -W 512 -H 512 --seed 1 --json -o /work/bench/s12/gen-out/ > $O/gen-$i.json 2> $O/gen-$i.stderr
  cat /proc/loadavg >> $O/gen-$i.load
done
md5sum /work/bench/s12/gen-out/* > $O/gen-images.md5
uptime >> $O/load.txt
npx tsx scripts/unet-graph-ab.ts --checkpoint /work/bench/sd15/model.safetensors --cache /work/bench/ab-cache --batch 1 --size 64 --runs 7 --variants int8-todo2,int8-todo2-aq8,int8-todo2-mm --profile > $O/ab-attn-amx.txt 2>&1
uptime >> $O/load.txt
/work/bench/s12/noamx/noamx npx tsx scripts/unet-graph-ab.ts --checkpoint /work/bench/sd15/model.safetensors --cache /work/bench/ab-cache --batch 1 --size 64 --runs 7 --variants int8-todo2,int8-todo2-aq8,int8-todo2-mm --profile > $O/ab-attn-noamx.txt 2>&1
uptime >> $O/load.txt
node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/q --stages unet2 --runs 3 --baseline ort-plain --json $O/j4.json > $O/j4.txt 2>&1
uptime >> $O/load.txt
