/**
 * A single-file checkpoint (read by ldm-checkpoint.ts) as a LoadedModel: its networks (or a
 * standalone VAE in place of its own), the tokenizer and scheduler config diffusers would fetch for
 * its family, and its profile. No file system, so the browser engine builds its model here too.
 */
import type { TaesdConfig, VaeConfig } from "./architecture/model-config.js";
import { defaultScheduler, defaultTokenizer } from "./default-extras.js";
import type { SingleFileCheckpoint } from "./ldm-checkpoint.js";
import type { LoadedWeightsModel, WeightsComponent } from "./loaded-model.js";
import { checkCompatible } from "./model-compatibility.js";
import { ModelLoadError } from "./model-load-error.js";
import { isTurboName, modelProfile } from "./model-profile.js";

export interface SingleFileExtras {
  /** A standalone VAE replacing the checkpoint's own, and what it was called (vaeReplacedBy). */
  readonly vae?: WeightsComponent<VaeConfig>;
  readonly vaeReplacedBy?: string;
  readonly taesd?: WeightsComponent<TaesdConfig>;
  /** Closes the checkpoint's file and the extras' files. */
  readonly close: () => void;
}

export function singleFileModel(
  path: string,
  checkpoint: SingleFileCheckpoint,
  extras: SingleFileExtras,
): LoadedWeightsModel {
  const { vae: standaloneVae, taesd } = extras;
  const vae = standaloneVae ?? checkpoint.vae;
  if (!vae) {
    throw new ModelLoadError(
      "missing-tensor",
      path,
      "the checkpoint has no VAE (no first_stage_model.* tensors); give one with options.vae",
    );
  }
  if (!checkpoint.textEncoder) {
    throw new ModelLoadError(
      "missing-tensor",
      path,
      "the checkpoint has no text encoder (no cond_stage_model.transformer.* or cond_stage_model.model.* tensors)",
    );
  }
  checkCompatible(path, checkpoint.unet.config, checkpoint.textEncoder.config, vae.config, taesd?.config);
  const why = "a single-file checkpoint holds only network weights";
  const family = checkpoint.detected.family;
  const told = checkpoint.overrides.scheduler?.predictionType;
  const hint = checkpoint.predictionHint;
  const turboName = isTurboName(path);
  const scheduler = defaultScheduler(why, {
    family,
    turbo: family === "sd2" && turboName,
    predictionType: told ?? hint?.predictionType,
  });
  return {
    format: "single-file",
    path,
    profile: modelProfile(family, scheduler, told ? "override" : hint ? "file" : "default", { turboName }),
    inpainting: checkpoint.detected.inpainting,
    unet: checkpoint.unet,
    textEncoder: checkpoint.textEncoder,
    vae,
    vaeReplacedBy: standaloneVae ? extras.vaeReplacedBy : undefined,
    taesd,
    tokenizer: defaultTokenizer(why, family),
    scheduler,
    close: extras.close,
  };
}
