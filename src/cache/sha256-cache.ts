/**
 * SHA-256 digests of large files kept across runs (like A1111's cache.json), so the "Model hash"
 * of a 2 GB checkpoint is read once, not on every run. An entry is keyed by absolute path and is
 * only trusted while the file's size and mtime are unchanged. The cache is a convenience: a
 * corrupt or unwritable cache file never fails a hash, it only costs a re-read.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { sha256File } from "../image/sha256-file.js";
import { defaultCacheRoot } from "./graph-cache.js";

const CACHE_VERSION = 1;

interface CacheEntry {
  readonly size: number;
  readonly mtimeMs: number;
  readonly sha256: string;
}

interface CacheFile {
  readonly version: number;
  readonly sha256: Record<string, CacheEntry>;
}

export interface Sha256CacheOptions {
  /** How a file is hashed on a miss (default: streaming sha256File). */
  readonly hashFile?: (path: string) => Promise<string>;
}

/** `<sdlite cache>/hashes.json`. */
export function defaultSha256CachePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(defaultCacheRoot(env), "hashes.json");
}

function isEntry(value: unknown): value is CacheEntry {
  if (typeof value !== "object" || value === null) return false;
  const e = value as Record<string, unknown>;
  return (
    typeof e.size === "number" &&
    typeof e.mtimeMs === "number" &&
    typeof e.sha256 === "string" &&
    /^[0-9a-f]{64}$/.test(e.sha256)
  );
}

export class Sha256Cache {
  private readonly hashFile: (path: string) => Promise<string>;

  constructor(
    readonly file: string = defaultSha256CachePath(),
    options: Sha256CacheOptions = {},
  ) {
    this.hashFile = options.hashFile ?? ((path) => sha256File(path));
  }

  /** Lower-case hex SHA-256 of `path`, from the cache while the file is unchanged. */
  async sha256(path: string): Promise<string> {
    const absolute = resolve(path);
    const before = statSync(absolute);
    const known = this.read()[absolute];
    if (known && known.size === before.size && known.mtimeMs === before.mtimeMs) return known.sha256;

    const sha256 = await this.hashFile(absolute);
    const after = statSync(absolute);
    // a file rewritten while it was read gets no entry: its digest may mix two contents
    if (after.size === before.size && after.mtimeMs === before.mtimeMs) {
      this.store(absolute, { size: before.size, mtimeMs: before.mtimeMs, sha256 });
    }
    return sha256;
  }

  /** The valid entries; anything unreadable reads as an empty cache. */
  private read(): Record<string, CacheEntry> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.file, "utf-8"));
    } catch {
      return {};
    }
    const cache = parsed as Partial<CacheFile> | null;
    if (cache?.version !== CACHE_VERSION || typeof cache.sha256 !== "object" || cache.sha256 === null) {
      return {};
    }
    const entries: Record<string, CacheEntry> = {};
    for (const [path, entry] of Object.entries(cache.sha256)) if (isEntry(entry)) entries[path] = entry;
    return entries;
  }

  /** Re-reads, adds, and replaces the file atomically (temp + rename); failures are ignored. */
  private store(path: string, entry: CacheEntry): void {
    const contents: CacheFile = { version: CACHE_VERSION, sha256: { ...this.read(), [path]: entry } };
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      writeFileSync(temp, `${JSON.stringify(contents, null, 1)}\n`);
      renameSync(temp, this.file);
    } catch {
      try {
        rmSync(temp, { force: true });
      } catch {
        // the folder itself is unusable: nothing was written
      }
    }
  }
}
