#!/bin/bash
# AMX refused: generate --fast from fresh processes (own cache: 1 warm-up + 5 runs) and the bench's low-memory set
cd /work/main
O=/work/bench/s12/noamx-gen; mkdir -p $O /work/bench/s12/gen-out-noamx
N=/work/bench/s12/noamx/noamx
for i in warm 1 2 3 4 5; do
  cat /proc/loadavg > $O/gen-$i.load
  SDLITE_CACHE=/work/bench/qv-gen $N /usr/bin/time -v -o $O/gen-$i.time node dist/src/cli/main.js generate "a photo of a cat" -m /work/bench/sd15/model.safetensors --fast --taesd /work/bench/taesd --steps 1 --cfg 1 --sampler LCM -W 512 -H 512 --seed 1 --json -o /work/bench/s12/gen-out-noamx/ > $O/gen-$i.json 2> $O/gen-$i.stderr
  cat /proc/loadavg >> $O/gen-$i.load
done
md5sum /work/bench/s12/gen-out-noamx/* > $O/gen-images.md5
F="unetQuantization=int8,decoder=taesd,todoFactor=2,textEncoderQuantization=int8,lowMemory=true"
for r in warm 1 2; do
  n=3; [ $r = warm ] && n=1
  uptime >> $O/load.txt
  $N node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/qv --stages image --steps 1 --image-runs $n --option unetQuantization=int8 --option decoder=taesd --option todoFactor=2 --option textEncoderQuantization=int8 --option lowMemory=true --json $O/j1lm-$r.json > $O/j1lm-$r.txt 2>&1
done
uptime >> $O/load.txt
