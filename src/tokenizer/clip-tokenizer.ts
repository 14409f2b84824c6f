/**
 * CLIP's byte-level BPE tokenizer, token for token the same as transformers' slow `CLIPTokenizer`
 * (without `ftfy`), which is what diffusers' StableDiffusionPipeline uses for SD1.x and SD2.x.
 * Pure: it takes the parsed vocabulary and merges; `loadClipTokenizer` does the file reading.
 *
 * SD2.x's tokenizer files set `pad_token: "!"`: padding uses "!" (id 0) instead of EOS, and, as
 * transformers registers every special token in its added-tokens trie, each "!" typed in a prompt is
 * cut out as its own token (id 0) before BPE, where plain BPE would give "!</w>" or "!!!</w>".
 */
import { bytesToBpeChars } from "./byte-encoder.js";
import { cleanupText } from "./text-cleanup.js";

export const BOS_TOKEN = "<|startoftext|>";
export const EOS_TOKEN = "<|endoftext|>";
const END_OF_WORD = "</w>";

/** Content tokens per 77-token window: BOS and EOS take the other two. */
export const CHUNK_CONTENT_LENGTH = 75;
export const MODEL_MAX_LENGTH = 77;

/** transformers reads only this many merges (`[1 : 49152 - 256 - 2 + 1]`), whatever merges.txt holds. */
export const MAX_MERGES = 49152 - 256 - 2;

/** Special tokens are cut out of the raw prompt first, case-sensitively (transformers' added-tokens trie). */
function specialTokenSplit(tokens: readonly string[]): RegExp {
  // the trie prefers the longest token where several start at the same place
  const sorted = [...new Set(tokens)].sort((a, b) => b.length - a.length);
  return new RegExp(`(${sorted.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`);
}

// CLIP's pre-tokenizer: letters group, each digit alone, punctuation runs group, a few contractions.
const PRE_TOKENIZER =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/** Words seen by a long-running process are bounded; past this the BPE cache starts over. */
const MAX_CACHED_WORDS = 50_000;
/** Longer words are not cached: a few huge ones would hold the memory of thousands of ordinary ones. */
const MAX_CACHED_WORD_LENGTH = 256;

export interface ClipTokenizerOptions {
  /** Padding id: 49407 (`<|endoftext|>`) for SD1.x; SD2 pads with 0 ("!"). Defaults to the EOS id. */
  readonly padId?: number;
  /**
   * The pad token as tokenizer files name it (SD2.x: "!"): pads (unless padId says otherwise) and
   * is split out of prompts like every added token.
   */
  readonly padToken?: string;
  /** Vocabulary tokens transformers registers as added tokens: cut out of prompts before BPE. */
  readonly addedTokens?: readonly string[];
}

