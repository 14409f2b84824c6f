/**
 * From a loaded model to the pipeline's networks: each network built with its factory
 * (networks/registry.ts) for the execution target and graph variant of the context, wrapped in the
 * pipeline's network seams, with low-memory release per stage. open-pipeline.ts loads the model,
 * tokenizer and LoRAs from disk for Node; the browser engine does the same from a Blob.
 */
import { CONV_ALGORITHMS, type ConvAlgorithm } from "../graph/conv-algorithm.js";
import { COMPUTE_PRECISIONS, type ComputePrecision } from "../graph/float16-compute.js";
import { TAESD_QUANTIZATIONS, type TaesdQuantization } from "../graph/taesd-quantization.js";
import {
  TEXT_ENCODER_QUANTIZATIONS,
  type TextEncoderQuantization,
} from "../graph/text-encoder-quantization.js";
import { ATTENTION_QUANTIZATIONS, UNET_QUANTIZATIONS } from "../graph/unet-quantization.js";
import { VAE_QUANTIZATIONS, type VaeQuantization } from "../graph/vae-quantization.js";
import type { LoraFile, UnmatchedLoraKey } from "../lora/lora-module.js";
import { validateDeepCacheInterval } from "../pipeline/deep-cache.js";
import type { PipelineModels } from "../pipeline/generate.js";
import { parseSchedulerConfig } from "../schedulers/scheduler-config.js";
import type { ClipTokenizer } from "../tokenizer/clip-tokenizer.js";
import type { LoadedModel } from "../weights/loaded-model.js";
import type {
  CodecConvAlgorithms,
  ConvAlgorithmChoice,
  ConvAlgorithmChoices,
} from "./conv-algorithm-choice.js";
import type { DeviceFeedStats } from "./device-resident-feeds.js";
import type { EngineOptions } from "./engine-options.js";
import type { LazySession } from "./lazy-session.js";
import type { LoadedLora, LoraMergedWeights } from "./lora-merged-weights.js";
import type { NetworkContext } from "./networks/network-factory.js";
import { buildNetwork, NETWORK_FACTORIES } from "./networks/registry.js";
import type { UNetSettings } from "./networks/unet.js";
import { openVae } from "./open-vae.js";
import type { PreviewDecoder } from "./preview-decoder.js";
import type { LoadingChoice } from "./sequential-loading.js";

/**
 * 64 latents = 512 px, diffusers' own tile for SD1.x (the VAE's sample_size): larger images decode (and
 * encode) in overlapping tiles. A 1024x1024 decode then peaks at 2.19 GB instead of 4.60 GB with 768 px
 * tiles, for 5 % more time (docs/benchmarks.md, d3-vae1024); 512x512 stays one piece.
 */
export const DEFAULT_TILE_LATENT_SIZE = 64;

export interface OpenedPipeline {
  readonly models: PipelineModels;
  readonly model: LoadedModel;
  readonly loras: readonly { file: LoraFile; weight: number }[];
  /** LoRA keys that matched nothing in this model: reported, never silently dropped. */
  readonly unmatchedLoraKeys: readonly UnmatchedLoraKey[];
  /**
   * TAESD for live previews of the latents generate() reports; undefined without TAESD weights.
   * Its session loads on the first preview and, in low-memory mode, is freed when denoising ends.
   */
  readonly previewDecoder?: PreviewDecoder;
  /** Whether networks load one at a time (memory.lowMemory, or WebGPU's default) and why. */
  readonly loading: LoadingChoice;
  /**
   * How the UNet's 3x3 convs compute and why, where openPipeline chose it (conv-algorithm-choice.ts);
   * absent where the caller passed `speed.convAlgorithm` as it is (the browser engine: direct unless set).
   */
  readonly convAlgorithm?: ConvAlgorithmChoice;
  /** Every network's conv algorithm and why (the UNet's is `convAlgorithm`), where openPipeline chose them. */
  readonly convAlgorithms?: ConvAlgorithmChoices;
  /**
   * On a provider with device memory (WebGPU): how often the UNet's text embeddings were uploaded
   * and how often an upload was reused by a later step. Undefined where every input crosses.
   */
  readonly deviceFeeds?: DeviceFeedStats;
  close(): Promise<void>;
}

