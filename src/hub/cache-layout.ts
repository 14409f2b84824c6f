/**
 * The Hugging Face cache layout (the one huggingface_hub, diffusers and transformers share):
 *
 *   <cache>/models--{org}--{name}/
 *     blobs/<etag>                       file contents, named by git sha1 or LFS sha256
 *     blobs/<etag>.incomplete            a download in progress, resumed with a Range request
 *     snapshots/<commit>/<path>          relative symlink to ../../blobs/<etag>
 *     refs/<revision>                    the commit hash a branch/tag pointed to when last seen
 *   <cache>/.locks/models--{org}--{name}/  lock files (ours are named <etag>.sdlite-lock)
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";

const COMMIT_HASH = /^[0-9a-f]{40}$/;

export function isCommitHash(revision: string): boolean {
  return COMMIT_HASH.test(revision);
}

/** "org/name" → "models--org--name" (huggingface_hub's `repo_folder_name`). */
export function repoFolderName(repo: string): string {
  return `models--${repo.split("/").join("--")}`;
}

/** "models--org--name" → "org/name", or undefined for folders that are not model repos. */
export function repoIdFromFolderName(folder: string): string | undefined {
  if (!folder.startsWith("models--")) return undefined;
  return folder.slice("models--".length).split("--").join("/");
}

/** Repo paths come from the network: refuse any that could escape the snapshot folder. */
export function assertSafeRepoPath(path: string): void {
  const parts = path.split("/");
  if (
    path === "" ||
    path.startsWith("/") ||
    path.includes("\\") ||
    parts.some((p) => p === ".." || p === "")
  ) {
    throw new Error(`refusing unsafe file path from the hub: "${path}"`);
  }
}

export function assertValidRepoId(repo: string): void {
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(repo) || repo.includes("--") || repo.includes("..")) {
    throw new Error(`invalid model repo id "${repo}" (expected "org/name")`);
  }
}

export class RepoCache {
  readonly root: string;

  constructor(
    readonly cacheDir: string,
    readonly repo: string,
  ) {
    this.root = join(cacheDir, repoFolderName(repo));
  }

  blobPath(etag: string): string {
    return join(this.root, "blobs", etag);
  }

  incompletePath(etag: string): string {
    return `${this.blobPath(etag)}.incomplete`;
  }

  lockPath(etag: string): string {
    return join(this.cacheDir, ".locks", repoFolderName(this.repo), `${etag}.sdlite-lock`);
  }

  snapshotDir(commit: string): string {
    return join(this.root, "snapshots", commit);
  }

  pointerPath(commit: string, path: string): string {
    return join(this.snapshotDir(commit), ...path.split("/"));
  }

  refPath(revision: string): string {
    return join(this.root, "refs", ...revision.split("/"));
  }

  /** The commit a revision resolves to without the network: itself if it is a hash, else refs/<revision>. */
  localCommit(revision: string): string | undefined {
    if (isCommitHash(revision)) return revision;
    try {
      const commit = readFileSync(this.refPath(revision), "utf-8").trim();
      return isCommitHash(commit) ? commit : undefined;
    } catch {
      return undefined;
    }
  }

  /** The snapshot path of a file if it is fully cached (a dangling symlink does not count). */
  cachedFile(revision: string, path: string): { path: string; commit: string } | undefined {
    const commit = this.localCommit(revision);
    if (!commit) return undefined;
    const pointer = this.pointerPath(commit, path);
    return existsSync(pointer) ? { path: pointer, commit } : undefined;
  }

  /** Records where a branch/tag points; written atomically so readers never see half a hash. */
  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const ref = this.refPath(revision);
    try {
      if (readFileSync(ref, "utf-8").trim() === commit) return;
    } catch {
      // no ref yet
    }
    mkdirSync(dirname(ref), { recursive: true });
    const tmp = `${ref}.${process.pid}.${Date.now()}.tmp`;
    writeFileAtomic(tmp, ref, commit);
  }

  /** Points snapshots/<commit>/<path> at blobs/<etag> with a relative symlink, replacing any old one atomically. */
  linkPointer(commit: string, path: string, etag: string): string {
    const pointer = this.pointerPath(commit, path);
    mkdirSync(dirname(pointer), { recursive: true });
    const target = relative(dirname(pointer), this.blobPath(etag)).split(sep).join("/");
    const tmp = `${pointer}.${process.pid}.${Date.now()}.tmp-link`;
    rmSync(tmp, { force: true });
    symlinkSync(target, tmp);
    renameSync(tmp, pointer);
    return pointer;
  }
}

/** writeFile + rename: a reader sees either the old or the new content, never a torn write. */
function writeFileAtomic(tmp: string, dest: string, text: string): void {
  writeFileSync(tmp, text);
  renameSync(tmp, dest);
}
