/**
 * Where a Winograd graph's extra memory goes: a stack of C→C 3x3 convs written to a folder (as the
 * graph cache writes it, fp16 or fp32 weight storage), then, per conv algorithm, a fresh process that
 * opens a session on it and runs it once (batch 2); each reports its resident memory after the
 * session is created and its peak (VmHWM) after creation and after the run, against the bytes the
 * weights take in the form each graph computes with (direct: float32 kernels; Winograd: U).
 * Not part of `npm test`.
 *
 *   npx tsx scripts/winograd-memory.ts [--convs 8] [--channels 640] [--size 32] [--storage fp16]
 *     [--algorithms direct,winograd-f2,winograd-f4] [--threads N]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readProcMemory } from "../src/bench/proc-status.js";
import { type ConvAlgorithm, winogradTileFor } from "../src/graph/conv-algorithm.js";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { conv2d, type LayerContext } from "../src/graph/layers.js";
import type { WeightStorage } from "../src/graph/weight-storage.js";
import { writeModel } from "../src/graph/write-model.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { WeightSource } from "../src/weights/weight-source.js";

const { values } = parseArgs({
  options: {
    convs: { type: "string", default: "8" },
    channels: { type: "string", default: "640" },
    size: { type: "string", default: "32" },
    storage: { type: "string", default: "fp16" },
    algorithms: { type: "string", default: "direct,winograd-f2,winograd-f4" },
    threads: { type: "string" },
    // child mode: open this model and report
    open: { type: "string" },
  },
});
const convs = Number(values.convs);
const c = Number(values.channels);
const size = Number(values.size);
const threads = values.threads ? Number(values.threads) : physicalCoreCount();
const GB = 1e9;

function uniform(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

if (values.open) {
  const before = readProcMemory("self");
  const session = await onnxruntimeNode().createSession(
    { path: values.open },
    { intraOpNumThreads: threads },
  );
  const created = readProcMemory("self");
  const dims = [2, c, size, size];
  await session.run({ x: { dims, data: uniform(2 * c * size * size, 3, 1) } });
  const ran = readProcMemory("self");
  console.log(
    JSON.stringify({
      before: before?.rssBytes,
      createdRss: created?.rssBytes,
      createdHwm: created?.hwmBytes,
      ranRss: ran?.rssBytes,
      ranHwm: ran?.hwmBytes,
    }),
  );
  await session.release();
} else {
  const names = Array.from({ length: convs }, (_, i) => `conv${i}`);
  const weights: WeightSource = {
    names: () => names.flatMap((n) => [`${n}.weight`, `${n}.bias`]),
    has: (n) => n.endsWith(".weight") || n.endsWith(".bias"),
    shape: (n) => (n.endsWith(".weight") ? [c, c, 3, 3] : [c]),
    // an fp16-representable value, so fp16 storage is exact as for an F16 checkpoint
    get: (n) => {
      const i = Number(n.slice(4, n.indexOf(".")));
      const v = n.endsWith(".weight")
        ? uniform(c * c * 9, i + 1, 1 / Math.sqrt(c * 9))
        : uniform(c, 100 + i, 0.1);
      for (let j = 0; j < v.length; j++) v[j] = Math.round(v[j] * 1024) / 1024;
      return v;
    },
  };
  const root = mkdtempSync(join(tmpdir(), "winograd-memory-"));
  const directBytes = convs * c * c * 9 * 4;
  console.log(
    `${convs} convs ${c}→${c} @ ${size}x${size}, batch 2, ${values.storage} storage, ${threads} threads; load ${loadavg()[0].toFixed(2)}`,
  );
  console.log(
    "| algorithm | weights as computed | RSS after creation | peak at creation | RSS after a run | peak after a run | peak vs direct's |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  let directPeak: number | undefined;
  try {
    for (const algorithm of (values.algorithms as string).split(",") as ConvAlgorithm[]) {
      const b = new GraphBuilder("convs", { weightStorage: values.storage as WeightStorage });
      const ctx: LayerContext = { b, weights, attention: "matmul", convAlgorithm: algorithm };
      let h = b.input("x", "float32", ["n", c, "h", "w"]);
      for (const n of names) h = conv2d(ctx, n, h);
      b.output(h, "y", "float32");
      const { modelPath } = writeModel(b, join(root, algorithm));
      const report = JSON.parse(
        execFileSync(
          process.execPath,
          [
            ...process.execArgv,
            process.argv[1],
            "--open",
            modelPath,
            "--channels",
            String(c),
            "--size",
            String(size),
            "--threads",
            String(threads),
          ],
          { encoding: "utf-8" },
        ).trim(),
      );
      const tile = winogradTileFor(algorithm, [c, c, 3, 3], 1, 1);
      const computed = tile ? (directBytes * (tile + 2) ** 2) / 9 : directBytes;
      const peak = report.ranHwm - report.before;
      directPeak ??= algorithm === "direct" ? peak : undefined;
      const fmt = (x: number) => `${(x / GB).toFixed(3)} GB`;
      console.log(
        `| ${algorithm} | ${fmt(computed)} | +${fmt(report.createdRss - report.before)} | +${fmt(report.createdHwm - report.before)} | +${fmt(report.ranRss - report.before)} | +${fmt(peak)} | ${directPeak === undefined ? "" : fmt(peak - directPeak)} |`,
      );
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
