/**
 * One 3x3 conv of each SD1.5 UNet level (batch 2 by default), direct Conv against Winograd F(2x2,3x3)
 * and F(4x4,3x3) in the graph (graph/winograd-conv.ts), sessions open side by side and the timed calls
 * interleaved; also each form's max |diff| against the direct conv. Not part of `npm test`.
 *
 *   npx tsx scripts/winograd-conv-bench.ts [--batch 2] [--runs 7] [--threads N] [--shapes 320x64,640x32,...]
 *
 * A shape "CxS" is a C→C conv on an S×S latent; "C:KxS" a C→K one.
 */
import { readFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type ConvAlgorithm, winogradTileFor } from "../src/graph/conv-algorithm.js";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { conv2d, type LayerContext } from "../src/graph/layers.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { parseOrtTrace } from "../src/profile/ort-trace.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import type { WeightSource } from "../src/weights/weight-source.js";

const { values } = parseArgs({
  options: {
    batch: { type: "string", default: "2" },
    runs: { type: "string", default: "7" },
    threads: { type: "string" },
    shapes: { type: "string", default: "320x64,640x32,1280x16,1280x8,960:640x32,640:320x64" },
    algorithms: { type: "string", default: "direct,winograd-f2,winograd-f4" },
    profile: { type: "boolean", default: false },
  },
});
const batch = Number(values.batch);
const runs = Number(values.runs);
const threads = values.threads ? Number(values.threads) : physicalCoreCount();
const algorithms = (values.algorithms as string).split(",") as ConvAlgorithm[];

function uniform(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runtime = onnxruntimeNode();
console.log(
  `batch ${batch}, ${threads} threads, ${runs} interleaved rounds, ${cpus()[0]?.model}; load ${loadavg()[0].toFixed(2)}`,
);
console.log(
  "| conv (C→K @ S×S) | GFLOP direct | " +
    algorithms.map((a) => `${a} ms`).join(" | ") +
    " | speed-up | max |diff| |",
);
for (const spec of (values.shapes as string).split(",")) {
  const [ch, s] = spec.split("x");
  const [c, k] = ch.includes(":") ? ch.split(":").map(Number) : [Number(ch), Number(ch)];
  const size = Number(s);
  const weight = uniform(k * c * 9, 1, 1 / Math.sqrt(c * 9));
  const bias = uniform(k, 2, 0.1);
  const weights: WeightSource = {
    names: () => ["conv.weight", "conv.bias"],
    has: (n) => n === "conv.weight" || n === "conv.bias",
    shape: (n) => (n === "conv.weight" ? [k, c, 3, 3] : [k]),
    get: (n) => (n === "conv.weight" ? weight : bias),
  };
  const dims = [batch, c, size, size];
  const x = uniform(batch * c * size * size, 3, 1);
  const sessions: { algorithm: ConvAlgorithm; session: Session; times: number[]; out: Float32Array }[] = [];
  for (const algorithm of algorithms) {
    const b = new GraphBuilder("conv");
    const ctx: LayerContext = { b, weights, attention: "matmul", convAlgorithm: algorithm };
    b.output(conv2d(ctx, "conv", b.input("x", "float32", ["n", c, "h", "w"])), "y", "float32");
    const session = await runtime.createSession(serializeModel(b), {
      intraOpNumThreads: threads,
      ...(values.profile
        ? { enableProfiling: true, profileFilePrefix: join(tmpdir(), `wconv-${algorithm}`) }
        : {}),
    });
    const out = (await session.run({ x: { dims, data: x } })).y.data as Float32Array;
    sessions.push({ algorithm, session, times: [], out });
  }
  for (let r = 0; r < runs; r++) {
    for (const p of r % 2 ? [...sessions].reverse() : sessions) {
      const t = performance.now();
      await p.session.run({ x: { dims, data: x } });
      p.times.push(performance.now() - t);
    }
  }
  const direct = sessions[0];
  const gflop = (2 * batch * k * c * 9 * size * size) / 1e9;
  const ms = sessions.map((p) => median(p.times));
  const diffs = sessions.slice(1).map((p) => {
    let m = 0;
    for (let i = 0; i < p.out.length; i++) m = Math.max(m, Math.abs(p.out[i] - direct.out[i]));
    return `${p.algorithm.replace("winograd-", "")}(F${winogradTileFor(p.algorithm, [k, c, 3, 3], 1, 1)}) ${m.toExponential(1)}`;
  });
  console.log(
    `| ${c}→${k} @ ${size}×${size} | ${gflop.toFixed(2)} | ${ms.map((m) => m.toFixed(1)).join(" | ")} | ${ms
      .slice(1)
      .map((m) => `${(ms[0] / m).toFixed(2)}x`)
      .join(", ")} | ${diffs.join(", ")} |`,
  );
  for (const p of sessions) {
    if (values.profile) {
      const trace = await p.session.endProfiling?.();
      if (trace) {
        const calls = parseOrtTrace(JSON.parse(readFileSync(trace, "utf-8"))).slice(1);
        const byType = new Map<string, number>();
        for (const call of calls)
          for (const kn of call.kernels)
            byType.set(kn.opType, (byType.get(kn.opType) ?? 0) + kn.duration / 1e3 / calls.length);
        const parts = [...byType].sort((a, b) => b[1] - a[1]).map(([t, v]) => `${t} ${v.toFixed(1)}`);
        console.log(`    ${p.algorithm} kernels (ms per call): ${parts.join(", ")}`);
      }
    }
    await p.session.release();
  }
}
