/**
 * The building blocks of the SD networks as small ONNX subgraphs, each numerically the same as the
 * torch module it mirrors. Every helper takes the checkpoint key prefix of its module, so the
 * initializer names are the checkpoint's (`<key>.weight`, `<key>.bias`).
 *
 * Only standard opset-17 ops unless `attention: "mha"` asks for com.microsoft MultiHeadAttention
 * (f32 on CPU, and on WebGPU); GroupNorm is Reshape→InstanceNormalization→Reshape→Mul→Add, which every
 * execution provider runs (ECOSYSTEM.md §2.5).
 */
import type { WeightSource } from "../weights/weight-source.js";
import { type ConvAlgorithm, winogradTileFor } from "./conv-algorithm.js";
import { float, type GraphBuilder, MS_DOMAIN } from "./graph-builder.js";
import { type Int8Policy, int8Attention, int8Conv2d, int8Linear, int8LinearRows } from "./int8-layers.js";
import { winogradConv3x3 } from "./winograd-conv.js";

/** "matmul": MatMul→Softmax→MatMul, runs anywhere; "mha": com.microsoft MultiHeadAttention. */
export type AttentionKind = "matmul" | "mha";

/**
 * com.microsoft fused ops the WebGPU provider has (ECOSYSTEM.md §2.5), each replacing a plain
 * subgraph with the same numbers: "quickGelu" (CLIP's activation), "biasSplitGelu" (the UNet's
 * GEGLU: bias, split, gelu, product), "skipLayerNorm" (residual add + LayerNorm in the UNet's
 * transformer blocks), "biasAdd" (a linear's bias + the residual; only at 320, 640 or 1280
 * channels, the widths onnxruntime's kernel takes). BiasSplitGelu and BiasAdd have no CPU kernel.
 */
export type FusedOp = "quickGelu" | "biasSplitGelu" | "skipLayerNorm" | "biasAdd";
export const FUSED_OPS: readonly FusedOp[] = ["quickGelu", "biasSplitGelu", "skipLayerNorm", "biasAdd"];
/** The channel counts onnxruntime's BiasAdd kernels accept. */
export const BIAS_ADD_CHANNELS: readonly number[] = [320, 640, 1280];

/**
 * How GroupNorm applies its per-channel gamma/beta after the normalization: "mul-add" (Mul then Add,
 * two passes over the tensor) or "batch-normalization": one BatchNormalization with mean 0, variance
 * 1 and epsilon 0, i.e. x * gamma + beta in one pass (onnxruntime's CPU kernel), bit-identical on the
 * full-size UNet and VAE; the CPU variant's (docs/benchmarks.md "Session 11: elementwise passes of the UNet step").
 */
export type NormAffine = "mul-add" | "batch-normalization";

export interface LayerContext {
  readonly b: GraphBuilder;
  readonly weights: WeightSource;
  readonly attention: AttentionKind;
  /** Layers built in int8 (dynamic activation quantization, see int8-layers.ts); none when absent. */
  readonly int8?: Int8Policy;
  /** Fused ops to emit where their pattern occurs; none when absent. */
  readonly fused?: ReadonlySet<FusedOp>;
  /** How stride-1 3x3 convs are computed (conv-algorithm.ts); "direct" when absent. */
  readonly convAlgorithm?: ConvAlgorithm;
  /** The layers run at the network's lowest resolution (the UNet's deepest level); conv-algorithm.ts. */
  readonly deepestLevel?: boolean;
  /** The layers run at the image's own resolution (the VAE's outermost level); conv-algorithm.ts. */
  readonly fullResolution?: boolean;
  /** Matmul attention's q·k^T and probs·v in int8 (int8-layers.ts int8Attention); ignored by "mha". */
  readonly int8Attention?: boolean;
  /**
   * Which resolution level the layers run at (0 = the network's input size), where the builder knows
   * it: layers at one level share shape-derived tensors (the gathered im2col's pixel indices).
   */
  readonly resolutionLevel?: number;
  /** GroupNorm's affine (NormAffine); "mul-add" when absent. */
  readonly normAffine?: NormAffine;
}

