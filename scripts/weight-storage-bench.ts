/**
 * fp32 vs fp16 weight storage on the full-size UNet (not part of `npm test`): each job in a fresh
 * process, so its peak RSS is its own.
 *
 *   npx tsx scripts/weight-storage-bench.ts [--checkpoint PATH] [--cache DIR] [--rounds N] [--runs N]
 *       [--variants fp32,fp16,fp16-runtime] [--no-build]
 *
 * Variants: `fp32` and `fp16` are the two storages with the default session (onnxruntime upcasts
 * fp16 initializers when it creates the session); `fp16-runtime` opens the fp16 graph with the two
 * optimizers that do that upcast (ConstantFolding and FuseFp16InitializerToFp32NodeTransformer)
 * disabled, so the weights stay fp16 in memory and the Casts run on every call.
 *
 * Per round and storage, a cold build into an emptied cache entry (time, peak RSS, size on disk),
 * unless --no-build; then per round and variant: session creation from the cache, the first call
 * and the median of --runs calls of the UNet at batch 1 on 64x64 latents, peak RSS. Rounds
 * interleave the variants so a busy machine slows them alike. Defaults: the bench's random F16
 * SD1.5, `$SDLITE_CACHE` or `.bench/cache-weight-storage`, 3 rounds, 3 runs. Loads the full-size
 * UNet (~4-7 GB of RAM): run it under `flock /tmp/fullsize.lock`.
 */
import { fork } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fileIdentity, GraphCache, graphCacheKey } from "../src/cache/graph-cache.js";
import { buildUNetGraph, UNET_INPUTS, UNET_OUTPUT } from "../src/graph/unet.js";
import type { WeightStorage } from "../src/graph/weight-storage.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { loadModel } from "../src/weights/load-model.js";

type Variant = "fp32" | "fp16" | "fp16-runtime";
const STORAGE: Record<Variant, WeightStorage> = { fp32: "fp32", fp16: "fp16", "fp16-runtime": "fp16" };
const KEEP_FP16 = {
  "optimization.disable_specified_optimizers": "ConstantFolding;FuseFp16InitializerToFp32NodeTransformer",
};

interface Job {
  readonly phase: "build" | "run";
  readonly variant: Variant;
  readonly checkpoint: string;
  readonly cache: string;
  readonly runs: number;
}

function status(field: "VmHWM" | "VmRSS"): number {
  const m = readFileSync("/proc/self/status", "utf-8").match(new RegExp(`${field}:\\s+(\\d+) kB`));
  return m ? Number(m[1]) / 1024 ** 2 : Number.NaN;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function entryKey(job: Job, files: readonly string[], config: unknown): string {
  const storage = STORAGE[job.variant];
  return graphCacheKey({
    kind: "unet",
    weights: files.map((f) => fileIdentity(f)),
    config,
    options: { attention: "mha", ...(storage === "fp16" ? { weightStorage: "fp16" } : {}) },
  });
}

async function runJob(job: Job): Promise<Record<string, number>> {
  const model = loadModel(job.checkpoint);
  if (model.format === "onnx") throw new Error("a checkpoint or diffusers folder is needed");
  const u = model.unet;
  const cache = new GraphCache(job.cache);
  const key = entryKey(job, u.files, { config: u.config, loras: "" });
  const storage = STORAGE[job.variant];
  const build = () => buildUNetGraph(u.weights, u.config, { attention: "mha", weightStorage: storage });
  if (job.phase === "build") {
    rmSync(join(cache.dir, key), { recursive: true, force: true });
    const t0 = performance.now();
    const { modelPath } = cache.getOrBuild(key, build);
    const seconds = (performance.now() - t0) / 1000;
    const dir = join(cache.dir, key);
    const bytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    model.close();
    if (!modelPath) throw new Error("no model written");
    return { buildS: seconds, entryGiB: bytes / 1024 ** 3, peakGiB: status("VmHWM") };
  }
  const modelPath = cache.lookup(key) ?? cache.getOrBuild(key, build).modelPath;
  model.close();
  const t0 = performance.now();
  const session = await onnxruntimeNode().createSession(
    { path: modelPath },
    job.variant === "fp16-runtime" ? { configEntries: KEEP_FP16 } : {},
  );
  const createS = (performance.now() - t0) / 1000;
  const rssAfterCreate = status("VmRSS");
  const c = u.config;
  const side = 64;
  let seed = 42;
  const noise = (n: number) =>
    Float32Array.from({ length: n }, () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 2 ** 31 - 1;
    });
  const feeds = {
    [UNET_INPUTS.sample]: { dims: [1, c.inChannels, side, side], data: noise(c.inChannels * side * side) },
    [UNET_INPUTS.timestep]: { dims: [1], data: Float32Array.of(500) },
    [UNET_INPUTS.encoderHiddenStates]: {
      dims: [1, 77, c.crossAttentionDim],
      data: noise(77 * c.crossAttentionDim),
    },
  };
  const times: number[] = [];
  let out: Float32Array | undefined;
  for (let i = 0; i <= job.runs; i++) {
    const t = performance.now();
    const r = await session.run(feeds, [UNET_OUTPUT]);
    times.push((performance.now() - t) / 1000);
    out = r[UNET_OUTPUT].data as Float32Array;
  }
  await session.release();
  let checksum = 0;
  for (const v of out ?? []) checksum += Math.abs(v);
  return {
    createS,
    firstS: times[0],
    stepS: median(times.slice(1)),
    rssAfterCreateGiB: rssAfterCreate,
    peakGiB: status("VmHWM"),
    checksum,
  };
}

