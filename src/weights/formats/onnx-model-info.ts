/**
 * Reads what the loader needs to know about an ONNX model without loading it: graph inputs and
 * outputs (names, element types, static or symbolic dims), external data files, ops outside the
 * standard domain, and the channel count each image-like input's first Conv expects. The protobuf
 * is walked from disk with positioned reads and weight payloads are skipped, so a multi-GB
 * model.onnx costs a few MB of reads.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export interface OnnxValueInfo {
  readonly name: string;
  /** "float32", "int32", "int64", "float16", … ("type<N>" for anything else). */
  readonly elementType: string;
  /** Static sizes as numbers, symbolic ones ("batch", "height") as strings. */
  readonly shape: readonly (number | string)[];
}

export interface OnnxModelInfo {
  readonly irVersion: number;
  readonly opsetVersion?: number;
  readonly producer: string;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  /** Files referenced by initializers stored outside model.onnx (e.g. "weights.pb"), relative to it. */
  readonly externalDataFiles: readonly string[];
  /** Ops from non-standard domains, as "domain::Op" (e.g. "com.microsoft::GroupNorm"). */
  readonly customOps: readonly string[];
  /** Random-sampling ops (e.g. RandomNormalLike in a VAE encoder): outputs differ run to run. */
  readonly randomOps: readonly string[];
  /**
   * For graph inputs fed straight into a Conv: the channels that Conv's weight expects
   * (`sample` -> 4, or 9 for an inpainting UNet, even when the input's channel dim is symbolic).
   */
  readonly convInputChannels: Readonly<Record<string, number>>;
}

const ELEMENT_TYPES: Record<number, string> = {
  1: "float32",
  2: "uint8",
  3: "int8",
  4: "uint16",
  5: "int16",
  6: "int32",
  7: "int64",
  8: "string",
  9: "bool",
  10: "float16",
  11: "float64",
  12: "uint32",
  13: "uint64",
  16: "bfloat16",
};

/** Buffered forward reader over a file, with cheap skips for large fields. */
class ProtoFileReader {
  private buf = new Uint8Array(1 << 16);
  private bufStart = 0;
  private bufLen = 0;
  pos = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
    readonly path: string,
  ) {}

  private fill(): void {
    this.bufStart = this.pos;
    this.bufLen = readSync(this.fd, this.buf, 0, this.buf.length, this.pos);
    if (this.bufLen === 0) throw new Error(`${this.path}: unexpected end of ONNX file at byte ${this.pos}`);
  }

  byte(): number {
    if (this.pos < this.bufStart || this.pos >= this.bufStart + this.bufLen) this.fill();
    return this.buf[this.pos++ - this.bufStart];
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Error(`${this.path}: malformed varint at byte ${this.pos}`);
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.byte();
    return out;
  }

  string(n: number): string {
    return new TextDecoder().decode(this.bytes(n));
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      const len = this.varint(); // read before `pos` is: `pos += varint()` would add to the old pos
      this.pos += len;
    } else if (wire === 5) this.pos += 4;
    else throw new Error(`${this.path}: unsupported protobuf wire type ${wire} at byte ${this.pos}`);
    if (this.pos > this.size)
      throw new Error(`${this.path}: field runs past the end of the file; truncated?`);
  }

  /** Calls `onField(field, wire)` for each field until `end`; the callback must consume or skip. */
  fields(end: number, onField: (field: number, wire: number) => void): void {
    while (this.pos < end) {
      const tag = this.varint();
      onField(Math.floor(tag / 8), tag & 7);
    }
    if (this.pos !== end)
      throw new Error(`${this.path}: malformed protobuf (message overruns at byte ${this.pos})`);
  }

  /** Reads a length-delimited field's length and returns where it ends. */
  messageEnd(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.size) throw new Error(`${this.path}: message runs past the end of the file; truncated?`);
    return end;
  }
}

function readValueInfo(r: ProtoFileReader): OnnxValueInfo {
  let name = "";
  let elementType = "unknown";
  const shape: (number | string)[] = [];
  r.fields(r.messageEnd(), (field, wire) => {
    if (field === 1 && wire === 2) name = r.string(r.varint());
    else if (field === 2 && wire === 2) {
      // TypeProto { tensor_type = 1: { elem_type = 1, shape = 2: { dim = 1: { dim_value = 1 | dim_param = 2 } } } }
      r.fields(r.messageEnd(), (tf, tw) => {
        if (tf !== 1 || tw !== 2) return r.skip(tw);
        r.fields(r.messageEnd(), (f, w) => {
          if (f === 1 && w === 0) {
            const t = r.varint();
            elementType = ELEMENT_TYPES[t] ?? `type${t}`;
          } else if (f === 2 && w === 2) {
            r.fields(r.messageEnd(), (sf, sw) => {
              if (sf !== 1 || sw !== 2) return r.skip(sw);
              let dim: number | string = "?";
              r.fields(r.messageEnd(), (df, dw) => {
                if (df === 1 && dw === 0) dim = r.varint();
                else if (df === 2 && dw === 2) dim = r.string(r.varint());
                else r.skip(dw);
              });
              shape.push(dim);
            });
          } else r.skip(w);
        });
      });
    } else r.skip(wire);
  });
  return { name, elementType, shape };
}

