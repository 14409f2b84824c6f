/**
 * prompt → text embeddings, the AUTOMATIC1111 way: emphasis syntax parsed into weighted tokens,
 * 75-token windows each encoded with BOS/EOS and concatenated along the sequence axis, each
 * token's hidden state multiplied by its weight and the window rescaled to its original mean.
 * A plain prompt of up to 75 tokens gives exactly diffusers' embedding.
 */
import {
  type EmbeddingLookup,
  type SpanTokenizer,
  type TokenEmbedding,
  tokenizeWeightedPrompt,
  type WeightedChunk,
} from "../tokenizer/prompt-chunks.js";
import type { TextEncoderNetwork } from "./networks.js";
import { InvalidRequestError } from "./request.js";

export interface PromptEmbedding {
  /** [1, tokens, hidden] */
  data: Float32Array;
  tokens: number;
  hidden: number;
  /** Textual-inversion embeddings the prompt named, in A1111's order (window by window). */
  embeddings?: readonly TokenEmbedding[];
}

export const WINDOW = 77;

export async function encodePrompt(
  prompt: string,
  tokenizer: SpanTokenizer,
  encoder: TextEncoderNetwork,
  clipSkip = 1,
  embeddings?: EmbeddingLookup,
): Promise<PromptEmbedding> {
  const { chunks } = tokenizeWeightedPrompt(prompt, tokenizer, { embeddings });
  const ids = new Int32Array(chunks.length * WINDOW);
  chunks.forEach((chunk, i) => {
    ids.set(chunk.ids, i * WINDOW);
  });
  const hidden = encoder.hiddenSize;
  const fixed = placeEmbeddings(chunks, ids, encoder);
  const z = await encoder.encode(ids, chunks.length, clipSkip, fixed?.rows);
  chunks.forEach((chunk, i) => {
    applyEmphasis(z.subarray(i * WINDOW * hidden, (i + 1) * WINDOW * hidden), chunk.weights, hidden);
  });
  // windows are consecutive in the batch axis; [n, 77, h] laid out flat is [1, 77n, h]
  const e = { data: z, tokens: chunks.length * WINDOW, hidden };
  return fixed ? { ...e, embeddings: fixed.used } : e;
}

/**
 * Points each embedding position at a row of extra token vectors (ids from the encoder's table
 * size on), as A1111's EmbeddingsWithFixes puts the vectors in place of the token embeddings. A
 * fix running past the window's end is cut there, as A1111 cuts it.
 */
function placeEmbeddings(chunks: readonly WeightedChunk[], ids: Int32Array, encoder: TextEncoderNetwork) {
  if (!chunks.some((c) => c.fixes?.length)) return undefined;
  const tableSize = encoder.tokenTableSize;
  if (tableSize === undefined) {
    throw new InvalidRequestError(
      "this model's text encoder takes no textual-inversion embeddings (an ONNX pipeline folder's cannot); use the checkpoint or diffusers folder",
    );
  }
  const hidden = encoder.hiddenSize;
  const rows: Float32Array[] = [];
  const used = new Set<TokenEmbedding>();
  let row = 0;
  chunks.forEach((chunk, i) => {
    for (const { offset, embedding } of chunk.fixes ?? []) {
      if (embedding.data.length !== embedding.vectors * hidden) {
        throw new InvalidRequestError(
          `embedding ${embedding.name} has vectors of width ${embedding.data.length / embedding.vectors}, this model's text encoder ${hidden}`,
        );
      }
      const count = Math.min(WINDOW - offset, embedding.vectors);
      rows.push(embedding.data.subarray(0, count * hidden));
      for (let k = 0; k < count; k++) ids[i * WINDOW + offset + k] = tableSize + row + k;
      row += count;
      used.add(embedding);
    }
  });
  const data = new Float32Array(row * hidden);
  let at = 0;
  for (const r of rows) {
    data.set(r, at);
    at += r.length;
  }
  return { rows: data, used: [...used] };
}

/** A1111's "Original" emphasis: z·w per token, then z·(mean before / mean after). In place. */
export function applyEmphasis(z: Float32Array, weights: readonly number[], hidden: number): void {
  if (weights.every((w) => w === 1)) return;
  const before = mean(z);
  for (let t = 0; t < weights.length; t++) {
    const w = weights[t];
    if (w === 1) continue;
    for (let k = t * hidden; k < (t + 1) * hidden; k++) z[k] *= w;
  }
  const ratio = Math.fround(before / mean(z));
  for (let k = 0; k < z.length; k++) z[k] *= ratio;
}

function mean(values: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}

/** `e` extended to `tokens` (a multiple of 77) with copies of the empty prompt's window. */
export function padTo(e: PromptEmbedding, tokens: number, empty: PromptEmbedding): PromptEmbedding {
  if (e.tokens === tokens) return e;
  const data = new Float32Array(tokens * e.hidden);
  data.set(e.data);
  for (let t = e.tokens; t < tokens; t += WINDOW)
    data.set(empty.data.subarray(0, WINDOW * e.hidden), t * e.hidden);
  return { data, tokens, hidden: e.hidden };
}

/**
 * `e` extended to `tokens` by repeating its last vector: how A1111 stacks the sub-prompts of an AND
 * prompt that differ in length (prompt_parser.stack_conds).
 */
export function extendWithLastVector(e: PromptEmbedding, tokens: number): PromptEmbedding {
  if (e.tokens === tokens) return e;
  const data = new Float32Array(tokens * e.hidden);
  data.set(e.data);
  const last = e.data.subarray((e.tokens - 1) * e.hidden, e.tokens * e.hidden);
  for (let t = e.tokens; t < tokens; t++) data.set(last, t * e.hidden);
  return { data, tokens, hidden: e.hidden };
}

/** [1, tokens, hidden] repeated for a batch of images with the same prompt. */
export function repeatBatch(e: PromptEmbedding, batch: number): Float32Array {
  const out = new Float32Array(e.data.length * batch);
  for (let b = 0; b < batch; b++) out.set(e.data, b * e.data.length);
  return out;
}
