/**
 * An SD1.x single-file checkpoint (original LDM layout, F32/F16/BF16): architecture detected from
 * the tensor shapes, every component checked against the tensor list its config implies, then
 * served under canonical names through the LDM key maps.
 */
import {
  type ArchitectureOverrides,
  mergeOverrides,
  readOverridesSidecar,
} from "./architecture/architecture-overrides.js";
import {
  classifyWeightFile,
  type DetectedCheckpoint,
  detectLdmCheckpoint,
  normaliseLdmKeys,
  type WeightFileKind,
} from "./architecture/detect-architecture.js";
import type { TextEncoderConfig, UNetConfig, VaeConfig } from "./architecture/model-config.js";
import { openWeightsFile } from "./formats/open-weights-file.js";
import type { TensorFile } from "./formats/tensor-file.js";
import { LDM_PREFIXES, textEncoderTensorMap, unetTensorMap, vaeTensorMap } from "./key-maps/ldm-key-map.js";
import { ldmComponent } from "./ldm-component.js";
import type { WeightsComponent } from "./loaded-model.js";
import { ModelLoadError } from "./model-load-error.js";

const FILE_KIND_ADVICE: Record<Exclude<WeightFileKind, "ldm-checkpoint">, string> = {
  "ldm-vae": "a standalone VAE; give it as the VAE (options.vae) together with an SD1.x checkpoint",
  "diffusers-vae": "a standalone VAE; give it as the VAE (options.vae) together with an SD1.x checkpoint",
  "diffusers-taesd": "TAESD weights; give them as options.taesd together with an SD1.x checkpoint",
  "diffusers-unet": "the UNet of a diffusers folder; load the whole folder (the one with model_index.json)",
  "transformers-clip-text": "a CLIP text encoder only; load the whole diffusers folder or a full checkpoint",
};

export function notAModelAdvice(kind: Exclude<WeightFileKind, "ldm-checkpoint">): string {
  return `this is ${FILE_KIND_ADVICE[kind]}`;
}

export interface SingleFileCheckpoint {
  readonly file: TensorFile;
  readonly detected: DetectedCheckpoint;
  readonly unet: WeightsComponent<UNetConfig>;
  /** Absent when the file has no `first_stage_model.*`. */
  readonly vae?: WeightsComponent<VaeConfig>;
  /** Absent when the file has no `cond_stage_model.transformer.*`. */
  readonly textEncoder?: WeightsComponent<TextEncoderConfig>;
}

/**
 * Opens and checks a single file. Overrides: the `<path>.sdlite.json` sidecar, then `overrides`
 * (later wins). The file stays open until the caller closes it.
 */
export function openSingleFileCheckpoint(
  path: string,
  overrides?: ArchitectureOverrides,
): SingleFileCheckpoint {
  const file = openWeightsFile(path);
  try {
    const kind = classifyWeightFile(file.names(), path);
    if (kind !== "ldm-checkpoint") throw new ModelLoadError("not-a-model", path, notAModelAdvice(kind));
    const fileKeys = normaliseLdmKeys(file.names());
    const shapes = new Map<string, readonly number[]>();
    for (const [norm, key] of fileKeys) shapes.set(norm, file.info(key).shape);
    const detected = detectLdmCheckpoint(shapes, path, mergeOverrides(readOverridesSidecar(path), overrides));
    const { unet, vae, textEncoder } = detected;
    return {
      file,
      detected,
      unet: ldmComponent({
        file,
        fileKeys,
        prefix: LDM_PREFIXES.unet,
        label: "UNet",
        config: unet.config,
        mappings: unetTensorMap(unet.config),
        assumed: unet.assumed,
      }),
      vae:
        vae &&
        ldmComponent({
          file,
          fileKeys,
          prefix: LDM_PREFIXES.vae,
          label: "VAE",
          config: vae.config,
          mappings: vaeTensorMap(vae.config),
          assumed: vae.assumed,
          ignore: /^loss\./,
        }),
      textEncoder:
        textEncoder &&
        ldmComponent({
          file,
          fileKeys,
          prefix: LDM_PREFIXES.textEncoder,
          label: "text encoder",
          config: textEncoder.config,
          mappings: textEncoderTensorMap(textEncoder.config),
          assumed: textEncoder.assumed,
          ignore: /^text_model\.embeddings\.position_ids$/,
        }),
    };
  } catch (err) {
    file.close();
    throw err;
  }
}
