/**
 * The checkpoints the server can switch between, named the way A1111 names them
 * (modules/sd_models.py CheckpointInfo): `name` is the path below the models folder (a hub repo
 * id for the Hugging Face cache), `model_name` that without extension and with '/' → '_',
 * `title` "name [shorthash]" once the hash is known. Hashes are SHA-256 of single-file
 * checkpoints, computed when one is loaded (A1111 does the same), and never for folders.
 */
import { existsSync, readdirSync, realpathSync, statSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import { scanHubCache, scanModelsFolder } from "../hub/cache-scan.js";
import { modelShortHash } from "../image/model-hash.js";
import { sha256File } from "../image/sha256-file.js";
import { defaultsForModel, GENERIC_DEFAULTS, type ModelDefaults } from "../pipeline/model-defaults.js";

export interface CheckpointEntry {
  /** A1111 `name`: relative path with extension, or a hub repo id. */
  readonly name: string;
  /** A1111 `model_name`: `name` without extension, path separators as '_'. */
  readonly modelName: string;
  /** What openPipeline opens: a file or a pipeline folder. */
  readonly path: string;
  readonly source: "argument" | "models-dir" | "hub-cache";
}

export interface CatalogOptions {
  /** `-m`: listed first and loaded first. */
  defaultModel?: string;
  modelsDir?: string;
  hubCacheDir?: string;
}

interface HashRecord {
  size: number;
  mtimeMs: number;
  sha256: string;
}

function modelNameOf(name: string): string {
  const ext = extname(name);
  const stem = [".safetensors", ".ckpt"].includes(ext.toLowerCase()) ? name.slice(0, -ext.length) : name;
  return stem.replace(/[/\\]/g, "_");
}

/** One spelling per file or folder: symlinks and relative paths to the same model list it once. */
function canonicalPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** A snapshot is a pipeline folder, or holds a single checkpoint file at its root. */
function snapshotModelPath(snapshot: string): string | undefined {
  if (existsSync(join(snapshot, "model_index.json"))) return snapshot;
  const files = readdirSync(snapshot)
    .filter((f) => /\.(safetensors|ckpt)$/.test(f) && existsSync(join(snapshot, f)))
    .sort((a, b) => Number(b.endsWith(".safetensors")) - Number(a.endsWith(".safetensors")));
  return files.length > 0 ? join(snapshot, files[0]) : undefined;
}

export class ModelCatalog {
  private entries: CheckpointEntry[] = [];
  private readonly hashes = new Map<string, HashRecord>();
  private readonly defaultsCache = new Map<string, { mtimeMs: number; defaults: ModelDefaults }>();

  constructor(private readonly options: CatalogOptions) {
    this.refresh();
  }

  /** Re-reads the models folder and the hub cache (A1111 /refresh-checkpoints). */
  refresh(): void {
    const entries: CheckpointEntry[] = [];
    const seen = new Set<string>();
    const add = (entry: CheckpointEntry) => {
      const key = canonicalPath(entry.path);
      if (seen.has(key)) return;
      seen.add(key);
      entries.push(entry);
    };
    const { defaultModel, modelsDir, hubCacheDir } = this.options;
    if (modelsDir) {
      for (const m of scanModelsFolder(modelsDir)) {
        if (m.looks.sd1 === false && !m.looks.sd2) continue;
        add({ name: m.name, modelName: modelNameOf(m.name), path: resolve(m.path), source: "models-dir" });
      }
    }
    if (hubCacheDir) {
      for (const repo of scanHubCache(hubCacheDir)) {
        if ((repo.looks.sd1 !== true && !repo.looks.sd2) || repo.revisions.length === 0) continue;
        const main = repo.revisions.find((r) => r.refs.includes("main")) ?? repo.revisions[0];
        const path = snapshotModelPath(main.path);
        if (path)
          add({
            name: repo.repo,
            modelName: modelNameOf(repo.repo),
            path: resolve(path),
            source: "hub-cache",
          });
      }
    }
    if (defaultModel) {
      const wanted = canonicalPath(defaultModel);
      const existing = entries.find((e) => e.name === defaultModel || canonicalPath(e.path) === wanted);
      if (existing) entries.splice(entries.indexOf(existing), 1);
      const name = basename(resolve(defaultModel));
      entries.unshift(
        existing ?? { name, modelName: modelNameOf(name), path: resolve(defaultModel), source: "argument" },
      );
    }
    this.entries = entries;
  }

  list(): readonly CheckpointEntry[] {
    return this.entries;
  }

  /** The model loaded when nothing else is asked for: `-m`, else the first one found. */
  defaultEntry(): CheckpointEntry | undefined {
    return this.entries[0];
  }

  sha256(entry: CheckpointEntry): string | undefined {
    const record = this.hashes.get(entry.path);
    if (!record) return undefined;
    try {
      const st = statSync(entry.path);
      return st.size === record.size && st.mtimeMs === record.mtimeMs ? record.sha256 : undefined;
    } catch {
      return undefined;
    }
  }

  shortHash(entry: CheckpointEntry): string | undefined {
    const sha = this.sha256(entry);
    return sha ? modelShortHash(sha) : undefined;
  }

  /**
   * The settings the checkpoint is meant to be run with (SD-Turbo: Euler, 1 step, no CFG; SD 2.x
   * 768-v: 768x768; LCM with a guidance embedding: LCM, 4 steps; else A1111's), read from its
   * configs and headers once per version of the file.
   */
  defaults(entry: CheckpointEntry): ModelDefaults {
    let mtimeMs = -1;
    try {
      mtimeMs = statSync(entry.path).mtimeMs;
    } catch {
      return GENERIC_DEFAULTS;
    }
    const cached = this.defaultsCache.get(entry.path);
    if (cached?.mtimeMs === mtimeMs) return cached.defaults;
    const defaults = defaultsForModel(entry.path, GENERIC_DEFAULTS);
    this.defaultsCache.set(entry.path, { mtimeMs, defaults });
    return defaults;
  }

  /** A1111 title: "name [shorthash]", or the name while no hash is known. */
  title(entry: CheckpointEntry): string {
    const hash = this.shortHash(entry);
    return hash ? `${entry.name} [${hash}]` : entry.name;
  }

  /** Hashes a single-file checkpoint once per content (size + mtime); folders have no hash. */
  async ensureHash(entry: CheckpointEntry): Promise<string | undefined> {
    const known = this.sha256(entry);
    if (known) return known;
    if (!existsSync(entry.path) || !statSync(entry.path).isFile()) return undefined;
    const st = statSync(entry.path);
    const sha256 = await sha256File(entry.path);
    this.hashes.set(entry.path, { size: st.size, mtimeMs: st.mtimeMs, sha256 });
    return sha256;
  }

  /**
   * A1111's get_closet_checkpoint_match: an exact title, name, model name, hash or path, then the
   * title without its " [hash]", then the shortest title containing the text. Only listed models
   * are found: a path outside the model folders is unknown, and nothing on disk is touched.
   */
  find(query: string): CheckpointEntry | undefined {
    const q = query.trim();
    if (q === "") return undefined;
    const exact = this.entries.find(
      (e) =>
        this.title(e) === q ||
        e.name === q ||
        e.modelName === q ||
        e.path === q ||
        (this.shortHash(e) !== undefined && (this.shortHash(e) === q || this.sha256(e) === q)),
    );
    if (exact) return exact;
    const withoutHash = q.replace(/\s*\[[0-9a-f]{8,64}\]$/i, "");
    const byName = this.entries.find((e) => e.name === withoutHash || e.modelName === withoutHash);
    if (byName) return byName;
    // a path names a listed model or nothing: never looked at on disk (`../../etc/passwd`)
    const asPath = this.entries.find((e) => e.path === resolve(q));
    if (asPath) return asPath;
    const containing = this.entries
      .filter((e) => this.title(e).includes(q))
      .sort((a, b) => this.title(a).length - this.title(b).length);
    return containing[0];
  }
}
