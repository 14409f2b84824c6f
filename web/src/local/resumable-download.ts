/**
 * A file from the hub downloaded into OPFS in parts, so that a download cut short (network error,
 * Stop, a closed tab) goes on where it stopped: each HTTP Range request writes one part file
 * (`part-00000`, `part-00001`, … committed when the request ends), and the next request starts at
 * the sum of their sizes. A tab closed mid-request loses only that request's part. The finished
 * file is checked (size, and SHA-256 when the hub gave one) and handed out as one Blob made of the
 * part files: the checkpoint is never read into memory whole.
 */
import type { HubDownloadTarget } from "./hub-checkpoint.js";
import { entryNames, fileIn, readJsonIn, removeIn, writeFileIn } from "./opfs.js";
import { Sha256 } from "./sha256.js";

/** 32 MiB: a closed tab loses at most this much, and a 2 GB checkpoint is ~64 requests. */
export const DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024;
const META = "download.json";
const PART = /^part-(\d{5})$/;
const RETRIES = 4;

export interface DownloadRecord extends HubDownloadTarget {
  /** Set once size (and hash) were checked. */
  complete: boolean;
}

export interface DownloadProgress {
  done: number;
  total: number;
  /** Where this visit's download started (0 on a fresh one). */
  resumedFrom: number;
  phase: "download" | "verify";
}

export interface DownloadOptions {
  signal?: AbortSignal;
  onProgress?(progress: DownloadProgress): void;
  chunkBytes?: number;
  fetch?: typeof fetch;
}

export class DownloadError extends Error {
  override name = "DownloadError";
}

function partName(index: number): string {
  return `part-${String(index).padStart(5, "0")}`;
}

/** The parts in order (contiguous from part-00000; anything after a gap is dropped). */
async function readParts(dir: FileSystemDirectoryHandle): Promise<File[]> {
  const files: File[] = [];
  const names = (await entryNames(dir)).filter((n) => PART.test(n));
  for (let i = 0; i < names.length; i++) {
    if (names[i] !== partName(i)) {
      for (const stray of names.slice(i)) await removeIn(dir, stray);
      break;
    }
    const file = await fileIn(dir, names[i]);
    if (!file) break;
    files.push(file);
  }
  return files;
}

async function clearParts(dir: FileSystemDirectoryHandle): Promise<void> {
  for (const name of await entryNames(dir)) if (PART.test(name)) await removeIn(dir, name);
}

export async function readDownloadRecord(
  dir: FileSystemDirectoryHandle,
): Promise<DownloadRecord | undefined> {
  return readJsonIn<DownloadRecord>(dir, META);
}

/** Bytes already in the folder (finished or not). */
export async function storedBytes(dir: FileSystemDirectoryHandle): Promise<number> {
  return (await readParts(dir)).reduce((sum, f) => sum + f.size, 0);
}

/** The finished file as one Blob, or undefined when the folder holds no checked download. */
export async function completedBlob(dir: FileSystemDirectoryHandle): Promise<Blob | undefined> {
  const record = await readDownloadRecord(dir);
  if (!record?.complete) return undefined;
  const parts = await readParts(dir);
  const size = parts.reduce((sum, f) => sum + f.size, 0);
  return size === record.size ? new Blob(parts) : undefined;
}

const sameFile = (a: HubDownloadTarget, b: HubDownloadTarget) =>
  a.repo === b.repo &&
  a.path === b.path &&
  a.size === b.size &&
  (a.sha256 ?? a.commit) === (b.sha256 ?? b.commit);

/**
 * Downloads `target` into `dir` (one folder per file), resuming what an earlier visit left there,
 * and returns the checked file. Aborting keeps what arrived.
 */
