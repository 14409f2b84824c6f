/**
 * transformers' CLIPTextModel as an ONNX graph: token + learned position embeddings, pre-LayerNorm
 * transformer blocks with causal self-attention, quick_gelu MLP, final LayerNorm.
 *
 * Input `input_ids`: int32 [batch, sequence] (int32 like the hub's ONNX SD pipelines: ids < 49408
 * fit, and JS gets them without BigInt). Batch and sequence (≤ max_position_embeddings) are dynamic.
 * With `extraTokens`, a second input `extra_token_embeddings` [rows ≥ 1, hidden] holds vectors
 * that stand in for token rows: id vocabSize + r takes row r instead of a vocabulary row (how
 * textual-inversion embeddings enter the prompt; A1111's EmbeddingsWithFixes).
 * Outputs: `last_hidden_state` [batch, sequence, hidden], and for each k in `clipSkips`
 * `clip_skip_<k>` = final_layer_norm(hidden state after layer N−k) — diffusers' `clip_skip=k`,
 * AUTOMATIC1111's "Clip skip: k+1".
 */
import type { TextEncoderConfig } from "../weights/architecture/model-config.js";
import type { WeightSource } from "../weights/weight-source.js";
import { type ComputePrecision, withPrecision } from "./float16-compute.js";
import { GraphBuilder } from "./graph-builder.js";
import {
  type AttentionKind,
  attention,
  type FusedOp,
  fusedQuickGelu,
  fuses,
  gelu,
  type LayerContext,
  layerNorm,
  linear,
  MASKED_SCORE,
  quickGelu,
} from "./layers.js";
import { ONNX_DATA_TYPE } from "./onnx-proto.js";
import { type TextEncoderQuantization, textEncoderInt8Policy } from "./text-encoder-quantization.js";
import type { WeightStorage } from "./weight-storage.js";

export interface TextEncoderGraphOptions {
  readonly attention?: AttentionKind;
  /** Extra outputs `clip_skip_<k>`, 1 ≤ k < numHiddenLayers. */
  readonly clipSkips?: readonly number[];
  /** How the checkpoint weights are stored: "fp32" (default) or "fp16" upcast in the graph. */
  readonly weightStorage?: WeightStorage;
  /** com.microsoft fused ops to emit (layers.ts FusedOp: "quickGelu" here; WebGPU); default none. */
  readonly fusedOps?: readonly FusedOp[];
  /** "fp16": fp16 weights and activations, float32 where unsafe (float16-compute.ts); default "fp32". */
  readonly computePrecision?: ComputePrecision;
  /** Adds the `extra_token_embeddings` input: ids from vocabSize on index its rows. */
  readonly extraTokens?: boolean;
  /** int8 transformer linears (text-encoder-quantization.ts); default "none". */
  readonly quantization?: TextEncoderQuantization;
  /** Width of the int8 weight codes: 8 (default) or 7 for CPUs without VNNI (see quantize.ts). */
  readonly int8WeightBits?: 7 | 8;
}

export const TEXT_ENCODER_INPUT = "input_ids";
export const TEXT_ENCODER_EXTRA_TOKENS = "extra_token_embeddings";
export const TEXT_ENCODER_OUTPUT = "last_hidden_state";
export const clipSkipOutput = (k: number): string => `clip_skip_${k}`;

const PREFIX = "text_model";

/**
 * What the engine builds every text encoder with besides the network (the profiler counts the same
 * graph): A1111 offers clip skip up to 12, each depth one extra output of the same graph, and
 * textual-inversion vectors enter through an input.
 */
export function textEncoderGraphExtras(config: TextEncoderConfig): {
  clipSkips: number[];
  extraTokens: true;
} {
  const clipSkips = Array.from({ length: Math.min(config.numHiddenLayers - 1, 11) }, (_, i) => i + 1);
  return { clipSkips, extraTokens: true };
}

