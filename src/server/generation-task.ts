/**
 * One queued txt2img/img2img job: open (or reuse) the pipeline for the model and LoRAs, run the
 * batch iterations (n_iter) one by one so `skip` can end one of them, report steps and live
 * previews (live-preview.ts: TAESD or the cheap latent approximation), and turn the images into A1111's response: base64 PNGs carrying their
 * infotext, the echoed parameters and the `info` JSON string.
 *
 * Interrupt and skip behave as in A1111: the sampling stops and what it has is still decoded
 * (interrupt then ends the job, skip goes on with the next iteration). Cancel returns nothing.
 */

import type { TextualInversionEmbedding } from "../embeddings/embedding-file.js";
import { formatInfotext } from "../image/infotext.js";
import { loraShortHash } from "../image/model-hash.js";
import { encodePng } from "../image/png.js";
import type { RgbImage } from "../image/types.js";
import { rgbPixels } from "../image/types.js";
import { GenerationCancelled } from "../pipeline/denoise.js";
import { decodeLatents, type GeneratedImage, generate } from "../pipeline/generate.js";
import type { Shape4 } from "../pipeline/networks.js";
import { InvalidRequestError } from "../pipeline/request.js";
import { generationInfo, generationRecord, type RunFacts } from "./generation-info.js";
import type { GenerationKind, GenerationPlan } from "./generation-plan.js";
import { HttpError, invalidRequest } from "./http-error.js";
import type { JobContext, Task } from "./job-queue.js";
import { LivePreview, type PreviewSettings } from "./live-preview.js";
import type { CheckpointEntry, ModelCatalog } from "./model-catalog.js";
import type { PipelinePool } from "./pipeline-pool.js";

export interface GenerationResult {
  readonly kind: GenerationKind;
  /** Base64 PNGs, each with its `parameters` infotext chunk. */
  readonly images: string[];
  readonly parameters: Readonly<Record<string, unknown>>;
  /** A1111's info: a JSON document as a string. */
  readonly info: string;
}

export interface GenerationEnvironment {
  readonly pool: PipelinePool;
  readonly catalog: ModelCatalog;
  /** The selected checkpoint when the job runs (after any model switch queued before it). */
  currentModel(): CheckpointEntry | undefined;
  /** The CLIP_stop_at_last_layers option when the job runs. */
  clipSkip(): number;
  /** The pad_cond_uncond option when the job runs. */
  padCondUncond(): boolean;
  /** The embeddings folder's contents when the job runs (re-read if it changed). */
  embeddings(): readonly TextualInversionEmbedding[];
  /** The live-preview settings when the job runs. */
  preview(): PreviewSettings;
}

export function base64Png(image: RgbImage, text: Record<string, string> = {}): string {
  return Buffer.from(encodePng(rgbPixels(image), text)).toString("base64");
}

/** A1111's conditioning for an inpainting model given no mask: repaint everything. */
function fullMask(width: number, height: number) {
  return { width, height, data: new Uint8Array(width * height).fill(255) };
}

export function generationTask(plan: GenerationPlan, env: GenerationEnvironment): Task<GenerationResult> {
  return { kind: plan.kind, run: (context) => runGeneration(plan, env, context) };
}

