/**
 * Full-size timings of the UNet speed options (not part of `npm test`): on an SD1.5-shaped
 * checkpoint, one UNet call at 64×64 per variant — the plain float32 UNet, DeepCache's full graph
 * (with its deep-feature output) and shallow graph, and the int8 variants — each timed after a
 * warm-up run, plus each output's error against the float32 UNet on the same inputs. All sessions
 * stay open and the timed runs interleave the variants, so a busy machine slows them alike.
 *
 *   npx tsx scripts/unet-speed-options.ts [--checkpoint PATH] [--cache DIR] [--batch N]
 *       [--size LATENTS] [--runs N] [--threads N] [--variants fp32,fp32-shallow,int8-linear,int8,int8-shallow,…]
 *       [--json FILE]
 *
 * The attention variants: `-matmul` builds MatMul→Softmax→MatMul instead of the fused op, `-int8attn`
 * also its two products in int8, `-tome50` merges half of the full-resolution tokens (ToMe).
 * Errors are against the first variant listed (fp32 when listed first).
 *
 * Defaults: `.bench/sd15-random-f16.safetensors` (scripts/make-random-checkpoint.ts writes one),
 * graph cache `.bench/speed-options-cache` (several GB: each variant is its own graph), batch 1,
 * 64 latents, 3 timed rounds, physical cores. Holds every variant's session at once: ~8 GB of RAM and
 * minutes of CPU: never run it next to another full-size job.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { machineInfo } from "../src/bench/machine-info.js";
import { fileIdentity, GraphCache, graphCacheKey } from "../src/cache/graph-cache.js";
import { int8WeightBitsForThisCpu } from "../src/engine/int8-weight-bits.js";
import type { GraphBuilder } from "../src/graph/graph-builder.js";
import { buildUNetGraph, UNET_DEEP_FEATURE, UNET_INPUTS, UNET_OUTPUT } from "../src/graph/unet.js";
import { buildShallowUNetGraph } from "../src/graph/unet-deepcache.js";
import type { UNetQuantization } from "../src/graph/unet-quantization.js";
import { createRandomSource } from "../src/rng/index.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { Session, TensorData } from "../src/runtime/runtime.js";
import { loadModel } from "../src/weights/load-model.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    checkpoint: { type: "string", default: join(root, ".bench", "sd15-random-f16.safetensors") },
    cache: { type: "string", default: join(root, ".bench", "speed-options-cache") },
    batch: { type: "string", default: "1" },
    size: { type: "string", default: "64" },
    runs: { type: "string", default: "3" },
    threads: { type: "string" },
    json: { type: "string" },
    variants: {
      type: "string",
      default: "fp32,fp32-shallow,int8-linear,int8-linear-shallow,int8,int8-shallow",
    },
  },
});

interface Variant {
  readonly graph: "full" | "shallow";
  readonly quantization: UNetQuantization;
  /** Default: what the engine picks for this CPU (int8-weight-bits.ts). */
  readonly weightBits?: 7 | 8;
  /** Default "mha", as the engine builds the CPU graph. */
  readonly attention?: "mha" | "matmul";
  readonly attentionQuantization?: "int8";
  readonly tomeRatio?: number;
}
const VARIANTS: Record<string, Variant> = {
  fp32: { graph: "full", quantization: "none" },
  "fp32-shallow": { graph: "shallow", quantization: "none" },
  "int8-linear": { graph: "full", quantization: "int8-linear" },
  "int8-linear-shallow": { graph: "shallow", quantization: "int8-linear" },
  int8: { graph: "full", quantization: "int8" },
  "int8-shallow": { graph: "shallow", quantization: "int8" },
  "int8-linear-w7": { graph: "full", quantization: "int8-linear", weightBits: 7 },
  "int8-w7": { graph: "full", quantization: "int8", weightBits: 7 },
  "int8-w7-shallow": { graph: "shallow", quantization: "int8", weightBits: 7 },
  "fp32-matmul": { graph: "full", quantization: "none", attention: "matmul" },
  "fp32-matmul-int8attn": {
    graph: "full",
    quantization: "none",
    attention: "matmul",
    attentionQuantization: "int8",
  },
  "fp32-tome50": { graph: "full", quantization: "none", tomeRatio: 0.5 },
  "int8-matmul": { graph: "full", quantization: "int8", attention: "matmul" },
  "int8-matmul-int8attn": {
    graph: "full",
    quantization: "int8",
    attention: "matmul",
    attentionQuantization: "int8",
  },
  "int8-tome50": { graph: "full", quantization: "int8", tomeRatio: 0.5 },
};

