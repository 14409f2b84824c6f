/**
 * CLIPTextModel tensors. The LDM single file keeps the transformers names unchanged under its
 * prefix, so the map is the identity; it is still generated so shapes can be checked and written.
 */
import type { TextEncoderConfig } from "../architecture/model-config.js";
import { type TensorMapping, TensorMappingBuilder } from "./tensor-mapping.js";

export function textEncoderTensorMap(config: TextEncoderConfig): TensorMapping[] {
  const b = new TensorMappingBuilder();
  const h = config.hiddenSize;
  const same = (name: string, shape: number[], bias = true) => b.layer(name, name, shape, bias);
  same("text_model.embeddings.token_embedding", [config.vocabSize, h], false);
  same("text_model.embeddings.position_embedding", [config.maxPositionEmbeddings, h], false);
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const layer = `text_model.encoder.layers.${i}`;
    for (const p of ["q_proj", "k_proj", "v_proj", "out_proj"]) same(`${layer}.self_attn.${p}`, [h, h]);
    b.norm(`${layer}.layer_norm1`, `${layer}.layer_norm1`, h);
    same(`${layer}.mlp.fc1`, [config.intermediateSize, h]);
    same(`${layer}.mlp.fc2`, [h, config.intermediateSize]);
    b.norm(`${layer}.layer_norm2`, `${layer}.layer_norm2`, h);
  }
  b.norm("text_model.final_layer_norm", "text_model.final_layer_norm", h);
  return b.mappings;
}
