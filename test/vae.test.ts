import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WIDE_MIN_CHANNELS } from "../src/graph/conv-algorithm.js";
import {
  buildVaeDecoderGraph,
  buildVaeEncoderGraph,
  VAE_DECODER_INPUT,
  VAE_DECODER_OUTPUT,
  VAE_ENCODER_INPUT,
  VAE_ENCODER_OUTPUTS,
} from "../src/graph/vae.js";
import { latentDistributionFromMoments, sampleScaledLatents } from "../src/pipeline/latent-distribution.js";
import { createRandomSource } from "../src/rng/index.js";
import type { Session } from "../src/runtime/runtime.js";
import { SD15_VAE } from "../src/weights/architecture/model-config.js";
import { vaeTensorMap } from "../src/weights/key-maps/vae-key-map.js";
import { SafetensorsWeightSource } from "../src/weights/safetensors-weight-source.js";
import { syntheticWeightSource } from "../src/weights/synthetic-weight-source.js";
import { assertClose } from "./helpers/assert-close.js";
import { golden } from "./helpers/fixtures.js";
import {
  assertVaeGolden,
  vaeCases as cases,
  codecSessions,
  vaeConfig as config,
  goldenDims as dimsOf,
  goldenFeed,
  vaeModelDir as modelDir,
  vaeTolerance as tolerance,
  type VaeCase,
} from "./helpers/vae-fixtures.js";

// the Winograd convs (graph/winograd-conv.ts) are held to the same tolerance as the direct ones
const GRAPH_FORMS = [
  { attentionKind: "matmul", convAlgorithm: "direct" },
  { attentionKind: "mha", convAlgorithm: "direct" },
  { attentionKind: "matmul", convAlgorithm: "winograd-f2" },
  { attentionKind: "matmul", convAlgorithm: "winograd-f4" },
] as const;

for (const { attentionKind, convAlgorithm } of GRAPH_FORMS) {
  const form = convAlgorithm === "direct" ? "" : `, ${convAlgorithm} convs`;
  describe(`VAE graphs (${attentionKind} attention${form}) vs diffusers goldens`, () => {
    let decoder: Session;
    let encoder: Session;

    before(async () => {
      const options = { attention: attentionKind, convAlgorithm };
      ({ decoder, encoder } = await codecSessions(modelDir, {
        decoder: (weights) => buildVaeDecoderGraph(weights, config, options),
        encoder: (weights) => buildVaeEncoderGraph(weights, config, options),
      }));
    });
    after(async () => {
      await decoder?.release();
      await encoder?.release();
    });

    for (const c of cases.filter((c) => c.kind === "decode")) {
      it(`${c.id}: decode(latents / ${config.scalingFactor}) within ${tolerance}`, async (t) => {
        const g = golden("vae");
        const dims = dimsOf(c.latents);
        const scale = Math.fround(config.scalingFactor);
        const latents = g.readF32(c.latents).map((v) => v / scale);
        const out = await decoder.run({ [VAE_DECODER_INPUT]: { dims, data: latents } });
        const diff = assertVaeGolden(out[VAE_DECODER_OUTPUT], c.vae_decode, `${c.id} vae_decode`);
        t.diagnostic(`max |diff| ${diff.maxAbs.toExponential(2)}`);
      });
    }

    it("decode with batch 2 (two different latents) gives each item's own golden", async () => {
      const g = golden("vae");
      const c = cases.find((c) => c.kind === "decode") as VaeCase;
      const dims = dimsOf(c.latents);
      const scale = Math.fround(config.scalingFactor);
      const latents = g.readF32(c.latents).map((v) => v / scale);
      const flipped = latents.slice().reverse();
      const single = await decoder.run({ [VAE_DECODER_INPUT]: { dims, data: flipped } });
      const batch = new Float32Array(2 * latents.length);
      batch.set(flipped);
      batch.set(latents, latents.length);
      const out = await decoder.run({ [VAE_DECODER_INPUT]: { dims: [2, ...dims.slice(1)], data: batch } });
      const image = out[VAE_DECODER_OUTPUT].data as Float32Array;
      const half = image.length / 2;
      assertClose(
        image.subarray(0, half),
        single[VAE_DECODER_OUTPUT].data as Float32Array,
        1e-6,
        "batch item 0 vs alone",
      );
      assertClose(
        image.subarray(half),
        g.readF32(c.vae_decode),
        tolerance,
        `batch item 1: ${c.id} vae_decode`,
      );
    });

    for (const c of cases.filter((c) => c.kind === "encode")) {
      it(`${c.id}: mean, logvar, std and the seeded sample × scaling within ${tolerance}`, async (t) => {
        const g = golden("vae");
        const out = await encoder.run({ [VAE_ENCODER_INPUT]: goldenFeed(c.image) });
        const diffs: string[] = [];
        for (const name of ["mean", "logvar", "std"] as const) {
          const d = assertVaeGolden(out[VAE_ENCODER_OUTPUTS[name]], c[name], `${c.id} ${name}`);
          diffs.push(`${name} ${d.maxAbs.toExponential(2)}`);
        }
        // the moments output carries the same distribution before the clamp
        const moments = out[VAE_ENCODER_OUTPUTS.moments];
        const fromMoments = latentDistributionFromMoments(moments.data as Float32Array, moments.dims);
        assertClose(fromMoments.mean, g.readF32(c.mean), tolerance, `${c.id} mean from moments`);
        assertClose(fromMoments.std, g.readF32(c.std), tolerance, `${c.id} std from moments`);

        const sample = sampleScaledLatents(
          {
            mean: out[VAE_ENCODER_OUTPUTS.mean].data as Float32Array,
            std: out[VAE_ENCODER_OUTPUTS.std].data as Float32Array,
            dims: out[VAE_ENCODER_OUTPUTS.mean].dims,
          },
          createRandomSource("cpu", c.sample_seed),
          config.scalingFactor,
        );
        const d = assertClose(
          sample,
          g.readF32(c.sample_times_scaling),
          tolerance,
          `${c.id} sample_times_scaling`,
        );
        diffs.push(`sample×scaling ${d.maxAbs.toExponential(2)}`);
        t.diagnostic(`max |diff| ${diffs.join(", ")}`);
      });
    }
  });
}

