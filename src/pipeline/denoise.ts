/**
 * The denoising loop: scheduler ⇄ UNet, with classifier-free guidance and the two inpainting
 * variants (9-channel UNet input, or latent blending for ordinary models). Mirrors the loop of
 * diffusers' StableDiffusion{,Img2Img,Inpaint}Pipeline so the same seed gives the same latents.
 * A UNet with LCM's guidance embedding runs as LatentConsistencyModelPipeline does: prompt only,
 * batch 1 per image, guidance passed in as `timestep_cond`. A prompt and negative prompt of
 * different lengths run as two UNet calls per step, as AUTOMATIC1111's CFGDenoiser does.
 */
import type { RandomSource } from "../rng/random-source.js";
import type { Scheduler } from "../schedulers/types.js";
import { lcmGuidanceCondition } from "./guidance-embedding.js";
import type { Shape4, UNetNetwork } from "./networks.js";

export interface WeightedEmbedding {
  /** [batch, tokens, hidden] */
  data: Float32Array;
  /** Guidance weight: 1 for an ordinary prompt; A1111's `:w` after a sub-prompt of an AND prompt. */
  weight: number;
}

export interface Conditioning {
  /**
   * The prompt's embeddings: one with weight 1 for an ordinary prompt, one per sub-prompt for AND
   * (composable diffusion, eps = uncond + Σ wᵢ·g·(condᵢ − uncond)).
   */
  conds: readonly WeightedEmbedding[];
  /** [batch, uncondTokens, hidden] negative/empty-prompt embeddings; used only with guidance. */
  uncond: Float32Array;
  /** Sequence length of every cond. */
  tokens: number;
  /**
   * Sequence length of the uncond. When it differs from `tokens`, cond and uncond go through the
   * UNet in separate calls, each at its own length (A1111's default, pad_cond_uncond off).
   */
  uncondTokens: number;
}

/**
 * The conditioning of each UNet call, counted from 0 at the first call of the run (A1111's step
 * counter, also for img2img): prompt editing and alternation change it from step to step. The
 * same object for consecutive steps means "unchanged".
 */
export type ConditioningSchedule = (step: number) => Conditioning;

/** 9-channel inpainting UNets take [latents, mask, masked-image latents] on the channel axis. */
export interface InpaintInputs {
  kind: "concat";
  /** [batch, 1, h, w] */
  mask: Float32Array;
  /** [batch, 4, h, w], already scaled by the VAE scaling factor. */
  maskedImageLatents: Float32Array;
}

/** Ordinary UNets inpaint by re-imposing the (re-noised) original outside the mask after each step. */
export interface BlendInputs {
  kind: "blend";
  /** [batch, 1, h, w], 1 = repaint */
  mask: Float32Array;
  /** [batch, 4, h, w] clean latents of the init image */
  imageLatents: Float32Array;
  /** the noise the init latents were noised with */
  noise: Float32Array;
}

export interface StepProgress {
  step: number; // 1-based
  total: number;
  timestep: number;
  latents: Float32Array;
}

export interface DenoiseOptions {
  unet: UNetNetwork;
  scheduler: Scheduler;
  /** Index into scheduler.timesteps to start from (img2img truncation), 0 for txt2img. */
  startIndex: number;
  latents: Float32Array;
  shape: Shape4;
  conditioning: Conditioning | ConditioningSchedule;
  guidance: number;
  rng: RandomSource;
  inpaint?: InpaintInputs | BlendInputs;
  onStep?: (progress: StepProgress) => void;
  signal?: AbortSignal;
}

export class GenerationCancelled extends Error {
  constructor() {
    super("generation cancelled");
    this.name = "GenerationCancelled";
  }
}

export function usesGuidance(guidance: number): boolean {
  return guidance > 1;
}

/**
 * Whether the loop runs the UNet twice per image ([uncond, cond]). Not for UNets with LCM's
 * guidance embedding: they take the scale as an input and never see the negative prompt.
 */
export function usesClassifierFreeGuidance(unet: UNetNetwork, guidance: number): boolean {
  return unet.timeCondProjDim === undefined && usesGuidance(guidance);
}

