/**
 * Prompt editing, alternation and AND through the whole pipeline on the tiny model. Each expectation
 * is built by hand: the texts' embeddings (encodePrompt) fed to the UNet step by step in a loop
 * written here, switching where A1111 switches: UNet call s (0-based) takes the first schedule
 * stretch whose end is ≥ s, so `[a cat:a dog:0.5]` over 4 steps (end 2) is "a cat" for calls 0–2.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { formatInfotext, parseInfotext } from "../src/image/infotext.js";
import type { RgbImage } from "../src/image/types.js";
import { BatchRandomSource } from "../src/pipeline/batch-random-source.js";
import { generate } from "../src/pipeline/generate.js";
import { buildGenerationRecord } from "../src/pipeline/generation-record.js";
import { encodeConditioning } from "../src/pipeline/prompt-conditioning.js";
import {
  encodePrompt,
  extendWithLastVector,
  type PromptEmbedding,
  padTo,
} from "../src/pipeline/prompt-encoder.js";
import { type GenerationRequest, InvalidRequestError } from "../src/pipeline/request.js";
import { createRandomSource } from "../src/rng/index.js";
import { createScheduler } from "../src/schedulers/registry.js";
import { fixturePath } from "./helpers/fixtures.js";

let pipeline: OpenedPipeline;
before(async () => {
  pipeline = await openPipeline(fixturePath("models/tiny-sd15"), { runtime: { cache: false, threads: 1 } });
});
after(async () => pipeline?.close());

const base = {
  sampler: "Euler",
  steps: 4,
  guidance: 7.5,
  seed: 3,
  width: 64,
  height: 64,
} satisfies Omit<GenerationRequest, "prompt">;

const embed = (text: string) => encodePrompt(text, pipeline.models.tokenizer, pipeline.models.textEncoder);

/** The latents after the last step of generate(). */
async function generatedLatents(request: GenerationRequest): Promise<Float32Array> {
  let last: Float32Array | undefined;
  await generate(pipeline.models, request, {
    onProgress: (p) => {
      if (p.stage === "denoise" && p.latents) last = p.latents;
    },
  });
  return last!;
}

interface StepConditioning {
  /** The negative prompt's embedding, or none without guidance. */
  uncond?: PromptEmbedding;
  /** The prompt's (sub-prompts') embeddings and guidance weights. */
  conds: { embedding: PromptEmbedding; weight: number }[];
}

/** One UNet call on `parts` (all of one length) for the same latents: the predictions, part after part. */
async function unetCall(
  x: Float32Array,
  latentShape: readonly number[],
  timestep: number,
  parts: PromptEmbedding[],
) {
  const tokens = parts[0].tokens;
  const sample = new Float32Array(x.length * parts.length);
  parts.forEach((_, k) => {
    sample.set(x, k * x.length);
  });
  const context = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  let offset = 0;
  for (const p of parts) {
    assert.equal(p.tokens, tokens, "one UNet batch, one length");
    context.set(p.data, offset);
    offset += p.data.length;
  }
  const t = new Float32Array(parts.length).fill(timestep);
  const shape = [parts.length, 4, latentShape[2], latentShape[3]] as const;
  return pipeline.models.unet.predict({ sample, shape, timestep: t, context, tokens });
}

/**
 * txt2img for one image, by hand: the conditioning of UNet call s is `at(s)`, guidance
 * u + Σ (cᵢ − u)·(wᵢ·g) (one weight-1 prompt: u + g·(c − u)). Prompt and negative prompt go through
 * the UNet in one batch when their lengths agree, otherwise in two calls (A1111's CFGDenoiser).
 */
