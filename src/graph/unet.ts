/**
 * diffusers' UNet2DConditionModel (SD1.x/SD2.x: CrossAttnDownBlock2D/DownBlock2D, UNetMidBlock2DCrossAttn,
 * UpBlock2D/CrossAttnUpBlock2D) as an ONNX graph, module for module, with the checkpoint's names.
 *
 * Inputs: `sample` f32 [batch, in_channels, height, width], `timestep` f32 [batch] (or [1], broadcast
 * like diffusers; fractional values are used as they are), `encoder_hidden_states` f32
 * [batch, sequence, cross_attention_dim]; LCM-distilled UNets (config `timeCondProjDim`) also
 * `timestep_cond` f32 [batch or 1, time_cond_proj_dim], the guidance-scale embedding. Output:
 * `out_sample` f32 [batch, out_channels, height, width]. Batch, height, width and sequence are dynamic.
 *
 * Every upsampler resizes (nearest) to the exact spatial size of the skip tensor it is concatenated
 * with. When height and width are multiples of 8 that is exactly ×2; otherwise (e.g. 5×7 → 3×4 → 2×2
 * → 1×1 on the way down) it is what diffusers does with `forward_upsample_size`. So one graph serves
 * every latent size.
 */
import { attentionHeadsPerLevel, type UNetConfig } from "../weights/architecture/model-config.js";
import type { WeightSource } from "../weights/weight-source.js";
import type { ConvAlgorithm } from "./conv-algorithm.js";
import { type ComputePrecision, withPrecision } from "./float16-compute.js";
import { GraphBuilder } from "./graph-builder.js";
import { type Int8Fusion, int8Conv2dToNhwc, int8Linear, int8StackedLinears } from "./int8-layers.js";
import {
  type AttentionKind,
  attention,
  conv2d,
  type FusedOp,
  geglu,
  groupNorm,
  type LayerContext,
  layerNorm,
  linear,
  linearPlusResidual,
  linearResidualLayerNorm,
  type NormAffine,
  resizeNearestLike,
  silu,
} from "./layers.js";
import { downsampleTokens } from "./token-downsampling.js";
import { tokenMerging } from "./token-merging.js";
import { type AttentionQuantization, type UNetQuantization, unetInt8Policy } from "./unet-quantization.js";
import type { WeightStorage } from "./weight-storage.js";

export interface UNetGraphOptions {
  readonly attention?: AttentionKind;
  /** int8 layers (unet-quantization.ts); default "none". */
  readonly quantization?: UNetQuantization;
  /** Width of the int8 weight codes: 8 (default) or 7 for CPUs without VNNI (see quantize.ts). */
  readonly int8WeightBits?: 7 | 8;
  /** int8 graph forms with less layout work (int8-layers.ts INT8_FUSIONS); none when absent. */
  readonly int8Fusions?: readonly Int8Fusion[];
  /** "int8": matmul attention's two products in int8 (int8-layers.ts int8Attention); default "none". */
  readonly attentionQuantization?: AttentionQuantization;
  /**
   * ToMe for SD (token-merging.ts): merge this fraction of the tokens before the self-attention of
   * the full-resolution transformer blocks (tomesd's max_downsample 1); 0 or absent = off.
   */
  readonly tomeRatio?: number;
  /**
   * ToDo (token-downsampling.ts): the self-attention of the transformer blocks down to
   * `todoMaxDepth` takes its keys and values from its normed tokens downsampled by this factor
   * (nearest-exact, floor(h/f) x floor(w/f)); 1 or absent = off. Not with `tomeRatio`.
   */
  readonly todoFactor?: number;
  /** 1 (default): full resolution only (down_blocks.0, up_blocks.3 in SD1.5); 2: also the half-resolution level. */
  readonly todoMaxDepth?: 1 | 2;
  /**
   * Matmul attention slicing (layers.ts AttentionOptions.headsPerSlice) in the self-attention of
   * the full-resolution transformer blocks, the only ones whose scores are large (at 512x512 with
   * CFG: 2 × 8 heads × 4096² float32 = 1 GiB, against 64 MiB one level down); absent = unsliced.
   */
  readonly attentionHeadsPerSlice?: number;
  /** Also output DEEP_FEATURE, the input of the last up block (DeepCache, see unet-deepcache.ts). */
  readonly deepFeature?: boolean;
  /** How the checkpoint weights are stored: "fp32" (default) or "fp16" upcast in the graph. */
  readonly weightStorage?: WeightStorage;
  /** com.microsoft fused ops to emit (layers.ts FusedOp; WebGPU); default none. */
  readonly fusedOps?: readonly FusedOp[];
  /** "fp16": fp16 weights and activations, float32 where unsafe (float16-compute.ts); default "fp32". */
  readonly computePrecision?: ComputePrecision;
  /** Stride-1 3x3 convs: "direct" (default, onnxruntime's Conv) or Winograd (conv-algorithm.ts). */
  readonly convAlgorithm?: ConvAlgorithm;
  /** GroupNorm's affine (layers.ts NormAffine); "mul-add" when absent. */
  readonly normAffine?: NormAffine;
}

