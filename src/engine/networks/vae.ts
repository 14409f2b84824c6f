/**
 * The full VAE (AutoencoderKL): decoder and encoder built from weights, or an ONNX folder's
 * vae_decoder and vae_encoder. Its parts are put together with TAESD and tiling in open-vae.ts.
 */
import {
  buildVaeDecoderGraph,
  buildVaeEncoderGraph,
  VAE_DECODER_INPUT,
  VAE_DECODER_OUTPUT,
  VAE_ENCODER_INPUT,
  VAE_ENCODER_OUTPUTS,
} from "../../graph/vae.js";
import type { VaeConfig } from "../../weights/architecture/model-config.js";
import type { OnnxComponent } from "../../weights/loaded-model.js";
import type { LazySession } from "../lazy-session.js";
import type { VaeDecoderIo, VaeEncoderIo } from "../session-networks.js";
import {
  builtGraphSession,
  type NetworkFactory,
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

export type VaeFactory = NetworkFactory<VaeConfig, OnnxVae, Record<string, never>, VaeParts>;

export const AUTOENCODER_KL: VaeFactory = {
  name: "vae",
  fromWeights(source, ctx) {
    const { config } = source.component;
    const options = variantGraphOptions(ctx, source, "vae");
    const decoder = builtGraphSession(ctx, source, "vae_decoder", options, () =>
      buildVaeDecoderGraph(source.weights, config, options),
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
  fromOnnx({ decoder, encoder }, ctx) {
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