export function fuses(ctx: LayerContext, op: FusedOp): boolean {
  return ctx.fused?.has(op) ?? false;
}

/** torch.finfo(float32).min: what transformers adds at masked attention positions. */
export const MASKED_SCORE = -3.4028234663852886e38;

function weightOf(ctx: LayerContext, key: string): string {
  return ctx.b.weight(ctx.weights, key);
}

/** nn.Linear on the last axis: x @ W^T + b. W stays as stored ([out, in]); ORT folds the Transpose. */
export function linear(ctx: LayerContext, key: string, x: string, options: { bias?: boolean } = {}): string {
  if (ctx.int8?.linear(key)) return int8Linear(ctx, key, x, options);
  const { b } = ctx;
  const wT = b.node("Transpose", [weightOf(ctx, `${key}.weight`)], { perm: [1, 0] });
  const y = b.node("MatMul", [x, wT]);
  return options.bias === false ? y : b.node("Add", [y, weightOf(ctx, `${key}.bias`)]);
}

/** nn.Conv2d (NCHW); kernel size from the weight's shape, "same"-style symmetric padding. */
export function conv2d(
  ctx: LayerContext,
  key: string,
  x: string,
  options: { stride?: number; padding?: number } = {},
): string {
  if (ctx.int8?.conv(key)) return int8Conv2d(ctx, key, x, options);
  // a missing weight fails with weightOf's message ("… is missing"), on either path below
  if (!ctx.weights.has(`${key}.weight`)) weightOf(ctx, `${key}.weight`);
  const dims = ctx.weights.shape(`${key}.weight`);
  const [, , kh, kw] = dims;
  const pad = options.padding ?? Math.floor(kh / 2);
  const stride = options.stride ?? 1;
  const hasBias = ctx.weights.has(`${key}.bias`);
  const tile = winogradTileFor(ctx.convAlgorithm, dims, stride, pad, ctx.deepestLevel, ctx.fullResolution);
  if (tile) {
    return winogradConv3x3(ctx.b, {
      x,
      weightName: `${key}.weight`,
      weightDims: dims,
      readWeight: () => ctx.weights.get(`${key}.weight`),
      bias: hasBias ? weightOf(ctx, `${key}.bias`) : undefined,
      tile,
    });
  }
  const inputs = [x, weightOf(ctx, `${key}.weight`)];
  if (hasBias) inputs.push(weightOf(ctx, `${key}.bias`));
  return ctx.b.node("Conv", inputs, {
    kernel_shape: [kh, kw],
    pads: [pad, pad, pad, pad],
    strides: [stride, stride],
  });
}

/** Per-channel affine [C] applied to NCHW: gamma/beta unsqueezed to [C,1,1] (folded by ORT). */
function channelAffine(ctx: LayerContext, key: string, x: string): string {
  const { b } = ctx;
  if (ctx.normAffine === "batch-normalization") {
    // (x - 0) / sqrt(1 + 0) * gamma + beta: the scale is exactly gamma, the shift exactly beta
    const channels = ctx.weights.shape(`${key}.weight`)[0];
    return b.node(
      "BatchNormalization",
      [
        x,
        weightOf(ctx, `${key}.weight`),
        weightOf(ctx, `${key}.bias`),
        b.constFloat(zeros(channels)),
        b.constFloat(ones(channels)),
      ],
      { epsilon: float(0) },
    );
  }
  const axes = b.constInt64([1, 2]);
  const gamma = b.node("Unsqueeze", [weightOf(ctx, `${key}.weight`), axes]);
  const beta = b.node("Unsqueeze", [weightOf(ctx, `${key}.bias`), axes]);
  return b.node("Add", [b.node("Mul", [x, gamma]), beta]);
}