export async function denoise(opts: DenoiseOptions): Promise<Float32Array> {
  const { scheduler, shape, guidance, rng, inpaint } = opts;
  const fixed = opts.conditioning;
  const conditioningAt = typeof fixed === "function" ? fixed : () => fixed;
  const first = conditioningAt(0);
  const composable = isComposable(first);
  if (composable && opts.unet.timeCondProjDim !== undefined) {
    throw new Error(
      "AND (composable diffusion) needs classifier-free guidance, which an LCM UNet does not run",
    );
  }
  const [batch, channels, h, w] = shape;
  // A1111 always runs the negative prompt with AND; otherwise diffusers' rule (guidance > 1)
  const cfg = composable || usesClassifierFreeGuidance(opts.unet, guidance);
  const unet = opts.unet.startRun?.() ?? opts.unet;
  // separate uncond calls get their own run, so DeepCache keeps a deep feature per stream
  let uncondUnet: UNetNetwork | undefined;
  const unetBatch = cfg ? (1 + first.conds.length) * batch : batch;
  let conditioning: Conditioning | undefined;
  let separate = false;
  let context: Float32Array = new Float32Array(0);
  const embeddingWidth = opts.unet.timeCondProjDim;
  const timestepCond =
    embeddingWidth === undefined ? undefined : lcmGuidanceCondition(guidance, embeddingWidth, unetBatch);
  const timesteps = scheduler.timesteps;
  const total = timesteps.length - opts.startIndex;
  let latents = opts.latents;

  for (let i = opts.startIndex; i < timesteps.length; i++) {
    if (opts.signal?.aborted) throw new GenerationCancelled();
    const current = conditioningAt(i - opts.startIndex);
    if (current !== conditioning) {
      conditioning = current;
      const conds = current.conds.map((c) => c.data);
      separate = cfg && current.tokens !== current.uncondTokens;
      if (separate) uncondUnet ??= opts.unet.startRun?.() ?? opts.unet;
      context = cfg && !separate ? concat([current.uncond, ...conds]) : cfg ? concat(conds) : conds[0];
    }
    const scaled = scheduler.scaleModelInput(latents, i);
    let unetInput = scaled;
    let inChannels = channels;
    if (inpaint?.kind === "concat") {
      unetInput = concatChannels(
        [
          { data: scaled, channels },
          { data: inpaint.mask, channels: 1 },
          { data: inpaint.maskedImageLatents, channels: 4 },
        ],
        batch,
        h * w,
      );
      inChannels = channels + 5;
    }
    const condBatch = separate ? current.conds.length * batch : unetBatch;
    const modelInput = cfg ? concat(Array(condBatch / batch).fill(unetInput)) : unetInput;
    const t = new Float32Array(condBatch).fill(timesteps[i]);
    let prediction = await unet.predict({
      sample: modelInput,
      shape: [condBatch, inChannels, h, w],
      timestep: t,
      context,
      tokens: current.tokens,
      timestepCond,
    });
    if (separate) {
      const uncond = await uncondUnet!.predict({
        sample: unetInput,
        shape: [batch, inChannels, h, w],
        timestep: t.subarray(0, batch),
        context: current.uncond,
        tokens: current.uncondTokens,
      });
      prediction = concat([uncond, prediction]);
    }
    const eps = !cfg
      ? prediction
      : composable
        ? composeGuidance(prediction, current.conds, guidance)
        : guide(prediction, guidance);
    latents = scheduler.step(eps, i, latents, rng);

    if (inpaint?.kind === "blend") latents = blend(latents, inpaint, scheduler, i, batch, channels, h * w);
    opts.onStep?.({ step: i - opts.startIndex + 1, total, timestep: timesteps[i], latents });
  }
  return latents;
}

/** eps = uncond + g·(cond − uncond), batch halves [uncond, cond]. */
function guide(prediction: Float32Array, guidance: number): Float32Array {
  const half = prediction.length / 2;
  const out = new Float32Array(half);
  for (let j = 0; j < half; j++) {
    const u = prediction[j];
    out[j] = u + guidance * (prediction[half + j] - u);
  }
  return out;
}

/** Several weighted prompts, or one with a weight other than 1 (A1111's AND / `prompt :w`). */
function isComposable(c: Conditioning): boolean {
  return c.conds.length !== 1 || c.conds[0].weight !== 1;
}

/**
 * A1111's composable diffusion (CFGDenoiser.combine_denoised): eps = u + Σ (condᵢ − u)·(wᵢ·g), batch
 * parts [uncond, cond₁, cond₂, …]. Summed in double, rounded once.
 */
function composeGuidance(
  prediction: Float32Array,
  conds: readonly WeightedEmbedding[],
  guidance: number,
): Float32Array {
  const part = prediction.length / (1 + conds.length);
  const scales = conds.map((c) => c.weight * guidance);
  const out = new Float32Array(part);
  for (let j = 0; j < part; j++) {
    const u = prediction[j];
    let sum = u;
    for (let k = 0; k < scales.length; k++) sum += (prediction[(k + 1) * part + j] - u) * scales[k];
    out[j] = sum;
  }
  return out;
}

function blend(
  latents: Float32Array,
  inputs: BlendInputs,
  scheduler: Scheduler,
  i: number,
  batch: number,
  channels: number,
  plane: number,
): Float32Array {
  // the original is noised to the level of the *next* step; after the last step it is clean
  const proper =
    i < scheduler.timesteps.length - 1
      ? scheduler.addNoise(inputs.imageLatents, inputs.noise, i + 1)
      : inputs.imageLatents;
  const out = new Float32Array(latents.length);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      const base = (b * channels + c) * plane;
      for (let p = 0; p < plane; p++) {
        const m = inputs.mask[b * plane + p];
        out[base + p] = (1 - m) * proper[base + p] + m * latents[base + p];
      }
    }
  }
  return out;
}

export function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Concatenates NCHW tensors of the same batch and plane size along the channel axis. */
export function concatChannels(
  parts: readonly { data: Float32Array; channels: number }[],
  batch: number,
  plane: number,
): Float32Array {
  const total = parts.reduce((n, p) => n + p.channels, 0);
  const out = new Float32Array(batch * total * plane);
  for (let b = 0; b < batch; b++) {
    let c0 = 0;
    for (const p of parts) {
      const size = p.channels * plane;
      out.set(p.data.subarray(b * size, (b + 1) * size), (b * total + c0) * plane);
      c0 += p.channels;
    }
  }
  return out;
}
