#!/bin/sh
# j3's server set (serve --fast: int8 + TAESD + DeepCache 3, networks kept), main then this branch, one sitting
J3="bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/rss4 --stages image --steps 4 --image-runs 3 --option unetQuantization=int8 --option decoder=taesd --option deepCacheInterval=3"
grep -m1 '^flags' /proc/cpuinfo > /work/wt/rss4/docs/benchmarks/2026-12-07-s9-rss4/cpuflags.txt
for side in main branch; do
  [ $side = main ] && cd /work/wt/rss4-base || cd /work/wt/rss4
  date -u; uptime
  node dist/src/cli/main.js $J3 --json /work/bench/rss4/j3s-$side.json > /work/wt/rss4/docs/benchmarks/2026-12-07-s9-rss4/j3s-$side.txt 2>&1
  cp /work/bench/rss4/j3s-$side.json /work/wt/rss4/docs/benchmarks/2026-12-07-s9-rss4/ 2>/dev/null
done
date -u; uptime
