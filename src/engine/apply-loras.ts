/**
 * LoRAs into a model's weights: each file read against the model's own names, merged into the
 * UNet and text encoder, and described for the graph cache (fingerprint, which network changed).
 */
import { readLoraFile } from "../lora/lora-file.js";
import { loraFingerprint } from "../lora/lora-fingerprint.js";
import type { LoraFile } from "../lora/lora-module.js";
import { mergeLoras } from "../lora/merge-lora.js";
import type { TextEncoderConfig, UNetConfig } from "../weights/architecture/model-config.js";
import type { LoadedModel, LoadedWeightsModel } from "../weights/loaded-model.js";
import type { LoraRequest } from "./engine-options.js";
import type { NetworkWeights } from "./networks/network-factory.js";

export interface LoadedLora {
  readonly file: LoraFile;
  readonly weight: number;
}

export interface LoraMergedWeights {
  readonly loras: readonly LoadedLora[];
  readonly unet: NetworkWeights<UNetConfig>;
  readonly textEncoder: NetworkWeights<TextEncoderConfig>;
}

export function applyLoras(model: LoadedWeightsModel, requests: readonly LoraRequest[]): LoraMergedWeights {
  const own = { unet: model.unet.weights, textEncoder: model.textEncoder.weights };
  const loras = requests.map((l) => ({ file: readLoraFile(l.path, own), weight: l.weight }));
  const merged = mergeLoras(
    own,
    loras.map((l) => ({ lora: l.file, weight: l.weight })),
  );
  const fingerprint = loraFingerprint(loras.map((l) => ({ lora: l.file, weight: l.weight })));
  return {
    loras,
    unet: {
      component: model.unet,
      weights: merged.unet,
      lora: { fingerprint, changed: merged.unet.changedNames().length > 0 },
    },
    textEncoder: {
      component: model.textEncoder,
      weights: merged.textEncoder,
      lora: { fingerprint, changed: merged.textEncoder.changedNames().length > 0 },
    },
  };
}

/** ONNX folders bake their weights into the graphs: a LoRA request is an error there. */
export function refuseLorasOnOnnx(model: LoadedModel, requests: readonly LoraRequest[]): void {
  if (model.format === "onnx" && requests.length > 0) {
    throw new Error(
      `${model.path}: LoRAs cannot be applied to an ONNX pipeline folder (its weights are baked into the graphs); use the checkpoint or diffusers folder instead`,
    );
  }
}
