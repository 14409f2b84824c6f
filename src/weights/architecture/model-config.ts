/**
 * Architecture hyper-parameters of the SD1.x and SD2.x networks, named after the
 * diffusers/transformers config.json keys they come from. Loaders fill them (from config.json, or by
 * detection from a single file's tensor shapes plus defaults/overrides); graph builders consume them.
 * SD2.x is the same networks configured differently: linear proj_in/proj_out, per-block head counts
 * with a fixed head dim, a 1024-wide context from an OpenCLIP text tower with (erf) GELU.
 */

/** Which generation of Stable Diffusion a model's networks belong to. */
export type ModelFamily = "sd1" | "sd2";

export interface UNetConfig {
  inChannels: number; // 4, or 9 for inpainting
  outChannels: number;
  blockOutChannels: number[]; // SD1.5: [320, 640, 1280, 1280]
  layersPerBlock: number;
  crossAttentionDim: number; // 768
  /**
   * diffusers' historic `attention_head_dim`, really the number of heads: one count for every block
   * (SD1.x: 8), or one per down block (SD2.x: [5, 10, 20, 20], 64 channels per head), the up blocks
   * taking them in reverse and the mid block the last. See attentionHeadsAt.
   */
  attentionHeads: number | readonly number[];
  normNumGroups: number; // 32
  normEps: number; // 1e-5
  downBlockTypes: string[];
  upBlockTypes: string[];
  useLinearProjection: boolean;
  flipSinToCos: boolean;
  freqShift: number;
  /**
   * LCM-distilled UNets (diffusers `time_cond_proj_dim`, 256 for SimianLuo/LCM_Dreamshaper_v7):
   * width of the guidance-scale embedding projected into the timestep embedding. Absent otherwise.
   */
  timeCondProjDim?: number;
}

export interface TextEncoderConfig {
  hiddenSize: number; // 768
  intermediateSize: number; // 3072
  numHiddenLayers: number; // 12
  numAttentionHeads: number; // 12
  maxPositionEmbeddings: number; // 77
  vocabSize: number; // 49408
  hiddenAct: "quick_gelu" | "gelu";
  layerNormEps: number; // 1e-5
}

export interface VaeConfig {
  inChannels: number; // 3
  outChannels: number; // 3
  latentChannels: number; // 4
  blockOutChannels: number[]; // [128, 256, 512, 512]
  layersPerBlock: number; // 2
  normNumGroups: number; // 32
  scalingFactor: number; // 0.18215
}

export interface TaesdConfig {
  encoderBlockOutChannels: number[]; // [64, 64, 64, 64]
  decoderBlockOutChannels: number[];
  numEncoderBlocks: number[]; // [1, 3, 3, 3]
  numDecoderBlocks: number[]; // [3, 3, 3, 1]
  latentChannels: number;
  latentMagnitude: number; // 3
  latentShift: number; // 0.5
  scalingFactor: number; // 1.0
}

/** Heads of the transformers at down level `level` (the mid block is the deepest level). */
export function attentionHeadsAt(config: UNetConfig, level: number): number {
  const heads = config.attentionHeads;
  return typeof heads === "number" ? heads : heads[level];
}

/** A list whose entries are all equal as that one number (how SD1.x configs state head counts). */
export function sameOrList(values: readonly number[]): number | number[] {
  return values.every((v) => v === values[0]) ? values[0] : [...values];
}

/** Heads of every down level, whichever form the config uses. */
export function attentionHeadsPerLevel(config: UNetConfig): number[] {
  return config.blockOutChannels.map((_, level) => attentionHeadsAt(config, level));
}

export const SD15_UNET: UNetConfig = {
  inChannels: 4,
  outChannels: 4,
  blockOutChannels: [320, 640, 1280, 1280],
  layersPerBlock: 2,
  crossAttentionDim: 768,
  attentionHeads: 8,
  normNumGroups: 32,
  normEps: 1e-5,
  downBlockTypes: ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  upBlockTypes: ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
  useLinearProjection: false,
  flipSinToCos: true,
  freqShift: 0,
};

export const SD15_TEXT_ENCODER: TextEncoderConfig = {
  hiddenSize: 768,
  intermediateSize: 3072,
  numHiddenLayers: 12,
  numAttentionHeads: 12,
  maxPositionEmbeddings: 77,
  vocabSize: 49408,
  hiddenAct: "quick_gelu",
  layerNormEps: 1e-5,
};

export const SD15_VAE: VaeConfig = {
  inChannels: 3,
  outChannels: 3,
  latentChannels: 4,
  blockOutChannels: [128, 256, 512, 512],
  layersPerBlock: 2,
  normNumGroups: 32,
  scalingFactor: 0.18215,
};

export const SD15_TAESD: TaesdConfig = {
  encoderBlockOutChannels: [64, 64, 64, 64],
  decoderBlockOutChannels: [64, 64, 64, 64],
  numEncoderBlocks: [1, 3, 3, 3],
  numDecoderBlocks: [3, 3, 3, 1],
  latentChannels: 4,
  latentMagnitude: 3,
  latentShift: 0.5,
  scalingFactor: 1.0,
};

/** SD 2.x UNet heads are 64 channels wide: [5, 10, 20, 20] for SD 2.1's widths. */
export const SD2_HEAD_CHANNELS = 64;

/** SD 2.1 (base, 768-v) and SD-Turbo: SD1.5's block structure with SD2's differences. */
export const SD21_UNET: UNetConfig = {
  ...SD15_UNET,
  crossAttentionDim: 1024,
  attentionHeads: [5, 10, 20, 20],
  useLinearProjection: true,
};

/**
 * OpenCLIP ViT-H/14's text tower as SD 2.x uses it: 24 blocks in the checkpoint, of which SD2
 * conditions on the penultimate (diffusers folders keep the first 23 as `num_hidden_layers`).
 */
export const SD2_TEXT_ENCODER: TextEncoderConfig = {
  hiddenSize: 1024,
  intermediateSize: 4096,
  numHiddenLayers: 23,
  numAttentionHeads: 16,
  maxPositionEmbeddings: 77,
  vocabSize: 49408,
  hiddenAct: "gelu",
  layerNormEps: 1e-5,
};
