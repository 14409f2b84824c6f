/**
 * Reads a CLIP tokenizer folder (`vocab.json` + `merges.txt`, as in a diffusers `tokenizer/` folder),
 * with the pad token and added tokens its `tokenizer_config.json` / `special_tokens_map.json` set
 * (SD2.x: `"pad_token": "!"`).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ClipTokenizer, type ClipTokenizerOptions } from "./clip-tokenizer.js";
import { parseMerges, parseVocab, TokenizerLoadError } from "./vocab-files.js";

export { parseMerges, parseVocab, TokenizerLoadError };

/** A special token as the files spell it: a string, or an object with its `content`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (
    value !== null &&
    typeof value === "object" &&
    typeof (value as { content?: unknown }).content === "string"
  ) {
    return (value as { content: string }).content;
  }
  return undefined;
}

function readJsonObject(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf-8"));
  } catch (err) {
    throw new TokenizerLoadError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TokenizerLoadError(`${path}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * The pad token and added tokens a tokenizer folder's config files name, as transformers reads
 * them (tokenizer_config.json first, special_tokens_map.json for what it lacks). Folders without
 * them (older SD1.x exports) give nothing: EOS pads.
 */
export function tokenizerFileOptions(dir: string): ClipTokenizerOptions {
  const config = readJsonObject(join(dir, "tokenizer_config.json")) ?? {};
  const map = readJsonObject(join(dir, "special_tokens_map.json")) ?? {};
  const padToken = tokenContent(config.pad_token) ?? tokenContent(map.pad_token);
  const decoder = config.added_tokens_decoder;
  const added =
    decoder !== null && typeof decoder === "object"
      ? Object.values(decoder as Record<string, unknown>).flatMap((t) => tokenContent(t) ?? [])
      : [];
  return {
    ...(padToken !== undefined && { padToken }),
    ...(added.length > 0 && { addedTokens: added }),
  };
}

export function loadClipTokenizer(dir: string, options: ClipTokenizerOptions = {}): ClipTokenizer {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TokenizerLoadError(`tokenizer folder not found: ${dir} (expected vocab.json and merges.txt)`);
  }
  const vocabPath = join(dir, "vocab.json");
  const mergesPath = join(dir, "merges.txt");
  for (const path of [vocabPath, mergesPath]) {
    if (!existsSync(path)) throw new TokenizerLoadError(`tokenizer file missing: ${path}`);
  }
  const vocab = parseVocab(readFileSync(vocabPath, "utf-8"));
  const merges = parseMerges(readFileSync(mergesPath, "utf-8"));
  return new ClipTokenizer(vocab, merges, { ...tokenizerFileOptions(dir), ...options });
}