export function buildTextEncoderGraph(
  weights: WeightSource,
  config: TextEncoderConfig,
  options: TextEncoderGraphOptions = {},
): GraphBuilder {
  const clipSkips = options.clipSkips ?? [];
  for (const k of clipSkips) {
    if (!Number.isInteger(k) || k < 1 || k >= config.numHiddenLayers) {
      throw new Error(
        `clip skip ${k} is out of range: the text encoder has ${config.numHiddenLayers} layers`,
      );
    }
  }
  const b = new GraphBuilder("text_encoder", { weightStorage: options.weightStorage });
  const ctx: LayerContext = {
    b,
    weights,
    attention: options.attention ?? "matmul",
    int8: textEncoderInt8Policy(options.quantization, options.int8WeightBits),
    fused: new Set(options.fusedOps ?? []),
  };
  const c = config.hiddenSize;
  const ids = b.input(TEXT_ENCODER_INPUT, "int32", ["batch", "sequence"]);

  // embeddings: token rows + the first `sequence` position rows
  const seqLen = b.node("Slice", [b.node("Shape", [ids]), b.constInt64([1]), b.constInt64([2])]);
  const zero = b.constInt64([0]);
  const extra = options.extraTokens ? b.input(TEXT_ENCODER_EXTRA_TOKENS, "float32", ["rows", c]) : undefined;
  let h = b.scope(`${PREFIX}.embeddings`, () => {
    const table = b.weight(weights, `${PREFIX}.embeddings.token_embedding.weight`);
    const tokens = extra
      ? tokenRowsWithExtra(b, table, extra, ids, config.vocabSize)
      : b.node("Gather", [table, ids], { axis: 0 });
    const positions = b.node("Slice", [
      b.weight(weights, `${PREFIX}.embeddings.position_embedding.weight`),
      zero,
      seqLen,
      zero,
    ]);
    return b.node("Add", [tokens, positions]);
  });

  // causal mask: torch.finfo(float32).min above the diagonal, cut to the sequence length
  const maxLen = config.maxPositionEmbeddings;
  const mask = new Float32Array(maxLen * maxLen);
  for (let i = 0; i < maxLen; i++) for (let j = i + 1; j < maxLen; j++) mask[i * maxLen + j] = MASKED_SCORE;
  const causal = b.node("Slice", [
    b.constFloat(mask, [1, 1, maxLen, maxLen]),
    b.constInt64([0, 0]),
    b.node("Concat", [seqLen, seqLen], { axis: 0 }),
    b.constInt64([2, 3]),
  ]);

  const finalNorm = (x: string) =>
    b.scope(`${PREFIX}.final_layer_norm`, () =>
      layerNorm(ctx, `${PREFIX}.final_layer_norm`, x, config.layerNormEps),
    );
  const activation =
    config.hiddenAct !== "quick_gelu" ? gelu : fuses(ctx, "quickGelu") ? fusedQuickGelu : quickGelu;
  const skipped = new Map<number, string>();
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const key = `${PREFIX}.encoder.layers.${i}`;
    h = b.scope(key, () => {
      const normed = layerNorm(ctx, `${key}.layer_norm1`, h, config.layerNormEps);
      const q = linear(ctx, `${key}.self_attn.q_proj`, normed);
      const k = linear(ctx, `${key}.self_attn.k_proj`, normed);
      const v = linear(ctx, `${key}.self_attn.v_proj`, normed);
      const attended = attention(ctx, q, k, v, {
        heads: config.numAttentionHeads,
        channels: c,
        bias: causal,
        scaleQuery: true,
      });
      const afterAttn = b.node("Add", [h, linear(ctx, `${key}.self_attn.out_proj`, attended)]);
      const mlpIn = layerNorm(ctx, `${key}.layer_norm2`, afterAttn, config.layerNormEps);
      const mlp = linear(ctx, `${key}.mlp.fc2`, activation(b, linear(ctx, `${key}.mlp.fc1`, mlpIn)));
      return b.node("Add", [afterAttn, mlp]);
    });
    const skip = config.numHiddenLayers - 1 - i;
    if (clipSkips.includes(skip)) skipped.set(skip, h);
  }
  b.output(finalNorm(h), TEXT_ENCODER_OUTPUT, "float32", ["batch", "sequence", c]);
  for (const [k, hidden] of skipped) {
    b.output(finalNorm(hidden), clipSkipOutput(k), "float32", ["batch", "sequence", c]);
  }
  return withPrecision(b, options.computePrecision);
}

/** Gather from the vocabulary, except ids ≥ vocabSize, which take row id − vocabSize of `extra`. */
function tokenRowsWithExtra(b: GraphBuilder, table: string, extra: string, ids: string, vocabSize: number) {
  const long = b.node("Cast", [ids], { to: ONNX_DATA_TYPE.int64 });
  const zero = b.constInt64([0], []);
  const isExtra = b.node("GreaterOrEqual", [long, b.constInt64([vocabSize], [])]);
  const vocabIds = b.node("Where", [isExtra, zero, long]);
  const extraIds = b.node("Where", [isExtra, b.node("Sub", [long, b.constInt64([vocabSize], [])]), zero]);
  const fromVocab = b.node("Gather", [table, vocabIds], { axis: 0 });
  const fromExtra = b.node("Gather", [extra, extraIds], { axis: 0 });
  return b.node("Where", [b.node("Unsqueeze", [isExtra, b.constInt64([-1])]), fromExtra, fromVocab]);
}
