/**
 * 8-bit RGB ↔ the [0, 1] float planes ESRGAN-family networks take (BasicSR/Real-ESRGAN: x / 255 in,
 * clamp(0, 1) · 255 rounded out). Padding to a multiple mirrors the edge (numpy/torch "reflect"),
 * as Real-ESRGAN pads the input of a pixel-unshuffling model.
 */
import { roundHalfEven } from "../image/convert.js";

/** Reflected index into [0, size): -1 → 1, size → size − 2 (edge pixel not repeated). */
function reflect(i: number, size: number): number {
  if (size === 1) return 0;
  let j = i;
  while (j < 0 || j >= size) j = j < 0 ? -j : 2 * (size - 1) - j;
  return j;
}

/** HWC bytes → CHW floats in [0, 1], padded right and bottom by reflection to paddedW × paddedH. */
export function bytesToPlanes(
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
  paddedWidth = width,
  paddedHeight = height,
): Float32Array {
  const out = new Float32Array(channels * paddedWidth * paddedHeight);
  const plane = paddedWidth * paddedHeight;
  for (let y = 0; y < paddedHeight; y++) {
    const sy = reflect(y, height);
    for (let x = 0; x < paddedWidth; x++) {
      const src = (sy * width + reflect(x, width)) * channels;
      const dst = y * paddedWidth + x;
      for (let c = 0; c < channels; c++) out[c * plane + dst] = data[src + c] / 255;
    }
  }
  return out;
}

/** A float in [0, 1] (clamped) to a byte as Real-ESRGAN does: round(float32(v · 255)). */
export function unitToByte(value: number): number {
  const v = Number.isNaN(value) ? 0 : Math.min(Math.max(value, 0), 1);
  return roundHalfEven(Math.fround(v * 255));
}
