/**
 * What a network factory is and what it gets. A factory turns one network's source (weights in the
 * canonical name space, or an ONNX folder's model) into a pipeline network over lazily created
 * sessions. Every factory takes the same context: the execution target (runtime, providers,
 * threads), the graph variant chosen for that target (graph-variant.ts) and where built graphs are
 * kept (graph-sessions.ts: the disk cache in Node, the page's store in the browser), so a new
 * backend or variant reaches every network without a branch in openPipeline.
 */
import type { ConvAlgorithm } from "../../graph/conv-algorithm.js";
import type { GraphBuilder } from "../../graph/graph-builder.js";
import type { AttentionKind, FusedOp, NormAffine } from "../../graph/layers.js";
import type { Runtime, SessionOptions } from "../../runtime/runtime.js";
import type { OnnxComponent, WeightsComponent } from "../../weights/loaded-model.js";
import type { WeightSource } from "../../weights/weight-source.js";
import type { DeviceResidentFeeds } from "../device-resident-feeds.js";
import type { GraphSessions } from "../graph-sessions.js";
import type { AttentionNetwork, GraphVariant } from "../graph-variant.js";
import { LazySession } from "../lazy-session.js";
import { createOnnxFolderSession } from "../onnx-folder-session.js";
import { resolveWeightStorage, storageOption } from "../weight-storage-choice.js";

/** Where sessions run. */
export interface ExecutionTarget {
  readonly runtime: Runtime;
  /** Providers and threads, as every session of the pipeline gets them. */
  readonly session: SessionOptions;
  /**
   * Sessions are created in another thread (runtime/worker-thread-runtime.ts): a session over a
   * stored graph may then start loading early, while this thread works on another network.
   */
  readonly offThread?: boolean;
}

export interface NetworkContext {
  readonly target: ExecutionTarget;
  readonly variant: GraphVariant;
  /** Where built graphs become sessions (and are kept between runs). */
  readonly graphs: GraphSessions;
  /** How wide int8 weight codes may be on this machine (engine/int8-weight-bits.ts in Node). */
  readonly int8WeightBits: () => 7 | 8;
  /** The model file or folder the networks come from, for messages. */
  readonly modelPath: string;
  /**
   * Where the target has device memory (WebGPU): the UNet's text embeddings stay there across
   * steps. Undefined on the CPU, where every input is fed as it is.
   */
  readonly residentFeeds?: DeviceResidentFeeds;
  /**
   * Where the UNet's sessions run when not at `target`: a worker thread (`offThread`), so that the
   * UNet's session creation overlaps the text encoder's creation and run (assemble-pipeline.ts).
   */
  readonly unetTarget?: ExecutionTarget;
}

/** A network's weights as a factory takes them. */
export interface NetworkWeights<C> {
  readonly component: WeightsComponent<C>;
  /** The component's weights, with any LoRAs merged in. */
  readonly weights: WeightSource;
  /**
   * For networks LoRAs can change: the LoRA set's fingerprint (in the cache key, even when empty)
   * and whether it changed any weight here. Absent for the VAE and TAESD.
   */
  readonly lora?: { readonly fingerprint: string; readonly changed: boolean };
}

/** A network and the sessions it owns (released by low-memory mode and on close). */
export interface BuiltNetwork<N> {
  readonly network: N;
  readonly sessions: readonly LazySession[];
}

/**
 * One network, from either source. `accepts` lets several factories serve one role (registry.ts):
 * the first that accepts a config builds it.
 */
export interface NetworkFactory<Config, OnnxSource, Settings, Output> {
  readonly name: string;
  accepts?(config: Config): boolean;
  fromWeights(source: NetworkWeights<Config>, ctx: NetworkContext, settings: Settings): Output;
  /** Absent where the network cannot come from an ONNX folder. */
  fromOnnx?(source: OnnxSource, ctx: NetworkContext, settings: Settings): Output;
}

