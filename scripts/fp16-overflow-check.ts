/**
 * Would fp16 compute overflow on full-size SD1.5? (One-off, not part of `npm test`.) Builds each
 * float32 network from a full-size checkpoint with one extra output per activation, max |x|
 * (Abs → ReduceMax), runs it on the CPU at SD1.5's sizes and prints the largest activations per
 * network against fp16's largest finite value, 65504. Values fp16 keeps in float32 anyway
 * (float16-compute.ts: softmax, norms, the timestep embedding) are listed apart. With `--fp16`,
 * also runs the fp16 compute graphs and compares their outputs with float32.
 *
 *   npx tsx scripts/fp16-overflow-check.ts [--checkpoint /work/bench/sd15/model.safetensors]
 *                                           [--sizes 512,768] [--fp16] [--threads N]
 *
 * Random weights (the checkpoint make-random-checkpoint.ts writes) are not trained ones: their
 * activations show the shapes' arithmetic, not a real model's outliers. Needs several GB (the UNet's
 * weights, the VAE decoder's activations at 768); never run two at once.
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { inferElementTypes, keepsFloat32, toFloat16Compute } from "../src/graph/float16-compute.js";
import type { GraphBuilder } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { buildTextEncoderGraph, TEXT_ENCODER_INPUT, TEXT_ENCODER_OUTPUT } from "../src/graph/text-encoder.js";
import { buildUNetGraph, UNET_INPUTS, UNET_OUTPUT } from "../src/graph/unet.js";
import {
  buildVaeDecoderGraph,
  buildVaeEncoderGraph,
  VAE_DECODER_INPUT,
  VAE_DECODER_OUTPUT,
  VAE_ENCODER_INPUT,
  VAE_ENCODER_OUTPUTS,
} from "../src/graph/vae.js";
import { createRandomSource } from "../src/rng/index.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { TensorData } from "../src/runtime/runtime.js";
import { loadModel } from "../src/weights/load-model.js";

const { values } = parseArgs({
  options: {
    checkpoint: { type: "string", default: "/work/bench/sd15/model.safetensors" },
    sizes: { type: "string", default: "512,768" },
    fp16: { type: "boolean", default: false },
    threads: { type: "string" },
    only: { type: "string" },
  },
});
const FP16_MAX = 65504;
const sizes = (values.sizes as string).split(",").map(Number);
const threads = values.threads ? Number(values.threads) : physicalCoreCount();
const only = values.only ? (values.only as string).split(",") : undefined;
const runtime = onnxruntimeNode();
const model = loadModel(values.checkpoint as string);
if (model.format === "onnx") throw new Error("needs a checkpoint or diffusers folder");

/** Ops whose output holds the same numbers as an input: no new maximum to see. */
const SAME_VALUES = new Set([
  "Reshape",
  "Transpose",
  "Unsqueeze",
  "Identity",
  "Slice",
  "Concat",
  "Split",
  "Gather",
  "Expand",
  "Resize",
  "Cast",
  "Shape",
]);

/** Adds `absmax:<value>` outputs for every computed float activation; returns node of each. */
function instrument(b: GraphBuilder): Map<string, { node: string; op: string; float32InFp16: boolean }> {
  const types = inferElementTypes(b);
  const constant = new Set(b.initializers.map((s) => s.name));
  const probes = new Map<string, { node: string; op: string; float32InFp16: boolean }>();
  const probeNames: string[] = [];
  const original = [...b.nodes];
  const ordered: typeof original = [];
  for (const n of original) {
    // each probe right after its producer: onnxruntime then runs it before the activation is freed
    b.nodes.length = 0;
    ordered.push(n);
    if (n.inputs.every((i) => i === "" || constant.has(i))) {
      for (const o of n.outputs) constant.add(o);
      ordered.push(...b.nodes);
      continue;
    }
    if (SAME_VALUES.has(n.opType)) continue;
    for (const o of n.outputs) {
      if (types.get(o) !== "float32") continue;
      const name = `absmax:${o}`;
      // the text encoder's causal mask adds float32's minimum on purpose (fp16 saturates it to
      // -65504 and the float32 softmax makes it 0): such entries are left out of the maximum
      const abs = b.node("Abs", [o]);
      const ordinary = b.node("Where", [b.node("Less", [abs, b.constScalar(1e30)]), abs, b.constScalar(0)]);
      b.node("ReduceMax", [ordinary], { keepdims: 0 }, { outputs: [name] });
      b.outputs.push({ name, elementType: "float32", shape: [] });
      probeNames.push(name);
      probes.set(name, { node: n.name, op: n.opType, float32InFp16: keepsFloat32(n) });
    }
    ordered.push(...b.nodes);
  }
  // A running maximum through the probes, its nodes last: onnxruntime orders nodes by a depth-first
  // walk back from the leaves, highest node index first. Unchained probes are leaves, run after the
  // whole network and keep every activation alive (12.8 GB for the UNet at 512 before this); the
  // chain's nodes, after every probe, make the walk reach probe k only after probes 1…k-1.
  b.nodes.length = 0;
  let chain = probeNames[0];
  for (const name of probeNames.slice(1)) chain = b.node("Max", [chain, name]);
  if (chain) b.output(chain, "absmax:all", "float32", []);
  b.nodes.unshift(...ordered);
  return probes;
}

const fmt = (v: number) => (v >= 1000 ? v.toFixed(0) : v.toPrecision(4));

