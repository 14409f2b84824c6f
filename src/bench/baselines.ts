/**
 * The baselines the speed issue measures sdlite against, run by the bench beside sdlite's own
 * option sets so that both are timed on the same machine under the same load:
 *
 * - "ort-plain": onnxruntime on what a plain torch.onnx export of the UNet and VAE would give,
 *   emulated with sdlite's own graph builder (see ORT_PLAIN_OPTIONS), not an actual torch export.
 * - "sdcpp": stable-diffusion.cpp through the @lmagder/node-stable-diffusion-cpp prebuild
 *   (sdcpp-baseline.ts), on its CPU backend.
 */
import type { OptionSet } from "./option-set.js";
import type { StageName } from "./stage-job.js";

export const BASELINE_NAMES = ["ort-plain", "sdcpp"] as const;
export type BaselineName = (typeof BASELINE_NAMES)[number];

export interface BaselineSpec {
  readonly name: BaselineName;
  /** sdcpp: the folder scripts/sdcpp-baseline/setup.sh made, the package folder or the addon file. */
  readonly path?: string;
}

/**
 * What a plain torch.onnx export (opset 17, fp32) of diffusers' UNet and VAE gives once onnxruntime
 * has optimised it at level "all": attention as MatMul→Softmax→MatMul (torch's export of
 * scaled_dot_product_attention), GroupNorm as Reshape→InstanceNormalization→Reshape→Mul→Add, GELU
 * through Erf, LayerNormalization, fp32 weights, plain Conv for every convolution (no Winograd,
 * which the exact default takes on a machine with the RAM: engine/conv-algorithm-choice.ts), and
 * none of sdlite's own speed options (no int8, no DeepCache). sdlite's builder already emits those ops in that form; the rest of a real export
 * (pre-transposed Linear weights, Shape/Gather chains for dynamic shapes) folds away in ORT's
 * optimiser.
 */
export const ORT_PLAIN_OPTIONS: OptionSet = {
  attention: "matmul",
  unetQuantization: "none",
  deepCacheInterval: 1,
  weightStorage: "fp32",
  convAlgorithm: "direct",
};

/** The stages a baseline can be compared on: the UNet step at batch 1 and 2, and the VAE decode. */
export const BASELINE_STAGES: readonly StageName[] = ["unet1", "unet2", "vae"];

/** How many times faster than each baseline sdlite's effective UNet step must be (issue #6). */
export const REQUIRED_SPEEDUP_VS: Readonly<Record<BaselineName, number>> = {
  "ort-plain": 2,
  sdcpp: 6,
};

/** The label of a baseline's rows in the bench's tables. */
export function baselineLabel(name: BaselineName): string {
  return name === "ort-plain" ? "baseline: ort-plain (emulated export)" : "baseline: stable-diffusion.cpp";
}

/** "ort-plain", "sdcpp" or "sdcpp=PATH". */
export function parseBaseline(text: string): BaselineSpec {
  const eq = text.indexOf("=");
  const name = (eq < 0 ? text : text.slice(0, eq)).trim();
  const path = eq < 0 ? undefined : text.slice(eq + 1).trim();
  if (!(BASELINE_NAMES as readonly string[]).includes(name))
    throw new Error(`unknown baseline "${name}" (baselines: ${BASELINE_NAMES.join(", ")}; sdcpp=PATH)`);
  if (path !== undefined) {
    if (name !== "sdcpp") throw new Error(`baseline "${name}" takes no path`);
    if (path === "") throw new Error("baseline sdcpp=PATH: the path is empty");
  }
  return { name: name as BaselineName, ...(path ? { path } : {}) };
}
