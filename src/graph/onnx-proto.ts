/**
 * The ONNX messages we emit (onnx/onnx.proto, field numbers verbatim), as plain typed data plus one
 * encoder each. Only what a graph builder needs: no sparse tensors, no functions, no training info.
 */
import { ProtoWriter } from "./protobuf-writer.js";

/** TensorProto.DataType values. */
export const ONNX_DATA_TYPE = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  bfloat16: 16,
} as const;

export type ElementType = keyof typeof ONNX_DATA_TYPE;

export const ELEMENT_SIZES: Record<Exclude<ElementType, "string">, number> = {
  float32: 4,
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  int32: 4,
  int64: 8,
  bool: 1,
  float16: 2,
  float64: 8,
  uint32: 4,
  uint64: 8,
  bfloat16: 2,
};

/** A static size, or a symbolic one ("batch", "height") that onnxruntime resolves per run. */
export type Dim = number | string;

export interface ExternalLocation {
  readonly location: string;
  readonly offset: number;
  readonly length: number;
}

export interface TensorProto {
  readonly name: string;
  readonly elementType: ElementType;
  readonly dims: readonly number[];
  /** Little-endian bytes stored in the message itself (small tensors). */
  readonly rawData?: Uint8Array;
  /** Or where the bytes live in an external data file (data_location = EXTERNAL). */
  readonly external?: ExternalLocation;
}

export type AttributeProto =
  | { readonly name: string; readonly type: "float"; readonly value: number }
  | { readonly name: string; readonly type: "int"; readonly value: number }
  | { readonly name: string; readonly type: "string"; readonly value: string }
  | { readonly name: string; readonly type: "tensor"; readonly value: TensorProto }
  | { readonly name: string; readonly type: "floats"; readonly value: readonly number[] }
  | { readonly name: string; readonly type: "ints"; readonly value: readonly number[] }
  | { readonly name: string; readonly type: "strings"; readonly value: readonly string[] };

export interface NodeProto {
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name: string;
  readonly opType: string;
  readonly domain?: string;
  readonly attributes: readonly AttributeProto[];
}

export interface ValueInfoProto {
  readonly name: string;
  readonly elementType: ElementType;
  readonly shape?: readonly Dim[];
}

export interface GraphProto {
  readonly name: string;
  readonly nodes: readonly NodeProto[];
  readonly initializers: readonly TensorProto[];
  readonly inputs: readonly ValueInfoProto[];
  readonly outputs: readonly ValueInfoProto[];
  readonly valueInfo?: readonly ValueInfoProto[];
}

export interface OperatorSetId {
  readonly domain: string; // "" = ai.onnx
  readonly version: number;
}

export interface ModelProto {
  readonly irVersion: number;
  readonly opsetImports: readonly OperatorSetId[];
  readonly producerName: string;
  readonly producerVersion: string;
  readonly graph: GraphProto;
  readonly metadata?: Readonly<Record<string, string>>;
}

const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7, strings: 8 } as const;
const DATA_LOCATION_EXTERNAL = 1;

function stringEntry(key: string, value: string): ProtoWriter {
  return new ProtoWriter().string(1, key).string(2, value);
}

export function encodeTensor(t: TensorProto): ProtoWriter {
  const w = new ProtoWriter();
  // repeated scalars unpacked: onnx.proto is proto2, where that is the default encoding
  for (const d of t.dims) w.varint(1, d);
  w.varint(2, ONNX_DATA_TYPE[t.elementType]);
  w.string(8, t.name);
  if (t.rawData) w.bytes(9, t.rawData);
  if (t.external) {
    w.message(13, stringEntry("location", t.external.location));
    w.message(13, stringEntry("offset", String(t.external.offset)));
    w.message(13, stringEntry("length", String(t.external.length)));
    w.varint(14, DATA_LOCATION_EXTERNAL);
  }
  return w;
}

function encodeAttribute(a: AttributeProto): ProtoWriter {
  const w = new ProtoWriter().string(1, a.name);
  switch (a.type) {
    case "float":
      w.fixed32Float(2, a.value);
      break;
    case "int":
      w.varint(3, a.value);
      break;
    case "string":
      w.string(4, a.value);
      break;
    case "tensor":
      w.message(5, encodeTensor(a.value));
      break;
    case "floats":
      for (const v of a.value) w.fixed32Float(7, v);
      break;
    case "ints":
      for (const v of a.value) w.varint(8, v);
      break;
    case "strings":
      for (const v of a.value) w.string(9, v);
      break;
  }
  w.varint(20, ATTRIBUTE_TYPE[a.type]);
  return w;
}

function encodeNode(n: NodeProto): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes) w.message(5, encodeAttribute(a));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function encodeValueInfo(v: ValueInfoProto): ProtoWriter {
  const tensorType = new ProtoWriter().varint(1, ONNX_DATA_TYPE[v.elementType]);
  if (v.shape) {
    const shape = new ProtoWriter();
    for (const d of v.shape) {
      const dim = new ProtoWriter();
      if (typeof d === "number") dim.varint(1, d);
      else dim.string(2, d);
      shape.message(1, dim);
    }
    tensorType.message(2, shape);
  }
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, v.name).message(2, type);
}

function encodeGraph(g: GraphProto): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, encodeNode(n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, encodeTensor(t));
  for (const v of g.inputs) w.message(11, encodeValueInfo(v));
  for (const v of g.outputs) w.message(12, encodeValueInfo(v));
  for (const v of g.valueInfo ?? []) w.message(13, encodeValueInfo(v));
  return w;
}

/** protobuf messages cannot exceed 2 GB; weights belong in external data long before that. */
export const MAX_PROTO_BYTES = 2 ** 31 - 1;

export function encodeModel(m: ModelProto): Uint8Array {
  const w = new ProtoWriter();
  w.varint(1, m.irVersion);
  w.string(2, m.producerName);
  w.string(3, m.producerVersion);
  w.message(7, encodeGraph(m.graph));
  for (const o of m.opsetImports) w.message(8, new ProtoWriter().string(1, o.domain).varint(2, o.version));
  for (const [k, v] of Object.entries(m.metadata ?? {})) w.message(14, stringEntry(k, v));
  if (w.byteLength > MAX_PROTO_BYTES) {
    throw new Error(
      `ONNX model "${m.graph.name}" encodes to ${w.byteLength} bytes, over protobuf's 2 GB limit; store its initializers as external data`,
    );
  }
  return w.finish();
}