/** nn.GroupNorm on NCHW as Reshape(N, G, -1) → InstanceNormalization → Reshape back → affine. */
export function groupNorm(ctx: LayerContext, key: string, x: string, groups: number, eps: number): string {
  const { b } = ctx;
  const grouped = b.node("Reshape", [x, b.constInt64([0, groups, -1])]);
  const normed = b.node(
    "InstanceNormalization",
    [grouped, b.constFloat(ones(groups)), b.constFloat(zeros(groups))],
    {
      epsilon: float(eps),
    },
  );
  const back = b.node("Reshape", [normed, b.node("Shape", [x])]);
  return channelAffine(ctx, key, back);
}

/**
 * `residual + linear(key, x)` ([B, S, C]): one com.microsoft BiasAdd (x W^T, bias, residual) where
 * fused and the width is one its kernel takes, else MatMul, Add bias, Add residual.
 */
export function linearPlusResidual(ctx: LayerContext, key: string, x: string, residual: string): string {
  const channels = ctx.weights.shape(`${key}.weight`)[0];
  if (fuses(ctx, "biasAdd") && BIAS_ADD_CHANNELS.includes(channels) && !ctx.int8?.linear(key)) {
    const product = linear(ctx, key, x, { bias: false });
    return ctx.b.node(
      "BiasAdd",
      [product, weightOf(ctx, `${key}.bias`), residual],
      {},
      { domain: MS_DOMAIN },
    );
  }
  return ctx.b.node("Add", [linear(ctx, key, x), residual]);
}

/**
 * LayerNorm(residual + linear(key, x)) and the sum itself ([B, S, C]): one com.microsoft
 * SkipLayerNormalization (its 4th output is input + skip + bias) where fused, else as plain ops.
 */
export function linearResidualLayerNorm(
  ctx: LayerContext,
  key: string,
  x: string,
  residual: string,
  normKey: string,
  eps: number,
): { sum: string; normed: string } {
  const { b } = ctx;
  if (fuses(ctx, "skipLayerNorm") && !ctx.int8?.linear(key)) {
    const product = linear(ctx, key, x, { bias: false });
    const [normed, sum] = b
      .nodeOutputs(
        "SkipLayerNormalization",
        [
          product,
          residual,
          weightOf(ctx, `${normKey}.weight`),
          weightOf(ctx, `${normKey}.bias`),
          weightOf(ctx, `${key}.bias`),
        ],
        { epsilon: float(eps) },
        {
          domain: MS_DOMAIN,
          outputs: [b.freshValueName("SkipLayerNormalization"), "", "", b.freshValueName("skip_sum")],
        },
      )
      .filter((o) => o !== "");
    return { sum, normed };
  }
  const sum = linearPlusResidual(ctx, key, x, residual);
  return { sum, normed: layerNorm(ctx, normKey, sum, eps) };
}

/** nn.LayerNorm over the last axis (ONNX LayerNormalization, opset 17). */
export function layerNorm(ctx: LayerContext, key: string, x: string, eps: number): string {
  return ctx.b.node("LayerNormalization", [x, weightOf(ctx, `${key}.weight`), weightOf(ctx, `${key}.bias`)], {
    axis: -1,
    epsilon: float(eps),
  });
}

export function silu(b: GraphBuilder, x: string): string {
  return b.node("Mul", [x, b.node("Sigmoid", [x])]);
}

const QUICK_GELU_ALPHA = 1.702;

/** CLIP's quick_gelu: x * sigmoid(1.702 x). */
export function quickGelu(b: GraphBuilder, x: string): string {
  return b.node("Mul", [x, b.node("Sigmoid", [b.node("Mul", [x, b.constScalar(QUICK_GELU_ALPHA)])])]);
}

/** quick_gelu as one com.microsoft QuickGelu node. */
export function fusedQuickGelu(b: GraphBuilder, x: string): string {
  return b.node("QuickGelu", [x], { alpha: float(QUICK_GELU_ALPHA) }, { domain: MS_DOMAIN });
}

