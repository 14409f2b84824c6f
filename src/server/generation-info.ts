/**
 * A finished generation in A1111's `info` shape (processing.py Processed.js()), plus sdlite's own
 * `sdlite_ignored_fields` and `sdlite_warnings`. The infotexts and their entries are the job's own
 * records (pipeline/generation-record.ts), the same text the PNGs carry.
 */
import type { GenerationJobResult } from "../pipeline/run-generation-job.js";
import type { ResolvedSampler } from "../schedulers/registry.js";
import { SDLITE_VERSION } from "../version.js";
import type { GenerationPlan } from "./generation-plan.js";

/** What of a plan the info needs (a remote job carries just this). */
export type InfoPlan = Pick<GenerationPlan, "kind" | "request" | "styles" | "ignoredFields" | "hires"> & {
  readonly sampler: Pick<ResolvedSampler, "sampler" | "scheduleType">;
};

/** "20240131120000": A1111's job_timestamp (local time). */
function jobTimestamp(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
}

/** A1111's `info` object (before JSON.stringify), for the images actually made. */
export function generationInfo(
  plan: InfoPlan,
  result: GenerationJobResult,
  startedAt: Date,
  warnings: readonly string[],
): Record<string, unknown> {
  const { request } = plan;
  const seeds = result.images.map((i) => i.seed);
  const n = seeds.length;
  const negative = request.negativePrompt ?? "";
  const extra: Record<string, unknown> = {};
  if (plan.sampler.scheduleType !== "Automatic") extra["Schedule type"] = plan.sampler.scheduleType;
  Object.assign(extra, result.images[0]?.record.extra);
  if (result.loraHashes.length > 0)
    extra["Lora hashes"] = result.loraHashes.map((h) => `${h.name}: ${h.hash}`).join(", ");
  const vae = result.images[0]?.record.extra?.VAE;
  return {
    prompt: request.prompt,
    all_prompts: Array(n).fill(request.prompt),
    negative_prompt: negative,
    all_negative_prompts: Array(n).fill(negative),
    seed: seeds[0] ?? request.seed,
    all_seeds: seeds,
    subseed: -1,
    all_subseeds: Array(n).fill(-1),
    subseed_strength: 0,
    width: request.width,
    height: request.height,
    sampler_name: plan.sampler.sampler,
    scheduler: plan.sampler.scheduleType,
    cfg_scale: request.guidance,
    steps: request.steps,
    batch_size: request.batchSize ?? 1,
    restore_faces: false,
    face_restoration_model: null,
    sd_model_name: result.model.name,
    sd_model_hash: result.model.hash ?? null,
    sd_vae_name: vae ?? null,
    sd_vae_hash: null,
    seed_resize_from_w: -1,
    seed_resize_from_h: -1,
    denoising_strength:
      plan.kind === "img2img"
        ? (request.strength ?? null)
        : plan.hires
          ? (plan.hires.denoisingStrength ?? null)
          : null,
    extra_generation_params: extra,
    index_of_first_image: 0,
    infotexts: result.images.map((i) => i.infotext),
    styles: [...plan.styles],
    job_timestamp: jobTimestamp(startedAt),
    clip_skip: result.clipSkip,
    is_using_inpainting_conditioning: result.inpaintingConditioning,
    version: SDLITE_VERSION,
    interrupted: result.interrupted,
    // per image: the denoising steps it ran when it was stopped early (interrupt, skip), else null
    sdlite_stopped_at: result.images.map((i) => i.stoppedAt ?? null),
    sdlite_ignored_fields: [...plan.ignoredFields],
    sdlite_warnings: [...warnings],
  };
}
