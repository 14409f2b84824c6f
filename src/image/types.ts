/**
 * The plain pixel types the image stage hands to pipelines and back: 8-bit, channels interleaved
 * (HWC, row-major), no runtime objects. Tensors are Float32Array plus an explicit shape elsewhere.
 */

/** 8-bit pixels with 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) interleaved channels. */
export interface Pixels {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 2 | 3 | 4;
  /** width * height * channels bytes. */
  readonly data: Uint8Array;
}

/** An RGB image: data holds width * height * 3 bytes, HWC. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** A single-channel 8-bit image (masks): data holds width * height bytes. */
export interface GrayImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export function rgbPixels(image: RgbImage): Pixels {
  return { width: image.width, height: image.height, channels: 3, data: image.data };
}

/** Throws when data does not hold exactly width * height * channels bytes. */
export function checkPixelCount(width: number, height: number, channels: number, length: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`image size must be positive integers, got ${width}x${height}`);
  }
  if (length !== width * height * channels) {
    throw new RangeError(
      `image data has ${length} bytes, expected ${width}x${height}x${channels} = ${width * height * channels}`,
    );
  }
}
