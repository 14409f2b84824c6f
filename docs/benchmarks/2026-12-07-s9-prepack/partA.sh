#!/bin/bash
# Session creation of the saved optimised int8 UNet and text encoder: as saved today (plain), with
# prepacked weights (pp), and (UNet) in ORT format loaded by path or from bytes used directly.
# Each load in a fresh process, 3 rounds interleaved. Run under flock /work/bench/heavy.lock.
set -u
cd "$(dirname "$0")"
C=/work/bench/prepack/cache/optimized
U=$(ls -d $C/unet-c75c3afb60ea43e9238e3bfeebfd795e)/model.onnx
T=$(ls -d $C/text_encoder-83906ca974f807e0012dfe19a1ef19ca)/model.onnx
D=/work/bench/prepack/dumps
mkdir -p $D/te-pp $D/unet-ort
[ -f $D/te-pp/model.onnx ] || node create-probe.mjs dump $T $D/te-pp/model.onnx '{"config":{"session.save_external_prepacked_constant_initializers":"1"}}'
[ -f $D/unet-ort/model.ort ] || node create-probe.mjs dump $U $D/unet-ort/model.ort '{}'
ls -l $D/*/
for i in 1 2 3; do
  echo "round $i load $(cat /proc/loadavg)"
  node create-probe.mjs load $U '{}'
  node create-probe.mjs load $D/unet-pp/model.onnx '{}'
  node create-probe.mjs load $D/unet-ort/model.ort '{}'
  node create-probe.mjs load $D/unet-ort/model.ort '{"bytes":1,"config":{"session.use_ort_model_bytes_directly":"1","session.use_ort_model_bytes_for_initializers":"1"}}'
  node create-probe.mjs load $D/unet-pp/model.onnx '{"threads":1}'
  node create-probe.mjs load $T '{}'
  node create-probe.mjs load $D/te-pp/model.onnx '{}'
done
echo "end load $(cat /proc/loadavg)"
