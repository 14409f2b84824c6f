/**
 * What a finished generation reports, in A1111's shapes: one infotext per image (the PNG
 * `parameters` text) and the `info` JSON (processing.py Processed.js()), plus sdlite's own
 * `sdlite_ignored_fields` and `sdlite_warnings`.
 */
import type { GenerationRecord, LoraHash } from "../image/generation-record.js";
import { formatInfotext } from "../image/infotext.js";
import type { ConditioningFacts } from "../pipeline/generate.js";
import { conditioningParameters } from "../pipeline/generation-record.js";
import type { GenerationPlan } from "./generation-plan.js";

export const SDLITE_VERSION = "sdlite 0.1.0";

export interface RunFacts {
  /** A1111 model_name of the checkpoint used. */
  modelName: string;
  modelHash?: string;
  clipSkip: number;
  seeds: readonly number[];
  loraHashes: readonly LoraHash[];
  /** The UNet took the 9-channel inpainting input. */
  inpaintingConditioning: boolean;
  interrupted: boolean;
  /** When the job started, for A1111's job_timestamp. */
  startedAt: Date;
  /** What generate() reported about the prompts (the same for every image of a job). */
  conditioning?: ConditioningFacts;
}

export function generationRecord(plan: GenerationPlan, facts: RunFacts, seed: number): GenerationRecord {
  const extra = conditioningParameters(facts.conditioning);
  return {
    prompt: plan.prompt,
    ...(plan.negativePrompt ? { negativePrompt: plan.negativePrompt } : {}),
    steps: plan.steps,
    sampler: plan.sampler.sampler,
    ...(plan.sampler.scheduleType !== "Automatic" ? { scheduleType: plan.sampler.scheduleType } : {}),
    cfgScale: plan.cfgScale,
    seed,
    width: plan.width,
    height: plan.height,
    ...(facts.modelHash ? { modelHash: facts.modelHash } : {}),
    model: facts.modelName,
    ...(plan.denoisingStrength !== undefined ? { denoisingStrength: plan.denoisingStrength } : {}),
    clipSkip: facts.clipSkip,
    rng: plan.rng === "cpu" ? "CPU" : "NV",
    ...(facts.loraHashes.length > 0 ? { loraHashes: facts.loraHashes } : {}),
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
    version: SDLITE_VERSION,
  };
}

/** "20240131120000": A1111's job_timestamp (local time). */
function jobTimestamp(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
}

/** A1111's `info` object (before JSON.stringify), for the images actually made. */
export function generationInfo(plan: GenerationPlan, facts: RunFacts): Record<string, unknown> {
  const n = facts.seeds.length;
  const records = facts.seeds.map((seed) => generationRecord(plan, facts, seed));
  const extra: Record<string, unknown> = {};
  if (plan.sampler.scheduleType !== "Automatic") extra["Schedule type"] = plan.sampler.scheduleType;
  Object.assign(extra, conditioningParameters(facts.conditioning));
  if (facts.loraHashes.length > 0)
    extra["Lora hashes"] = facts.loraHashes.map((h) => `${h.name}: ${h.hash}`).join(", ");
  return {
    prompt: plan.prompt,
    all_prompts: Array(n).fill(plan.prompt),
    negative_prompt: plan.negativePrompt,
    all_negative_prompts: Array(n).fill(plan.negativePrompt),
    seed: facts.seeds[0] ?? plan.seed,
    all_seeds: [...facts.seeds],
    subseed: -1,
    all_subseeds: Array(n).fill(-1),
    subseed_strength: 0,
    width: plan.width,
    height: plan.height,
    sampler_name: plan.sampler.sampler,
    scheduler: plan.sampler.scheduleType,
    cfg_scale: plan.cfgScale,
    steps: plan.steps,
    batch_size: plan.batchSize,
    restore_faces: false,
    face_restoration_model: null,
    sd_model_name: facts.modelName,
    sd_model_hash: facts.modelHash ?? null,
    sd_vae_name: null,
    sd_vae_hash: null,
    seed_resize_from_w: -1,
    seed_resize_from_h: -1,
    denoising_strength: plan.denoisingStrength ?? null,
    extra_generation_params: extra,
    index_of_first_image: 0,
    infotexts: records.map(formatInfotext),
    styles: [...plan.styles],
    job_timestamp: jobTimestamp(facts.startedAt),
    clip_skip: facts.clipSkip,
    is_using_inpainting_conditioning: facts.inpaintingConditioning,
    version: SDLITE_VERSION,
    interrupted: facts.interrupted,
    sdlite_ignored_fields: [...plan.ignoredFields],
    sdlite_warnings: [...plan.warnings],
  };
}
