/** Which cached graphs to drop when the cache is over its size: least recently used first. Pure. */

export interface GraphEntry {
  key: string;
  bytes: number;
  /** Date.now() of the last get or put. */
  used: number;
}

/** The keys to drop so the rest fits in maxBytes, least recently used first. */
export function keysToEvict(entries: readonly GraphEntry[], maxBytes: number): string[] {
  let total = entries.reduce((sum, e) => sum + e.bytes, 0);
  const out: string[] = [];
  for (const e of [...entries].sort((a, b) => a.used - b.used)) {
    if (total <= maxBytes) break;
    out.push(e.key);
    total -= e.bytes;
  }
  return out;
}
