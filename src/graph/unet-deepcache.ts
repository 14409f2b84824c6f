/**
 * DeepCache (Ma et al. 2023, "DeepCache: Accelerating Diffusion Models for Free"): the deep part of
 * the UNet changes slowly between adjacent denoising steps, so a step may reuse it and run only the
 * shallowest skip branch: conv_in → down_blocks[0] (without its downsampler) … up_blocks[-1] →
 * conv_out, with the hidden state that entered up_blocks[-1] taken from the last full step.
 *
 * The full step is the ordinary UNet graph built with `deepFeature: true` (one extra output,
 * UNET_DEEP_FEATURE); this file builds the shallow graph that takes that feature as an input. Given
 * the feature computed from the same inputs, the shallow graph's output is the full UNet's.
 * For SD1.5 at 64×64 the shallow part is about a third of the FLOPs: down_blocks[0] and
 * up_blocks[3] both run at full resolution, where self-attention is most expensive. Measured
 * (scripts/unet-speed-options.ts, 2 cores, batch 1): full 2.78 s, shallow 1.26 s (0.45x).
 */
import { attentionHeadsAt, type UNetConfig } from "../weights/architecture/model-config.js";
import type { WeightSource } from "../weights/weight-source.js";
import { withPrecision } from "./float16-compute.js";
import { GraphBuilder } from "./graph-builder.js";
import { conv2d, groupNorm, type LayerContext, silu } from "./layers.js";
import {
  headsPerSliceAt,
  resnet,
  spatialTransformer,
  timeEmbedding,
  timestepCondInput,
  todoFactorAt,
  tomeRatioAt,
  UNET_DEEP_FEATURE,
  UNET_INPUTS,
  UNET_OUTPUT,
  type UNetContext,
  type UNetGraphOptions,
  unetLayerOptions,
} from "./unet.js";

/** The full graph's options minus its deep-feature output (the shallow graph has none). */
export type ShallowUNetGraphOptions = Omit<UNetGraphOptions, "deepFeature">;

export const SHALLOW_UNET_INPUTS = { ...UNET_INPUTS, deepFeature: UNET_DEEP_FEATURE } as const;

/** Channels of the cached feature: what the second-shallowest level hands up (640 for SD1.5). */
export function deepFeatureChannels(config: UNetConfig): number {
  return config.blockOutChannels.length > 1 ? config.blockOutChannels[1] : config.blockOutChannels[0];
}

export function buildShallowUNetGraph(
  weights: WeightSource,
  config: UNetConfig,
  options: ShallowUNetGraphOptions = {},
): GraphBuilder {
  if (config.blockOutChannels.length < 2) {
    throw new Error("DeepCache needs a UNet with at least two levels");
  }
  const b = new GraphBuilder("unet_shallow", { weightStorage: options.weightStorage });
  const base: LayerContext = { b, weights, ...unetLayerOptions(options) };
  const sample = b.input(SHALLOW_UNET_INPUTS.sample, "float32", [
    "batch",
    config.inChannels,
    "height",
    "width",
  ]);
  const timestep = b.input(SHALLOW_UNET_INPUTS.timestep, "float32", ["timestep_batch"]);
  const context = b.input(SHALLOW_UNET_INPUTS.encoderHiddenStates, "float32", [
    "batch",
    "sequence",
    config.crossAttentionDim,
  ]);
  const feature = b.input(SHALLOW_UNET_INPUTS.deepFeature, "float32", [
    "batch",
    deepFeatureChannels(config),
    "height",
    "width",
  ]);
  const temb = timeEmbedding(base, config, timestep, sample, timestepCondInput(b, config));
  // every layer here runs at the full resolution (level 0)
  const ctx: UNetContext = { ...base, config, temb, context, resolutionLevel: 0 };
  const channels = config.blockOutChannels[0];
  const heads = attentionHeadsAt(config, 0);
  const hasAttention = (type: string) => type.startsWith("CrossAttn");

  // the first level of the down path, exactly as in buildUNetGraph, minus the downsampler
  let h = conv2d(ctx, "conv_in", sample);
  const skips: string[] = [h];
  for (let j = 0; j < config.layersPerBlock; j++) {
    h = resnet(ctx, `down_blocks.0.resnets.${j}`, h);
    if (hasAttention(config.downBlockTypes[0])) {
      h = spatialTransformer(
        ctx,
        `down_blocks.0.attentions.${j}`,
        h,
        channels,
        heads,
        tomeRatioAt(options, 0),
        headsPerSliceAt(options, 0),
        todoFactorAt(options, 0),
      );
    }
    skips.push(h);
  }

  // the last up block, entered with the cached deep feature instead of the deeper levels' output
  const last = config.upBlockTypes.length - 1;
  h = feature;
  for (let j = 0; j <= config.layersPerBlock; j++) {
    const skip = skips.pop();
    if (!skip) throw new Error("UNet: more up-block resnets than skip connections; check layers_per_block");
    h = b.node("Concat", [h, skip], { axis: 1 });
    h = resnet(ctx, `up_blocks.${last}.resnets.${j}`, h);
    if (hasAttention(config.upBlockTypes[last])) {
      h = spatialTransformer(
        ctx,
        `up_blocks.${last}.attentions.${j}`,
        h,
        channels,
        heads,
        tomeRatioAt(options, 0),
        headsPerSliceAt(options, 0),
        todoFactorAt(options, 0),
      );
    }
  }

  h = b.scope("conv_out", () => {
    const normed = silu(b, groupNorm(ctx, "conv_norm_out", h, config.normNumGroups, config.normEps));
    return conv2d(ctx, "conv_out", normed);
  });
  b.output(h, UNET_OUTPUT, "float32", ["batch", config.outChannels, "height", "width"]);
  return withPrecision(b, options.computePrecision);
}
