/**
 * ONNX graphs of BasicSR's RRDBNet and SRVGGNetCompact (basicsr/archs/rrdbnet_arch.py,
 * srvgg_arch.py), numerically the torch modules: input [1, C, H, W] in [0, 1], output
 * [1, C, H·scale, W·scale], not clamped (the caller clamps when it converts to 8 bits).
 * H and W are dynamic, so one graph serves every tile size.
 */
import { float, GraphBuilder } from "../graph/graph-builder.js";
import { conv2d, type LayerContext, upsampleNearest } from "../graph/layers.js";
import type { WeightSource } from "../weights/weight-source.js";
import type { CompactArchitecture, RrdbArchitecture, UpscalerArchitecture } from "./esrgan-architecture.js";
import { pixelShuffle, pixelUnshuffle } from "./pixel-shuffle-ops.js";

export const UPSCALER_INPUT = "image";
export const UPSCALER_OUTPUT = "upscaled";

/** The residual scaling BasicSR applies in every dense block and RRDB. */
const RESIDUAL_SCALE = 0.2;

function leakyRelu(ctx: LayerContext, x: string): string {
  return ctx.b.node("LeakyRelu", [x], { alpha: float(0.2) });
}

/** x + 0.2 · y */
function scaledResidual(ctx: LayerContext, y: string, x: string): string {
  return ctx.b.node("Add", [ctx.b.node("Mul", [y, ctx.b.constScalar(RESIDUAL_SCALE)]), x]);
}

/** ResidualDenseBlock: five convs, each seeing the block input and all earlier outputs. */
function denseBlock(ctx: LayerContext, key: string, x: string): string {
  const seen = [x];
  for (let i = 1; i <= 4; i++) {
    const input = seen.length === 1 ? x : ctx.b.node("Concat", [...seen], { axis: 1 });
    seen.push(leakyRelu(ctx, conv2d(ctx, `${key}.conv${i}`, input)));
  }
  const x5 = conv2d(ctx, `${key}.conv5`, ctx.b.node("Concat", [...seen], { axis: 1 }));
  return scaledResidual(ctx, x5, x);
}

function rrdb(ctx: LayerContext, key: string, x: string): string {
  let out = x;
  for (const d of ["rdb1", "rdb2", "rdb3"]) out = ctx.b.scope(d, () => denseBlock(ctx, `${key}.${d}`, out));
  return scaledResidual(ctx, out, x);
}

function rrdbNet(ctx: LayerContext, a: RrdbArchitecture, x: string): string {
  const { b } = ctx;
  const input = a.unshuffle > 1 ? pixelUnshuffle(b, x, a.imageChannels, a.unshuffle) : x;
  const feat = conv2d(ctx, "conv_first", input);
  let body = feat;
  for (let i = 0; i < a.blocks; i++) body = b.scope(`body.${i}`, () => rrdb(ctx, `body.${i}`, body));
  let up = b.node("Add", [feat, conv2d(ctx, "conv_body", body)]);
  for (let k = 1; k <= a.upsamples; k++) {
    up = leakyRelu(ctx, conv2d(ctx, `conv_up${k}`, upsampleNearest(b, up, 2)));
  }
  return conv2d(ctx, "conv_last", leakyRelu(ctx, conv2d(ctx, "conv_hr", up)));
}

function compactNet(ctx: LayerContext, a: CompactArchitecture, x: string): string {
  const { b } = ctx;
  let out = x;
  const lastConv = 2 * (a.convs + 1);
  for (let i = 0; i <= lastConv; i += 2) {
    out = conv2d(ctx, `body.${i}`, out);
    if (i === lastConv) break;
    // PReLU's slope [C] must broadcast against NCHW: [C, 1, 1]
    const slope = b.node("Unsqueeze", [b.weight(ctx.weights, `body.${i + 1}.weight`), b.constInt64([1, 2])]);
    out = b.node("PRelu", [out, slope]);
  }
  return b.node("Add", [pixelShuffle(b, out, a.scale), upsampleNearest(b, x, a.scale)]);
}

export function buildUpscalerGraph(weights: WeightSource, architecture: UpscalerArchitecture): GraphBuilder {
  const b = new GraphBuilder(architecture.kind === "rrdb" ? "rrdbnet" : "srvgg_compact");
  const ctx: LayerContext = { b, weights, attention: "matmul" };
  const x = b.input(UPSCALER_INPUT, "float32", [1, architecture.imageChannels, "height", "width"]);
  const y = architecture.kind === "rrdb" ? rrdbNet(ctx, architecture, x) : compactNet(ctx, architecture, x);
  b.output(y, UPSCALER_OUTPUT, "float32", [1, architecture.outChannels, "out_height", "out_width"]);
  return b;
}
