/**
 * From a model path to runnable networks: load the weights (any supported format), fuse LoRAs,
 * and build each network with its factory (networks/registry.ts): a graph built from the weights
 * (through the on-disk graph cache) or an ONNX folder's model as it is, for the execution target
 * and graph variant chosen here, wrapped in the pipeline's network seams.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GraphCache } from "../cache/graph-cache.js";
import {
  TEXT_ENCODER_QUANTIZATIONS,
  type TextEncoderQuantization,
} from "../graph/text-encoder-quantization.js";
import { ATTENTION_QUANTIZATIONS, UNET_QUANTIZATIONS } from "../graph/unet-quantization.js";
import { VAE_QUANTIZATIONS, type VaeQuantization } from "../graph/vae-quantization.js";
import type { LoraFile, UnmatchedLoraKey } from "../lora/lora-module.js";
import { validateDeepCacheInterval } from "../pipeline/deep-cache.js";
import type { PipelineModels } from "../pipeline/generate.js";
import { onnxruntimeNode } from "../runtime/onnxruntime-node.js";
import { ExecutionProviderError } from "../runtime/runtime.js";
import { parseSchedulerConfig } from "../schedulers/scheduler-config.js";
import { loadClipTokenizer } from "../tokenizer/load-tokenizer.js";
import { loadModel } from "../weights/load-model.js";
import type { LoadedModel } from "../weights/loaded-model.js";
import { applyLoras, type LoadedLora, refuseLorasOnOnnx } from "./apply-loras.js";
import type { EngineOptions } from "./engine-options.js";
import { graphVariantFor } from "./graph-variant.js";
import type { LazySession } from "./lazy-session.js";
import type { NetworkContext } from "./networks/network-factory.js";
import { buildNetwork, NETWORK_FACTORIES } from "./networks/registry.js";
import type { UNetSettings } from "./networks/unet.js";
import { openVae } from "./open-vae.js";
import type { PreviewDecoder } from "./preview-decoder.js";
import { validateWeightStorage } from "./weight-storage-choice.js";

export type { EngineOptions, LoraRequest } from "./engine-options.js";
export { DEFAULT_ATTENTION } from "./graph-variant.js";

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
  close(): Promise<void>;
}

/** CLIP ViT-L/14's vocabulary, bundled: single-file checkpoints carry no tokenizer. */
export function bundledTokenizerDir(): string {
  // src/engine (tsx) and dist/src/engine (compiled) sit at different depths below the package root
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "assets", "clip-tokenizer");
    if (existsSync(join(candidate, "vocab.json"))) return candidate;
    dir = dirname(dir);
  }
  throw new Error("the bundled CLIP tokenizer (assets/clip-tokenizer) is missing from this installation");
}

export async function openPipeline(path: string, options: EngineOptions = {}): Promise<OpenedPipeline> {
  const { overrides, vae, taesd, variant } = options;
  const model = loadModel(path, { overrides, vae, taesd, variant });
  try {
    return await assemble(model, options);
  } catch (err) {
    model.close();
    throw err;
  }
}

/** The execution target and graph variant every network factory of this pipeline gets. */
function networkContext(model: LoadedModel, options: EngineOptions): NetworkContext {
  const { backend, executionProviders, threads, cache } = options.runtime ?? {};
  const runtime = backend ?? onnxruntimeNode();
  // sessions are created lazily: an unknown provider would otherwise surface only mid-generation
  const available = runtime.availableProviders();
  for (const p of executionProviders ?? []) {
    if (!available.includes(p)) throw new ExecutionProviderError(p, available);
  }
  // unset stays unset: the provider's entry chooses its default
  const requested = options.memory?.weightStorage;
  const weightStorage = requested === undefined ? undefined : validateWeightStorage(requested);
  return {
    target: { runtime, session: { executionProviders, intraOpNumThreads: threads } },
    variant: graphVariantFor(executionProviders, { attention: options.speed?.attention, weightStorage }),
    cache: cache === false ? undefined : (cache ?? defaultGraphCache()),
    modelPath: model.path,
  };
}

function unetSettings(model: LoadedModel, options: EngineOptions): UNetSettings {
  const deepCacheInterval = validateDeepCacheInterval(options.speed?.deepCacheInterval ?? 1);
  const quantization = options.speed?.unetQuantization ?? "none";
  if (!UNET_QUANTIZATIONS.includes(quantization)) {
    throw new Error(
      `unknown UNet quantization "${quantization}" (expected ${UNET_QUANTIZATIONS.join(", ")})`,
    );
  }
  const attentionQuantization = checkedQuantization(
    options.speed?.attentionQuantization,
    ATTENTION_QUANTIZATIONS,
    "attention",
  );
  const tomeRatio = options.speed?.tomeRatio ?? 0;
  if (typeof tomeRatio !== "number" || !(tomeRatio >= 0 && tomeRatio < 1)) {
    throw new Error(`token merging ratio ${tomeRatio} is not in [0, 1) (tomesd's default is 0.5)`);
  }
  return { deepCacheInterval, quantization, attentionQuantization, tomeRatio, inpainting: model.inpainting };
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

async function assemble(model: LoadedModel, options: EngineOptions): Promise<OpenedPipeline> {
  const ctx = networkContext(model, options);
  const unetOptions = unetSettings(model, options);
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
  const tokenizer =
    model.tokenizer.kind === "folder"
      ? loadClipTokenizer(model.tokenizer.path)
      : loadClipTokenizer(bundledTokenizerDir(), { padToken: model.tokenizer.padToken });
  const schedulerConfig = parseSchedulerConfig(
    model.scheduler.kind === "file" ? model.scheduler.config : model.scheduler.fallback,
  );

  const requests = options.loras ?? [];
  refuseLorasOnOnnx(model, requests);
  const merged = model.format === "onnx" ? undefined : applyLoras(model, requests);
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
    ctx,
    unetOptions,
  );
  const vae = openVae(model, ctx, {
    decoder: options.speed?.decoder ?? "vae",
    tileLatentSize: options.memory?.tileLatentSize ?? DEFAULT_TILE_LATENT_SIZE,
    quantization: vaeQuantization,
  });

  const lowMemory = options.memory?.lowMemory ?? false;
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
    close: async () => {
      await vae.preview?.release(); // after a preview still decoding
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

let sharedCache: GraphCache | undefined;
function defaultGraphCache(): GraphCache {
  sharedCache ??= new GraphCache();
  return sharedCache;
}
