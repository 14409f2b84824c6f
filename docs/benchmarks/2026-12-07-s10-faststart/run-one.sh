#!/bin/bash
# One warm `generate --fast` (1 LCM step, 512x512) on the full-size random SD1.5 checkpoint.
# BUILD: a folder holding dist/ (before: the base's build; after: this branch's).
# Writes <tag>.json (generate --json), <tag>.time (GNU time -v), <tag>.load (load average before/after).
# Usage: run-one.sh OUTDIR TAG BUILD
set -euo pipefail
out=$1; tag=$2; build=$3
cat /proc/loadavg > "$out/$tag.load"
SDLITE_CACHE=/work/bench/faststart/cache /usr/bin/time -v -o "$out/$tag.time" \
  node "$build/dist/src/cli/main.js" generate "a photo of a cat" -m /work/bench/sd15/model.safetensors --fast \
  --taesd /work/bench/taesd --steps 1 --cfg 1 --sampler LCM -W 512 -H 512 --seed 1 --json \
  -o /work/bench/faststart/out/ > "$out/$tag.json" 2> "$out/$tag.stderr"
cat /proc/loadavg >> "$out/$tag.load"
