/**
 * The VAE side of a pipeline: the full AutoencoderKL (built from weights or an ONNX folder's
 * vae_decoder/vae_encoder) or TAESD as the decoder, with tiled encoding and decoding for large
 * images, and TAESD live previews when TAESD weights were given.
 */

import type { TaesdQuantization } from "../graph/taesd-quantization.js";
import type { VaeQuantization } from "../graph/vae-quantization.js";
import type { LoadedModel } from "../weights/loaded-model.js";
import type { CodecConvAlgorithms } from "./conv-algorithm-choice.js";
import type { DecoderKind } from "./engine-options.js";
import type { LazySession } from "./lazy-session.js";
import type { NetworkContext } from "./networks/network-factory.js";
import { buildNetwork, NETWORK_FACTORIES } from "./networks/registry.js";
import type { DecoderPart, VaeParts, VaeSettings } from "./networks/vae.js";
import { type PreviewDecoder, SessionPreviewDecoder } from "./preview-decoder.js";
import { SessionVae } from "./session-networks.js";

export interface VaeSetup {
  decoder: DecoderKind;
  /** Decode latents larger than this per side (encode images larger than 8× it) in overlapping tiles; 0 = never tile. */
  tileLatentSize: number;
  /** int8 convs in the full VAE's decoder (validated by the caller). */
  quantization: VaeQuantization;
  /** int8 convs in TAESD's decoder, for decoding and previews alike (validated by the caller); unset: none. */
  taesdQuantization?: TaesdQuantization;
  /**
   * TAESD's session with onnxruntime's memory pool: where sessions are released after each stage
   * (low-memory mode), so the pool's hold ends with the image; a server keeps it off (its peak).
   */
  taesdMemoryPool?: boolean;
  /** The VAE's and TAESD's 3x3 conv algorithms (conv-algorithm-choice.ts); absent: direct. */
  convAlgorithms?: CodecConvAlgorithms;
}

export interface OpenedVae {
  network: SessionVae;
  sessions: LazySession[];
  /** TAESD for live previews, when TAESD weights were given; its session loads on the first preview. */
  preview?: PreviewDecoder;
}

function vaeParts(model: LoadedModel, ctx: NetworkContext, settings: VaeSettings): VaeParts {
  if (model.vae) {
    return buildNetwork(
      NETWORK_FACTORIES.vae,
      { kind: "weights", weights: { component: model.vae, weights: model.vae.weights } },
      ctx,
      settings,
    );
  }
  if (model.format === "onnx") {
    const onnx = { decoder: model.vaeDecoder, encoder: model.vaeEncoder };
    return buildNetwork(NETWORK_FACTORIES.vae, { kind: "onnx", onnx }, ctx, settings);
  }
  throw new Error(`${model.path}: the model has no VAE`);
}

export function openVae(model: LoadedModel, ctx: NetworkContext, setup: VaeSetup): OpenedVae {
  const algorithms = setup.convAlgorithms ?? {};
  const vae = vaeParts(model, ctx, {
    quantization: setup.quantization,
    decoderConvAlgorithm: algorithms.vaeDecoder,
    encoderConvAlgorithm: algorithms.vaeEncoder,
  });
  const taesd: DecoderPart | undefined =
    model.taesd &&
    buildNetwork(
      NETWORK_FACTORIES.taesd,
      { kind: "weights", weights: { component: model.taesd, weights: model.taesd.weights } },
      ctx,
      {
        convAlgorithm: algorithms.taesdDecoder,
        quantization: setup.taesdQuantization ?? "none",
        memoryPool: setup.taesdMemoryPool ?? false,
      },
    );
  let decoder = vae.decoder;
  if (setup.decoder === "taesd") {
    if (!taesd)
      throw new Error("the TAESD decoder was chosen but no TAESD weights were given (--taesd PATH)");
    decoder = taesd;
  }
  const { tileLatentSize } = setup;
  const network = new SessionVae(
    decoder.session,
    decoder.io,
    { latentScale: decoder.latentScale, tileLatentSize },
    vae.encoder?.session,
    vae.encoder?.io,
    vae.scalingFactor,
  );
  let preview: PreviewDecoder | undefined;
  if (taesd) {
    // with TAESD as the decoder, previews share its session; else TAESD gets one of its own
    const previewNetwork =
      setup.decoder === "taesd"
        ? network
        : new SessionVae(
            taesd.session,
            taesd.io,
            { latentScale: taesd.latentScale, tileLatentSize },
            undefined,
            undefined,
            vae.scalingFactor,
          );
    preview = new SessionPreviewDecoder(previewNetwork, taesd.session);
  }
  const sessions = vae.encoder ? [decoder.session, vae.encoder.session] : [decoder.session];
  return { network, sessions, preview };
}
