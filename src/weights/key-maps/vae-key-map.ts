/**
 * AutoencoderKL tensors (diffusers names) and their original LDM names (`encoder.down.N.block.M`,
 * `decoder.up.N…` numbered from the top instead of the bottom, `mid.attn_1.{q,k,v,proj_out}` as
 * 1x1 conv kernels), generated from a VaeConfig.
 */
import type { VaeConfig } from "../architecture/model-config.js";
import { type TensorMapping, TensorMappingBuilder } from "./tensor-mapping.js";

function resnet(b: TensorMappingBuilder, canonical: string, ldm: string, inCh: number, outCh: number): void {
  b.norm(`${canonical}.norm1`, `${ldm}.norm1`, inCh);
  b.layer(`${canonical}.conv1`, `${ldm}.conv1`, [outCh, inCh, 3, 3]);
  b.norm(`${canonical}.norm2`, `${ldm}.norm2`, outCh);
  b.layer(`${canonical}.conv2`, `${ldm}.conv2`, [outCh, outCh, 3, 3]);
  if (inCh !== outCh) b.layer(`${canonical}.conv_shortcut`, `${ldm}.nin_shortcut`, [outCh, inCh, 1, 1]);
}

function midBlock(b: TensorMappingBuilder, canonical: string, ldm: string, c: number): void {
  resnet(b, `${canonical}.resnets.0`, `${ldm}.block_1`, c, c);
  const attn = `${canonical}.attentions.0`;
  b.norm(`${attn}.group_norm`, `${ldm}.attn_1.norm`, c);
  for (const [name, ldmName] of [
    ["to_q", "q"],
    ["to_k", "k"],
    ["to_v", "v"],
    ["to_out.0", "proj_out"],
  ]) {
    // a linear weight in diffusers, the same numbers as a 1x1 conv kernel in LDM
    b.add(`${attn}.${name}.weight`, `${ldm}.attn_1.${ldmName}.weight`, [c, c], [c, c, 1, 1]);
    b.add(`${attn}.${name}.bias`, `${ldm}.attn_1.${ldmName}.bias`, [c]);
  }
  resnet(b, `${canonical}.resnets.1`, `${ldm}.block_2`, c, c);
}

export function vaeTensorMap(config: VaeConfig): TensorMapping[] {
  const b = new TensorMappingBuilder();
  const channels = config.blockOutChannels;
  const levels = channels.length;
  const perBlock = config.layersPerBlock;
  const latent = config.latentChannels;
  const deepest = channels[levels - 1];

  b.layer("encoder.conv_in", "encoder.conv_in", [channels[0], config.inChannels, 3, 3]);
  let outCh = channels[0];
  for (let i = 0; i < levels; i++) {
    const inCh = outCh;
    outCh = channels[i];
    for (let j = 0; j < perBlock; j++) {
      const ch = j === 0 ? inCh : outCh;
      resnet(b, `encoder.down_blocks.${i}.resnets.${j}`, `encoder.down.${i}.block.${j}`, ch, outCh);
    }
    if (i < levels - 1) {
      b.layer(`encoder.down_blocks.${i}.downsamplers.0.conv`, `encoder.down.${i}.downsample.conv`, [
        outCh,
        outCh,
        3,
        3,
      ]);
    }
  }
  midBlock(b, "encoder.mid_block", "encoder.mid", deepest);
  b.norm("encoder.conv_norm_out", "encoder.norm_out", deepest);
  b.layer("encoder.conv_out", "encoder.conv_out", [2 * latent, deepest, 3, 3]);

  b.layer("quant_conv", "quant_conv", [2 * latent, 2 * latent, 1, 1]);
  b.layer("post_quant_conv", "post_quant_conv", [latent, latent, 1, 1]);

  b.layer("decoder.conv_in", "decoder.conv_in", [deepest, latent, 3, 3]);
  midBlock(b, "decoder.mid_block", "decoder.mid", deepest);
  const reversed = [...channels].reverse();
  outCh = reversed[0];
  for (let i = 0; i < levels; i++) {
    const prevCh = outCh;
    outCh = reversed[i];
    // LDM numbers decoder levels from the output side: diffusers up_blocks.0 is LDM up.(levels-1)
    const ldm = `decoder.up.${levels - 1 - i}`;
    for (let j = 0; j <= perBlock; j++) {
      resnet(b, `decoder.up_blocks.${i}.resnets.${j}`, `${ldm}.block.${j}`, j === 0 ? prevCh : outCh, outCh);
    }
    if (i < levels - 1) {
      b.layer(`decoder.up_blocks.${i}.upsamplers.0.conv`, `${ldm}.upsample.conv`, [outCh, outCh, 3, 3]);
    }
  }
  b.norm("decoder.conv_norm_out", "decoder.norm_out", channels[0]);
  b.layer("decoder.conv_out", "decoder.conv_out", [config.outChannels, channels[0], 3, 3]);
  return b.mappings;
}
