/**
 * What openPipeline takes: the model's parts at the top (LoRAs, a replacement VAE, TAESD,
 * architecture overrides, the diffusers file variant) and how to run it in three records:
 * `runtime` (where and with what), `memory` (what stays loaded, tiles, weight storage) and `speed`
 * (the options that trade exactness or memory for time). ENGINE_OPTION_FIELDS lists every field
 * once more, typed against these interfaces, so tools that set options by name (the bench) follow
 * the type instead of a list kept by hand.
 */
import type { GraphCache } from "../cache/graph-cache.js";
import type { ConvAlgorithm } from "../graph/conv-algorithm.js";
import type { ComputePrecision } from "../graph/float16-compute.js";
import type { AttentionKind } from "../graph/layers.js";
import type { TaesdQuantization } from "../graph/taesd-quantization.js";
import type { TextEncoderQuantization } from "../graph/text-encoder-quantization.js";
import type { AttentionQuantization, UNetQuantization } from "../graph/unet-quantization.js";
import type { VaeQuantization } from "../graph/vae-quantization.js";
import type { Runtime, WebGpuLayout } from "../runtime/runtime.js";
import type { ArchitectureOverrides } from "../weights/architecture/architecture-overrides.js";
import type { WeightStorageChoice } from "./weight-storage-choice.js";

export interface LoraRequest {
  path: string;
  weight: number;
}

export type DecoderKind = "vae" | "taesd";

/** What to load besides the model file or folder. */
export interface ModelOptions {
  loras?: readonly LoraRequest[];
  overrides?: ArchitectureOverrides;
  /** Standalone VAE replacing the model's own. */
  vae?: string;
  /** TAESD weights (folder or file); needed for decoder "taesd" and TAESD previews. */
  taesd?: string;
  /** The diffusers file variant to read ("fp16": `*.fp16.safetensors`). */
  variant?: string;
}

/** Where the networks run. */
export interface RuntimeOptions {
  /** The inference engine; default onnxruntime-node. */
  backend?: Runtime;
  /**
   * CPU only: a runtime whose sessions live in worker threads (runtime/worker-thread-runtime.ts)
   * for the UNet's sessions. The UNet's session then starts loading (from a stored graph) as soon
   * as the text encoder's does, so its creation overlaps the prompt's encoding. Default: `backend`,
   * in this thread, the UNet created when the first step needs it.
   */
  unetBackend?: Runtime;
  /** Execution providers by name ("cpu" default, "webgpu", "cuda", …). */
  executionProviders?: string[];
  /** Threads per operator; default: physical cores. */
  threads?: number;
  /** Built-graph cache; false builds in memory every time. */
  cache?: GraphCache | false;
  /**
   * Keep the UNet's text embeddings in device memory across steps where the provider has some
   * (WebGPU; device-resident-feeds.ts). Default true; false feeds them from the CPU every step.
   */
  deviceResidentFeeds?: boolean;
  /**
   * The WebGPU provider's layout, "NCHW" or "NHWC"; default the WebGPU variant's (graph-variant.ts
   * WEBGPU_LAYOUT, onnxruntime's own default). Other providers ignore it. For an A/B on a GPU:
   * `sdlite bench --device webgpu --set executionProviders=webgpu,webgpuLayout=NCHW`.
   */
  webgpuLayout?: WebGpuLayout;
}

/** What is kept in memory and on disk. */
export interface MemoryOptions {
  /**
   * Load each network only while its stage runs. Unset: off on the CPU, on for WebGPU unless the
   * adapter reports 8 GiB or more (sequential-loading.ts).
   */
  lowMemory?: boolean;
  /** Tile the VAE decode above this latent size per side (64 = 512 px), the encode above 8× it in pixels; 0 never tiles. */
  tileLatentSize?: number;
  /**
   * How built graphs store the weights: "auto" (default) keeps an F16 checkpoint's fp16, exactly;
   * "fp16" also rounds F32/BF16 weights (lossy); "fp32" always. See weight-storage-choice.ts.
   */
  weightStorage?: WeightStorageChoice;
}