/**
 * Exact (erf) GELU as torch computes it: x * 0.5 * (1 + erf(x / sqrt(2))). Written with `Div` by sqrt(2),
 * the form onnxruntime's GeluFusion matches: it becomes one com.microsoft Gelu (BiasGelu after a bias Add)
 * on the CPU; the same form with `Mul` by 1/sqrt(2) stays five elementwise passes (Erf among them).
 */
export function gelu(b: GraphBuilder, x: string): string {
  const erf = b.node("Erf", [b.node("Div", [x, b.constScalar(Math.SQRT2)])]);
  return b.node("Mul", [b.node("Mul", [x, b.constScalar(0.5)]), b.node("Add", [erf, b.constScalar(1)])]);
}

/** diffusers GEGLU: proj to 2×inner, split in half, hidden * gelu(gate). */
export function geglu(ctx: LayerContext, key: string, x: string): string {
  const { b } = ctx;
  if (fuses(ctx, "biasSplitGelu") && !ctx.int8?.linear(`${key}.proj`)) {
    // BiasSplitGelu(x W^T, bias) = (h + b_h) * gelu(g + b_g), the halves of the last axis
    const product = linear(ctx, `${key}.proj`, x, { bias: false });
    return b.node("BiasSplitGelu", [product, weightOf(ctx, `${key}.proj.bias`)], {}, { domain: MS_DOMAIN });
  }
  const inner = ctx.weights.shape(`${key}.proj.weight`)[0] / 2;
  if (ctx.int8?.linear(`${key}.proj`) && ctx.int8.fusions?.has("geglu-halves")) {
    const hidden = int8LinearRows(ctx, `${key}.proj`, x, 0, inner);
    return b.node("Mul", [hidden, gelu(b, int8LinearRows(ctx, `${key}.proj`, x, inner, 2 * inner))]);
  }
  const projected = linear(ctx, `${key}.proj`, x);
  const [hidden, gate] = b.nodeOutputs(
    "Split",
    [projected, b.constInt64([inner, inner])],
    { axis: -1 },
    { outputCount: 2 },
  );
  return b.node("Mul", [hidden, gelu(b, gate)]);
}

export interface AttentionOptions {
  readonly heads: number;
  /** Channels of q (= k = v after projection). */
  readonly channels: number;
  /** An additive mask broadcastable to [B, heads, Sq, Sk] (e.g. a causal mask [1, 1, S, S]). */
  readonly bias?: string;
  /** Scale q before the product (transformers' CLIP does `q_proj(x) * scale`); default: scale the scores. */
  readonly scaleQuery?: boolean;
  /**
   * Matmul attention only: compute the heads this many at a time (diffusers' attention slicing),
   * so that one slice's [B, headsPerSlice, Sq, Sk] scores are live at once instead of all heads';
   * the same numbers. Absent, or >= heads: all heads in one product.
   */
  readonly headsPerSlice?: number;
}

/**
 * softmax(q k^T · head_dim^-0.5 + bias) v over `heads` heads; q, k, v are [B, S, C]; returns [B, Sq, C].
 * The scale is applied to the product, as diffusers' baddbmm(alpha=scale) does, unless `scaleQuery`.
 */
