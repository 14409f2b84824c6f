#!/bin/bash
# sdlite generate --fast (now with ToDo), 1 LCM step, 512x512, warm cache (the bench's), 1 warm-up + 5 runs
cd /work/main
O=/work/bench/s11/final/generate; mkdir -p $O /work/bench/s11/gen-out
for i in warm 1 2 3 4 5; do
  cat /proc/loadavg > $O/$i.load
  SDLITE_CACHE=/work/bench/q /usr/bin/time -v -o $O/$i.time node dist/src/cli/main.js generate "a photo of a cat" -m /work/bench/sd15/model.safetensors --fast --taesd /work/bench/taesd --steps 1 --cfg 1 --sampler LCM -W 512 -H 512 --seed 1 --json -o /work/bench/s11/gen-out/ > $O/$i.json 2> $O/$i.stderr
  cat /proc/loadavg >> $O/$i.load
done
md5sum /work/bench/s11/gen-out/* > $O/images.md5
