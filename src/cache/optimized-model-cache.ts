/**
 * A disk cache of the inference engine's own optimised models, next to the graph cache: the first
 * session over a cached graph saves the graph as the engine optimised it, and later processes load
 * that instead of optimising again (for the fp32 UNet most of a warm start's session creation).
 *
 * An optimised model may hold hardware-specific rewrites (onnxruntime's NCHWc conv layout depends
 * on the CPU's vector width), so entries live under `<cache root>/optimized/<key>/`, where the key
 * hashes the graph's own cache key and the runtime's fingerprint (engine version, CPU features,
 * the session options that shape the optimised graph). Another engine version or CPU gets its own
 * entry; the plain graph stays in the graph cache as the portable source.
 *
 * Crash safety as in the graph cache: an entry is written in a sibling temporary folder, its files
 * flushed to disk, then `entry.json` (every file with its size and content digests) is written and
 * the folder renamed into place. A folder without a valid `entry.json`, or whose files do not match
 * it, is never trusted; a session that fails to load from an entry has the entry removed and saved
 * again.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  type CacheListener,
  checkEntry,
  ENTRY_FILE,
  type EntryCheck,
  type EntryManifest,
  entryDigests,
  publishEntry,
  temporaryEntryDir,
} from "./cache-entries.js";
import { defaultCacheRoot } from "./graph-cache.js";

/** Bump when the layout of an entry changes. */
export const OPTIMIZED_FORMAT_VERSION = 1;

/** The optimised model's file name inside an entry (its weights go to files beside it). */
export const OPTIMIZED_MODEL_FILE = "model.onnx";

/** The entry key: the graph's cache key and everything else the optimised graph depends on. */
export function optimizedModelKey(graphKey: string, fingerprint: string): string {
  const hash = createHash("sha256")
    .update(JSON.stringify({ formatVersion: OPTIMIZED_FORMAT_VERSION, graphKey, fingerprint }))
    .digest("hex")
    .slice(0, 32);
  return `${graphKey.split("-")[0]}-${hash}`;
}

interface OptimizedEntryManifest extends EntryManifest {
  readonly graphKey: string;
  readonly fingerprint: string;
}

export interface SavedModel<T> {
  readonly value: T;
  /** Whether the optimised model was stored (false when saving failed and `value` came without it). */
  readonly stored: boolean;
}

export class OptimizedModelCache {
  readonly dir: string;

  constructor(
    root: string = defaultCacheRoot(),
    private readonly listener: CacheListener = {},
  ) {
    this.dir = join(root, "optimized");
  }

  /** What entry `key` looks like now; a damaged one is reported (it is saved again by `save`). */
  check(key: string): EntryCheck {
    const found = checkEntry(this.dir, key, OPTIMIZED_FORMAT_VERSION);
    if (found.state === "damaged")
      this.listener.onRepair?.({ cache: "optimized", key, reason: found.reason });
    return found;
  }

  /** The model path of a complete, intact entry, or undefined. */
  lookup(key: string): string | undefined {
    const found = this.check(key);
    return found.state === "ok" ? found.modelPath : undefined;
  }

  /** Drops an entry that passed its checks but would not load, saying why. */
  remove(key: string, reason: string): void {
    this.listener.onRepair?.({ cache: "optimized", key, reason });
    rmSync(join(this.dir, key), { recursive: true, force: true });
  }

  /**
   * Runs `create` with a path where it must write the optimised model (its weights beside it),
   * then stores what it wrote under `key`. When `create` fails, it is run once more with no path,
   * since a failure to save (a full disk, a model the engine cannot serialise) must not cost the
   * session; the result then says `stored: false`.
   */
  async save<T>(
    key: string,
    meta: { graphKey: string; fingerprint: string },
    create: (modelPath: string | undefined) => Promise<T>,
  ): Promise<SavedModel<T>> {
    const tmp = temporaryEntryDir(this.dir, key);
    mkdirSync(tmp);
    let value: T;
    try {
      value = await create(join(tmp, OPTIMIZED_MODEL_FILE));
    } catch {
      rmSync(tmp, { recursive: true, force: true });
      return { value: await create(undefined), stored: false };
    }
    try {
      this.commit(key, tmp, meta);
      return { value, stored: true };
    } catch {
      rmSync(tmp, { recursive: true, force: true });
      return { value, stored: false };
    }
  }

  private commit(key: string, tmp: string, meta: { graphKey: string; fingerprint: string }): void {
    const files: Record<string, number> = {};
    for (const name of readdirSync(tmp)) {
      const path = join(tmp, name);
      // the engine wrote these without flushing; a crash must not leave an entry of empty pages
      const fd = openSync(path, "r");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      files[name] = statSync(path).size;
    }
    if (!(OPTIMIZED_MODEL_FILE in files)) throw new Error(`the engine wrote no ${OPTIMIZED_MODEL_FILE}`);
    const manifest: OptimizedEntryManifest = {
      formatVersion: OPTIMIZED_FORMAT_VERSION,
      key,
      ...meta,
      modelFile: OPTIMIZED_MODEL_FILE,
      files,
      digests: entryDigests(tmp, Object.keys(files)),
      createdAt: new Date().toISOString(),
    };
    const manifestPath = join(tmp, ENTRY_FILE);
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
    const fd = openSync(manifestPath, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    publishEntry(this.dir, key, tmp, OPTIMIZED_FORMAT_VERSION);
  }
}
