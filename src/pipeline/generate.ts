/**
 * txt2img, img2img and inpainting in one place, composed from the stages: prompt → embeddings →
 * denoising loop → VAE → images. Random draws happen in exactly diffusers' order, one generator
 * per image (seed + i), so each image is reproducible from its seed alone.
 */

import { embeddingLookup, type SizedEmbedding, selectEmbeddings } from "../embeddings/embedding-lookup.js";
import {
  binariseMask,
  decodedToImages,
  imageToTensor,
  maskedImage,
  maskToLatentSize,
} from "../image/convert.js";
import type { RgbImage } from "../image/types.js";
import { createRandomSource } from "../rng/index.js";
import type { RandomSource } from "../rng/random-source.js";
import { img2imgStart } from "../schedulers/img2img.js";
import { createScheduler } from "../schedulers/registry.js";
import type { SchedulerConfig } from "../schedulers/types.js";
import type { SpanTokenizer, TokenEmbedding } from "../tokenizer/prompt-chunks.js";
import { BatchRandomSource } from "./batch-random-source.js";
import {
  type BlendInputs,
  concat,
  denoise,
  type InpaintInputs,
  usesClassifierFreeGuidance,
} from "./denoise.js";
import { sampleScaledLatents } from "./latent-distribution.js";
import { fillLatents } from "./latent-fill.js";
import type { LatentDistribution, Shape4, TextEncoderNetwork, UNetNetwork, VaeNetwork } from "./networks.js";
import { encodeConditioning, scheduleSteps } from "./prompt-conditioning.js";
import {
  type GenerationRequest,
  InvalidRequestError,
  type ValidRequest,
  validateRequest,
} from "./request.js";

export interface PipelineModels {
  tokenizer: SpanTokenizer;
  textEncoder: TextEncoderNetwork;
  unet: UNetNetwork;
  vae: VaeNetwork;
  schedulerConfig: SchedulerConfig;
  /** Called when a network is not needed until the next run of its stage (low-memory mode frees it). */
  stageDone?: (stage: "text-encoder" | "unet" | "vae") => Promise<void>;
}

export type Stage = "encode-prompt" | "encode-image" | "denoise" | "decode";

export interface GenerationProgress {
  stage: Stage;
  /** Denoising step within the current batch (1-based), 0 outside the denoise stage. */
  step: number;
  totalSteps: number;
  /** Which batch (0-based) of request.batchCount is running. */
  batchIndex: number;
  batchCount: number;
  /** Current latents during denoising, for previews. */
  latents?: Float32Array;
  latentShape?: Shape4;
}

export interface GeneratedImage {
  image: RgbImage;
  seed: number;
  /** What the prompts turned into, for the infotext (`TI hashes`, `Pad conds`). */
  conditioning?: ConditioningFacts;
}

export interface ConditioningFacts {
  /** Prompt and negative prompt were padded to one length (padCondUncond with lengths that differ). */
  readonly padded: boolean;
  /** Textual-inversion embeddings used, in A1111's `TI hashes` order. */
  readonly embeddings: readonly TokenEmbedding[];
}

export interface GenerateOptions {
  onProgress?: (progress: GenerationProgress) => void;
  signal?: AbortSignal;
  /**
   * Textual-inversion embeddings (e.g. an `embeddings/` folder, embeddings/embedding-folder.ts):
   * a prompt word equal to one's name puts its vectors in the prompt. Those whose width differs
   * from the text encoder's are ignored.
   */
  embeddings?: readonly SizedEmbedding[];
}

export async function generate(
  models: PipelineModels,
  request: GenerationRequest,
  options: GenerateOptions = {},
): Promise<GeneratedImage[]> {
  const generation = await prepareGeneration(models, request, options);
  const images: GeneratedImage[] = [];
  for (let k = 0; k < generation.request.batchCount; k++) {
    if (options.signal?.aborted) break;
    images.push(...(await generation.iteration(k, options)));
  }
  return images;
}

/** A request whose prompt is encoded: its iterations (batchCount) run one call each. */
export interface PreparedGeneration {
  readonly request: ValidRequest;
  readonly latentShape: Shape4;
  /** What the prompts turned into (the same for every image). */
  readonly conditioning: ConditioningFacts;
  /** Iteration k (0-based): batchSize images with seeds seed + k·batchSize + j. */
  iteration(k: number, options?: IterationOptions): Promise<GeneratedImage[]>;
  /** Iteration k up to its final latents, not decoded (hires fix's latent upscalers take them). */
  denoiseIteration(k: number, options?: IterationOptions): Promise<DenoisedLatents>;
}