it("the VAE's Winograd graphs transform every stride-1 3x3 conv, F(4x4) under winograd-f4, and no other", () => {
  const weights = SafetensorsWeightSource.open(`${modelDir}/diffusion_pytorch_model.safetensors`);
  try {
    const kernels3x3 = (prefix: string, exclude: RegExp) =>
      weights
        .names()
        .filter((n) => n.startsWith(prefix) && n.endsWith(".weight") && weights.shape(n)[2] === 3)
        .filter((n) => !exclude.test(n))
        .sort();
    const transformed = (g: { initializers: { name: string }[] }, tile: number) =>
      g.initializers
        .map((i) => i.name)
        .filter((n) => n.includes(":winograd"))
        .map((n) => {
          assert.ok(n.endsWith(`:winograd${tile}`), n);
          return n.replace(/:winograd\d$/, "");
        })
        .sort();
    for (const [tile, convAlgorithm] of [
      [2, "winograd-f2"],
      [4, "winograd-f4"],
      [4, "winograd-f4-shallow"],
    ] as const) {
      const decoder = buildVaeDecoderGraph(weights, config, { convAlgorithm });
      const encoder = buildVaeEncoderGraph(weights, config, { convAlgorithm });
      assert.deepEqual(transformed(decoder, tile), kernels3x3("decoder.", /^$/), `${convAlgorithm} decoder`);
      // the downsamplers' stride-2 convs stay direct
      const encoderKernels = kernels3x3("encoder.", /downsamplers/);
      assert.deepEqual(transformed(encoder, tile), encoderKernels, `${convAlgorithm} encoder`);
      assert.ok(encoderKernels.length > 0);
    }
    assert.equal(transformed(buildVaeDecoderGraph(weights, config), 0).length, 0, "direct");
  } finally {
    weights.close();
  }
});

