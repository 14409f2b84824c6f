/**
 * Single-op timings behind the int8 UNet's design (not part of `npm test`): SD-shaped linears and
 * convs, fp32 against every int8 formulation onnxruntime-node's CPU EP offers, each with its
 * relative error (max |diff| / max |fp32 output|). Re-run it on the target CPU: int8 GEMM speed
 * depends on the instruction set (AVX2 vpmaddubsw, AVX-512 VNNI, AMX) far more than fp32 does.
 *
 *   npx tsx scripts/int8-op-bench.ts [--threads N] [--runs N]
 */
import { parseArgs } from "node:util";
import { GraphBuilder, MS_DOMAIN } from "../src/graph/graph-builder.js";
import { int8Conv2d, int8Linear } from "../src/graph/int8-layers.js";
import type { LayerContext } from "../src/graph/layers.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { quantizeBlockwiseUint8, quantizeRowsInt8 } from "../src/graph/quantize.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { WeightSource } from "../src/weights/weight-source.js";

const { values } = parseArgs({
  options: { threads: { type: "string" }, runs: { type: "string", default: "7" } },
});
const threads = values.threads ? Number(values.threads) : physicalCoreCount();
const runs = Number(values.runs);
const runtime = onnxruntimeNode();

function uniform(n: number, scale: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

function source(tensors: Record<string, { shape: number[]; data: Float32Array }>): WeightSource {
  return {
    names: () => Object.keys(tensors),
    has: (k) => k in tensors,
    shape: (k) => tensors[k].shape,
    get: (k) => tensors[k].data,
  };
}

let reference: Float32Array | undefined;
async function time(
  label: string,
  gflop: number,
  dims: number[],
  x: Float32Array,
  build: (b: GraphBuilder) => string,
) {
  const b = new GraphBuilder("op");
  b.input("x", "float32", dims);
  b.output(build(b), "y", "float32");
  let session: Awaited<ReturnType<typeof runtime.createSession>>;
  try {
    session = await runtime.createSession(serializeModel(b), { intraOpNumThreads: threads });
  } catch (err) {
    console.log(`  ${label.padEnd(44)} unavailable: ${String(err).split("\n")[0].slice(0, 120)}`);
    return;
  }
  try {
    let y = (await session.run({ x: { dims, data: x } })).y.data as Float32Array;
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t = performance.now();
      y = (await session.run({ x: { dims, data: x } })).y.data as Float32Array;
      times.push(performance.now() - t);
    }
    times.sort((a, c) => a - c);
    let err = 0;
    let ref = 0;
    if (reference) {
      for (let i = 0; i < y.length; i++) {
        err = Math.max(err, Math.abs(y[i] - reference[i]));
        ref = Math.max(ref, Math.abs(reference[i]));
      }
    } else reference = y;
    const med = times[Math.floor(times.length / 2)];
    console.log(
      `  ${label.padEnd(44)} median ${med.toFixed(2).padStart(7)} ms  min ${times[0].toFixed(2).padStart(7)} ms  ${((gflop / times[0]) * 1e3).toFixed(0).padStart(5)} GFLOP/s  rel err ${ref ? (err / ref).toExponential(1) : "-"}`,
    );
  } finally {
    await session.release();
  }
}

async function linearCase(m: number, k: number, n: number) {
  const gflop = (2 * m * k * n) / 1e9;
  console.log(`linear [${m}, ${k}] x [${k}, ${n}]: ${gflop.toFixed(2)} GFLOP`);
  reference = undefined;
  const x = uniform(m * k, 1, 1);
  const w = uniform(n * k, 1 / Math.sqrt(k), 2);
  const weights = source({ "l.weight": { shape: [n, k], data: w } });
  await time("fp32 MatMul", gflop, [1, m, k], x, (b) =>
    b.node("MatMul", ["x", b.node("Transpose", [b.weight(weights, "l.weight")], { perm: [1, 0] })]),
  );
  await time("DynamicQuantizeMatMul (u8 x s8, the UNet's)", gflop, [1, m, k], x, (b) =>
    int8Linear({ b, weights, attention: "matmul" }, "l", "x", { bias: false }),
  );
  for (const block of [32, 128]) {
    for (const accuracy of [0, 4]) {
      const q = quantizeBlockwiseUint8(w, n, k, block);
      await time(`MatMulNBits 8-bit block ${block} accuracy_level ${accuracy}`, gflop, [1, m, k], x, (b) =>
        b.node(
          "MatMulNBits",
          [
            "x",
            b.initializer({ name: "q", elementType: "uint8", dims: [n, q.blocks, block], data: q.values }),
            b.initializer({ name: "s", elementType: "float32", dims: [n * q.blocks], data: q.scales }),
          ],
          { K: k, N: n, bits: 8, block_size: block, accuracy_level: accuracy },
          { domain: MS_DOMAIN },
        ),
      );
    }
  }
}

