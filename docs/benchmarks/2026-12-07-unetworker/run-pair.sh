#!/bin/bash
# One locked run of `generate --fast` (1 LCM step, 512x512) with the UNet in a worker (w1) or in
# the main thread (w0), on the full-size random SD1.5 checkpoint. Writes <tag>.json (generate --json),
# <tag>.time (GNU time -v: wall, CPU, peak RSS) and <tag>.load (load average before and after).
# Usage: run-pair.sh OUTDIR TAG WORKER(0|1)
set -euo pipefail
out=$1; tag=$2; worker=$3
cat /proc/loadavg > "$out/$tag.load"
SDLITE_CACHE=/work/bench/unetworker/cache SDLITE_UNET_WORKER=$worker /usr/bin/time -v -o "$out/$tag.time" \
  node dist/src/cli/main.js generate "a photo of a cat" -m /work/bench/sd15/model.safetensors --fast \
  --taesd /work/bench/taesd --steps 1 --cfg 1 --sampler LCM -W 512 -H 512 --seed 1 --json \
  -o /work/bench/unetworker/out/ > "$out/$tag.json" 2> "$out/$tag.stderr"
cat /proc/loadavg >> "$out/$tag.load"
