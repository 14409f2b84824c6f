/**
 * The per-network comparison of fp16 compute graphs with a float32 reference on the tiny SD1.5
 * (test/webgpu-fp16.test.ts on the CPU provider, test/webgpu-fp16-lavapipe.test.ts on lavapipe's
 * WebGPU): the same inputs for both, and each network's largest difference relative to its largest
 * reference value. Each test holds the result to its own tolerance.
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import type { OpenedPipeline } from "../../src/engine/open-pipeline.js";
import { generate } from "../../src/pipeline/generate.js";
import { lcg31Values } from "./test-values.js";

type Models = OpenedPipeline["models"];

/** The tiny UNet's latent shape: a 64x64 image. */
export const FP16_LATENT_SHAPE = [1, 4, 8, 8] as const;

/** A short prompt's token ids: start, five words, end padding to 77. */
export const FP16_TOKEN_IDS = Int32Array.from({ length: 77 }, (_, i) =>
  i === 0 ? 49406 : i < 6 ? 320 + i * 17 : 49407,
);

/** The UNet's input at timestep `t`: a fixed latent and text context. */
export function fp16UNetInput(t: number) {
  return {
    sample: lcg31Values(1 * 4 * 8 * 8, 1),
    shape: FP16_LATENT_SHAPE,
    timestep: Float32Array.of(t),
    context: lcg31Values(77 * 32, 2),
    tokens: 77,
  };
}

/**
 * Largest |want - got| relative to the largest |want|; every `got` value finite, and the difference
 * above `floor`, or the graph did not compute in fp16 at all.
 */
export function relativeDiff(want: ArrayLike<number>, got: ArrayLike<number>, floor: number): number {
  assert.equal(want.length, got.length);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    assert.ok(Number.isFinite(got[i]), `fp16 output ${i} is ${got[i]}`);
    worst = Math.max(worst, Math.abs(want[i] - got[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  assert.ok(
    worst / scale > floor,
    `fp16 output differs by only ${worst / scale} (at most ${floor}): the graph did not compute in fp16`,
  );
  return worst / scale;
}

export async function textEncoderDiff(want: Models, got: Models, floor: number) {
  return relativeDiff(
    await want.textEncoder.encode(FP16_TOKEN_IDS, 1, 1),
    await got.textEncoder.encode(FP16_TOKEN_IDS, 1, 1),
    floor,
  );
}

export async function unetDiff(want: Models, got: Models, t: number, floor: number) {
  return relativeDiff(
    await want.unet.predict(fp16UNetInput(t)),
    await got.unet.predict(fp16UNetInput(t)),
    floor,
  );
}

export async function vaeDecodeDiff(want: Models, got: Models, floor: number) {
  const latents = lcg31Values(1 * 4 * 8 * 8, 3);
  return relativeDiff(
    await want.vae.decode(latents, FP16_LATENT_SHAPE),
    await got.vae.decode(latents, FP16_LATENT_SHAPE),
    floor,
  );
}

export async function vaeEncodeDiff(want: Models, got: Models, floor: number) {
  const image = lcg31Values(1 * 3 * 64 * 64, 4);
  const a = await want.vae.encode(image, [1, 3, 64, 64]);
  const b = await got.vae.encode(image, [1, 3, 64, 64]);
  return relativeDiff(a.mean, b.mean, floor);
}

/**
 * A txt2img 64x64, Euler a 4 steps, with both: the largest pixel difference and the fp16 image's
 * brightest level (a NaN anywhere turns the whole image black after the clamp to bytes).
 */
export async function txt2imgDiff(want: Models, got: Models): Promise<{ worst: number; brightest: number }> {
  const request = {
    prompt: "a photo of a cat",
    sampler: "Euler a",
    steps: 4,
    guidance: 7.5,
    seed: 42,
    width: 64,
    height: 64,
  };
  const [a] = await generate(want, request);
  const [b] = await generate(got, request);
  let worst = 0;
  let brightest = 0;
  for (let i = 0; i < a.image.data.length; i++) {
    worst = Math.max(worst, Math.abs(a.image.data[i] - b.image.data[i]));
    brightest = Math.max(brightest, b.image.data[i]);
  }
  return { worst, brightest };
}

/** A network's relative difference `d`, reported as `t`'s diagnostic and held below `tolerance`. */
export function assertBelow(t: TestContext, name: string, d: number, tolerance: number): void {
  t.diagnostic(`${name}: ${d.toExponential(2)}`);
  assert.ok(d < tolerance, `${name} differs by ${d}`);
}

/** txt2imgDiff's result: not black (a NaN's mark), and within `levels` of the `reference` image. */
export function assertImageWithin(
  t: TestContext,
  { worst, brightest }: { worst: number; brightest: number },
  levels: number,
  reference: string,
): void {
  t.diagnostic(`image: ${worst} levels, brightest ${brightest}`);
  assert.ok(brightest > 32, `fp16 image is black (brightest level ${brightest})`);
  assert.ok(worst <= levels, `fp16 image differs from the ${reference} one by ${worst} levels`);
}
