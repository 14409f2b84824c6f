/**
 * What the hub says about one file, from a HEAD on its resolve URL (huggingface_hub's
 * `get_hf_file_metadata`): the commit the revision points to, the blob's id, its size and where
 * to fetch it. LFS files answer with a redirect to a CDN and describe the real file in X-Linked-*
 * headers (their ETag then names the pointer, not the content).
 */
import { HubError, hubErrorFromResponse } from "./hub-error.js";
import { type HubRequest, hubHeaders, networkError, withTimeout } from "./hub-http.js";

export interface FileMetadata {
  /** The commit hash the requested revision resolved to (X-Repo-Commit). */
  commit: string;
  /** Blob id: the LFS sha256 or the git sha1, quotes stripped. Names the file in blobs/. */
  etag: string;
  /** Size in bytes of the real file (X-Linked-Size for LFS files). */
  size: number;
  /** Where to GET the bytes: the resolve URL itself, or the CDN it redirects to. */
  location: string;
  /** Set for LFS files: the sha256 the downloaded bytes must have. */
  sha256?: string;
}

/** `W/"abc"` or `"abc"` → `abc`. */
export function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, "").replace(/^"|"$/g, "");
}

const SHA256 = /^[0-9a-f]{64}$/;
const MAX_RELATIVE_REDIRECTS = 5;

export async function fetchFileMetadata(url: string, req: HubRequest): Promise<FileMetadata> {
  let current = url;
  for (let hop = 0; ; hop++) {
    let response: Response;
    try {
      response = await fetch(current, {
        method: "HEAD",
        redirect: "manual",
        headers: hubHeaders(req.settings, current),
        signal: withTimeout(req.signal, req.settings.metadataTimeoutMs),
      });
    } catch (err) {
      throw networkError(err, current, req.signal);
    }
    const { status, headers } = response;
    const location = headers.get("location");
    const isRedirect = status >= 300 && status < 400 && location !== null;
    const target = isRedirect ? new URL(location, current).href : undefined;
    // A redirect within the hub (a renamed repo) is followed; one to another origin is the CDN.
    if (target && new URL(target).origin === new URL(current).origin && hop < MAX_RELATIVE_REDIRECTS) {
      current = target;
      continue;
    }
    if (!response.ok && !isRedirect) {
      throw hubErrorFromResponse(status, headers, req.subject, req.settings.token !== undefined);
    }
    const commit = headers.get("x-repo-commit");
    const linkedEtag = headers.get("x-linked-etag");
    const etag = linkedEtag ?? headers.get("etag");
    const size = Number(headers.get("x-linked-size") ?? headers.get("content-length"));
    if (!commit || !etag || !Number.isSafeInteger(size)) {
      throw new HubError(
        "http",
        `${current} answered without X-Repo-Commit, ETag or size headers; is HF_ENDPOINT (${req.settings.endpoint}) a Hugging Face hub?`,
        status,
      );
    }
    const normalized = normalizeEtag(etag);
    return {
      commit,
      etag: normalized,
      size,
      location: target ?? current,
      sha256: linkedEtag && SHA256.test(normalized) ? normalized : undefined,
    };
  }
}
