/**
 * Live-preview decoding with TAESD, kept apart from the pipeline: the denoising loop only reports
 * its latents (GenerationProgress), and a caller that wants pictures of them (the server) decodes
 * them here. TAESD is cheap enough to do that every few steps at full resolution (0.43 s at 512 px,
 * docs/benchmarks.md), where the full VAE takes seconds.
 */
import { decodedToImages } from "../image/convert.js";
import type { RgbImage } from "../image/types.js";
import type { Shape4, VaeNetwork } from "../pipeline/networks.js";
import type { LazySession } from "./lazy-session.js";

export interface PreviewDecoder {
  /** Batch item `index` of latents [n, 4, h, w] (the UNet's latent space) → an 8w × 8h RGB image. */
  decode(latents: Float32Array, shape: Shape4, index?: number): Promise<RgbImage>;
  /** Frees the decoder's session once any decode in flight has ended; the next decode reloads it. */
  release(): Promise<void>;
}

/** A decoder network (TAESD) whose session is created on the first preview. */
export class SessionPreviewDecoder implements PreviewDecoder {
  private inFlight: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly network: Pick<VaeNetwork, "decode">,
    private readonly session: LazySession,
  ) {}

  decode(latents: Float32Array, shape: Shape4, index = 0): Promise<RgbImage> {
    const [n, c, h, w] = shape;
    if (latents.length !== n * c * h * w) {
      throw new RangeError(`preview: ${latents.length} values do not fill [${shape.join(", ")}]`);
    }
    if (!Number.isInteger(index) || index < 0 || index >= n) {
      throw new RangeError(`preview: batch item ${index} of ${n}`);
    }
    // copied now: the caller's array may be reused while the decode runs
    const item = latents.slice(index * c * h * w, (index + 1) * c * h * w);
    const run = this.network
      .decode(item, [1, c, h, w])
      .then((decoded) => decodedToImages(decoded, [1, 3, 8 * h, 8 * w])[0]);
    this.inFlight = Promise.all([this.inFlight, run.catch(() => {})]);
    return run;
  }

  async release(): Promise<void> {
    await this.inFlight;
    await this.session.release();
  }
}
