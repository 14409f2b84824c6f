/**
 * Tiled VAE decode/encode exactly as diffusers 0.27.2's AutoencoderKL.tiled_decode / tiled_encode:
 * the input is cut into overlapping square tiles (stride = tile·(1 − overlap)), each tile goes through
 * the network on its own, and every tile is blended linearly into its upper and left neighbours
 * (blend_v, blend_h) before its top-left `tile − blend` square is kept. The network runs on one
 * tile at a time, so its activation memory is bounded by the tile size whatever the image size.
 *
 * Runtime-agnostic: the network is a `TileTransform` (e.g. a session run). Tiles are processed row
 * by row and only the previous row is kept, which gives the same numbers as diffusers' in-place
 * blending of the full grid (a tile only ever blends with neighbours that are already final).
 * The same scheme serves a TAESD session (diffusers' AutoencoderTiny has its own, different tiling).
 */

/** A float32 NCHW tensor. */
export interface FloatTensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** Runs the network on one tile [batch, C, h, w]; returns its NCHW output. */
export type TileTransform = (tile: FloatTensor) => Promise<FloatTensor>;

export interface TilingOptions {
  /** Tile edge on the input side (latents for decode, pixels for encode). */
  readonly inputTileSize: number;
  /** Tile edge on the output side (pixels for decode, latents for encode). */
  readonly outputTileSize: number;
  /** diffusers' tile_overlap_factor (default 0.25). */
  readonly overlapFactor?: number;
}

export interface TiledVaeOptions {
  /** diffusers' tile_sample_min_size = the VAE config's sample_size (512 for SD1.x). */
  readonly tileSampleSize?: number;
  /** Pixels per latent: 2^(number of VAE blocks − 1) (8 for SD1.x). */
  readonly scaleFactor?: number;
  readonly overlapFactor?: number;
}

export const DEFAULT_TILE_SAMPLE_SIZE = 512;
export const DEFAULT_VAE_SCALE_FACTOR = 8;
export const DEFAULT_TILE_OVERLAP_FACTOR = 0.25;

function tileSizes(options: TiledVaeOptions): { sample: number; latent: number; overlap: number } {
  const sample = options.tileSampleSize ?? DEFAULT_TILE_SAMPLE_SIZE;
  const scale = options.scaleFactor ?? DEFAULT_VAE_SCALE_FACTOR;
  // diffusers: tile_latent_min_size = int(sample_size / 2 ** (len(block_out_channels) - 1))
  return {
    sample,
    latent: Math.trunc(sample / scale),
    overlap: options.overlapFactor ?? DEFAULT_TILE_OVERLAP_FACTOR,
  };
}

/**
 * Latents [b, C, h, w] (already divided by the scaling factor) → image, tiled when h or w exceeds the
 * latent tile size (diffusers' `_decode` with `enable_tiling()`), else one plain `decodeTile` call.
 */
export async function tiledDecode(
  latents: FloatTensor,
  decodeTile: TileTransform,
  options: TiledVaeOptions = {},
): Promise<FloatTensor> {
  const { sample, latent, overlap } = tileSizes(options);
  const [, , h, w] = latents.dims;
  if (h <= latent && w <= latent) return decodeTile(latents);
  return tiledApply(latents, decodeTile, {
    inputTileSize: latent,
    outputTileSize: sample,
    overlapFactor: overlap,
  });
}

/**
 * Image [b, 3, H, W] → the encoder's moments [b, 2L, H/8, W/8] (mean ‖ unclamped logvar, the VAE
 * graph's `moments` output), tiled when H or W exceeds the sample tile size. diffusers blends the
 * moments before DiagonalGaussianDistribution clamps logvar: use latentDistributionFromMoments next.
 */
export async function tiledEncode(
  image: FloatTensor,
  encodeTile: TileTransform,
  options: TiledVaeOptions = {},
): Promise<FloatTensor> {
  const { sample, latent, overlap } = tileSizes(options);
  const [, , h, w] = image.dims;
  if (h <= sample && w <= sample) return encodeTile(image);
  return tiledApply(image, encodeTile, {
    inputTileSize: sample,
    outputTileSize: latent,
    overlapFactor: overlap,
  });
}

/** The tiling loop shared by decode and encode (always tiles, even when one tile would cover the input). */
export async function tiledApply(
  input: FloatTensor,
  transform: TileTransform,
  options: TilingOptions,
): Promise<FloatTensor> {
  const factor = options.overlapFactor ?? DEFAULT_TILE_OVERLAP_FACTOR;
  const { inputTileSize: tileIn, outputTileSize: tileOut } = options;
  const stride = Math.trunc(tileIn * (1 - factor));
  const blendExtent = Math.trunc(tileOut * factor);
  const rowLimit = tileOut - blendExtent;
  if (input.dims.length !== 4) throw new Error(`tiling needs an NCHW tensor, got [${input.dims.join(", ")}]`);
  if (!(stride >= 1) || !(rowLimit >= 1)) {
    throw new Error(
      `tile sizes ${tileIn} → ${tileOut} with overlap ${factor} leave no stride or no kept region`,
    );
  }
  // diffusers truncates stride and blend separately; unless they agree, the kept squares do not add up
  // to the scaled input size (e.g. 25 → 200: 18-latent steps keep 150 pixels, not 144)
  if (rowLimit * tileIn !== stride * tileOut) {
    throw new Error(
      `tile sizes ${tileIn} → ${tileOut} with overlap ${factor}: a step of ${stride} keeps ${rowLimit}, which is not ${tileOut}/${tileIn} of it; use tile sizes for which tile × overlap is a whole number (e.g. multiples of 4 latents)`,
    );
  }
  const [, , height, width] = input.dims;

  const strips: FloatTensor[] = [];
  let previousRow: FloatTensor[] | undefined;
  for (let i = 0; i < height; i += stride) {
    const row: FloatTensor[] = [];
    const kept: FloatTensor[] = [];
    for (let j = 0; j < width; j += stride) {
      const tile = await transform(
        sliceSpatial(input, i, Math.min(i + tileIn, height), j, Math.min(j + tileIn, width)),
      );
      const blended = { data: Float32Array.from(tile.data), dims: [...tile.dims] };
      if (previousRow) blendVertical(previousRow[row.length], blended, blendExtent);
      if (row.length > 0) blendHorizontal(row[row.length - 1], blended, blendExtent);
      row.push(blended);
      kept.push(
        sliceSpatial(blended, 0, Math.min(rowLimit, blended.dims[2]), 0, Math.min(rowLimit, blended.dims[3])),
      );
    }
    strips.push(concatSpatial(kept, 3));
    previousRow = row;
  }
  return concatSpatial(strips, 2);
}

