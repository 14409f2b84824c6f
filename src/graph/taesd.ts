/**
 * diffusers' AutoencoderTiny (TAESD) as two ONNX graphs with the diffusers names
 * (`encoder.layers.N…`, `decoder.layers.N…`; madebyollin's own files map onto them, see
 * weights/taesd-key-map.ts).
 *
 * Encoder — input `sample` f32 [batch, 3, H, W] in [−1, 1] (scaled to [0, 1] inside, as EncoderTiny
 * does); output `latent_sample` f32 [batch, latent_channels, H/8, W/8]: the latents themselves
 * (scaling factor 1, nothing to sample).
 * Decoder — input `latent_sample` f32 [batch, latent_channels, h, w] (UNet latents as they are);
 * output `sample` f32 [batch, 3, 8h, 8w] in [−1, 1] units, not clamped. DecoderTiny first soft-clamps
 * the latents with tanh(z/3)·3 and returns 2·y − 1.
 *
 * Batch and spatial sizes are dynamic.
 */
import type { TaesdConfig } from "../weights/architecture/model-config.js";
import type { WeightSource } from "../weights/weight-source.js";
import type { ConvAlgorithm } from "./conv-algorithm.js";
import { type ComputePrecision, withPrecision } from "./float16-compute.js";
import { GraphBuilder } from "./graph-builder.js";
import {
  conv3x3WindowIndices,
  int8Conv2dNhwc,
  quantizeActivation,
  type Uint8Activation,
} from "./int8-layers.js";
import { conv2d, type LayerContext, upsampleNearest } from "./layers.js";
import { type TaesdQuantization, taesdDecoderInt8Policy } from "./taesd-quantization.js";
import type { WeightStorage } from "./weight-storage.js";

export const TAESD_ENCODER_INPUT = "sample";
export const TAESD_ENCODER_OUTPUT = "latent_sample";
export const TAESD_DECODER_INPUT = "latent_sample";
export const TAESD_DECODER_OUTPUT = "sample";

/** AutoencoderTinyBlock: relu(conv(relu(conv(relu(conv(x))))) + skip(x)); skip is a 1x1 conv when widths differ. */
function block(ctx: LayerContext, key: string, x: string): string {
  const { b } = ctx;
  return b.scope(key, () => {
    let h = b.node("Relu", [conv2d(ctx, `${key}.conv.0`, x)]);
    h = b.node("Relu", [conv2d(ctx, `${key}.conv.2`, h)]);
    h = conv2d(ctx, `${key}.conv.4`, h);
    const skip = ctx.weights.has(`${key}.skip.weight`) ? conv2d(ctx, `${key}.skip`, x) : x;
    return b.node("Relu", [b.node("Add", [h, skip])]);
  });
}

export interface TaesdGraphOptions {
  /** How the checkpoint weights are stored: "fp32" (default) or "fp16" upcast in the graph. */
  readonly weightStorage?: WeightStorage;
  /** "fp16": fp16 weights and activations, float32 where unsafe (float16-compute.ts); default "fp32". */
  readonly computePrecision?: ComputePrecision;
  /** How the stride-1 3x3 convs compute (conv-algorithm.ts); default "direct". All of TAESD's are 64→64
   * (or 3/4-channel) kernels, small enough for F(4×4, 3×3) under every Winograd form. int8 convs stay int8. */
  readonly convAlgorithm?: ConvAlgorithm;
  /** int8 decoder convs (taesd-quantization.ts); default "none". The encoder ignores it. */
  readonly quantization?: TaesdQuantization;
  /** Width of the int8 weight codes: 8 (default) or 7 for CPUs without VNNI (see quantize.ts). */
  readonly int8WeightBits?: 7 | 8;
  /**
   * How the int8 3x3 convs build their im2col: "gather" (default: one Gather through indices made
   * once per resolution) or "slices" (Pad, nine Slices, Concat, as the UNet's convs); same numbers.
   * Only for measuring (scripts/taesd-int8-bench.ts); the engine takes the default.
   */
  readonly int8Im2col?: "gather" | "slices";
  /**
   * false: the full-resolution level (the last upsample's conv and the last block, about 45 % of the
   * int8 FLOPs) stays float32 too; it was measured to see whether the 512x512 im2cols make int8's
   * higher peak (they do not: docs/benchmarks.md "Session 10"). Default true. Only for measuring
   * (scripts/taesd-int8-bench.ts); the engine takes the default.
   */
  readonly int8FullResolution?: boolean;
}

