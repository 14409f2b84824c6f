/**
 * DeepCache: the schedule (which calls run the whole UNet), the two graphs on the tiny UNet (the
 * full graph's extra output changes nothing; the shallow graph on the same step's feature is the
 * full UNet), and whole pipelines: interval 1 is bit-identical to the plain UNet, interval 2 runs
 * and its image stays near the reference (PSNR reported).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { LazySession } from "../src/engine/lazy-session.js";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { SessionDeepCacheUNet } from "../src/engine/session-deep-cache.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import { buildUNetGraph, UNET_DEEP_FEATURE, UNET_INPUTS, UNET_OUTPUT } from "../src/graph/unet.js";
import { buildShallowUNetGraph, deepFeatureChannels } from "../src/graph/unet-deepcache.js";
import type { RgbImage } from "../src/image/types.js";
import {
  type DeepCacheNetworks,
  DeepCacheUNet,
  type DeepFeature,
  runsFullUNet,
} from "../src/pipeline/deep-cache.js";
import { denoise } from "../src/pipeline/denoise.js";
import { generate } from "../src/pipeline/generate.js";
import type { Shape4 } from "../src/pipeline/networks.js";
import { createRandomSource } from "../src/rng/index.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { Session } from "../src/runtime/runtime.js";
import { createScheduler } from "../src/schedulers/registry.js";
import { parseSchedulerConfig } from "../src/schedulers/scheduler-config.js";
import { assertClose, maxDifference } from "./helpers/assert-close.js";
import { fixturePath } from "./helpers/fixtures.js";
import { caseRequest, type PipelineCase, pipelineCases } from "./helpers/pipeline-cases.js";
import {
  openUNetFixtureWeights,
  TINY_UNET,
  unetCaseFeeds,
  unetCases,
  unetFixtureConfig,
} from "./helpers/unet-goldens.js";

/** A fake pair of networks that records which half ran and tags each feature with its call. */
function recordingNetworks() {
  const log: string[] = [];
  let calls = 0;
  const networks: DeepCacheNetworks = {
    inChannels: 4,
    async full({ sample }) {
      const call = calls++;
      log.push("F");
      return { prediction: sample, feature: { data: Float32Array.of(call), dims: [1] } };
    },
    async shallow({ sample }, feature: DeepFeature) {
      calls++;
      log.push(`S${feature.data[0]}`);
      return sample;
    },
  };
  return { networks, log };
}

async function callTimes(unet: { predict: DeepCacheUNet["predict"] }, shapes: Shape4[]): Promise<void> {
  for (const shape of shapes) {
    await unet.predict({
      sample: new Float32Array(shape.reduce((a, b) => a * b, 1)),
      shape,
      timestep: Float32Array.of(1),
      context: new Float32Array(0),
      tokens: 0,
    });
  }
}