/**
 * Build options every weights graph gets from the variant: the attention form of `network` (TAESD,
 * which has none, is keyed with the VAE's), this network's weight storage and, when fp16, the
 * compute precision, the fused ops of the text encoder and UNet when there are any, and the UNet's
 * attention slicing when set (fp32, no fused ops and no slicing stay out of the options, so the
 * CPU's graphs keep their cache keys).
 */
export function variantGraphOptions(
  ctx: NetworkContext,
  source: NetworkWeights<unknown>,
  network: AttentionNetwork,
): {
  attention: AttentionKind;
  weightStorage?: "fp16";
  computePrecision?: "fp16";
  fusedOps?: readonly FusedOp[];
  attentionHeadsPerSlice?: number;
} {
  const storage = resolveWeightStorage(ctx.variant.weightStorage, {
    storedDtypes: source.component.storedDtypes,
    loraChanged: source.lora?.changed,
  });
  return {
    attention: ctx.variant.attention[network],
    ...storageOption(storage),
    ...(ctx.variant.computePrecision === "fp16" ? { computePrecision: "fp16" as const } : {}),
    // the VAE has none of their patterns
    ...(network !== "vae" && ctx.variant.fusedOps.length ? { fusedOps: ctx.variant.fusedOps } : {}),
    // sliced attention changes the UNet's graph, so it enters the UNet's key; unsliced stays out
    ...(network === "unet" && ctx.variant.unetAttentionHeadsPerSlice
      ? { attentionHeadsPerSlice: ctx.variant.unetAttentionHeadsPerSlice }
      : {}),
  };
}

/**
 * The variant's GroupNorm affine as a UNet or VAE graph option and cache-key part: none for Mul + Add
 * (the default, and TAESD, which has no GroupNorm), so those graphs keep their keys.
 */
export function normAffineOption(ctx: NetworkContext): { normAffine?: NormAffine } {
  return ctx.variant.normAffine && ctx.variant.normAffine !== "mul-add"
    ? { normAffine: ctx.variant.normAffine }
    : {};
}

/**
 * A conv algorithm as a graph option and cache-key part: none for "direct" (or unset), so a direct
 * graph keeps the key it had before the option existed and every Winograd form gets its own.
 */
export function convAlgorithmOption(algorithm: ConvAlgorithm | undefined): { convAlgorithm?: ConvAlgorithm } {
  return algorithm && algorithm !== "direct" ? { convAlgorithm: algorithm } : {};
}

/**
 * A session over a graph built from `source`, through the graph cache. `kind` and `keyOptions`
 * (everything the build depends on besides the weights and config) make the cache key. `memory`:
 * this network's memory and saved-model settings over the pipeline's session options (they shape no
 * graph).
 */
export function builtGraphSession(
  ctx: NetworkContext,
  source: NetworkWeights<unknown>,
  kind: string,
  keyOptions: object,
  build: () => GraphBuilder,
  memory: Pick<SessionOptions, "cpuMemArena" | "memPattern" | "savePrepackedWeights"> = {},
): LazySession {
  const { component, lora } = source;
  const request = {
    kind,
    weightFiles: component.files,
    config: lora ? { config: component.config, loras: lora.fingerprint } : component.config,
    options: keyOptions,
    build,
  };
  const { runtime, offThread } = ctx.target;
  const session = { ...ctx.target.session, ...memory };
  const stored = ctx.graphs.stored?.bind(ctx.graphs);
  return new LazySession(() => ctx.graphs.create(request, runtime, session), {
    ...(offThread && stored ? { createsOffThread: () => stored(request, runtime, session) } : {}),
  });
}

/** A session over an ONNX folder's model, run as it is. */
export function onnxFolderSession(ctx: NetworkContext, component: OnnxComponent): LazySession {
  return new LazySession(() => createOnnxFolderSession(ctx.target.runtime, component, ctx.target.session));
}