const checkpoint = resolve(values.checkpoint as string);
if (!existsSync(checkpoint)) {
  throw new Error(`${checkpoint} is missing: npx tsx scripts/make-random-checkpoint.ts ${checkpoint}`);
}
const batch = Number(values.batch);
const size = Number(values.size);
const runs = Number(values.runs);
const threads = values.threads ? Number(values.threads) : physicalCoreCount();
const names = (values.variants as string).split(",");
for (const n of names)
  if (!VARIANTS[n]) throw new Error(`unknown variant ${n} (${Object.keys(VARIANTS).join(", ")})`);

const model = loadModel(checkpoint);
if (model.format === "onnx") throw new Error("needs a checkpoint or diffusers folder, not an ONNX folder");
const unet = model.unet;
const cache = new GraphCache(resolve(values.cache as string));
const runtime = onnxruntimeNode();

const rng = createRandomSource("cpu", 0);
const sample = rng.randn([batch, unet.config.inChannels, size, size]);
const context = rng.randn([batch, 77, unet.config.crossAttentionDim]);
const feeds: Record<string, TensorData> = {
  [UNET_INPUTS.sample]: { dims: [batch, unet.config.inChannels, size, size], data: sample },
  [UNET_INPUTS.timestep]: { dims: [batch], data: new Float32Array(batch).fill(500) },
  [UNET_INPUTS.encoderHiddenStates]: { dims: [batch, 77, unet.config.crossAttentionDim], data: context },
};

function build(v: Variant): { key: string; build: () => GraphBuilder } {
  // the engine's options, so the engine and this script share cached graphs
  const options = {
    attention: v.attention ?? ("mha" as const),
    ...(v.quantization === "none"
      ? {}
      : { quantization: v.quantization, int8WeightBits: v.weightBits ?? int8WeightBitsForThisCpu() }),
    ...(v.attentionQuantization ? { attentionQuantization: v.attentionQuantization } : {}),
    ...(v.tomeRatio ? { tomeRatio: v.tomeRatio } : {}),
  };
  const kind = v.graph === "full" ? "unet" : "unet_shallow";
  const key = graphCacheKey({
    kind,
    weights: unet.files.map((f) => fileIdentity(f)),
    config: { config: unet.config, loras: "" },
    options: v.graph === "full" ? { ...options, deepFeature: true } : options,
  });
  return {
    key,
    build: () =>
      v.graph === "full"
        ? buildUNetGraph(unet.weights, unet.config, { ...options, deepFeature: true })
        : buildShallowUNetGraph(unet.weights, unet.config, options),
  };
}

