/**
 * Full-size check (not part of `npm test`): a random SD1.5-shaped F16 checkpoint (~2.1 GB, the
 * real tensor list and shapes) opened with openPipeline's defaults, then the text encoder, the UNet
 * on 64x64 latents at batch 1 and 2, and the VAE decoder to 512x512 — all must finish with finite
 * outputs. Reports timings (graph build / cache, session creation, each run) and peak RSS.
 *
 *   npx tsx scripts/full-size-check.ts [--cold] [--low-memory] [--label NAME] [--threads N]
 *                                      [--checkpoint PATH] [--cache DIR]
 *
 * Defaults: checkpoint `.bench/sd15-random-f16.safetensors` (written when absent, reused when it is
 * a complete seed-0 F16 random checkpoint), graph cache `$SDLITE_CACHE` or `.bench/full-size-cache`
 * (`--cold` empties it first). Writes `.bench/full-size-<label>.json`. Needs several GB of RAM and
 * minutes of CPU: never run two at once.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { type CachedGraph, GraphCache } from "../src/cache/graph-cache.js";
import { openPipeline } from "../src/engine/open-pipeline.js";
import type { GraphBuilder } from "../src/graph/graph-builder.js";
import type { SerializeOptions } from "../src/graph/onnx-model.js";
import type { Shape4 } from "../src/pipeline/networks.js";
import { encodePrompt } from "../src/pipeline/prompt-encoder.js";
import { createRandomSource } from "../src/rng/index.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { ModelSource, Runtime, Session, SessionOptions } from "../src/runtime/runtime.js";
import { SafetensorsFile } from "../src/weights/formats/safetensors.js";
import {
  CHECKPOINT_PRESETS,
  randomCheckpointTensors,
  writeRandomCheckpoint,
} from "../src/weights/random-checkpoint.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    cold: { type: "boolean", default: false },
    "low-memory": { type: "boolean", default: false },
    label: { type: "string" },
    threads: { type: "string" },
    checkpoint: { type: "string", default: join(root, ".bench", "sd15-random-f16.safetensors") },
    cache: { type: "string" },
    // "tiny" smoke-tests this script in seconds (the fixtures' tiny architecture, same code path)
    config: { type: "string", default: "sd15" },
  },
});
const preset = CHECKPOINT_PRESETS[values.config as keyof typeof CHECKPOINT_PRESETS];
if (!preset) throw new Error(`--config must be sd15 or tiny, got ${values.config}`);
const lowMemory = values["low-memory"] ?? false;
const label = values.label ?? `${values.cold ? "cold" : "warm"}${lowMemory ? "-low-memory" : ""}`;
const checkpoint = resolve(values.checkpoint as string);
const cacheRoot = resolve(
  values.cache ?? process.env.SDLITE_CACHE ?? join(root, ".bench", "full-size-cache"),
);
process.env.SDLITE_CACHE = cacheRoot;
const threads = values.threads ? Number(values.threads) : undefined;

// ---- peak RSS: sampled every 100 ms on a worker thread, so synchronous work (graph building
// blocks the main thread for minutes) is sampled too; VmHWM from the kernel closes the gap
const sampler = new Worker(
  `const { parentPort } = require("node:worker_threads");
   const samples = [];
   const take = () => samples.push([Date.now(), process.memoryUsage.rss()]);
   take();
   const timer = setInterval(take, 100);
   parentPort.on("message", () => { clearInterval(timer); take(); parentPort.postMessage(samples); });`,
  { eval: true },
);

function vmHwmBytes(): number | undefined {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf-8"));
  return m ? Number(m[1]) * 1024 : undefined;
}

const GB = 1024 ** 3;
const gb = (bytes: number) => `${(bytes / GB).toFixed(2)} GiB`;
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface Phase {
  name: string;
  start: number;
  end: number;
  ms: number;
  rssAfter: number;
}
const phases: Phase[] = [];
async function phase<T>(name: string, body: () => Promise<T> | T): Promise<T> {
  const start = Date.now();
  const t = performance.now();
  const result = await body();
  const ms = performance.now() - t;
  phases.push({ name, start, end: Date.now(), ms, rssAfter: process.memoryUsage.rss() });
  console.log(`${name}: ${sec(ms)} (RSS now ${gb(process.memoryUsage.rss())})`);
  return result;
}

// ---- graph cache and runtime that time what they do
interface CacheEvent {
  key: string;
  hit: boolean;
  /** getOrBuild in all: lookup, or build + serialise (weights read, F16 → F32) + write. */
  ms: number;
  /** Node-by-node graph construction alone (weights are read later, while writing). */
  buildMs?: number;
}
class TimedGraphCache extends GraphCache {
  readonly events: CacheEvent[] = [];
  override getOrBuild(key: string, build: () => GraphBuilder, options?: SerializeOptions): CachedGraph {
    const t = performance.now();
    let buildMs: number | undefined;
    const result = super.getOrBuild(
      key,
      () => {
        const b = performance.now();
        const builder = build();
        buildMs = performance.now() - b;
        return builder;
      },
      options,
    );
    this.events.push({ key, hit: result.hit, ms: performance.now() - t, buildMs });
    return result;
  }
}

