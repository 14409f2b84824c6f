/**
 * A/B of UNet graph forms on a full-size checkpoint (not part of `npm test`): each variant's session
 * stays open and the timed calls interleave the variants, so a shared machine slows them alike; each
 * output is compared with the first variant's on the same inputs; with --profile, onnxruntime's
 * profiler gives each variant's kernel time per op type and the nodes that differ most.
 *
 *   npx tsx scripts/unet-graph-ab.ts [--checkpoint PATH] [--cache DIR] [--batch 2] [--size 64]
 *       [--runs 5] [--variants default,plain,default-wf2] [--profile] [--in-memory]
 *
 * Variants: "default" is what the engine builds on CPU for an F16 checkpoint (MultiHeadAttention,
 * fp16 weight storage); "plain" is the bench's ort-plain baseline (MatMul attention, fp32 weights);
 * "-wf2"/"-wf4"/"-wf4l"/"-wf4s" add Winograd 3x3 convs (conv-algorithm.ts: f2, f4, f4-light, f4-shallow). ~4-5 GB of RAM per variant.
 * "int8" is --fast's int8 UNet (8-bit weights); "int8-proj", "-qkv", "-geglu" add one int8 fusion each
 * (int8-layers.ts INT8_FUSIONS), "-fused" proj + qkv, "-pg" proj + geglu, "-all" all three; "int8-7bit"
 * has the 7-bit weights of CPUs without VNNI. "-todo2" adds ToDo token downsampling by 2 at full resolution
 * ("-todo2-d2": also at half resolution).
 * "-erfmul" after any variant (e.g. "int8-erfmul") emulates the GELU form built before graph format 2
 * (x / sqrt(2) written as Mul by 1/sqrt(2), which onnxruntime's GeluFusion does not match: Erf, Mul, Add stay).
 * With --profile the ops are also summed as data movement, integer GEMMs and the rest.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fileIdentity, GraphCache, graphCacheKey } from "../src/cache/graph-cache.js";
import type { GraphBuilder } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { buildUNetGraph, UNET_INPUTS, UNET_OUTPUT, type UNetGraphOptions } from "../src/graph/unet.js";
import { parseOrtTrace } from "../src/profile/ort-trace.js";
import { createRandomSource } from "../src/rng/index.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { Session, TensorData } from "../src/runtime/runtime.js";
import { loadModel } from "../src/weights/load-model.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    checkpoint: { type: "string", default: join(root, ".bench", "sd15-random-f16.safetensors") },
    cache: { type: "string", default: join(root, ".bench", "graph-ab-cache") },
    batch: { type: "string", default: "2" },
    size: { type: "string", default: "64" },
    runs: { type: "string", default: "5" },
    threads: { type: "string" },
    variants: { type: "string", default: "default,plain" },
    profile: { type: "boolean", default: false },
    /** Write each variant's output to DIR/<variant>.f32 (to compare variants run in separate processes). */
    save: { type: "string" },
    /** Compare every output with this saved one instead of the first variant's. */
    reference: { type: "string" },
    /** Build each graph in memory instead of through the cache (no disk; ~1.7 GB more RAM while a session starts). */
    "in-memory": { type: "boolean", default: false },
  },
});

/** What --fast builds on CPU for an F16 checkpoint on a VNNI/AMX CPU (8-bit weight codes), without int8 fusions. */
const INT8: UNetGraphOptions = {
  attention: "mha",
  weightStorage: "fp16",
  quantization: "int8",
  int8WeightBits: 8,
};