export const UNET_INPUTS = {
  sample: "sample",
  timestep: "timestep",
  encoderHiddenStates: "encoder_hidden_states",
  /** Only in graphs of UNets with `timeCondProjDim` (LCM's guidance embedding). */
  timestepCond: "timestep_cond",
} as const;
export const UNET_OUTPUT = "out_sample";
/** With `deepFeature`: the hidden state entering the last (shallowest) up block. */
export const UNET_DEEP_FEATURE = "deep_feature";

/** Transformer2DModel's GroupNorm and BasicTransformerBlock's LayerNorms use fixed epsilons. */
const TRANSFORMER_GROUP_NORM_EPS = 1e-6;
const TRANSFORMER_LAYER_NORM_EPS = 1e-5;
const MAX_PERIOD = 10000;

/**
 * The sinusoid frequencies exactly as diffusers' get_timestep_embedding computes them in float32:
 * exp(float32(-ln(max_period) · k) / (half − shift)).
 */
export function timestepFrequencies(dim: number, freqShift: number): Float32Array {
  const half = Math.floor(dim / 2);
  const f = Math.fround;
  const negLog = f(-Math.log(MAX_PERIOD));
  return Float32Array.from({ length: half }, (_, k) => f(Math.exp(f(f(negLog * k) / (half - freqShift)))));
}

export interface UNetContext extends LayerContext {
  readonly config: UNetConfig;
  readonly temb: string;
  readonly context: string;
}

/** The LayerContext fields a UNet graph's options set (int8 layers and attention). */
export function unetLayerOptions(options: UNetGraphOptions): Omit<LayerContext, "b" | "weights"> {
  return {
    attention: options.attention ?? "matmul",
    int8: unetInt8Policy(options.quantization, options.int8WeightBits, options.int8Fusions),
    fused: new Set(options.fusedOps ?? []),
    convAlgorithm: options.convAlgorithm,
    ...(options.normAffine ? { normAffine: options.normAffine } : {}),
    ...(options.attentionQuantization === "int8" ? { int8Attention: true } : {}),
  };
}

/** Heads per attention slice for a transformer's self-attention at this level (0 = full resolution), if sliced. */
export function headsPerSliceAt(options: UNetGraphOptions, level: number): number | undefined {
  return level === 0 ? options.attentionHeadsPerSlice : undefined;
}

/** ToMe's merge ratio for a transformer at this resolution level (0 = full resolution), if it merges. */
export function tomeRatioAt(options: UNetGraphOptions, level: number): number | undefined {
  return level === 0 && (options.tomeRatio ?? 0) > 0 ? options.tomeRatio : undefined;
}

/** ToDo's downsampling factor for a transformer at this resolution level (0 = full resolution), if it downsamples. */
export function todoFactorAt(options: UNetGraphOptions, level: number): number | undefined {
  const factor = options.todoFactor ?? 1;
  if (factor === 1) return undefined;
  if (!(factor > 1 && Number.isFinite(factor))) throw new Error(`ToDo factor ${factor} is not a number ≥ 1`);
  if ((options.tomeRatio ?? 0) > 0) throw new Error("ToDo and ToMe both reshape self-attention: choose one");
  const maxDepth = options.todoMaxDepth ?? 1;
  if (maxDepth !== 1 && maxDepth !== 2) throw new Error(`ToDo max depth ${maxDepth} is not 1 or 2`);
  return level < maxDepth ? factor : undefined;
}

export function resnet(ctx: UNetContext, key: string, x: string): string {
  const { b, config } = ctx;
  return b.scope(key, () => {
    let h = silu(b, groupNorm(ctx, `${key}.norm1`, x, config.normNumGroups, config.normEps));
    h = conv2d(ctx, `${key}.conv1`, h);
    const t = linear(ctx, `${key}.time_emb_proj`, silu(b, ctx.temb));
    h = b.node("Add", [h, b.node("Unsqueeze", [t, b.constInt64([2, 3])])]);
    h = silu(b, groupNorm(ctx, `${key}.norm2`, h, config.normNumGroups, config.normEps));
    h = conv2d(ctx, `${key}.conv2`, h);
    const shortcut = ctx.weights.has(`${key}.conv_shortcut.weight`)
      ? conv2d(ctx, `${key}.conv_shortcut`, x)
      : x;
    return b.node("Add", [shortcut, h]);
  });
}

