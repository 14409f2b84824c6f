/** The tiny SD1.5 model's UNet and text-encoder weights as LoRA files resolve and merge against them. */
import { join } from "node:path";
import type { LoraTargetModel } from "../../src/lora/lora-targets.js";
import { SafetensorsWeightSource } from "../../src/weights/safetensors-weight-source.js";
import { fixturePath } from "./fixtures.js";
import { TINY_SD15 } from "./tiny-configs.js";

export type TinyLoraModel = LoraTargetModel & {
  unet: SafetensorsWeightSource;
  textEncoder: SafetensorsWeightSource;
};

/** Opens the weights; close both sources when done. */
export function openTinyLoraModel(): TinyLoraModel {
  const dir = fixturePath("models", "tiny-sd15");
  return {
    unet: SafetensorsWeightSource.open(join(dir, "unet", "diffusion_pytorch_model.safetensors")),
    textEncoder: SafetensorsWeightSource.open(join(dir, "text_encoder", "model.safetensors")),
    unetConfig: TINY_SD15.unet,
  };
}