function relativeError(actual: Float32Array, expected: Float32Array) {
  let err = 0;
  let ref = 0;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i] - expected[i];
    err += d * d;
    ref += expected[i] * expected[i];
    maxAbs = Math.max(maxAbs, Math.abs(d));
  }
  return { relRms: Math.sqrt(err / ref), maxAbs, refRms: Math.sqrt(ref / expected.length) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
console.log(
  `UNet ${size}x${size} batch ${batch}, ${threads} threads, ${runs} interleaved rounds; int8 weights ${int8WeightBitsForThisCpu()}-bit on this CPU unless -w7; load ${load()}`,
);

// every session stays open, so the timed rounds can interleave the variants: a machine shared with
// other jobs then slows them alike, and their ratios stay meaningful
interface Prepared {
  readonly name: string;
  readonly session: Session;
  readonly input: Record<string, TensorData>;
  readonly outputs: string[];
  readonly times: number[];
}
const prepared: Prepared[] = [];
const errors: Record<string, ReturnType<typeof relativeError>> = {};
const loadBefore = load();
const features = new Map<string, TensorData>();
let reference: Float32Array | undefined;
try {
  for (const name of names) {
    const v = VARIANTS[name];
    const { key, build: builder } = build(v);
    let t = performance.now();
    const { modelPath, hit } = cache.getOrBuild(key, builder);
    const buildS = (performance.now() - t) / 1000;
    t = performance.now();
    const session = await runtime.createSession({ path: modelPath }, { intraOpNumThreads: threads });
    const sessionS = (performance.now() - t) / 1000;
    let input = feeds;
    const featureKey = `${v.quantization}/${v.weightBits ?? ""}`;
    if (v.graph === "shallow") {
      const feature = features.get(featureKey);
      if (!feature) throw new Error(`${name}: list its full graph first (for the deep feature)`);
      input = { ...feeds, [UNET_DEEP_FEATURE]: feature };
    }
    const outputs = v.graph === "full" ? [UNET_OUTPUT, UNET_DEEP_FEATURE] : [UNET_OUTPUT];
    prepared.push({ name, session, input, outputs, times: [] });
    t = performance.now();
    const result = await session.run(input, outputs);
    const firstS = (performance.now() - t) / 1000;
    if (v.graph === "full") features.set(featureKey, result[UNET_DEEP_FEATURE]);
    const out = result[UNET_OUTPUT].data as Float32Array;
    reference ??= out;
    const err = prepared.length > 1 ? relativeError(out, reference) : undefined;
    if (err) errors[name] = err;
    console.log(
      `${name.padEnd(20)} graph ${hit ? "cached" : "built"} ${buildS.toFixed(1)} s, session ${sessionS.toFixed(1)} s, first run ${firstS.toFixed(2)} s` +
        (err
          ? ` | vs ${names[0]}: rel RMS ${err.relRms.toExponential(2)}, max |diff| ${err.maxAbs.toExponential(2)} (fp32 RMS ${err.refRms.toFixed(3)})`
          : ""),
    );
  }
  for (let r = 0; r < runs; r++) {
    for (const p of prepared) {
      const t = performance.now();
      await p.session.run(p.input, p.outputs);
      p.times.push((performance.now() - t) / 1000);
    }
  }
  console.log(`timed rounds done; load ${load()}`);
  for (const p of prepared) {
    console.log(
      `${p.name.padEnd(20)} median ${median(p.times).toFixed(2)} s  min ${Math.min(...p.times).toFixed(2)}  runs ${p.times.map((x) => x.toFixed(2)).join(" ")}`,
    );
  }
  if (values.json) {
    const doc = {
      command: `npx tsx scripts/unet-speed-options.ts ${process.argv.slice(2).join(" ")}`,
      startedAt: new Date().toISOString(),
      machine: machineInfo(),
      cpuinfoFlags: (/^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf-8"))?.[1] ?? "")
        .trim()
        .split(/\s+/),
      load: { before: loadBefore, after: load() },
      latents: size,
      batch,
      threads,
      reference: names[0],
      variants: prepared.map((p) => ({
        name: p.name,
        ...VARIANTS[p.name],
        medianS: median(p.times),
        minS: Math.min(...p.times),
        runsS: p.times,
        ...(errors[p.name] ? { vsReference: errors[p.name] } : {}),
      })),
    };
    writeFileSync(values.json, `${JSON.stringify(doc, null, 2)}\n`);
  }
} finally {
  for (const p of prepared) await p.session.release();
}
model.close();
