/**
 * The full VAE (AutoencoderKL): decoder and encoder built from weights, or an ONNX folder's
 * vae_decoder and vae_encoder. Its parts are put together with TAESD and tiling in open-vae.ts.
 */

import type { ConvAlgorithm } from "../../graph/conv-algorithm.js";
import {
  buildVaeDecoderGraph,
  buildVaeEncoderGraph,
  VAE_DECODER_INPUT,
  VAE_DECODER_OUTPUT,
  VAE_ENCODER_INPUT,
  VAE_ENCODER_OUTPUTS,
} from "../../graph/vae.js";
import type { VaeQuantization } from "../../graph/vae-quantization.js";
import type { VaeConfig } from "../../weights/architecture/model-config.js";
import type { OnnxComponent } from "../../weights/loaded-model.js";
import type { LazySession } from "../lazy-session.js";
import type { VaeDecoderIo, VaeEncoderIo } from "../session-networks.js";
import {
  builtGraphSession,
  convAlgorithmOption,
  type NetworkFactory,
  normAffineOption,
  onnxFolderSession,
  variantGraphOptions,
} from "./network-factory.js";

/** A decoder session and how to call it: latents / latentScale in, image out. */
export interface DecoderPart {
  readonly session: LazySession;
  readonly io: VaeDecoderIo;
  readonly latentScale: number;
}

export interface VaeParts {
  readonly decoder: DecoderPart;
  /** Absent in decoder-only ONNX exports (txt2img only). */
  readonly encoder?: { readonly session: LazySession; readonly io: VaeEncoderIo };
  /** Multiplies a posterior sample into the UNet's latent space. */
  readonly scalingFactor: number;
}

export interface OnnxVae {
  readonly decoder: OnnxComponent;
  readonly encoder?: OnnxComponent;
}

/** SD1.x's VAE scaling factor, for ONNX folders (their graphs carry no config). */
const SD1_SCALING_FACTOR = 0.18215;

export interface VaeSettings {
  /** int8 decoder convs (validated by the caller); the encoder stays float32. */
  readonly quantization: VaeQuantization;
  /** The decoder's and encoder's stride-1 3x3 convs (graph/conv-algorithm.ts); absent: direct. */
  readonly decoderConvAlgorithm?: ConvAlgorithm;
  readonly encoderConvAlgorithm?: ConvAlgorithm;
}

export type VaeFactory = NetworkFactory<VaeConfig, OnnxVae, VaeSettings, VaeParts>;

export const AUTOENCODER_KL: VaeFactory = {
  name: "vae",
  fromWeights(source, ctx, { quantization, decoderConvAlgorithm, encoderConvAlgorithm }) {
    const { config } = source.component;
    const variant = { ...variantGraphOptions(ctx, source, "vae"), ...normAffineOption(ctx) };
    // "none" and "direct" stay out of the key, so the float direct graphs keep their cache entries
    const decoderOptions = {
      ...variant,
      ...(quantization === "none" ? {} : { quantization, int8WeightBits: ctx.int8WeightBits() }),
      ...convAlgorithmOption(decoderConvAlgorithm),
    };
    const options = { ...variant, ...convAlgorithmOption(encoderConvAlgorithm) };
    const decoder = builtGraphSession(ctx, source, "vae_decoder", decoderOptions, () =>
      buildVaeDecoderGraph(source.weights, config, decoderOptions),
    );
    const encoder = builtGraphSession(ctx, source, "vae_encoder", options, () =>
      buildVaeEncoderGraph(source.weights, config, options),
    );
    return {
      decoder: {
        session: decoder,
        io: { input: VAE_DECODER_INPUT, output: VAE_DECODER_OUTPUT },
        latentScale: config.scalingFactor,
      },
      encoder: {
        session: encoder,
        io: {
          input: VAE_ENCODER_INPUT,
          mean: VAE_ENCODER_OUTPUTS.mean,
          std: VAE_ENCODER_OUTPUTS.std,
          moments: VAE_ENCODER_OUTPUTS.moments,
        },
      },
      scalingFactor: config.scalingFactor,
    };
  },
  // an ONNX folder's graphs run as they are: their convs stay as exported, whatever the choice
  fromOnnx({ decoder, encoder }, ctx, { quantization }) {
    if (quantization !== "none") {
      throw new Error(
        `${ctx.modelPath}: VAE quantization rebuilds the VAE decoder graph, which an ONNX pipeline folder does not allow; use the checkpoint or diffusers folder instead`,
      );
    }
    return {
      decoder: {
        session: onnxFolderSession(ctx, decoder),
        io: { input: decoder.inputs[0].name, output: decoder.outputs[0].name },
        latentScale: SD1_SCALING_FACTOR,
      },
      // hub exports sample the posterior inside the graph: that sample stands in for the mean
      encoder: encoder && {
        session: onnxFolderSession(ctx, encoder),
        io: { input: encoder.inputs[0].name, mean: encoder.outputs[0].name },
      },
      scalingFactor: SD1_SCALING_FACTOR,
    };
  },
};
