/**
 * The VAE side of a pipeline: the full AutoencoderKL (built from weights or an ONNX folder's
 * vae_decoder/vae_encoder) or TAESD as the decoder, with tiled encoding and decoding for large images.
 */

import { fileIdentity, type GraphCache, graphCacheKey } from "../cache/graph-cache.js";
import type { GraphBuilder } from "../graph/graph-builder.js";
import type { AttentionKind } from "../graph/layers.js";
import { buildTaesdDecoderGraph, TAESD_DECODER_INPUT, TAESD_DECODER_OUTPUT } from "../graph/taesd.js";
import {
  buildVaeDecoderGraph,
  buildVaeEncoderGraph,
  VAE_DECODER_INPUT,
  VAE_DECODER_OUTPUT,
  VAE_ENCODER_INPUT,
  VAE_ENCODER_OUTPUTS,
} from "../graph/vae.js";
import type { WeightStorage } from "../graph/weight-storage.js";
import type { Runtime, SessionOptions } from "../runtime/runtime.js";
import type { LoadedModel, WeightsComponent } from "../weights/loaded-model.js";
import { createGraphSession } from "./graph-session.js";
import { LazySession } from "./lazy-session.js";
import { createOnnxFolderSession } from "./onnx-folder-session.js";
import { type PreviewDecoder, SessionPreviewDecoder } from "./preview-decoder.js";
import { SessionVae, type VaeEncoderIo } from "./session-networks.js";
import {
  DEFAULT_WEIGHT_STORAGE,
  resolveWeightStorage,
  storageOption,
  type WeightStorageChoice,
} from "./weight-storage-choice.js";

export type DecoderKind = "vae" | "taesd";

export interface VaeSetup {
  runtime: Runtime;
  session: SessionOptions;
  cache: GraphCache | false;
  attention: AttentionKind;
  /** Default "auto" (weight-storage-choice.ts). */
  weightStorage?: WeightStorageChoice;
  decoder: DecoderKind;
  /** Decode latents larger than this per side (encode images larger than 8× it) in overlapping tiles; 0 = never tile. */
  tileLatentSize: number;
}

export interface OpenedVae {
  network: SessionVae;
  sessions: LazySession[];
  /** TAESD for live previews, when TAESD weights were given; its session loads on the first preview. */
  preview?: PreviewDecoder;
}

/** SD1.x's VAE scaling factor, for ONNX folders (their graphs carry no config). */
const SD1_SCALING_FACTOR = 0.18215;

export function openVae(model: LoadedModel, setup: VaeSetup): OpenedVae {
  const { runtime, session } = setup;
  const built = (
    component: WeightsComponent<unknown>,
    kind: string,
    build: (storage: { weightStorage?: WeightStorage }) => GraphBuilder,
  ) => {
    const storage = storageOption(
      resolveWeightStorage(setup.weightStorage ?? DEFAULT_WEIGHT_STORAGE, component),
    );
    return new LazySession(() =>
      createGraphSession(runtime, () => build(storage), {
        session,
        cache:
          setup.cache === false
            ? undefined
            : {
                cache: setup.cache,
                key: graphCacheKey({
                  kind,
                  weights: component.files.map((f) => fileIdentity(f)),
                  config: component.config,
                  options: { attention: setup.attention, ...storage },
                }),
              },
      }),
    );
  };

  let decoder: LazySession;
  let decoderIo = { input: VAE_DECODER_INPUT, output: VAE_DECODER_OUTPUT };
  let encoder: LazySession | undefined;
  let encoderIo: VaeEncoderIo | undefined;
  let scalingFactor = SD1_SCALING_FACTOR;
  const vae = model.vae;
  if (vae) {
    scalingFactor = vae.config.scalingFactor;
    const attention = setup.attention;
    decoder = built(vae, "vae_decoder", (storage) =>
      buildVaeDecoderGraph(vae.weights, vae.config, { attention, ...storage }),
    );
    encoder = built(vae, "vae_encoder", (storage) =>
      buildVaeEncoderGraph(vae.weights, vae.config, { attention, ...storage }),
    );
    encoderIo = {
      input: VAE_ENCODER_INPUT,
      mean: VAE_ENCODER_OUTPUTS.mean,
      std: VAE_ENCODER_OUTPUTS.std,
      moments: VAE_ENCODER_OUTPUTS.moments,
    };
  } else if (model.format === "onnx") {
    const dec = model.vaeDecoder;
    decoder = new LazySession(() => createOnnxFolderSession(runtime, dec, session));
    decoderIo = { input: dec.inputs[0].name, output: dec.outputs[0].name };
    const enc = model.vaeEncoder;
    if (enc) {
      encoder = new LazySession(() => createOnnxFolderSession(runtime, enc, session));
      // hub exports sample the posterior inside the graph: that sample stands in for the mean
      encoderIo = { input: enc.inputs[0].name, mean: enc.outputs[0].name };
    }
  } else {
    throw new Error(`${model.path}: the model has no VAE`);
  }

  let latentScale = scalingFactor;
  const taesd = model.taesd;
  const taesdDecoder = taesd && {
    session: built(taesd, "taesd_decoder", (storage) =>
      buildTaesdDecoderGraph(taesd.weights, taesd.config, storage),
    ),
    io: { input: TAESD_DECODER_INPUT, output: TAESD_DECODER_OUTPUT },
    latentScale: taesd.config.scalingFactor,
  };
  if (setup.decoder === "taesd") {
    if (!taesdDecoder)
      throw new Error("the TAESD decoder was chosen but no TAESD weights were given (--taesd PATH)");
    decoder = taesdDecoder.session;
    decoderIo = taesdDecoder.io;
    latentScale = taesdDecoder.latentScale;
  }
  const tileLatentSize = setup.tileLatentSize;
  const network = new SessionVae(
    decoder,
    decoderIo,
    { latentScale, tileLatentSize },
    encoder,
    encoderIo,
    scalingFactor,
  );
  let preview: PreviewDecoder | undefined;
  if (taesdDecoder) {
    // with TAESD as the decoder, previews share its session; else TAESD gets one of its own
    const { session: s, io, latentScale: scale } = taesdDecoder;
    const previewNetwork =
      setup.decoder === "taesd"
        ? network
        : new SessionVae(s, io, { latentScale: scale, tileLatentSize }, undefined, undefined, scalingFactor);
    preview = new SessionPreviewDecoder(previewNetwork, s);
  }
  return { network, sessions: encoder ? [decoder, encoder] : [decoder], preview };
}