async function convCase(c: number, m: number, size: number, kernel: number) {
  const gflop = (2 * c * m * kernel * kernel * size * size) / 1e9;
  console.log(`conv ${c}→${m} ${kernel}×${kernel} on ${size}×${size}: ${gflop.toFixed(2)} GFLOP`);
  reference = undefined;
  const dims = [1, c, size, size];
  const x = uniform(c * size * size, 1, 3);
  const w = uniform(m * c * kernel * kernel, 1 / Math.sqrt(c * kernel * kernel), 4);
  const weights = source({
    "c.weight": { shape: [m, c, kernel, kernel], data: w },
    "c.bias": { shape: [m], data: uniform(m, 0.1, 5) },
  });
  const pad = Math.floor(kernel / 2);
  const attrs = { kernel_shape: [kernel, kernel], pads: [pad, pad, pad, pad], strides: [1, 1] };
  await time("fp32 Conv (NCHWc)", gflop, dims, x, (b) =>
    b.node("Conv", ["x", b.weight(weights, "c.weight"), b.weight(weights, "c.bias")], attrs),
  );
  const ctx: (b: GraphBuilder) => LayerContext = (b) => ({ b, weights, attention: "matmul" });
  await time("NHWC im2col + MatMulIntegerToFloat (the UNet's)", gflop, dims, x, (b) =>
    int8Conv2d(ctx(b), "c", "x"),
  );
  const q = quantizeRowsInt8(w, m, c * kernel * kernel);
  for (const weightType of ["int8", "uint8"] as const) {
    await time(`DynamicQuantizeLinear + ConvInteger (${weightType} w)`, gflop, dims, x, (b) => {
      const [xq, xs, xz] = b.nodeOutputs("DynamicQuantizeLinear", ["x"], {}, { outputCount: 3 });
      const codes =
        weightType === "int8" ? new Uint8Array(q.values.buffer) : Uint8Array.from(q.values, (v) => v + 128);
      const wq = b.initializer({
        name: "wq",
        elementType: weightType,
        dims: [m, c, kernel, kernel],
        data: codes,
      });
      const wz = b.initializer({
        name: "wz",
        elementType: weightType,
        dims: [],
        data: Uint8Array.of(weightType === "int8" ? 0 : 128),
      });
      const acc = b.node("Cast", [b.node("ConvInteger", [xq, wq, xz, wz], attrs)], { to: 1 });
      const scale = b.node("Mul", [xs, b.constFloat(q.scales, [1, m, 1, 1])]);
      return b.node("Add", [
        b.node("Mul", [acc, scale]),
        b.node("Unsqueeze", [b.weight(weights, "c.bias"), b.constInt64([1, 2])]),
      ]);
    });
  }
  // needs a static output scale (calibration): here the fp32 output's range, for speed only
  const outMax = (reference as Float32Array | undefined)?.reduce((a, v) => Math.max(a, Math.abs(v)), 0) ?? 1;
  await time("QLinearConv (static output scale: speed only)", gflop, dims, x, (b) => {
    const [xq, xs, xz] = b.nodeOutputs("DynamicQuantizeLinear", ["x"], {}, { outputCount: 3 });
    const ws = b.constFloat(q.scales);
    const ys = b.constScalar(outMax / 127);
    const yz = b.initializer({ name: "yz", elementType: "uint8", dims: [], data: Uint8Array.of(128) });
    const wq = b.initializer({
      name: "wq",
      elementType: "int8",
      dims: [m, c, kernel, kernel],
      data: new Uint8Array(q.values.buffer),
    });
    const wz = b.initializer({ name: "wz", elementType: "int8", dims: [m], data: new Uint8Array(m) });
    const bias = b.node(
      "Cast",
      [b.node("Round", [b.node("Div", [b.weight(weights, "c.bias"), b.node("Mul", [xs, ws])])])],
      { to: 6 },
    );
    const yq = b.node("QLinearConv", [xq, xs, xz, wq, ws, wz, ys, yz, bias], attrs);
    return b.node("DequantizeLinear", [yq, ys, yz]);
  });
}

console.log(`onnxruntime-node CPU, ${threads} threads, best of ${runs}`);
// SD1.5 at 64×64 latents: attention/FF linears at each level, resnet 3×3 convs, a 1×1 shortcut
await linearCase(4096, 320, 320);
await linearCase(4096, 320, 2560);
await linearCase(4096, 1280, 320);
await linearCase(256, 1280, 1280);
await convCase(320, 320, 64, 3);
await convCase(640, 640, 32, 3);
await convCase(1280, 1280, 16, 3);
await convCase(960, 320, 64, 1);
