/**
 * The GPU memory a whole txt2img holds on WebGPU, in the browser: the in-tab engine
 * (dist/web/local-engine.js, onnxruntime-web) in headless Chromium on its WebGPU adapter (here
 * SwiftShader), with every GPUBuffer counted from createBuffer to destroy (the bytes a real GPU
 * would hold, onnxruntime-web's buffer cache included) and onnxruntime-web's wasm heap, per stage.
 * Prints a table and writes JSON (rewritten every 10 s while it runs, `"partial": true`, so a run
 * stopped by --time-limit still leaves its stages so far).
 *
 *   npx tsx scripts/webgpu-memory.ts CHECKPOINT [--size 512] [--steps 1] [--sequential on|off]
 *       [--overrides FILE.json] [--time-limit SECONDS] [--out FILE.json]
 *
 * Full-size checkpoints go through the shared lock: `flock /work/bench/heavy.lock npx tsx …`.
 */

import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { graphVariantFor } from "../src/engine/graph-variant.js";
import {
  fp32WeightBytes,
  type GpuMemoryRun,
  type GpuProgress,
  type GpuStage,
  runGpuMemoryPage,
} from "../test/helpers/gpu-memory-page.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    size: { type: "string", default: "512" },
    steps: { type: "string", default: "1" },
    sequential: { type: "string", default: "on" },
    overrides: { type: "string" },
    "time-limit": { type: "string" },
    out: { type: "string" },
  },
});
const checkpoint = positionals[0];
if (!checkpoint)
  throw new Error("usage: webgpu-memory.ts CHECKPOINT [--size N] [--steps N] [--sequential on|off]");
if (values.sequential !== "on" && values.sequential !== "off") throw new Error("--sequential is on or off");
const size = Number(values.size);
const steps = Number(values.steps);
const sequentialLoading = values.sequential === "on";
const overrides = values.overrides ? JSON.parse(readFileSync(values.overrides, "utf-8")) : undefined;
const request = {
  prompt: "a photo of a cat",
  negativePrompt: "blurry",
  steps,
  cfgScale: 7,
  width: size,
  height: size,
  seed: 1,
  sampler: "Euler",
};

const weights = fp32WeightBytes(checkpoint);
const machine = {
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  memoryBytes: totalmem(),
  flags: /^flags\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf-8"))?.[1],
  loadAverageAtStart: readFileSync("/proc/loadavg", "utf-8").trim(),
};
const header = {
  checkpoint,
  request,
  sequentialLoading,
  fp32WeightBytes: weights,
  machine,
  startedAt: new Date().toISOString(),
};

function save(body: object): void {
  if (values.out) writeFileSync(values.out, `${JSON.stringify({ ...header, ...body }, null, 1)}\n`);
}

const gb = (n: number | undefined) => (n === undefined ? "—" : `${(n / 1e9).toFixed(3)} GB`);

function printTable(stages: readonly GpuStage[]): void {
  const rows = [
    ["stage", "live at start", "peak live", "live at end", "created", "wasm heap", "time"],
    ...stages.map((s) => [
      s.name,
      gb(s.startLive),
      gb(s.peakLive),
      gb(s.endLive),
      gb(s.createdBytes),
      gb(s.heapBytes),
      `${(s.ms / 1000).toFixed(1)} s`,
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(`| ${r.map((v, c) => v.padEnd(widths[c])).join(" | ")} |`);
}

let last: GpuProgress | undefined;
const timer =
  values["time-limit"] &&
  setTimeout(() => {
    console.log(`stopped after the --time-limit of ${values["time-limit"]} s`);
    save({ partial: true, stoppedByTimeLimit: true, progress: last });
    if (last)
      printTable([
        ...last.stages,
        ...(last.current ? [{ ...last.current, name: `${last.current.name} (unfinished)` }] : []),
      ]);
    process.exit(2);
  }, Number(values["time-limit"]) * 1000);

console.log(
  `${checkpoint}: ${size}x${size}, ${steps} step(s), CFG (batch 2), sequential loading ${values.sequential}; ` +
    `fp32 weights: text encoder ${gb(weights.textEncoder)}, UNet ${gb(weights.unet)}, VAE decoder ${gb(weights.vaeDecoder)}`,
);
const run: GpuMemoryRun = await runGpuMemoryPage({
  checkpoint,
  overrides,
  request,
  sequentialLoading,
  log: (line) => console.log(line),
  onProgress: (p) => {
    if (p.statuses.length !== last?.statuses.length) console.log(`status: ${p.statuses.at(-1)}`);
    last = p;
    save({ partial: true, progress: p });
  },
});
if (timer) clearTimeout(timer);
const { png, ...result } = run;
// what the in-tab engine builds for this adapter (local-engine.ts: graphVariantFor(["webgpu"], {}))
const variant = graphVariantFor(["webgpu"], {});
save({ partial: false, finishedAt: new Date().toISOString(), variant, result, pngBytes: png?.length });
console.log(`adapter: ${JSON.stringify(run.adapter)}`);
console.log(`loading: ${JSON.stringify(run.loading)}`);
printTable(run.stages);
console.log(
  `peak live GPU bytes ${gb(run.afterDispose.peak)}; after the image ${gb(run.afterImage?.live)}; ` +
    `after dispose ${gb(run.afterDispose.live)}; largest buffer ${gb(run.afterDispose.largestBuffer)}; ` +
    `wasm heap ${gb(run.afterDispose.heapBytes)}`,
);
const at = run.afterDispose;
if (at.peakDetail) {
  const d = at.peakDetail;
  console.log(
    `at the peak (${d.stage}): ${d.buffers} buffers, largest ${d.largest.map((b) => gb(b)).join(", ")}; ` +
      `by usage flags ${Object.entries(d.byUsage)
        .map(([u, b]) => `${u}: ${gb(b)}`)
        .join(", ")}`,
  );
}
for (const e of at.deviceErrors) {
  console.log(
    `device error in "${e.stage}" with ${gb(e.live)} live at ${(e.ms / 1000).toFixed(1)} s: ${e.message}`,
  );
}
if (run.error) {
  console.log(`error: ${run.error}`);
  process.exitCode = 1;
}
