/**
 * Runs the form's request on the in-tab engine: opens the engine for the chosen checkpoint (once,
 * again only when the checkpoint or backend changes), turns the form's values and the img2img /
 * inpainting pieces into a LocalGenerateRequest, and hands the PNGs back as gallery items (and
 * TAESD's live previews, when the page has TAESD: taesd-source.ts, as base64 PNGs). The
 * engine comes from the injected LocalEngineDeps; nothing here calls the server.
 */

import type { HiresFields, Txt2ImgRequest } from "../api.js";
import type { GalleryItem } from "../gallery.js";
import { loadImage, newCanvas, pngDataUrl } from "../image-data.js";
import type { Img2ImgFields } from "../init-image.js";
import { chooseBackend } from "./capability-line.js";
import { localHires } from "./hires-request.js";
import type {
  GraphStore,
  LocalEngine,
  LocalEngineDeps,
  LocalGenerateRequest,
  LocalImageData,
  WebGpuSupport,
} from "./local-engine-api.js";
import type { LocalCheckpoint, LocalEmbedding, LocalLora } from "./model-source.js";
import type { LocalTaesd } from "./taesd-source.js";

export interface LocalJob {
  settings: Txt2ImgRequest;
  img2img?: Img2ImgFields;
  denoisingStrength: number;
  /** The Hires fix section's fields when it is on (txt2img only, as in Server mode). */
  hires?: HiresFields;
  /** Textual-inversion embedding files dropped beside the checkpoint. */
  embeddings?: LocalEmbedding[];
}

/** Base64 PNG (what the form pieces produce) → RGBA pixels (what the engine takes). */
export async function pixelsFromBase64Png(base64: string): Promise<LocalImageData> {
  const img = await loadImage(pngDataUrl(base64));
  const { ctx } = newCanvas(img.naturalWidth, img.naturalHeight);
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, img.naturalWidth, img.naturalHeight);
  return { width: data.width, height: data.height, data: data.data };
}

export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** A1111's random seed: an integer in [0, 2^32). */
function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** The engine's request for one batch of the job (batch size images; seeds seed, seed+1, …). */
export async function localRequest(
  job: LocalJob,
  seed: number,
  loras: readonly LocalLora[],
): Promise<LocalGenerateRequest> {
  const s = job.settings;
  const request: LocalGenerateRequest = {
    prompt: s.prompt,
    negativePrompt: s.negative_prompt,
    steps: s.steps,
    cfgScale: s.cfg_scale,
    width: job.img2img?.width ?? s.width,
    height: job.img2img?.height ?? s.height,
    seed,
    ...((s.batch_size ?? 1) > 1 ? { batchSize: s.batch_size } : {}),
    sampler: s.sampler_name,
    ...(s.scheduler ? { scheduler: s.scheduler } : {}),
    ...(loras.length > 0 ? { loras: [...loras] } : {}),
    ...(job.embeddings?.length ? { embeddings: job.embeddings } : {}),
  };
  const init = job.img2img?.init_images[0];
  if (job.hires && !init) request.hires = localHires(job.hires);
  if (init) {
    request.initImage = await pixelsFromBase64Png(init);
    request.denoisingStrength = job.denoisingStrength;
    const img2img = job.img2img;
    if (img2img?.mask) {
      request.mask = await pixelsFromBase64Png(img2img.mask);
      // the form's A1111 inpainting fields: the engine runs A1111's inpainting around the loop
      if (img2img.mask_blur !== undefined) request.maskBlur = img2img.mask_blur;
      if (img2img.inpainting_fill !== undefined) request.inpaintingFill = img2img.inpainting_fill;
      if (img2img.inpaint_full_res !== undefined) request.inpaintFullRes = img2img.inpaint_full_res;
      if (img2img.inpaint_full_res_padding !== undefined) {
        request.inpaintFullResPadding = img2img.inpaint_full_res_padding;
      }
    }
  }
  return request;
}

export class LocalRunner {
  private engine: { id: string; engine: Promise<LocalEngine> } | undefined;
  private probe: Promise<WebGpuSupport> | undefined;

  constructor(
    private readonly deps: LocalEngineDeps,
    private readonly graphStore: Promise<GraphStore | undefined>,
    private readonly onStatus: (message: string, fraction?: number) => void,
  ) {}

  /** The WebGPU probe, run once a visit. */
  support(): Promise<WebGpuSupport> {
    this.probe ??= this.deps.webgpuSupport().catch((err: unknown) => ({
      ok: false,
      shaderF16: false,
      maxBufferSize: 0,
      maxStorageBufferBindingSize: 0,
      missing: [`the WebGPU check failed: ${err instanceof Error ? err.message : String(err)}`],
    }));
    return this.probe;
  }

  /** Drops the open engine (another checkpoint was chosen, or the cache was cleared). */
  async close(): Promise<void> {
    const open = this.engine;
    this.engine = undefined;
    if (open) await (await open.engine.catch(() => undefined))?.dispose();
  }

  private async open(
    checkpoint: LocalCheckpoint,
    signal: AbortSignal,
    taesd?: LocalTaesd,
  ): Promise<LocalEngine> {
    // TAESD is read when the engine opens: other TAESD files, another engine
    const id = taesd ? `${checkpoint.id}|taesd:${taesd.id}` : checkpoint.id;
    if (this.engine?.id !== id) {
      await this.close();
      const backend = chooseBackend(await this.support());
      const graphStore = await this.graphStore.catch(() => undefined);
      const engine = this.deps.openLocalEngine(checkpoint.blob, {
        backend,
        ...(graphStore ? { graphStore } : {}),
        onStatus: this.onStatus,
        signal,
        ...(checkpoint.overrides ? { overrides: checkpoint.overrides } : {}),
        ...(taesd ? { taesd: taesd.blobs, ...(taesd.decode ? { decoder: "taesd" as const } : {}) } : {}),
      });
      this.engine = { id, engine };
      // a failed or stopped load is not kept: the next Generate tries again
      engine.catch(() => {
        if (this.engine?.engine === engine) this.engine = undefined;
      });
    }
    return this.engine.engine;
  }

  /**
   * Every image of the job, newest last: batch count batches of batch size images, seeds
   * seed + k·batchSize + j as A1111 gives them; stops between batches when `signal` aborts.
   */
  async run(
    checkpoint: LocalCheckpoint,
    loras: readonly LocalLora[],
    job: LocalJob,
    onStep: (batch: number, batches: number, step: number, total: number) => void,
    signal: AbortSignal,
    onImage: (item: GalleryItem) => void,
    previews?: { taesd: LocalTaesd; onPreview(base64Png: string): void },
  ): Promise<number> {
    const engine = await this.open(checkpoint, signal, previews?.taesd);
    const onPreview = previews && {
      onPreview: (p: { png: Uint8Array }) => previews.onPreview(bytesToBase64(p.png)),
    };
    const first = job.settings.seed >= 0 ? job.settings.seed : randomSeed();
    const count = Math.max(1, job.settings.n_iter ?? 1);
    const size = Math.max(1, job.settings.batch_size ?? 1);
    let made = 0;
    for (let i = 0; i < count; i++) {
      signal.throwIfAborted();
      const request = await localRequest(job, (first + i * size) % 2 ** 32, loras);
      const images = await engine.generateImages(
        request,
        (step, total) => onStep(i, count, step, total),
        signal,
        onPreview,
      );
      for (const image of images) {
        onImage({ image: bytesToBase64(image.png), infotext: image.infotext, seed: image.seed });
        made++;
      }
    }
    return made;
  }
}
