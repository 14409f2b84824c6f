/** TAESD's decoder, built from weights (diffusers' AutoencoderTiny or madebyollin's files). */
import type { ConvAlgorithm } from "../../graph/conv-algorithm.js";
import { buildTaesdDecoderGraph, TAESD_DECODER_INPUT, TAESD_DECODER_OUTPUT } from "../../graph/taesd.js";
import type { TaesdQuantization } from "../../graph/taesd-quantization.js";
import type { TaesdConfig } from "../../weights/architecture/model-config.js";
import {
  builtGraphSession,
  convAlgorithmOption,
  type NetworkFactory,
  variantGraphOptions,
} from "./network-factory.js";
import type { DecoderPart } from "./vae.js";

export interface TaesdSettings {
  /** Stride-1 3x3 convs (graph/conv-algorithm.ts); absent or "direct" stays out of the cache key. */
  readonly convAlgorithm?: ConvAlgorithm;
  /** int8 decoder convs (graph/taesd-quantization.ts; validated by the caller); absent or "none": float. */
  readonly quantization?: TaesdQuantization;
  /**
   * Run with onnxruntime's memory pool (true) or without (absent/false, as a server wants:
   * below). Low-memory mode releases the session after each image, so the pool's hold ends there.
   */
  readonly memoryPool?: boolean;
}

export type TaesdFactory = NetworkFactory<TaesdConfig, never, TaesdSettings, DecoderPart>;

export const TAESD_DECODER: TaesdFactory = {
  name: "taesd",
  fromWeights(source, ctx, settings) {
    const { config } = source.component;
    // TAESD has no attention, but its cache key always carried the VAE's attention kind: kept as it was
    const { attention, ...variant } = variantGraphOptions(ctx, source, "vae");
    // "direct" and "none" stay out of the key, so the float direct graph keeps its cache entry (as for the UNet)
    const quantization = settings.quantization ?? "none";
    const storage = {
      ...variant,
      ...convAlgorithmOption(settings.convAlgorithm),
      ...(quantization === "none" ? {} : { quantization, int8WeightBits: ctx.int8WeightBits() }),
    };
    // no memory pool unless asked for (low-memory mode): a 512x512 decode's activations (64 channels at
    // full size) would stay held between images, and the pool grows from image to image; without it a
    // server's int8 + TAESD process peaks at 1.85 GB instead of 2.12 GB after 3 images (docs/benchmarks.md)
    const session = builtGraphSession(
      ctx,
      source,
      "taesd_decoder",
      { attention, ...storage },
      () => buildTaesdDecoderGraph(source.weights, config, storage),
      { cpuMemArena: settings.memoryPool ?? false },
    );
    return {
      session,
      io: { input: TAESD_DECODER_INPUT, output: TAESD_DECODER_OUTPUT },
      latentScale: config.scalingFactor,
    };
  },
};
