/**
 * Content checks for cache entries, cheap enough for every use. Each file of an entry gets, when
 * it is written, its SHA-256, a digest of 16 spread 64 KiB samples, and a stamp of the file's
 * identity (inode, size, modification and change times). A use then reads only the samples while
 * the stamp is unchanged; a file whose stamp changed (edited, copied, restored) is hashed in full
 * once, and its new stamp recorded. `sdlite cache verify` hashes everything in full.
 *
 * The change time cannot be set back by hand (unlike the modification time), so any write to a
 * file shows in its stamp; damage that leaves the stamp alone (a failing disk) is what the
 * samples and `cache verify` are for.
 */
import { createHash, type Hash } from "node:crypto";
import { closeSync, openSync, readSync, statSync } from "node:fs";

export interface FileDigest {
  /** Lower-case hex SHA-256 of the whole file. */
  readonly sha256: string;
  /** SHA-256 over the sampled blocks (the whole file when it is small). */
  readonly sample: string;
  /** fileStamp() when the digests were last checked against the file. */
  readonly stamp: string;
}

const SAMPLE_BLOCKS = 16;
const SAMPLE_BYTES = 64 * 1024;
const CHUNK_BYTES = 8 * 1024 * 1024;

/** The file's identity: any write to it, a copy or a restore changes it. */
export function fileStamp(path: string): string {
  const st = statSync(path, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

function hashRange(fd: number, hash: Hash, buffer: Buffer, start: number, length: number): void {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, 0, Math.min(buffer.length, length - done), start + done);
    if (n === 0) throw new Error("file ended early");
    hash.update(buffer.subarray(0, n));
    done += n;
  }
}

function withFile<T>(path: string, use: (fd: number, size: number) => T): T {
  const fd = openSync(path, "r");
  try {
    return use(fd, statSync(path).size);
  } finally {
    closeSync(fd);
  }
}

/** SHA-256 of the whole file, read in 8 MiB chunks. */
export function fullSha256(path: string): string {
  return withFile(path, (fd, size) => {
    const hash = createHash("sha256");
    hashRange(fd, hash, Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(size, 1))), 0, size);
    return hash.digest("hex");
  });
}

/** The sampled blocks' start offsets: the first and last block and 14 evenly between. */
export function sampleOffsets(size: number): number[] {
  if (size <= SAMPLE_BLOCKS * SAMPLE_BYTES) return [0];
  const last = size - SAMPLE_BYTES;
  return Array.from({ length: SAMPLE_BLOCKS }, (_, i) => Math.floor((i * last) / (SAMPLE_BLOCKS - 1)));
}

/** SHA-256 over the sampled blocks (and the size), a fixed ~1 MiB read however large the file. */
export function sampledSha256(path: string): string {
  return withFile(path, (fd, size) => {
    const hash = createHash("sha256").update(`${size}\n`);
    const buffer = Buffer.allocUnsafe(SAMPLE_BYTES);
    const offsets = sampleOffsets(size);
    const length = offsets.length === 1 ? size : SAMPLE_BYTES;
    for (const offset of offsets) hashRange(fd, hash, buffer, offset, length);
    return hash.digest("hex");
  });
}

/** All three digests of a file as it is now (the stamp is taken first: a write meanwhile shows). */
export function digestFile(path: string): FileDigest {
  const stamp = fileStamp(path);
  return { sha256: fullSha256(path), sample: sampledSha256(path), stamp };
}

export function isFileDigest(value: unknown): value is FileDigest {
  if (typeof value !== "object" || value === null) return false;
  const d = value as Record<string, unknown>;
  return typeof d.sha256 === "string" && typeof d.sample === "string" && typeof d.stamp === "string";
}