/**
 * BasicTransformerBlock: self-attention, cross-attention, GEGLU feed-forward, each pre-LayerNorm + residual.
 * With `tome`, the self-attention runs on merged tokens (tomesd's default: merge_attn only); with
 * `todo`, its keys and values come from the normed tokens downsampled (token-downsampling.ts).
 */
function transformerBlock(
  ctx: UNetContext,
  key: string,
  x: string,
  channels: number,
  heads: number,
  tome?: { ratio: number; height: string; width: string },
  headsPerSlice?: number,
  todo?: { factor: number; height: string; width: string },
): string {
  // each sub-block's output projection, its residual add and the next LayerNorm: plain ops, or
  // SkipLayerNormalization / BiasAdd where the variant fuses them (layers.ts)
  const attended = (name: string, h: string, kv: string, headsPerSlice?: number) => {
    const keys = ["to_q", "to_k", "to_v"].map((p) => `${key}.${name}.${p}`);
    const stacked = ctx.int8?.fusions?.has("self-qkv") && keys.every((k) => ctx.int8?.linear(k));
    if (stacked && h === kv) {
      const [q, k, v] = int8StackedLinears(ctx, keys, h, `${key}.${name}.to_qkv`);
      return attention(ctx, q, k, v, { heads, channels, headsPerSlice });
    }
    if (stacked && name === "attn1") {
      // ToDo's self-attention: k and v still share their (downsampled) input
      const q = int8Linear(ctx, keys[0], h, { bias: false });
      const [k, v] = int8StackedLinears(ctx, keys.slice(1), kv, `${key}.${name}.to_kv`);
      return attention(ctx, q, k, v, { heads, channels, headsPerSlice });
    }
    const q = linear(ctx, keys[0], h, { bias: false });
    const k = linear(ctx, keys[1], kv, { bias: false });
    const v = linear(ctx, keys[2], kv, { bias: false });
    return attention(ctx, q, k, v, { heads, channels, headsPerSlice });
  };
  const eps = TRANSFORMER_LAYER_NORM_EPS;
  const n1 = layerNorm(ctx, `${key}.norm1`, x, eps);
  let selfAttended: string;
  if (tome) {
    const plan = tokenMerging(ctx.b, x, tome.height, tome.width, tome.ratio);
    const merged = plan.merge(n1);
    // unmerging copies tokens back, so it commutes with the per-token output projection that follows
    selfAttended = plan.unmerge(attended("attn1", merged, merged, headsPerSlice));
  } else if (todo) {
    const kv = downsampleTokens(ctx.b, n1, todo.height, todo.width, todo.factor);
    selfAttended = attended("attn1", n1, kv, headsPerSlice);
  } else {
    selfAttended = attended("attn1", n1, n1, headsPerSlice);
  }
  const first = linearResidualLayerNorm(ctx, `${key}.attn1.to_out.0`, selfAttended, x, `${key}.norm2`, eps);
  const second = linearResidualLayerNorm(
    ctx,
    `${key}.attn2.to_out.0`,
    attended("attn2", first.normed, ctx.context),
    first.sum,
    `${key}.norm3`,
    eps,
  );
  return linearPlusResidual(ctx, `${key}.ff.net.2`, geglu(ctx, `${key}.ff.net.0`, second.normed), second.sum);
}

/**
 * Transformer2DModel (one transformer block, as in SD1.x/SD2.x): GroupNorm, proj_in, tokens,
 * proj_out, residual. proj_in/proj_out are 1x1 convs (SD1.x) or linears on the tokens (SD2.x).
 */
