/**
 * The GenerationRecord (A1111 infotext) of one generated image: the request as A1111 would have
 * written it, plus what identifies the model, the VAE, the LoRAs and the speed settings. The one
 * builder for every PNG sdlite writes (CLI, server, library, bench). Pure; the hashes it needs come
 * from the caller (a checkpoint's AutoV2 hash, a LoRA's `addnetHash`).
 */
import type { SpeedOptions } from "../engine/engine-options.js";
import type { GenerationRecord } from "../image/generation-record.js";
import { loraShortHash } from "../image/model-hash.js";
import { resolveSampler } from "../schedulers/registry.js";
import { AUTOMATIC_SCHEDULE } from "../schedulers/sigma-schedules.js";
import { SDLITE_VERSION } from "../version.js";
import type { ConditioningFacts } from "./generate.js";
import { DEFAULT_HIRES_STRENGTH, hiresInfotextEntries, type JobHires } from "./hires-fix.js";
import { loraName } from "./job-loras.js";
import type { GenerationRequest } from "./request.js";

export interface RecordLora {
  readonly path: string;
  readonly weight: number;
  /** SHA-256 (hex) of the tensor data: A1111's "addnet" hash. */
  readonly addnetHash: string;
  /** The name in the infotext; default: the file's stem. */
  readonly name?: string;
  /** Its `<lora:name:weight>` tag is in the prompt already (else one is appended). */
  readonly inPrompt?: boolean;
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
  /** The speed settings that ran: written where they are not the exact defaults. */
  readonly speed?: SpeedOptions;
  /** A1111's inpainting entries (`Mask blur`, `Masked content`, `Inpaint area`, …), in its order. */
  readonly inpainting?: Readonly<Record<string, string | number>>;
  /** The hires fix that made the image (`request` is then its first pass). */
  readonly hires?: JobHires;
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

/** `<lora:name:weight>`: how A1111 keeps LoRAs in the prompt text, so infotext readers apply them. */
function loraTag(lora: RecordLora): string {
  return `<lora:${lora.name ?? loraName(lora.path)}:${lora.weight}>`;
}

/** Infotext entries for the speed settings that are not the exact defaults (A1111's own key for the decoder). */
export function speedEntries(speed: RecordContext["speed"] = {}): Record<string, string | number> {
  return {
    ...(speed.decoder === "taesd" ? { "VAE Decoder": "TAESD" } : {}),
    ...((speed.deepCacheInterval ?? 1) > 1 ? { "DeepCache interval": speed.deepCacheInterval! } : {}),
    ...((speed.unetQuantization ?? "none") !== "none"
      ? { "UNet quantization": speed.unetQuantization! }
      : {}),
    ...((speed.attentionQuantization ?? "none") !== "none"
      ? { "Attention quantization": speed.attentionQuantization! }
      : {}),
    ...((speed.tomeRatio ?? 0) > 0 ? { "ToMe ratio": speed.tomeRatio! } : {}),
    // the A1111 extension's keys (sd-webui-token-downsampling)
    ...((speed.todoFactor ?? 1) > 1
      ? { "ToDo factor": speed.todoFactor!, "ToDo max depth": speed.todoMaxDepth ?? 1 }
      : {}),
    // the full VAE's decoder only: with TAESD decoding, the int8 decoder never ran
    ...((speed.vaeQuantization ?? "none") !== "none" && speed.decoder !== "taesd"
      ? { "VAE quantization": speed.vaeQuantization! }
      : {}),
    ...((speed.textEncoderQuantization ?? "none") !== "none"
      ? { "Text encoder quantization": speed.textEncoderQuantization! }
      : {}),
    // the image's decoder only: TAESD previews alone leave the image as the full VAE made it
    ...((speed.taesdQuantization ?? "none") !== "none" && speed.decoder === "taesd"
      ? { "TAESD quantization": speed.taesdQuantization! }
      : {}),
  };
}

/**
 * The sampler options a request sets: A1111's `Eta DDIM` for DDIM (its sampler writes it when not 0)
 * and `Eta` otherwise (TCD's gamma); sdlite's `Timestep spacing` when the request replaces the model's.
 */
export function samplerOptionEntries(
  request: Pick<GenerationRequest, "eta" | "timestepSpacing">,
  sampler: string,
): Record<string, string | number> {
  return {
    ...(request.eta !== undefined ? { [sampler === "DDIM" ? "Eta DDIM" : "Eta"]: request.eta } : {}),
    ...(request.timestepSpacing !== undefined ? { "Timestep spacing": request.timestepSpacing } : {}),
  };
}

/**
 * The record of the image made from `request` with `seed` (batch images differ only in their seed).
 * `request.prompt` is the prompt as typed: LoRA tags in it stay, as in A1111.
 */
export function buildGenerationRecord(
  request: GenerationRequest,
  seed: number,
  context: RecordContext = {},
): GenerationRecord {
  const sampler = resolveSampler(request.sampler, { scheduleType: request.schedule });
  const loras = context.loras ?? [];
  const tags = loras
    .filter((l) => !l.inPrompt)
    .map(loraTag)
    .join(" ");
  const extra = {
    ...context.inpainting,
    ...(context.vae ? { VAE: loraName(context.vae) } : {}),
    ...(context.hires ? hiresInfotextEntries(request, context.hires) : {}),
    ...conditioningParameters(context.conditioning),
    ...samplerOptionEntries(request, sampler.sampler),
    ...speedEntries(context.speed),
  };
  const denoisingStrength = request.initImage
    ? (request.strength ?? 0.75)
    : context.hires
      ? (context.hires.denoisingStrength ?? DEFAULT_HIRES_STRENGTH)
      : undefined;
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
    ...(denoisingStrength !== undefined ? { denoisingStrength } : {}),
    ...((request.clipSkip ?? 1) > 1 ? { clipSkip: request.clipSkip } : {}),
    rng: (request.rng ?? "cpu") === "nv" ? "NV" : "CPU",
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
    ...(loras.length > 0
      ? {
          loraHashes: loras.map((l) => ({
            name: l.name ?? loraName(l.path),
            hash: loraShortHash(l.addnetHash),
          })),
        }
      : {}),
    version: SDLITE_VERSION,
  };
}
