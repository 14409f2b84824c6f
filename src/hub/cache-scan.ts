/**
 * What models are on disk: the model repos in the Hugging Face cache (any tool's downloads, not
 * only sdlite's) and the checkpoints in sdlite's own models folder. Read-only.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { isCommitHash, repoIdFromFolderName } from "./cache-layout.js";
import { describeCheckpointFile, describePipelineFolder, type ModelLooks } from "./model-kind.js";

export interface CachedRevision {
  commit: string;
  /** Branches/tags in refs/ that point at this commit. */
  refs: string[];
  /** Files present in the snapshot (dangling links not counted). */
  files: number;
  path: string;
}

export interface CachedRepo {
  repo: string;
  path: string;
  /** Bytes of all blobs, i.e. what deleting the repo folder would free (partial downloads included). */
  sizeOnDisk: number;
  /** Bytes of unfinished downloads (`*.incomplete`) within sizeOnDisk. */
  incompleteBytes: number;
  revisions: CachedRevision[];
  /** Of the snapshot refs/main points to, else of the newest one. */
  looks: ModelLooks;
}

export interface LocalModel {
  /** Path relative to the models folder. */
  name: string;
  path: string;
  size: number;
  looks: ModelLooks;
}

const CHECKPOINT = /\.(safetensors|ckpt)$/;

function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => !e.isDirectory())
      .map((e) => join(e.parentPath ?? e.path, e.name));
  } catch {
    return [];
  }
}

function readRefs(refsDir: string): Map<string, string[]> {
  const byCommit = new Map<string, string[]>();
  for (const file of listFiles(refsDir)) {
    try {
      const commit = readFileSync(file, "utf-8").trim();
      const name = relative(refsDir, file).split(sep).join("/");
      byCommit.set(commit, [...(byCommit.get(commit) ?? []), name]);
    } catch {
      // unreadable ref: skip
    }
  }
  return byCommit;
}

function describeSnapshot(dir: string): ModelLooks {
  if (existsSync(join(dir, "model_index.json"))) return describePipelineFolder(dir);
  const rootCheckpoints = readdirSync(dir)
    .filter((f) => CHECKPOINT.test(f) && existsSync(join(dir, f)))
    .sort((a, b) => Number(b.endsWith(".safetensors")) - Number(a.endsWith(".safetensors")));
  if (rootCheckpoints.length > 0) return describeCheckpointFile(join(dir, rootCheckpoints[0]));
  return { format: "other", sd1: false, detail: "no model_index.json or checkpoint" };
}

export function scanHubCache(cacheDir: string): CachedRepo[] {
  if (!existsSync(cacheDir)) return [];
  const repos: CachedRepo[] = [];
  for (const folder of readdirSync(cacheDir).sort()) {
    const repo = repoIdFromFolderName(folder);
    const root = join(cacheDir, folder);
    if (!repo || !statSync(root).isDirectory()) continue;

    let sizeOnDisk = 0;
    let incompleteBytes = 0;
    for (const blob of listFiles(join(root, "blobs"))) {
      const size = lstatSync(blob).size;
      sizeOnDisk += size;
      if (blob.endsWith(".incomplete")) incompleteBytes += size;
    }
    const refs = readRefs(join(root, "refs"));
    const snapshotsDir = join(root, "snapshots");
    const commits = existsSync(snapshotsDir) ? readdirSync(snapshotsDir).filter(isCommitHash) : [];
    const revisions = commits
      .map((commit) => {
        const path = join(snapshotsDir, commit);
        const files = listFiles(path).filter((f) => existsSync(f)).length;
        return { commit, refs: refs.get(commit) ?? [], files, path, mtime: statSync(path).mtimeMs };
      })
      .sort((a, b) => b.mtime - a.mtime);
    const main = revisions.find((r) => r.refs.includes("main")) ?? revisions[0];
    repos.push({
      repo,
      path: root,
      sizeOnDisk,
      incompleteBytes,
      revisions: revisions.map(({ mtime: _, ...r }) => r),
      looks: main ? describeSnapshot(main.path) : { format: "other", sd1: false, detail: "no snapshot" },
    });
  }
  return repos;
}

/** Single-file checkpoints and pipeline folders (with model_index.json) anywhere under `dir`. */
export function scanModelsFolder(dir: string): LocalModel[] {
  if (!existsSync(dir)) return [];
  const models: LocalModel[] = [];
  const pipelineDirs = new Set<string>();
  const files = listFiles(dir).sort();
  for (const file of files) {
    if (file.endsWith(`${sep}model_index.json`)) pipelineDirs.add(file.slice(0, -"/model_index.json".length));
  }
  const insidePipeline = (file: string) => [...pipelineDirs].some((p) => file.startsWith(p + sep));
  for (const pipelineDir of pipelineDirs) {
    const size = files
      .filter((f) => f.startsWith(pipelineDir + sep))
      .reduce((a, f) => a + statSync(f).size, 0);
    models.push({
      name: relative(dir, pipelineDir),
      path: pipelineDir,
      size,
      looks: describePipelineFolder(pipelineDir),
    });
  }
  for (const file of files) {
    if (!CHECKPOINT.test(file) || insidePipeline(file) || !existsSync(file)) continue;
    models.push({
      name: relative(dir, file),
      path: file,
      size: statSync(file).size,
      looks: describeCheckpointFile(file),
    });
  }
  return models.sort((a, b) => a.name.localeCompare(b.name));
}