async function handLoop(
  request: GenerationRequest,
  at: (step: number) => StepConditioning,
): Promise<Float32Array> {
  const { schedulerConfig } = pipeline.models;
  const shape = [1, 4, request.height / 8, request.width / 8] as const;
  const rng = new BatchRandomSource([createRandomSource("cpu", request.seed)]);
  const scheduler = createScheduler(request.sampler, schedulerConfig, request.steps);
  let latents: Float32Array = rng.randn(shape).map((v) => v * scheduler.initNoiseSigma);
  for (let i = 0; i < scheduler.timesteps.length; i++) {
    const c = at(i);
    const conds = c.conds.map((x) => x.embedding);
    const x = scheduler.scaleModelInput(latents, i);
    const timestep = scheduler.timesteps[i];
    let pred: Float32Array;
    if (!c.uncond || c.uncond.tokens === conds[0].tokens) {
      pred = await unetCall(x, shape, timestep, [...(c.uncond ? [c.uncond] : []), ...conds]);
    } else {
      const condPred = await unetCall(x, shape, timestep, conds);
      const uncondPred = await unetCall(x, shape, timestep, [c.uncond]);
      pred = new Float32Array(uncondPred.length + condPred.length);
      pred.set(uncondPred);
      pred.set(condPred, uncondPred.length);
    }
    const n = x.length;
    const eps = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      if (!c.uncond) eps[j] = pred[j];
      else if (c.conds.length === 1 && c.conds[0].weight === 1) {
        eps[j] = pred[j] + request.guidance * (pred[n + j] - pred[j]);
      } else {
        let sum = pred[j];
        c.conds.forEach((cond, k) => {
          sum += (pred[(k + 1) * n + j] - pred[j]) * (cond.weight * request.guidance);
        });
        eps[j] = sum;
      }
    }
    latents = scheduler.step(eps, i, latents, rng);
  }
  return latents;
}

const one = (embedding: PromptEmbedding) => [{ embedding, weight: 1 }];