export class ClipTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** Id of `,</w>`, where A1111 prefers to break long prompts; undefined if the vocabulary lacks it. */
  readonly commaId: number | undefined;
  private readonly vocab: ReadonlyMap<string, number>;
  /** Merge rank keyed by `"left right"`. */
  private readonly ranks: ReadonlyMap<string, number>;
  private readonly cache = new Map<string, readonly string[]>();
  /** Splits a prompt around BOS, EOS and the added tokens. */
  private readonly specialSplit: RegExp;
  private readonly specialTokens: ReadonlySet<string>;

  /**
   * @param vocab token → id (vocab.json)
   * @param merges merge pairs in rank order, e.g. `["i", "n"]` (merges.txt without its `#version` line)
   */
  constructor(
    vocab: ReadonlyMap<string, number> | Readonly<Record<string, number>>,
    merges: readonly (readonly [string, string])[],
    options: ClipTokenizerOptions = {},
  ) {
    this.vocab = vocab instanceof Map ? vocab : new Map(Object.entries(vocab));
    const ranks = new Map<string, number>();
    const count = Math.min(merges.length, MAX_MERGES);
    for (let rank = 0; rank < count; rank++) {
      const key = `${merges[rank][0]} ${merges[rank][1]}`;
      // Python's dict(zip(...)) keeps the last rank of a duplicated pair.
      ranks.set(key, rank);
    }
    this.ranks = ranks;
    this.bosId = this.requireId(BOS_TOKEN);
    this.eosId = this.requireId(EOS_TOKEN);
    const padToken = options.padToken ?? EOS_TOKEN;
    this.padId = options.padId ?? this.requireId(padToken);
    this.commaId = this.vocab.get(`,${END_OF_WORD}`);
    const special = [BOS_TOKEN, EOS_TOKEN, padToken, ...(options.addedTokens ?? [])];
    for (const token of special) this.requireId(token);
    this.specialTokens = new Set(special);
    this.specialSplit = specialTokenSplit(special);
  }

  get vocabSize(): number {
    return this.vocab.size;
  }

  /** The id of a vocabulary token (e.g. `"cat</w>"`), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  /** BPE token strings of `text`, without BOS/EOS (transformers' `tokenize`). */
  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const segment of text.split(this.specialSplit)) {
      if (this.specialTokens.has(segment)) {
        out.push(segment);
      } else if (segment.length > 0) {
        for (const piece of cleanupText(segment).match(PRE_TOKENIZER) ?? []) {
          for (const token of this.bpe(bytesToBpeChars(piece))) out.push(token);
        }
      }
    }
    return out;
  }

  /** Content token ids of `text`: no BOS/EOS, no truncation. */
  encode(text: string): number[] {
    // Unknown symbols cannot occur with a complete byte-level vocabulary; transformers maps them to unk (= EOS).
    return this.tokenize(text).map((token) => this.vocab.get(token) ?? this.eosId);
  }

  /**
   * What StableDiffusionPipeline feeds the text encoder: BOS, the first `length - 2` content ids, EOS,
   * then padding up to `length`.
   */
  encodePadded(text: string, length: number = MODEL_MAX_LENGTH): number[] {
    return this.wrapChunk(this.encode(text).slice(0, length - 2), length);
  }

  /** BOS + ids + EOS, no padding and no truncation (diffusers' `untruncated_ids`). */
  encodeUntruncated(text: string): number[] {
    return [this.bosId, ...this.encode(text), this.eosId];
  }

  /**
   * Splits content ids into windows of `contentLength` tokens, each wrapped in BOS/EOS and padded to
   * `contentLength + 2`. An empty input gives one (empty, padded) window.
   */
  chunkIds(ids: readonly number[], contentLength: number = CHUNK_CONTENT_LENGTH): number[][] {
    const chunks: number[][] = [];
    for (let start = 0; start < ids.length || chunks.length === 0; start += contentLength) {
      chunks.push(this.wrapChunk(ids.slice(start, start + contentLength), contentLength + 2));
    }
    return chunks;
  }

  /** `encode` followed by `chunkIds`: every token of a long prompt, in 77-token windows. */
  encodeChunks(text: string, contentLength: number = CHUNK_CONTENT_LENGTH): number[][] {
    return this.chunkIds(this.encode(text), contentLength);
  }

  private wrapChunk(content: readonly number[], length: number): number[] {
    const ids = [this.bosId, ...content, this.eosId];
    while (ids.length < length) ids.push(this.padId);
    return ids;
  }

  private requireId(token: string): number {
    const id = this.vocab.get(token);
    if (id === undefined) throw new Error(`CLIP vocabulary has no ${JSON.stringify(token)} token`);
    return id;
  }

  /** Byte-pair merges of one pre-token (already spelled in BPE characters), lowest rank first. */
  private bpe(word: string): readonly string[] {
    if (word === BOS_TOKEN || word === EOS_TOKEN) return [word];
    const cached = this.cache.get(word);
    if (cached) return cached;
    const chars = Array.from(word);
    const symbols = mergePairs([...chars.slice(0, -1), chars[chars.length - 1] + END_OF_WORD], this.ranks);
    if (word.length <= MAX_CACHED_WORD_LENGTH) {
      if (this.cache.size >= MAX_CACHED_WORDS) this.cache.clear();
      this.cache.set(word, symbols);
    }
    return symbols;
  }
}

/**
 * transformers' BPE loop (merge every occurrence of the lowest-ranked pair, left to right, until
 * no pair has a rank) with a heap of (rank, position): one merge at a time in that order gives the
 * same symbols, because a merge only creates pairs ranked after it (their token did not exist
 * before it), in O(n log n) instead of the loop's O(n²) on one long word.
 */
export function mergePairs(initial: readonly string[], ranks: ReadonlyMap<string, number>): string[] {
  const symbols = [...initial];
  const n = symbols.length;
  const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
  // bumped when a symbol changes or is merged away, so stale heap entries can be recognised
  const version = new Int32Array(n);
  const heap = new PairHeap();
  const push = (left: number) => {
    const right = next[left];
    if (right < 0) return;
    const rank = ranks.get(`${symbols[left]} ${symbols[right]}`);
    if (rank !== undefined)
      heap.push({ rank, left, leftVersion: version[left], rightVersion: version[right] });
  };
  for (let i = 0; i + 1 < n; i++) push(i);
  for (let entry = heap.pop(); entry !== undefined; entry = heap.pop()) {
    const { left } = entry;
    const right = next[left];
    if (right < 0 || version[left] !== entry.leftVersion || version[right] !== entry.rightVersion) continue;
    symbols[left] += symbols[right];
    version[left]++;
    version[right]++;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    if (prev[left] >= 0) push(prev[left]);
    push(left);
  }
  const out: string[] = [];
  for (let i = 0; i >= 0; i = next[i]) out.push(symbols[i]);
  return out;
}

interface PairEntry {
  readonly rank: number;
  /** Index of the pair's left symbol; symbols keep their order, so ties go left to right. */
  readonly left: number;
  readonly leftVersion: number;
  readonly rightVersion: number;
}

/** A binary min-heap of pairs by (rank, left). */
class PairHeap {
  private readonly items: PairEntry[] = [];

  push(entry: PairEntry): void {
    const items = this.items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  pop(): PairEntry | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < items.length && before(items[l], items[smallest])) smallest = l;
      if (r < items.length && before(items[r], items[smallest])) smallest = r;
      if (smallest === i) return top;
      [items[i], items[smallest]] = [items[smallest], items[i]];
      i = smallest;
    }
  }
}

function before(a: PairEntry, b: PairEntry): boolean {
  return a.rank < b.rank || (a.rank === b.rank && a.left < b.left);
}
