/**
 * What every upscaler offers the A1111-style upscale loop (upscale-by.ts): one pass over an RGB
 * image. A model pass multiplies the size by the model's native scale; a classic resampler
 * (Lanczos, Nearest) resizes by whatever factor it is asked for.
 */
import type { RgbImage } from "../image/types.js";

export interface UpscalePassOptions {
  /** The factor the user asked for (classic resamplers use it; models run at their own scale). */
  readonly scale: number;
  /** Tiles done / in all, within this pass. */
  readonly onTile?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

export interface Upscaler {
  /** The name A1111 lists and writes into the infotext ("Lanczos", "4x-UltraSharp"). */
  readonly name: string;
  /** A model's native factor; classic resamplers report 4, as A1111 lists them. */
  readonly scale: number;
  /** True for a network (tiled, slow), false for a plain resampler. */
  readonly isModel: boolean;
  pass(image: RgbImage, options: UpscalePassOptions): Promise<RgbImage>;
  close(): Promise<void>;
}