/** The index of the decoder's last conv: layers.0, a ReLU, then per level its blocks, an upsample (not
 * after the last level) and a conv. */
function lastDecoderLayer(config: TaesdConfig): number {
  const levels = config.numDecoderBlocks.length;
  return 1 + config.numDecoderBlocks.reduce((n, blocks) => n + blocks + 1, 0) + (levels - 1);
}

export function buildTaesdEncoderGraph(
  weights: WeightSource,
  config: TaesdConfig,
  options: TaesdGraphOptions = {},
): GraphBuilder {
  const b = new GraphBuilder("taesd_encoder", { weightStorage: options.weightStorage });
  const ctx: LayerContext = { b, weights, attention: "matmul", convAlgorithm: options.convAlgorithm };
  const x = b.input(TAESD_ENCODER_INPUT, "float32", ["batch", 3, "height", "width"]);

  // [−1, 1] → [0, 1], as x.add(1).div(2)
  let h = b.node("Div", [b.node("Add", [x, b.constScalar(1)]), b.constScalar(2)]);
  let layer = 0;
  config.numEncoderBlocks.forEach((blocks, level) => {
    // the first conv reads the image; each later level starts with a stride-2 conv
    h = conv2d(ctx, `encoder.layers.${layer++}`, h, { stride: level === 0 ? 1 : 2 });
    for (let k = 0; k < blocks; k++) h = block(ctx, `encoder.layers.${layer++}`, h);
  });
  h = conv2d(ctx, `encoder.layers.${layer}`, h);
  b.output(h, TAESD_ENCODER_OUTPUT, "float32", [
    "batch",
    config.latentChannels,
    "latent_height",
    "latent_width",
  ]);
  return withPrecision(b, options.computePrecision);
}

export function buildTaesdDecoderGraph(
  weights: WeightSource,
  config: TaesdConfig,
  options: TaesdGraphOptions = {},
): GraphBuilder {
  const b = new GraphBuilder("taesd_decoder", { weightStorage: options.weightStorage });
  const lastLayer = lastDecoderLayer(config);
  const int8 = taesdDecoderInt8Policy(options.quantization, lastLayer, options.int8WeightBits);
  const ctx: LayerContext = { b, weights, attention: "matmul", convAlgorithm: options.convAlgorithm, int8 };
  const z = b.input(TAESD_DECODER_INPUT, "float32", ["batch", config.latentChannels, "height", "width"]);

  // soft clamp to (−3, 3): torch.tanh(x / 3) * 3
  let h = b.node("Mul", [b.node("Tanh", [b.node("Div", [z, b.constScalar(3)])]), b.constScalar(3)]);
  h = b.node("Relu", [conv2d(ctx, "decoder.layers.0", h)]);
  const levels = config.numDecoderBlocks.length;
  if (int8) {
    // the int8 convs run channels-last between the float first and last convs
    const im2col = options.int8Im2col ?? "gather";
    const int8Levels = levels - (options.int8FullResolution === false ? 1 : 0);
    const [out, next] = int8DecoderLevels(ctx, config, h, im2col, int8Levels);
    h = out;
    let layer = next;
    // the float rest (int8FullResolution false): the last level as the float graph has it
    const float: LayerContext = { ...ctx, int8: undefined };
    for (let level = int8Levels; level < levels; level++) {
      h = upsampleNearest(b, h, 2);
      layer++; // nn.Upsample
      h = conv2d(float, `decoder.layers.${layer++}`, h);
      for (let k = 0; k < config.numDecoderBlocks[level]; k++)
        h = block(float, `decoder.layers.${layer++}`, h);
    }
    h = conv2d(ctx, `decoder.layers.${lastLayer}`, h);
  } else {
    let layer = 2; // layers.1 is the ReLU
    config.numDecoderBlocks.forEach((blocks, level) => {
      for (let k = 0; k < blocks; k++) h = block(ctx, `decoder.layers.${layer++}`, h);
      if (level < levels - 1) {
        h = upsampleNearest(b, h, 2);
        layer++; // nn.Upsample
      }
      h = conv2d(ctx, `decoder.layers.${layer++}`, h);
    });
  }
  // [0, 1] → [−1, 1], as x.mul(2).sub(1)
  h = b.node("Sub", [b.node("Mul", [h, b.constScalar(2)]), b.constScalar(1)]);
  const factor = 2 ** (levels - 1);
  b.output(h, TAESD_DECODER_OUTPUT, "float32", ["batch", 3, `${factor}*height`, `${factor}*width`]);
  return withPrecision(b, options.computePrecision);
}

