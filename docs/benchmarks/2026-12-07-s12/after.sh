#!/bin/bash
# after the int8 layout fusions joined the engine's int8 UNet: base.sh's sets again, then the generate series
cd /work/main
OUT=/work/bench/s12/after ROUNDS="warm 1 2" /work/bench/s12/base.sh
O=/work/bench/s12/after
for i in warm 1 2 3 4 5; do
  cat /proc/loadavg > $O/gen-$i.load
  SDLITE_CACHE=/work/bench/q /usr/bin/time -v -o $O/gen-$i.time node dist/src/cli/main.js generate "a photo of a cat" -m /work/bench/sd15/model.safetensors --fast --taesd /work/bench/taesd --steps 1 --cfg 1 --sampler LCM -W 512 -H 512 --seed 1 --json -o /work/bench/s12/gen-out-after/ > $O/gen-$i.json 2> $O/gen-$i.stderr
  cat /proc/loadavg >> $O/gen-$i.load
done
md5sum /work/bench/s12/gen-out-after/* > $O/gen-images.md5
uptime >> $O/load.txt
