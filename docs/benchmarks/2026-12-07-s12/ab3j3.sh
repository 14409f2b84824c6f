#!/bin/bash
# ab2 again with the per-level indices really built (fresh caches for "after"); before = e4297ff (: the engine builds no int8 fusion) and after (token-projections, geglu-halves,
# gather-im2col with per-level indices), interleaved; own optimised-model caches, shared graph caches
O=/work/bench/s12/ab3; mkdir -p $O
F="unetQuantization=int8,decoder=taesd,todoFactor=2,textEncoderQuantization=int8"
bench() { # tree benchdir tag steps n
  local extra=""; [ $4 = 4 ] && extra="--option deepCacheInterval=3"
  (cd $1 && node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir $2 --stages image --steps $4 --image-runs $5 --option unetQuantization=int8 --option decoder=taesd --option todoFactor=2 --option textEncoderQuantization=int8 $extra --json $O/$3.json > $O/$3.txt 2>&1)
}
gen() { # tree cache tag
  cat /proc/loadavg > $O/$3.load
  (cd $1 && SDLITE_CACHE=$2 /usr/bin/time -v -o $O/$3.time node dist/src/cli/main.js generate "a photo of a cat" -m /work/bench/sd15/model.safetensors --fast --taesd /work/bench/taesd --steps 1 --cfg 1 --sampler LCM -W 512 -H 512 --seed 1 --json -o $O/png-$3/ > $O/$3.json 2> $O/$3.stderr)
}
B=/work/wt/before; A=/work/main
# the 4-step rounds again: the first try of the "after" side ran out of disk (ENOSPC, files kept as j3-after-*.txt.enospc)
for f in $O/j3-after-*.txt; do mv $f $f.enospc; done
for f in $O/j3-before-*.json $O/j3-before-*.txt; do mv $f $f.first; done
bench $B /work/bench/qb j3-before-warm 4 1; bench $A /work/bench/qa2 j3-after-warm 4 1
for r in 1 2; do
  uptime >> $O/load.txt
  bench $B /work/bench/qb j3-before-$r 4 3; bench $A /work/bench/qa2 j3-after-$r 4 3
done
uptime >> $O/load.txt