describe("prompt editing in the pipeline", () => {
  it("[a cat:a dog:0.5] over 4 steps = 'a cat' for UNet calls 0-2, then 'a dog'", async () => {
    const [cat, dog, neg] = await Promise.all([embed("a cat"), embed("a dog"), embed("")]);
    const request = { ...base, prompt: "[a cat:a dog:0.5]" };
    const expected = await handLoop(request, (s) => ({ uncond: neg, conds: one(s <= 2 ? cat : dog) }));
    assert.deepEqual(await generatedLatents(request), expected);
    // it is neither of the two prompts alone
    const allCat = await handLoop(request, () => ({ uncond: neg, conds: one(cat) }));
    const allDog = await handLoop(request, () => ({ uncond: neg, conds: one(dog) }));
    assert.notDeepEqual(expected, allCat);
    assert.notDeepEqual(expected, allDog);
  });

  it("alternation [a cat|a dog] and a scheduled negative prompt switch per step", async () => {
    const [cat, dog, blurry, ugly] = await Promise.all([
      embed("a cat"),
      embed("a dog"),
      embed("blurry"),
      embed("ugly"),
    ]);
    const request = { ...base, prompt: "[a cat|a dog]", negativePrompt: "[blurry:ugly:1]" };
    // alternation: calls 0,1 → a cat (ends 1), 2 → a dog, 3 → a cat; negative: ≤ 1 blurry, then ugly
    const expected = await handLoop(request, (s) => ({
      uncond: s <= 1 ? blurry : ugly,
      conds: one(s === 2 ? dog : cat),
    }));
    assert.deepEqual(await generatedLatents(request), expected);
  });

  it("a long prompt against a short negative prompt: two UNet calls, each at its own length (A1111's default)", async () => {
    const prompt = `a (photo:1.2) of ${Array(80).fill("cat").join(" ")}`;
    const [cond, negative, empty] = await Promise.all([embed(prompt), embed("blurry"), embed("")]);
    assert.deepEqual([cond.tokens, negative.tokens], [154, 77]);
    const request = { ...base, prompt, negativePrompt: "blurry" };
    const separate = await handLoop(request, () => ({ uncond: negative, conds: one(cond) }));
    assert.deepEqual(await generatedLatents(request), separate);
    // padCondUncond (A1111's pad_cond_uncond): the negative prompt gets an empty-prompt window, one batch
    const padded = await handLoop(request, () => ({ uncond: padTo(negative, 154, empty), conds: one(cond) }));
    assert.deepEqual(await generatedLatents({ ...request, padCondUncond: true }), padded);
    assert.notDeepEqual(padded, separate);
  });

  it("a short prompt against a long negative prompt: padCondUncond pads the prompt instead", async () => {
    const negativePrompt = Array(80).fill("blurry").join(" ");
    const [cond, negative, empty] = await Promise.all([embed("a cat"), embed(negativePrompt), embed("")]);
    const request = { ...base, prompt: "a cat", negativePrompt };
    const separate = await handLoop(request, () => ({ uncond: negative, conds: one(cond) }));
    assert.deepEqual(await generatedLatents(request), separate);
    const padded = await handLoop(request, () => ({ uncond: negative, conds: one(padTo(cond, 154, empty)) }));
    assert.deepEqual(await generatedLatents({ ...request, padCondUncond: true }), padded);
  });

  it("edits between texts of different lengths: the shorter gets empty-prompt windows (one batch per schedule, as A1111)", async () => {
    const long = Array(80).fill("dog").join(" ");
    const [cat, dog, empty] = await Promise.all([embed("a cat"), embed(long), embed("")]);
    const request = { ...base, prompt: `[a cat:${long}:0.5]` };
    // the negative prompt (empty, 77 tokens) runs on its own: the prompt is 154 tokens at every step
    const expected = await handLoop(request, (s) => ({
      uncond: empty,
      conds: one(s <= 2 ? padTo(cat, 154, empty) : dog),
    }));
    assert.deepEqual(await generatedLatents(request), expected);
  });

  it("without guidance (CFG 1) a plain prompt runs the UNet on the prompt alone", async () => {
    const cat = await embed("a cat");
    const request = { ...base, guidance: 1, prompt: "a cat", negativePrompt: "blurry" };
    assert.deepEqual(await generatedLatents(request), await handLoop(request, () => ({ conds: one(cat) })));
  });

  it("Heun: schedules are laid over twice the steps, as A1111's second-order samplers", async () => {
    // 2 Heun steps = 3 UNet calls, schedule over 4: [a cat:a dog:0.5] ends at 2, all three calls "a cat"
    const request = { ...base, sampler: "Heun", steps: 2 };
    const edited = await generatedLatents({ ...request, prompt: "[a cat:a dog:0.5]" });
    assert.deepEqual(edited, await generatedLatents({ ...request, prompt: "a cat" }));
    assert.notDeepEqual(edited, await generatedLatents({ ...request, prompt: "a dog" }));
  });

  it("img2img counts from 0 at its first step over the full step count (A1111)", async () => {
    const init: RgbImage = {
      width: 64,
      height: 64,
      data: new Uint8Array(64 * 64 * 3).map((_, i) => (i * 29) % 256),
    };
    // strength 0.75 of 4 steps runs 3 (calls 0-2); the edit at step 2 of 4 is never reached, one at 1 is
    const request = { ...base, initImage: init, strength: 0.75 };
    const edited = await generatedLatents({ ...request, prompt: "[a cat:a dog:0.5]" });
    assert.deepEqual(edited, await generatedLatents({ ...request, prompt: "a cat" }));
    const late = await generatedLatents({ ...request, prompt: "[a cat:a dog:1]" });
    assert.notDeepEqual(late, edited);
  });

  it("a batch of 2 with an edited prompt: each image equals its single run", async () => {
    const request = { ...base, sampler: "Euler a", prompt: "[a cat:a dog:0.5]", negativePrompt: "[a|b]" };
    const batch = await generate(pipeline.models, { ...request, batchSize: 2 });
    for (const item of batch) {
      const [single] = await generate(pipeline.models, { ...request, seed: item.seed });
      assert.deepEqual(item.image.data, single.image.data, `seed ${item.seed}`);
    }
  });
});

