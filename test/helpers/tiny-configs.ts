/** The tiny fixture models' architecture (fixtures README section 3), as sdlite configs. */
import { SD15_TEXT_ENCODER, SD15_UNET, SD15_VAE } from "../../src/weights/architecture/model-config.js";

export const TINY_SD15 = {
  unet: { ...SD15_UNET, blockOutChannels: [8, 16, 32, 32], crossAttentionDim: 32, normNumGroups: 4 },
  vae: { ...SD15_VAE, blockOutChannels: [8, 16, 32, 32], normNumGroups: 4 },
  textEncoder: {
    ...SD15_TEXT_ENCODER,
    hiddenSize: 32,
    intermediateSize: 37,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
  },
};

/** What a single file cannot tell about the tiny models (manifest single_file.architecture_not_in_file). */
export const TINY_OVERRIDES = {
  unet: { normNumGroups: 4, attentionHeads: 8 },
  vae: { normNumGroups: 4 },
  textEncoder: { numAttentionHeads: 4, hiddenAct: "quick_gelu" as const },
};
