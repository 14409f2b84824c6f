/**
 * Which embeddings a text encoder can use, and how prompt tokens find them: A1111 registers each
 * embedding under the token ids of its name and, at each prompt position, takes the longest
 * registered name whose ids follow (EmbeddingDatabase.register_embedding_by_name,
 * find_embedding_at_position). Pure.
 */
import { CHUNK_CONTENT_LENGTH } from "../tokenizer/clip-tokenizer.js";
import type { EmbeddingLookup, SpanTokenizer, TokenEmbedding } from "../tokenizer/prompt-chunks.js";

export interface SizedEmbedding extends TokenEmbedding {
  readonly width: number;
}

export interface EmbeddingSelection<E extends SizedEmbedding> {
  /** Usable by the text encoder. */
  readonly loaded: readonly E[];
  /** Vectors of another width (another model family), or more vectors than a window holds. */
  readonly skipped: readonly E[];
}

/** A1111's expected_shape check; without a width (no model yet) every embedding counts as loaded. */
export function selectEmbeddings<E extends SizedEmbedding>(
  embeddings: readonly E[],
  width: number | undefined,
): EmbeddingSelection<E> {
  const fits = (e: E) => (width === undefined || e.width === width) && e.vectors <= CHUNK_CONTENT_LENGTH;
  return { loaded: embeddings.filter(fits), skipped: embeddings.filter((e) => !fits(e)) };
}

/**
 * Embeddings as A1111 lists them: by name, sorted case-insensitively; a later one of the same name
 * wins (embedding-folder.ts reads a folder in path order, the in-tab engine takes dropped files).
 */
export function listEmbeddings<E extends { readonly name: string }>(embeddings: Iterable<E>): E[] {
  const byName = new Map<string, E>();
  for (const e of embeddings) byName.set(e.name, e);
  return [...byName.values()].sort((a, b) => {
    const [x, y] = [a.name.toLowerCase(), b.name.toLowerCase()];
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

export function embeddingLookup(
  embeddings: readonly TokenEmbedding[],
  tokenizer: SpanTokenizer,
): EmbeddingLookup {
  const byFirstId = new Map<number, { ids: number[]; embedding: TokenEmbedding }[]>();
  for (const embedding of embeddings) {
    const ids = tokenizer.encode(embedding.name);
    if (ids.length === 0) continue;
    const list = byFirstId.get(ids[0]) ?? [];
    list.push({ ids, embedding });
    byFirstId.set(ids[0], list);
  }
  // longest name first (a stable sort: among equal lengths the first registered wins)
  for (const list of byFirstId.values()) list.sort((a, b) => b.ids.length - a.ids.length);
  return {
    find(tokens, position) {
      for (const { ids, embedding } of byFirstId.get(tokens[position]) ?? []) {
        if (ids.every((id, k) => tokens[position + k] === id)) return { embedding, tokenLength: ids.length };
      }
      return undefined;
    },
  };
}
