#!/bin/bash
# the same txt2img on the CPU provider (fp32) through the CLI: the reference for the lavapipe fp16 image
cd /work/wt/lvp512
D=docs/benchmarks/2026-12-07-lvp512
log=$D/cpu-reference-512.stdout.txt
{ echo "queued $(date -u +%T), until $UNTIL"; uptime; } > $log
flock /work/bench/heavy.lock bash -c "echo \"lock taken \$(date -u +%T)\"; uptime; left=\$(( \$(date -u -d $UNTIL +%s) - \$(date -u +%s) )); [ \$left -gt 600 ] && left=600; if [ \$left -lt 120 ]; then echo skipped: \$left s left; exit 0; fi; echo timeout \$left; SDLITE_CACHE=/work/bench/lvp512/cache-cpu timeout \$left npx tsx src/cli/main.ts generate 'a photo of a lighthouse on a cliff at dusk' -m /work/bench/sd15/model.safetensors --taesd /work/bench/taesd --decoder taesd --sampler LCM --steps 1 --cfg 1 -W 512 -H 512 --seed 42 --device cpu -o $D/cpu-reference-512.png --json; echo rc=\$?; date -u +%T; uptime" >> $log 2>&1
