/**
 * The UNet's elementwise graph forms that onnxruntime's CPU optimiser runs as fewer passes
 * (graph/layers.ts): the exact GELU written as GeluFusion matches it (one com.microsoft Gelu), the
 * transformer's residual adds + LayerNorms as SkipLayerNormalization (`fusedOps: ["skipLayerNorm"]`,
 * the WebGPU variant's) and GroupNorm's affine as one BatchNormalization (`normAffine`, also the VAE
 * decoder's). Each:
 * the optimised model holds the ops it promises, and the outputs are the plain form's. onnxruntime
 * does not fuse Add + LayerNormalization into SkipLayerNormalization itself (the sum feeds the next
 * residual too), and on the CPU its SkipLayerNormalization is slower than the two ops
 * (docs/benchmarks.md): the CPU variant keeps them apart.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { serializeModel } from "../src/graph/onnx-model.js";
import { buildUNetGraph, UNET_OUTPUT, type UNetGraphOptions } from "../src/graph/unet.js";
import { buildVaeDecoderGraph, VAE_DECODER_INPUT, VAE_DECODER_OUTPUT } from "../src/graph/vae.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { ModelSource, Session } from "../src/runtime/runtime.js";
import { SafetensorsWeightSource } from "../src/weights/safetensors-weight-source.js";
import { maxDifference } from "./helpers/assert-close.js";
import { onnxOpTypeCounts } from "./helpers/onnx-op-types.js";
import { TINY_UNET, unetCaseFeeds, unetCases, withUNetFixture } from "./helpers/unet-goldens.js";
import { goldenFeed, vaeCases, vaeConfig, vaeModelDir } from "./helpers/vae-fixtures.js";

const FLOAT: UNetGraphOptions = { attention: "mha", weightStorage: "fp16" };
const INT8: UNetGraphOptions = { ...FLOAT, quantization: "int8", int8WeightBits: 8 };

const dir = mkdtempSync(join(tmpdir(), "sdlite-elementwise-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let saved = 0;

type Feeds = Parameters<Session["run"]>[0];

/** The op counts of onnxruntime's optimised `model` and its `output` for each of `feeds`. */
async function optimisedRun(
  model: ModelSource,
  feeds: readonly Feeds[],
  output: string,
): Promise<{ ops: Map<string, number>; outs: Float32Array[] }> {
  const path = join(dir, `optimised-${saved++}.onnx`);
  const session = await onnxruntimeNode().createSession(model, {
    intraOpNumThreads: 1,
    optimizedModelFilePath: path,
  });
  const outs: Float32Array[] = [];
  try {
    for (const feed of feeds) outs.push((await session.run(feed))[output].data as Float32Array);
  } finally {
    await session.release();
  }
  return { ops: onnxOpTypeCounts(path), outs };
}

/** The tiny UNet with these options, optimised, on every fixture case. */
function optimised(options: UNetGraphOptions): ReturnType<typeof optimisedRun> {
  const model = withUNetFixture(TINY_UNET, (weights, config) =>
    serializeModel(buildUNetGraph(weights, config, options)),
  );
  return optimisedRun(model, unetCases(TINY_UNET).map(unetCaseFeeds), UNET_OUTPUT);
}

const count = (ops: Map<string, number>, op: string) => ops.get(op) ?? 0;

function worstDifference(a: Float32Array[], b: Float32Array[]): number {
  assert.equal(a.length, b.length);
  assert.ok(a.length > 0, "fixture cases");
  return Math.max(...a.map((out, i) => maxDifference(out, b[i]).maxAbs));
}

for (const [name, base] of [
  ["float", FLOAT],
  ["int8", INT8],
] as const) {
  describe(`tiny UNet (${name}) after onnxruntime's optimiser`, () => {
    let plain: Awaited<ReturnType<typeof optimised>>;
    const plainForm = async () => {
      plain ??= await optimised(base);
      return plain;
    };

    it("each GEGLU's exact GELU is one com.microsoft Gelu: no Erf is left", async () => {
      const { ops } = await plainForm();
      // one GEGLU per transformer block, each block has two attentions
      const blocks = count(ops, "com.microsoft::MultiHeadAttention") / 2;
      assert.ok(blocks > 0);
      assert.equal(count(ops, "com.microsoft::Gelu"), blocks);
      assert.equal(count(ops, "Erf"), 0);
    });

    if (name === "float")
      it("skipLayerNorm (float linears only): norm2 and norm3 of each block are SkipLayerNormalization, same outputs within 1e-5", async () => {
        const { ops, outs } = await plainForm();
        const fused = await optimised({ ...base, fusedOps: ["skipLayerNorm"] });
        const blocks = count(ops, "com.microsoft::MultiHeadAttention") / 2;
        assert.equal(count(fused.ops, "com.microsoft::SkipLayerNormalization"), 2 * blocks);
        assert.equal(count(fused.ops, "LayerNormalization"), blocks);
        assert.equal(count(ops, "LayerNormalization"), 3 * blocks);
        assert.ok(count(fused.ops, "Add") < count(ops, "Add"));
        assert.ok(
          worstDifference(fused.outs, outs) <= 1e-5,
          `max |diff| ${worstDifference(fused.outs, outs)}`,
        );
      });

    it("normAffine batch-normalization: one BatchNormalization per GroupNorm, same outputs within 1e-6", async () => {
      const { ops, outs } = await plainForm();
      const bn = await optimised({ ...base, normAffine: "batch-normalization" });
      const groupNorms = count(ops, "InstanceNormalization");
      assert.ok(groupNorms > 0);
      assert.equal(count(bn.ops, "BatchNormalization"), groupNorms);
      assert.equal(count(ops, "Mul") - count(bn.ops, "Mul"), groupNorms);
      assert.ok(worstDifference(bn.outs, outs) <= 1e-6, `max |diff| ${worstDifference(bn.outs, outs)}`);
    });
  });
}

it("tiny VAE decoder: normAffine batch-normalization has one BatchNormalization per GroupNorm, same outputs within 1e-6", async () => {
  const decodeCases = vaeCases.filter((c) => c.kind === "decode");
  assert.ok(decodeCases.length > 0);
  const run = async (normAffine?: "batch-normalization") => {
    const weights = SafetensorsWeightSource.open(`${vaeModelDir}/diffusion_pytorch_model.safetensors`);
    const model = (() => {
      try {
        return serializeModel(buildVaeDecoderGraph(weights, vaeConfig, normAffine ? { normAffine } : {}));
      } finally {
        weights.close();
      }
    })();
    return optimisedRun(
      model,
      decodeCases.map((c) => ({ [VAE_DECODER_INPUT]: goldenFeed(c.latents) })),
      VAE_DECODER_OUTPUT,
    );
  };
  const plain = await run();
  const bn = await run("batch-normalization");
  const groupNorms = count(plain.ops, "InstanceNormalization");
  assert.ok(groupNorms > 0);
  assert.equal(count(bn.ops, "BatchNormalization"), groupNorms);
  assert.ok(
    worstDifference(bn.outs, plain.outs) <= 1e-6,
    `max |diff| ${worstDifference(bn.outs, plain.outs)}`,
  );
});