export function spatialTransformer(
  ctx: UNetContext,
  key: string,
  x: string,
  channels: number,
  heads: number,
  tomeRatio?: number,
  headsPerSlice?: number,
  todoFactor?: number,
): string {
  const { b, config } = ctx;
  return b.scope(key, () => {
    const shape = b.node("Shape", [x]);
    let h = groupNorm(ctx, `${key}.norm`, x, config.normNumGroups, TRANSFORMER_GROUP_NORM_EPS);
    const toTokens = (v: string) =>
      b.node("Reshape", [b.node("Transpose", [v], { perm: [0, 2, 3, 1] }), b.constInt64([0, -1, channels])]);
    // [B, H*W, C] → [B, H, W, C] → [B, C, H, W]
    const sizes = b.node("Gather", [shape, b.constInt64([0, 2, 3, 1])]);
    const toImage = (v: string) =>
      b.node("Transpose", [b.node("Reshape", [v, sizes])], { perm: [0, 3, 1, 2] });
    // 1x1 int8 projections straight to/from tokens: the NHWC product needs no NCHW round trip
    const tokenProjection = (k: string) =>
      !config.useLinearProjection &&
      ctx.int8?.fusions?.has("token-projections") === true &&
      ctx.int8.conv(k) &&
      ctx.weights
        .shape(`${k}.weight`)
        .slice(2)
        .every((d) => d === 1);
    if (config.useLinearProjection) {
      h = linear(ctx, `${key}.proj_in`, toTokens(h));
    } else if (tokenProjection(`${key}.proj_in`)) {
      h = b.node("Reshape", [int8Conv2dToNhwc(ctx, `${key}.proj_in`, h), b.constInt64([0, -1, channels])]);
    } else {
      h = toTokens(conv2d(ctx, `${key}.proj_in`, h));
    }
    const grid = () => ({
      height: b.node("Slice", [shape, b.constInt64([2]), b.constInt64([3])]),
      width: b.node("Slice", [shape, b.constInt64([3]), b.constInt64([4])]),
    });
    const tome = tomeRatio ? { ratio: tomeRatio, ...grid() } : undefined;
    const todo = todoFactor ? { factor: todoFactor, ...grid() } : undefined;
    for (let i = 0; ctx.weights.has(`${key}.transformer_blocks.${i}.norm1.weight`); i++) {
      const block = `${key}.transformer_blocks.${i}`;
      h = transformerBlock(ctx, block, h, channels, heads, tome, headsPerSlice, todo);
    }
    h = config.useLinearProjection
      ? toImage(linear(ctx, `${key}.proj_out`, h))
      : tokenProjection(`${key}.proj_out`)
        ? toImage(int8Linear(ctx, `${key}.proj_out`, h))
        : conv2d(ctx, `${key}.proj_out`, toImage(h));
    return b.node("Add", [h, x]);
  });
}

/** Nearest resize to the spatial size of `like` (torch interpolate(size=…, mode="nearest")), then conv. */
function upsample(ctx: UNetContext, key: string, x: string, like: string): string {
  const { b } = ctx;
  return b.scope(key, () => conv2d(ctx, `${key}.conv`, resizeNearestLike(b, x, like)));
}

/**
 * `timestep_cond` [batch or 1, time_cond_proj_dim] for UNets with LCM's guidance embedding, else
 * undefined. Graphs that call timeEmbedding declare it with this.
 */
export function timestepCondInput(b: GraphBuilder, config: UNetConfig): string | undefined {
  if (config.timeCondProjDim === undefined) return undefined;
  return b.input(UNET_INPUTS.timestepCond, "float32", ["timestep_cond_batch", config.timeCondProjDim]);
}

/**
 * diffusers' Timesteps + TimestepEmbedding. With `timestepCond`, cond_proj(timestep_cond) is added
 * to the sinusoid before linear_1, as TimestepEmbedding.forward does with its `condition`.
 */
export function timeEmbedding(
  ctx: LayerContext,
  config: UNetConfig,
  timestep: string,
  sample: string,
  timestepCond?: string,
): string {
  const { b } = ctx;
  return b.scope("time_embedding", () => {
    const dim = config.blockOutChannels[0];
    const freqs = timestepFrequencies(dim, config.freqShift);
    // diffusers broadcasts a single timestep over the batch
    const batch = b.node("Slice", [b.node("Shape", [sample]), b.constInt64([0]), b.constInt64([1])]);
    const t = b.node("Expand", [timestep, batch]);
    const args = b.node("Mul", [
      b.node("Unsqueeze", [t, b.constInt64([1])]),
      b.constFloat(freqs, [1, freqs.length]),
    ]);
    const sin = b.node("Sin", [args]);
    const cos = b.node("Cos", [args]);
    let emb = b.node("Concat", config.flipSinToCos ? [cos, sin] : [sin, cos], { axis: 1 });
    if (timestepCond !== undefined) {
      emb = b.node("Add", [emb, linear(ctx, "time_embedding.cond_proj", timestepCond, { bias: false })]);
    }
    return linear(ctx, "time_embedding.linear_2", silu(b, linear(ctx, "time_embedding.linear_1", emb)));
  });
}

