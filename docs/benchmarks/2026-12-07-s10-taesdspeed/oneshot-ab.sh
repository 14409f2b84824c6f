#!/bin/sh
# run under: flock /work/bench/heavy.lock sh docs/benchmarks/2026-12-07-s10-taesdspeed/oneshot-ab.sh
# The 1-step int8 + TAESD image in low-memory mode (what a one-shot `generate --fast` runs), integ's code
# (0c4102a, built in /work/bench/taesdspeed/base: TAESD without the memory pool) vs this branch (TAESD with
# the pool in low-memory mode; and with taesdQuantization=int8), base branch base branch.
# The base tree (removed after the run to free disk; to rebuild it):
#   mkdir -p /work/bench/taesdspeed/base && cd /work/bench/taesdspeed/base && git -C /work/wt/taesdspeed archive 0c4102a | tar -x \
#     && cp -al /work/wt/taesdspeed/node_modules ./node_modules && npx tsc -p tsconfig.json
# The bench dir's graph cache was a hard-linked copy of /work/bench/prepack/cache (also removed; a fresh one is built).
OUT=docs/benchmarks/2026-12-07-s10-taesdspeed
COMMON="-m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/taesdspeed/bd \
  --stages image --steps 1 --image-runs 3 --option unetQuantization=int8 --option decoder=taesd --option lowMemory=true"
for round in 1 2; do
  date -u; uptime
  (cd /work/bench/taesdspeed/base && node dist/src/cli/main.js bench $COMMON --json /tmp/taesdspeed-base$round.json) \
    > $OUT/oneshot-base$round.txt 2>&1
  cp /tmp/taesdspeed-base$round.json $OUT/oneshot-base$round.json
  date -u; uptime
  node dist/src/cli/main.js bench $COMMON --set unetQuantization=int8,decoder=taesd,lowMemory=true,taesdQuantization=int8 \
    --json $OUT/oneshot-branch$round.json > $OUT/oneshot-branch$round.txt 2>&1
done
date -u; uptime
