/**
 * A quick look at a model on disk, for listings: is it a diffusers folder, an ONNX pipeline or a
 * single-file checkpoint, and does it look like Stable Diffusion 1.x or 2.x? Reads only small JSON
 * configs and safetensors headers; it is a label for people, not the architecture detection loaders use.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SafetensorsFile } from "../weights/formats/safetensors.js";

export interface ModelLooks {
  format: "diffusers" | "onnx" | "single-file" | "other";
  /** Looks like SD 1.x (true/false), or null where it cannot be told without loading (pickles). */
  sd1: boolean | null;
  /** Looks like SD 2.x (SD 2.1, SD-Turbo): set only when it does. */
  sd2?: true;
  /** e.g. "StableDiffusionPipeline", "inpainting", "SDXL checkpoint". */
  detail: string;
}

const SD1_PIPELINES = new Set([
  "StableDiffusionPipeline",
  "StableDiffusionImg2ImgPipeline",
  "StableDiffusionInpaintPipeline",
  "OnnxStableDiffusionPipeline",
  "OnnxStableDiffusionImg2ImgPipeline",
  "OnnxStableDiffusionInpaintPipeline",
  "ORTStableDiffusionPipeline",
]);

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf-8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A folder with model_index.json (diffusers or ONNX pipeline layout). */
export function describePipelineFolder(dir: string): ModelLooks {
  const index = readJson(join(dir, "model_index.json"));
  const pipeline = typeof index?._class_name === "string" ? index._class_name : "unknown pipeline";
  const onnx = /^(Onnx|ORT)/.test(pipeline) || existsSync(join(dir, "unet", "model.onnx"));
  const unet = readJson(join(dir, "unet", "config.json"));
  // SD 2.x shares the pipeline class; its UNet attends to 1024-wide OpenCLIP states with linear projections.
  const sd2 = unet?.cross_attention_dim === 1024 || unet?.use_linear_projection === true;
  const inpaint = unet?.in_channels === 9 || pipeline.includes("Inpaint");
  const parts = [pipeline, ...(inpaint ? ["inpainting"] : []), ...(sd2 ? ["SD 2.x UNet"] : [])];
  return {
    format: onnx ? "onnx" : "diffusers",
    sd1: SD1_PIPELINES.has(pipeline) && !sd2,
    ...(SD1_PIPELINES.has(pipeline) && sd2 && { sd2: true as const }),
    detail: parts.join(", "),
  };
}

/** A single checkpoint file: safetensors headers are read, pickles (.ckpt/.pt) are not opened. */
export function describeCheckpointFile(path: string): ModelLooks {
  if (!path.endsWith(".safetensors")) {
    return { format: "single-file", sd1: null, detail: "pickle checkpoint (not inspected)" };
  }
  let file: SafetensorsFile;
  try {
    file = SafetensorsFile.open(path);
  } catch (err) {
    return { format: "other", sd1: false, detail: `unreadable safetensors (${(err as Error).message})` };
  }
  try {
    const names = file.names();
    const has = (prefix: string) => names.some((n) => n.startsWith(prefix));
    const convIn = file.tensors.get("model.diffusion_model.input_blocks.0.0.weight");
    if (has("conditioner.embedders."))
      return { format: "single-file", sd1: false, detail: "SDXL checkpoint" };
    if (convIn && has("cond_stage_model.transformer.")) {
      const inpaint = convIn.shape[1] === 9;
      return { format: "single-file", sd1: true, detail: `${convIn.dtype}${inpaint ? ", inpainting" : ""}` };
    }
    if (convIn && has("cond_stage_model.model."))
      return { format: "single-file", sd1: false, sd2: true, detail: `SD 2.x checkpoint, ${convIn.dtype}` };
    if (has("lora_") || names.some((n) => n.includes(".lora_")))
      return { format: "other", sd1: false, detail: "LoRA" };
    if (has("encoder.") && has("decoder.") && !convIn) return { format: "other", sd1: false, detail: "VAE" };
    return { format: "other", sd1: false, detail: `unrecognised safetensors (${names.length} tensors)` };
  } finally {
    file.close();
  }
}
