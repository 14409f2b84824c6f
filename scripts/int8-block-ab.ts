/**
 * A/B of the int8 fusions (int8-layers.ts INT8_FUSIONS) on one SD1.5 transformer (GroupNorm,
 * proj_in, self- and cross-attention, GEGLU, proj_out) at a chosen UNet level, with random weights
 * of the real shapes: no checkpoint, ~0.1 GB, so many interleaved rounds fit where a whole step
 * (scripts/unet-graph-ab.ts) gets a handful. Each round runs every variant once, in alternating
 * order; prints each variant's median and its median per-round ratio to the first.
 *
 *   npx tsx scripts/int8-block-ab.ts [--channels 320] [--size 64] [--rounds 40] [--threads N]
 *       [--variants none,token-projections,self-qkv,geglu-halves,all]
 */
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { INT8_FUSIONS, type Int8Fusion } from "../src/graph/int8-layers.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { spatialTransformer, type UNetContext, unetLayerOptions } from "../src/graph/unet.js";
import { createRandomSource } from "../src/rng/index.js";
import { onnxruntimeNode, physicalCoreCount } from "../src/runtime/onnxruntime-node.js";
import type { WeightSource } from "../src/weights/weight-source.js";

const { values } = parseArgs({
  options: {
    channels: { type: "string", default: "320" },
    size: { type: "string", default: "64" },
    rounds: { type: "string", default: "40" },
    /** intra-op threads (default: the physical cores); 1 is steadier on a loaded machine. */
    threads: { type: "string" },
    variants: { type: "string", default: "none,token-projections,self-qkv,geglu-halves,all" },
  },
});
const channels = Number(values.channels);
const size = Number(values.size);
const rounds = Number(values.rounds);
const names = (values.variants as string).split(",");
const fusionsOf = (name: string): Int8Fusion[] =>
  name === "none" ? [] : name === "all" ? [...INT8_FUSIONS] : (name.split("+") as Int8Fusion[]);

const rng = createRandomSource("cpu", 0);
// one full-resolution transformer by default (the costliest level: 4096 tokens)
const key = "down_blocks.0.attentions.0";
const block = `${key}.transformer_blocks.0`;
const contextDim = 768;
const shapes: Record<string, number[]> = {
  [`${key}.norm.weight`]: [channels],
  [`${key}.norm.bias`]: [channels],
  [`${key}.proj_in.weight`]: [channels, channels, 1, 1],
  [`${key}.proj_in.bias`]: [channels],
  [`${key}.proj_out.weight`]: [channels, channels, 1, 1],
  [`${key}.proj_out.bias`]: [channels],
  [`${block}.attn1.to_q.weight`]: [channels, channels],
  [`${block}.attn1.to_k.weight`]: [channels, channels],
  [`${block}.attn1.to_v.weight`]: [channels, channels],
  [`${block}.attn1.to_out.0.weight`]: [channels, channels],
  [`${block}.attn1.to_out.0.bias`]: [channels],
  [`${block}.attn2.to_q.weight`]: [channels, channels],
  [`${block}.attn2.to_k.weight`]: [channels, contextDim],
  [`${block}.attn2.to_v.weight`]: [channels, contextDim],
  [`${block}.attn2.to_out.0.weight`]: [channels, channels],
  [`${block}.attn2.to_out.0.bias`]: [channels],
  [`${block}.ff.net.0.proj.weight`]: [8 * channels, channels],
  [`${block}.ff.net.0.proj.bias`]: [8 * channels],
  [`${block}.ff.net.2.weight`]: [channels, 4 * channels],
  [`${block}.ff.net.2.bias`]: [channels],
};
for (const n of [1, 2, 3]) {
  shapes[`${block}.norm${n}.weight`] = [channels];
  shapes[`${block}.norm${n}.bias`] = [channels];
}
const tensors = new Map<string, Float32Array>();
for (const [name, shape] of Object.entries(shapes)) {
  const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 0;
  const data = rng.randn(shape).map((v) => (fanIn ? v / Math.sqrt(fanIn) : name.endsWith("weight") ? 1 : 0));
  tensors.set(name, data);
}
const weights: WeightSource = {
  names: () => [...tensors.keys()],
  has: (n) => tensors.has(n),
  shape: (n) => shapes[n],
  get: (n) => tensors.get(n) as Float32Array,
};

const config = { normNumGroups: 32, useLinearProjection: false } as UNetContext["config"];
const runtime = onnxruntimeNode();
const threads = values.threads ? Number(values.threads) : physicalCoreCount();
const feeds = {
  x: { dims: [1, channels, size, size], data: rng.randn([1, channels, size, size]) },
  context: { dims: [1, 77, contextDim], data: rng.randn([1, 77, contextDim]) },
};
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
console.log(
  `int8 transformer ${channels} ch at ${size}x${size}, ${threads} threads, ${rounds} rounds, ${cpus()[0]?.model}; load ${load()}`,
);
interface Prepared {
  readonly name: string;
  readonly session: Awaited<ReturnType<typeof runtime.createSession>>;
  readonly out: Float32Array;
  readonly times: number[];
}
const prepared: Prepared[] = [];
for (const name of names) {
  const b = new GraphBuilder(`block-${name}`);
  b.input("x", "float32", [1, channels, size, size]);
  b.input("context", "float32", [1, 77, contextDim]);
  const options = { attention: "mha" as const, quantization: "int8" as const, int8Fusions: fusionsOf(name) };
  const ctx: UNetContext = { b, weights, ...unetLayerOptions(options), config, temb: "", context: "context" };
  b.output(spatialTransformer(ctx, key, "x", channels, 8 /* SD1.5 heads at every level */), "y", "float32");
  const session = await runtime.createSession(serializeModel(b), { intraOpNumThreads: threads });
  const out = (await session.run(feeds)).y.data as Float32Array;
  prepared.push({ name, session, out, times: [] as number[] });
}
const reference = prepared[0].out;
for (const p of prepared.slice(1)) {
  let maxAbs = 0;
  for (let i = 0; i < reference.length; i++) maxAbs = Math.max(maxAbs, Math.abs(p.out[i] - reference[i]));
  console.log(`${p.name}: max |diff| vs ${prepared[0].name} ${maxAbs.toExponential(2)}`);
}
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? [...prepared].reverse() : prepared;
  for (const p of order) {
    const t = performance.now();
    await p.session.run(feeds);
    p.times.push(performance.now() - t);
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(`rounds done; load ${load()}`);
for (const p of prepared) {
  const ratios = p.times.map((t, r) => prepared[0].times[r] / t);
  console.log(
    `${p.name.padEnd(18)} median ${median(p.times).toFixed(1)} ms, paired median ${median(ratios).toFixed(3)}x ${prepared[0].name} (ratios > 1 in ${ratios.filter((x) => x > 1).length}/${rounds} rounds)`,
  );
}
for (const p of prepared) await p.session.release();
