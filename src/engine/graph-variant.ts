/**
 * The form of graph the network factories build, chosen per execution provider. Each provider
 * sdlite tunes for is one entry in EXECUTION_PROVIDERS, saying which variant runs best on it; what
 * the user asked for explicitly always wins. A provider without an entry gets the CPU variant
 * (onnxruntime falls back to its CPU kernels for ops a provider lacks).
 *
 * To tune for another provider: append one entry. A variant field that changes a graph goes into
 * that graph's cache key (network-factory.ts); its default value stays out, so existing cache
 * entries keep their keys.
 */
import type { ComputePrecision } from "../graph/float16-compute.js";
import type { AttentionKind, FusedOp, NormAffine } from "../graph/layers.js";
import type { WebGpuLayout } from "../runtime/runtime.js";
import { DEFAULT_WEIGHT_STORAGE, type WeightStorageChoice } from "./weight-storage-choice.js";

/** onnxruntime's fused MultiHeadAttention: same numbers, 1.1x faster per UNet step on CPU and 2-4 GB less memory (docs/benchmarks.md). */
export const DEFAULT_ATTENTION: AttentionKind = "mha";

/** The networks that have attention (TAESD has none). */
export type AttentionNetwork = "textEncoder" | "unet" | "vae";

export interface GraphVariant {
  /**
   * The attention form of each network: providers differ in which fused kernels they run right
   * (onnxruntime-web's WebGPU MultiHeadAttention, for one, rejects the text encoder's causal bias).
   */
  readonly attention: Readonly<Record<AttentionNetwork, AttentionKind>>;
  /** How weights are stored, resolved per network (weight-storage-choice.ts). */
  readonly weightStorage: WeightStorageChoice;
  /**
   * The arithmetic of every network: "fp32", or "fp16" weights and activations with float32
   * softmax, norms and timestep embedding (graph/float16-compute.ts). Never fp16 on the CPU
   * unless asked: onnxruntime's x86 kernels would only cast back to float32.
   */
  readonly computePrecision: ComputePrecision;
  /** com.microsoft fused ops the text encoder and UNet are built with (layers.ts); none on the CPU. */
  readonly fusedOps: readonly FusedOp[];
  /**
   * GroupNorm's affine in the UNet and the VAE (layers.ts NormAffine): "batch-normalization" on the CPU,
   * one pass instead of Mul + Add with the same numbers (a 512x512 VAE decode 1.9 % faster; the UNet
   * step within noise: docs/benchmarks.md "Session 11: elementwise passes of the UNet step"); absent =
   * Mul + Add (WebGPU and wasm, where it is unmeasured).
   */
  readonly normAffine?: NormAffine;
  /**
   * Matmul attention slicing in the UNet's full-resolution self-attention: heads per slice
   * (graph/unet.ts attentionHeadsPerSlice); absent = unsliced. Only where the UNet's attention is
   * "matmul" (MultiHeadAttention keeps no scores tensor).
   */
  readonly unetAttentionHeadsPerSlice?: number;
  /**
   * The WebGPU provider's layout (SessionOptions.webgpuLayout); absent for other providers. A
   * session setting, not a graph one: the built graph is the same in both (onnxruntime rewrites it
   * when the session is created), so it is in no cache key.
   */
  readonly webgpuLayout?: WebGpuLayout;
}

/** What the user set explicitly (EngineOptions.speed.attention, memory.weightStorage). */
export interface RequestedVariant {
  /** One attention form for every network, whatever the provider prefers. */
  readonly attention?: AttentionKind;
  readonly weightStorage?: WeightStorageChoice;
  readonly computePrecision?: ComputePrecision;
  /** false: no attention slicing where the provider's variant would slice (in-tab LocalLoadOptions). */
  readonly attentionSlicing?: boolean;
  /** The WebGPU provider's layout, for an A/B on a GPU (EngineOptions.runtime.webgpuLayout). */
  readonly webgpuLayout?: WebGpuLayout;
}

