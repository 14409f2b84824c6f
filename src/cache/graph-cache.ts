/**
 * A disk cache of built graphs (`model.onnx` + weight files), so a checkpoint is converted once and
 * later sessions load by path. Entries live under `<cache root>/graphs/<key>/`, where the key hashes
 * the weights' identity (file paths, sizes, mtimes — or any caller-given content hash), the network
 * kind, its config and the build options, plus GRAPH_FORMAT_VERSION.
 *
 * Crash safety and integrity: an entry is built in a sibling temporary folder and renamed into
 * place only when complete, and it carries `entry.json` listing every file with its size and
 * content digests (cache-entries.ts). A folder without a valid `entry.json`, or whose files do not
 * match it, is never trusted: it is rebuilt, and a damaged one reported through `onRepair`.
 */
import { createHash } from "node:crypto";
import { rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { GraphBuilder } from "../graph/graph-builder.js";
import type { SerializeOptions } from "../graph/onnx-model.js";
import { writeModel } from "../graph/write-model.js";
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
import { defaultCacheRoot } from "./cache-root.js";
import {
  type FileIdentity,
  GRAPH_FORMAT_VERSION,
  type GraphKeyParts,
  graphKeyName,
  graphKeyText,
} from "./graph-key.js";

export { defaultCacheRoot } from "./cache-root.js";
export type { FileIdentity } from "./graph-key.js";
export { GRAPH_FORMAT_VERSION } from "./graph-key.js";

/** Cheap identity of weight files: replacing or touching a file changes it. */
export function fileIdentity(path: string): FileIdentity {
  const st = statSync(path);
  return { path: resolve(path), size: st.size, mtimeMs: Math.floor(st.mtimeMs) };
}

export type { GraphKeyParts } from "./graph-key.js";

export function graphCacheKey(parts: GraphKeyParts): string {
  return graphKeyName(parts.kind, createHash("sha256").update(graphKeyText(parts)).digest("hex"));
}

export interface CachedGraph {
  readonly modelPath: string;
  /** True when the entry was already there. */
  readonly hit: boolean;
}

export class GraphCache {
  readonly dir: string;

  constructor(
    root: string = defaultCacheRoot(),
    /** Also handed to the optimised-model cache beside it. */
    readonly listener: CacheListener = {},
  ) {
    this.dir = join(root, "graphs");
  }

  /** What entry `key` looks like now (see checkEntry). */
  check(key: string): EntryCheck {
    return checkEntry(this.dir, key, GRAPH_FORMAT_VERSION);
  }

  /** The model path of a complete, intact entry, or undefined. */
  lookup(key: string): string | undefined {
    const found = this.check(key);
    return found.state === "ok" ? found.modelPath : undefined;
  }

  /** Returns the cached model for `key`, building and storing it first when absent or damaged. */
  getOrBuild(key: string, build: () => GraphBuilder, options: SerializeOptions = {}): CachedGraph {
    const found = this.check(key);
    if (found.state === "ok") return { modelPath: found.modelPath, hit: true };
    if (found.state === "damaged") this.listener.onRepair?.({ cache: "graphs", key, reason: found.reason });
    const tmp = temporaryEntryDir(this.dir, key);
    try {
      const { modelPath, files } = writeModel(build(), tmp, options);
      const sizes: Record<string, number> = {};
      for (const f of files) sizes[f] = statSync(join(tmp, f)).size;
      const manifest: EntryManifest = {
        formatVersion: GRAPH_FORMAT_VERSION,
        key,
        modelFile: modelPath.slice(tmp.length + 1),
        files: sizes,
        digests: entryDigests(tmp, files),
        createdAt: new Date().toISOString(),
      };
      writeFileSync(join(tmp, ENTRY_FILE), JSON.stringify(manifest, null, 2));
      const placed = publishEntry(this.dir, key, tmp, GRAPH_FORMAT_VERSION);
      return { modelPath: placed.modelPath, hit: !placed.ours };
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
  }
}
