/**
 * Timings of ToDo token downsampling on one full-resolution self-attention (not part of `npm test`):
 * SD1.5's level-0 attn1 (320 channels, 8 heads) as to_q/to_k/to_v (float32 MatMul, random weights)
 * → onnxruntime's fused MultiHeadAttention, against the same with k and v computed from the tokens
 * downsampled nearest-exact by the factor (token-downsampling.ts): the scores shrink by factor², the
 * k/v products by factor². Also the relative error of the output on smooth tokens (neighbours
 * alike, as latent features are). Variants alternate round by round, so a busy machine slows them
 * alike; medians, and the process CPU seconds per call.
 *
 *   npx tsx scripts/todo-op-bench.ts [--threads N] [--runs N] [--latents 64,96] [--factors 2,3] [--json FILE]
 */
import { parseArgs } from "node:util";
import { float, GraphBuilder, MS_DOMAIN } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { downsampleTokens } from "../src/graph/token-downsampling.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import {
  CHANNELS,
  HEADS,
  lcg,
  load,
  median,
  relativeRms,
  runInterleaved,
  smoothTokens,
  writeBenchJson,
} from "./lib/token-attention-bench.js";

const { values } = parseArgs({
  options: {
    threads: { type: "string" },
    runs: { type: "string", default: "9" },
    latents: { type: "string", default: "64" },
    factors: { type: "string", default: "2" },
    json: { type: "string" },
  },
});
const threads = values.threads ? Number(values.threads) : physicalCoreCount();
const runs = Number(values.runs);
const runtime = onnxruntimeNode();

function graph(side: number, factor: number): GraphBuilder {
  const b = new GraphBuilder("todo_attention");
  b.input("x", "float32", [1, side * side, CHANNELS]);
  const u = lcg(7);
  const weight = () =>
    b.constFloat(
      Float32Array.from({ length: CHANNELS * CHANNELS }, () => u() * 0.1),
      [CHANNELS, CHANNELS],
    );
  const [wq, wk, wv] = [weight(), weight(), weight()];
  const kv = downsampleTokens(b, "x", b.constInt64([side]), b.constInt64([side]), factor);
  const q = b.node("MatMul", ["x", wq]);
  const k = b.node("MatMul", [kv, wk]);
  const v = b.node("MatMul", [kv, wv]);
  const y = b.node(
    "MultiHeadAttention",
    [q, k, v],
    { num_heads: HEADS, scale: float((CHANNELS / HEADS) ** -0.5) },
    { domain: MS_DOMAIN },
  );
  b.output(y, "y", "float32");
  return b;
}

const results: object[] = [];
console.log(`${threads} threads, ${runs} interleaved rounds, load ${load()}`);
for (const side of (values.latents as string).split(",").map(Number)) {
  const factors = [1, ...(values.factors as string).split(",").map(Number)];
  const x = { dims: [1, side * side, CHANNELS], data: smoothTokens(side, side) };
  const sessions: Session[] = [];
  for (const f of factors)
    sessions.push(
      await runtime.createSession(serializeModel(graph(side, f)), { intraOpNumThreads: threads }),
    );
  const { times, cpu, outputs } = await runInterleaved(sessions, x, runs);
  for (const s of sessions) await s.release();
  factors.forEach((f, i) => {
    const relRms = relativeRms(outputs[i], outputs[0]);
    const row = {
      image: side * 8,
      latents: side,
      tokens: side * side,
      kvTokens: Math.floor(side / f) ** 2,
      factor: f,
      medianMs: median(times[i]),
      minMs: Math.min(...times[i]),
      medianCpuMs: median(cpu[i]),
      runsMs: times[i],
      speedup: median(times[0]) / median(times[i]),
      relRmsVsFull: relRms,
    };
    results.push(row);
    console.log(
      `${side * 8}px (${side * side} tokens, kv ${row.kvTokens}) factor ${f}: median ${row.medianMs.toFixed(1)} ms (CPU ${row.medianCpuMs.toFixed(0)} ms), min ${row.minMs.toFixed(1)} ms, ${row.speedup.toFixed(2)}x, rel RMS vs full ${relRms.toExponential(2)}`,
    );
  });
}
console.log(`done, load ${load()}`);
if (values.json) writeBenchJson(values.json, "scripts/todo-op-bench.ts", threads, results);
