/** vocab.json and merges.txt parsed from their text (no file system: the browser engine fetches them). */

export class TokenizerLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TokenizerLoadError";
  }
}

/**
 * merges.txt → pairs in rank order. Like transformers, the first line is the `#version` header and is
 * skipped unconditionally; blank lines are ignored.
 */
export function parseMerges(text: string): [string, string][] {
  const pairs: [string, string][] = [];
  const lines = text.trim().split("\n");
  for (const line of lines.slice(1)) {
    const parts = line.trim().split(/\s+/);
    if (parts.length === 1 && parts[0] === "") continue;
    if (parts.length !== 2) throw new TokenizerLoadError(`merges.txt: malformed line "${line}"`);
    pairs.push([parts[0], parts[1]]);
  }
  return pairs;
}

/** vocab.json → token → id map, checking that every value is an integer id. */
export function parseVocab(json: string): Map<string, number> {
  const raw: unknown = JSON.parse(json);
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new TokenizerLoadError("vocab.json: expected an object of token → id");
  }
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(raw)) {
    if (!Number.isInteger(id)) throw new TokenizerLoadError(`vocab.json: id of "${token}" is not an integer`);
    vocab.set(token, id as number);
  }
  return vocab;
}
