#!/bin/bash
# interleaved A/B of the two lavapipe fp16 test files: wall and CPU seconds
cd "$(dirname "$0")/.."
for round in 1 2; do
  for f in test/webgpu-fp16-ortweb-lavapipe.test.ts test/webgpu-fp16-lavapipe.test.ts; do
    echo "round $round $f load $(cut -d' ' -f1-3 /proc/loadavg)"
    /usr/bin/time -f "wall %e s user %U s sys %S s maxrss %M kB" node --import tsx --test "$f" 2>&1 | grep -E "^# (pass|fail)|^wall"
  done
done
