/** TAESD's decoder, built from weights (diffusers' AutoencoderTiny or madebyollin's files). */
import { buildTaesdDecoderGraph, TAESD_DECODER_INPUT, TAESD_DECODER_OUTPUT } from "../../graph/taesd.js";
import type { TaesdConfig } from "../../weights/architecture/model-config.js";
import { builtGraphSession, type NetworkFactory, variantGraphOptions } from "./network-factory.js";
import type { DecoderPart } from "./vae.js";

export type TaesdFactory = NetworkFactory<TaesdConfig, never, Record<string, never>, DecoderPart>;

export const TAESD_DECODER: TaesdFactory = {
  name: "taesd",
  fromWeights(source, ctx) {
    const { config } = source.component;
    // the attention kind is in the key though TAESD has no attention: the key stays as it was
    const { attention, ...storage } = variantGraphOptions(ctx, source);
    const session = builtGraphSession(ctx, source, "taesd_decoder", { attention, ...storage }, () =>
      buildTaesdDecoderGraph(source.weights, config, storage),
    );
    return {
      session,
      io: { input: TAESD_DECODER_INPUT, output: TAESD_DECODER_OUTPUT },
      latentScale: config.scalingFactor,
    };
  },
};
