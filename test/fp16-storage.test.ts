/**
 * fp16 weight storage: the float32 → float16 rounding, graphs that keep fp16 initializers and
 * upcast them with a Cast, the "auto" rule, and whole generations that must be bit-identical to
 * fp32 storage when the checkpoint's values are fp16 already (every tiny fixture model is).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { GraphCache } from "../src/cache/graph-cache.js";
import { type EngineOptions, openPipeline } from "../src/engine/open-pipeline.js";
import { resolveWeightStorage, validateWeightStorage } from "../src/engine/weight-storage-choice.js";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { type LayerContext, linear } from "../src/graph/layers.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { float32ToFloat16 } from "../src/graph/weight-storage.js";
import { generate } from "../src/pipeline/generate.js";
import type { GenerationRequest } from "../src/pipeline/request.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { f16ToF32, f32ToF16Bits } from "../src/weights/formats/dtype.js";
import type { WeightSource } from "../src/weights/weight-source.js";
import { fixturePath } from "./helpers/fixtures.js";
import { caseRequest, pipelineCase } from "./helpers/pipeline-cases.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";

describe("float32ToFloat16", () => {
  it("rounds exactly like dtype.ts's scalar f32ToF16Bits (nearest even) over random bit patterns and edge values", () => {
    const bits = new Uint32Array(300_000);
    let s = 12345;
    for (let i = 0; i < bits.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      // half the patterns near fp16's range (exponents 100..145), where the rounding cases live
      bits[i] = i % 2 ? s : (s & 0x807fffff) | ((100 + (s % 46)) << 23);
    }
    const values = new Float32Array(bits.buffer);
    const edges = Float32Array.of(
      0,
      -0,
      65504,
      -65504,
      65519.99,
      2 ** -14,
      2 ** -24,
      2 ** -25, // a tie: rounds to even (zero)
      1.5 * 2 ** -25,
      2 ** -26,
      1 + 2 ** -11, // a tie between 1 and 1 + 2^-10: stays 1
      1 + 3 * 2 ** -11, // a tie: rounds up to even
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    );
    for (const input of [values.filter((v) => Number.isNaN(v) || Math.abs(v) < 65520), edges]) {
      const fast = float32ToFloat16(input, "w");
      for (let i = 0; i < input.length; i++) {
        const expected = f32ToF16Bits(input[i]);
        if (Number.isNaN(input[i]))
          assert.ok((fast[i] & 0x7c00) === 0x7c00 && fast[i] & 0x3ff, "NaN stays NaN");
        else if (fast[i] !== expected)
          assert.fail(`${input[i]}: 0x${fast[i].toString(16)}, expected 0x${expected.toString(16)}`);
      }
    }
  });

  it("is exact for values that are fp16 already, and refuses a finite value beyond fp16's range, naming the weight", () => {
    const halves = Uint16Array.from({ length: 0x7c00 }, (_, i) => i);
    assert.deepEqual(float32ToFloat16(f16ToF32(halves), "w"), halves);
    assert.throws(
      () => float32ToFloat16(Float32Array.of(1, 70000), "conv_in.weight"),
      /weight "conv_in\.weight" holds 70000, beyond fp16's range.*fp32/,
    );
  });
});

class MemoryWeights implements WeightSource {
  constructor(private readonly tensors: Record<string, { shape: number[]; data: Float32Array }>) {}
  names(): string[] {
    return Object.keys(this.tensors);
  }
  has(name: string): boolean {
    return name in this.tensors;
  }
  shape(name: string): readonly number[] {
    return this.tensors[name].shape;
  }
  get(name: string): Float32Array {
    return this.tensors[name].data;
  }
}

describe("GraphBuilder weight storage", () => {
  const inF = 64;
  const outF = 48;
  const rounded = (n: number, seed: number) =>
    f16ToF32(Uint16Array.from({ length: n }, (_, i) => f32ToF16Bits(Math.sin(seed + i * 0.37))));
  const weights = new MemoryWeights({
    "fc.weight": { shape: [outF, inF], data: rounded(outF * inF, 1) },
    "fc.bias": { shape: [outF], data: rounded(outF, 2) },
  });
  const build = (weightStorage?: "fp32" | "fp16") => {
    const b = new GraphBuilder("fc", { weightStorage });
    const ctx: LayerContext = { b, weights, attention: "matmul" };
    const x = b.input("x", "float32", [2, inF]);
    // a second read of the same weight must reuse the one Cast
    b.output(b.node("Add", [linear(ctx, "fc", x), linear(ctx, "fc", x)]), "y", "float32");
    return b;
  };

  it("fp16 keeps each weight once as a float16 initializer under its key, upcast by one Cast; fp32 is the default", () => {
    const fp32 = build();
    const fp16 = build("fp16");
    assert.deepEqual(
      fp32.initializers.map((i) => [i.name, i.elementType]),
      [
        ["fc.weight", "float32"],
        ["fc.bias", "float32"],
      ],
    );
    assert.deepEqual(
      fp16.initializers.map((i) => [i.name, i.elementType]),
      [
        ["fc.weight", "float16"],
        ["fc.bias", "float16"],
      ],
    );
    assert.equal(fp32.nodes.filter((n) => n.opType === "Cast").length, 0);
    assert.deepEqual(
      fp16.nodes.filter((n) => n.opType === "Cast").map((n) => n.inputs[0]),
      ["fc.weight", "fc.bias"],
    );
    const weightBytes = (b: GraphBuilder) =>
      serializeModel(b, { externalMinBytes: 1 }).externalData.reduce((n, f) => n + f.data.byteLength, 0);
    assert.ok(weightBytes(fp16) <= weightBytes(fp32) / 2 + 64, "fp16 weights take half the bytes");
  });

  it("runs bit-identical to fp32 storage when the weights are fp16 values", async () => {
    const x = Float32Array.from({ length: 2 * inF }, (_, i) => Math.cos(i * 0.11));
    const outputs: Float32Array[] = [];
    for (const storage of ["fp32", "fp16"] as const) {
      const session = await onnxruntimeNode().createSession(serializeModel(build(storage)), {
        intraOpNumThreads: 1,
      });
      outputs.push((await session.run({ x: { dims: [2, inF], data: x } })).y.data as Float32Array);
      await session.release();
    }
    assert.deepEqual(outputs[1], outputs[0]);
  });
});

describe("weight storage choice", () => {
  it('"auto" keeps fp16 only where it is exact: all-F16 networks no LoRA changes', () => {
    assert.equal(resolveWeightStorage("auto", { storedDtypes: ["F16"] }), "fp16");
    assert.equal(resolveWeightStorage("auto", { storedDtypes: ["F16"], loraChanged: true }), "fp32");
    assert.equal(resolveWeightStorage("auto", { storedDtypes: ["BF16"] }), "fp32");
    assert.equal(resolveWeightStorage("auto", { storedDtypes: ["F32"] }), "fp32");
    assert.equal(resolveWeightStorage("auto", { storedDtypes: ["F16", "F32"] }), "fp32");
    assert.equal(resolveWeightStorage("auto", { storedDtypes: [] }), "fp32");
    assert.equal(resolveWeightStorage("fp16", { storedDtypes: ["F32"] }), "fp16");
    assert.equal(resolveWeightStorage("fp32", { storedDtypes: ["F16"] }), "fp32");
  });

  it("an unknown choice is an error listing the valid ones", () => {
    assert.equal(validateWeightStorage("fp16"), "fp16");
    assert.throws(
      () => validateWeightStorage("half"),
      /unknown weight storage "half" \(expected auto, fp32, fp16\)/,
    );
  });
});

/**
 * Direct convs, whatever the machine's default: Winograd's transformed weights are float32 whatever
 * the storage (graph/winograd-conv.ts), so only the direct UNet's weight files halve.
 */
