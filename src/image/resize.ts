/**
 * PIL's Image.resize for 8-bit images (libImaging/Resample.c), so an init image or mask of another
 * size is resampled as diffusers' VaeImageProcessor (resample="lanczos") and A1111 do it:
 * separable convolution (horizontal pass, then vertical), support scaled by the downscale factor,
 * coefficients normalised then fixed to 22 fractional bits, each pass rounded and clipped to 8 bits.
 * Only libm's sin() can differ from PIL here, and it is far below one fixed-point step.
 */
import { checkPixelCount, type GrayImage, type RgbImage } from "./types.js";

export type ResampleFilter = "lanczos" | "bicubic" | "bilinear";

interface Kernel {
  readonly support: number;
  readonly weight: (x: number) => number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

const KERNELS: Record<ResampleFilter, Kernel> = {
  lanczos: { support: 3, weight: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
  bicubic: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  bilinear: { support: 1, weight: (x) => Math.max(0, 1 - Math.abs(x)) },
};

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

interface Coefficients {
  readonly ksize: number;
  /** Per output index: first source index and count. */
  readonly first: Int32Array;
  readonly count: Int32Array;
  /** outSize × ksize fixed-point weights. */
  readonly weights: Int32Array;
}

/** Resample.c precompute_coeffs + normalize_coeffs_8bpc, for the full box [0, inSize). */
function coefficients(inSize: number, outSize: number, kernel: Kernel): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = kernel.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = kernel.weight((x + xmin - center + 0.5) * ss);
      sum += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum !== 0 ? k[x] / sum : k[x];
      weights[xx * ksize + x] = Math.trunc(w < 0 ? -0.5 + w * ONE : 0.5 + w * ONE);
    }
    first[xx] = xmin;
    count[xx] = xmax;
  }
  return { ksize, first, count, weights };
}

function clip8(acc: number): number {
  const v = Math.floor(acc / ONE);
  return Math.min(Math.max(v, 0), 255);
}

/**
 * Resamples interleaved 8-bit data with `channels` channels. Like PIL, a pass whose size does not
 * change is skipped, and the horizontal pass only computes the source rows the vertical one reads.
 */
function resample(
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  filter: ResampleFilter,
): Uint8Array {
  const kernel = KERNELS[filter];
  const needH = outWidth !== width;
  const needV = outHeight !== height;
  if (!needH && !needV) return data.slice();
  const vert = coefficients(height, outHeight, kernel);
  let src = data;
  let rowOffset = 0;
  if (needH) {
    const hor = coefficients(width, outWidth, kernel);
    const firstRow = vert.first[0];
    const lastRow = vert.first[outHeight - 1] + vert.count[outHeight - 1];
    const srcRows = lastRow - firstRow;
    rowOffset = firstRow;
    const tmp = new Uint8Array(srcRows * outWidth * channels);
    for (let y = 0; y < srcRows; y++) {
      const row = (y + firstRow) * width;
      for (let xx = 0; xx < outWidth; xx++) {
        const xmin = hor.first[xx];
        const n = hor.count[xx];
        const kb = xx * hor.ksize;
        for (let c = 0; c < channels; c++) {
          let acc = HALF;
          for (let x = 0; x < n; x++) acc += data[(row + xmin + x) * channels + c] * hor.weights[kb + x];
          tmp[(y * outWidth + xx) * channels + c] = clip8(acc);
        }
      }
    }
    src = tmp;
  }
  if (!needV) return src;
  const w = needH ? outWidth : width;
  const out = new Uint8Array(outHeight * w * channels);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = vert.first[yy] - rowOffset;
    const n = vert.count[yy];
    const kb = yy * vert.ksize;
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < channels; c++) {
        let acc = HALF;
        for (let y = 0; y < n; y++) acc += src[((ymin + y) * w + x) * channels + c] * vert.weights[kb + y];
        out[(yy * w + x) * channels + c] = clip8(acc);
      }
    }
  }
  return out;
}

function checkTarget(width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`resize target must be positive integers, got ${width}x${height}`);
  }
}

/** PIL image.resize((width, height), resample) for an RGB image; lanczos as diffusers uses. */
export function resizeRgb(
  image: RgbImage,
  width: number,
  height: number,
  filter: ResampleFilter = "lanczos",
): RgbImage {
  checkPixelCount(image.width, image.height, 3, image.data.length);
  checkTarget(width, height);
  return { width, height, data: resample(image.data, image.width, image.height, 3, width, height, filter) };
}

/** PIL resize of an "L" image (masks, before binarising). */
export function resizeGray(
  image: GrayImage,
  width: number,
  height: number,
  filter: ResampleFilter = "lanczos",
): GrayImage {
  checkPixelCount(image.width, image.height, 1, image.data.length);
  checkTarget(width, height);
  return { width, height, data: resample(image.data, image.width, image.height, 1, width, height, filter) };
}

/**
 * The size diffusers generates at for an init image when none is given
 * (VaeImageProcessor.get_default_height_width): each side rounded down to a multiple of 8.
 */
export function defaultGenerationSize(width: number, height: number, multiple = 8) {
  return { width: width - (width % multiple), height: height - (height % multiple) };
}
