#!/bin/bash
# One `generate --fast` (1 LCM step, 512x512) on the full-size random SD1.5 checkpoint, warm cache.
# BUILD: a folder holding dist/ (before: main's build; after: this branch's), WORKER: SDLITE_UNET_WORKER.
# Writes <tag>.json (generate --json), <tag>.time (GNU time -v) and <tag>.load (load average before/after).
# Usage: run-one.sh OUTDIR TAG BUILD WORKER(0|1)
set -euo pipefail
out=$1; tag=$2; build=$3; worker=$4
cat /proc/loadavg > "$out/$tag.load"
SDLITE_CACHE=/work/bench/prepack/cache SDLITE_UNET_WORKER=$worker /usr/bin/time -v -o "$out/$tag.time" \
  node "$build/dist/src/cli/main.js" generate "a photo of a cat" -m /work/bench/sd15/model.safetensors --fast \
  --taesd /work/bench/taesd --steps 1 --cfg 1 --sampler LCM -W 512 -H 512 --seed 1 --json \
  -o /work/bench/prepack/out/ > "$out/$tag.json" 2> "$out/$tag.stderr"
cat /proc/loadavg >> "$out/$tag.load"