export function buildUNetGraph(
  weights: WeightSource,
  config: UNetConfig,
  options: UNetGraphOptions = {},
): GraphBuilder {
  const b = new GraphBuilder("unet", { weightStorage: options.weightStorage });
  const base: LayerContext = { b, weights, ...unetLayerOptions(options) };
  const sample = b.input(UNET_INPUTS.sample, "float32", ["batch", config.inChannels, "height", "width"]);
  const timestep = b.input(UNET_INPUTS.timestep, "float32", ["timestep_batch"]);
  const context = b.input(UNET_INPUTS.encoderHiddenStates, "float32", [
    "batch",
    "sequence",
    config.crossAttentionDim,
  ]);
  const temb = timeEmbedding(base, config, timestep, sample, timestepCondInput(b, config));
  const ctx: UNetContext = { ...base, config, temb, context };
  const blocks = config.blockOutChannels;
  const heads = attentionHeadsPerLevel(config);
  const hasAttention = (type: string) => type.startsWith("CrossAttn");

  let h = conv2d(ctx, "conv_in", sample);
  const skips: string[] = [h];
  // the resnets of the last down block, the mid block and the first up block run at the lowest
  // resolution (their upsampler's conv runs after the upsampling)
  const deepest: UNetContext = { ...ctx, deepestLevel: true };
  const deepestIndex = blocks.length - 1;
  // the convs of one level share its im2col indices (int8 "gather-im2col")
  const atLevel = (c: UNetContext, level: number): UNetContext => ({ ...c, resolutionLevel: level });
  config.downBlockTypes.forEach((type, i) => {
    for (let j = 0; j < config.layersPerBlock; j++) {
      h = resnet(atLevel(i === deepestIndex ? deepest : ctx, i), `down_blocks.${i}.resnets.${j}`, h);
      if (hasAttention(type)) {
        h = spatialTransformer(
          ctx,
          `down_blocks.${i}.attentions.${j}`,
          h,
          blocks[i],
          heads[i],
          tomeRatioAt(options, i),
          headsPerSliceAt(options, i),
          todoFactorAt(options, i),
        );
      }
      skips.push(h);
    }
    if (i < blocks.length - 1) {
      h = b.scope(`down_blocks.${i}.downsamplers.0`, () =>
        conv2d(ctx, `down_blocks.${i}.downsamplers.0.conv`, h, { stride: 2, padding: 1 }),
      );
      skips.push(h);
    }
  });

  h = resnet(atLevel(deepest, deepestIndex), "mid_block.resnets.0", h);
  h = spatialTransformer(
    ctx,
    "mid_block.attentions.0",
    h,
    blocks[blocks.length - 1],
    heads[heads.length - 1],
  );
  h = resnet(atLevel(deepest, deepestIndex), "mid_block.resnets.1", h);

  const reversed = [...blocks].reverse();
  const reversedHeads = [...heads].reverse();
  config.upBlockTypes.forEach((type, i) => {
    if (options.deepFeature && i === config.upBlockTypes.length - 1) {
      b.output(h, UNET_DEEP_FEATURE, "float32", ["batch", blocks[1], "height", "width"]);
    }
    for (let j = 0; j <= config.layersPerBlock; j++) {
      const skip = skips.pop();
      if (!skip) throw new Error("UNet: more up-block resnets than skip connections; check layers_per_block");
      h = b.node("Concat", [h, skip], { axis: 1 });
      h = resnet(atLevel(i === 0 ? deepest : ctx, deepestIndex - i), `up_blocks.${i}.resnets.${j}`, h);
      if (hasAttention(type)) {
        const level = blocks.length - 1 - i;
        h = spatialTransformer(
          ctx,
          `up_blocks.${i}.attentions.${j}`,
          h,
          reversed[i],
          reversedHeads[i],
          tomeRatioAt(options, level),
          headsPerSliceAt(options, level),
          todoFactorAt(options, level),
        );
      }
    }
    // the upsampler's conv runs one level up, after the upsampling
    if (i < blocks.length - 1)
      h = upsample(
        atLevel(ctx, deepestIndex - i - 1),
        `up_blocks.${i}.upsamplers.0`,
        h,
        skips[skips.length - 1],
      );
  });

  h = b.scope("conv_out", () => {
    const normed = silu(b, groupNorm(ctx, "conv_norm_out", h, config.normNumGroups, config.normEps));
    return conv2d(ctx, "conv_out", normed);
  });
  b.output(h, UNET_OUTPUT, "float32", ["batch", config.outChannels, "height", "width"]);
  return withPrecision(b, options.computePrecision);
}