function unetSettings(model: LoadedModel, options: EngineOptions): UNetSettings {
  const deepCacheInterval = validateDeepCacheInterval(options.speed?.deepCacheInterval ?? 1);
  const quantization = options.speed?.unetQuantization ?? "none";
  if (!UNET_QUANTIZATIONS.includes(quantization)) {
    throw new Error(
      `unknown UNet quantization "${quantization}" (expected ${UNET_QUANTIZATIONS.join(", ")})`,
    );
  }
  const convAlgorithm = checkedConvAlgorithm(options.speed?.convAlgorithm ?? "direct");
  const attentionQuantization = checkedQuantization(
    options.speed?.attentionQuantization,
    ATTENTION_QUANTIZATIONS,
    "attention",
  );
  const tomeRatio = options.speed?.tomeRatio ?? 0;
  if (typeof tomeRatio !== "number" || !(tomeRatio >= 0 && tomeRatio < 1)) {
    throw new Error(`token merging ratio ${tomeRatio} is not in [0, 1) (tomesd's default is 0.5)`);
  }
  const todoFactor = options.speed?.todoFactor ?? 1;
  if (typeof todoFactor !== "number" || !(todoFactor >= 1 && Number.isFinite(todoFactor))) {
    throw new Error(`ToDo factor ${todoFactor} is not a number >= 1 (1 = off; the reference recommends 2)`);
  }
  const todoMaxDepth = options.speed?.todoMaxDepth ?? 1;
  if (todoMaxDepth !== 1 && todoMaxDepth !== 2)
    throw new Error(`ToDo max depth ${todoMaxDepth} is not 1 or 2`);
  if (todoFactor > 1 && tomeRatio > 0) {
    throw new Error("ToDo (todoFactor) and ToMe (tomeRatio) both reshape the self-attention: choose one");
  }
  return {
    deepCacheInterval,
    quantization,
    attentionQuantization,
    tomeRatio,
    todoFactor,
    todoMaxDepth,
    inpainting: model.inpainting,
    convAlgorithm,
  };
}

/**
 * The compute precision asked for, checked: unset stays unset (the provider's entry chooses), except
 * that int8 layers have no fp16 form, so with any quantization it is float32 and an explicit fp16 an
 * error. openPipeline reads it for the graph variant; assemblePipeline checks it for every caller.
 */
export function checkedPrecision(options: EngineOptions): ComputePrecision | undefined {
  const { precision, unetQuantization, vaeQuantization, textEncoderQuantization, taesdQuantization } =
    options.speed ?? {};
  if (precision !== undefined && !COMPUTE_PRECISIONS.includes(precision)) {
    throw new Error(`unknown precision "${precision}" (expected ${COMPUTE_PRECISIONS.join(", ")})`);
  }
  const quantized = [unetQuantization, vaeQuantization, textEncoderQuantization, taesdQuantization].some(
    (q) => q !== undefined && q !== "none",
  );
  if (!quantized) return precision;
  if (precision === "fp16") throw new Error("precision fp16 does not combine with int8 quantization");
  return "fp32";
}

/** A conv algorithm checked against its choices (the UNet's, and each image codec's). */
function checkedConvAlgorithm<T extends ConvAlgorithm | undefined>(algorithm: T): T {
  if (algorithm !== undefined && !CONV_ALGORITHMS.includes(algorithm)) {
    throw new Error(`unknown conv algorithm "${algorithm}" (expected ${CONV_ALGORITHMS.join(", ")})`);
  }
  return algorithm;
}

function checkedCodecAlgorithms(algorithms: CodecConvAlgorithms): CodecConvAlgorithms {
  for (const a of Object.values(algorithms)) checkedConvAlgorithm(a);
  return algorithms;
}

/** A quantization setting checked against its choices: a clear error names the network. */
function checkedQuantization<T extends string>(
  value: T | undefined,
  choices: readonly T[],
  network: string,
): T {
  const q = value ?? ("none" as T);
  if (!choices.includes(q))
    throw new Error(`unknown ${network} quantization "${q}" (expected ${choices.join(", ")})`);
  return q;
}

/**
 * The four networks (and TAESD previews) of a loaded model wired into the pipeline's seams, for
 * the given network context, tokenizer and LoRA-merged weights (undefined for an ONNX folder).
 * No file system: openPipeline (Node) and the browser engine (web/src/local/) both call it.
 * `codecConvAlgorithms`: how the VAE's and TAESD's 3x3 convs compute (openPipeline's choice; the
 * browser engine passes none: direct); the UNet's is `options.speed.convAlgorithm`.
 */
