/**
 * diffusers' AutoencoderKL (SD1.x: DownEncoderBlock2D / UpDecoderBlock2D, UNetMidBlock2D with one
 * single-head self-attention) as two ONNX graphs, module for module, with the checkpoint's names.
 *
 * Decoder — input `latent_sample` f32 [batch, latent_channels, height, width], already divided by the
 * scaling factor (what `AutoencoderKL.decode` receives); output `sample` f32 [batch, 3, 8·height,
 * 8·width] in model units (about [−1, 1], not clamped). post_quant_conv is included.
 *
 * Encoder — input `sample` f32 [batch, 3, H, W] in [−1, 1]; outputs of the latent distribution
 * (quant_conv included), each [batch, latent_channels, ⌊H/8⌋, ⌊W/8⌋]:
 *   `mean`, `logvar` (clamped to [−30, 20]), `std` = exp(logvar / 2), and `moments` = the raw
 *   quant_conv output [mean ‖ unclamped logvar] on channels, which tiled encoding blends before the
 *   clamp as diffusers does. Sampling (mean + std·randn) is left to the caller's generator.
 *
 * Batch and spatial sizes are dynamic.
 */
import type { VaeConfig } from "../weights/architecture/model-config.js";
import type { WeightSource } from "../weights/weight-source.js";
import type { ConvAlgorithm } from "./conv-algorithm.js";
import { type ComputePrecision, withPrecision } from "./float16-compute.js";
import { GraphBuilder } from "./graph-builder.js";
import {
  type AttentionKind,
  attention,
  conv2d,
  groupNorm,
  type LayerContext,
  linear,
  type NormAffine,
  silu,
  upsampleNearest,
} from "./layers.js";
import { type VaeQuantization, vaeDecoderInt8Policy } from "./vae-quantization.js";
import type { WeightStorage } from "./weight-storage.js";

export interface VaeGraphOptions {
  readonly attention?: AttentionKind;
  /** How the checkpoint weights are stored: "fp32" (default) or "fp16" upcast in the graph. */
  readonly weightStorage?: WeightStorage;
  /** "fp16": fp16 weights and activations, float32 where unsafe (float16-compute.ts); default "fp32". */
  readonly computePrecision?: ComputePrecision;
  /** int8 decoder convs (vae-quantization.ts); default "none". The encoder ignores it. */
  readonly quantization?: VaeQuantization;
  /** Width of the int8 weight codes: 8 (default) or 7 for CPUs without VNNI (see quantize.ts). */
  readonly int8WeightBits?: 7 | 8;
  /** How the stride-1 3x3 float convs compute (conv-algorithm.ts); default "direct". SD's VAE kernels (at
   * most 512→512) all take F(4×4, 3×3) under the F4 forms; no level is marked deepest. int8 convs stay int8. */
  readonly convAlgorithm?: ConvAlgorithm;
  /** GroupNorm's affine (layers.ts NormAffine); "mul-add" when absent. */
  readonly normAffine?: NormAffine;
}

export const VAE_DECODER_INPUT = "latent_sample";
export const VAE_DECODER_OUTPUT = "sample";
export const VAE_ENCODER_INPUT = "sample";
export const VAE_ENCODER_OUTPUTS = {
  mean: "mean",
  logvar: "logvar",
  std: "std",
  moments: "moments",
} as const;

/** Every GroupNorm of the SD VAE (resnets, mid attention, norm_out) uses this epsilon. */
const VAE_NORM_EPS = 1e-6;
/** DiagonalGaussianDistribution clamps logvar to this range. */
export const LOGVAR_MIN = -30;
export const LOGVAR_MAX = 20;

interface VaeContext extends LayerContext {
  readonly config: VaeConfig;
}

function norm(ctx: VaeContext, key: string, x: string): string {
  return groupNorm(ctx, key, x, ctx.config.normNumGroups, VAE_NORM_EPS);
}

/** ResnetBlock2D without a time embedding; a 1x1 conv_shortcut when the width changes. */
function resnet(ctx: VaeContext, key: string, x: string): string {
  const { b } = ctx;
  return b.scope(key, () => {
    let h = conv2d(ctx, `${key}.conv1`, silu(b, norm(ctx, `${key}.norm1`, x)));
    h = conv2d(ctx, `${key}.conv2`, silu(b, norm(ctx, `${key}.norm2`, h)));
    const shortcut = ctx.weights.has(`${key}.conv_shortcut.weight`)
      ? conv2d(ctx, `${key}.conv_shortcut`, x)
      : x;
    return b.node("Add", [shortcut, h]);
  });
}

/** The mid block's Attention: GroupNorm, one head over all H·W positions, to_out, residual. */
function selfAttention(ctx: VaeContext, key: string, x: string, channels: number): string {
  const { b } = ctx;
  return b.scope(key, () => {
    const tokens = b.node(
      "Transpose",
      [b.node("Reshape", [norm(ctx, `${key}.group_norm`, x), b.constInt64([0, channels, -1])])],
      {
        perm: [0, 2, 1],
      },
    );
    const q = linear(ctx, `${key}.to_q`, tokens);
    const k = linear(ctx, `${key}.to_k`, tokens);
    const v = linear(ctx, `${key}.to_v`, tokens);
    const out = linear(ctx, `${key}.to_out.0`, attention(ctx, q, k, v, { heads: 1, channels }));
    const image = b.node("Reshape", [b.node("Transpose", [out], { perm: [0, 2, 1] }), b.node("Shape", [x])]);
    return b.node("Add", [image, x]);
  });
}

