/**
 * The protobuf wire format, encode side only, for the handful of ONNX messages we emit.
 *
 * Why hand-written rather than a library: we only ever *write* eight small ONNX messages, and all
 * tensor bytes go to external data, so a message is a few hundred KB at most. The maintained option,
 * `onnx-proto`, is a generated protobufjs module that pins protobufjs 6 (an old major) and brings two
 * packages for what is ~100 lines here; the generic ones (protobufjs, @bufbuild/protobuf) would need
 * the onnx.proto schema compiled in as well. The encoder is tested byte for byte and every graph we
 * build is loaded by onnxruntime, the real consumer.
 */

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextEncoder();

export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private scratch = new Uint8Array(256);
  private used = 0;
  private total = 0;

  get byteLength(): number {
    return this.total;
  }

  /** int32/int64/uint64/enum/bool: negative values are 10-byte two's complement, as protobuf requires. */
  varint(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.rawVarint(value);
    return this;
  }

  fixed32Float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.push(bytes);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.rawVarint(value.byteLength);
    this.push(value);
    return this;
  }

  /** An embedded message: encoded on its own first, since its length prefix comes before it. */
  message(field: number, inner: ProtoWriter): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.rawVarint(inner.byteLength);
    for (const part of inner.finishParts()) this.push(part);
    return this;
  }

  finish(): Uint8Array {
    const parts = this.finishParts();
    if (parts.length === 1) return parts[0];
    const out = new Uint8Array(this.total);
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.byteLength;
    }
    return out;
  }

  private finishParts(): Uint8Array[] {
    this.flushScratch();
    return this.parts;
  }

  private tag(field: number, wireType: number): void {
    this.rawVarint(field * 8 + wireType);
  }

  private rawVarint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    if (this.used + 10 > this.scratch.length) this.flushScratch();
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      this.scratch[this.used++] = byte;
      this.total++;
    } while (v !== 0n);
  }

  private push(bytes: Uint8Array): void {
    if (bytes.byteLength <= 64) {
      if (this.used + bytes.byteLength > this.scratch.length) this.flushScratch();
      this.scratch.set(bytes, this.used);
      this.used += bytes.byteLength;
    } else {
      this.flushScratch();
      this.parts.push(bytes);
    }
    this.total += bytes.byteLength;
  }

  private flushScratch(): void {
    if (this.used === 0) return;
    this.parts.push(this.scratch.slice(0, this.used));
    this.used = 0;
  }
}
