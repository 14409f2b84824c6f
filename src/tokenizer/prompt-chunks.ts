/**
 * Weighted prompt → 77-token windows, as AUTOMATIC1111's `tokenize_line` (modules/sd_hijack_clip.py) builds
 * them: 75 content tokens per window, BREAK pads the current window and starts a new one, and a window
 * that fills up moves the words after its last comma (if that comma is within the last
 * `commaPaddingBacktrack` tokens) into the next window so a phrase is not cut in two. A
 * textual-inversion embedding named in the prompt takes as many positions as it has vectors and is
 * never split across windows: if it does not fit, the window is closed first.
 */
import { CHUNK_CONTENT_LENGTH } from "./clip-tokenizer.js";
import { isBreakSpan, parsePromptAttention, type WeightedSpan } from "./prompt-weights.js";

/** What chunking needs from a tokenizer; `ClipTokenizer` provides it. */
export interface SpanTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly commaId: number | undefined;
  /** Content ids of one span: no BOS/EOS, no truncation. */
  encode(text: string): number[];
}

/** A textual-inversion embedding as chunking sees it: its vectors ([vectors, width], row-major). */
export interface TokenEmbedding {
  readonly name: string;
  readonly vectors: number;
  readonly data: Float32Array;
  /** SHA-256 of its file (hex), for the infotext's `TI hashes`. */
  readonly sha256?: string;
}

/** Finds the embedding whose name's tokens start at `position` (A1111's find_embedding_at_position). */
export interface EmbeddingLookup {
  find(
    tokens: readonly number[],
    position: number,
  ): { embedding: TokenEmbedding; tokenLength: number } | undefined;
}

/** An embedding's vectors stand at `offset` (within the window, BOS counted) and after. */
export interface EmbeddingFix {
  readonly offset: number;
  readonly embedding: TokenEmbedding;
}

/**
 * One text-encoder window: `chunkLength + 2` ids and a weight per id (1.0 for BOS, EOS and
 * padding). An embedding's positions hold id 0 (as in A1111) and are listed in `fixes`.
 */
export interface WeightedChunk {
  readonly ids: number[];
  readonly weights: number[];
  readonly fixes?: readonly EmbeddingFix[];
}

export interface WeightedChunks {
  readonly chunks: WeightedChunk[];
  /** A1111's token count: 75 per window before the last, plus the last window's content tokens. */
  readonly tokenCount: number;
}

export interface ChunkingOptions {
  /** Content tokens per window (A1111: 75). */
  readonly chunkLength?: number;
  /** A1111's `comma_padding_backtrack` setting (default 20); 0 turns the comma rule off. */
  readonly commaPaddingBacktrack?: number;
  /** Textual-inversion embeddings that prompt words can name. */
  readonly embeddings?: EmbeddingLookup;
}

/** Tokenizes each span and lays the tokens out in windows, following A1111's rules step by step. */
export function chunkWeightedSpans(
  spans: readonly WeightedSpan[],
  tokenizer: SpanTokenizer,
  options: ChunkingOptions = {},
): WeightedChunks {
  const chunkLength = options.chunkLength ?? CHUNK_CONTENT_LENGTH;
  const backtrack = options.commaPaddingBacktrack ?? 20;
  const { bosId, eosId, padId, commaId } = tokenizer;

  const chunks: WeightedChunk[] = [];
  let ids: number[] = [];
  let weights: number[] = [];
  let fixes: EmbeddingFix[] = [];
  let tokenCount = 0;
  let lastComma = -1;

  const nextChunk = (isLast = false) => {
    tokenCount += isLast ? ids.length : chunkLength;
    while (ids.length < chunkLength) {
      ids.push(eosId);
      weights.push(1.0);
    }
    const chunk = { ids: withPadding([bosId, ...ids, eosId], eosId, padId), weights: [1.0, ...weights, 1.0] };
    chunks.push(fixes.length > 0 ? { ...chunk, fixes } : chunk);
    lastComma = -1;
    ids = [];
    weights = [];
    fixes = [];
  };

  for (const span of spans) {
    if (isBreakSpan(span)) {
      nextChunk();
      continue;
    }
    const tokens = tokenizer.encode(span.text);
    for (let position = 0; position < tokens.length; ) {
      const token = tokens[position];
      if (token === commaId) {
        lastComma = ids.length;
      } else if (
        backtrack !== 0 &&
        ids.length === chunkLength &&
        lastComma !== -1 &&
        ids.length - lastComma <= backtrack
      ) {
        // Full window, comma nearby: the words after the comma move on to the next window.
        const breakLocation = lastComma + 1;
        const movedIds = ids.slice(breakLocation);
        const movedWeights = weights.slice(breakLocation);
        ids = ids.slice(0, breakLocation);
        weights = weights.slice(0, breakLocation);
        nextChunk();
        ids = movedIds;
        weights = movedWeights;
      }
      if (ids.length === chunkLength) nextChunk();
      const match = options.embeddings?.find(tokens, position);
      if (!match) {
        ids.push(token);
        weights.push(span.weight);
        position++;
        continue;
      }
      // an embedding is never split: it starts a new window when this one has no room for it
      const count = match.embedding.vectors;
      if (ids.length + count > chunkLength) nextChunk();
      fixes.push({ offset: ids.length + 1, embedding: match.embedding });
      for (let k = 0; k < count; k++) {
        ids.push(0);
        weights.push(span.weight);
      }
      position += match.tokenLength;
    }
  }
  if (ids.length > 0 || chunks.length === 0) nextChunk(true);
  return { chunks, tokenCount };
}

/** A1111 pads with EOS and then (for SD2-style tokenizers) turns everything after the first EOS into padding. */
function withPadding(ids: number[], eosId: number, padId: number): number[] {
  if (padId === eosId) return ids;
  const firstEos = ids.indexOf(eosId);
  return ids.map((id, i) => (i > firstEos ? padId : id));
}

/** parsePromptAttention + chunkWeightedSpans: an A1111 prompt as weighted 77-token windows. */
export function tokenizeWeightedPrompt(
  prompt: string,
  tokenizer: SpanTokenizer,
  options: ChunkingOptions = {},
): WeightedChunks {
  return chunkWeightedSpans(parsePromptAttention(prompt), tokenizer, options);
}