const VARIANTS: Record<string, UNetGraphOptions> = {
  default: { attention: "mha", weightStorage: "fp16" },
  plain: { attention: "matmul", weightStorage: "fp32" },
  "default-wf2": { attention: "mha", weightStorage: "fp16", convAlgorithm: "winograd-f2" },
  "default-wf4": { attention: "mha", weightStorage: "fp16", convAlgorithm: "winograd-f4" },
  "default-wf4l": { attention: "mha", weightStorage: "fp16", convAlgorithm: "winograd-f4-light" },
  "default-wf4s": { attention: "mha", weightStorage: "fp16", convAlgorithm: "winograd-f4-shallow" },
  "plain-wf2": { attention: "matmul", weightStorage: "fp32", convAlgorithm: "winograd-f2" },
  "matmul-fp16": { attention: "matmul", weightStorage: "fp16" },
  "mha-fp32": { attention: "mha", weightStorage: "fp32" },
  int8: INT8,
  // com.microsoft SkipLayerNormalization for the transformer's residual adds + LayerNorms (layers.ts)
  "default-sln": { attention: "mha", weightStorage: "fp16", fusedOps: ["skipLayerNorm"] },
  // GroupNorm's affine as one BatchNormalization (layers.ts NormAffine)
  "default-bn": { attention: "mha", weightStorage: "fp16", normAffine: "batch-normalization" },
  "int8-bn": { ...INT8, normAffine: "batch-normalization" },
  "int8-7bit": { attention: "mha", weightStorage: "fp16", quantization: "int8", int8WeightBits: 7 },
  // int8 with graph forms that skip layout work (int8-layers.ts INT8_FUSIONS)
  "int8-proj": { ...INT8, int8Fusions: ["token-projections"] },
  "int8-qkv": { ...INT8, int8Fusions: ["self-qkv"] },
  "int8-fused": { ...INT8, int8Fusions: ["token-projections", "self-qkv"] },
  "int8-geglu": { ...INT8, int8Fusions: ["geglu-halves"] },
  "int8-pg": { ...INT8, int8Fusions: ["token-projections", "geglu-halves"] },
  "int8-all": { ...INT8, int8Fusions: ["token-projections", "self-qkv", "geglu-halves"] },
  // ToDo token downsampling (token-downsampling.ts): factor 2 at full resolution, or down to depth 2
  "int8-todo2": { ...INT8, todoFactor: 2 },
  "int8-todo2-d2": { ...INT8, todoFactor: 2, todoMaxDepth: 2 },
  "default-todo2": { attention: "mha", weightStorage: "fp16", todoFactor: 2 },
  // --fast's UNet (int8 + ToDo 2) with the attention products in int8 or as float MatMuls (the int8
  // products need the MatMul form, as the engine builds them: MultiHeadAttention is float only)
  "int8-todo2-aq8": { ...INT8, attention: "matmul", todoFactor: 2, attentionQuantization: "int8" },
  "int8-todo2-mm": { ...INT8, attention: "matmul", todoFactor: 2 },
  // the int8 fusions with ToDo (what --fast builds, plus each), for CPUs whose integer GEMMs are fast (AMX)
  "int8-todo2-all": {
    ...INT8,
    todoFactor: 2,
    int8Fusions: ["token-projections", "self-qkv", "geglu-halves"],
  },
  "int8-todo2-gather": { ...INT8, todoFactor: 2, int8Fusions: ["gather-im2col"] },
  "int8-todo2-pg": { ...INT8, todoFactor: 2, int8Fusions: ["token-projections", "geglu-halves"] },
  "int8-todo2-pgg": {
    ...INT8,
    todoFactor: 2,
    int8Fusions: ["token-projections", "geglu-halves", "gather-im2col"],
  },
};

/** Ops that only move, pad or requantize bytes (the int8 im2col and layout changes). */
const DATA_MOVEMENT_OPS = new Set([
  "Transpose",
  "Pad",
  "Slice",
  "Concat",
  "DynamicQuantizeLinear",
  "Reorder",
  "Reshape",
  "Split",
]);
const INTEGER_GEMM_OPS = new Set([
  "MatMulIntegerToFloat",
  "DynamicQuantizeMatMul",
  "MatMulInteger",
  "ConvInteger",
]);

const checkpoint = resolve(values.checkpoint as string);
if (!existsSync(checkpoint)) throw new Error(`${checkpoint} is missing (scripts/make-random-checkpoint.ts)`);
const batch = Number(values.batch);
const size = Number(values.size);
const runs = Number(values.runs);
const threads = values.threads ? Number(values.threads) : physicalCoreCount();
const names = (values.variants as string).split(",");
const ERF_MUL = "-erfmul";
const baseName = (n: string) => (n.endsWith(ERF_MUL) ? n.slice(0, -ERF_MUL.length) : n);
for (const n of names)
  if (!VARIANTS[baseName(n)])
    throw new Error(`unknown variant ${n} (${Object.keys(VARIANTS)}, each also ${ERF_MUL})`);

