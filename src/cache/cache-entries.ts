/**
 * A folder of verified cache entries, shared by the graph cache and the optimised-model cache: each
 * entry is `<dir>/<key>/` with an `entry.json` listing every file and its size. An entry is built in
 * a sibling temporary folder and renamed into place only when complete; a folder without a valid
 * manifest, or whose files do not match it, is never trusted, and temporary folders are ignored
 * (and removed once a day old).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

export const ENTRY_FILE = "entry.json";
const TEMP_MARKER = ".tmp-";
/** Temporary folders older than this are assumed dead (a build or save takes minutes, not a day). */
const STALE_TEMP_MS = 24 * 3600 * 1000;

/** What every manifest holds; caches add their own fields. */
export interface EntryManifest {
  readonly formatVersion: number;
  readonly key: string;
  readonly modelFile: string;
  readonly files: Record<string, number>;
  readonly createdAt: string;
}

/** The model path of the complete, verified entry `key` under `dir`, or undefined. */
export function lookupEntry(dir: string, key: string, formatVersion: number): string | undefined {
  const entryDir = join(dir, key);
  let manifest: EntryManifest;
  try {
    manifest = JSON.parse(readFileSync(join(entryDir, ENTRY_FILE), "utf-8"));
  } catch {
    return undefined;
  }
  if (
    manifest.key !== key ||
    manifest.formatVersion !== formatVersion ||
    typeof manifest.files !== "object" ||
    manifest.files === null ||
    !(manifest.modelFile in manifest.files)
  ) {
    return undefined;
  }
  for (const [file, size] of Object.entries(manifest.files)) {
    try {
      if (statSync(join(entryDir, file)).size !== size) return undefined;
    } catch {
      return undefined;
    }
  }
  return join(entryDir, manifest.modelFile);
}

/** A fresh temporary folder name for building entry `key` (not created); dead temporaries are removed. */
export function temporaryEntryDir(dir: string, key: string): string {
  mkdirSync(dir, { recursive: true });
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    if (!name.includes(TEMP_MARKER)) continue;
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs > STALE_TEMP_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // removed by someone else meanwhile
    }
  }
  return join(dir, `${key}${TEMP_MARKER}${process.pid}-${Math.random().toString(36).slice(2)}`);
}

/**
 * Renames the finished temporary folder `tmp` (manifest written) into place as entry `key`. A
 * damaged entry there is replaced; a valid one from a concurrent process wins, and `tmp` is dropped.
 * Returns the model path of the entry now in place, and whether it is the one from `tmp`.
 */
export function publishEntry(
  dir: string,
  key: string,
  tmp: string,
  formatVersion: number,
): { modelPath: string; ours: boolean } {
  const target = join(dir, key);
  if (existsSync(target) && !lookupEntry(dir, key, formatVersion)) {
    rmSync(target, { recursive: true, force: true });
  }
  let ours = true;
  try {
    renameSync(tmp, target);
  } catch (err) {
    if (!lookupEntry(dir, key, formatVersion)) throw err;
    rmSync(tmp, { recursive: true, force: true });
    ours = false;
  }
  const modelPath = lookupEntry(dir, key, formatVersion);
  if (!modelPath) throw new Error(`cache entry ${key} did not verify after it was stored`);
  return { modelPath, ours };
}
