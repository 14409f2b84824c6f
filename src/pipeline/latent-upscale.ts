/**
 * Resizing latents as A1111's hires fix does with its "Latent" upscalers: torch's
 * F.interpolate(samples, size, mode, antialias) on NCHW float32, align_corners False. Each mode is
 * a separable filter: every output row/column is a weighted sum of input rows/columns, so one
 * table of taps per axis serves all channels.
 *
 * - bilinear: source x = (i + 0.5)·in/out − 0.5, clamped at 0, two taps (the last index repeated
 *   at the right edge).
 * - bicubic: the same source x unclamped, four taps with Keys' cubic (A = −0.75), indices clamped.
 * - nearest: floor(i·in/out); nearest-exact: floor((i + 0.5)·in/out), both kept below `in`.
 * - antialiased bilinear/bicubic: PIL-style filters (triangle; cubic with A = −0.5) stretched by
 *   in/out when shrinking, weights normalised over the taps inside the image. Enlarging with the
 *   antialiased bilinear filter gives plain bilinear's weights.
 */

/** A1111's latent upscale modes (shared.latent_upscale_modes), by hr_upscaler name. */
export const LATENT_UPSCALE_MODES = {
  Latent: { mode: "bilinear", antialias: false },
  "Latent (antialiased)": { mode: "bilinear", antialias: true },
  "Latent (bicubic)": { mode: "bicubic", antialias: false },
  "Latent (bicubic antialiased)": { mode: "bicubic", antialias: true },
  "Latent (nearest)": { mode: "nearest", antialias: false },
  "Latent (nearest-exact)": { mode: "nearest-exact", antialias: false },
} as const satisfies Record<string, LatentUpscaleMode>;

export type LatentUpscalerName = keyof typeof LATENT_UPSCALE_MODES;

export interface LatentUpscaleMode {
  readonly mode: "bilinear" | "bicubic" | "nearest" | "nearest-exact";
  readonly antialias: boolean;
}

/** The latent mode an hr_upscaler name stands for (exact, then any case), or undefined. */
export function latentUpscaleMode(name: string): LatentUpscalerName | undefined {
  const names = Object.keys(LATENT_UPSCALE_MODES) as LatentUpscalerName[];
  return names.find((n) => n === name) ?? names.find((n) => n.toLowerCase() === name.toLowerCase());
}

/** One output index's input indices and weights. */
interface Taps {
  readonly index: Int32Array;
  readonly weight: Float64Array;
}

function clampIndex(i: number, size: number): number {
  return Math.min(Math.max(i, 0), size - 1);
}

function cubic(x: number, a: number): number {
  const t = Math.abs(x);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

function plainTaps(mode: LatentUpscaleMode["mode"], inSize: number, outSize: number): Taps[] {
  const scale = inSize / outSize;
  return Array.from({ length: outSize }, (_, i): Taps => {
    if (mode === "nearest" || mode === "nearest-exact") {
      const at = mode === "nearest" ? i * scale : (i + 0.5) * scale;
      return { index: Int32Array.of(Math.min(Math.floor(at), inSize - 1)), weight: Float64Array.of(1) };
    }
    const raw = (i + 0.5) * scale - 0.5;
    if (mode === "bilinear") {
      const x = Math.max(raw, 0);
      const i0 = Math.floor(x);
      const t = x - i0;
      return { index: Int32Array.of(i0, Math.min(i0 + 1, inSize - 1)), weight: Float64Array.of(1 - t, t) };
    }
    const i0 = Math.floor(raw);
    const t = raw - i0;
    return {
      index: Int32Array.from([-1, 0, 1, 2], (d) => clampIndex(i0 + d, inSize)),
      weight: Float64Array.from([1 + t, t, 1 - t, 2 - t], (d) => cubic(d, -0.75)),
    };
  });
}

function antialiasedTaps(mode: "bilinear" | "bicubic", inSize: number, outSize: number): Taps[] {
  const scale = inSize / outSize;
  const stretch = Math.max(scale, 1);
  const support = (mode === "bilinear" ? 1 : 2) * stretch;
  const filter = (x: number) => (mode === "bilinear" ? Math.max(0, 1 - Math.abs(x)) : cubic(x, -0.5));
  return Array.from({ length: outSize }, (_, i): Taps => {
    const centre = (i + 0.5) * scale;
    const from = Math.max(Math.trunc(centre - support + 0.5), 0);
    const to = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const index = Int32Array.from({ length: to - from }, (_, j) => from + j);
    const weight = Float64Array.from(index, (j) => filter((j - centre + 0.5) / stretch));
    const total = weight.reduce((a, b) => a + b, 0);
    return { index, weight: total === 0 ? weight : weight.map((w) => w / total) };
  });
}

function taps(mode: LatentUpscaleMode, inSize: number, outSize: number): Taps[] {
  if (mode.antialias && (mode.mode === "bilinear" || mode.mode === "bicubic"))
    return antialiasedTaps(mode.mode, inSize, outSize);
  return plainTaps(mode.mode, inSize, outSize);
}

/**
 * Latents [n, c, h, w] resized to [n, c, height, width] with `mode` (A1111's F.interpolate call);
 * the result is float32.
 */
export function upscaleLatents(
  latents: Float32Array,
  shape: readonly [number, number, number, number],
  height: number,
  width: number,
  mode: LatentUpscaleMode,
): Float32Array {
  const [n, c, h, w] = shape;
  if (latents.length !== n * c * h * w)
    throw new RangeError(`latents do not have the shape ${shape.join("x")}`);
  const rows = taps(mode, h, height);
  const cols = taps(mode, w, width);
  const out = new Float32Array(n * c * height * width);
  const across = new Float64Array(h * width);
  for (let plane = 0; plane < n * c; plane++) {
    const src = plane * h * w;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < width; x++) {
        const { index, weight } = cols[x];
        let sum = 0;
        for (let t = 0; t < index.length; t++) sum += weight[t] * latents[src + y * w + index[t]];
        across[y * width + x] = sum;
      }
    }
    const dst = plane * height * width;
    for (let y = 0; y < height; y++) {
      const { index, weight } = rows[y];
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let t = 0; t < index.length; t++) sum += weight[t] * across[index[t] * width + x];
        out[dst + y * width + x] = sum;
      }
    }
  }
  return out;
}
