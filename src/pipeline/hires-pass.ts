/**
 * The hires fix's second pass (hires-fix.ts): each first-pass image enlarged, then an ordinary
 * img2img of it at the hires size with that image's seed (A1111 draws the second pass's noise from
 * the same seeds). Latent modes enlarge the latents instead and skip the decode and encode between
 * the passes, as A1111 does. The VAE tiles above 512 px, so a 1024 px second pass encodes and
 * decodes in 512 px tiles.
 */

import { resizeRgb } from "../image/resize.js";
import type { RgbImage } from "../image/types.js";
import { parsePromptTags } from "../lora/lora-tags.js";
import { upscaleBy } from "../upscale/upscale-by.js";
import type { Upscaler } from "../upscale/upscaler.js";
import {
  type DenoisedLatents,
  decodeLatents,
  type GeneratedImage,
  type GenerateOptions,
  type PipelineModels,
  type PreparedGeneration,
  prepareGeneration,
} from "./generate.js";
import {
  type HiresSize,
  type HiresUpscale,
  hiresSize,
  hiresUpscale,
  type JobHires,
  secondPassRequest,
} from "./hires-fix.js";
import { upscaleLatents } from "./latent-upscale.js";
import type { GenerationRequest, ValidRequest } from "./request.js";

export interface HiresPassOptions extends Pick<GenerateOptions, "embeddings" | "onProgress"> {
  /** Opens the image upscaler the job names (a resampler, or its ESRGAN file); not for latent modes. */
  readonly openUpscaler: (upscale: Extract<HiresUpscale, { kind: "image" }>) => Upscaler;
}

export interface HiresPass {
  readonly size: HiresSize;
  readonly upscale: HiresUpscale;
  /** Iteration k's final images from its first-pass latents; `onFirstImage` sees each first-pass image. */
  run(
    first: DenoisedLatents,
    k: number,
    options: Pick<GenerateOptions, "signal" | "onProgress"> & {
      onFirstImage?: (image: RgbImage, seed: number) => void;
    },
  ): Promise<GeneratedImage[]>;
  close(): Promise<void>;
}

/**
 * A1111's images.resize_image(0, image, width, height, upscaler): the upscaler enlarges by the
 * larger of the two factors (its own loop, upscale-by.ts), then Lanczos makes the exact size; "None"
 * is Lanczos alone.
 */
export async function resizeWithUpscaler(
  upscaler: Upscaler,
  image: RgbImage,
  width: number,
  height: number,
  signal?: AbortSignal,
): Promise<RgbImage> {
  let out = image;
  const scale = Math.max(width / image.width, height / image.height);
  if (upscaler.name !== "None" && scale > 1) out = await upscaleBy(upscaler, image, scale, { signal });
  if (out.width !== width || out.height !== height) out = resizeRgb(out, width, height, "lanczos");
  return out;
}

/** The part of an image the kept latents cover (A1111 cuts the latents: the smaller half first). */
function cropImage(image: RgbImage, size: HiresSize): RgbImage {
  const left = Math.floor(size.truncate.x / 2) * 8;
  const top = Math.floor(size.truncate.y / 2) * 8;
  if (left === 0 && top === 0 && image.width === size.width && image.height === size.height) return image;
  const data = new Uint8Array(size.width * size.height * 3);
  for (let y = 0; y < size.height; y++) {
    const from = ((top + y) * image.width + left) * 3;
    data.set(image.data.subarray(from, from + size.width * 3), y * size.width * 3);
  }
  return { width: size.width, height: size.height, data };
}

function cropLatents(
  latents: Float32Array,
  channels: number,
  h: number,
  w: number,
  size: HiresSize,
): Float32Array {
  const top = Math.floor(size.truncate.y / 2);
  const left = Math.floor(size.truncate.x / 2);
  const outH = size.height / 8;
  const outW = size.width / 8;
  if (outH === h && outW === w) return latents;
  const out = new Float32Array(channels * outH * outW);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < outH; y++) {
      const from = (c * h + top + y) * w + left;
      out.set(latents.subarray(from, from + outW), (c * outH + y) * outW);
    }
  }
  return out;
}

/** The second pass of `first` (a validated first-pass request), its prompt encoded once. */
export async function prepareHiresPass(
  models: PipelineModels,
  first: ValidRequest,
  hires: JobHires,
  options: HiresPassOptions,
): Promise<HiresPass> {
  const size = hiresSize(first.width, first.height, hires);
  const upscale = hiresUpscale(hires);
  // the text encoder sees the hires prompts without their LoRA tags, as the first pass's
  const prompts = {
    ...hires,
    ...(hires.prompt ? { prompt: parsePromptTags(hires.prompt).prompt } : {}),
    ...(hires.negativePrompt ? { negativePrompt: parsePromptTags(hires.negativePrompt).prompt } : {}),
  };
  const blank: RgbImage = {
    width: size.width,
    height: size.height,
    data: new Uint8Array(size.width * size.height * 3),
  };
  const request: GenerationRequest = {
    ...secondPassRequest(first, prompts, blank),
    // an inpainting model repaints all of the enlarged image, as its first pass did of a blank one
    ...(models.unet.inChannels === 9
      ? {
          mask: {
            width: size.width,
            height: size.height,
            data: new Uint8Array(size.width * size.height).fill(255),
          },
        }
      : {}),
  };
  const second: PreparedGeneration = await prepareGeneration(models, request, options);
  let upscaler: Upscaler | undefined;

  const run: HiresPass["run"] = async (firstPass, k, { signal, onProgress, onFirstImage }) => {
    const [n, c, h, w] = firstPass.shape;
    const out: GeneratedImage[] = [];
    const itemSize = c * h * w;
    const images =
      upscale.kind === "image" || onFirstImage
        ? await decodeLatents(models.vae, firstPass.latents, firstPass.shape)
        : undefined;
    for (let j = 0; j < n; j++) {
      const seed = firstPass.seeds[j];
      if (images) onFirstImage?.(images[j], seed);
      let start: { seeds: number[]; image?: RgbImage; latents?: Float32Array };
      if (upscale.kind === "latent") {
        const item = firstPass.latents.subarray(j * itemSize, (j + 1) * itemSize);
        const toH = Math.floor(size.upscaleTo.height / 8);
        const toW = Math.floor(size.upscaleTo.width / 8);
        const enlarged = upscaleLatents(item, [1, c, h, w], toH, toW, upscale.mode);
        start = { seeds: [seed], latents: cropLatents(enlarged, c, toH, toW, size) };
      } else {
        upscaler ??= options.openUpscaler(upscale);
        const enlarged = await resizeWithUpscaler(
          upscaler,
          images![j],
          size.upscaleTo.width,
          size.upscaleTo.height,
          signal,
        );
        start = { seeds: [seed], image: cropImage(enlarged, size) };
      }
      const made = await second.iteration(0, {
        signal,
        onProgress: onProgress && ((p) => onProgress({ ...p, batchIndex: k, batchCount: first.batchCount })),
        start,
      });
      out.push(...made.map((m) => ({ ...m, seed })));
    }
    return out;
  };
  return {
    size,
    upscale,
    run,
    close: async () => {
      await upscaler?.close();
    },
  };
}