/**
 * diffusers' blend_v: the first e rows of `lower` fade in from the last e rows of `upper`,
 * e = min(both heights, extent); float32 scalar weights as torch applies them. Modifies `lower`.
 */
export function blendVertical(upper: FloatTensor, lower: FloatTensor, extent: number): void {
  const [batch, channels, upperH, w] = upper.dims;
  const lowerH = lower.dims[2];
  if (lower.dims[0] !== batch || lower.dims[1] !== channels || lower.dims[3] !== w) {
    throw new Error(
      `blend_v: tiles [${upper.dims.join(", ")}] and [${lower.dims.join(", ")}] do not line up`,
    );
  }
  const e = Math.min(upperH, lowerH, extent);
  for (let y = 0; y < e; y++) {
    const keep = Math.fround(1 - y / e);
    const take = Math.fround(y / e);
    for (let p = 0; p < batch * channels; p++) {
      const a = (p * upperH + upperH - e + y) * w;
      const b = (p * lowerH + y) * w;
      for (let x = 0; x < w; x++) {
        lower.data[b + x] = Math.fround(upper.data[a + x] * keep) + Math.fround(lower.data[b + x] * take);
      }
    }
  }
}

/** diffusers' blend_h: the first e columns of `right` fade in from the last e columns of `left`. Modifies `right`. */
export function blendHorizontal(left: FloatTensor, right: FloatTensor, extent: number): void {
  const [batch, channels, h, leftW] = left.dims;
  const rightW = right.dims[3];
  if (right.dims[0] !== batch || right.dims[1] !== channels || right.dims[2] !== h) {
    throw new Error(`blend_h: tiles [${left.dims.join(", ")}] and [${right.dims.join(", ")}] do not line up`);
  }
  const e = Math.min(leftW, rightW, extent);
  for (let x = 0; x < e; x++) {
    const keep = Math.fround(1 - x / e);
    const take = Math.fround(x / e);
    for (let r = 0; r < batch * channels * h; r++) {
      const a = r * leftW + leftW - e + x;
      const b = r * rightW + x;
      right.data[b] = Math.fround(left.data[a] * keep) + Math.fround(right.data[b] * take);
    }
  }
}

/** x[:, :, top:bottom, left:right] as a new tensor. */
export function sliceSpatial(
  x: FloatTensor,
  top: number,
  bottom: number,
  left: number,
  right: number,
): FloatTensor {
  const [batch, channels, h, w] = x.dims;
  const outH = bottom - top;
  const outW = right - left;
  const data = new Float32Array(batch * channels * outH * outW);
  for (let p = 0; p < batch * channels; p++) {
    for (let y = 0; y < outH; y++) {
      const from = (p * h + top + y) * w + left;
      data.set(x.data.subarray(from, from + outW), (p * outH + y) * outW);
    }
  }
  return { data, dims: [batch, channels, outH, outW] };
}

/** torch.cat on axis 2 (height) or 3 (width) of NCHW tensors. */
export function concatSpatial(parts: readonly FloatTensor[], axis: 2 | 3): FloatTensor {
  const [batch, channels] = parts[0].dims;
  const other = axis === 2 ? 3 : 2;
  const fixed = parts[0].dims[other];
  for (const p of parts) {
    if (p.dims[0] !== batch || p.dims[1] !== channels || p.dims[other] !== fixed) {
      throw new Error(
        `cannot concatenate [${p.dims.join(", ")}] with [${parts[0].dims.join(", ")}] on axis ${axis}`,
      );
    }
  }
  const total = parts.reduce((sum, p) => sum + p.dims[axis], 0);
  const dims = axis === 2 ? [batch, channels, total, fixed] : [batch, channels, fixed, total];
  const data = new Float32Array(batch * channels * total * fixed);
  // per (batch, channel) plane: heights stack as whole blocks, widths interleave row by row
  const planeSize = total * fixed;
  for (let p = 0; p < batch * channels; p++) {
    let offset = 0;
    for (const part of parts) {
      const [, , ph, pw] = part.dims;
      if (axis === 2) {
        data.set(part.data.subarray(p * ph * pw, (p + 1) * ph * pw), p * planeSize + offset * fixed);
      } else {
        for (let y = 0; y < ph; y++) {
          const from = (p * ph + y) * pw;
          data.set(part.data.subarray(from, from + pw), p * planeSize + y * total + offset);
        }
      }
      offset += part.dims[axis];
    }
  }
  return { data, dims };
}