interface SessionEvent {
  network: string;
  createMs: number;
  runs: { ms: number; inputs: string }[];
  released: boolean;
}
class TimedRuntime implements Runtime {
  readonly name = "timed";
  readonly inner = onnxruntimeNode();
  readonly sessions: SessionEvent[] = [];
  availableProviders(): string[] {
    return this.inner.availableProviders();
  }
  async createSession(model: ModelSource, options?: SessionOptions): Promise<Session> {
    const t = performance.now();
    const session = await this.inner.createSession(model, options);
    const network =
      "path" in model ? (/graphs\/([a-z_]+)-/.exec(model.path)?.[1] ?? model.path) : "in-memory";
    const event: SessionEvent = { network, createMs: performance.now() - t, runs: [], released: false };
    this.sessions.push(event);
    return {
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      run: async (feeds, names) => {
        const r = performance.now();
        const out = await session.run(feeds, names);
        const inputs = Object.entries(feeds)
          .map(([k, v]) => `${k}[${v.dims.join("x")}]`)
          .join(" ");
        event.runs.push({ ms: performance.now() - r, inputs });
        return out;
      },
      release: async () => {
        event.released = true;
        await session.release();
      },
    };
  }
}

function finiteStats(what: string, values: Float32Array) {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sumAbs = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new Error(`${what}: value ${v} at index ${i} is not finite`);
    if (v < min) min = v;
    if (v > max) max = v;
    sumAbs += Math.abs(v);
  }
  const stats = { what, count: values.length, min, max, meanAbs: sumAbs / values.length };
  console.log(`  ${what}: ${values.length} finite values in [${min.toPrecision(4)}, ${max.toPrecision(4)}]`);
  return stats;
}

/** Reuses a complete seed-0 F16 random checkpoint; anything else is (re)written. */
function reusableCheckpoint(path: string): boolean {
  if (!existsSync(path)) return false;
  try {
    const file = SafetensorsFile.open(path);
    const meta = file.metadata?.sdlite_random_checkpoint;
    const names = file.names().length;
    file.close();
    const parsed = meta ? JSON.parse(meta) : undefined;
    // open() has checked every tensor's offsets against the file size: a complete file
    const expected = randomCheckpointTensors({ preset, dtype: "F16", seed: 0 }).length;
    return parsed?.seed === 0 && parsed?.dtype === "F16" && names === expected;
  } catch {
    return false;
  }
}

