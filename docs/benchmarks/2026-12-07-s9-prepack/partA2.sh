#!/bin/bash
# The text encoder's saved optimised model, as saved today vs with prepacked weights; the int8 UNet's
# (plain, prepacked, prepacked with 1 thread, ORT format from bytes used directly) with a second call;
# 3 rounds interleaved, a fresh process each. Then one verbose load of each UNet form.
set -u
cd "$(dirname "$0")"
C=/work/bench/prepack/cache/optimized
T=$C/text_encoder-83906ca974f807e0012dfe19a1ef19ca/model.onnx
U=$C/unet-c75c3afb60ea43e9238e3bfeebfd795e/model.onnx
D=/work/bench/prepack/dumps
for i in 1 2 3; do
  echo "round $i load $(cat /proc/loadavg)"
  node create-probe.mjs load $T '{"tag":"te-plain"}'
  node create-probe.mjs load $D/te-pp/model.onnx '{"tag":"te-pp"}'
  node create-probe.mjs load $U '{"tag":"unet-plain","second":1}'
  node create-probe.mjs load $D/unet-pp/model.onnx '{"tag":"unet-pp","second":1}'
  node create-probe.mjs load $D/unet-pp/model.onnx '{"tag":"unet-pp-1thread","threads":1}'
  node create-probe.mjs load $D/unet-ort/model.ort '{"tag":"unet-ort-bytes-direct","bytes":1,"config":{"session.use_ort_model_bytes_directly":"1","session.use_ort_model_bytes_for_initializers":"1"}}'
done
node create-probe.mjs load $D/unet-pp/model.onnx '{"log":0}' > verbose-pp.log 2>&1
node create-probe.mjs load $U '{"log":0}' > verbose-plain.log 2>&1
echo "end load $(cat /proc/loadavg)"
