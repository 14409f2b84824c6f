/**
 * Timings of ToMe token merging on one full-resolution self-attention (not part of `npm test`):
 * onnxruntime's fused MultiHeadAttention over all N tokens against merge (token-merging.ts, plan
 * included) → attention over N − r tokens → unmerge, on SD1.5's level-0 shape (320 channels,
 * 8 heads) at 768² and 1024² images (96² and 128² latents), with the relative error of the merged
 * output. Variants alternate round by round, so a busy machine slows them alike; medians.
 *
 *   npx tsx scripts/tome-op-bench.ts [--threads N] [--runs N] [--latents 64,96,128] [--ratios 0.5] [--json FILE]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { machineInfo } from "../src/bench/machine-info.js";
import { float, GraphBuilder, MS_DOMAIN } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { tokenMerging } from "../src/graph/token-merging.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";

const { values } = parseArgs({
  options: {
    threads: { type: "string" },
    runs: { type: "string", default: "5" },
    latents: { type: "string", default: "64,96,128" },
    ratios: { type: "string", default: "0.5" },
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

/** Smooth random tokens: neighbouring latents are similar, as in a real image's features. */
function tokens(side: number, seed: number): Float32Array {
  const out = new Float32Array(side * side * CHANNELS);
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const base = Float32Array.from({ length: CHANNELS * 8 }, u);
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++)
      for (let c = 0; c < CHANNELS; c++) {
        const fy = Math.sin((y / side) * 6.3 + base[c]) * base[CHANNELS + c];
        const fx = Math.cos((x / side) * 6.3 + base[2 * CHANNELS + c]) * base[3 * CHANNELS + c];
        out[(y * side + x) * CHANNELS + c] = fy + fx + 0.1 * u();
      }
  return out;
}

function graph(side: number, ratio: number): GraphBuilder {
  const b = new GraphBuilder("tome_attention");
  b.input("x", "float32", [1, side * side, CHANNELS]);
  const mha = (v: string) =>
    b.node(
      "MultiHeadAttention",
      [v, v, v],
      { num_heads: HEADS, scale: float((CHANNELS / HEADS) ** -0.5) },
      { domain: MS_DOMAIN },
    );
  if (ratio === 0) {
    b.output(mha("x"), "y", "float32");
  } else {
    const plan = tokenMerging(b, "x", b.constInt64([side]), b.constInt64([side]), ratio);
    b.output(plan.unmerge(mha(plan.merge("x"))), "y", "float32");
  }
  return b;
}

const results: object[] = [];
console.log(`${threads} threads, ${runs} interleaved rounds, load ${load()}`);
for (const side of (values.latents as string).split(",").map(Number)) {
  const ratios = [0, ...(values.ratios as string).split(",").map(Number)];
  const x = { dims: [1, side * side, CHANNELS], data: tokens(side, side) };
  const sessions: Session[] = [];
  for (const r of ratios)
    sessions.push(
      await runtime.createSession(serializeModel(graph(side, r)), { intraOpNumThreads: threads }),
    );
  const times: number[][] = ratios.map(() => []);
  const outs: Float32Array[] = [];
  for (let round = 0; round <= runs; round++) {
    for (let i = 0; i < ratios.length; i++) {
      const t = performance.now();
      outs[i] = (await sessions[i].run({ x })).y.data as Float32Array;
      if (round > 0) times[i].push(performance.now() - t);
    }
  }
  for (const s of sessions) await s.release();
  const median = (xs: number[]) => [...xs].sort((a, c) => a - c)[xs.length >> 1];
  const ref = outs[0];
  const refRms = Math.sqrt(ref.reduce((a, v) => a + v * v, 0) / ref.length);
  ratios.forEach((r, i) => {
    let se = 0;
    for (let k = 0; k < ref.length; k++) se += (outs[i][k] - ref[k]) ** 2;
    const relRms = Math.sqrt(se / ref.length) / refRms;
    const row = {
      image: side * 8,
      latents: side,
      tokens: side * side,
      ratio: r,
      medianMs: median(times[i]),
      minMs: Math.min(...times[i]),
      runsMs: times[i],
      speedup: median(times[0]) / median(times[i]),
      relRmsVsUnmerged: relRms,
    };
    results.push(row);
    console.log(
      `${side * 8}px (${side * side} tokens) ratio ${r}: median ${row.medianMs.toFixed(0)} ms, min ${row.minMs.toFixed(0)} ms, ${row.speedup.toFixed(2)}x, rel RMS vs unmerged ${relRms.toExponential(2)}`,
    );
  });
}
console.log(`done, load ${load()}`);
if (values.json) {
  const flags = (/^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf-8"))?.[1] ?? "")
    .trim()
    .split(/\s+/);
  const doc = {
    command: `npx tsx scripts/tome-op-bench.ts ${process.argv.slice(2).join(" ")}`,
    startedAt: new Date().toISOString(),
    machine: machineInfo(),
    cpuinfoFlags: flags,
    threads,
    results,
  };
  writeFileSync(values.json, `${JSON.stringify(doc, null, 2)}\n`);
}
