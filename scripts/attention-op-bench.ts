/**
 * Single-op timings of the UNet's attention formulations (not part of `npm test`): the fused
 * MultiHeadAttention op, MatMul→Softmax→MatMul in float32 and the int8 attention matmuls
 * (int8-layers.ts int8Attention), on SD1.5's self-attention shapes, each with its relative error
 * (max |diff| / max |float output|) against the float32 matmul formulation. Variants alternate
 * round by round, so a busy machine slows them alike; medians.
 *
 *   npx tsx scripts/attention-op-bench.ts [--threads N] [--runs N] [--batch N] [--tokens 4096,1024]
 */
import { parseArgs } from "node:util";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { attention, type LayerContext } from "../src/graph/layers.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import type { WeightSource } from "../src/weights/weight-source.js";

const { values } = parseArgs({
  options: {
    threads: { type: "string" },
    runs: { type: "string", default: "7" },
    batch: { type: "string", default: "1" },
    tokens: { type: "string", default: "4096,1024" },
  },
});
const threads = values.threads ? Number(values.threads) : physicalCoreCount();
const runs = Number(values.runs);
const batch = Number(values.batch);
const runtime = onnxruntimeNode();
const noWeights: WeightSource = {
  names: () => [],
  has: () => false,
  shape: () => [],
  get: () => new Float32Array(),
};

function gaussianish(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  for (let i = 0; i < n; i++) out[i] = u() + u() + u() - 1.5;
  return out;
}

const KINDS = {
  mha: { attention: "mha" },
  matmul: { attention: "matmul" },
  "matmul-int8": { attention: "matmul", int8Attention: true },
} as const;

async function shape(tokens: number, channels: number, heads: number) {
  const dims = [batch, tokens, channels];
  const gflop = (4 * batch * tokens * tokens * channels) / 1e9;
  console.log(`self-attention ${batch}×${tokens}×${channels}, ${heads} heads: ${gflop.toFixed(1)} GFLOP`);
  const feeds = Object.fromEntries(
    ["q", "k", "v"].map((n, i) => [n, { dims, data: gaussianish(batch * tokens * channels, i + 7) }]),
  );
  const sessions: Record<string, Session> = {};
  for (const [name, kind] of Object.entries(KINDS)) {
    const b = new GraphBuilder("attention");
    for (const n of ["q", "k", "v"]) b.input(n, "float32", dims);
    const ctx = { b, weights: noWeights, ...kind } as LayerContext;
    b.output(attention(ctx, "q", "k", "v", { heads, channels }), "y", "float32");
    sessions[name] = await runtime.createSession(serializeModel(b), { intraOpNumThreads: threads });
  }
  const times: Record<string, number[]> = {};
  const outputs: Record<string, Float32Array> = {};
  for (let r = 0; r <= runs; r++) {
    for (const [name, s] of Object.entries(sessions)) {
      const t = performance.now();
      outputs[name] = (await s.run(feeds)).y.data as Float32Array;
      if (r > 0) {
        times[name] ??= [];
        times[name].push(performance.now() - t);
      }
    }
  }
  const ref = outputs.matmul;
  const refMax = ref.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  for (const name of Object.keys(sessions)) {
    const t = times[name].sort((a, c) => a - c);
    let err = 0;
    for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(outputs[name][i] - ref[i]));
    console.log(
      `  ${name.padEnd(12)} median ${t[t.length >> 1].toFixed(1).padStart(8)} ms  min ${t[0].toFixed(1).padStart(8)} ms  rel err ${(err / refMax).toExponential(2)}`,
    );
    await sessions[name].release();
  }
}

for (const tokens of (values.tokens as string).split(",").map(Number)) {
  // SD1.5: 320 channels at 64×64 latents (4096 tokens), 640 at 32×32, 8 heads
  await shape(tokens, tokens >= 4096 ? 320 : tokens >= 1024 ? 640 : 1280, 8);
}
