/**
 * Which file of a Hugging Face repo "This device" mode downloads, from the hub's listing
 * (`GET /api/models/{repo}/revision/{rev}?blobs=true`, as src/hub/repo-listing.ts reads it in Node):
 * the named file, or else the repo's single-file checkpoint at its root (a browser runs one
 * `.safetensors` file, not a diffusers folder). Pure: works on the parsed JSON.
 */
import { classifyWeightFile } from "../../../src/hub/sd15-files.js";

export const DEFAULT_HUB_ENDPOINT = "https://huggingface.co";

export interface HubRepoRef {
  repo: string;
  revision: string;
  /** A file the user named; otherwise pickCheckpoint chooses. */
  file?: string;
}

export interface HubFile {
  path: string;
  size?: number;
  /** LFS files only: the object's SHA-256 (lower-case hex). */
  sha256?: string;
}

export interface HubListing {
  commit: string;
  files: HubFile[];
}

/** What the download needs: a file pinned to a commit, with its size and (when known) hash. */
export interface HubDownloadTarget {
  repo: string;
  path: string;
  commit: string;
  size: number;
  sha256?: string;
  url: string;
}

const REPO_ID = /^[\w.-]+\/[\w.-]+$/;

/**
 * "org/name", "org/name@rev", or a hub URL (`…/org/name`, `…/org/name/blob/rev/file`,
 * `…/org/name/resolve/rev/file`); `file` (when given) wins over one in the URL.
 */
export function parseRepoInput(input: string, file?: string): HubRepoRef {
  let text = input.trim();
  let revision = "main";
  let fromUrl: string | undefined;
  const url = /^https?:\/\/[^/]+\/(.+)$/.exec(text);
  if (url) {
    const parts = url[1].split(/[?#]/)[0].split("/").filter(Boolean);
    text = parts.slice(0, 2).join("/");
    if ((parts[2] === "blob" || parts[2] === "resolve") && parts.length >= 5) {
      revision = decodeURIComponent(parts[3]);
      fromUrl = parts.slice(4).map(decodeURIComponent).join("/");
    }
  }
  const at = text.indexOf("@");
  if (at >= 0) {
    revision = text.slice(at + 1) || "main";
    text = text.slice(0, at);
  }
  if (!REPO_ID.test(text) || text.includes("..")) {
    throw new Error(`"${input.trim()}" is not a Hugging Face repo id (expected "org/name")`);
  }
  const named = file?.trim() || fromUrl;
  if (named !== undefined && (named.startsWith("/") || named.split("/").includes(".."))) {
    throw new Error(`"${named}" is not a file path inside a repo`);
  }
  return { repo: text, revision, ...(named ? { file: named } : {}) };
}

export function listingUrl(endpoint: string, ref: HubRepoRef): string {
  return `${trimEndpoint(endpoint)}/api/models/${ref.repo}/revision/${encodeURIComponent(ref.revision)}?blobs=true`;
}

export function resolveUrl(endpoint: string, repo: string, commit: string, path: string): string {
  return `${trimEndpoint(endpoint)}/${repo}/resolve/${commit}/${path.split("/").map(encodeURIComponent).join("/")}`;
}

function trimEndpoint(endpoint: string): string {
  return endpoint.trim().replace(/\/+$/, "");
}

interface Sibling {
  rfilename?: unknown;
  size?: unknown;
  lfs?: { sha256?: unknown; size?: unknown };
}

export function parseListing(json: unknown, repo: string): HubListing {
  const body = json as { sha?: unknown; siblings?: unknown };
  if (typeof body?.sha !== "string" || !/^[0-9a-f]{40}$/.test(body.sha) || !Array.isArray(body.siblings)) {
    throw new Error(`the hub's file list for ${repo} has no commit "sha" or "siblings"`);
  }
  const files = (body.siblings as Sibling[])
    .filter((s) => typeof s?.rfilename === "string")
    .map((s): HubFile => {
      const size =
        typeof s.lfs?.size === "number" ? s.lfs.size : typeof s.size === "number" ? s.size : undefined;
      const sha256 =
        typeof s.lfs?.sha256 === "string" && /^[0-9a-f]{64}$/.test(s.lfs.sha256) ? s.lfs.sha256 : undefined;
      return {
        path: s.rfilename as string,
        ...(size !== undefined ? { size } : {}),
        ...(sha256 ? { sha256 } : {}),
      };
    });
  return { commit: body.sha, files };
}

/**
 * The file to download: the one named, else the `.safetensors` file at the repo's root — of several,
 * the `fp16` one (half the bytes, what a browser's WebGPU wants), then an `emaonly` one, then the smallest.
 */
export function pickCheckpoint(listing: HubListing, ref: HubRepoRef): HubFile {
  if (ref.file !== undefined) {
    const found = listing.files.find((f) => f.path === ref.file);
    if (!found) throw new Error(`${ref.repo} has no file "${ref.file}" at ${ref.revision}`);
    return found;
  }
  const candidates = listing.files.filter(
    (f) =>
      !f.path.includes("/") &&
      classifyWeightFile(f.path)?.format === "safetensors" &&
      !/\.index\./.test(f.path),
  );
  if (candidates.length === 0) {
    const nested = listing.files.some((f) => f.path.endsWith(".safetensors"));
    throw new Error(
      `${ref.repo} has no single-file .safetensors checkpoint at its root${
        nested ? " (it looks like a diffusers folder); name the file to download" : ""
      }`,
    );
  }
  const rank = (f: HubFile) => [
    /fp16/i.test(f.path) ? 0 : 1,
    /ema-?only/i.test(f.path) ? 0 : 1,
    f.size ?? Number.MAX_SAFE_INTEGER,
  ];
  return [...candidates].sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i] - rb[i];
    return a.path.localeCompare(b.path);
  })[0];
}

export function downloadTarget(
  endpoint: string,
  ref: HubRepoRef,
  listing: HubListing,
  file: HubFile,
): HubDownloadTarget {
  if (file.size === undefined) {
    throw new Error(`the hub did not say how large ${file.path} is, so its download cannot be checked`);
  }
  return {
    repo: ref.repo,
    path: file.path,
    commit: listing.commit,
    size: file.size,
    ...(file.sha256 ? { sha256: file.sha256 } : {}),
    url: resolveUrl(endpoint, ref.repo, listing.commit, file.path),
  };
}
