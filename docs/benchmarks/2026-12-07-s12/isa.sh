#!/bin/bash
# AMX (onnxruntime's default here) against AVX-512 VNNI (AMX permission refused by seccomp, noamx) for --fast's
# server sets; the noamx runs use their own optimised-model cache (MLAS packs int8 weights per kernel)
cd /work/main
O=/work/bench/s12/isa; mkdir -p $O
F="unetQuantization=int8,decoder=taesd,todoFactor=2,textEncoderQuantization=int8"
run() { # mode round
  local pre="" dir=/work/bench/q n=3
  [ $1 = noamx ] && pre=/work/bench/s12/noamx/noamx && dir=/work/bench/qv
  [ $2 = warm ] && n=1
  B="$pre node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir $dir --stages image --option unetQuantization=int8 --option decoder=taesd --option todoFactor=2 --option textEncoderQuantization=int8"
  uptime >> $O/load.txt
  $B --steps 1 --image-runs $n --set $F,taesdQuantization=int8 --json $O/j1-$1-$2.json > $O/j1-$1-$2.txt 2>&1
  $B --steps 4 --option deepCacheInterval=3 --image-runs $n --json $O/j3-$1-$2.json > $O/j3-$1-$2.txt 2>&1
}
run noamx warm
run amx warm
for r in 1 2; do run amx $r; run noamx $r; done
uptime >> $O/load.txt
