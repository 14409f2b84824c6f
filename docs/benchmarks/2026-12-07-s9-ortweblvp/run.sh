# the full-size run (under the shared lock), from the repository root
flock /work/bench/heavy.lock bash -c "date -u; uptime; VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json /usr/bin/time -v timeout 900 npx tsx scripts/webgpu-lavapipe-fullsize.ts --runtime web --out /work/bench/ortweblvp/out; echo rc=\$?; date -u; uptime"
# the test file
node --import tsx --test test/webgpu-fp16-ortweb-lavapipe.test.ts