export function attention(
  ctx: LayerContext,
  q: string,
  k: string,
  v: string,
  options: AttentionOptions,
): string {
  const { b } = ctx;
  const headDim = options.channels / options.heads;
  const scale = headDim ** -0.5;
  if (ctx.attention === "mha") {
    // inputs: query, key, value, bias, key_padding_mask, attention_bias
    const inputs = [q, k, v];
    if (options.bias) inputs.push("", "", options.bias);
    return b.node(
      "MultiHeadAttention",
      inputs,
      { num_heads: options.heads, scale: float(scale) },
      { domain: MS_DOMAIN },
    );
  }
  if (ctx.int8Attention && !options.bias && !options.scaleQuery) {
    return int8Attention(ctx, q, k, v, { heads: options.heads, channels: options.channels, scale });
  }
  const splitHeads = b.constInt64([0, -1, options.heads, headDim]);
  const qScaled = options.scaleQuery ? b.node("Mul", [q, b.constScalar(scale)]) : q;
  const qh = b.node("Transpose", [b.node("Reshape", [qScaled, splitHeads])], { perm: [0, 2, 1, 3] });
  const kh = b.node("Transpose", [b.node("Reshape", [k, splitHeads])], { perm: [0, 2, 3, 1] });
  const vh = b.node("Transpose", [b.node("Reshape", [v, splitHeads])], { perm: [0, 2, 1, 3] });
  const attend = (qs: string, ks: string, vs: string) => {
    const product = b.node("MatMul", [qs, ks]);
    let scores = options.scaleQuery ? product : b.node("Mul", [product, b.constScalar(scale)]);
    if (options.bias) scores = b.node("Add", [scores, options.bias]);
    return b.node("MatMul", [b.node("Softmax", [scores], { axis: -1 }), vs]);
  };
  const slices = headSlices(options.heads, options.headsPerSlice);
  let heads: string;
  if (slices.length === 1) {
    heads = attend(qh, kh, vh);
  } else {
    // each slice's nodes are emitted together, so onnxruntime's topological order (by node index
    // among the ready ones) runs them one slice after another and reuses the freed score buffers
    const split = (x: string) =>
      b.nodeOutputs("Split", [x, b.constInt64(slices)], { axis: 1 }, { outputCount: slices.length });
    const [qs, ks, vs] = [split(qh), split(kh), split(vh)];
    heads = b.node(
      "Concat",
      slices.map((_, i) => attend(qs[i], ks[i], vs[i])),
      { axis: 1 },
    );
  }
  const out = b.node("Transpose", [heads], { perm: [0, 2, 1, 3] });
  return b.node("Reshape", [out, b.constInt64([0, -1, options.channels])]);
}

/** The head counts of each slice: `perSlice` heads each, the last one what remains; one slice when absent. */
export function headSlices(heads: number, perSlice?: number): number[] {
  if (!perSlice || perSlice >= heads) return [heads];
  if (!Number.isInteger(perSlice) || perSlice < 1)
    throw new Error(`headsPerSlice must be a positive integer, got ${perSlice}`);
  const slices: number[] = [];
  for (let left = heads; left > 0; left -= perSlice) slices.push(Math.min(perSlice, left));
  return slices;
}

const NEAREST_LIKE_TORCH = {
  mode: "nearest",
  // torch's legacy "nearest": source index = floor(dst · in/out)
  coordinate_transformation_mode: "asymmetric",
  nearest_mode: "floor",
} as const;

/** torch interpolate(x, scale_factor=factor, mode="nearest") on NCHW (or on NHWC, any element type). */
export function upsampleNearest(
  b: GraphBuilder,
  x: string,
  factor: number,
  layout: "nchw" | "nhwc" = "nchw",
): string {
  const scales = layout === "nchw" ? [1, 1, factor, factor] : [1, factor, factor, 1];
  return b.node("Resize", [x, "", b.constFloat(scales)], NEAREST_LIKE_TORCH);
}

/** torch interpolate(x, size=like.shape[2:], mode="nearest") on NCHW: resize to another tensor's H, W. */
export function resizeNearestLike(b: GraphBuilder, x: string, like: string): string {
  const batchChannels = b.node("Slice", [b.node("Shape", [x]), b.constInt64([0]), b.constInt64([2])]);
  const spatial = b.node("Slice", [b.node("Shape", [like]), b.constInt64([2]), b.constInt64([4])]);
  const sizes = b.node("Concat", [batchChannels, spatial], { axis: 0 });
  return b.node("Resize", [x, "", "", sizes], NEAREST_LIKE_TORCH);
}

function ones(n: number): number[] {
  return new Array(n).fill(1);
}

function zeros(n: number): number[] {
  return new Array(n).fill(0);
}