export interface IterationOptions extends Pick<GenerateOptions, "signal" | "onProgress"> {
  /**
   * img2img from another start than the request's init image (hires fix's second pass): these
   * seeds, and this image (encoded as the request's would be) or these latents (scaled, used as the
   * encoded image: no posterior sample is drawn, the noise is the generator's first draw).
   */
  readonly start?: IterationStart;
}

export interface IterationStart {
  readonly seeds: readonly number[];
  readonly image?: RgbImage;
  readonly latents?: Float32Array;
}

export interface DenoisedLatents {
  readonly latents: Float32Array;
  readonly shape: Shape4;
  readonly seeds: readonly number[];
}

/** The seeds of iteration k's images: one generator per image, as AUTOMATIC1111 numbers them. */
export function iterationSeeds(request: Pick<ValidRequest, "seed" | "batchSize">, k: number): number[] {
  return Array.from({ length: request.batchSize }, (_, j) => request.seed + k * request.batchSize + j);
}

/**
 * Validates the request and encodes its prompt (once for all iterations); the iterations then run
 * on their own, so a caller can stop one (A1111's skip) and go on with the next.
 */
export async function prepareGeneration(
  models: PipelineModels,
  request: GenerationRequest,
  options: Pick<GenerateOptions, "onProgress" | "embeddings"> = {},
): Promise<PreparedGeneration> {
  const req = validateRequest(request);
  // LCM UNets with a guidance embedding take no negative prompt (diffusers' LCM pipeline has none)
  const cfg = usesClassifierFreeGuidance(models.unet, req.guidance);
  const latentShape: Shape4 = [req.batchSize, 4, req.height / 8, req.width / 8];
  const reporter =
    (onProgress?: GenerateOptions["onProgress"]) =>
    (stage: Stage, batchIndex: number, step = 0, totalSteps = 0, latents?: Float32Array) =>
      onProgress?.({ stage, step, totalSteps, batchIndex, batchCount: req.batchCount, latents, latentShape });

  reporter(options.onProgress)("encode-prompt", 0);
  // prompt editing, alternation and AND as A1111 reads them; a plain prompt gives one conditioning
  const encoded = await encodeConditioning(
    {
      prompt: req.prompt,
      negativePrompt: req.negativePrompt,
      steps: scheduleSteps(req.sampler, req.steps),
      batch: req.batchSize,
      clipSkip: req.clipSkip,
      cfg,
      embeddedGuidance: models.unet.timeCondProjDim !== undefined,
      padCondUncond: req.padCondUncond,
      embeddings: options.embeddings?.length
        ? embeddingLookup(
            selectEmbeddings(options.embeddings, models.textEncoder.hiddenSize).loaded,
            models.tokenizer,
          )
        : undefined,
    },
    models.tokenizer,
    models.textEncoder,
  );
  await models.stageDone?.("text-encoder");
  const facts: ConditioningFacts = { padded: encoded.padded, embeddings: encoded.embeddings };

  const denoiseIteration = async (
    k: number,
    { signal, onProgress = options.onProgress, start: from }: IterationOptions = {},
  ): Promise<DenoisedLatents> => {
    const report = reporter(onProgress);
    const seeds = from ? [...from.seeds] : iterationSeeds(req, k);
    if (seeds.length !== req.batchSize) {
      throw new InvalidRequestError(`${seeds.length} seeds for a batch of ${req.batchSize}`);
    }
    const rng = new BatchRandomSource(seeds.map((s) => createRandomSource(req.rng, s)));
    const scheduler = createScheduler(req.sampler, models.schedulerConfig, req.steps, {
      scheduleType: req.schedule,
      eta: req.eta,
      timestepSpacing: req.timestepSpacing,
    });
    const started = from ? { ...req, initImage: from.image ?? req.initImage } : req;
    const fromImage = started.initImage !== undefined || from?.latents !== undefined;
    const start = fromImage ? img2imgStart(scheduler, req.steps, req.strength).startIndex : 0;
    if (from?.latents && from.latents.length !== latentShape.reduce((a, b) => a * b)) {
      throw new InvalidRequestError(`start latents do not have the shape ${latentShape.join("x")}`);
    }
    const init = from?.latents
      ? { latents: scheduler.addNoise(from.latents, rng.randn(latentShape), start) }
      : await prepareLatents(models, started, rng, scheduler, start, latentShape, seeds, () =>
          report("encode-image", k),
        );

    if (started.initImage && !from?.latents) await models.stageDone?.("vae");
    const latents = await denoise({
      unet: models.unet,
      scheduler,
      startIndex: start,
      latents: init.latents,
      shape: latentShape,
      conditioning: encoded.at,
      guidance: req.guidance,
      rng,
      inpaint: init.inpaint,
      signal,
      onStep: (p) => report("denoise", k, p.step, p.total, p.latents),
    });
    await models.stageDone?.("unet");
    return { latents, shape: latentShape, seeds };
  };

  const iteration = async (k: number, iterationOptions: IterationOptions = {}): Promise<GeneratedImage[]> => {
    const { latents, seeds } = await denoiseIteration(k, iterationOptions);
    reporter(iterationOptions.onProgress ?? options.onProgress)("decode", k);
    const decoded = await decodeLatents(models.vae, latents, latentShape);
    await models.stageDone?.("vae");
    return decoded.map((image, j) => ({ image, seed: seeds[j], conditioning: facts }));
  };
  return { request: req, latentShape, conditioning: facts, iteration, denoiseIteration };
}

