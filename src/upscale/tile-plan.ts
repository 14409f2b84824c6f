/**
 * Where the tiles of a tiled upscale go. The image is cut into `tile`-sized regions; each runs
 * through the network with `pad` pixels of real image context on every side (less at the image
 * border, where the untiled network sees its zero padding too), and only the region's part of the
 * output is kept. So a tile's output equals the untiled output wherever the pad covers the
 * network's receptive radius; beyond it, pixels near tile edges differ slightly.
 */

export interface Tile {
  /** The region this tile produces, in input pixels: [x0, x1) × [y0, y1). */
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  /** The input window the network sees (the region plus padding, clipped to the image). */
  readonly wx0: number;
  readonly wy0: number;
  readonly wx1: number;
  readonly wy1: number;
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

function checkSize(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer of at least ${min}, got ${value}`);
  }
}

/**
 * Tiles covering width × height, row by row. `multiple`: every coordinate is a multiple of it (a
 * pixel-unshuffling network needs that; width and height must be multiples already).
 */
export function planTiles(width: number, height: number, tile: number, pad: number, multiple = 1): Tile[] {
  checkSize("width", width, 1);
  checkSize("height", height, 1);
  checkSize("tile size", tile, 1);
  checkSize("tile padding", pad, 0);
  checkSize("multiple", multiple, 1);
  if (width % multiple !== 0 || height % multiple !== 0) {
    throw new RangeError(`image ${width}x${height} is not a multiple of ${multiple} on each side`);
  }
  const step = roundUp(tile, multiple);
  const margin = roundUp(pad, multiple);
  const tiles: Tile[] = [];
  for (let y0 = 0; y0 < height; y0 += step) {
    for (let x0 = 0; x0 < width; x0 += step) {
      const x1 = Math.min(x0 + step, width);
      const y1 = Math.min(y0 + step, height);
      tiles.push({
        x0,
        y0,
        x1,
        y1,
        wx0: Math.max(x0 - margin, 0),
        wy0: Math.max(y0 - margin, 0),
        wx1: Math.min(x1 + margin, width),
        wy1: Math.min(y1 + margin, height),
      });
    }
  }
  return tiles;
}
