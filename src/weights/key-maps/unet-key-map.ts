/**
 * UNet2DConditionModel tensors (diffusers names) and their original LDM names
 * (`input_blocks.N.M`, `middle_block.N`, `output_blocks.N.M`), generated from a UNetConfig by
 * walking the block structure the way diffusers builds it.
 */
import type { UNetConfig } from "../architecture/model-config.js";
import { type TensorMapping, TensorMappingBuilder } from "./tensor-mapping.js";

export function hasCrossAttention(blockType: string): boolean {
  return blockType.startsWith("CrossAttn");
}

function resnet(
  b: TensorMappingBuilder,
  canonical: string,
  ldm: string,
  inChannels: number,
  outChannels: number,
  timeEmbedDim: number,
): void {
  b.norm(`${canonical}.norm1`, `${ldm}.in_layers.0`, inChannels);
  b.layer(`${canonical}.conv1`, `${ldm}.in_layers.2`, [outChannels, inChannels, 3, 3]);
  b.layer(`${canonical}.time_emb_proj`, `${ldm}.emb_layers.1`, [outChannels, timeEmbedDim]);
  b.norm(`${canonical}.norm2`, `${ldm}.out_layers.0`, outChannels);
  b.layer(`${canonical}.conv2`, `${ldm}.out_layers.3`, [outChannels, outChannels, 3, 3]);
  if (inChannels !== outChannels) {
    b.layer(`${canonical}.conv_shortcut`, `${ldm}.skip_connection`, [outChannels, inChannels, 1, 1]);
  }
}

/** Transformer2DModel with one BasicTransformerBlock: the names are the same in both layouts. */
function transformer(
  b: TensorMappingBuilder,
  canonical: string,
  ldm: string,
  channels: number,
  contextDim: number,
  linearProjection: boolean,
): void {
  const c = channels;
  const proj = linearProjection ? [c, c] : [c, c, 1, 1];
  const same = (name: string, shape: number[], bias = true) =>
    b.layer(`${canonical}.${name}`, `${ldm}.${name}`, shape, bias);
  b.norm(`${canonical}.norm`, `${ldm}.norm`, c);
  same("proj_in", proj);
  const block = "transformer_blocks.0";
  for (const [attn, kvDim] of [
    ["attn1", c],
    ["attn2", contextDim],
  ] as const) {
    same(`${block}.${attn}.to_q`, [c, c], false);
    same(`${block}.${attn}.to_k`, [c, kvDim], false);
    same(`${block}.${attn}.to_v`, [c, kvDim], false);
    same(`${block}.${attn}.to_out.0`, [c, c]);
  }
  // GEGLU: one projection to 2 x (4 x channels), split into value and gate
  same(`${block}.ff.net.0.proj`, [8 * c, c]);
  same(`${block}.ff.net.2`, [c, 4 * c]);
  for (const n of ["norm1", "norm2", "norm3"])
    b.norm(`${canonical}.${block}.${n}`, `${ldm}.${block}.${n}`, c);
  same("proj_out", proj);
}

export function unetTensorMap(config: UNetConfig): TensorMapping[] {
  const b = new TensorMappingBuilder();
  const channels = config.blockOutChannels;
  const levels = channels.length;
  const perBlock = config.layersPerBlock;
  const ctx = config.crossAttentionDim;
  const linear = config.useLinearProjection;
  const temb = 4 * channels[0];

  b.layer("conv_in", "input_blocks.0.0", [channels[0], config.inChannels, 3, 3]);
  b.layer("time_embedding.linear_1", "time_embed.0", [temb, channels[0]]);
  b.layer("time_embedding.linear_2", "time_embed.2", [temb, temb]);
  if (config.timeCondProjDim !== undefined) {
    // LCM's guidance projection (no bias). The LDM layout has no name for it: single files converted
    // from diffusers keep the diffusers name under model.diffusion_model.
    b.layer(
      "time_embedding.cond_proj",
      "time_embedding.cond_proj",
      [channels[0], config.timeCondProjDim],
      false,
    );
  }

  let outChannels = channels[0];
  for (let i = 0; i < levels; i++) {
    const inChannels = outChannels;
    outChannels = channels[i];
    const attention = hasCrossAttention(config.downBlockTypes[i]);
    for (let j = 0; j < perBlock; j++) {
      const ldm = `input_blocks.${1 + i * (perBlock + 1) + j}`;
      resnet(
        b,
        `down_blocks.${i}.resnets.${j}`,
        `${ldm}.0`,
        j === 0 ? inChannels : outChannels,
        outChannels,
        temb,
      );
      if (attention) transformer(b, `down_blocks.${i}.attentions.${j}`, `${ldm}.1`, outChannels, ctx, linear);
    }
    if (i < levels - 1) {
      const ldm = `input_blocks.${1 + i * (perBlock + 1) + perBlock}.0.op`;
      b.layer(`down_blocks.${i}.downsamplers.0.conv`, ldm, [outChannels, outChannels, 3, 3]);
    }
  }

  const deepest = channels[levels - 1];
  resnet(b, "mid_block.resnets.0", "middle_block.0", deepest, deepest, temb);
  transformer(b, "mid_block.attentions.0", "middle_block.1", deepest, ctx, linear);
  resnet(b, "mid_block.resnets.1", "middle_block.2", deepest, deepest, temb);

  const reversed = [...channels].reverse();
  outChannels = reversed[0];
  for (let i = 0; i < levels; i++) {
    const prevOutChannels = outChannels;
    outChannels = reversed[i];
    const skipFromBelow = reversed[Math.min(i + 1, levels - 1)];
    const attention = hasCrossAttention(config.upBlockTypes[i]);
    for (let j = 0; j <= perBlock; j++) {
      const ldm = `output_blocks.${i * (perBlock + 1) + j}`;
      const skip = j === perBlock ? skipFromBelow : outChannels;
      const resIn = (j === 0 ? prevOutChannels : outChannels) + skip;
      resnet(b, `up_blocks.${i}.resnets.${j}`, `${ldm}.0`, resIn, outChannels, temb);
      if (attention) transformer(b, `up_blocks.${i}.attentions.${j}`, `${ldm}.1`, outChannels, ctx, linear);
    }
    if (i < levels - 1) {
      const ldm = `output_blocks.${i * (perBlock + 1) + perBlock}.${attention ? 2 : 1}.conv`;
      b.layer(`up_blocks.${i}.upsamplers.0.conv`, ldm, [outChannels, outChannels, 3, 3]);
    }
  }

  b.norm("conv_norm_out", "out.0", channels[0]);
  b.layer("conv_out", "out.2", [config.outChannels, channels[0], 3, 3]);
  return b.mappings;
}
