/**
 * LoRAs already read (LoraFile) merged into a model's UNet and text-encoder weights, and described
 * for the graph cache (fingerprint, which network changed). No file access: apply-loras.ts reads
 * the files in Node, the in-tab engine (web/src/local/) reads Blobs, and both merge here.
 */
import { loraFingerprint } from "../lora/lora-fingerprint.js";
import type { LoraFile } from "../lora/lora-module.js";
import { mergeLoras } from "../lora/merge-lora.js";
import type { TextEncoderConfig, UNetConfig } from "../weights/architecture/model-config.js";
import type { LoadedWeightsModel } from "../weights/loaded-model.js";
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

/** The model's weights with `loras` fused in, in their order (an empty list: the model's own). */
export function mergeLoadedLoras(model: LoadedWeightsModel, loras: readonly LoadedLora[]): LoraMergedWeights {
  const own = { unet: model.unet.weights, textEncoder: model.textEncoder.weights };
  const weighted = loras.map((l) => ({ lora: l.file, weight: l.weight }));
  const merged = mergeLoras(own, weighted);
  const fingerprint = loraFingerprint(weighted);
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