describe("DeepCache schedule", () => {
  const shape: Shape4 = [2, 4, 8, 8];

  it("interval 3: full on calls 0, 3, 6; the shallow calls get the latest full call's feature", async () => {
    const { networks, log } = recordingNetworks();
    await callTimes(new DeepCacheUNet(networks, 3).startRun(), Array(7).fill(shape));
    assert.deepEqual(log, ["F", "S0", "S0", "F", "S3", "S3", "F"]);
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6].map((c) => runsFullUNet(c, 3)),
      [true, false, false, true, false, false, true],
    );
  });

  it("each run starts afresh with a full call; a different batch or latent size forces a full call", async () => {
    const { networks, log } = recordingNetworks();
    const unet = new DeepCacheUNet(networks, 2);
    await callTimes(unet.startRun(), [shape, shape, shape]);
    await callTimes(unet.startRun(), [shape, [1, 4, 8, 8], shape, [2, 4, 8, 16]]);
    assert.deepEqual(log, ["F", "S0", "F", "F", "F", "F", "F"]);
  });

  it("a prompt and negative prompt of different lengths run as two streams, each with its own feature", async () => {
    // features are tagged with the context length they were computed for
    const log: string[] = [];
    const networks: DeepCacheNetworks = {
      inChannels: 4,
      async full({ sample, tokens }) {
        log.push(`F${tokens}`);
        return {
          prediction: new Float32Array(sample.length),
          feature: { data: Float32Array.of(tokens), dims: [1] },
        };
      },
      async shallow({ sample, tokens }, feature: DeepFeature) {
        log.push(`S${tokens}<${feature.data[0]}`);
        return new Float32Array(sample.length);
      },
    };
    const config = parseSchedulerConfig(
      JSON.parse(readFileSync(fixturePath("models/tiny-sd15/scheduler/scheduler_config.json"), "utf-8")),
    );
    const latentShape: Shape4 = [1, 4, 8, 8];
    const hidden = 2;
    await denoise({
      unet: new DeepCacheUNet(networks, 2),
      scheduler: createScheduler("Euler", config, 3),
      startIndex: 0,
      latents: new Float32Array(4 * 8 * 8),
      shape: latentShape,
      conditioning: {
        conds: [{ data: new Float32Array(154 * hidden), weight: 1 }],
        uncond: new Float32Array(77 * hidden),
        tokens: 154,
        uncondTokens: 77,
      },
      guidance: 7,
      rng: createRandomSource("cpu", 1),
    });
    assert.deepEqual(log, ["F154", "F77", "S154<154", "S77<77", "F154", "F77"]);
  });

  it("interval 1 never runs the shallow half, nor does a call outside a run; bad intervals are refused", async () => {
    const { networks, log } = recordingNetworks();
    await callTimes(new DeepCacheUNet(networks, 1).startRun(), [shape, shape, shape]);
    await callTimes(new DeepCacheUNet(networks, 2), [shape, shape]);
    assert.deepEqual(log, ["F", "F", "F", "F", "F"]);
    for (const bad of [0, -1, 1.5, Number.NaN])
      assert.throws(() => new DeepCacheUNet(networks, bad), /whole number/);
  });
});

describe("DeepCache graphs on the tiny UNet (mha attention, as the engine builds them)", () => {
  const cases = unetCases(TINY_UNET);
  const sessions: Record<"plain" | "full" | "shallow", Session>[] = [];
  let featureChannels = 0;

  before(async () => {
    const config = unetFixtureConfig(TINY_UNET);
    featureChannels = deepFeatureChannels(config);
    const weights = openUNetFixtureWeights(TINY_UNET);
    try {
      const create = (g: ReturnType<typeof buildUNetGraph>) =>
        onnxruntimeNode().createSession(serializeModel(g), { intraOpNumThreads: 1 });
      sessions.push({
        plain: await create(buildUNetGraph(weights, config, { attention: "mha" })),
        full: await create(buildUNetGraph(weights, config, { attention: "mha", deepFeature: true })),
        shallow: await create(buildShallowUNetGraph(weights, config, { attention: "mha" })),
      });
    } finally {
      weights.close();
    }
  });
  after(async () => {
    for (const s of sessions) for (const session of Object.values(s)) await session.release();
  });

  it("cases cover batch 2 and odd latent sizes", () => {
    assert.ok(cases.some((c) => c.shape[0] === 2));
    assert.ok(cases.some((c) => c.shape[2] % 2 === 1));
  });

  for (const c of unetCases(TINY_UNET)) {
    it(`${c.id} [${c.shape.join("x")}]: the deep-feature output leaves out_sample bit-identical; shallow(feature) = full`, async () => {
      const { plain, full, shallow } = sessions[0];
      const input = unetCaseFeeds(c);
      const reference = (await plain.run(input, [UNET_OUTPUT]))[UNET_OUTPUT].data as Float32Array;
      const withFeature = await full.run(input, [UNET_OUTPUT, UNET_DEEP_FEATURE]);
      const feature = withFeature[UNET_DEEP_FEATURE];
      assert.deepEqual(feature.dims, [c.shape[0], featureChannels, c.shape[2], c.shape[3]]);
      assertClose(
        withFeature[UNET_OUTPUT].data as Float32Array,
        reference,
        0,
        `${c.id}: full graph out_sample vs plain UNet`,
      );
      const again = await shallow.run({ ...input, [UNET_DEEP_FEATURE]: feature }, [UNET_OUTPUT]);
      assertClose(
        again[UNET_OUTPUT].data as Float32Array,
        reference,
        0,
        `${c.id}: shallow graph on the same step's feature vs full UNet`,
      );
    });
  }
});

function psnr(a: RgbImage, b: RgbImage): number {
  let squares = 0;
  for (let i = 0; i < a.data.length; i++) squares += (a.data[i] - b.data[i]) ** 2;
  const mse = squares / a.data.length;
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse);
}

