/**
 * How many nodes of each op type a saved ONNX model holds ("Gelu" in the standard domain,
 * "com.microsoft::Gelu" outside it), read straight from the protobuf: ModelProto.graph (field 7),
 * GraphProto.node (1), NodeProto.op_type (4) and domain (7). Top-level graph only.
 */
import { readFileSync } from "node:fs";

type Field = { field: number; start: number; end: number };

/** The length-delimited fields of one message in buf[start, end); other wire types are skipped. */
function lengthFields(buf: Uint8Array, start: number, end: number): Field[] {
  const fields: Field[] = [];
  let p = start;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    let byte: number;
    do {
      byte = buf[p++];
      value += (byte & 0x7f) * scale;
      scale *= 128;
    } while (byte & 0x80);
    return value;
  };
  while (p < end) {
    const key = varint();
    const wire = key & 7;
    if (wire === 0) varint();
    else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else if (wire === 2) {
      const length = varint();
      fields.push({ field: Math.floor(key / 8), start: p, end: p + length });
      p += length;
    } else throw new Error(`unexpected protobuf wire type ${wire}`);
  }
  return fields;
}

export function onnxOpTypeCounts(modelPath: string): Map<string, number> {
  const buf = new Uint8Array(readFileSync(modelPath));
  const text = new TextDecoder();
  const counts = new Map<string, number>();
  for (const graph of lengthFields(buf, 0, buf.length).filter((f) => f.field === 7)) {
    for (const node of lengthFields(buf, graph.start, graph.end).filter((f) => f.field === 1)) {
      let opType = "";
      let domain = "";
      for (const f of lengthFields(buf, node.start, node.end)) {
        if (f.field === 4) opType = text.decode(buf.subarray(f.start, f.end));
        if (f.field === 7) domain = text.decode(buf.subarray(f.start, f.end));
      }
      const name = domain ? `${domain}::${opType}` : opType;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
  }
  return counts;
}
