/**
 * A1111's images.resize_image(mode, im, width, height) with its default upscaler (none: PIL Lanczos):
 *   0 "Just resize": stretched to width × height;
 *   1 "Crop and resize": scaled to cover width × height, centred, the excess cut off;
 *   2 "Resize and fill": scaled to fit inside, centred, the empty bands filled by stretching the
 *     image's edge (PIL's default bicubic resize of a zero-width box at the edge, so each band
 *     repeats one line blended from the two next to the edge).
 * Images are RGB (3 channels) or gray (1).
 */
import { resizeGray, resizeRgb } from "./resize.js";

export interface ModeImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export type ResizeMode = 0 | 1 | 2;

function resize(image: ModeImage, channels: 1 | 3, width: number, height: number): ModeImage {
  if (image.width === width && image.height === height) return image;
  return channels === 3 ? resizeRgb(image, width, height) : resizeGray(image, width, height);
}

/** Pillow's Image.paste of `src` at (x, y) into `dst` (same channels), clipped to dst. */
function paste(dst: ModeImage, src: ModeImage, channels: number, x0: number, y0: number): void {
  for (let y = Math.max(0, -y0); y < src.height && y + y0 < dst.height; y++) {
    for (let x = Math.max(0, -x0); x < src.width && x + x0 < dst.width; x++) {
      const s = (y * src.width + x) * channels;
      dst.data.set(src.data.subarray(s, s + channels), ((y + y0) * dst.width + x + x0) * channels);
    }
  }
}

/** Pillow's bicubic kernel (a = −0.5), support 2: the default filter of Image.resize. */
function bicubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

/**
 * Pillow's fixed-point weights for resizing a zero-extent box at `at` (0 or size) of a line of
 * `size` samples, with the default (bicubic) filter A1111 leaves there: the taps next to that
 * edge, normalised, 22 fractional bits.
 */
function edgeWeights(size: number, at: number): { first: number; weights: number[] } {
  const first = Math.max(Math.trunc(at - 2 + 0.5), 0);
  const last = Math.min(Math.trunc(at + 2 + 0.5), size);
  const raw = Array.from({ length: last - first }, (_, i) => bicubic(i + first - at + 0.5));
  const sum = raw.reduce((a, b) => a + b, 0);
  const one = 2 ** 22;
  const weights = raw.map((w) => {
    const v = sum !== 0 ? w / sum : w;
    return Math.trunc(v < 0 ? -0.5 + v * one : 0.5 + v * one);
  });
  return { first, weights };
}

/** One line blended from the lines next to the edge `at` (0 or the image's side) along `vertical`. */
function edgeLine(image: ModeImage, channels: number, vertical: boolean, at: number): Uint8Array {
  const size = vertical ? image.height : image.width;
  const length = vertical ? image.width : image.height;
  const { first, weights } = edgeWeights(size, at);
  const out = new Uint8Array(length * channels);
  for (let i = 0; i < length; i++) {
    for (let c = 0; c < channels; c++) {
      let acc = 2 ** 21;
      weights.forEach((w, k) => {
        const [x, y] = vertical ? [i, first + k] : [first + k, i];
        acc += image.data[(y * image.width + x) * channels + c] * w;
      });
      out[i * channels + c] = Math.min(255, Math.max(0, Math.floor(acc / 2 ** 22)));
    }
  }
  return out;
}

/** A band of `thickness` lines each equal to `line`, as an image. */
function band(line: Uint8Array, channels: number, vertical: boolean, thickness: number): ModeImage {
  const length = line.length / channels;
  const [width, height] = vertical ? [length, thickness] : [thickness, length];
  const data = new Uint8Array(width * height * channels);
  for (let t = 0; t < thickness; t++) {
    for (let i = 0; i < length; i++) {
      const [x, y] = vertical ? [i, t] : [t, i];
      data.set(line.subarray(i * channels, (i + 1) * channels), (y * width + x) * channels);
    }
  }
  return { width, height, data };
}

export function resizeImageMode(
  mode: ResizeMode,
  image: ModeImage,
  channels: 1 | 3,
  width: number,
  height: number,
): ModeImage {
  if (mode === 0) return resize(image, channels, width, height);
  const ratio = width / height;
  const srcRatio = image.width / image.height;
  const out: ModeImage = { width, height, data: new Uint8Array(width * height * channels) };
  const srcW =
    mode === 1
      ? ratio > srcRatio
        ? width
        : Math.floor((image.width * height) / image.height)
      : ratio < srcRatio
        ? width
        : Math.floor((image.width * height) / image.height);
  const srcH =
    mode === 1
      ? ratio <= srcRatio
        ? height
        : Math.floor((image.height * width) / image.width)
      : ratio >= srcRatio
        ? height
        : Math.floor((image.height * width) / image.width);
  // a sliver (1 px against a wide target) would scale to nothing; keep one line of it
  const resized = resize(image, channels, Math.max(srcW, 1), Math.max(srcH, 1));
  paste(
    out,
    resized,
    channels,
    Math.floor(width / 2) - Math.floor(srcW / 2),
    Math.floor(height / 2) - Math.floor(srcH / 2),
  );
  if (mode === 2 && ratio !== srcRatio) {
    const vertical = ratio < srcRatio;
    const fill = vertical
      ? Math.floor(height / 2) - Math.floor(srcH / 2)
      : Math.floor(width / 2) - Math.floor(srcW / 2);
    if (fill > 0) {
      const size = vertical ? resized.height : resized.width;
      const before = band(edgeLine(resized, channels, vertical, 0), channels, vertical, fill);
      const after = band(edgeLine(resized, channels, vertical, size), channels, vertical, fill);
      paste(out, before, channels, 0, 0);
      paste(out, after, channels, vertical ? 0 : fill + srcW, vertical ? fill + srcH : 0);
    }
  }
  return out;
}
