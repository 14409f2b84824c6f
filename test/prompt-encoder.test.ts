/**
 * Prompt → embeddings as AUTOMATIC1111 does it: emphasis multiplies each token's hidden state and
 * restores the window's mean; long prompts and BREAK become 77-token windows side by side; a plain
 * prompt is exactly diffusers' embedding.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { generate } from "../src/pipeline/generate.js";
import {
  applyEmphasis,
  encodePrompt,
  extendWithLastVector,
  padTo,
  WINDOW,
} from "../src/pipeline/prompt-encoder.js";
import { assertClose } from "./helpers/assert-close.js";
import { fixturePath, golden, manifest } from "./helpers/fixtures.js";

let pipeline: OpenedPipeline;
before(async () => {
  pipeline = await openPipeline(fixturePath("models/tiny-sd15"), { runtime: { cache: false, threads: 1 } });
});
after(async () => pipeline?.close());

const HIDDEN = 32;

describe("encodePrompt", () => {
  it("a plain prompt gives the diffusers text-encoder golden", async () => {
    const { tokenizer, textEncoder } = pipeline.models;
    // biome-ignore lint/suspicious/noExplicitAny: manifest JSON
    const c = manifest().text_encoder.cases.find((x: any) => x.prompt === "a photo of a cat");
    const e = await encodePrompt("a photo of a cat", tokenizer, textEncoder);
    assert.equal(e.tokens, WINDOW);
    assertClose(e.data, golden("text_encoder").readF32(c.last_hidden_state), 1e-4, "plain prompt embedding");
  });

  it("(cat:1.5) scales the cat token by 1.5 and then the window back to its original mean", async () => {
    // A stand-in encoder with a clearly non-zero mean: the tiny model's final LayerNorm (weight 1,
    // bias 0) makes every window's mean ~1e-10, where the mean ratio is pure rounding noise.
    const encoder = {
      hiddenSize: HIDDEN,
      encode: async (ids: Int32Array) =>
        Float32Array.from(
          { length: ids.length * HIDDEN },
          (_, k) => 1 + ((ids[Math.floor(k / HIDDEN)] + k) % 7) / 10,
        ),
    };
    const { tokenizer } = pipeline.models;
    const plain = await encodePrompt("a photo of a cat", tokenizer, encoder);
    const weighted = await encodePrompt("a photo of a (cat:1.5)", tokenizer, encoder);
    const expected = Float64Array.from(plain.data);
    const catToken = 5; // BOS a photo of a cat
    for (let k = catToken * HIDDEN; k < (catToken + 1) * HIDDEN; k++) expected[k] *= 1.5;
    const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0) / xs.length;
    const ratio = mean(plain.data) / mean(expected);
    assert.ok(ratio < 0.999, "the rescale is not a no-op here");
    for (let k = 0; k < expected.length; k++) expected[k] *= ratio;
    assertClose(weighted.data, expected, 1e-6, "emphasised embedding");
    assert.ok(Math.abs(mean(weighted.data) / mean(plain.data) - 1) < 1e-6, "the window keeps its mean");
  });

  it("applyEmphasis leaves an all-ones window untouched, bit for bit", () => {
    const z = Float32Array.from({ length: 3 * 4 }, (_, i) => Math.sin(i) * 3);
    const copy = z.slice();
    applyEmphasis(z, [1, 1, 1], 4);
    assert.deepEqual(z, copy);
  });

  it("a prompt longer than 75 tokens and BREAK give several 77-token windows, each encoded with BOS/EOS", async () => {
    const { tokenizer, textEncoder } = pipeline.models;
    const long = await encodePrompt(Array(100).fill("cat").join(" "), tokenizer, textEncoder);
    assert.equal(long.tokens, 2 * WINDOW);
    assert.equal(long.data.length, 2 * WINDOW * HIDDEN);
    const parts = await encodePrompt("a photo BREAK of a cat", tokenizer, textEncoder);
    assert.equal(parts.tokens, 2 * WINDOW);
    const first = await encodePrompt("a photo", tokenizer, textEncoder);
    const second = await encodePrompt("of a cat", tokenizer, textEncoder);
    assertClose(parts.data.subarray(0, WINDOW * HIDDEN), first.data, 1e-6, "window 1 = 'a photo' alone");
    assertClose(parts.data.subarray(WINDOW * HIDDEN), second.data, 1e-6, "window 2 = 'of a cat' alone");
  });

  it("padTo extends with the empty prompt's window; a text of that length stays the same object", async () => {
    const { tokenizer, textEncoder } = pipeline.models;
    const long = await encodePrompt("a BREAK b", tokenizer, textEncoder);
    const short = await encodePrompt("blurry", tokenizer, textEncoder);
    const empty = await encodePrompt("", tokenizer, textEncoder);
    assert.equal(padTo(long, 2 * WINDOW, empty), long);
    const b = padTo(short, 2 * WINDOW, empty);
    assert.equal(b.tokens, 2 * WINDOW);
    assertClose(b.data.subarray(0, WINDOW * HIDDEN), short.data, 0, "original window first");
    assertClose(b.data.subarray(WINDOW * HIDDEN), empty.data, 0, "then the empty prompt's window");
  });

  it("extendWithLastVector repeats the last token's vector (A1111's stack_conds for AND)", () => {
    const e = { data: Float32Array.from({ length: 3 * 2 }, (_, i) => i + 1), tokens: 3, hidden: 2 };
    assert.deepEqual(Array.from(extendWithLastVector(e, 5).data), [1, 2, 3, 4, 5, 6, 5, 6, 5, 6]);
    assert.equal(extendWithLastVector(e, 3), e);
  });

  it("a long prompt with CFG runs end to end (UNet context of 154 tokens)", async () => {
    const [image] = await generate(pipeline.models, {
      prompt: Array(90).fill("cat").join(", "),
      negativePrompt: "blurry",
      sampler: "DDIM",
      steps: 2,
      guidance: 7.5,
      seed: 1,
      width: 64,
      height: 64,
    });
    assert.equal(image.image.data.length, 64 * 64 * 3);
  });
});
