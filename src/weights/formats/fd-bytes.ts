/** A file descriptor as RandomAccessBytes (random-access-bytes.ts): positioned reads, Node only. */
import { fstatSync, readSync } from "node:fs";
import type { RandomAccessBytes } from "./random-access-bytes.js";

/** `endOfFile` makes the error for a read that finds the file shorter than asked (at that byte). */
export function fdBytes(fd: number, endOfFile: (position: number) => Error): RandomAccessBytes {
  return {
    get size() {
      return fstatSync(fd).size;
    },
    read(position, length) {
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, buf, done, Math.min(length - done, 1 << 30), position + done);
        if (n === 0) throw endOfFile(position + done);
        done += n;
      }
      return buf;
    },
  };
}
