/**
 * Pillow's ImageFilter.GaussianBlur(radius) on 8-bit interleaved channels (libImaging/BoxBlur.c):
 * not a true Gaussian but three box blurs of a fractional radius chosen to give the same variance
 * (Gwosdek et al.), run three times along x, then three times along y, each pass rounded to 8 bits.
 * Edges repeat the outermost pixel. A1111's masked-content "fill" is built from these blurs.
 */

const f32 = Math.fround;

/** BoxBlur.c _gaussian_blur_radius: the fractional box radius whose `passes` boxes have variance radius². */
export function boxRadiusForGaussian(radius: number, passes = 3): number {
  const sigma2 = f32(f32(radius * radius) / passes);
  const L = f32(Math.sqrt(12 * sigma2 + 1));
  const l = f32(Math.floor((L - 1) / 2));
  let a = f32(f32(2 * l + 1) * f32(f32(l * f32(l + 1)) - f32(3 * sigma2)));
  a = f32(a / f32(6 * f32(sigma2 - f32(f32(l + 1) * f32(l + 1)))));
  return f32(l + a);
}

/**
 * One box pass over `count` lines of `length` samples (`stride` apart; lines `lineStep` apart):
 * out = (ww·Σ|k|≤r in[x+k] + fw·(in[x−r−1] + in[x+r+1]) + 2²³) >> 24 with r = ⌊radius⌋, indices
 * clamped to the line, ww = 2²⁴ / (2·radius + 1) and fw the rest of 2²⁴ split over the two far taps.
 */
function boxPass(
  data: Uint8Array,
  channels: number,
  count: number,
  length: number,
  stride: number,
  lineStep: number,
  radius: number,
): Uint8Array {
  const r = Math.trunc(radius);
  const ww = Math.trunc(f32(16777216 / f32(f32(radius * 2) + 1)));
  const fw = Math.floor((16777216 - (r * 2 + 1) * ww) / 2);
  const out = new Uint8Array(data.length);
  const last = length - 1;
  const clamp = (i: number) => Math.max(0, Math.min(i, last));
  for (let line = 0; line < count; line++) {
    const base = line * lineStep;
    for (let c = 0; c < channels; c++) {
      const at = (i: number) => data[base + clamp(i) * stride + c];
      let acc = 0;
      for (let k = -r; k <= r; k++) acc += at(k);
      for (let x = 0; x < length; x++) {
        if (x > 0) acc += at(x + r) - at(x - r - 1);
        const bulk = acc * ww + (at(x - r - 1) + at(x + r + 1)) * fw;
        out[base + x * stride + c] = Math.floor((bulk + 8388608) / 16777216);
      }
    }
  }
  return out;
}

/** Image.filter(ImageFilter.GaussianBlur(radius)) for width × height pixels of `channels` bytes. */
export function pilGaussianBlur(
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
  radius: number,
): Uint8Array {
  if (data.length !== width * height * channels) {
    throw new RangeError(`pilGaussianBlur: ${data.length} bytes is not ${width}x${height}x${channels}`);
  }
  if (radius <= 0) return data.slice();
  const box = boxRadiusForGaussian(radius);
  let out = data;
  for (let p = 0; p < 3; p++) out = boxPass(out, channels, height, width, channels, width * channels, box);
  for (let p = 0; p < 3; p++) out = boxPass(out, channels, width, height, width * channels, channels, box);
  return out;
}
