/**
 * The denoising loop: scheduler ⇄ UNet, with classifier-free guidance and the two inpainting
 * variants (9-channel UNet input, or latent blending for ordinary models). Mirrors the loop of
 * diffusers' StableDiffusion{,Img2Img,Inpaint}Pipeline so the same seed gives the same latents.
 * A UNet with LCM's guidance embedding runs as LatentConsistencyModelPipeline does: prompt only,
 * batch 1 per image, guidance passed in as `timestep_cond`.
 */
import type { RandomSource } from "../rng/random-source.js";
import type { Scheduler } from "../schedulers/types.js";
import { lcmGuidanceCondition } from "./guidance-embedding.js";
import type { Shape4, UNetNetwork } from "./networks.js";

export interface Conditioning {
  /** [batch, tokens, hidden] prompt embeddings. */
  cond: Float32Array;
  /** [batch, tokens, hidden] negative/empty-prompt embeddings; used only with classifier-free guidance. */
  uncond: Float32Array;
  tokens: number;
}

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
  conditioning: Conditioning;
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
  const { scheduler, shape, conditioning, guidance, rng, inpaint } = opts;
  const unet = opts.unet.startRun?.() ?? opts.unet;
  const [batch, channels, h, w] = shape;
  const cfg = usesClassifierFreeGuidance(opts.unet, guidance);
  const unetBatch = cfg ? 2 * batch : batch;
  const context = cfg ? concat([conditioning.uncond, conditioning.cond]) : conditioning.cond;
  const embeddingWidth = opts.unet.timeCondProjDim;
  const timestepCond =
    embeddingWidth === undefined ? undefined : lcmGuidanceCondition(guidance, embeddingWidth, unetBatch);
  const timesteps = scheduler.timesteps;
  const total = timesteps.length - opts.startIndex;
  let latents = opts.latents;

  for (let i = opts.startIndex; i < timesteps.length; i++) {
    if (opts.signal?.aborted) throw new GenerationCancelled();
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
    const modelInput = cfg ? concat([unetInput, unetInput]) : unetInput;
    const t = new Float32Array(unetBatch).fill(timesteps[i]);
    const prediction = await unet.predict(
      modelInput,
      [unetBatch, inChannels, h, w],
      t,
      context,
      conditioning.tokens,
      timestepCond,
    );
    const eps = cfg ? guide(prediction, guidance) : prediction;
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
