/**
 * From a model path to runnable networks: load the weights (any supported format), fuse LoRAs,
 * build each network's ONNX graph (through the on-disk graph cache) or take an ONNX folder's model
 * as it is, and wrap the sessions in the pipeline's network seams.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fileIdentity, GraphCache, graphCacheKey } from "../cache/graph-cache.js";
import type { AttentionKind } from "../graph/layers.js";
import {
  buildTextEncoderGraph,
  clipSkipOutput,
  TEXT_ENCODER_INPUT,
  TEXT_ENCODER_OUTPUT,
} from "../graph/text-encoder.js";
import { buildUNetGraph, UNET_DEEP_FEATURE, UNET_INPUTS, UNET_OUTPUT } from "../graph/unet.js";
import { buildShallowUNetGraph } from "../graph/unet-deepcache.js";
import { UNET_QUANTIZATIONS, type UNetQuantization } from "../graph/unet-quantization.js";
import { readLoraFile } from "../lora/lora-file.js";
import { loraFingerprint } from "../lora/lora-fingerprint.js";
import type { LoraFile, UnmatchedLoraKey } from "../lora/lora-module.js";
import { mergeLoras } from "../lora/merge-lora.js";
import { DeepCacheUNet, validateDeepCacheInterval } from "../pipeline/deep-cache.js";
import type { PipelineModels } from "../pipeline/generate.js";
import type { UNetNetwork } from "../pipeline/networks.js";
import { onnxruntimeNode } from "../runtime/onnxruntime-node.js";
import { ExecutionProviderError, type Runtime, type SessionOptions } from "../runtime/runtime.js";
import { parseSchedulerConfig } from "../schedulers/scheduler-config.js";
import { loadClipTokenizer } from "../tokenizer/load-tokenizer.js";
import type { ArchitectureOverrides } from "../weights/architecture/architecture-overrides.js";
import { type LoadModelOptions, loadModel } from "../weights/load-model.js";
import type { LoadedModel, OnnxComponent, WeightsComponent } from "../weights/loaded-model.js";
import type { WeightSource } from "../weights/weight-source.js";
import { createGraphSession } from "./graph-session.js";
import { int8WeightBitsForThisCpu } from "./int8-weight-bits.js";
import { LazySession } from "./lazy-session.js";
import { createOnnxFolderSession } from "./onnx-folder-session.js";
import { type DecoderKind, openVae } from "./open-vae.js";
import type { PreviewDecoder } from "./preview-decoder.js";
import { SessionDeepCacheUNet } from "./session-deep-cache.js";
import { SessionTextEncoder, SessionUNet } from "./session-networks.js";
import {
  DEFAULT_WEIGHT_STORAGE,
  resolveWeightStorage,
  storageOption,
  validateWeightStorage,
  type WeightStorageChoice,
} from "./weight-storage-choice.js";

/** onnxruntime's fused MultiHeadAttention: same numbers, 1.1x faster per UNet step on CPU and 2-4 GB less memory (docs/benchmarks.md). */
export const DEFAULT_ATTENTION: AttentionKind = "mha";
/**
 * 64 latents = 512 px, diffusers' own tile for SD1.x (the VAE's sample_size): larger images decode (and
 * encode) in overlapping tiles. A 1024x1024 decode then peaks at 2.19 GB instead of 4.60 GB with 768 px
 * tiles, for 5 % more time (docs/benchmarks.md, d3-vae1024); 512x512 stays one piece.
 */
export const DEFAULT_TILE_LATENT_SIZE = 64;

export interface LoraRequest {
  path: string;
  weight: number;
}

export interface EngineOptions {
  runtime?: Runtime;
  /** Execution providers by name ("cpu" default, "webgpu", "cuda", …). */
  executionProviders?: string[];
  /** Threads per operator; default: physical cores. */
  threads?: number;
  /** Built-graph cache; false builds in memory every time. */
  cache?: GraphCache | false;
  /** Load each network only while its stage runs. */
  lowMemory?: boolean;
  attention?: AttentionKind;
  loras?: readonly LoraRequest[];
  overrides?: ArchitectureOverrides;
  /** Standalone VAE replacing the model's own. */
  vae?: string;
  /** TAESD weights (folder or file); needed for decoder "taesd". */
  taesd?: string;
  /** "vae" (quality default) or "taesd" (fast). */
  decoder?: DecoderKind;
  /** Tile the VAE decode above this latent size per side (64 = 512 px), the encode above 8× it in pixels; 0 never tiles. */
  tileLatentSize?: number;
  variant?: string;
  /**
   * DeepCache: the whole UNet runs on every N-th call of a denoising run, only its shallowest
   * branch (on the cached deep feature) in between. 1 = off (default); 2–3 is typical.
   */
  deepCacheInterval?: number;
  /** int8 UNet layers: "none" (default), "int8-linear" (transformer linears) or "int8" (also convs). */
  unetQuantization?: UNetQuantization;
  /**
   * How built graphs store the weights: "auto" (default) keeps an F16 checkpoint's fp16, exactly;
   * "fp16" also rounds F32/BF16 weights (lossy); "fp32" always. See weight-storage-choice.ts.
   */
  weightStorage?: WeightStorageChoice;
}

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
  const loadOptions: LoadModelOptions = {
    overrides: options.overrides,
    vae: options.vae,
    taesd: options.taesd,
    variant: options.variant,
  };
  const model = loadModel(path, loadOptions);
  try {
    return await assemble(model, options);
  } catch (err) {
    model.close();
    throw err;
  }
}

