/**
 * The central directory of a zip file (with zip64), read with positioned reads: enough to find
 * the stored (uncompressed) entries of a torch.save archive without reading the multi-GB payload.
 * Pure: the bytes come through RandomAccessBytes (a file descriptor in Node, a buffer in a browser).
 */
import type { RandomAccessBytes } from "./random-access-bytes.js";

/** A zip whose structure is damaged: offsets, sizes or counts that do not fit the file. */
export class ZipFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ZipFormatError";
  }
}

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored; torch.save never compresses. */
  readonly method: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL_HEADER = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;

/** `length` bytes at `position`, checked against the file's size before anything is allocated. */
function readAt(file: RandomAccessBytes, position: number, length: number): DataView {
  const size = file.size;
  if (position < 0 || length < 0 || position + length > size) {
    throw new ZipFormatError(
      `zip: ${length} bytes at byte ${position} run past the end of the ${size}-byte file`,
    );
  }
  const buf = file.read(position, length);
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function u64(view: DataView, offset: number): number {
  if (offset + 8 > view.byteLength) throw new ZipFormatError("zip64 field runs past its record");
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError("zip64 size beyond 2^53");
  return Number(value);
}

export function readZipDirectory(file: RandomAccessBytes, fileSize: number): Map<string, ZipEntry> {
  // the end-of-central-directory record sits in the last 22 + (up to 65535 comment) bytes
  const tailLength = Math.min(fileSize, 22 + 65535);
  const tail = readAt(file, fileSize - tailLength, tailLength);
  let eocd = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    if (tail.getUint32(i, true) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipFormatError("no zip end-of-central-directory record");
  let entries = tail.getUint16(eocd + 10, true);
  let cdSize = tail.getUint32(eocd + 12, true);
  let cdOffset = tail.getUint32(eocd + 16, true);
  const locator = eocd - 20;
  if (locator >= 0 && tail.getUint32(locator, true) === EOCD64_LOCATOR) {
    const record = readAt(file, u64(tail, locator + 8), 56);
    if (record.getUint32(0, true) !== EOCD64)
      throw new ZipFormatError("bad zip64 end-of-central-directory record");
    entries = u64(record, 32);
    cdSize = u64(record, 40);
    cdOffset = u64(record, 48);
  }
  if (cdOffset + cdSize > fileSize)
    throw new ZipFormatError("zip central directory runs past the end of the file; truncated?");
  if (entries * 46 > cdSize)
    throw new ZipFormatError(`zip: ${entries} entries cannot fit a ${cdSize}-byte central directory`);
  const cd = readAt(file, cdOffset, cdSize);
  const out = new Map<string, ZipEntry>();
  let p = 0;
  for (let e = 0; e < entries; e++) {
    if (p + 46 > cdSize || cd.getUint32(p, true) !== CENTRAL_HEADER) {
      throw new ZipFormatError(`bad zip central directory entry ${e}`);
    }
    const method = cd.getUint16(p + 10, true);
    let compressedSize = cd.getUint32(p + 20, true);
    let uncompressedSize = cd.getUint32(p + 24, true);
    const nameLength = cd.getUint16(p + 28, true);
    const extraLength = cd.getUint16(p + 30, true);
    const commentLength = cd.getUint16(p + 32, true);
    let localHeaderOffset = cd.getUint32(p + 42, true);
    if (p + 46 + nameLength + extraLength + commentLength > cdSize) {
      throw new ZipFormatError(`zip central directory entry ${e} runs past the directory`);
    }
    const name = new TextDecoder().decode(new Uint8Array(cd.buffer, cd.byteOffset + p + 46, nameLength));
    // zip64 extra field (id 1): 8-byte values for the fields saturated at 0xFFFFFFFF, in this order
    let x = p + 46 + nameLength;
    const extraEnd = x + extraLength;
    while (x + 4 <= extraEnd) {
      const id = cd.getUint16(x, true);
      const size = cd.getUint16(x + 2, true);
      if (id === 1) {
        let q = x + 4;
        if (uncompressedSize === 0xffffffff) {
          uncompressedSize = u64(cd, q);
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = u64(cd, q);
          q += 8;
        }
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(cd, q);
      }
      x += 4 + size;
    }
    if (
      localHeaderOffset + 30 + compressedSize > fileSize ||
      (method === 0 && uncompressedSize !== compressedSize)
    ) {
      throw new ZipFormatError(`zip entry "${name}": its sizes or offset do not fit the file`);
    }
    out.set(name, { name, method, compressedSize, uncompressedSize, localHeaderOffset });
    p = extraEnd + commentLength;
  }
  return out;
}

/** Where an entry's bytes start (after its local header, whose extra field may differ from the directory's). */
export function entryDataOffset(file: RandomAccessBytes, entry: ZipEntry): number {
  const header = readAt(file, entry.localHeaderOffset, 30);
  if (header.getUint32(0, true) !== LOCAL_HEADER)
    throw new ZipFormatError(`bad zip local header for "${entry.name}"`);
  return entry.localHeaderOffset + 30 + header.getUint16(26, true) + header.getUint16(28, true);
}

export function readEntry(file: RandomAccessBytes, entry: ZipEntry): Uint8Array {
  if (entry.method !== 0)
    throw new ZipFormatError(`zip entry "${entry.name}" is compressed (method ${entry.method})`);
  const view = readAt(file, entryDataOffset(file, entry), entry.uncompressedSize);
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
