/**
 * Timings of ToMe token merging on one full-resolution self-attention (not part of `npm test`):
 * onnxruntime's fused MultiHeadAttention over all N tokens against merge (token-merging.ts, plan
 * included) → attention over N − r tokens → unmerge, on SD1.5's level-0 shape (320 channels,
 * 8 heads) at 768² and 1024² images (96² and 128² latents), with the relative error of the merged
 * output. Variants alternate round by round, so a busy machine slows them alike; medians.
 *
 *   npx tsx scripts/tome-op-bench.ts [--threads N] [--runs N] [--latents 64,96,128] [--ratios 0.5] [--json FILE]
 */
import { parseArgs } from "node:util";
import { float, GraphBuilder, MS_DOMAIN } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { tokenMerging } from "../src/graph/token-merging.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import {
  CHANNELS,
  HEADS,
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
    runs: { type: "string", default: "5" },
    latents: { type: "string", default: "64,96,128" },
    ratios: { type: "string", default: "0.5" },
    json: { type: "string" },
  },
});
const threads = values.threads ? Number(values.threads) : physicalCoreCount();
const runs = Number(values.runs);
const runtime = onnxruntimeNode();
/** The wave table session 6's recorded figures were made with (smoothTokens). */
const WAVE_TABLE = 8 * CHANNELS;

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
  const x = { dims: [1, side * side, CHANNELS], data: smoothTokens(side, side, WAVE_TABLE) };
  const sessions: Session[] = [];
  for (const r of ratios)
    sessions.push(
      await runtime.createSession(serializeModel(graph(side, r)), { intraOpNumThreads: threads }),
    );
  const { times, outputs } = await runInterleaved(sessions, x, runs);
  for (const s of sessions) await s.release();
  ratios.forEach((r, i) => {
    const relRms = relativeRms(outputs[i], outputs[0]);
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
if (values.json) writeBenchJson(values.json, "scripts/tome-op-bench.ts", threads, results);