async function assemble(model: LoadedModel, options: EngineOptions): Promise<OpenedPipeline> {
  const runtime = options.runtime ?? onnxruntimeNode();
  // sessions are created lazily: an unknown provider would otherwise surface only mid-generation
  const available = runtime.availableProviders();
  for (const p of options.executionProviders ?? []) {
    if (!available.includes(p)) throw new ExecutionProviderError(p, available);
  }
  const session: SessionOptions = {
    executionProviders: options.executionProviders,
    intraOpNumThreads: options.threads,
  };
  const attention = options.attention ?? DEFAULT_ATTENTION;
  const deepCacheInterval = validateDeepCacheInterval(options.deepCacheInterval ?? 1);
  const quantization = options.unetQuantization ?? "none";
  const storageChoice = validateWeightStorage(options.weightStorage ?? DEFAULT_WEIGHT_STORAGE);
  if (!UNET_QUANTIZATIONS.includes(quantization)) {
    throw new Error(
      `unknown UNet quantization "${quantization}" (expected ${UNET_QUANTIZATIONS.join(", ")})`,
    );
  }
  if (model.format === "onnx" && (deepCacheInterval > 1 || quantization !== "none")) {
    throw new Error(
      `${model.path}: DeepCache and UNet quantization rebuild the UNet graph, which an ONNX pipeline folder does not allow; use the checkpoint or diffusers folder instead`,
    );
  }
  const tokenizer = loadClipTokenizer(
    model.tokenizer.kind === "folder" ? model.tokenizer.path : bundledTokenizerDir(),
  );
  const schedulerConfig = parseSchedulerConfig(
    model.scheduler.kind === "file" ? model.scheduler.config : model.scheduler.fallback,
  );

  const loras: { file: LoraFile; weight: number }[] = [];
  let unetWeights: WeightSource | undefined;
  let textWeights: WeightSource | undefined;
  const loraChanged = { unet: false, textEncoder: false };
  if (model.format !== "onnx") {
    for (const l of options.loras ?? []) {
      loras.push({
        file: readLoraFile(l.path, { unet: model.unet.weights, textEncoder: model.textEncoder.weights }),
        weight: l.weight,
      });
    }
    const merged = mergeLoras(
      { unet: model.unet.weights, textEncoder: model.textEncoder.weights },
      loras.map((l) => ({ lora: l.file, weight: l.weight })),
    );
    unetWeights = merged.unet;
    textWeights = merged.textEncoder;
    loraChanged.unet = merged.unet.changedNames().length > 0;
    loraChanged.textEncoder = merged.textEncoder.changedNames().length > 0;
  } else if ((options.loras ?? []).length > 0) {
    throw new Error(
      `${model.path}: LoRAs cannot be applied to an ONNX pipeline folder (its weights are baked into the graphs); use the checkpoint or diffusers folder instead`,
    );
  }
  const fingerprint = loraFingerprint(loras.map((l) => ({ lora: l.file, weight: l.weight })));

  const cacheFor = (component: WeightsComponent<unknown>, kind: string, extra: unknown) =>
    options.cache === false
      ? undefined
      : {
          cache: options.cache ?? defaultGraphCache(),
          key: graphCacheKey({
            kind,
            weights: component.files.map((f) => fileIdentity(f)),
            config: { config: component.config, loras: fingerprint },
            options: extra,
          }),
        };

  let textEncoder: SessionTextEncoder;
  let unet: UNetNetwork;
  const sessions: LazySession[] = [];
  if (model.format === "onnx") {
    textEncoder = onnxTextEncoder(runtime, model.textEncoder, session, sessions);
    unet = onnxUNet(runtime, model.unet, model.inpainting ? 9 : 4, session, sessions);
  } else {
    const te = model.textEncoder;
    const clipSkips = Array.from({ length: Math.min(te.config.numHiddenLayers - 1, 11) }, (_, i) => i + 1);
    const teStorage = storageOption(
      resolveWeightStorage(storageChoice, { ...te, loraChanged: loraChanged.textEncoder }),
    );
    const teSession = new LazySession(() =>
      createGraphSession(
        runtime,
        () => buildTextEncoderGraph(textWeights!, te.config, { attention, clipSkips, ...teStorage }),
        {
          cache: cacheFor(te, "text_encoder", { attention, clipSkips, ...teStorage }),
          session,
        },
      ),
    );
    sessions.push(teSession);
    textEncoder = new SessionTextEncoder(teSession, te.config.hiddenSize, {
      input: TEXT_ENCODER_INPUT,
      outputFor: (k) =>
        k === 1 ? TEXT_ENCODER_OUTPUT : clipSkips.includes(k - 1) ? clipSkipOutput(k - 1) : undefined,
    });
    const u = model.unet;
    // "none" stays out of the key, so the float graph keeps its cache entry; the weight width
    // depends on the CPU, so a cache shared between machines keeps one graph per width
    const unetStorage = storageOption(
      resolveWeightStorage(storageChoice, { ...u, loraChanged: loraChanged.unet }),
    );
    const unetOptions =
      quantization === "none"
        ? { attention, ...unetStorage }
        : { attention, quantization, int8WeightBits: int8WeightBitsForThisCpu(), ...unetStorage };
    const deepFeature = deepCacheInterval > 1 ? true : undefined;
    const unetSession = new LazySession(() =>
      createGraphSession(
        runtime,
        () => buildUNetGraph(unetWeights!, u.config, { ...unetOptions, deepFeature }),
        {
          cache: cacheFor(u, "unet", { ...unetOptions, deepFeature }),
          session,
        },
      ),
    );
    sessions.push(unetSession);
    const io = {
      sample: UNET_INPUTS.sample,
      timestep: UNET_INPUTS.timestep,
      context: UNET_INPUTS.encoderHiddenStates,
      output: UNET_OUTPUT,
      timestepCond: u.config.timeCondProjDim
        ? { name: UNET_INPUTS.timestepCond, dim: u.config.timeCondProjDim }
        : undefined,
    };
    if (deepFeature) {
      const shallowSession = new LazySession(() =>
        createGraphSession(runtime, () => buildShallowUNetGraph(unetWeights!, u.config, unetOptions), {
          cache: cacheFor(u, "unet_shallow", unetOptions),
          session,
        }),
      );
      sessions.push(shallowSession);
      const halves = new SessionDeepCacheUNet(unetSession, shallowSession, u.config.inChannels, {
        ...io,
        feature: UNET_DEEP_FEATURE,
      });
      unet = new DeepCacheUNet(halves, deepCacheInterval);
    } else {
      unet = new SessionUNet(unetSession, u.config.inChannels, { ...io, timestepType: "float32" });
    }
  }
  const vae = openVae(model, {
    runtime,
    session,
    cache: options.cache === false ? false : (options.cache ?? defaultGraphCache()),
    attention,
    weightStorage: storageChoice,
    decoder: options.decoder ?? "vae",
    tileLatentSize: options.tileLatentSize ?? DEFAULT_TILE_LATENT_SIZE,
  });

  const release = async (s: LazySession) => {
    if (options.lowMemory) await s.release();
  };
  const models: PipelineModels = {
    tokenizer,
    textEncoder,
    unet,
    vae: vae.network,
    schedulerConfig,
    stageDone: async (stage) => {
      // the UNet stage owns every session after the text encoder's (two with DeepCache)
      const byStage = { "text-encoder": [sessions[0]], unet: sessions.slice(1) };
      if (stage === "vae") for (const s of vae.sessions) await release(s);
      else for (const s of byStage[stage]) await release(s);
      if (stage === "unet" && options.lowMemory) await vae.preview?.release();
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
      for (const s of [...sessions, ...vae.sessions]) await s.release();
      model.close();
    },
  };
}

