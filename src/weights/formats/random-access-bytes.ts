/**
 * Bytes read at positions: a file through its descriptor (fd-bytes.ts, Node) or a buffer in memory
 * (a small file a browser read whole), so the zip and torch.save readers run on either.
 */
export interface RandomAccessBytes {
  /** The file's size now. */
  readonly size: number;
  /** Exactly `length` bytes at `position` (callers check the range against `size` first). */
  read(position: number, length: number): Uint8Array;
}

export function memoryBytes(bytes: Uint8Array): RandomAccessBytes {
  return {
    size: bytes.length,
    read(position, length) {
      if (position < 0 || position + length > bytes.length) {
        throw new RangeError(`${length} bytes at byte ${position} run past the end of ${bytes.length} bytes`);
      }
      return bytes.slice(position, position + length);
    },
  };
}