/** The GELU's x / sqrt(2) as x * (1/sqrt(2)), the form before graph format 2 (see the header). */
function erfMulGelu(b: GraphBuilder): GraphBuilder {
  const sqrt2 = b.constScalar(Math.SQRT2);
  const inverse = b.constScalar(Math.SQRT1_2);
  for (let i = 0; i < b.nodes.length; i++) {
    const n = b.nodes[i];
    if (n.opType === "Div" && n.inputs[1] === sqrt2)
      b.nodes[i] = { ...n, opType: "Mul", inputs: [n.inputs[0], inverse] };
  }
  return b;
}

const model = loadModel(checkpoint);
if (model.format === "onnx") throw new Error("needs a checkpoint, not an ONNX folder");
const unet = model.unet;
const cacheDir = resolve(values.cache as string);
const cache = new GraphCache(cacheDir);
const runtime = onnxruntimeNode();
const rng = createRandomSource("cpu", 0);
const c = unet.config;
const feeds: Record<string, TensorData> = {
  [UNET_INPUTS.sample]: {
    dims: [batch, c.inChannels, size, size],
    data: rng.randn([batch, c.inChannels, size, size]),
  },
  [UNET_INPUTS.timestep]: { dims: [batch], data: new Float32Array(batch).fill(500) },
  [UNET_INPUTS.encoderHiddenStates]: {
    dims: [batch, 77, c.crossAttentionDim],
    data: rng.randn([batch, 77, c.crossAttentionDim]),
  },
};

const inMemoryText = (inMemory: boolean) => (inMemory ? "built in memory" : "built");
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
console.log(
  `UNet ${size}x${size} batch ${batch}, ${threads} threads, ${runs} interleaved rounds, ${cpus()[0]?.model}; load ${load()}`,
);

interface Prepared {
  readonly name: string;
  readonly session: Session;
  readonly times: number[];
}
const prepared: Prepared[] = [];
let reference: Float32Array | undefined = values.reference
  ? new Float32Array(new Uint8Array(readFileSync(values.reference as string)).buffer)
  : undefined;
