/**
 * The region A1111's "Only masked" inpainting (inpaint_full_res) works on, as masking.py computes
 * it: the bounding box of the mask's non-zero pixels grown by the padding and clipped to the image
 * (get_crop_region_v2), then grown along one axis to the generation size's aspect ratio and shifted
 * back inside the image (expand_crop_region). Boxes are [x1, y1, x2, y2), x2 and y2 exclusive.
 */
import { checkPixelCount, type GrayImage } from "./types.js";

export type CropBox = readonly [x1: number, y1: number, x2: number, y2: number];

/** The padded bounding box of the non-zero pixels, or undefined for an all-black mask (PIL getbbox). */
export function maskCropRegion(mask: GrayImage, padding = 0): CropBox | undefined {
  const { width, height, data } = mask;
  checkPixelCount(width, height, 1, data.length);
  let [x1, y1, x2, y2] = [width, height, 0, 0];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[y * width + x] === 0) continue;
      if (x < x1) x1 = x;
      if (x >= x2) x2 = x + 1;
      if (y < y1) y1 = y;
      if (y >= y2) y2 = y + 1;
    }
  }
  if (x2 === 0) return undefined;
  if (!padding) return [x1, y1, x2, y2];
  return [
    Math.max(x1 - padding, 0),
    Math.max(y1 - padding, 0),
    Math.min(x2 + padding, width),
    Math.min(y2 + padding, height),
  ];
}

/** Python's int() of a float: towards zero. */
const int = Math.trunc;
/** Python's // on integers: towards −∞. */
const floorDiv = (a: number, b: number) => Math.floor(a / b);

/**
 * expand_crop_region: the box grown to the processing aspect ratio (width / height) around its
 * centre along the short axis, moved back inside image and finally clipped to it.
 */
export function expandCropRegion(
  box: CropBox,
  processingWidth: number,
  processingHeight: number,
  imageWidth: number,
  imageHeight: number,
): CropBox {
  let [x1, y1, x2, y2] = box;
  const ratioCrop = (x2 - x1) / (y2 - y1);
  const ratioProcessing = processingWidth / processingHeight;
  if (ratioCrop > ratioProcessing) {
    const desiredHeight = (x2 - x1) / ratioProcessing;
    const diff = int(desiredHeight - (y2 - y1));
    y1 -= floorDiv(diff, 2);
    y2 += diff - floorDiv(diff, 2);
    if (y2 >= imageHeight) {
      const over = y2 - imageHeight;
      y2 -= over;
      y1 -= over;
    }
    if (y1 < 0) {
      y2 -= y1;
      y1 = 0;
    }
    if (y2 >= imageHeight) y2 = imageHeight;
  } else {
    const desiredWidth = (y2 - y1) * ratioProcessing;
    const diff = int(desiredWidth - (x2 - x1));
    x1 -= floorDiv(diff, 2);
    x2 += diff - floorDiv(diff, 2);
    if (x2 >= imageWidth) {
      const over = x2 - imageWidth;
      x2 -= over;
      x1 -= over;
    }
    if (x1 < 0) {
      x2 -= x1;
      x1 = 0;
    }
    if (x2 >= imageWidth) x2 = imageWidth;
  }
  return [x1, y1, x2, y2];
}
