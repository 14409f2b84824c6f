/**
 * PNGs a hostile or careless client sends: text chunks of tens of megabytes, compressed text that
 * inflates to half a gigabyte, headers claiming 60000x60000 pixels, truncated files. Written with
 * node:zlib (independent of sdlite's own PNG code).
 */
import { constants, createDeflate, deflateSync, crc32 as zlibCrc32 } from "node:zlib";

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlibCrc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A valid RGB PNG of `width` x `height` gray pixels with `extra` chunks after IHDR. */
export function hostilePng(options: {
  width?: number;
  height?: number;
  extra?: Buffer[];
  idat?: Buffer;
}): Buffer {
  const width = options.width ?? 8;
  const height = options.height ?? 8;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const idat =
    options.idat ??
    deflateSync(
      Buffer.concat(
        Array.from({ length: height }, () => Buffer.concat([Buffer.of(0), Buffer.alloc(width * 3, 128)])),
      ),
    );
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk("IHDR", ihdr),
    ...(options.extra ?? []),
    pngChunk("IDAT", idat),
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}

export function tEXt(keyword: string, text: string): Buffer {
  return pngChunk(
    "tEXt",
    Buffer.concat([Buffer.from(keyword, "latin1"), Buffer.of(0), Buffer.from(text, "latin1")]),
  );
}

/** A zTXt chunk around already-compressed bytes. */
export function zTXt(keyword: string, compressed: Uint8Array): Buffer {
  return pngChunk("zTXt", Buffer.concat([Buffer.from(keyword, "latin1"), Buffer.of(0, 0), compressed]));
}

/** A compressed iTXt chunk around already-compressed UTF-8. */
export function iTXt(keyword: string, compressed: Uint8Array): Buffer {
  return pngChunk(
    "iTXt",
    Buffer.concat([Buffer.from(keyword, "latin1"), Buffer.of(0, 1, 0, 0, 0), compressed]),
  );
}

const bombs = new Map<number, Promise<Buffer>>();

/** zlib data that inflates to `bytes` zeros (~1 KB per MB), built as a stream and kept for reuse. */
export function zlibBomb(bytes: number): Promise<Buffer> {
  let bomb = bombs.get(bytes);
  if (!bomb) {
    bomb = new Promise<Buffer>((resolve, reject) => {
      const deflate = createDeflate({ level: constants.Z_BEST_COMPRESSION });
      const parts: Buffer[] = [];
      deflate.on("data", (d: Buffer) => parts.push(d));
      deflate.on("end", () => resolve(Buffer.concat(parts)));
      deflate.on("error", reject);
      const mb = Buffer.alloc(1 << 20);
      let left = bytes;
      const write = () => {
        while (left > 0) {
          const n = Math.min(left, mb.length);
          left -= n;
          if (!deflate.write(mb.subarray(0, n))) {
            deflate.once("drain", write);
            return;
          }
        }
        deflate.end();
      };
      write();
    });
    bombs.set(bytes, bomb);
  }
  return bomb;
}

/** A PNG whose IHDR claims `width` x `height` but whose pixel data is a few bytes. */
export function claimedSizePng(width: number, height: number): Buffer {
  return hostilePng({ width, height, idat: deflateSync(Buffer.alloc(100)) });
}
