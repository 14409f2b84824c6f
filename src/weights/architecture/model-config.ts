/**
 * Architecture hyper-parameters of the SD1.x networks, named after the diffusers/transformers
 * config.json keys they come from. Loaders fill them (from config.json, or by detection from a
 * single file's tensor shapes plus defaults/overrides); graph builders consume them.
 */

export interface UNetConfig {
  inChannels: number; // 4, or 9 for inpainting
  outChannels: number;
  blockOutChannels: number[]; // SD1.5: [320, 640, 1280, 1280]
  layersPerBlock: number;
  crossAttentionDim: number; // 768
  /** diffusers' historic `attention_head_dim`: for SD1.x it is really the number of heads (8). */
  attentionHeads: number;
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
