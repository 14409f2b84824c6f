/**
 * LoRA files into a model's weights: each file read from disk against the model's own names, then
 * merged into the UNet and text encoder (lora-merged-weights.ts, shared with the browser).
 */
import { readLoraFile } from "../lora/lora-file.js";
import type { LoadedModel, LoadedWeightsModel } from "../weights/loaded-model.js";
import type { LoraRequest } from "./engine-options.js";
import { type LoraMergedWeights, mergeLoadedLoras } from "./lora-merged-weights.js";

export type { LoadedLora, LoraMergedWeights } from "./lora-merged-weights.js";

export function applyLoras(model: LoadedWeightsModel, requests: readonly LoraRequest[]): LoraMergedWeights {
  const own = { unet: model.unet.weights, textEncoder: model.textEncoder.weights };
  return mergeLoadedLoras(
    model,
    requests.map((l) => ({ file: readLoraFile(l.path, own), weight: l.weight })),
  );
}

/** ONNX folders bake their weights into the graphs: a LoRA request is an error there. */
export function refuseLorasOnOnnx(model: LoadedModel, requests: readonly LoraRequest[]): void {
  if (model.format === "onnx" && requests.length > 0) {
    throw new Error(
      `${model.path}: LoRAs cannot be applied to an ONNX pipeline folder (its weights are baked into the graphs); use the checkpoint or diffusers folder instead`,
    );
  }
}