const DIRECT_CONVS = { convAlgorithm: "direct" } as const;

describe("fp16 storage through openPipeline: bit-identical generations", () => {
  const roots: string[] = [];
  after(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  const request = (id: string): GenerationRequest => caseRequest(pipelineCase(id));

  /** Every step's latents and the image of each request, and the bytes each new cache entry holds. */
  async function run(model: string, cache: GraphCache, options: EngineOptions) {
    const before = new Set(entries(cache));
    const pipeline = await openPipeline(model, { ...options, runtime: { cache, threads: 1 } });
    const results: { latents: Float32Array[]; image: Uint8Array }[] = [];
    try {
      for (const id of ["txt2img_euler_a_4", "img2img_euler_8_s0.6"]) {
        const latents: Float32Array[] = [];
        const [image] = await generate(pipeline.models, request(id), {
          onProgress: (p) => {
            if (p.latents) latents.push(p.latents.slice());
          },
        });
        assert.ok(latents.length > 0, "the denoising loop reported its latents");
        results.push({ latents, image: Uint8Array.from(image.image.data) });
      }
    } finally {
      await pipeline.close();
    }
    const added = entries(cache).filter((e) => !before.has(e));
    return { results, added: added.map((e) => ({ kind: e.split("-")[0], bytes: entryBytes(cache, e) })) };
  }

  const entries = (cache: GraphCache) =>
    existsSync(cache.dir) ? readdirSync(cache.dir).filter((e) => !e.includes(".tmp-")) : [];
  /** The external weight files' bytes (the protobuf of a tiny graph is about as large as its weights). */
  const entryBytes = (cache: GraphCache, entry: string) =>
    readdirSync(join(cache.dir, entry))
      .filter((f) => f.endsWith(".bin"))
      .reduce((n, f) => n + statSync(join(cache.dir, entry, f)).size, 0);

  for (const [label, model, extra, storage] of [
    [
      "F16 single file, weightStorage auto (→ fp16)",
      fixturePath("single_file", "tiny-sd15-fp16.safetensors"),
      { overrides: TINY_OVERRIDES, speed: DIRECT_CONVS },
      "auto",
    ],
    [
      "F32 diffusers folder holding fp16 values, weightStorage fp16, TAESD decoder",
      fixturePath("models", "tiny-sd15"),
      { taesd: fixturePath("models", "tiny-taesd"), speed: { ...DIRECT_CONVS, decoder: "taesd" } },
      "fp16",
    ],
  ] as const) {
    it(`${label}: txt2img and img2img latents at every step and images equal fp32 storage's bit for bit; separate, half-size cache entries`, async () => {
      const root = mkdtempSync(join(tmpdir(), "sdlite-fp16-"));
      roots.push(root);
      const cache = new GraphCache(root);
      const fp32 = await run(model, cache, { ...extra, memory: { weightStorage: "fp32" } });
      const fp16 = await run(model, cache, { ...extra, memory: { weightStorage: storage } });

      const kinds = (r: typeof fp32) => r.added.map((e) => e.kind).sort();
      assert.deepEqual(kinds(fp16), kinds(fp32), "fp16 storage built its own entry for every network");
      for (const kind of kinds(fp32)) {
        const a = fp32.added.find((e) => e.kind === kind)!.bytes;
        const b = fp16.added.find((e) => e.kind === kind)!.bytes;
        assert.ok(b < 0.55 * a, `${kind}: fp16 weight files ${b} bytes vs fp32 ${a}`);
      }
      fp32.results.forEach((r, i) => {
        const other = fp16.results[i];
        assert.equal(other.latents.length, r.latents.length);
        r.latents.forEach((l, step) => {
          assert.deepEqual(other.latents[step], l, `request ${i} step ${step}`);
        });
        assert.deepEqual(other.image, r.image, `request ${i} image`);
      });
    });
  }
});
