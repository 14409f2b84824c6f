/**
 * An SD1.x or SD2.x single-file checkpoint (original LDM layout, F32/F16/BF16; SD2.x's text tower in
 * OpenCLIP's layout) read from an open TensorFile: architecture detected from the tensor shapes, every
 * component checked against the tensor list its config implies, then served under canonical names
 * through the key maps. No file system: single-file-checkpoint.ts opens files and reads the sidecars
 * for Node, the browser engine hands in a file read from a Blob.
 */
import type { ArchitectureOverrides } from "./architecture/architecture-overrides.js";
import {
  classifyWeightFile,
  type DetectedCheckpoint,
  detectLdmCheckpoint,
  normaliseLdmKeys,
  type WeightFileKind,
} from "./architecture/detect-architecture.js";
import type { TextEncoderConfig, UNetConfig, VaeConfig } from "./architecture/model-config.js";
import type { TensorFile } from "./formats/tensor-file.js";
import {
  LDM_PREFIXES,
  textEncoderPrefix,
  textEncoderTensorMap,
  unetTensorMap,
  vaeTensorMap,
} from "./key-maps/ldm-key-map.js";
import { OPEN_CLIP_UNUSED, openClipTensorMap } from "./key-maps/open-clip-key-map.js";
import { ldmComponent } from "./ldm-component.js";
import type { WeightsComponent } from "./loaded-model.js";
import { ModelLoadError } from "./model-load-error.js";
import { type PredictionTypeHint, predictionTypeFromFile } from "./model-profile.js";

/** OpenCLIP tensors SD 2.x never runs: the blocks after the ones used, the projection head. */
function unusedOpenClipTensors(used: number, blocks: number): RegExp {
  const unusedBlocks = Array.from({ length: blocks - used }, (_, i) => used + i);
  const block = unusedBlocks.length > 0 ? `|^transformer\\.resblocks\\.(${unusedBlocks.join("|")})\\.` : "";
  return new RegExp(`${OPEN_CLIP_UNUSED.source}${block}`);
}

const FILE_KIND_ADVICE: Record<Exclude<WeightFileKind, "ldm-checkpoint">, string> = {
  "ldm-vae": "a standalone VAE; give it as the VAE (options.vae) together with an SD checkpoint",
  "diffusers-vae": "a standalone VAE; give it as the VAE (options.vae) together with an SD checkpoint",
  "diffusers-taesd": "TAESD weights; give them as options.taesd together with an SD checkpoint",
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
  /** Absent when the file has no `cond_stage_model.transformer.*` / `cond_stage_model.model.*`. */
  readonly textEncoder?: WeightsComponent<TextEncoderConfig>;
  /** The overrides in force: sidecars (`<stem>.yaml`, then `<file>.sdlite.json`), then the options. */
  readonly overrides: ArchitectureOverrides;
  /** What the file itself says about its prediction type, if anything (see model-profile.ts). */
  readonly predictionHint?: PredictionTypeHint;
}

/**
 * Checks an open file as a single-file checkpoint, with `overrides` in force (already merged). On
 * failure the file is closed; otherwise it stays open until the caller closes it.
 */
export function readLdmCheckpoint(
  file: TensorFile,
  path: string,
  overrides: ArchitectureOverrides = {},
): SingleFileCheckpoint {
  try {
    const kind = classifyWeightFile(file.names(), path);
    if (kind !== "ldm-checkpoint") throw new ModelLoadError("not-a-model", path, notAModelAdvice(kind));
    const fileKeys = normaliseLdmKeys(file.names());
    const shapes = new Map<string, readonly number[]>();
    for (const [norm, key] of fileKeys) shapes.set(norm, file.info(key).shape);
    const merged = overrides;
    const detected = detectLdmCheckpoint(shapes, path, merged);
    const { unet, vae, textEncoder } = detected;
    const textPrefix = textEncoderPrefix(detected.family);
    const openClip = detected.openClipBlocks !== undefined;
    const predictionHint = predictionTypeFromFile(file.names(), file.metadata);
    return {
      file,
      detected,
      overrides: merged,
      ...(predictionHint && { predictionHint }),
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
          prefix: textPrefix,
          label: "text encoder",
          config: textEncoder.config,
          mappings: openClip
            ? openClipTensorMap(textEncoder.config)
            : textEncoderTensorMap(textEncoder.config),
          assumed: textEncoder.assumed,
          ignore: openClip
            ? unusedOpenClipTensors(textEncoder.config.numHiddenLayers, detected.openClipBlocks as number)
            : /^text_model\.embeddings\.position_ids$/,
        }),
    };
  } catch (err) {
    file.close();
    throw err;
  }
}
