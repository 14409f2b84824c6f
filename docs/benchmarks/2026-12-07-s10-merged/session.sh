#!/bin/sh
# the end of session 10: generate --fast start-up series (main vs the merge), then the bench A/B (final2/)
HERE=$(cd "$(dirname "$0")" && pwd)
/work/wt/integ/docs/benchmarks/2026-12-07-s10-faststart/run-series.sh "$HERE/generate-series" 3 /work/main /work/wt/integ
"$HERE/final2/ab.sh"