interface Initializer {
  dims: number[];
  externalLocation?: string;
}

function readInitializer(r: ProtoFileReader): [string, Initializer] {
  let name = "";
  const dims: number[] = [];
  let externalLocation: string | undefined;
  r.fields(r.messageEnd(), (field, wire) => {
    if (field === 1 && wire === 0) dims.push(r.varint());
    else if (field === 1 && wire === 2) {
      const end = r.messageEnd(); // packed dims
      while (r.pos < end) dims.push(r.varint());
    } else if (field === 8 && wire === 2) name = r.string(r.varint());
    else if (field === 13 && wire === 2) {
      // StringStringEntryProto { key = 1, value = 2 }
      let key = "";
      let value = "";
      r.fields(r.messageEnd(), (f, w) => {
        if (f === 1 && w === 2) key = r.string(r.varint());
        else if (f === 2 && w === 2) value = r.string(r.varint());
        else r.skip(w);
      });
      if (key === "location") externalLocation = value;
    } else r.skip(wire); // raw_data and typed payloads are skipped unread
  });
  return [name, { dims, externalLocation }];
}

interface NodeInfo {
  inputs: string[];
  opType: string;
  domain: string;
}

function readNode(r: ProtoFileReader): NodeInfo {
  const node: NodeInfo = { inputs: [], opType: "", domain: "" };
  r.fields(r.messageEnd(), (field, wire) => {
    if (field === 1 && wire === 2) node.inputs.push(r.string(r.varint()));
    else if (field === 4 && wire === 2) node.opType = r.string(r.varint());
    else if (field === 7 && wire === 2) node.domain = r.string(r.varint());
    else r.skip(wire);
  });
  return node;
}

export function readOnnxModelInfo(path: string): OnnxModelInfo {
  const fd = openSync(path, "r");
  try {
    const r = new ProtoFileReader(fd, fstatSync(fd).size, path);
    let irVersion = 0;
    let producer = "";
    let opsetVersion: number | undefined;
    let inputs: OnnxValueInfo[] = [];
    const outputs: OnnxValueInfo[] = [];
    const initializers = new Map<string, Initializer>();
    const nodes: NodeInfo[] = [];
    r.fields(r.size, (field, wire) => {
      if (field === 1 && wire === 0) irVersion = r.varint();
      else if (field === 2 && wire === 2) producer = r.string(r.varint());
      else if (field === 8 && wire === 2) {
        // OperatorSetIdProto { domain = 1, version = 2 }: keep the default domain's version
        let domain = "";
        let version = 0;
        r.fields(r.messageEnd(), (f, w) => {
          if (f === 1 && w === 2) domain = r.string(r.varint());
          else if (f === 2 && w === 0) version = r.varint();
          else r.skip(w);
        });
        if (domain === "" || domain === "ai.onnx") opsetVersion = version;
      } else if (field === 7 && wire === 2) {
        r.fields(r.messageEnd(), (gf, gw) => {
          if (gf === 1 && gw === 2) nodes.push(readNode(r));
          else if (gf === 5 && gw === 2) {
            const [name, init] = readInitializer(r);
            initializers.set(name, init);
          } else if (gf === 11 && gw === 2) inputs.push(readValueInfo(r));
          else if (gf === 12 && gw === 2) outputs.push(readValueInfo(r));
          else r.skip(gw);
        });
      } else r.skip(wire);
    });
    // IR < 4 lists initializers among the inputs; they are not fed at run time
    inputs = inputs.filter((i) => !initializers.has(i.name));
    const convInputChannels: Record<string, number> = {};
    for (const input of inputs) {
      const conv = nodes.find((n) => n.opType === "Conv" && n.domain === "" && n.inputs[0] === input.name);
      const dims = conv && initializers.get(conv.inputs[1])?.dims;
      if (dims && dims.length === 4) convInputChannels[input.name] = dims[1];
    }
    const external = [...initializers.values()].flatMap((i) =>
      i.externalLocation ? [i.externalLocation] : [],
    );
    const customOps = nodes
      .filter((n) => n.domain !== "" && n.domain !== "ai.onnx")
      .map((n) => `${n.domain}::${n.opType}`);
    const randomOps = nodes
      .filter((n) => n.domain === "" && n.opType.startsWith("Random"))
      .map((n) => n.opType);
    return {
      irVersion,
      opsetVersion,
      producer,
      inputs,
      outputs,
      externalDataFiles: [...new Set(external)].sort(),
      customOps: [...new Set(customOps)].sort(),
      randomOps: [...new Set(randomOps)].sort(),
      convInputChannels,
    };
  } catch (err) {
    if (err instanceof RangeError || (err instanceof Error && !err.message.startsWith(path))) {
      throw new Error(`${path}: not a readable ONNX model (${(err as Error).message})`);
    }
    throw err;
  } finally {
    closeSync(fd);
  }
}