export function assemblePipeline(
  model: LoadedModel,
  ctx: NetworkContext,
  tokenizer: ClipTokenizer,
  merged: LoraMergedWeights | undefined,
  options: EngineOptions,
  loading: LoadingChoice = {
    sequential: options.memory?.lowMemory ?? false,
    reason: options.memory?.lowMemory === undefined ? "default" : "asked for",
  },
  codecConvAlgorithms: CodecConvAlgorithms = {},
): OpenedPipeline {
  const unetOptions = unetSettings(model, options);
  checkedPrecision(options);
  const textEncoderQuantization: TextEncoderQuantization = checkedQuantization(
    options.speed?.textEncoderQuantization,
    TEXT_ENCODER_QUANTIZATIONS,
    "text encoder",
  );
  const vaeQuantization: VaeQuantization = checkedQuantization(
    options.speed?.vaeQuantization,
    VAE_QUANTIZATIONS,
    "VAE",
  );
  const taesdQuantization: TaesdQuantization = checkedQuantization(
    options.speed?.taesdQuantization,
    TAESD_QUANTIZATIONS,
    "TAESD",
  );
  const schedulerConfig = parseSchedulerConfig(
    model.scheduler.kind === "file" ? model.scheduler.config : model.scheduler.fallback,
  );

  const loras: readonly LoadedLora[] = merged?.loras ?? [];
  const textEncoder = buildNetwork(
    NETWORK_FACTORIES.textEncoder,
    merged
      ? { kind: "weights", weights: merged.textEncoder }
      : { kind: "onnx", onnx: onnxPart(model, "textEncoder") },
    ctx,
    { quantization: textEncoderQuantization },
  );
  const unet = buildNetwork(
    NETWORK_FACTORIES.unet,
    merged ? { kind: "weights", weights: merged.unet } : { kind: "onnx", onnx: onnxPart(model, "unet") },
    ctx.unetTarget ? { ...ctx, target: ctx.unetTarget } : ctx,
    unetOptions,
  );
  if (ctx.unetTarget?.offThread) {
    // the UNet's session loads in its worker while this thread creates and runs the text encoder
    // (when its graph is stored: a build stays where it was); the first step awaits it. Low-memory
    // mode holds both for that while: its peak grows by the text encoder's size at most.
    const [first] = unet.sessions;
    for (const s of textEncoder.sessions) s.whenCreating(() => first?.startEarly());
  }
  const vae = openVae(model, ctx, {
    decoder: options.speed?.decoder ?? "vae",
    tileLatentSize: options.memory?.tileLatentSize ?? DEFAULT_TILE_LATENT_SIZE,
    quantization: vaeQuantization,
    taesdQuantization,
    // a decode 0.08 s faster (its first 0.14 s), for a decode-time peak the UNet's stage is far above
    // (docs/benchmarks.md "int8 TAESD decoder"); released after the image in low-memory mode
    taesdMemoryPool: loading.sequential,
    convAlgorithms: checkedCodecAlgorithms(codecConvAlgorithms),
  });

  const lowMemory = loading.sequential;
  const resident = ctx.residentFeeds;
  const release = async (sessions: readonly LazySession[]) => {
    if (lowMemory) for (const s of sessions) await s.release();
  };
  const models: PipelineModels = {
    tokenizer,
    textEncoder: textEncoder.network,
    unet: unet.network,
    vae: vae.network,
    schedulerConfig,
    stageDone: async (stage) => {
      // the UNet stage owns both DeepCache graphs
      const byStage = { "text-encoder": textEncoder.sessions, unet: unet.sessions, vae: vae.sessions };
      // the embeddings were uploaded for this denoising run only
      if (stage === "unet") resident?.dispose();
      await release(byStage[stage]);
      if (stage === "unet" && lowMemory) await vae.preview?.release();
    },
  };
  return {
    models,
    model,
    loras,
    unmatchedLoraKeys: loras.flatMap((l) => l.file.unmatched),
    previewDecoder: vae.preview,
    loading,
    deviceFeeds: resident?.stats,
    close: async () => {
      await vae.preview?.release(); // after a preview still decoding
      await resident?.release();
      for (const s of [...textEncoder.sessions, ...unet.sessions, ...vae.sessions]) await s.release();
      model.close();
    },
  };
}

/** An ONNX folder's model for one network (the loader found one for each). */
function onnxPart(model: LoadedModel, network: "textEncoder" | "unet") {
  if (model.format !== "onnx") throw new Error(`${model.path}: not an ONNX pipeline folder`);
  return model[network];
}
