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
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { machineInfo } from "../src/bench/machine-info.js";
import { float, GraphBuilder, MS_DOMAIN } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { downsampleTokens } from "../src/graph/token-downsampling.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";

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
const CHANNELS = 320;
const HEADS = 8;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** Smooth random tokens [side², C]: sums of low-frequency waves per channel plus a little noise. */
function tokens(side: number, seed: number): Float32Array {
  const u = lcg(seed);
  const base = Float32Array.from({ length: CHANNELS * 4 }, u);
  const out = new Float32Array(side * side * CHANNELS);
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++)
      for (let c = 0; c < CHANNELS; c++) {
        const fy = Math.sin((y / side) * 6.3 + base[c]) * base[CHANNELS + c];
        const fx = Math.cos((x / side) * 6.3 + base[2 * CHANNELS + c]) * base[3 * CHANNELS + c];
        out[(y * side + x) * CHANNELS + c] = fy + fx + 0.1 * u();
      }
  return out;
}

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

const median = (xs: number[]) => [...xs].sort((a, c) => a - c)[xs.length >> 1];
const results: object[] = [];
console.log(`${threads} threads, ${runs} interleaved rounds, load ${load()}`);
for (const side of (values.latents as string).split(",").map(Number)) {
  const factors = [1, ...(values.factors as string).split(",").map(Number)];
  const x = { dims: [1, side * side, CHANNELS], data: tokens(side, side) };
  const sessions: Session[] = [];
  for (const f of factors)
    sessions.push(
      await runtime.createSession(serializeModel(graph(side, f)), { intraOpNumThreads: threads }),
    );
  const times: number[][] = factors.map(() => []);
  const cpu: number[][] = factors.map(() => []);
  const outs: Float32Array[] = [];
  for (let round = 0; round <= runs; round++) {
    for (let i = 0; i < factors.length; i++) {
      const c0 = process.cpuUsage();
      const t = performance.now();
      outs[i] = (await sessions[i].run({ x })).y.data as Float32Array;
      const ms = performance.now() - t;
      const c = process.cpuUsage(c0);
      if (round > 0) {
        times[i].push(ms);
        cpu[i].push((c.user + c.system) / 1000);
      }
    }
  }
  for (const s of sessions) await s.release();
  const ref = outs[0];
  const refRms = Math.sqrt(ref.reduce((a, v) => a + v * v, 0) / ref.length);
  factors.forEach((f, i) => {
    let se = 0;
    for (let k = 0; k < ref.length; k++) se += (outs[i][k] - ref[k]) ** 2;
    const relRms = Math.sqrt(se / ref.length) / refRms;
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
if (values.json) {
  const flags = (/^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf-8"))?.[1] ?? "")
    .trim()
    .split(/\s+/);
  const doc = {
    command: `npx tsx scripts/todo-op-bench.ts ${process.argv.slice(2).join(" ")}`,
    startedAt: new Date().toISOString(),
    machine: machineInfo(),
    cpuinfoFlags: flags,
    threads,
    loadAfter: load(),
    results,
  };
  writeFileSync(values.json, `${JSON.stringify(doc, null, 2)}\n`);
}