let sharedCache: GraphCache | undefined;
function defaultGraphCache(): GraphCache {
  sharedCache ??= new GraphCache();
  return sharedCache;
}

function onnxTextEncoder(
  runtime: Runtime,
  c: OnnxComponent,
  session: SessionOptions,
  sessions: LazySession[],
) {
  const s = new LazySession(() => createOnnxFolderSession(runtime, c, session));
  sessions.push(s);
  const out = c.outputs.find((o) => o.name === "last_hidden_state") ?? c.outputs[0];
  const hidden = Number(out.shape[2]) || 768;
  return new SessionTextEncoder(s, hidden, {
    input: c.inputs[0].name,
    outputFor: (k) => (k === 1 ? out.name : undefined),
  });
}

function onnxUNet(
  runtime: Runtime,
  c: OnnxComponent,
  inChannels: number,
  session: SessionOptions,
  sessions: LazySession[],
) {
  const s = new LazySession(() => createOnnxFolderSession(runtime, c, session));
  sessions.push(s);
  const byName = (n: string) => c.inputs.find((i) => i.name === n);
  const timestep = byName("timestep");
  return new SessionUNet(s, inChannels, {
    sample: "sample",
    timestep: "timestep",
    timestepType: timestep?.elementType === "int64" ? "int64" : "float32",
    context: "encoder_hidden_states",
    output: c.outputs[0].name,
    latentSides: { multipleOf: 8, model: c.modelPath },
  });
}
