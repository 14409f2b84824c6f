/**
 * The GenerationRecord (A1111 infotext) of one generated image: the request as A1111 would have
 * written it, plus what identifies the model and the LoRAs. Pure; the file hashes it needs are
 * computed by `checkpointShortHash` and `LoraFile.addnetHash`.
 */
import { basename, extname } from "node:path";
import type { GenerationRecord } from "../image/generation-record.js";
import { loraShortHash, modelShortHash } from "../image/model-hash.js";
import { sha256File } from "../image/sha256-file.js";
import { resolveSampler } from "../schedulers/registry.js";
import { AUTOMATIC_SCHEDULE } from "../schedulers/sigma-schedules.js";
import type { ConditioningFacts } from "./generate.js";
import type { GenerationRequest } from "./request.js";

export const SDLITE_VERSION = "sdlite 0.1.0";

export interface RecordLora {
  readonly path: string;
  readonly weight: number;
  /** SHA-256 (hex) of the tensor data: A1111's "addnet" hash. */
  readonly addnetHash: string;
}

export interface RecordContext {
  /** The infotext's `Model`: checkpoint file stem, folder name or hub repo id. */
  readonly modelName?: string;
  /** AutoV2 short hash (10 hex) of a single-file checkpoint; folders have none. */
  readonly modelHash?: string;
  readonly loras?: readonly RecordLora[];
  /** A standalone VAE replacing the model's own (A1111 writes its name as `VAE`). */
  readonly vae?: string;
  /** What generate() reported about the prompts (textual-inversion embeddings, padding). */
  readonly conditioning?: ConditioningFacts;
}

/**
 * A1111's infotext entries for the conditioning: `TI hashes` ("name: first 12 hex of the file's
 * SHA-256", names without ':' and ',', as sd_hijack_clip.py writes them) and `Pad conds: True`.
 */
export function conditioningParameters(
  facts: ConditioningFacts | undefined,
): Record<string, string | boolean> {
  if (!facts) return {};
  const hashes = facts.embeddings
    .filter((e) => e.sha256)
    .map((e) => `${e.name.replaceAll(":", "").replaceAll(",", "")}: ${e.sha256!.slice(0, 12)}`);
  return {
    ...(hashes.length > 0 ? { "TI hashes": hashes.join(", ") } : {}),
    ...(facts.padded ? { "Pad conds": true } : {}),
  };
}

/** The name A1111 knows a LoRA by: its file name without extension. */
export function loraName(path: string): string {
  return basename(path, extname(path));
}

/** `<lora:name:weight>`: how A1111 keeps LoRAs in the prompt text, so infotext readers apply them. */
export function loraTag(lora: { path: string; weight: number }): string {
  return `<lora:${loraName(lora.path)}:${lora.weight}>`;
}

/** The record of the image made from `request` with `seed` (batch images differ only in their seed). */
export function buildGenerationRecord(
  request: GenerationRequest,
  seed: number,
  context: RecordContext = {},
): GenerationRecord {
  const sampler = resolveSampler(request.sampler, { scheduleType: request.schedule });
  const loras = context.loras ?? [];
  const tags = loras.map(loraTag).join(" ");
  const extra = {
    ...(context.vae ? { VAE: loraName(context.vae) } : {}),
    ...conditioningParameters(context.conditioning),
  };
  return {
    prompt: tags === "" ? request.prompt : `${request.prompt} ${tags}`.trim(),
    ...(request.negativePrompt ? { negativePrompt: request.negativePrompt } : {}),
    steps: request.steps,
    sampler: sampler.sampler,
    // A1111 names the schedule when it is not Automatic (sd_samplers_kdiffusion get_sigmas)
    ...(sampler.scheduleType !== AUTOMATIC_SCHEDULE.label ? { scheduleType: sampler.scheduleType } : {}),
    cfgScale: request.guidance,
    seed,
    width: request.width,
    height: request.height,
    ...(context.modelHash ? { modelHash: context.modelHash } : {}),
    ...(context.modelName ? { model: context.modelName } : {}),
    ...(request.initImage ? { denoisingStrength: request.strength ?? 0.75 } : {}),
    ...((request.clipSkip ?? 1) > 1 ? { clipSkip: request.clipSkip } : {}),
    rng: (request.rng ?? "cpu") === "nv" ? "NV" : "CPU",
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
    ...(loras.length > 0
      ? { loraHashes: loras.map((l) => ({ name: loraName(l.path), hash: loraShortHash(l.addnetHash) })) }
      : {}),
    version: SDLITE_VERSION,
  };
}

/** A1111 "Model hash" (AutoV2) of a checkpoint file: first 10 hex of its SHA-256. */
export async function checkpointShortHash(path: string): Promise<string> {
  return modelShortHash(await sha256File(path));
}