/** What is known of the device the provider runs on (absent: nothing, assume the least). */
export interface DeviceFeatures {
  /** The WebGPU adapter runs f16 shaders (its "shader-f16" feature; webgpu-shader-f16.ts checks it). */
  readonly shaderF16?: boolean;
}

export interface ExecutionProviderEntry {
  /** The provider's name as SessionOptions.executionProviders spells it. */
  readonly name: string;
  /** This provider's variant, with the fields the user set taking precedence. */
  variant(requested: RequestedVariant, device?: DeviceFeatures): GraphVariant;
  /** Whether the variant depends on DeviceFeatures, so that the caller finds them out first. */
  readonly usesDeviceFeatures?: boolean;
}

/** The same attention form in every network. */
export function attentionEverywhere(kind: AttentionKind): GraphVariant["attention"] {
  return { textEncoder: kind, unet: kind, vae: kind };
}

/**
 * Heads per slice of the WebGPU variant's full-resolution UNet self-attention: one. SD1.5's 8 heads
 * at 512x512 with CFG have 2 × 8 × 4096² float32 scores, 1 GiB per tensor (the product, its scaled
 * copy and the softmax are each live at once); one head's are 128 MiB (docs/benchmarks.md, GPU memory).
 */
export const WEBGPU_UNET_HEADS_PER_SLICE = 1;

/**
 * The WebGPU variant's layout: onnxruntime's own default, stated so that the choice is ours. Its
 * WebGPU provider defaults to NHWC when no `preferredLayout` is given (onnxruntime-node 1.30's
 * native provider, webgpu_execution_provider.h, and onnxruntime-web 1.30's WebGPU build, the same
 * provider compiled to wasm). Both layouts match the CPU on SwiftShader (test/webgpu-networks.test.ts)
 * and lavapipe; which is faster on a GPU is unmeasured (docs/benchmarks.md, "NHWC"):
 * `sdlite bench --device webgpu --set executionProviders=webgpu,webgpuLayout=NCHW`.
 */
export const WEBGPU_LAYOUT: WebGpuLayout = "NHWC";

/** The fused ops the WebGPU variant emits: those test/webgpu-fused-ops.test.ts finds right. */
export const WEBGPU_FUSED_OPS: readonly FusedOp[] = [
  "quickGelu",
  "biasSplitGelu",
  "skipLayerNorm",
  "biasAdd",
];

/**
 * The fused ops of the WebGPU variant in fp16: onnxruntime's WebGPU BiasSplitGelu fails at run time
 * on float16 ("absl ... raw_hash_map<>::at", onnxruntime-node 1.30 on lavapipe's f16 shaders), so
 * the fp16 UNet keeps its plain Add → Split → Gelu → Mul; test/webgpu-fp16-lavapipe.test.ts checks
 * each op in fp16.
 */
export const WEBGPU_FP16_FUSED_OPS: readonly FusedOp[] = WEBGPU_FUSED_OPS.filter(
  (op) => op !== "biasSplitGelu",
);

