/**
 * The smallest request around an init image and mask, for tests of the inpainting preparation
 * (pipeline/a1111-inpainting.ts prepareInpainting), which reads only the images and the size.
 */
import type { GrayImage, RgbImage } from "../../src/image/types.js";
import type { GenerationRequest } from "../../src/pipeline/request.js";

/** An empty prompt, one Euler step at guidance 1, seed 1, at `width` × `height`. */
export function inpaintRequest(
  width: number,
  height: number,
  initImage: RgbImage,
  mask: GrayImage,
): GenerationRequest {
  return { prompt: "", sampler: "Euler", steps: 1, guidance: 1, seed: 1, width, height, initImage, mask };
}
