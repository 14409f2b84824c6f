/**
 * The file list of a model repo at one commit, from `GET /api/models/{repo}/revision/{rev}?blobs=true`
 * (its `sha` and `siblings`). A commit's listing never changes, so it is kept beside the repo's
 * cache folder (`.sdlite-listings/<commit>.json`, which huggingface_hub's cache scan ignores):
 * that is what lets a repeated snapshotDownload prove it is complete without asking the hub.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertSafeRepoPath, isCommitHash, type RepoCache } from "./cache-layout.js";
import { HubError } from "./hub-error.js";
import { fetchJson, type HubRequest } from "./hub-http.js";
import type { HubSettings } from "./hub-settings.js";

export interface RepoFile {
  path: string;
  /** Bytes of the real file (the LFS object for LFS files), when the hub said. */
  size?: number;
  /** Set for LFS files. */
  sha256?: string;
}

export interface RepoListing {
  commit: string;
  files: RepoFile[];
}

interface Sibling {
  rfilename?: unknown;
  size?: unknown;
  lfs?: { sha256?: unknown; size?: unknown };
}

/** Validates the API answer: paths become file names on disk, so each one is checked. */
export function parseRepoListing(json: unknown, repo: string): RepoListing {
  const body = json as { sha?: unknown; siblings?: unknown };
  if (typeof body?.sha !== "string" || !isCommitHash(body.sha) || !Array.isArray(body.siblings)) {
    throw new HubError("http", `the hub's file list for ${repo} has no commit "sha" or "siblings"`);
  }
  const files = (body.siblings as Sibling[]).map((s): RepoFile => {
    if (typeof s?.rfilename !== "string") {
      throw new HubError("http", `the hub's file list for ${repo} has an entry without "rfilename"`);
    }
    assertSafeRepoPath(s.rfilename);
    const size =
      typeof s.lfs?.size === "number" ? s.lfs.size : typeof s.size === "number" ? s.size : undefined;
    const sha256 = typeof s.lfs?.sha256 === "string" ? s.lfs.sha256 : undefined;
    return { path: s.rfilename, size, sha256 };
  });
  return { commit: body.sha, files };
}

export async function fetchRepoListing(
  settings: HubSettings,
  repo: string,
  revision: string,
  signal?: AbortSignal,
): Promise<RepoListing> {
  const url = `${settings.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const req: HubRequest = { settings, subject: { repo, revision }, signal };
  return parseRepoListing(await fetchJson(url, req), repo);
}

function listingPath(cache: RepoCache, commit: string): string {
  return join(cache.root, ".sdlite-listings", `${commit}.json`);
}

export function readCachedListing(cache: RepoCache, commit: string): RepoListing | undefined {
  try {
    const listing = JSON.parse(readFileSync(listingPath(cache, commit), "utf-8")) as RepoListing;
    return listing.commit === commit && Array.isArray(listing.files) ? listing : undefined;
  } catch {
    return undefined;
  }
}

export function writeCachedListing(cache: RepoCache, listing: RepoListing): void {
  const path = listingPath(cache, listing.commit);
  mkdirSync(join(cache.root, ".sdlite-listings"), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(listing));
  renameSync(tmp, path);
}