describe("AND (composable diffusion) in the pipeline", () => {
  it("a cat AND a dog :0.5 = u + (c_cat − u)·g + (c_dog − u)·0.5g", async () => {
    const [cat, dog, neg] = await Promise.all([embed("a cat"), embed(" a dog"), embed("")]);
    const request = { ...base, prompt: "a cat AND a dog :0.5" };
    const expected = await handLoop(request, () => ({
      uncond: neg,
      conds: [
        { embedding: cat, weight: 1 },
        { embedding: dog, weight: 0.5 },
      ],
    }));
    assert.deepEqual(await generatedLatents(request), expected);
  });

  it("sub-prompts of different lengths are stacked by repeating the shorter one's last vector (stack_conds)", async () => {
    const long = Array(80).fill("dog").join(" ");
    const [cat, dog, neg] = await Promise.all([embed("a cat"), embed(` ${long}`), embed("")]);
    const request = { ...base, prompt: `a cat AND ${long}` };
    const expected = await handLoop(request, () => ({
      uncond: neg,
      conds: [
        { embedding: extendWithLastVector(cat, 154), weight: 1 },
        { embedding: dog, weight: 1 },
      ],
    }));
    assert.deepEqual(await generatedLatents(request), expected);
  });

  it("with prompt editing inside a sub-prompt, and at CFG 1 (A1111 still runs the negative prompt)", async () => {
    const [cat, dog, bird, neg] = await Promise.all([
      embed("a cat"),
      embed("a dog"),
      embed(" a bird"),
      embed("blurry"),
    ]);
    const request = { ...base, guidance: 1, prompt: "[a cat:a dog:1] AND a bird", negativePrompt: "blurry" };
    const expected = await handLoop(request, (s) => ({
      uncond: neg,
      conds: [
        { embedding: s <= 1 ? cat : dog, weight: 1 },
        { embedding: bird, weight: 1 },
      ],
    }));
    assert.deepEqual(await generatedLatents(request), expected);
  });
});

describe("encodeConditioning", () => {
  const request = {
    negativePrompt: "blurry",
    steps: 10,
    batch: 1,
    clipSkip: 1,
    cfg: true,
    embeddedGuidance: false,
  };

  it("encodes each distinct text once: 10 alternating steps, 3 texts", async () => {
    const { tokenizer, textEncoder } = pipeline.models;
    let calls = 0;
    const counting = { ...textEncoder, hiddenSize: textEncoder.hiddenSize } as typeof textEncoder;
    counting.encode = (ids, batch, clipSkip) => {
      calls++;
      return textEncoder.encode(ids, batch, clipSkip);
    };
    const { at } = await encodeConditioning({ ...request, prompt: "a [cat|dog]" }, tokenizer, counting);
    assert.equal(calls, 3);
    assert.notEqual(at(1), at(2));
    assert.equal(at(2), at(4), "the same texts give the same conditioning object");
  });

  it("AND with an LCM UNet (no negative prompt) is a clear request error", async () => {
    const { tokenizer, textEncoder } = pipeline.models;
    await assert.rejects(
      encodeConditioning(
        { ...request, prompt: "a cat AND a dog", cfg: false, embeddedGuidance: true },
        tokenizer,
        textEncoder,
      ),
      (err: Error) => err instanceof InvalidRequestError && /AND/.test(err.message),
    );
  });
});

describe("infotext", () => {
  it("keeps the prompts as typed, editing, alternation and AND included", async () => {
    const request: GenerationRequest = {
      ...base,
      steps: 2,
      prompt: "a [cat:dog:0.5] AND a [red|blue] bird :1.2",
      negativePrompt: "[blurry::1]",
    };
    const [image] = await generate(pipeline.models, request);
    const parsed = parseInfotext(formatInfotext(buildGenerationRecord(request, image.seed)));
    assert.equal(parsed.prompt, "a [cat:dog:0.5] AND a [red|blue] bird :1.2");
    assert.equal(parsed.negativePrompt, "[blurry::1]");
  });
});
