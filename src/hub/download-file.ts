/**
 * Downloads one file of a model repo into the Hugging Face cache and returns its snapshot path
 * (huggingface_hub's `hf_hub_download`). Cache first: a file whose revision already resolves
 * locally (a commit hash, or a branch/tag recorded in refs/) is returned without any request;
 * `refresh: true` asks the hub whether a branch moved.
 */
import { existsSync, statSync } from "node:fs";
import { downloadBlob } from "./blob-download.js";
import { assertSafeRepoPath, assertValidRepoId, isCommitHash, RepoCache } from "./cache-layout.js";
import { fetchFileMetadata } from "./file-metadata.js";
import { HubError } from "./hub-error.js";
import { resolveUrl } from "./hub-http.js";
import { type HubSettings, resolveHubSettings } from "./hub-settings.js";

export const DEFAULT_REVISION = "main";

export interface DownloadProgress {
  /** Repo path of the file the bytes belong to. */
  file: string;
  fileBytes: number;
  fileTotal: number;
  /** All files of the call together (for downloadFile, the same as fileBytes/fileTotal). */
  bytes: number;
  total: number;
}

export interface HubOptions {
  /** Overrides of what the environment says (HF_ENDPOINT, HF_HUB_CACHE, HF_TOKEN, HF_HUB_OFFLINE…). */
  settings?: Partial<HubSettings>;
  signal?: AbortSignal;
  /** Contact the hub even when the revision resolves from the cache (to follow a moved branch). */
  refresh?: boolean;
  /** How often a cut connection is resumed within one call (default 3). */
  maxRetries?: number;
}

export interface DownloadFileOptions extends HubOptions {
  /** Branch, tag or commit hash; default "main". */
  revision?: string;
  onProgress?: (progress: DownloadProgress) => void;
}

export interface DownloadedFile {
  /** `<cache>/models--org--name/snapshots/<commit>/<path>`. */
  path: string;
  commit: string;
  /** True when no byte had to be fetched. */
  fromCache: boolean;
}

export function hubSettings(overrides?: Partial<HubSettings>): HubSettings {
  return { ...resolveHubSettings(), ...overrides };
}

function offlineError(settings: HubSettings, repo: string, revision: string, path?: string): HubError {
  const what = path ? `"${path}" of ${repo}` : repo;
  return new HubError(
    "offline-not-cached",
    `offline mode is on (HF_HUB_OFFLINE) and ${what} at revision "${revision}" is not in the cache (${settings.cacheDir}); unset HF_HUB_OFFLINE and download it once`,
  );
}

/** Used by snapshotDownload with the settings it already resolved and its own progress bookkeeping. */
export async function downloadFileWith(
  settings: HubSettings,
  repo: string,
  path: string,
  revision: string,
  options: HubOptions & { onProgress?: (bytes: number, total: number) => void },
): Promise<DownloadedFile> {
  assertValidRepoId(repo);
  assertSafeRepoPath(path);
  const cache = new RepoCache(settings.cacheDir, repo);
  const cached = cache.cachedFile(revision, path);
  if (cached && (!options.refresh || settings.offline || isCommitHash(revision))) {
    return { ...cached, fromCache: true };
  }
  if (settings.offline) throw offlineError(settings, repo, revision, path);

  const subject = { repo, revision, path };
  const url = resolveUrl(settings, repo, revision, path);
  let meta: Awaited<ReturnType<typeof fetchFileMetadata>>;
  try {
    meta = await fetchFileMetadata(url, { settings, subject, signal: options.signal });
  } catch (err) {
    // As huggingface_hub does: when the hub cannot be reached, a cached copy is good enough.
    if (cached && err instanceof HubError && err.code === "network") return { ...cached, fromCache: true };
    throw err;
  }
  if (!isCommitHash(meta.commit) || !/^[\w.-]+$/.test(meta.etag) || meta.etag.startsWith(".")) {
    throw new HubError(
      "http",
      `the hub sent an unusable commit "${meta.commit}" or etag "${meta.etag}" for ${url}`,
    );
  }
  cache.writeRef(revision, meta.commit);
  const known = cache.cachedFile(meta.commit, path);
  if (known) return { ...known, fromCache: true };

  // The same blob may already be there under another commit or path: then only a link is new.
  const blobWasCached = existsSync(cache.blobPath(meta.etag));
  await downloadBlob(cache, meta, {
    settings,
    subject,
    signal: options.signal,
    maxRetries: options.maxRetries,
    onProgress: options.onProgress,
  });
  const pointer = cache.linkPointer(meta.commit, path, meta.etag);
  return { path: pointer, commit: meta.commit, fromCache: blobWasCached };
}

/** Keeps reported byte counts from going backwards (a server that ignores Range restarts a file). */
export function monotonic(
  report: (bytes: number, total: number) => void,
): (bytes: number, total: number) => void {
  let last = -1;
  return (bytes, total) => {
    if (bytes <= last) return;
    last = bytes;
    report(bytes, total);
  };
}

export async function downloadFile(
  repo: string,
  path: string,
  options: DownloadFileOptions = {},
): Promise<DownloadedFile> {
  const settings = hubSettings(options.settings);
  const revision = options.revision ?? DEFAULT_REVISION;
  const report = options.onProgress;
  const progress = report
    ? monotonic((bytes, total) => report({ file: path, fileBytes: bytes, fileTotal: total, bytes, total }))
    : undefined;
  const result = await downloadFileWith(settings, repo, path, revision, { ...options, onProgress: progress });
  if (progress) {
    // Files served from the cache (or fetched by a concurrent call) still end with a "done" event.
    const size = statSync(result.path).size;
    progress(size, size);
  }
  return result;
}
