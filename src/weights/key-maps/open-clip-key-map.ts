/**
 * SD 2.x single files keep the text tower in OpenCLIP's own layout (`cond_stage_model.model.*`):
 * `transformer.resblocks.N` blocks with q, k and v fused into `attn.in_proj_weight` / `in_proj_bias`,
 * `mlp.c_fc` / `mlp.c_proj`, `ln_final`, and an unnamed `positional_embedding`. This maps them onto
 * transformers' CLIPTextModel names (what diffusers' SD2 folders hold), cutting the fused projection
 * into its q, k, v thirds, as diffusers' `convert_open_clip_checkpoint` does.
 */
import type { TextEncoderConfig } from "../architecture/model-config.js";
import { type TensorMapping, TensorMappingBuilder } from "./tensor-mapping.js";

/** Where the OpenCLIP text tower lives inside an SD 2.x single file. */
export const OPEN_CLIP_PREFIX = "cond_stage_model.model.";

/** Tensors of the OpenCLIP model that SD does not use: the CLIP projection head and its temperature. */
export const OPEN_CLIP_UNUSED = /^(text_projection|logit_scale)$/;

/** The blocks the layers of `config` come from: OpenCLIP block N is transformers' layer N. */
export function openClipTensorMap(
  config: TextEncoderConfig,
  blocks = config.numHiddenLayers,
): TensorMapping[] {
  const b = new TensorMappingBuilder();
  const h = config.hiddenSize;
  const text = "text_model";
  b.add(`${text}.embeddings.token_embedding.weight`, "token_embedding.weight", [config.vocabSize, h]);
  b.add(`${text}.embeddings.position_embedding.weight`, "positional_embedding", [
    config.maxPositionEmbeddings,
    h,
  ]);
  for (let i = 0; i < blocks; i++) {
    const layer = `${text}.encoder.layers.${i}`;
    const block = `transformer.resblocks.${i}`;
    b.norm(`${layer}.layer_norm1`, `${block}.ln_1`, h);
    const projections = ["q_proj", "k_proj", "v_proj"].map((p) => `${layer}.self_attn.${p}`);
    b.slices(
      projections.map((p) => `${p}.weight`),
      `${block}.attn.in_proj_weight`,
      [h, h],
    );
    b.slices(
      projections.map((p) => `${p}.bias`),
      `${block}.attn.in_proj_bias`,
      [h],
    );
    b.layer(`${layer}.self_attn.out_proj`, `${block}.attn.out_proj`, [h, h]);
    b.norm(`${layer}.layer_norm2`, `${block}.ln_2`, h);
    b.layer(`${layer}.mlp.fc1`, `${block}.mlp.c_fc`, [config.intermediateSize, h]);
    b.layer(`${layer}.mlp.fc2`, `${block}.mlp.c_proj`, [h, config.intermediateSize]);
  }
  b.norm(`${text}.final_layer_norm`, "ln_final", h);
  return b.mappings;
}

/**
 * Every tensor of a whole OpenCLIP text tower as checkpoints store it: the used layers, the last
 * block SD2 skips, the projection head and logit scale. Fused tensors appear once, whole (their
 * canonical name says so: `…self_attn.qkv_proj.weight`), for writers of checkpoints.
 */
export function openClipCheckpointTensors(config: TextEncoderConfig): TensorMapping[] {
  const h = config.hiddenSize;
  const whole = openClipTensorMap(config, config.numHiddenLayers + 1).flatMap((m): TensorMapping[] => {
    if (!m.part) return [m];
    if (m.part.index > 0) return [];
    const canonical = m.canonical.replace(/\.q_proj\./, ".qkv_proj.");
    return [{ canonical, shape: m.ldmShape, ldm: m.ldm, ldmShape: m.ldmShape }];
  });
  return [
    ...whole,
    { canonical: "text_projection", shape: [h, h], ldm: "text_projection", ldmShape: [h, h] },
    { canonical: "logit_scale", shape: [], ldm: "logit_scale", ldmShape: [] },
  ];
}
