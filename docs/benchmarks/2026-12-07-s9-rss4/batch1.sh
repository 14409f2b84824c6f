#!/bin/sh
# run under: flock /work/bench/heavy.lock sh docs/benchmarks/2026-12-07-s9-rss4/batch1.sh
cd /work/wt/rss4
date -u; uptime
for v in base unet-nopattern+shallow-nopattern unet-noarena+unet-nopattern+shallow-noarena+shallow-nopattern taesd-nopattern; do
  node docs/benchmarks/2026-12-07-s9-rss4/server-replica.mjs /work/wt/rss4 /work/bench/rss4/cache $v 2
done
uptime
GRAPH=c75c3afb node docs/benchmarks/2026-12-07-s9-rss4/pattern-ab.mjs /work/wt/rss4 /work/bench/rss4/cache unet 4
node docs/benchmarks/2026-12-07-s9-rss4/pattern-ab.mjs /work/wt/rss4 /work/bench/rss4/cache unet_shallow 6
date -u; uptime
[ -f docs/benchmarks/2026-12-07-s9-rss4/batch2.sh ] && sh docs/benchmarks/2026-12-07-s9-rss4/batch2.sh