/**
 * The int8 decoder from the first conv's output (NCHW) up to the input of the last conv (NCHW): its
 * int8 convs chained channels-last (int8-layers.ts int8Conv2dNhwc), so that no Transpose sits
 * between them, and each upsample acting on the next conv's uint8 codes (a nearest upsample keeps the
 * tensor's min and max, so its codes are the codes of the upsampled activation: a quarter of the
 * bytes to move and to quantize).
 */
function int8DecoderLevels(
  ctx: LayerContext,
  config: TaesdConfig,
  x: string,
  im2col: "gather" | "slices",
  int8Levels: number,
): [output: string, nextLayer: number] {
  const { b } = ctx;
  let h = b.node("Transpose", [x], { perm: [0, 2, 3, 1] });
  // the im2col's source indices, made once per resolution
  const windowsOf = (like: string) => (im2col === "gather" ? { windows: conv3x3WindowIndices(b, like) } : {});
  let windows = windowsOf(h);
  let layer = 2;
  const levels = config.numDecoderBlocks.length;
  config.numDecoderBlocks.slice(0, int8Levels).forEach((blocks, level) => {
    for (let k = 0; k < blocks; k++) h = int8Block(ctx, `decoder.layers.${layer++}`, h, windows);
    // the last conv follows, in float32 (and the float levels before it)
    if (level === levels - 1 || level === int8Levels - 1) return;
    const [codes, scale, zero] = quantizeActivation(ctx, h);
    const up: Uint8Activation = { codes: upsampleNearest(b, codes, 2, "nhwc"), scale, zero };
    layer++; // nn.Upsample
    windows = windowsOf(up.codes);
    h = int8Conv2dNhwc(ctx, `decoder.layers.${layer++}`, up, windows);
  });
  if (int8Levels === levels && layer !== lastDecoderLayer(config))
    throw new Error(`TAESD decoder: ${layer} layers, not ${lastDecoderLayer(config)}`);
  return [b.node("Transpose", [h], { perm: [0, 3, 1, 2] }), layer];
}

/** `block` on NHWC activations with int8 convs (the skip, where there is one, too). */
function int8Block(ctx: LayerContext, key: string, x: string, windows: { windows?: string }): string {
  const { b } = ctx;
  return b.scope(key, () => {
    let h = b.node("Relu", [int8Conv2dNhwc(ctx, `${key}.conv.0`, x, windows)]);
    h = b.node("Relu", [int8Conv2dNhwc(ctx, `${key}.conv.2`, h, windows)]);
    h = int8Conv2dNhwc(ctx, `${key}.conv.4`, h, windows);
    const skip = ctx.weights.has(`${key}.skip.weight`) ? int8Conv2dNhwc(ctx, `${key}.skip`, x) : x;
    return b.node("Relu", [b.node("Add", [h, skip])]);
  });
}
