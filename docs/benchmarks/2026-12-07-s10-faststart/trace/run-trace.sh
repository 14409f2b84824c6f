#!/bin/bash
# one traced warm `generate --fast` with BUILD's dist; TAG
set -euo pipefail
build=$1; tag=$2; out=/work/bench/faststart/trace
cat /proc/loadavg > "$out/$tag.load"
SDLITE_T=1 SDLITE_CACHE=/work/bench/faststart/cache /usr/bin/time -v -o "$out/$tag.time" \
  node "$build/dist/src/cli/main.js" generate "a photo of a cat" -m /work/bench/sd15/model.safetensors --fast \
  --taesd /work/bench/taesd --steps 1 --cfg 1 --sampler LCM -W 512 -H 512 --seed 1 --json \
  -o /work/bench/faststart/out/ > "$out/$tag.json" 2> "$out/$tag.stderr"
cat /proc/loadavg >> "$out/$tag.load"
