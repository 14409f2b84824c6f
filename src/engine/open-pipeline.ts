/**
 * From a model path to runnable networks: load the weights (any supported format), fuse LoRAs,
 * and build each network with its factory (networks/registry.ts): a graph built from the weights
 * (through the on-disk graph cache) or an ONNX folder's model as it is, for the execution target
 * and graph variant chosen here, wrapped in the pipeline's network seams.
 */

import { existsSync } from "node:fs";
import { totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GraphCache } from "../cache/graph-cache.js";
import { onnxruntimeNode } from "../runtime/onnxruntime-node.js";
import { ExecutionProviderError, WEBGPU_LAYOUTS, type WebGpuLayout } from "../runtime/runtime.js";
import { loadClipTokenizer } from "../tokenizer/load-tokenizer.js";
import { loadModel } from "../weights/load-model.js";
import type { LoadedModel } from "../weights/loaded-model.js";
import { applyLoras, refuseLorasOnOnnx } from "./apply-loras.js";
import { assemblePipeline, checkedPrecision, type OpenedPipeline } from "./assemble-pipeline.js";
import { chooseConvAlgorithms } from "./conv-algorithm-choice.js";
import { DeviceResidentFeeds } from "./device-resident-feeds.js";
import { diskGraphSessions } from "./disk-graph-sessions.js";
import type { EngineOptions } from "./engine-options.js";
import { gpuAdapterInfo } from "./gpu-adapter-info.js";
import {
  type DeviceFeatures,
  executionProviderEntry,
  graphVariantFor,
  variantSessionOptions,
} from "./graph-variant.js";
import { int8WeightBitsForThisCpu } from "./int8-weight-bits.js";
import type { NetworkContext } from "./networks/network-factory.js";
import { chooseSequentialLoading } from "./sequential-loading.js";
import { webGpuRunsF16 } from "./webgpu-shader-f16.js";
import { validateWeightStorage } from "./weight-storage-choice.js";

export { DEFAULT_TILE_LATENT_SIZE, type OpenedPipeline } from "./assemble-pipeline.js";
export type { EngineOptions, LoraRequest } from "./engine-options.js";
export { DEFAULT_ATTENTION } from "./graph-variant.js";

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

/** What the first provider's variant needs to know of the device (WebGPU: f16 shaders), when it is asked. */
async function deviceFeatures(options: EngineOptions): Promise<DeviceFeatures | undefined> {
  const { backend, executionProviders } = options.runtime ?? {};
  if (!executionProviderEntry(executionProviders).usesDeviceFeatures) return undefined;
  if (checkedPrecision(options) !== undefined) return undefined;
  return { shaderF16: await webGpuRunsF16(backend ?? onnxruntimeNode()) };
}

/** EngineOptions.runtime.webgpuLayout, checked (it may come from a command line as any string). */
function checkedWebGpuLayout(layout: string | undefined): WebGpuLayout | undefined {
  if (layout === undefined || (WEBGPU_LAYOUTS as readonly string[]).includes(layout))
    return layout as WebGpuLayout | undefined;
  throw new Error(`webgpuLayout must be ${WEBGPU_LAYOUTS.join(" or ")}, not ${JSON.stringify(layout)}`);
}

/** The execution target and graph variant every network factory of this pipeline gets. */
function networkContext(
  model: LoadedModel,
  options: EngineOptions,
  device: DeviceFeatures | undefined,
): NetworkContext {
  const { backend, unetBackend, executionProviders, threads, cache } = options.runtime ?? {};
  const runtime = backend ?? onnxruntimeNode();
  // sessions are created lazily: an unknown provider would otherwise surface only mid-generation
  const available = runtime.availableProviders();
  for (const p of executionProviders ?? []) {
    if (!available.includes(p)) throw new ExecutionProviderError(p, available);
  }
  // unset stays unset: the provider's entry chooses its default
  const requested = options.memory?.weightStorage;
  const weightStorage = requested === undefined ? undefined : validateWeightStorage(requested);
  const requestedVariant = {
    attention: options.speed?.attention,
    weightStorage,
    computePrecision: checkedPrecision(options),
    webgpuLayout: checkedWebGpuLayout(options.runtime?.webgpuLayout),
  };
  const variant = graphVariantFor(executionProviders, requestedVariant, device);
  const session = { executionProviders, intraOpNumThreads: threads, ...variantSessionOptions(variant) };
  const resident =
    options.runtime?.deviceResidentFeeds !== false && runtime.deviceTensors?.(session) === true
      ? new DeviceResidentFeeds(runtime, session)
      : undefined;
  return {
    target: { runtime, session },
    variant,
    graphs: diskGraphSessions(cache === false ? undefined : (cache ?? defaultGraphCache())),
    int8WeightBits: int8WeightBitsForThisCpu,
    modelPath: model.path,
    residentFeeds: resident,
    // a worker-thread runtime takes CPU tensors only: not where inputs stay in device memory
    ...(unetBackend && (executionProviders ?? ["cpu"]).every((p) => p === "cpu")
      ? { unetTarget: { runtime: unetBackend, session, offThread: true } }
      : {}),
  };
}

async function assemble(model: LoadedModel, options: EngineOptions): Promise<OpenedPipeline> {
  const ctx = networkContext(model, options, await deviceFeatures(options));
  const tokenizer =
    model.tokenizer.kind === "folder"
      ? loadClipTokenizer(model.tokenizer.path)
      : loadClipTokenizer(bundledTokenizerDir(), { padToken: model.tokenizer.padToken });
  const requests = options.loras ?? [];
  refuseLorasOnOnnx(model, requests);
  const merged = model.format === "onnx" ? undefined : applyLoras(model, requests);
  const loading = chooseSequentialLoading(
    options.memory?.lowMemory,
    options.runtime?.executionProviders,
    gpuAdapterInfo,
  );
  const convAlgorithms = chooseConvAlgorithms(options.speed?.convAlgorithm, {
    executionProviders: options.runtime?.executionProviders,
    unetQuantization: options.speed?.unetQuantization ?? "none",
    attentionQuantization: options.speed?.attentionQuantization ?? "none",
    vaeQuantization: options.speed?.vaeQuantization ?? "none",
    precision: checkedPrecision(options),
    totalMemoryBytes: totalmem(),
  });
  const speed = { ...options.speed, convAlgorithm: convAlgorithms.unet.algorithm };
  const opened = assemblePipeline(model, ctx, tokenizer, merged, { ...options, speed }, loading, {
    vaeDecoder: convAlgorithms.vaeDecoder.algorithm,
    vaeEncoder: convAlgorithms.vaeEncoder.algorithm,
    taesdDecoder: convAlgorithms.taesdDecoder.algorithm,
  });
  return { ...opened, convAlgorithm: convAlgorithms.unet, convAlgorithms };
}

let sharedCache: GraphCache | undefined;
function defaultGraphCache(): GraphCache {
  sharedCache ??= new GraphCache();
  return sharedCache;
}