describe("DeepCache through the pipeline (tiny-sd15, fixture txt2img cases)", () => {
  const opened: OpenedPipeline[] = [];
  after(async () => {
    for (const p of opened) await p.close();
  });
  async function open(options: Parameters<typeof openPipeline>[1] = {}): Promise<OpenedPipeline> {
    const p = await openPipeline(fixturePath("models/tiny-sd15"), {
      ...options,
      runtime: { cache: false, threads: 1 },
    });
    opened.push(p);
    return p;
  }
  const txt2img = pipelineCases("txt2img");

  async function run(p: OpenedPipeline, c: PipelineCase, unet = p.models.unet) {
    const steps: Float32Array[] = [];
    const [image] = await generate({ ...p.models, unet }, caseRequest(c), {
      onProgress: (e) => e.stage === "denoise" && e.latents && steps.push(e.latents),
    });
    return { image: image.image, steps };
  }

  it("interval 1 through the deep-feature graph is bit-identical to the plain UNet, step by step", async () => {
    const p = await open();
    const config = unetFixtureConfig(TINY_UNET);
    const weights = openUNetFixtureWeights(TINY_UNET);
    const lazy = (build: () => ReturnType<typeof buildUNetGraph>) =>
      new LazySession(() =>
        onnxruntimeNode().createSession(serializeModel(build()), { intraOpNumThreads: 1 }),
      );
    // the conv algorithm the engine chose for this machine (conv-algorithm-choice.ts)
    const convAlgorithm = p.convAlgorithm?.algorithm;
    const full = lazy(() =>
      buildUNetGraph(weights, config, { attention: "mha", convAlgorithm, deepFeature: true }),
    );
    const shallow = lazy(() => buildShallowUNetGraph(weights, config, { attention: "mha", convAlgorithm }));
    const halves = new SessionDeepCacheUNet(full, shallow, 4, {
      sample: UNET_INPUTS.sample,
      timestep: UNET_INPUTS.timestep,
      context: UNET_INPUTS.encoderHiddenStates,
      output: UNET_OUTPUT,
      feature: UNET_DEEP_FEATURE,
    });
    try {
      for (const c of txt2img.slice(0, 2)) {
        const reference = await run(p, c);
        const cached = await run(p, c, new DeepCacheUNet(halves, 1));
        reference.steps.forEach((latents, i) => {
          assertClose(cached.steps[i], latents, 0, `${c.id}: latents after step ${i + 1}`);
        });
        assert.deepEqual(cached.image.data, reference.image.data, `${c.id}: image`);
      }
    } finally {
      await full.release();
      await shallow.release();
      weights.close();
    }
  });

  it("interval 2 (engine option): the first step is the reference's, later ones differ; PSNR vs the reference image", async (t) => {
    const reference = await open();
    const cached = await open({ speed: { deepCacheInterval: 2 } });
    assert.ok(cached.models.unet instanceof DeepCacheUNet && cached.models.unet.interval === 2);
    for (const c of txt2img) {
      const ref = await run(reference, c);
      const got = await run(cached, c);
      assert.equal(got.steps.length, ref.steps.length);
      assertClose(got.steps[0], ref.steps[0], 0, `${c.id}: latents after the first (full) step`);
      const last = maxDifference(got.steps[got.steps.length - 1], ref.steps[ref.steps.length - 1]);
      assert.ok(Number.isFinite(last.maxAbs), `${c.id}: final latents are finite`);
      assert.ok(last.maxAbs > 0, `${c.id}: cached steps changed nothing; the shallow graph did not run`);
      const db = psnr(got.image, ref.image);
      t.diagnostic(
        `${c.id} (${c.steps} steps, ${c.sampler}): final latents max |diff| ${last.maxAbs.toExponential(2)}, image PSNR ${db.toFixed(1)} dB`,
      );
      // Measured 46.7–63.6 dB (final latents max |diff| 5e-3–1.7). The tiny random UNet barely
      // depends on its deep feature (zeroing it scores about the same), so this only catches gross
      // breakage; the exact same-step test above is what pins the shallow graph down.
      assert.ok(db > 40, `${c.id}: image PSNR ${db.toFixed(1)} dB vs the reference`);
    }
  });
});
