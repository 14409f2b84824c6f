#!/bin/sh
# j3's server set (serve --fast: int8 + TAESD + DeepCache 3, networks kept), this branch then main, one sitting; the image MD5s; a memory trace of the branch
J3="bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/rss4 --stages image --steps 4 --image-runs 3 --option unetQuantization=int8 --option decoder=taesd --option deepCacheInterval=3"

for side in branch main; do
  [ $side = main ] && cd /work/wt/rss4-base || cd /work/wt/rss4
  date -u; uptime
  node dist/src/cli/main.js $J3 --json /work/bench/rss4/j3s2-$side.json > /work/wt/rss4/docs/benchmarks/2026-12-07-s9-rss4/j3s2-$side.txt 2>&1
  (echo $side; md5sum /work/bench/rss4/images/*.png) >> /work/wt/rss4/docs/benchmarks/2026-12-07-s9-rss4/j3s2-images.md5
  cp /work/bench/rss4/j3s2-$side.json /work/wt/rss4/docs/benchmarks/2026-12-07-s9-rss4/ 2>/dev/null
done
date -u; uptime
cd /work/wt/rss4
for v in base unet-nopattern+shallow-nopattern unet-nopattern+shallow-nopattern+taesd-nopattern; do
  node docs/benchmarks/2026-12-07-s9-rss4/server-replica.mjs /work/wt/rss4 /work/bench/rss4/cache $v 2 >> docs/benchmarks/2026-12-07-s9-rss4/replica.txt 2>&1
done
node docs/benchmarks/2026-12-07-s9-rss4/memory-trace.mjs /work/wt/rss4 /work/bench/rss4/cache 4 2 unetQuantization=int8,decoder=taesd,deepCacheInterval=3 > docs/benchmarks/2026-12-07-s9-rss4/trace-branch.tsv 2>docs/benchmarks/2026-12-07-s9-rss4/trace-branch.err
date -u; uptime
