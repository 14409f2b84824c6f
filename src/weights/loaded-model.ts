/**
 * What the model loader hands the pipeline: per component either a config plus a WeightSource in
 * the canonical name space, or an ONNX model to run as it is; plus where the tokenizer and the
 * scheduler config are, or a clear statement that the format does not carry them.
 */
import type { PredictionType } from "../schedulers/types.js";
import type {
  ModelFamily,
  TaesdConfig,
  TextEncoderConfig,
  UNetConfig,
  VaeConfig,
} from "./architecture/model-config.js";
import type { OnnxModelInfo } from "./formats/onnx-model-info.js";
import type { WeightSource } from "./weight-source.js";

export interface WeightsComponent<C> {
  readonly kind: "weights";
  readonly config: C;
  /** Canonical diffusers/transformers names, float32 on demand. */
  readonly weights: WeightSource;
  /** The file(s) the tensors come from. */
  readonly files: readonly string[];
  /** Stored dtypes, e.g. ["F16"]. */
  readonly storedDtypes: readonly string[];
  /**
   * Config fields the files could not tell (single files): which came from SD1.5's defaults and
   * which from overrides. Empty when a config.json gave everything.
   */
  readonly assumed: Readonly<Record<string, "default" | "override">>;
}

export interface OnnxComponent extends OnnxModelInfo {
  readonly kind: "onnx";
  /** The model.onnx file; external data files (e.g. weights.pb) sit beside it. */
  readonly modelPath: string;
}

/** The default repository diffusers takes a single file's missing parts from (SD1.x). */
export const SD1_DEFAULT_PIPELINE_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5";
export const SD1_DEFAULT_TOKENIZER_REPO = "openai/clip-vit-large-patch14";
/** diffusers' single-file loader takes SD 2.x's tokenizer and scheduler from here. */
export const SD2_DEFAULT_PIPELINE_REPO = "stabilityai/stable-diffusion-2-1";

export type TokenizerLocation =
  | { readonly kind: "folder"; readonly path: string }
  | {
      readonly kind: "not-in-format";
      /** Why there is none, for messages. */
      readonly reason: string;
      /** Where diffusers fetches it from for this architecture: `tokenizer/` of this repo... */
      readonly repo: string;
      readonly subfolder: string;
      /**
       * That tokenizer's pad token: SD1.x pads with EOS (`<|endoftext|>`); SD 2.x's files set "!",
       * which pads with id 0 and is split out of prompts. The vocabulary is CLIP's in both.
       */
      readonly padToken: string;
    };

export type SchedulerConfigLocation =
  | { readonly kind: "file"; readonly path: string; readonly config: Readonly<Record<string, unknown>> }
  | {
      readonly kind: "not-in-format";
      readonly reason: string;
      readonly repo: string;
      readonly subfolder: string;
      /**
       * The scheduler_config.json that repo holds, for offline use (SD1.5's; SD 2.1-base's or
       * SD-Turbo's for SD 2.x), with the prediction type the file or the overrides told, if any.
       */
      readonly fallback: Readonly<Record<string, unknown>>;
    };

/** SD1.5's scheduler/scheduler_config.json verbatim (fixtures README section 3). */
export const SD15_SCHEDULER_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  _class_name: "PNDMScheduler",
  _diffusers_version: "0.6.0",
  beta_end: 0.012,
  beta_schedule: "scaled_linear",
  beta_start: 0.00085,
  clip_sample: false,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
});

/** SD 2.1-base's scheduler/scheduler_config.json (fixtures sd2/scheduler_configs/sd21-base-epsilon.json). */
export const SD21_BASE_SCHEDULER_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  _class_name: "PNDMScheduler",
  _diffusers_version: "0.10.0.dev0",
  beta_end: 0.012,
  beta_schedule: "scaled_linear",
  beta_start: 0.00085,
  clip_sample: false,
  num_train_timesteps: 1000,
  prediction_type: "epsilon",
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
});

/** stabilityai/sd-turbo's scheduler config (fixtures sd2/scheduler_configs/sd-turbo-epsilon-trailing.json). */
export const SD_TURBO_SCHEDULER_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  _class_name: "EulerDiscreteScheduler",
  _diffusers_version: "0.24.0.dev0",
  beta_end: 0.012,
  beta_schedule: "scaled_linear",
  beta_start: 0.00085,
  clip_sample: false,
  interpolation_type: "linear",
  num_train_timesteps: 1000,
  prediction_type: "epsilon",
  set_alpha_to_one: false,
  sample_max_value: 1.0,
  skip_prk_steps: true,
  steps_offset: 1,
  timestep_spacing: "trailing",
  trained_betas: null,
  use_karras_sigmas: false,
});

/**
 * What a model is, beyond its networks' configs: its generation, and for SD 2.x whether it is
 * SD-Turbo (distilled for 1-4 steps without guidance) and what its UNet predicts. Front ends pick
 * default settings from it (src/cli/resolve-model.ts).
 */
export interface ModelProfile {
  readonly family: ModelFamily;
  /** SD-Turbo-style: Euler with trailing spacing in its scheduler config, or named so. */
  readonly turbo: boolean;
  readonly predictionType: PredictionType;
  /** Where predictionType came from. */
  readonly predictionTypeFrom: "scheduler-config" | "override" | "file" | "default";
  /** The size the UNet was trained at (diffusers `sample_size` × 8) when a config says so. */
  readonly nativeSize?: number;
}

interface LoadedModelBase {
  readonly path: string;
  readonly profile: ModelProfile;
  /** 9-channel UNet input (latents, mask, masked-image latents). */
  readonly inpainting: boolean;
  readonly tokenizer: TokenizerLocation;
  readonly scheduler: SchedulerConfigLocation;
  /** TAESD, when one was given (options.taesd). */
  readonly taesd?: WeightsComponent<TaesdConfig>;
  /** Where the VAE came from when a standalone one replaced the model's own. */
  readonly vaeReplacedBy?: string;
  /** Releases open files; WeightSources must not be read afterwards. */
  close(): void;
}

export interface LoadedWeightsModel extends LoadedModelBase {
  readonly format: "single-file" | "diffusers";
  readonly unet: WeightsComponent<UNetConfig>;
  readonly textEncoder: WeightsComponent<TextEncoderConfig>;
  readonly vae: WeightsComponent<VaeConfig>;
}

export interface LoadedOnnxModel extends LoadedModelBase {
  readonly format: "onnx";
  readonly unet: OnnxComponent;
  readonly textEncoder: OnnxComponent;
  readonly vaeDecoder: OnnxComponent;
  /** Absent in decoder-only exports (txt2img only). */
  readonly vaeEncoder?: OnnxComponent;
  /** A standalone VAE given with an ONNX pipeline replaces vae_decoder/vae_encoder. */
  readonly vae?: WeightsComponent<VaeConfig>;
}

export type LoadedModel = LoadedWeightsModel | LoadedOnnxModel;
