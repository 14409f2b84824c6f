#!/bin/bash
# (c) the --fast server set, 1 step and 4 steps (DeepCache 3), with and without todoFactor=2
cd /work/wt/todo
B="node dist/src/cli/main.js bench -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --bench-dir /work/bench/todo --stages image --image-runs 3 --option unetQuantization=int8 --option decoder=taesd --option lowMemory=true"
S1="unetQuantization=int8,decoder=taesd,lowMemory=true"
date -u; cat /proc/loadavg
$B --steps 1 --set $S1,todoFactor=2 --json /work/bench/todo/c1-step1.json > /work/bench/todo/c1-step1.txt 2>&1
date -u; cat /proc/loadavg
$B --steps 4 --option deepCacheInterval=3 --set $S1,deepCacheInterval=3,todoFactor=2 --json /work/bench/todo/c4-step4.json > /work/bench/todo/c4-step4.txt 2>&1
date -u; cat /proc/loadavg
