#!/bin/bash
# one locked run of scripts/webgpu-lavapipe-fullsize.ts; $1 = label, the rest = script options
cd /work/wt/lvp512
D=docs/benchmarks/2026-12-07-lvp512
label=$1; shift
log=$D/$label.log
{ echo "queued $(date -u +%T)"; uptime; } > $log
export TIMEOUT=${TIMEOUT:-900}
VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json flock /work/bench/heavy.lock bash -c "echo \"lock taken \$(date -u +%T)\"; uptime; timeout ${TIMEOUT:-900} npx tsx scripts/webgpu-lavapipe-fullsize.ts --out $D --label $label $*; echo rc=\$?; date -u +%T; uptime" >> $log 2>&1
