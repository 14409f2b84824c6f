/**
 * An ESRGAN-family weights file as an Upscaler: the graph built once (through the graph cache, like
 * the SD networks), the session created on first use, images run in overlapping tiles.
 */
import { basename, extname } from "node:path";
import { fileIdentity, type GraphCache, graphCacheKey } from "../cache/graph-cache.js";
import { createGraphSession } from "../engine/graph-session.js";
import type { RgbImage } from "../image/types.js";
import type { Runtime, Session, SessionOptions } from "../runtime/runtime.js";
import { describeArchitecture, type UpscalerArchitecture } from "./esrgan-architecture.js";
import { buildUpscalerGraph, UPSCALER_INPUT, UPSCALER_OUTPUT } from "./esrgan-graph.js";
import { bytesToPlanes, unitToByte } from "./rgb-planes.js";
import { type PlaneNetwork, runTiles } from "./tiled-upscale.js";
import type { UpscalePassOptions, Upscaler } from "./upscaler.js";
import { openUpscalerWeights, type UpscalerWeights } from "./upscaler-weights.js";

/**
 * 192 px tiles (A1111's ESRGAN_tile default) bound an x4 RRDBNet tile's activations (64 channels at
 * 4× the padded tile, ~200 MB per feature map) whatever the image size; 16 px of context per side
 * (Real-ESRGAN's examples use 10, A1111 overlaps 8) costs (224/192)² ≈ 1.36× the untiled work. It
 * does not cover an RRDBNet's theoretical receptive radius (~350 px for 23 blocks, see
 * receptiveRadius), so pixels near tile edges can differ from an untiled run; a pad that covers the
 * radius gives the untiled output exactly (test/upscale-graph.test.ts).
 */
export const DEFAULT_UPSCALE_TILE = 192;
export const DEFAULT_UPSCALE_TILE_PAD = 16;

export interface ModelUpscalerOptions {
  readonly runtime: Runtime;
  readonly session?: SessionOptions;
  /** Built-graph cache; false builds in memory. */
  readonly cache?: GraphCache | false;
  /** Tile size in input pixels (0: the whole image in one run) and context pixels per side. */
  readonly tile?: number;
  readonly tilePad?: number;
  /** The name shown and written into the infotext; default: the file name without extension. */
  readonly name?: string;
}

export class ModelUpscaler implements Upscaler {
  readonly isModel = true;
  readonly name: string;
  readonly architecture: UpscalerArchitecture;
  private session: Promise<Session> | undefined;

  private constructor(
    private readonly weights: UpscalerWeights,
    private readonly options: ModelUpscalerOptions,
  ) {
    this.architecture = weights.architecture;
    this.name = options.name ?? basename(weights.path, extname(weights.path));
  }

  static open(path: string, options: ModelUpscalerOptions): ModelUpscaler {
    return new ModelUpscaler(openUpscalerWeights(path), options);
  }

  get scale(): number {
    return this.architecture.scale;
  }

  get description(): string {
    return describeArchitecture(this.architecture);
  }

  private getSession(): Promise<Session> {
    const { runtime, cache, session } = this.options;
    const { weights, architecture, path } = this.weights;
    this.session ??= createGraphSession(runtime, () => buildUpscalerGraph(weights, architecture), {
      session,
      cache: cache
        ? {
            cache,
            key: graphCacheKey({
              kind: `upscaler_${architecture.kind}`,
              weights: [fileIdentity(path)],
              config: architecture,
            }),
          }
        : undefined,
    }).catch((err: unknown) => {
      this.session = undefined;
      throw err;
    });
    return this.session;
  }

  /** The network on CHW float planes, [1, C, h, w] → [1, C, h·scale, w·scale]. */
  readonly network: PlaneNetwork = async (input, height, width) => {
    const session = await this.getSession();
    const channels = this.architecture.imageChannels;
    const out = await session.run({ [UPSCALER_INPUT]: { dims: [1, channels, height, width], data: input } }, [
      UPSCALER_OUTPUT,
    ]);
    return out[UPSCALER_OUTPUT].data as Float32Array;
  };

  /** Input pixels per side a pixel-unshuffling model needs the image to be a multiple of. */
  get inputMultiple(): number {
    return this.architecture.kind === "rrdb" ? this.architecture.unshuffle : 1;
  }

  async pass(image: RgbImage, options: UpscalePassOptions): Promise<RgbImage> {
    const { width, height } = image;
    const a = this.architecture;
    if (a.imageChannels !== 3) {
      throw new Error(
        `${this.weights.path}: a ${a.imageChannels}-channel model; only RGB (3-channel) upscalers are supported`,
      );
    }
    const m = this.inputMultiple;
    const paddedW = Math.ceil(width / m) * m;
    const paddedH = Math.ceil(height / m) * m;
    const planes = bytesToPlanes(image.data, width, height, 3, paddedW, paddedH);
    const s = a.scale;
    const outW = width * s;
    const outH = height * s;
    const out = new Uint8Array(outW * outH * 3);
    const tile = this.options.tile ?? DEFAULT_UPSCALE_TILE;
    await runTiles(
      planes,
      3,
      paddedW,
      paddedH,
      s,
      this.network,
      {
        tile: tile > 0 ? tile : Math.max(paddedW, paddedH),
        pad: this.options.tilePad ?? DEFAULT_UPSCALE_TILE_PAD,
        multiple: m,
        onTile: options.onTile,
        signal: options.signal,
      },
      (t, output, tw, th) => {
        const plane = tw * th;
        const ox = (t.x0 - t.wx0) * s;
        const oy = (t.y0 - t.wy0) * s;
        // the reflected padding (right and bottom) is cut off here
        const rw = Math.min(t.x1 * s, outW) - t.x0 * s;
        const rh = Math.min(t.y1 * s, outH) - t.y0 * s;
        for (let y = 0; y < rh; y++) {
          const src = (oy + y) * tw + ox;
          let dst = ((t.y0 * s + y) * outW + t.x0 * s) * 3;
          for (let x = 0; x < rw; x++, dst += 3) {
            out[dst] = unitToByte(output[src + x]);
            out[dst + 1] = unitToByte(output[plane + src + x]);
            out[dst + 2] = unitToByte(output[2 * plane + src + x]);
          }
        }
      },
    );
    return { width: outW, height: outH, data: out };
  }

  async close(): Promise<void> {
    const pending = this.session;
    this.session = undefined;
    try {
      if (pending) await (await pending).release();
    } finally {
      this.weights.close();
    }
  }
}
