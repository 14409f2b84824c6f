/**
 * Fetches one blob into the cache: bytes go to `blobs/<etag>.incomplete` (kept across failures and
 * resumed with a Range request), are checked against the announced size and, for LFS files, sha256,
 * and only then renamed to `blobs/<etag>`. A bad download is deleted, never renamed. A lock file
 * makes concurrent downloads of the same blob (threads of one process or several processes) wait
 * for each other instead of writing the same `.incomplete` file.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { lock } from "proper-lockfile";
import { abortableChunks, discardBody } from "./abortable-body.js";
import type { RepoCache } from "./cache-layout.js";
import type { FileMetadata } from "./file-metadata.js";
import { HubError, hubErrorFromResponse } from "./hub-error.js";
import { type HubRequest, hubHeaders, networkError } from "./hub-http.js";

export interface BlobDownloadOptions extends HubRequest {
  /** Bytes of this blob on disk so far (including resumed bytes) and its total size. */
  onProgress?: (bytes: number, total: number) => void;
  /** How many times a cut connection is resumed within one call (default 3). */
  maxRetries?: number;
}

const LOCK_POLL_MS = 200;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Waits for the blob's lock; returns its release function. */
async function acquireLock(lockPath: string, onCompromised: (err: Error) => void, signal?: AbortSignal) {
  await mkdir(dirname(lockPath), { recursive: true });
  for (;;) {
    signal?.throwIfAborted();
    try {
      // The holder refreshes the lock's mtime; one left by a killed process goes stale and is taken over.
      return await lock(lockPath, { lockfilePath: lockPath, realpath: false, stale: 15_000, onCompromised });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ELOCKED") throw err;
      await sleep(LOCK_POLL_MS, signal);
    }
  }
}

/** sha256 of a file's first `bytes` bytes, so a resumed download can be verified without re-fetching. */
async function hashPrefix(path: string, bytes: number): Promise<Hash> {
  const hash = createHash("sha256");
  if (bytes === 0) return hash;
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1 }))
    hash.update(chunk as Buffer);
  return hash;
}

/** Thrown inside one attempt when the connection broke: the caller resumes. */
class Interrupted extends Error {}

export async function downloadBlob(
  cache: RepoCache,
  meta: FileMetadata,
  options: BlobDownloadOptions,
): Promise<string> {
  const blob = cache.blobPath(meta.etag);
  if (existsSync(blob)) return blob;
  const incomplete = cache.incompletePath(meta.etag);
  await mkdir(dirname(blob), { recursive: true });

  const compromised = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, compromised.signal]) : compromised.signal;
  const release = await acquireLock(
    cache.lockPath(meta.etag),
    (err) => compromised.abort(new Error(`lost the download lock of ${meta.etag}: ${err.message}`)),
    options.signal,
  );
  try {
    // Another download may have finished it while we waited for the lock.
    if (existsSync(blob)) return blob;
    const maxRetries = options.maxRetries ?? 3;
    let hashed: { hash: Hash; bytes: number } | undefined;
    for (let attempt = 0; ; attempt++) {
      await (await open(incomplete, "a")).close(); // an empty file is a valid (empty) blob
      let have = await fileSize(incomplete);
      if (have > meta.size) {
        await rm(incomplete, { force: true });
        have = 0;
      }
      if (meta.sha256 && hashed?.bytes !== have)
        hashed = { hash: await hashPrefix(incomplete, have), bytes: have };
      options.onProgress?.(have, meta.size);
      try {
        if (have < meta.size) await fetchRange(meta, incomplete, have, hashed, { ...options, signal });
        if ((await fileSize(incomplete)) < meta.size) throw new Interrupted("the response ended early");
      } catch (err) {
        if (signal.aborted) throw networkError(err, meta.location, signal);
        if (!(err instanceof Interrupted)) throw err;
        if (attempt >= maxRetries) {
          const got = await fileSize(incomplete);
          throw new HubError(
            "network",
            `download of "${options.subject.path}" from ${options.subject.repo} was interrupted at ${got} of ${meta.size} bytes (${(err.cause as Error | undefined)?.message ?? err.message}); run the same command again to resume`,
            undefined,
            { cause: err.cause },
          );
        }
        await sleep(Math.min(2000, 100 * 2 ** attempt), signal);
        continue;
      }
      await verify(incomplete, await fileSize(incomplete), meta, hashed?.hash, options);
      await rename(incomplete, blob);
      return blob;
    }
  } finally {
    await release().catch(() => undefined);
  }
}

