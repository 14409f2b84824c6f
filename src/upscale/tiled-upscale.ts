/**
 * Runs an image-to-image network tile by tile (tile-plan.ts), so memory is bounded by the tile size
 * whatever the image size, and hands each tile's kept output to a sink: float planes (for checks)
 * or 8-bit RGB (what users get).
 */
import type { Tile } from "./tile-plan.js";
import { planTiles } from "./tile-plan.js";

/** [1, C, h, w] float → [1, C, h·scale, w·scale] float. */
export type PlaneNetwork = (input: Float32Array, height: number, width: number) => Promise<Float32Array>;

export interface TileOptions {
  readonly tile: number;
  readonly pad: number;
  /** Coordinates kept multiples of this (a pixel-unshuffling network's factor). */
  readonly multiple?: number;
  /** After each tile: tiles done, tiles in all. */
  readonly onTile?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

/** Receives one tile's network output ([C, wh, ww] at output size) and the region to keep from it. */
export type TileSink = (tile: Tile, output: Float32Array, outWidth: number, outHeight: number) => void;

/** Copies a window of CHW planes. */
function cropPlanes(
  planes: Float32Array,
  channels: number,
  width: number,
  height: number,
  t: Tile,
): Float32Array {
  const w = t.wx1 - t.wx0;
  const h = t.wy1 - t.wy0;
  const out = new Float32Array(channels * w * h);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      const from = (c * height + t.wy0 + y) * width + t.wx0;
      out.set(planes.subarray(from, from + w), (c * h + y) * w);
    }
  }
  return out;
}

export async function runTiles(
  planes: Float32Array,
  channels: number,
  width: number,
  height: number,
  scale: number,
  network: PlaneNetwork,
  options: TileOptions,
  sink: TileSink,
): Promise<void> {
  if (planes.length !== channels * width * height) {
    throw new RangeError(`runTiles: ${planes.length} values is not ${channels}x${height}x${width}`);
  }
  const tiles = planTiles(width, height, options.tile, options.pad, options.multiple ?? 1);
  let done = 0;
  for (const t of tiles) {
    if (options.signal) {
      // onnxruntime held the thread for the last tile: let a stop sent meanwhile (an HTTP request,
      // an executor message) arrive now, before the next tile, not after it
      await new Promise((resolve) => setImmediate(resolve));
      options.signal.throwIfAborted();
    }
    const h = t.wy1 - t.wy0;
    const w = t.wx1 - t.wx0;
    const output = await network(cropPlanes(planes, channels, width, height, t), h, w);
    if (output.length !== channels * h * scale * w * scale) {
      throw new Error(
        `the upscaler gave ${output.length} values for a ${w}x${h} tile, expected ${channels}x${h * scale}x${w * scale}`,
      );
    }
    sink(t, output, w * scale, h * scale);
    options.onTile?.(++done, tiles.length);
  }
}

/** The whole output as CHW float planes ([C, H·scale, W·scale]). */
export async function upscalePlanes(
  planes: Float32Array,
  channels: number,
  width: number,
  height: number,
  scale: number,
  network: PlaneNetwork,
  options: TileOptions,
): Promise<Float32Array> {
  const outW = width * scale;
  const outH = height * scale;
  const out = new Float32Array(channels * outW * outH);
  await runTiles(planes, channels, width, height, scale, network, options, (t, output, tw, th) => {
    const ox = (t.x0 - t.wx0) * scale;
    const oy = (t.y0 - t.wy0) * scale;
    const rw = (t.x1 - t.x0) * scale;
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < (t.y1 - t.y0) * scale; y++) {
        const from = (c * th + oy + y) * tw + ox;
        out.set(output.subarray(from, from + rw), (c * outH + t.y0 * scale + y) * outW + t.x0 * scale);
      }
    }
  });
  return out;
}