function inChild(job: Job): Promise<Record<string, number>> {
  return new Promise((resolvePromise, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["--job", JSON.stringify(job)], {
      execArgv: ["--import", "tsx"],
    });
    child.on("message", (m) => resolvePromise(m as Record<string, number>));
    child.on("exit", (code) => {
      if (code !== 0) reject(new Error(`${job.phase} ${job.variant}: exit ${code}`));
    });
  });
}

const { values } = parseArgs({
  options: {
    job: { type: "string" },
    checkpoint: { type: "string", default: ".bench/sd15-random-f16.safetensors" },
    cache: { type: "string", default: process.env.SDLITE_CACHE ?? ".bench/cache-weight-storage" },
    rounds: { type: "string", default: "3" },
    runs: { type: "string", default: "3" },
    variants: { type: "string", default: "fp32,fp16,fp16-runtime" },
    "no-build": { type: "boolean", default: false },
  },
});

if (values.job) {
  const result = await runJob(JSON.parse(values.job) as Job);
  process.send?.(result);
  process.exit(0);
}

const variants = values.variants.split(",") as Variant[];
for (const v of variants) if (!(v in STORAGE)) throw new Error(`unknown variant "${v}"`);
const base = {
  checkpoint: resolve(values.checkpoint),
  cache: resolve(values.cache),
  runs: Number(values.runs),
};
const rows: Record<string, Record<string, number>[]> = {};
const record = (label: string, r: Record<string, number>) => {
  rows[label] = [...(rows[label] ?? []), r];
  const fields = Object.entries(r).map(([k, v]) => `${k} ${v.toFixed(k === "checksum" ? 1 : 2)}`);
  console.log(`${label.padEnd(20)} ${fields.join("  ")}  (load ${loadavg()[0].toFixed(2)})`);
};
for (let round = 0; round < Number(values.rounds); round++) {
  if (!values["no-build"]) {
    for (const storage of new Set(variants.map((v) => STORAGE[v]))) {
      const variant = storage === "fp32" ? "fp32" : "fp16";
      record(`build ${storage}`, await inChild({ ...base, phase: "build", variant }));
    }
  }
  for (const variant of variants) record(`run ${variant}`, await inChild({ ...base, phase: "run", variant }));
}
console.log("\nmedians:");
for (const [label, list] of Object.entries(rows)) {
  const keys = Object.keys(list[0]);
  console.log(
    `${label.padEnd(20)} ${keys.map((k) => `${k} ${median(list.map((r) => r[k])).toFixed(2)}`).join("  ")}`,
  );
}
