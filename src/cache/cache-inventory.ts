/**
 * What `sdlite cache ls|verify|clear` act on: the entries of the graph cache and the optimised-model
 * cache under one cache root, plus the model-hash file. Clearing removes only what sdlite itself
 * writes there (never the root as a whole: $SDLITE_CACHE may name a folder that holds other
 * things), and leaves a temporary folder younger than a day alone (another process may be filling
 * it).
 */

import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  type CheckDepth,
  checkEntry,
  ENTRY_FILE,
  type EntryCheck,
  STALE_TEMP_MS,
  TEMP_MARKER,
} from "./cache-entries.js";
import { GRAPH_FORMAT_VERSION } from "./graph-cache.js";
import { OPTIMIZED_FORMAT_VERSION } from "./optimized-model-cache.js";
import { SessionHints } from "./session-hints.js";
import { defaultSha256CachePath } from "./sha256-cache.js";

/** The entry caches under a root, with the manifest format each writes. */
export const ENTRY_CACHES = [
  { name: "graphs", formatVersion: GRAPH_FORMAT_VERSION },
  { name: "optimized", formatVersion: OPTIMIZED_FORMAT_VERSION },
] as const;

export type EntryCacheName = (typeof ENTRY_CACHES)[number]["name"];

export interface CacheEntryInfo {
  readonly cache: EntryCacheName;
  readonly key: string;
  readonly dir: string;
  /** Every file in the folder. */
  readonly bytes: number;
  /** From the manifest; undefined when it cannot be read. */
  readonly createdAt?: string;
}

export interface CacheInventory {
  readonly root: string;
  readonly entries: CacheEntryInfo[];
  /** Temporary folders (builds in progress, or left by a killed process). */
  readonly temporary: { readonly dir: string; readonly bytes: number }[];
  /** The model-hash file (hashes.json), when there is one. */
  readonly hashFile?: { readonly path: string; readonly bytes: number };
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(path) : entry.isFile() ? statSync(path).size : 0;
  }
  return total;
}

function createdAt(dir: string): string | undefined {
  try {
    const value = JSON.parse(readFileSync(join(dir, ENTRY_FILE), "utf-8")).createdAt;
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

function subfolders(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

export function cacheInventory(root: string): CacheInventory {
  const entries: CacheEntryInfo[] = [];
  const temporary: CacheInventory["temporary"][number][] = [];
  for (const { name } of ENTRY_CACHES) {
    for (const key of subfolders(join(root, name))) {
      const dir = join(root, name, key);
      if (key.includes(TEMP_MARKER)) temporary.push({ dir, bytes: folderBytes(dir) });
      else entries.push({ cache: name, key, dir, bytes: folderBytes(dir), createdAt: createdAt(dir) });
    }
  }
  const hashPath = defaultSha256CachePath({ SDLITE_CACHE: root });
  const hashFile = existsSync(hashPath) ? { path: hashPath, bytes: statSync(hashPath).size } : undefined;
  return { root, entries, temporary, ...(hashFile ? { hashFile } : {}) };
}

/** Checks one entry ("full": every byte against its SHA-256). */
export function checkCacheEntry(root: string, entry: CacheEntryInfo, depth: CheckDepth = "full"): EntryCheck {
  const cache = ENTRY_CACHES.find((c) => c.name === entry.cache);
  if (!cache) throw new Error(`unknown cache "${entry.cache}"`);
  return checkEntry(join(root, cache.name), entry.key, cache.formatVersion, depth);
}

export function removeCacheEntry(entry: CacheEntryInfo): void {
  rmSync(entry.dir, { recursive: true, force: true });
}

export interface ClearedCache {
  readonly entries: number;
  readonly bytes: number;
  /** Temporary folders left because another process may still be writing them. */
  readonly keptTemporary: number;
}

/** Removes every entry, dead temporary folder, the start-up hints and the model-hash file under `root`. */
export function clearCache(root: string, now = Date.now()): ClearedCache {
  const inventory = cacheInventory(root);
  let bytes = 0;
  for (const entry of inventory.entries) {
    removeCacheEntry(entry);
    bytes += entry.bytes;
  }
  let keptTemporary = 0;
  for (const tmp of inventory.temporary) {
    if (now - statSync(tmp.dir).mtimeMs < STALE_TEMP_MS) {
      keptTemporary++;
      continue;
    }
    rmSync(tmp.dir, { recursive: true, force: true });
    bytes += tmp.bytes;
  }
  if (inventory.hashFile) {
    rmSync(inventory.hashFile.path, { force: true });
    bytes += inventory.hashFile.bytes;
  }
  // the start-up hints (session-hints.ts) name entries that are gone now
  rmSync(new SessionHints(root).dir, { recursive: true, force: true });
  return { entries: inventory.entries.length, bytes, keptTemporary };
}
