/**
 * Downloads the files of a model repo at one revision into the Hugging Face cache and returns the
 * snapshot folder (huggingface_hub's `snapshot_download`): list the repo, keep the files the
 * allow/ignore patterns (and an optional selector) pick, fetch the missing ones a few at a time.
 * A repeated call whose files are all cached makes no request at all.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { assertValidRepoId, RepoCache } from "./cache-layout.js";
import {
  DEFAULT_REVISION,
  type DownloadProgress,
  downloadFileWith,
  type HubOptions,
  hubSettings,
  monotonic,
} from "./download-file.js";
import { filterRepoFiles } from "./file-patterns.js";
import { HubError } from "./hub-error.js";
import type { HubSettings } from "./hub-settings.js";
import { fetchRepoListing, type RepoListing, readCachedListing, writeCachedListing } from "./repo-listing.js";

export interface SnapshotDownloadOptions extends HubOptions {
  /** Branch, tag or commit hash; default "main". */
  revision?: string;
  /** fnmatch patterns (as in huggingface_hub): only matching repo paths are fetched. */
  allowPatterns?: string | string[];
  ignorePatterns?: string | string[];
  /** A further choice over the pattern-filtered paths, e.g. `(paths) => selectSd15Files(paths).files`. */
  selectFiles?: (paths: string[]) => string[];
  onProgress?: (progress: DownloadProgress) => void;
  /** Files fetched at the same time (default 4). */
  maxConcurrency?: number;
}

export interface Snapshot {
  /** `<cache>/models--org--name/snapshots/<commit>`. */
  dir: string;
  commit: string;
  /** Repo paths of the files chosen (all present in `dir`). */
  files: string[];
  /** True when nothing had to be fetched. */
  fromCache: boolean;
}

function listSnapshotFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) =>
      relative(dir, join(entry.parentPath ?? entry.path, entry.name))
        .split(sep)
        .join("/"),
    );
}

export async function snapshotDownload(
  repo: string,
  options: SnapshotDownloadOptions = {},
): Promise<Snapshot> {
  assertValidRepoId(repo);
  const settings = hubSettings(options.settings);
  const revision = options.revision ?? DEFAULT_REVISION;
  const cache = new RepoCache(settings.cacheDir, repo);
  const choose = (paths: string[]) => {
    const filtered = filterRepoFiles(paths, options.allowPatterns, options.ignorePatterns);
    return options.selectFiles ? options.selectFiles(filtered) : filtered;
  };

  const localCommit = options.refresh && !settings.offline ? undefined : cache.localCommit(revision);
  let listing = localCommit ? readCachedListing(cache, localCommit) : undefined;
  if (!listing) {
    // A snapshot made by another tool has no recorded listing: offline, trust what is on disk (as huggingface_hub does).
    const fromDisk = (): Snapshot | undefined => {
      const commit = cache.localCommit(revision);
      const dir = commit ? cache.snapshotDir(commit) : undefined;
      if (!commit || !dir || !existsSync(dir)) return undefined;
      const files = choose(listSnapshotFiles(dir)).filter((f) => existsSync(join(dir, f)));
      return files.length > 0 ? { dir, commit, files, fromCache: true } : undefined;
    };
    if (settings.offline) {
      const snapshot = fromDisk();
      if (snapshot) return snapshot;
      throw offlineError(settings, repo, revision);
    }
    try {
      listing = await fetchRepoListing(settings, repo, revision, options.signal);
    } catch (err) {
      const snapshot = err instanceof HubError && err.code === "network" ? fromDisk() : undefined;
      if (snapshot) return snapshot;
      throw err;
    }
    cache.writeRef(revision, listing.commit);
    writeCachedListing(cache, listing);
  }
  return fetchMissing(settings, cache, listing, choose, options);
}

function offlineError(settings: HubSettings, repo: string, revision: string, missing?: string[]): HubError {
  const what = missing ? `${missing.length} file(s) of ${repo} (${missing.slice(0, 3).join(", ")}…)` : repo;
  return new HubError(
    "offline-not-cached",
    `offline mode is on (HF_HUB_OFFLINE) and ${what} at revision "${revision}" is not in the cache (${settings.cacheDir}); unset HF_HUB_OFFLINE and download it once`,
  );
}

async function fetchMissing(
  settings: HubSettings,
  cache: RepoCache,
  listing: RepoListing,
  choose: (paths: string[]) => string[],
  options: SnapshotDownloadOptions,
): Promise<Snapshot> {
  const { commit } = listing;
  const sizes = new Map(listing.files.map((f) => [f.path, f.size]));
  const files = choose(listing.files.map((f) => f.path));
  const missing = files.filter((path) => !cache.cachedFile(commit, path));
  if (missing.length > 0 && settings.offline) {
    throw offlineError(settings, cache.repo, options.revision ?? DEFAULT_REVISION, missing);
  }

  // Overall progress: cached files count as done; a size the listing lacked is learnt from the HEAD.
  const done = new Map<string, number>();
  const totals = new Map(files.map((path) => [path, sizes.get(path) ?? 0]));
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const report = (file: string, fileBytes: number, fileTotal: number) => {
    done.set(file, fileBytes);
    totals.set(file, fileTotal);
    options.onProgress?.({ file, fileBytes, fileTotal, bytes: sum(done), total: sum(totals) });
  };
  for (const path of files) {
    if (!missing.includes(path)) report(path, totals.get(path) ?? 0, totals.get(path) ?? 0);
  }

  const failed = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, failed.signal]) : failed.signal;
  let fetchedAny = false;
  const queue = [...missing];
  const worker = async () => {
    for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
      signal.throwIfAborted(); // another file failed: start no new download
      const progress = monotonic((bytes, total) => report(path, bytes, total));
      const result = await downloadFileWith(settings, cache.repo, path, commit, {
        signal,
        maxRetries: options.maxRetries,
        onProgress: progress,
      });
      // A blob shared with another path (or fetched by a concurrent call) reports no bytes: close it here.
      const size = statSync(result.path).size;
      progress(size, size);
      if (!result.fromCache) fetchedAny = true;
    }
  };
  const workers = Array.from({ length: Math.min(options.maxConcurrency ?? 4, queue.length) }, () =>
    worker().catch((err: unknown) => {
      failed.abort(err);
      throw err;
    }),
  );
  const results = await Promise.allSettled(workers);
  const firstError = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  // The first failure is the cause; the others are mostly the aborts it triggered.
  if (firstError) throw failed.signal.reason ?? firstError.reason;
  return { dir: cache.snapshotDir(commit), commit, files, fromCache: !fetchedAny };
}