const referenceName = values.reference ? (values.reference as string) : names[0];
try {
  for (const name of names) {
    const options = VARIANTS[baseName(name)];
    const erfMul = name.endsWith(ERF_MUL);
    const key = graphCacheKey({
      kind: "unet-ab",
      weights: unet.files.map((f) => fileIdentity(f)),
      config: { config: c, loras: "" },
      options: erfMul ? { ...options, gelu: "erf-mul" } : options,
    });
    let t = performance.now();
    const build = () => {
      const built = buildUNetGraph(unet.weights, c, options);
      return erfMul ? erfMulGelu(built) : built;
    };
    const inMemory = values["in-memory"] as boolean;
    const { model: source, hit } = inMemory
      ? { model: serializeModel(build()), hit: false }
      : (({ modelPath, hit }) => ({ model: { path: modelPath }, hit }))(cache.getOrBuild(key, build));
    const buildS = (performance.now() - t) / 1000;
    t = performance.now();
    const profileDir = join(cacheDir, "profiles");
    mkdirSync(profileDir, { recursive: true });
    const session = await runtime.createSession(source, {
      intraOpNumThreads: threads,
      ...(values.profile ? { enableProfiling: true, profileFilePrefix: join(profileDir, name) } : {}),
    });
    const sessionS = (performance.now() - t) / 1000;
    t = performance.now();
    const out = (await session.run(feeds, [UNET_OUTPUT]))[UNET_OUTPUT].data as Float32Array;
    const firstS = (performance.now() - t) / 1000;
    let errText = "";
    if (values.save) {
      mkdirSync(values.save as string, { recursive: true });
      writeFileSync(
        join(values.save as string, `${name}.f32`),
        new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
      );
    }
    if (!reference) reference = out;
    else {
      let maxAbs = 0;
      let err = 0;
      let ref = 0;
      for (let i = 0; i < out.length; i++) {
        const d = out[i] - reference[i];
        maxAbs = Math.max(maxAbs, Math.abs(d));
        err += d * d;
        ref += reference[i] * reference[i];
      }
      errText = ` | vs ${referenceName}: max |diff| ${maxAbs.toExponential(2)}, rel RMS ${Math.sqrt(err / ref).toExponential(2)} (ref RMS ${Math.sqrt(ref / out.length).toFixed(3)})`;
    }
    console.log(
      `${name.padEnd(14)} graph ${hit ? "cached" : inMemoryText(values["in-memory"] as boolean)} ${buildS.toFixed(1)} s, session ${sessionS.toFixed(1)} s, first call ${firstS.toFixed(2)} s${errText}`,
    );
    prepared.push({ name, session, times: [] });
  }
  for (let r = 0; r < runs; r++) {
    // alternate the order each round so neither variant always follows the other
    const order = r % 2 ? [...prepared].reverse() : prepared;
    for (const p of order) {
      const t = performance.now();
      await p.session.run(feeds, [UNET_OUTPUT]);
      p.times.push((performance.now() - t) / 1000);
    }
  }
  console.log(`timed rounds done; load ${load()}`);
  const base = median(prepared[0].times);
  for (const p of prepared) {
    const m = median(p.times);
    console.log(
      `${p.name.padEnd(14)} median ${m.toFixed(3)} s (${(base / m).toFixed(3)}x ${prepared[0].name})  runs ${p.times.map((x) => x.toFixed(2)).join(" ")}`,
    );
  }
  // each round's ratio to the first variant, then their median: a round's load slows both alike
  for (const p of prepared.slice(1)) {
    const ratios = p.times.map((t, r) => prepared[0].times[r] / t);
    console.log(
      `${p.name.padEnd(14)} paired: median ${median(ratios).toFixed(3)}x ${prepared[0].name}, rounds ${ratios.map((x) => x.toFixed(3)).join(" ")}`,
    );
  }
  if (values.profile) {
    const perType = new Map<string, Map<string, number>>();
    const perNode = new Map<string, Map<string, number>>();
    for (const p of prepared) {
      const trace = await p.session.endProfiling?.();
      if (!trace) throw new Error("no profile written");
      const traced = parseOrtTrace(JSON.parse(readFileSync(trace, "utf-8"))).slice(1); // skip the first call
      const types = new Map<string, number>();
      const nodes = new Map<string, number>();
      for (const run of traced) {
        for (const k of run.kernels) {
          types.set(k.opType, (types.get(k.opType) ?? 0) + k.duration / 1e6 / traced.length);
          // the layer: scope path without the node's own name
          const layer = k.node.includes("/") ? k.node.slice(0, k.node.lastIndexOf("/")) : k.node;
          const group = `${layer.replace(/\.\d+(?=\.|$)/g, ".#")} :: ${k.opType}`;
          nodes.set(group, (nodes.get(group) ?? 0) + k.duration / 1e6 / traced.length);
        }
      }
      perType.set(p.name, types);
      perNode.set(p.name, nodes);
      const runS = traced.reduce((s, r) => s + r.duration, 0) / 1e6 / traced.length;
      const kernelS = [...types.values()].reduce((s, x) => s + x, 0);
      console.log(
        `${p.name}: profiled ${traced.length} calls, ${runS.toFixed(3)} s per call, kernels ${kernelS.toFixed(3)} s`,
      );
    }
    const table = (title: string, maps: Map<string, Map<string, number>>, top: number) => {
      const keys = new Set<string>();
      for (const m of maps.values()) for (const k of m.keys()) keys.add(k);
      const rows = [...keys].map((k) => ({ k, t: names.map((n) => maps.get(n)?.get(k) ?? 0) }));
      rows.sort((a, b) => Math.max(...b.t) - Math.max(...a.t));
      console.log(`\n${title} (seconds per call)\n| ${["what", ...names].join(" | ")} |`);
      for (const r of rows.slice(0, top))
        console.log(`| ${r.k} | ${r.t.map((x) => x.toFixed(3)).join(" | ")} |`);
    };
    table("kernel time per op type", perType, 30);
    // where an int8 step goes: bytes moved or requantized, integer GEMMs, everything else
    const category = (op: string) =>
      DATA_MOVEMENT_OPS.has(op) ? "data movement" : INTEGER_GEMM_OPS.has(op) ? "integer GEMM" : "other";
    const perCategory = new Map<string, Map<string, number>>();
    for (const [name, types] of perType) {
      const m = new Map<string, number>();
      for (const [op, t] of types) m.set(category(op), (m.get(category(op)) ?? 0) + t);
      perCategory.set(name, m);
    }
    table("kernel time per category", perCategory, 3);
    table("kernel time per layer kind and op type", perNode, 40);
  }
} finally {
  for (const p of prepared) await p.session.release();
}
model.close();