async function runGeneration(
  plan: GenerationPlan,
  env: GenerationEnvironment,
  context: JobContext,
): Promise<GenerationResult> {
  const startedAt = new Date();
  const { progress } = context;
  const entry = plan.model ?? env.currentModel();
  if (!entry) {
    throw new HttpError(
      503,
      "no model is loaded: start the server with -m MODEL or put a checkpoint in the models folder",
    );
  }
  progress.jobCount = plan.nIter;
  progress.textinfo = `Loading ${entry.name}`;
  const pipeline = await env.pool.acquire(
    entry.path,
    plan.loras.map((l) => ({ path: l.entry.path, weight: l.weight })),
  );
  await env.catalog.ensureHash(entry);
  const modelHash = env.catalog.shortHash(entry);
  let clipSkip = plan.clipSkip ?? env.clipSkip();
  const warnings = [...plan.warnings];
  if (clipSkip > 1 && pipeline.model.format === "onnx") {
    // an exported text encoder has only its last layer as output; a global Clip skip must not break it
    warnings.push(`Clip skip ${clipSkip} is not available with an ONNX pipeline folder; used 1`);
    clipSkip = 1;
  }
  const unmatched = new Map<string, number>();
  for (const u of pipeline.unmatchedLoraKeys) unmatched.set(u.file, (unmatched.get(u.file) ?? 0) + 1);
  for (const [file, count] of unmatched)
    warnings.push(`LoRA ${file}: ${count} keys matched nothing in this model`);

  const inpainting = pipeline.models.unet.inChannels === 9;
  let { initImage, mask, denoisingStrength: strength } = plan;
  if (inpainting && !mask) {
    mask = fullMask(plan.width, plan.height);
    initImage ??= {
      width: plan.width,
      height: plan.height,
      data: new Uint8Array(plan.width * plan.height * 3),
    };
    strength ??= 1;
  }

  const live = new LivePreview(env.preview(), pipeline.previewDecoder, (image, step) => {
    const png = base64Png(image);
    progress.currentImage = png;
    context.emit({ type: "preview", image: png, step });
  });
  const embeddings = env.embeddings();
  const made: GeneratedImage[] = [];
  for (let k = 0; k < plan.nIter && !context.signal.aborted; k++) {
    progress.jobNo = k;
    progress.samplingStep = 0;
    progress.textinfo = plan.nIter > 1 ? `Batch ${k + 1} of ${plan.nIter}` : undefined;
    const iteration = context.iterationSignal();
    const seed = plan.seed + k * plan.batchSize;
    let latest: { latents: Float32Array; shape: Shape4 } | undefined;
    try {
      const images = await generate(
        pipeline.models,
        {
          prompt: plan.promptForModel,
          negativePrompt: plan.negativePrompt,
          sampler: plan.sampler.sampler,
          schedule: plan.sampler.scheduleType,
          steps: plan.steps,
          guidance: plan.cfgScale,
          seed,
          width: plan.width,
          height: plan.height,
          batchSize: plan.batchSize,
          batchCount: 1,
          rng: plan.rng,
          clipSkip,
          padCondUncond: plan.padCondUncond ?? env.padCondUncond(),
          initImage,
          mask,
          strength,
        },
        {
          signal: iteration,
          embeddings,
          onProgress: (p) => {
            if (p.stage !== "denoise" || !p.latents || !p.latentShape) return;
            latest = { latents: p.latents, shape: p.latentShape };
            progress.samplingStep = p.step;
            progress.samplingSteps = p.totalSteps;
            context.emit({ type: "step", step: p.step, total: p.totalSteps, jobNo: k, jobCount: plan.nIter });
            live.step({ ...p, latents: p.latents, latentShape: p.latentShape });
          },
        },
      );
      made.push(...images);
    } catch (err) {
      await live.settled();
      if (err instanceof InvalidRequestError || /clip skip \d+ is not available/.test(String(err))) {
        throw invalidRequest((err as Error).message);
      }
      if (!(err instanceof GenerationCancelled) || context.signal.reason === "cancel") throw err;
      // interrupted or skipped: A1111 still decodes the latents it has
      if (latest) {
        const decoded = await decodeLatents(pipeline.models.vae, latest.latents, latest.shape);
        decoded.forEach((image, j) => {
          made.push({ image, seed: seed + j });
        });
      }
    }
    // a preview still decoding belongs to this job: it must not outlive it
    await live.settled();
  }
  if (live.failure) warnings.push(live.failure);

  const facts: RunFacts = {
    modelName: entry.modelName,
    modelHash,
    clipSkip,
    seeds: made.map((m) => m.seed),
    loraHashes: plan.loras.map((l) => {
      const file = pipeline.loras.find((f) => f.file.path === l.entry.path)?.file;
      return { name: l.tagName, hash: file ? loraShortHash(file.addnetHash) : "" };
    }),
    inpaintingConditioning: inpainting,
    conditioning: made.find((m) => m.conditioning)?.conditioning,
    interrupted: context.signal.aborted,
    startedAt,
  };
  const images = plan.sendImages
    ? made.map((m) =>
        base64Png(m.image, { parameters: formatInfotext(generationRecord(plan, facts, m.seed)) }),
      )
    : [];
  return {
    kind: plan.kind,
    images,
    parameters: plan.parameters,
    info: JSON.stringify(generationInfo({ ...plan, warnings }, facts)),
  };
}
