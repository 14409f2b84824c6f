/**
 * A1111's paste-back after inpainting (processing.apply_overlay): the original image, made
 * transparent where the overlay mask is white, is alpha-composited over the generated image, so
 * pixels the mask leaves black are the original's exactly. With "Only masked" the generated image is
 * first scaled back to the crop box ("Crop and resize") and placed there on a transparent canvas of
 * the original's size.
 */
import { alphaCompositeInto } from "./alpha-composite.js";
import type { CropBox } from "./crop-region.js";
import { dropAlpha, opaqueRgba, premultipliedThrough, unpremultiply } from "./premultiplied-alpha.js";
import { resizeImageMode } from "./resize-modes.js";
import type { GrayImage, RgbImage } from "./types.js";

export function pasteOverlay(
  generated: RgbImage,
  original: RgbImage,
  overlayMask: GrayImage,
  box?: CropBox,
): RgbImage {
  const { width, height } = original;
  let base: Uint8Array;
  if (box) {
    const [x1, y1, x2, y2] = box;
    const scaled = resizeImageMode(1, generated, 3, x2 - x1, y2 - y1);
    base = new Uint8Array(width * height * 4);
    for (let y = 0; y < scaled.height; y++) {
      for (let x = 0; x < scaled.width; x++) {
        const d = ((y + y1) * width + x + x1) * 4;
        base.set(scaled.data.subarray((y * scaled.width + x) * 3, (y * scaled.width + x) * 3 + 3), d);
        base[d + 3] = 255;
      }
    }
  } else {
    if (generated.width !== width || generated.height !== height) {
      throw new RangeError(
        `generated image is ${generated.width}x${generated.height}, original ${width}x${height}`,
      );
    }
    base = opaqueRgba(generated);
  }
  const kept: GrayImage = { width, height, data: overlayMask.data.map((v) => 255 - v) };
  alphaCompositeInto(base, unpremultiply(premultipliedThrough(original, kept)));
  return dropAlpha(base, width, height);
}