it("winograd-f4-wide on SD's full-size VAE: F(4x4) on the 256/512-channel convs below the image's size, the rest direct", () => {
  const weights = syntheticWeightSource(vaeTensorMap(SD15_VAE));
  const transformed = (g: { initializers: { name: string }[] }) =>
    g.initializers
      .map((i) => i.name)
      .filter((n) => n.includes(":winograd"))
      .map((n) => {
        assert.ok(n.endsWith(":winograd4"), n);
        return n.replace(/:winograd\d$/, "");
      })
      .sort();
  const wide = (prefix: string, fullSize: RegExp) =>
    weights
      .names()
      .filter((n) => n.startsWith(prefix) && n.endsWith(".weight"))
      .filter((n) => {
        const [k, c, kh] = weights.shape(n);
        return kh === 3 && Math.min(k, c) >= WIDE_MIN_CHANNELS && !fullSize.test(n);
      })
      .sort();
  const options = { convAlgorithm: "winograd-f4-wide" as const };
  // the decoder's last up block (128 channels) and the upsampler conv before it run at 512x512
  const decoder = transformed(buildVaeDecoderGraph(weights, SD15_VAE, options));
  const decoderWide = wide("decoder.", /^decoder\.up_blocks\.2\.upsamplers\./);
  assert.deepEqual(decoder, decoderWide);
  assert.ok(decoder.includes("decoder.mid_block.resnets.0.conv1.weight"));
  assert.ok(decoder.includes("decoder.up_blocks.2.resnets.2.conv2.weight"), "256 channels at 256x256");
  assert.ok(!decoder.includes("decoder.up_blocks.2.upsamplers.0.conv.weight"), "256 channels at 512x512");
  assert.ok(!decoder.some((n) => n.startsWith("decoder.up_blocks.3.")));
  // mid block 4, up_blocks.0 and .1 6 + their upsampler each, up_blocks.2 6 (its upsampler at 512x512)
  assert.equal(decoder.length, 4 + 7 + 7 + 6);
  // the encoder's first down block runs at 512x512 (128 channels: narrow anyway); downsamplers are stride 2
  const encoder = transformed(buildVaeEncoderGraph(weights, SD15_VAE, options));
  assert.deepEqual(encoder, wide("encoder.", /downsamplers/));
  assert.ok(encoder.length > 0);
  // winograd-f4 takes every stride-1 3x3 conv, full resolution included
  const all = transformed(buildVaeDecoderGraph(weights, SD15_VAE, { convAlgorithm: "winograd-f4" }));
  assert.ok(all.includes("decoder.up_blocks.2.upsamplers.0.conv.weight"));
  assert.ok(all.includes("decoder.up_blocks.3.resnets.0.conv2.weight"));
});

it("sampleScaledLatents from the golden mean/std reproduces diffusers' float32 sample exactly up to randn ulps", () => {
  const g = golden("vae");
  for (const c of cases.filter((c) => c.kind === "encode")) {
    const sample = sampleScaledLatents(
      { mean: g.readF32(c.mean), std: g.readF32(c.std), dims: dimsOf(c.mean) },
      createRandomSource("cpu", c.sample_seed),
      config.scalingFactor,
    );
    // randn itself may differ by an ulp (README 4.2); nothing else is approximate here
    assertClose(
      sample,
      g.readF32(c.sample_times_scaling),
      1e-6,
      `${c.id} sample_times_scaling from golden moments`,
    );
  }
});

it("latentDistributionFromMoments clamps logvar to [−30, 20] and splits per batch item", () => {
  // batch 2, L = 1, 1x2: item 0 mean [1, 2] logvar [−40, 25]; item 1 mean [3, 4] logvar [0, 2]
  const d = latentDistributionFromMoments(Float32Array.of(1, 2, -40, 25, 3, 4, 0, 2), [2, 2, 1, 2]);
  assert.deepEqual(d.dims, [2, 1, 1, 2]);
  assert.deepEqual([...d.mean], [1, 2, 3, 4]);
  assert.deepEqual([...d.logvar], [-30, 20, 0, 2]);
  assertClose(d.std, [Math.exp(-15), Math.exp(10), 1, Math.E], 1e-6 * Math.exp(10), "std");
});