function midBlock(ctx: VaeContext, key: string, x: string, channels: number): string {
  let h = resnet(ctx, `${key}.resnets.0`, x);
  h = selfAttention(ctx, `${key}.attentions.0`, h, channels);
  return resnet(ctx, `${key}.resnets.1`, h);
}

/** Downsample2D with padding 0: pad right and bottom by one, then a stride-2 3x3 conv. */
function downsample(ctx: VaeContext, key: string, x: string): string {
  const { b } = ctx;
  return b.scope(key, () => {
    const [, , kh, kw] = ctx.weights.shape(`${key}.conv.weight`);
    return b.node(
      "Conv",
      [x, b.weight(ctx.weights, `${key}.conv.weight`), b.weight(ctx.weights, `${key}.conv.bias`)],
      { kernel_shape: [kh, kw], pads: [0, 0, 1, 1], strides: [2, 2] },
    );
  });
}

function context(
  b: GraphBuilder,
  weights: WeightSource,
  config: VaeConfig,
  options: VaeGraphOptions,
  int8?: LayerContext["int8"],
): VaeContext {
  return {
    b,
    weights,
    config,
    attention: options.attention ?? "matmul",
    int8,
    convAlgorithm: options.convAlgorithm,
    ...(options.normAffine ? { normAffine: options.normAffine } : {}),
  };
}

export function buildVaeDecoderGraph(
  weights: WeightSource,
  config: VaeConfig,
  options: VaeGraphOptions = {},
): GraphBuilder {
  const b = new GraphBuilder("vae_decoder", { weightStorage: options.weightStorage });
  const int8 = vaeDecoderInt8Policy(options.quantization, options.int8WeightBits);
  const ctx = context(b, weights, config, options, int8);
  const blocks = config.blockOutChannels;
  const z = b.input(VAE_DECODER_INPUT, "float32", ["batch", config.latentChannels, "height", "width"]);

  // the last up block, the upsampler conv before it and conv_out run at the image's size
  const full: VaeContext = { ...ctx, fullResolution: true };
  const last = blocks.length - 1;
  let h = conv2d(ctx, "post_quant_conv", z);
  h = conv2d(ctx, "decoder.conv_in", h);
  h = midBlock(ctx, "decoder.mid_block", h, blocks[blocks.length - 1]);
  for (let i = 0; i < blocks.length; i++) {
    for (let j = 0; j < config.layersPerBlock + 1; j++)
      h = resnet(i === last ? full : ctx, `decoder.up_blocks.${i}.resnets.${j}`, h);
    if (i < last) {
      const key = `decoder.up_blocks.${i}.upsamplers.0`;
      const at = i === last - 1 ? full : ctx;
      h = b.scope(key, () => conv2d(at, `${key}.conv`, upsampleNearest(b, h, 2)));
    }
  }
  h = conv2d(full, "decoder.conv_out", silu(b, norm(ctx, "decoder.conv_norm_out", h)));
  const factor = 2 ** (blocks.length - 1);
  b.output(h, VAE_DECODER_OUTPUT, "float32", [
    "batch",
    config.outChannels,
    `${factor}*height`,
    `${factor}*width`,
  ]);
  return withPrecision(b, options.computePrecision);
}

export function buildVaeEncoderGraph(
  weights: WeightSource,
  config: VaeConfig,
  options: VaeGraphOptions = {},
): GraphBuilder {
  const b = new GraphBuilder("vae_encoder", { weightStorage: options.weightStorage });
  const ctx = context(b, weights, config, options);
  const blocks = config.blockOutChannels;
  const latent = config.latentChannels;
  const x = b.input(VAE_ENCODER_INPUT, "float32", ["batch", config.inChannels, "height", "width"]);

  // conv_in and the first down block's resnets run at the image's size
  const full: VaeContext = { ...ctx, fullResolution: true };
  let h = conv2d(full, "encoder.conv_in", x);
  for (let i = 0; i < blocks.length; i++) {
    for (let j = 0; j < config.layersPerBlock; j++)
      h = resnet(i === 0 ? full : ctx, `encoder.down_blocks.${i}.resnets.${j}`, h);
    if (i < blocks.length - 1) h = downsample(ctx, `encoder.down_blocks.${i}.downsamplers.0`, h);
  }
  h = midBlock(ctx, "encoder.mid_block", h, blocks[blocks.length - 1]);
  h = conv2d(ctx, "encoder.conv_out", silu(b, norm(ctx, "encoder.conv_norm_out", h)));
  const moments = conv2d(ctx, "quant_conv", h);

  const [mean, rawLogvar] = b.nodeOutputs(
    "Split",
    [moments, b.constInt64([latent, latent])],
    { axis: 1 },
    { outputCount: 2 },
  );
  const logvar = b.node("Clip", [rawLogvar, b.constScalar(LOGVAR_MIN), b.constScalar(LOGVAR_MAX)]);
  const std = b.node("Exp", [b.node("Mul", [logvar, b.constScalar(0.5)])]);
  const shape = ["batch", latent, "latent_height", "latent_width"];
  b.output(mean, VAE_ENCODER_OUTPUTS.mean, "float32", shape);
  b.output(logvar, VAE_ENCODER_OUTPUTS.logvar, "float32", shape);
  b.output(std, VAE_ENCODER_OUTPUTS.std, "float32", shape);
  b.output(moments, VAE_ENCODER_OUTPUTS.moments, "float32", [
    "batch",
    2 * latent,
    "latent_height",
    "latent_width",
  ]);
  return withPrecision(b, options.computePrecision);
}
