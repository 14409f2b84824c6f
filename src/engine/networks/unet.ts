/**
 * The UNet: built from weights (optionally with int8 layers, and for DeepCache as a pair of graphs,
 * the full one with its deep feature and the shallow branch), or an ONNX folder's unet as it is.
 */
import type { ConvAlgorithm } from "../../graph/conv-algorithm.js";
import { buildUNetGraph, UNET_DEEP_FEATURE, UNET_INPUTS, UNET_OUTPUT } from "../../graph/unet.js";
import { buildShallowUNetGraph } from "../../graph/unet-deepcache.js";
import {
  type AttentionQuantization,
  int8FusionOptions,
  type UNetQuantization,
} from "../../graph/unet-quantization.js";
import { DeepCacheUNet } from "../../pipeline/deep-cache.js";
import type { UNetNetwork } from "../../pipeline/networks.js";
import type { UNetConfig } from "../../weights/architecture/model-config.js";
import type { OnnxComponent } from "../../weights/loaded-model.js";
import { SessionDeepCacheUNet } from "../session-deep-cache.js";
import { SessionUNet } from "../session-networks.js";
import {
  type BuiltNetwork,
  builtGraphSession,
  convAlgorithmOption,
  type NetworkFactory,
  normAffineOption,
  onnxFolderSession,
  variantGraphOptions,
} from "./network-factory.js";

export interface UNetSettings {
  /** 1 = every call runs the whole UNet; N > 1 = DeepCache (validated by the caller). */
  readonly deepCacheInterval: number;
  readonly quantization: UNetQuantization;
  /** "int8": int8 attention products (forces matmul attention in the UNet). */
  readonly attentionQuantization: AttentionQuantization;
  /** ToMe's merge ratio at full resolution; 0 = off (validated by the caller). */
  readonly tomeRatio: number;
  /** ToDo's downsampling factor; 1 = off (validated by the caller). */
  readonly todoFactor: number;
  /** ToDo's deepest level, 1 or 2 (validated by the caller); only read with todoFactor > 1. */
  readonly todoMaxDepth: 1 | 2;
  /** 9-channel inpainting UNet; read from the config for weights, needed for ONNX folders. */
  readonly inpainting: boolean;
  /** Stride-1 3x3 convs (graph/conv-algorithm.ts); "direct" stays out of the cache key. */
  readonly convAlgorithm?: ConvAlgorithm;
}

/**
 * The UNet's sessions (the full graph and DeepCache's shallow branch) keep onnxruntime's memory pool
 * but plan no memory pattern: with one, the pool holds the first run's tensors and then the planned
 * block beside them. MEASURED: docs/benchmarks.md "The server's peak memory (session 9)".
 */
const UNET_SESSION_MEMORY = { memPattern: false } as const;

export type UNetFactory = NetworkFactory<UNetConfig, OnnxComponent, UNetSettings, BuiltNetwork<UNetNetwork>>;

export const SD_UNET: UNetFactory = {
  name: "unet",
  fromWeights(source, ctx, settings) {
    const { config } = source.component;
    const { deepCacheInterval, quantization, attentionQuantization, tomeRatio, todoFactor, todoMaxDepth } =
      settings;
    // "none", 0 and "direct" stay out of the key, so the float graph keeps its cache entry; the
    // weight width depends on the CPU, so a cache shared between machines keeps one graph per width
    const options = {
      ...variantGraphOptions(ctx, source, "unet"),
      ...(quantization === "none" ? {} : { quantization, int8WeightBits: ctx.int8WeightBits() }),
      ...int8FusionOptions(quantization),
      // the fused attention op is float only: int8 products need the matmul formulation
      ...(attentionQuantization === "none" ? {} : { attention: "matmul" as const, attentionQuantization }),
      ...(tomeRatio > 0 ? { tomeRatio } : {}),
      // factor 1 (off) stays out of the key; depth 1 (the default) too, so `todoFactor: 2` alone keys once
      ...(todoFactor > 1 ? { todoFactor, ...(todoMaxDepth !== 1 ? { todoMaxDepth } : {}) } : {}),
      ...convAlgorithmOption(settings.convAlgorithm),
      ...normAffineOption(ctx),
    };
    const deepFeature = deepCacheInterval > 1 ? true : undefined;
    // the int8 UNet's saved optimised model keeps its weights packed: a warm start maps them instead
    // of packing (SD1.5: 1.69 -> 1.34 s of CPU, +0.94 GB of disk; docs/benchmarks.md, same numbers);
    // the fp32 UNet gained nothing from it
    const memory =
      quantization === "none" ? UNET_SESSION_MEMORY : { ...UNET_SESSION_MEMORY, savePrepackedWeights: true };
    const full = builtGraphSession(
      ctx,
      source,
      "unet",
      { ...options, deepFeature },
      () => buildUNetGraph(source.weights, config, { ...options, deepFeature }),
      memory,
    );
    const io = {
      sample: UNET_INPUTS.sample,
      timestep: UNET_INPUTS.timestep,
      context: UNET_INPUTS.encoderHiddenStates,
      output: UNET_OUTPUT,
      timestepCond: config.timeCondProjDim
        ? { name: UNET_INPUTS.timestepCond, dim: config.timeCondProjDim }
        : undefined,
    };
    if (!deepFeature) {
      const network = new SessionUNet(
        full,
        config.inChannels,
        { ...io, timestepType: "float32" },
        ctx.residentFeeds,
      );
      return { network, sessions: [full] };
    }
    const shallow = builtGraphSession(
      ctx,
      source,
      "unet_shallow",
      options,
      () => buildShallowUNetGraph(source.weights, config, options),
      memory,
    );
    const halves = new SessionDeepCacheUNet(
      full,
      shallow,
      config.inChannels,
      { ...io, feature: UNET_DEEP_FEATURE },
      ctx.residentFeeds,
    );
    // the shallow session stays loaded with the full one: freeing it after each image's UNet stage
    // took ~0.15 GB off the server's peak but ~1 s onto each 4-step image (docs/benchmarks.md "The
    // server's peak memory (session 9)")
    return { network: new DeepCacheUNet(halves, deepCacheInterval), sessions: [full, shallow] };
  },
  fromOnnx(component, ctx, settings) {
    if (
      settings.deepCacheInterval > 1 ||
      settings.quantization !== "none" ||
      settings.attentionQuantization !== "none" ||
      settings.tomeRatio > 0 ||
      settings.todoFactor > 1
    ) {
      throw new Error(
        `${ctx.modelPath}: DeepCache, UNet quantization, token merging and token downsampling rebuild the UNet graph, which an ONNX pipeline folder does not allow; use the checkpoint or diffusers folder instead`,
      );
    }
    const session = onnxFolderSession(ctx, component);
    const timestep = component.inputs.find((i) => i.name === "timestep");
    const network = new SessionUNet(
      session,
      settings.inpainting ? 9 : 4,
      {
        sample: "sample",
        timestep: "timestep",
        timestepType: timestep?.elementType === "int64" ? "int64" : "float32",
        context: "encoder_hidden_states",
        output: component.outputs[0].name,
        latentSides: { multipleOf: 8, model: component.modelPath },
      },
      ctx.residentFeeds,
    );
    return { network, sessions: [session] };
  },
};