async function maxima(
  label: string,
  build: () => GraphBuilder,
  feeds: Record<string, TensorData>,
  outputName: string,
) {
  const b = build();
  const probes = instrument(b);
  const session = await runtime.createSession(serializeModel(b), { intraOpNumThreads: threads });
  const t0 = performance.now();
  const out = await session.run(feeds);
  const seconds = (performance.now() - t0) / 1000;
  await session.release();
  const rows = [...probes].map(([name, p]) => ({ ...p, max: (out[name].data as Float32Array)[0] }));
  const fp16Rows = rows.filter((r) => !r.float32InFp16).sort((a, b) => b.max - a.max);
  const keptRows = rows.filter((r) => r.float32InFp16).sort((a, b) => b.max - a.max);
  const top = fp16Rows[0];
  console.log(
    `${label}: max |activation| computed in fp16 ${fmt(top.max)} (${((top.max / FP16_MAX) * 100).toFixed(2)} % of 65504) at ${top.op} ${top.node}; ` +
      `in float32-kept ops ${keptRows[0] ? `${fmt(keptRows[0].max)} at ${keptRows[0].op} ${keptRows[0].node}` : "none"}; ` +
      `${rows.length} activations, ${seconds.toFixed(1)} s`,
  );
  for (const r of fp16Rows.slice(1, 5)) console.log(`    next: ${fmt(r.max)} ${r.op} ${r.node}`);
  return out[outputName].data as Float32Array;
}

async function fp16Compare(
  label: string,
  build: () => GraphBuilder,
  feeds: Record<string, TensorData>,
  outputName: string,
  want: Float32Array,
) {
  const session = await runtime.createSession(serializeModel(toFloat16Compute(build())), {
    intraOpNumThreads: threads,
  });
  const got = (await session.run(feeds, [outputName]))[outputName].data as Float32Array;
  await session.release();
  let nonFinite = 0;
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    if (!Number.isFinite(got[i])) nonFinite++;
    else worst = Math.max(worst, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  console.log(
    `${label} fp16 graph on CPU: ${nonFinite} non-finite of ${got.length}; max |fp16 - fp32| ${worst.toPrecision(3)} (${(worst / scale).toExponential(2)} of max |fp32| ${scale.toPrecision(4)})`,
  );
}

async function check(
  label: string,
  build: () => GraphBuilder,
  feeds: Record<string, TensorData>,
  outputName: string,
) {
  if (only && !only.some((o) => label.startsWith(o))) return undefined;
  const want = await maxima(label, build, feeds, outputName);
  if (values.fp16) await fp16Compare(label, build, feeds, outputName, want);
  return want;
}

console.log(
  `fp16 overflow check: ${values.checkpoint}, ${threads} threads, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
// each network's inputs from a generator of its own: the same whichever networks run
const rng = (seed: number) => createRandomSource("cpu", seed);
const { textEncoder, unet, vae } = model;
// the WebGPU variant's attention; fp16 weight storage halves the memory and, for an F16
// checkpoint, gives the very same float32 numbers (weight-storage.ts)
const attention = "matmul" as const;
const weightStorage = "fp16" as const;

// a prompt's ids: BOS, 20 ordinary tokens, EOS padding
const ids = Int32Array.from({ length: 77 }, (_, i) => (i === 0 ? 49406 : i <= 20 ? 320 + i * 97 : 49407));
let context = await check(
  "text encoder",
  () => buildTextEncoderGraph(textEncoder.weights, textEncoder.config, { attention, weightStorage }),
  { [TEXT_ENCODER_INPUT]: { dims: [1, 77], data: ids } },
  TEXT_ENCODER_OUTPUT,
);
context ??= rng(1).randn([1, 77, unet.config.crossAttentionDim]);

for (const size of sizes) {
  const side = size / 8;
  const latentDims = [1, unet.config.inChannels, side, side];
  for (const t of size === sizes[0] ? [999, 1] : [999]) {
    await check(
      `UNet ${size} t=${t}`,
      () => buildUNetGraph(unet.weights, unet.config, { attention, weightStorage }),
      {
        [UNET_INPUTS.sample]: { dims: latentDims, data: rng(2).randn(latentDims) },
        [UNET_INPUTS.timestep]: { dims: [1], data: Float32Array.of(t) },
        [UNET_INPUTS.encoderHiddenStates]: { dims: [1, 77, unet.config.crossAttentionDim], data: context },
      },
      UNET_OUTPUT,
    );
  }
  // what the pipeline feeds the decoder: unit-variance latents / scaling factor
  const z = rng(3)
    .randn([1, vae.config.latentChannels, side, side])
    .map((v) => v / vae.config.scalingFactor);
  await check(
    `VAE decoder ${size}`,
    () => buildVaeDecoderGraph(vae.weights, vae.config, { attention, weightStorage }),
    { [VAE_DECODER_INPUT]: { dims: [1, vae.config.latentChannels, side, side], data: z } },
    VAE_DECODER_OUTPUT,
  );
  const image = rng(4)
    .randn([1, 3, size, size])
    .map((v) => Math.max(-1, Math.min(1, v / 2)));
  await check(
    `VAE encoder ${size}`,
    () => buildVaeEncoderGraph(vae.weights, vae.config, { attention, weightStorage }),
    { [VAE_ENCODER_INPUT]: { dims: [1, 3, size, size], data: image } },
    VAE_ENCODER_OUTPUTS.mean,
  );
}
model.close();