export async function downloadResumable(
  dir: FileSystemDirectoryHandle,
  target: HubDownloadTarget,
  options: DownloadOptions = {},
): Promise<Blob> {
  const doFetch = options.fetch ?? fetch.bind(globalThis);
  const chunkBytes = Math.max(64 * 1024, options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const previous = await readDownloadRecord(dir);
  if (!previous || !sameFile(previous, target)) {
    // another file (or another version of it) was here: start over
    await clearParts(dir);
    await writeFileIn(dir, META, JSON.stringify({ ...target, complete: false } satisfies DownloadRecord));
  } else if (previous.complete) {
    const blob = await completedBlob(dir);
    if (blob) return blob;
  }
  let parts = await readParts(dir);
  let offset = parts.reduce((sum, f) => sum + f.size, 0);
  if (offset > target.size) {
    await clearParts(dir);
    parts = [];
    offset = 0;
  }
  const resumedFrom = offset;
  const report = (done: number, phase: DownloadProgress["phase"] = "download") =>
    options.onProgress?.({ done, total: target.size, resumedFrom, phase });
  report(offset);

  let failures = 0;
  while (offset < target.size) {
    options.signal?.throwIfAborted();
    const end = Math.min(offset + chunkBytes, target.size) - 1;
    const before = offset;
    try {
      offset = await fetchPart(
        dir,
        partName(parts.length),
        target,
        offset,
        end,
        doFetch,
        options.signal,
        report,
      );
    } catch (err) {
      if (options.signal?.aborted || failures >= RETRIES || err instanceof DownloadError) throw err;
      failures++;
      await new Promise((r) => setTimeout(r, 250 * 2 ** failures));
    }
    parts = await readParts(dir);
    offset = parts.reduce((sum, f) => sum + f.size, 0);
    if (offset > before) failures = 0;
  }
  if (offset !== target.size)
    throw new DownloadError(`${target.path}: ${offset} bytes stored, ${target.size} expected`);

  const blob = new Blob(parts);
  if (target.sha256) {
    const hash = new Sha256();
    const step = 8 * 1024 * 1024;
    for (let at = 0; at < blob.size; at += step) {
      options.signal?.throwIfAborted();
      hash.update(new Uint8Array(await blob.slice(at, at + step).arrayBuffer()));
      report(Math.min(blob.size, at + step), "verify");
    }
    const actual = hash.hex();
    if (actual !== target.sha256) {
      await clearParts(dir);
      await removeIn(dir, META);
      throw new DownloadError(
        `${target.path} arrived damaged (SHA-256 ${actual}, the hub says ${target.sha256}); it was deleted, download it again`,
      );
    }
  }
  await writeFileIn(dir, META, JSON.stringify({ ...target, complete: true } satisfies DownloadRecord));
  return blob;
}

/** One Range request written to one part file; returns the offset after what arrived. */
async function fetchPart(
  dir: FileSystemDirectoryHandle,
  name: string,
  target: HubDownloadTarget,
  start: number,
  end: number,
  doFetch: typeof fetch,
  signal: AbortSignal | undefined,
  report: (done: number) => void,
): Promise<number> {
  // no-store: the bytes go to OPFS; the HTTP cache would keep a second copy (and split Range requests)
  const response = await doFetch(target.url, {
    headers: { Range: `bytes=${start}-${end}` },
    signal,
    cache: "no-store",
  });
  if (response.status === 416 || response.status === 404) {
    throw new DownloadError(`${target.path}: the hub answered ${response.status} for bytes ${start}-${end}`);
  }
  if (!response.ok || !response.body) throw new Error(`${target.path}: HTTP ${response.status}`);
  let skip = 0;
  if (response.status === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
    if (!range || Number(range[1]) !== start) {
      throw new DownloadError(`${target.path}: the server sent another range than the one asked for`);
    }
  } else {
    skip = start; // a 200 is the whole file: drop what is already stored
  }
  const writable = await (await dir.getFileHandle(name, { create: true })).createWritable();
  let offset = start;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let bytes = value;
      if (skip > 0) {
        const drop = Math.min(skip, bytes.length);
        skip -= drop;
        bytes = bytes.subarray(drop);
      }
      if (offset + bytes.length > target.size) bytes = bytes.subarray(0, target.size - offset);
      if (bytes.length === 0) continue;
      await writable.write(bytes as Uint8Array<ArrayBuffer>);
      offset += bytes.length;
      report(offset);
    }
  } finally {
    // what arrived is kept (close commits it), also when the request failed or was stopped
    await writable.close().catch(() => writable.abort().catch(() => undefined));
    reader.releaseLock();
  }
  return offset;
}

/** The OPFS folder name for a repo file. */
export function downloadFolderName(repo: string, path: string): string {
  return `${repo.replace("/", "--")}--${path.replace(/\//g, "--")}`;
}