/** One image at a time: the VAE decoder's activations dominate peak memory. */
export async function decodeLatents(
  vae: VaeNetwork,
  latents: Float32Array,
  shape: Shape4,
): Promise<RgbImage[]> {
  const [n, c, h, w] = shape;
  const size = c * h * w;
  const out: RgbImage[] = [];
  for (let b = 0; b < n; b++) {
    const item = latents.slice(b * size, (b + 1) * size);
    const image = await vae.decode(item, [1, c, h, w]);
    out.push(...decodedToImages(image, [1, 3, h * 8, w * 8]));
  }
  return out;
}

interface InitialLatents {
  latents: Float32Array;
  inpaint?: InpaintInputs | BlendInputs;
}

async function prepareLatents(
  models: PipelineModels,
  req: ValidRequest,
  rng: RandomSource,
  scheduler: ReturnType<typeof createScheduler>,
  start: number,
  shape: Shape4,
  seeds: readonly number[],
  onEncodeImage: () => void,
): Promise<InitialLatents> {
  const batch = shape[0];
  const sigmaScale = (x: Float32Array) => scale(x, scheduler.initNoiseSigma);
  if (!req.initImage) return { latents: sigmaScale(rng.randn(shape)) };

  onEncodeImage();
  const image = imageToTensor(req.initImage);
  const imageShape: Shape4 = [1, 3, req.height, req.width];
  const fullStrength = req.strength >= 1;
  const mask = req.mask ? binariseMask(req.mask) : undefined;
  const inpaint9 = mask !== undefined && models.unet.inChannels === 9;

  // diffusers samples the init image's posterior unless a 9-channel model starts from pure noise
  const needsImageLatents = !mask || !inpaint9 || !fullStrength;
  let imageLatents = needsImageLatents
    ? samplePosterior(await models.vae.encode(image, imageShape), rng, batch, models.vae)
    : undefined;
  if (imageLatents && mask && req.latentFill) {
    const latentMask = maskToLatentSize(mask, req.height, req.width);
    imageLatents = fillLatents(imageLatents, latentMask, req.latentFill, req.rng, seeds, shape);
  }
  const noise = rng.randn(shape);
  const latents = mask && fullStrength ? sigmaScale(noise) : scheduler.addNoise(imageLatents!, noise, start);
  if (!mask) return { latents };

  const maskLatent = repeatItems(maskToLatentSize(mask, req.height, req.width), batch);
  const masked = maskedImage(image, mask);
  const maskedLatents = samplePosterior(await models.vae.encode(masked, imageShape), rng, batch, models.vae);
  if (inpaint9)
    return { latents, inpaint: { kind: "concat", mask: maskLatent, maskedImageLatents: maskedLatents } };
  return { latents, inpaint: { kind: "blend", mask: maskLatent, imageLatents: imageLatents!, noise } };
}

/** (mean + std·randn)·scaling_factor, one draw per image's generator (diffusers' latent_dist.sample). */
function samplePosterior(
  dist: LatentDistribution,
  rng: RandomSource,
  batch: number,
  vae: VaeNetwork,
): Float32Array {
  const [, c, h, w] = dist.dims;
  const dims = [batch, c, h, w];
  return sampleScaledLatents(
    { mean: repeatItems(dist.mean, batch), std: repeatItems(dist.std, batch), dims },
    rng,
    vae.scalingFactor,
  );
}

function scale(x: Float32Array, factor: number): Float32Array {
  if (factor === 1) return x;
  return x.map((v) => v * factor);
}

function repeatItems(item: Float32Array, batch: number): Float32Array {
  return concat(Array.from({ length: batch }, () => item));
}
