/**
 * A torch.save zip archive on disk (`.ckpt`, `.pt`, `.pth`, `.bin`), read through its file
 * descriptor by the pure reader in torch-archive.ts (which also reads one held in memory).
 */
import { closeSync, openSync, readSync } from "node:fs";
import { fdBytes } from "./fd-bytes.js";
import { isZipHead, TorchArchive, type TorchOpenOptions } from "./torch-archive.js";

export { TorchCheckpointError, type TorchOpenOptions } from "./torch-archive.js";

/** An archive read from a file: torch-archive.ts's TorchArchive, closing the file on close(). */
export type TorchCheckpointFile = TorchArchive;

export const TorchCheckpointFile = {
  /** True for a torch.save zip archive (what torch >= 1.6 writes). */
  isTorchZip(path: string): boolean {
    const fd = openSync(path, "r");
    try {
      const head = new Uint8Array(4);
      return readSync(fd, head, 0, 4, 0) === 4 && isZipHead(head);
    } finally {
      closeSync(fd);
    }
  },

  open(path: string, options: TorchOpenOptions = {}): TorchCheckpointFile {
    const fd = openSync(path, "r");
    try {
      const bytes = fdBytes(
        fd,
        (at) => new Error(`${path}: unexpected end of file at byte ${at}; truncated?`),
      );
      return TorchArchive.open(bytes, path, options, () => closeSync(fd));
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  },
};