async function verify(
  incomplete: string,
  got: number,
  meta: FileMetadata,
  hash: Hash | undefined,
  options: BlobDownloadOptions,
): Promise<void> {
  const what = `"${options.subject.path}" from ${options.subject.repo}`;
  if (got !== meta.size) {
    await rm(incomplete, { force: true });
    throw new HubError(
      "integrity",
      `download of ${what} is corrupt: ${got} bytes received, the hub announced ${meta.size}; the bad file was deleted, try again`,
    );
  }
  if (meta.sha256 && hash) {
    const actual = hash.digest("hex");
    if (actual !== meta.sha256) {
      await rm(incomplete, { force: true });
      throw new HubError(
        "integrity",
        `download of ${what} is corrupt: sha256 ${actual} does not match the hub's ${meta.sha256}; the bad file was deleted, try again`,
      );
    }
  }
}

/** One GET from byte `from` to the end, appended to `incomplete`. Throws Interrupted when the connection breaks. */
async function fetchRange(
  meta: FileMetadata,
  incomplete: string,
  from: number,
  hashed: { hash: Hash; bytes: number } | undefined,
  options: BlobDownloadOptions & { signal: AbortSignal },
): Promise<void> {
  const file = await open(incomplete, "a");
  const stall = new AbortController();
  let stallTimer = setTimeout(() => stall.abort(), options.settings.downloadStallTimeoutMs);
  const resetStall = () => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => stall.abort(), options.settings.downloadStallTimeoutMs);
  };
  const signal = AbortSignal.any([options.signal, stall.signal]);
  let response: Response | undefined;
  try {
    try {
      response = await fetch(meta.location, {
        headers: hubHeaders(options.settings, meta.location, from > 0 ? { Range: `bytes=${from}-` } : {}),
        signal,
      });
    } catch (err) {
      throw new Interrupted("request failed", { cause: err });
    }
    let offset = from;
    if (from > 0 && response.status === 200) {
      // The server ignored the Range header and sends the whole file: start over.
      await file.truncate(0);
      offset = 0;
      if (hashed) {
        hashed.hash = createHash("sha256");
        hashed.bytes = 0;
      }
    } else if (response.status === 416) {
      await file.truncate(0);
      throw new Interrupted("range not satisfiable, restarting");
    } else if (!response.ok) {
      throw hubErrorFromResponse(response.status, response.headers, options.subject, false);
    } else if (from > 0 && !response.headers.get("content-range")?.startsWith(`bytes ${from}-`)) {
      await file.truncate(0);
      throw new Interrupted(`unexpected Content-Range ${response.headers.get("content-range")}`);
    }
    if (!response.body) return;
    try {
      // Not `for await (… of response.body)`: an abort can leave undici's stream pending forever.
      for await (const chunk of abortableChunks(response.body, signal)) {
        resetStall();
        await file.write(chunk);
        hashed?.hash.update(chunk);
        offset += chunk.byteLength;
        if (hashed) hashed.bytes = offset;
        // More bytes than announced are kept so that verify() reports the size mismatch.
        options.onProgress?.(Math.min(offset, meta.size), meta.size);
      }
    } catch (err) {
      throw new Interrupted("connection broke", { cause: err });
    }
  } finally {
    clearTimeout(stallTimer);
    // A body not read to the end (an error status, a throw above) is dropped, not left to undici.
    if (response) discardBody(response);
    await file.close();
  }
}