export const EXECUTION_PROVIDERS: readonly ExecutionProviderEntry[] = [
  {
    name: "cpu",
    variant: (requested) => ({
      attention: attentionEverywhere(requested.attention ?? DEFAULT_ATTENTION),
      weightStorage: requested.weightStorage ?? DEFAULT_WEIGHT_STORAGE,
      computePrecision: requested.computePrecision ?? "fp32",
      // BiasSplitGelu and BiasAdd have no CPU kernel; ORT fuses SiLU into QuickGelu itself; its CPU
      // SkipLayerNormalization is 3x slower than LayerNormalization + Add (docs/benchmarks.md,
      // "Session 11: elementwise passes of the UNet step"), and ORT leaves the two apart as it should
      fusedOps: [],
      normAffine: "batch-normalization",
    }),
  },
  {
    // onnxruntime's native WebGPU MultiHeadAttention computes wrong numbers on the SwiftShader
    // adapter (head size a multiple of 4, query length >= 32; test/webgpu-networks.test.ts shows it)
    // and on Mesa's lavapipe too (less wrong; test/webgpu-fp16-lavapipe.test.ts), so the fault is
    // the kernel's, not one driver's, and no GPU proved it right yet: MatMul→Softmax→MatMul, which
    // matches the CPU. The same entry serves onnxruntime-web's WebGPU build in the browser (the
    // native EP too; JSEP rejects the text encoder's [1,1,S,S] causal bias):
    // test/browser-runtime.test.ts and browser-engine.test.ts.
    name: "webgpu",
    // fp16 compute where the adapter has f16 shaders: onnxruntime's WebGPU kernels otherwise refuse
    // to run ("requires f16 but the device does not support it", as on SwiftShader); the fp16 graphs
    // run on Mesa's lavapipe, which has f16 shaders (test/webgpu-fp16-lavapipe.test.ts)
    usesDeviceFeatures: true,
    variant: (requested, device) => {
      const computePrecision = requested.computePrecision ?? (device?.shaderF16 ? "fp16" : "fp32");
      const attention = requested.attention ?? "matmul";
      return {
        attention: attentionEverywhere(attention),
        ...(attention === "matmul" && requested.attentionSlicing !== false
          ? { unetAttentionHeadsPerSlice: WEBGPU_UNET_HEADS_PER_SLICE }
          : {}),
        // float32 compute stores float32 weights: fp16-stored ones are upcast by onnxruntime's
        // constant folding on the CPU side, which in onnxruntime-web is the wasm32 heap (4 GiB):
        // the UNet's fp16 weights and their fp32 copy (1.72 + 3.44 GB) do not fit (std::bad_alloc),
        // while float32 external data goes straight into GPU buffers (docs/benchmarks.md, GPU memory)
        weightStorage:
          requested.weightStorage ?? (computePrecision === "fp32" ? "fp32" : DEFAULT_WEIGHT_STORAGE),
        computePrecision,
        fusedOps: computePrecision === "fp16" ? WEBGPU_FP16_FUSED_OPS : WEBGPU_FUSED_OPS,
        webgpuLayout: requested.webgpuLayout ?? WEBGPU_LAYOUT,
      };
    },
  },
  {
    // onnxruntime-web's wasm backend (the in-tab engine, web/src/local/): its CPU kernels are
    // onnxruntime's own, MultiHeadAttention included; test/browser-engine.test.ts checks the image.
    name: "wasm",
    variant: (requested) => ({
      attention: attentionEverywhere(requested.attention ?? DEFAULT_ATTENTION),
      weightStorage: requested.weightStorage ?? DEFAULT_WEIGHT_STORAGE,
      computePrecision: requested.computePrecision ?? "fp32",
      // the CPU's choice: BiasSplitGelu and BiasAdd have no CPU kernel
      fusedOps: [],
    }),
  },
];

/** The entry of the first provider in the list (the one onnxruntime tries first); CPU's by default. */
export function executionProviderEntry(providers: readonly string[] | undefined): ExecutionProviderEntry {
  const first = providers?.[0] ?? "cpu";
  const cpu = EXECUTION_PROVIDERS.find((e) => e.name === "cpu");
  if (!cpu) throw new Error("EXECUTION_PROVIDERS has no cpu entry");
  return EXECUTION_PROVIDERS.find((e) => e.name === first) ?? cpu;
}

/** The session options a variant sets (its WebGPU layout), to spread over the pipeline's. */
export function variantSessionOptions(variant: GraphVariant): { webgpuLayout?: WebGpuLayout } {
  return variant.webgpuLayout === undefined ? {} : { webgpuLayout: variant.webgpuLayout };
}

export function graphVariantFor(
  providers: readonly string[] | undefined,
  requested: RequestedVariant,
  device?: DeviceFeatures,
): GraphVariant {
  return executionProviderEntry(providers).variant(requested, device);
}