/** The options that buy time, most of them with some exactness (speed-preset.ts groups them). */
export interface SpeedOptions {
  /** Attention as one fused MultiHeadAttention op ("mha", default) or MatMul→Softmax→MatMul. */
  attention?: AttentionKind;
  /**
   * DeepCache: the whole UNet runs on every N-th call of a denoising run, only its shallowest
   * branch (on the cached deep feature) in between. 1 = off (default); 2–3 is typical.
   */
  deepCacheInterval?: number;
  /** int8 UNet layers: "none" (default), "int8-linear" (transformer linears) or "int8" (also convs). */
  unetQuantization?: UNetQuantization;
  /**
   * The UNet's attention products (q·k^T, probabilities·v) in int8: "none" (default) or "int8",
   * which builds the UNet's attention as MatMul→Softmax→MatMul (the fused op is float only).
   */
  attentionQuantization?: AttentionQuantization;
  /**
   * ToMe for SD: the fraction of full-resolution tokens merged before each self-attention there
   * (0 = off, default; tomesd's default 0.5). Meant for images above 512 px; in [0, 1).
   */
  tomeRatio?: number;
  /**
   * ToDo token downsampling: the self-attentions down to `todoMaxDepth` take their keys and
   * values from their tokens downsampled by this factor (nearest-exact; 1 = off, default; the
   * reference's recommendation 2). A number >= 1; not with tomeRatio.
   */
  todoFactor?: number;
  /** ToDo's depth: 1 (default) = full-resolution blocks only, 2 = also the half-resolution ones. */
  todoMaxDepth?: number;
  /** int8 convs in the full VAE's decoder blocks: "none" (default) or "int8". */
  vaeQuantization?: VaeQuantization;
  /** int8 text encoder transformer linears: "none" (default) or "int8". */
  textEncoderQuantization?: TextEncoderQuantization;
  /**
   * int8 convs in TAESD's decoder (its 64→64 convs; the first and last stay float32): "none"
   * (default) or "int8". Applies to TAESD's session, so to live previews too.
   */
  taesdQuantization?: TaesdQuantization;
  /** "vae" (quality default) or "taesd" (fast). */
  decoder?: DecoderKind;
  /**
   * Arithmetic of the built graphs: "fp32", or "fp16" weights and activations (float32 softmax,
   * norms, timestep embedding; graph/float16-compute.ts). Default: the provider's (graph-variant.ts):
   * fp16 on WebGPU when the adapter runs f16 shaders, fp32 everywhere else.
   */
  precision?: ComputePrecision;
  /**
   * The UNet's stride-1 3x3 convs: "direct" (onnxruntime's Conv) or Winograd F(2x2,3x3)
   * ("winograd-f2") / F(4x4,3x3) where the weights allow ("winograd-f4", "winograd-f4-light",
   * "winograd-f4-shallow"); see graph/conv-algorithm.ts. `generate --conv-algorithm`. Unset:
   * openPipeline chooses (conv-algorithm-choice.ts: Winograd for a float UNet on the CPU with the
   * RAM for it, else direct); assemblePipeline alone (the browser engine) takes "direct".
   */
  convAlgorithm?: ConvAlgorithm;
}

export interface EngineOptions extends ModelOptions {
  runtime?: RuntimeOptions;
  memory?: MemoryOptions;
  speed?: SpeedOptions;
}

/** How a field's value is written as text: scalars can be set by name, "object" fields only in code. */
export type OptionKind = "number" | "boolean" | "string" | "strings" | "object";

type FieldKinds<T> = { readonly [K in keyof Required<T>]: OptionKind };

/** The record each EngineOptions field lives in ("model" = the top level). */
export type EngineOptionRecord = "model" | "runtime" | "memory" | "speed";

/**
 * Every EngineOptions field by record. The annotations make the compiler refuse a missing or an
 * extra field, so this table is the type's field list at run time.
 */
export const ENGINE_OPTION_FIELDS: {
  readonly model: FieldKinds<ModelOptions>;
  readonly runtime: FieldKinds<RuntimeOptions>;
  readonly memory: FieldKinds<MemoryOptions>;
  readonly speed: FieldKinds<SpeedOptions>;
} = {
  model: { loras: "object", overrides: "object", vae: "string", taesd: "string", variant: "string" },
  runtime: {
    backend: "object",
    unetBackend: "object",
    executionProviders: "strings",
    threads: "number",
    cache: "object",
    deviceResidentFeeds: "boolean",
    webgpuLayout: "string",
  },
  memory: { lowMemory: "boolean", tileLatentSize: "number", weightStorage: "string" },
  speed: {
    attention: "string",
    deepCacheInterval: "number",
    unetQuantization: "string",
    attentionQuantization: "string",
    tomeRatio: "number",
    todoFactor: "number",
    todoMaxDepth: "number",
    vaeQuantization: "string",
    textEncoderQuantization: "string",
    taesdQuantization: "string",
    decoder: "string",
    precision: "string",
    convAlgorithm: "string",
  },
};

export interface EngineOptionField {
  readonly name: string;
  readonly record: EngineOptionRecord;
  readonly kind: OptionKind;
}

/** All fields, flat: their names are unique across the records. */
export function engineOptionFields(): EngineOptionField[] {
  return Object.entries(ENGINE_OPTION_FIELDS).flatMap(([record, fields]) =>
    Object.entries(fields as Record<string, OptionKind>).map(([name, kind]) => ({
      name,
      record: record as EngineOptionRecord,
      kind,
    })),
  );
}

/**
 * Flat `name: value` settings (as a command line or a JSON file gives them) → EngineOptions, each
 * value in its record. Values are taken as they are; openPipeline checks them. Names that are no
 * field are refused.
 */
export function engineOptionsFromFlat(values: Readonly<Record<string, unknown>>): EngineOptions {
  const fields = new Map(engineOptionFields().map((f) => [f.name, f]));
  const out: Record<string, Record<string, unknown>> & { model: Record<string, unknown> } = { model: {} };
  for (const [name, value] of Object.entries(values)) {
    const field = fields.get(name);
    if (!field) throw new Error(`"${name}" is not an engine option`);
    if (value === undefined) continue;
    out[field.record] ??= {};
    out[field.record][name] = value;
  }
  const { model, ...records } = out;
  return { ...model, ...records } as EngineOptions;
}