// ---- the check
// other processes share the CPU: the load average at start and end says how much
const loadAtStart = loadavg();
const outputs: ReturnType<typeof finiteStats>[] = [];
let checkpointWritten = false;
await phase("checkpoint", () => {
  if (reusableCheckpoint(checkpoint)) return;
  mkdirSync(dirname(checkpoint), { recursive: true });
  writeRandomCheckpoint(checkpoint, { preset, dtype: "F16", seed: 0 });
  checkpointWritten = true;
});
if (values.cold) rmSync(cacheRoot, { recursive: true, force: true });
const cache = new TimedGraphCache();
const runtime = new TimedRuntime();
const pipeline = await phase("openPipeline", () =>
  openPipeline(checkpoint, { runtime: { cache, backend: runtime, threads }, memory: { lowMemory } }),
);
const { models } = pipeline;
const cond = await phase("text encoder: prompt (first use: graph + session)", async () => {
  const e = await encodePrompt("a photo of a cat", models.tokenizer, models.textEncoder);
  outputs.push(finiteStats(`text encoder [1, 77, ${models.textEncoder.hiddenSize}]`, e.data));
  return e;
});
const uncond = await phase("text encoder: empty prompt", async () => {
  const e = await encodePrompt("", models.tokenizer, models.textEncoder);
  outputs.push(finiteStats("text encoder, empty prompt", e.data));
  return e;
});
await models.stageDone?.("text-encoder");
const rng = createRandomSource("cpu", 0);
const latent1: Shape4 = [1, 4, 64, 64];
const sample = rng.randn(latent1);
await phase("UNet batch 1 (first use: graph + session)", async () => {
  const out = await models.unet.predict({
    sample,
    shape: latent1,
    timestep: Float32Array.of(999),
    context: cond.data,
    tokens: 77,
  });
  outputs.push(finiteStats("UNet batch 1 [1, 4, 64, 64]", out));
});
await phase("UNet batch 2", async () => {
  const twice = new Float32Array(sample.length * 2);
  twice.set(sample);
  twice.set(sample, sample.length);
  const context = new Float32Array(uncond.data.length * 2);
  context.set(uncond.data);
  context.set(cond.data, uncond.data.length);
  const out = await models.unet.predict({
    sample: twice,
    shape: [2, 4, 64, 64],
    timestep: Float32Array.of(999, 999),
    context,
    tokens: 77,
  });
  outputs.push(finiteStats("UNet batch 2 [2, 4, 64, 64]", out));
});
await models.stageDone?.("unet");
await phase("VAE decode 64x64 -> 512x512 (first use: graph + session)", async () => {
  const image = await models.vae.decode(rng.randn(latent1), latent1);
  outputs.push(finiteStats("VAE decoder [1, 3, 512, 512]", image));
});
await models.stageDone?.("vae");
await phase("close", () => pipeline.close());

sampler.postMessage("stop");
const samples: [number, number][] = await new Promise((done) => sampler.once("message", done));
await sampler.terminate();
const hwm = vmHwmBytes();
const peakIn = (p: Phase) =>
  Math.max(p.rssAfter, ...samples.filter(([t]) => t >= p.start && t <= p.end).map(([, rss]) => rss));
const sampledPeak = Math.max(...samples.map(([, rss]) => rss));

const report = {
  label,
  date: new Date().toISOString(),
  machine: { cores: physicalCoreCount(), threads: threads ?? physicalCoreCount(), node: process.version },
  loadAverage: { start: loadAtStart, end: loadavg() },
  checkpoint: { path: checkpoint, config: values.config, written: checkpointWritten },
  cacheRoot,
  lowMemory,
  phases: phases.map((p) => ({
    name: p.name,
    ms: Math.round(p.ms),
    peakRss: peakIn(p),
    rssAfter: p.rssAfter,
  })),
  graphCache: cache.events.map((e) => ({
    ...e,
    ms: Math.round(e.ms),
    buildMs: e.buildMs && Math.round(e.buildMs),
  })),
  sessions: runtime.sessions.map((s) => ({
    ...s,
    createMs: Math.round(s.createMs),
    runs: s.runs.map((r) => ({ ...r, ms: Math.round(r.ms) })),
  })),
  outputs,
  peakRss: { sampled: sampledPeak, samples: samples.length, vmHwm: hwm },
};

console.log(`\n== ${label} (attention mha, lowMemory ${lowMemory}, cache ${cacheRoot})`);
for (const p of report.phases) console.log(`${p.name}: ${sec(p.ms)}, peak RSS ${gb(p.peakRss)}`);
for (const e of report.graphCache) {
  const how = e.hit ? "cache hit" : `built (${sec(e.buildMs ?? 0)} graph) and written`;
  console.log(`graph ${e.key}: ${how} in ${sec(e.ms)}`);
}
for (const s of report.sessions) {
  console.log(
    `session ${s.network}: created in ${sec(s.createMs)}; runs ${s.runs.map((r) => sec(r.ms)).join(", ")}`,
  );
}
console.log(
  `peak RSS: sampled ${gb(sampledPeak)} (${samples.length} samples), VmHWM ${hwm ? gb(hwm) : "n/a"}`,
);
const out = join(root, ".bench", `full-size-${label}.json`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
console.log(`report: ${out}`);
