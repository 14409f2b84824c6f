#!/bin/bash
# run.sh with the time limit cut to end by $UNTIL (UTC, e.g. 04:33); skipped when under 3 minutes are left
cd /work/wt/lvp512
D=docs/benchmarks/2026-12-07-lvp512
label=$1; shift
log=$D/$label.log
{ echo "queued $(date -u +%T), until $UNTIL"; uptime; } > $log
VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json flock /work/bench/heavy.lock bash -c "echo \"lock taken \$(date -u +%T)\"; uptime; left=\$(( \$(date -u -d $UNTIL +%s) - \$(date -u +%s) )); [ \$left -gt 900 ] && left=900; if [ \$left -lt 180 ]; then echo skipped: \$left s left; exit 0; fi; echo timeout \$left; timeout \$left npx tsx scripts/webgpu-lavapipe-fullsize.ts --out $D --label $label $*; echo rc=\$?; date -u +%T; uptime" >> $log 2>&1
