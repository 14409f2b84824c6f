/**
 * A run's images stay in memory until its last batch ends (raw pixels, then their PNGs), so a huge
 * --batch-count at a real size would fill the memory hours in and save nothing. Such a run is
 * refused up front, saying how many images of that size one run can make.
 */
import { InvalidRequestError } from "../pipeline/invalid-request.js";

/** The most memory a run's finished images may hold. */
export const MAX_HELD_IMAGE_BYTES = 4 * 1024 ** 3;
/** Bytes held per pixel of a finished image: RGB, plus its PNG and the PNG's base64 at the end. */
const HELD_BYTES_PER_PIXEL = 3 * 2.5;

export function checkHeldImages(width: number, height: number, batchSize: number, batchCount: number): void {
  const perImage = width * height * HELD_BYTES_PER_PIXEL;
  const images = batchSize * batchCount;
  if (images * perImage <= MAX_HELD_IMAGE_BYTES) return;
  const most = Math.floor(MAX_HELD_IMAGE_BYTES / perImage);
  const gib = ((images * perImage) / 1024 ** 3).toFixed(1);
  throw new InvalidRequestError(
    `${images} images of ${width}x${height} (--batch-size ${batchSize} × --batch-count ${batchCount}) would hold about ${gib} GiB until the run ends; one run makes at most ${most} of that size: run it in parts`,
  );
}
