#!/bin/sh
# run under: flock /work/bench/heavy.lock sh docs/benchmarks/2026-12-07-s10-taesdspeed/bench-ab.sh
# TAESD decode stage and the 1-step int8 + TAESD image, fp32 TAESD (A) vs taesdQuantization=int8 (B).
# Asked as A B A B; the bench merges repeated option sets, so it ran A then B once each (bench-ab.txt).
# The bench dir's graph cache started as a copy of /work/bench/prepack/cache (integ's graphs).
OUT=docs/benchmarks/2026-12-07-s10-taesdspeed
date -u; uptime
node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd \
  --bench-dir /work/bench/taesdspeed/bd --stages taesd,image --steps 1 --runs 5 --image-runs 3 \
  --option unetQuantization=int8 --option decoder=taesd \
  --set unetQuantization=int8,decoder=taesd,taesdQuantization=int8 \
  --set unetQuantization=int8,decoder=taesd \
  --set unetQuantization=int8,decoder=taesd,taesdQuantization=int8 \
  --json $OUT/bench-ab.json
date -u; uptime
