/**
 * SD 2.x's text tower in OpenCLIP's single-file layout (`cond_stage_model.model.*`, prefix already
 * stripped), read from tensor shapes. SD 2.x conditions on the penultimate block
 * (`FrozenOpenCLIPEmbedder(layer="penultimate")`: every block but the last, then `ln_final`), so the
 * text encoder built from a file has one layer fewer than the file has blocks, exactly like the
 * 23-layer text encoder of diffusers' SD2 folders.
 */
import { shapeText } from "../key-maps/tensor-mapping.js";
import type { ArchitectureOverrides } from "./architecture-overrides.js";
import type { TextEncoderConfig } from "./model-config.js";
import { SD2_TEXT_ENCODER } from "./model-config.js";
import { checkDivides, type Detected, resolve, ShapeReader, type TensorShapes } from "./shape-reader.js";

/** OpenCLIP ViT-H/14's text tower has 24 blocks; SD2 uses the first 23. */
const PENULTIMATE_OF_VIT_H = 23;

export interface DetectedOpenClip extends Detected<TextEncoderConfig> {
  /** Blocks stored in the file (`transformer.resblocks.N`); the last unused one among them. */
  readonly blocksInFile: number;
}

/**
 * Layers to run of a tower with `blocks` blocks: all but the last (the penultimate rule). A file
 * holding exactly 23 blocks was converted back from a diffusers folder, which already dropped the
 * last one: diffusers and A1111 then run all 23, and so does this.
 */
export function layersToUse(blocks: number): number {
  return blocks === PENULTIMATE_OF_VIT_H ? blocks : blocks - 1;
}

export function detectOpenClipTextEncoder(
  shapes: TensorShapes,
  path: string,
  overrides?: ArchitectureOverrides["textEncoder"],
  prefix = "cond_stage_model.model.",
): DetectedOpenClip {
  const r = new ShapeReader(shapes, path, "text encoder", prefix);
  const [vocabSize, hiddenSize] = r.get("token_embedding.weight", 2);
  const maxPositionEmbeddings = r.get("positional_embedding", 2)[0];
  const blocks = r.indices(/^transformer\.resblocks\.(\d+)\./);
  if (blocks.length < 2 || blocks[blocks.length - 1] !== blocks.length - 1) {
    r.fail(
      `transformer.resblocks ${shapeText(blocks)}: expected blocks 0 to N-1 with N ≥ 2 (SD 2.x uses all but the last)`,
    );
  }
  const fused = r.get("transformer.resblocks.0.attn.in_proj_weight", 2);
  if (fused[0] !== 3 * hiddenSize || fused[1] !== hiddenSize) {
    r.fail(
      `transformer.resblocks.0.attn.in_proj_weight is ${shapeText(fused)}, expected ${shapeText([3 * hiddenSize, hiddenSize])} (q, k, v stacked)`,
    );
  }
  const intermediateSize = r.get("transformer.resblocks.0.mlp.c_fc.weight", 2)[0];
  const detected = resolve(
    {
      hiddenSize,
      intermediateSize,
      numHiddenLayers: layersToUse(blocks.length),
      maxPositionEmbeddings,
      vocabSize,
    },
    {
      // OpenCLIP's heads are 64 wide, as CLIP's: ViT-H's 1024 = 16 x 64
      numAttentionHeads: hiddenSize % 64 === 0 ? hiddenSize / 64 : SD2_TEXT_ENCODER.numAttentionHeads,
      hiddenAct: SD2_TEXT_ENCODER.hiddenAct,
      layerNormEps: SD2_TEXT_ENCODER.layerNormEps,
    },
    overrides,
  );
  checkDivides(r, "numAttentionHeads", detected, [hiddenSize], "SD 2.x's value");
  return { ...detected, blocksInFile: blocks.length };
}
