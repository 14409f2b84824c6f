/**
 * SHA-256 of a Blob, streamed in slices: A1111's "Model hash" is the first 10 hex digits of the
 * checkpoint file's SHA-256, and Web Crypto hashes only whole buffers (a 2-4 GB checkpoint does not
 * fit one). The hashing itself is sha256.ts's incremental hasher (downloads use it too).
 */
import { Sha256 } from "./sha256.js";

/** 16 MiB slices: few enough awaits, small enough buffers. */
const SLICE_BYTES = 16 * 1024 * 1024;

export async function blobSha256(
  blob: Blob,
  signal?: AbortSignal,
  sliceBytes = SLICE_BYTES,
): Promise<string> {
  const hash = new Sha256();
  for (let at = 0; at < blob.size; at += sliceBytes) {
    signal?.throwIfAborted();
    hash.update(new Uint8Array(await blob.slice(at, Math.min(blob.size, at + sliceBytes)).arrayBuffer()));
  }
  return hash.hex();
}
