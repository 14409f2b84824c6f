/**
 * The fixture manifest's pipeline cases (diffusers runs), the one mapping from a case's fields
 * to sdlite's GenerationRequest (init image and mask read from the fixture PNGs), and the check of
 * a run against a case's goldens.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { toGray, toRgb } from "../../src/image/color.js";
import { decodePng } from "../../src/image/png.js";
import { generate, type PipelineModels } from "../../src/pipeline/generate.js";
import type { GenerationRequest } from "../../src/pipeline/request.js";
import type { SafetensorsFile } from "../../src/weights/formats/safetensors.js";
import { assertClose } from "./assert-close.js";
import { fixturePath, manifest } from "./fixtures.js";

/** The fields of `pipelines.cases[]` the tests read (see ../shared/fixtures/README.md). */
export interface PipelineCase {
  readonly id: string;
  readonly kind: string;
  readonly prompt: string;
  readonly negative_prompt: string | null;
  readonly sampler: string;
  readonly steps: number;
  readonly guidance: number;
  readonly seed: number;
  readonly width: number;
  readonly height: number;
  readonly strength?: number;
  readonly init_image_png?: string;
  readonly mask_png?: string;
  /** diffusers' image, as a fixture path. */
  readonly png: string;
  /** Golden tensor names / the timesteps diffusers ran. */
  readonly latents_per_step: string;
  readonly timesteps_run: readonly number[];
}

/** Every case, or those of one kind ("txt2img", "img2img", "inpaint", …). */
export function pipelineCases(kind?: string): PipelineCase[] {
  const cases = manifest().pipelines.cases as PipelineCase[];
  return kind === undefined ? cases : cases.filter((c) => c.kind === kind);
}

export function pipelineCase(id: string): PipelineCase {
  const c = pipelineCases().find((x) => x.id === id);
  if (!c) throw new Error(`no pipeline case "${id}" in the fixture manifest`);
  return c;
}

export function readFixturePng(path: string) {
  return decodePng(new Uint8Array(readFileSync(fixturePath(path))));
}

/** The request that reproduces a case from its seed (img2img / inpainting inputs included). */
export function caseRequest(c: PipelineCase): GenerationRequest {
  return {
    prompt: c.prompt,
    negativePrompt: c.negative_prompt ?? undefined,
    sampler: c.sampler,
    steps: c.steps,
    guidance: c.guidance,
    seed: c.seed,
    width: c.width,
    height: c.height,
    initImage: c.init_image_png ? toRgb(readFixturePng(c.init_image_png)) : undefined,
    mask: c.mask_png ? toGray(readFixturePng(c.mask_png)) : undefined,
    strength: c.strength,
  };
}

/** The fixtures' tolerance for latents after each step (the image is checked as its PNG, ≤ 1 level). */
const LATENT_TOLERANCE = 1e-3;

/**
 * Runs a case from its seed and checks the latents after every step against the goldens and the
 * image against the case's PNG; returns the worst differences for the test's log.
 */
export async function checkPipelineCase(
  models: PipelineModels,
  c: PipelineCase,
  goldens: SafetensorsFile,
): Promise<{ worstLatent: number; worstLevel: number }> {
  const steps: Float32Array[] = [];
  const [image] = await generate(models, caseRequest(c), {
    onProgress: (p) => p.stage === "denoise" && p.latents && steps.push(p.latents),
  });
  const perStep = goldens.readF32(c.latents_per_step);
  const size = perStep.length / c.timesteps_run.length;
  assert.equal(steps.length, c.timesteps_run.length, `${c.id}: number of denoising steps`);
  let worstLatent = 0;
  steps.forEach((latents, i) => {
    const d = assertClose(
      latents,
      perStep.subarray(i * size, (i + 1) * size),
      LATENT_TOLERANCE,
      `${c.id} latents after step ${i}`,
    );
    worstLatent = Math.max(worstLatent, d.maxAbs);
  });
  const expected = toRgb(readFixturePng(c.png));
  let worstLevel = 0;
  for (let i = 0; i < expected.data.length; i++) {
    worstLevel = Math.max(worstLevel, Math.abs(expected.data[i] - image.image.data[i]));
  }
  assert.ok(worstLevel <= 1, `${c.id}: PNG differs by ${worstLevel} levels (at most 1 allowed)`);
  return { worstLatent, worstLevel };
}
