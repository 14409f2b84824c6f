/**
 * Where onnxruntime (1.30) put the prepacked weights it saved beside an optimised model
 * (`session.save_external_prepacked_constant_initializers`): their byte offsets in the weights file,
 * read from the model's initializers' external-data entries (keys `prepacked_N`, values
 * `<kernel>+<hash>|<offset>;<length>;…`). A later session memory-maps each blob at its offset, and
 * MLAS's packed fp32 GEMM reads it with aligned 64-byte loads (`vmovaps` on zmm registers): a blob at
 * an offset that is not a multiple of 64 crashes the process (SIGSEGV) on the first run. onnxruntime
 * does not align small blobs, so one can land anywhere (one of the tiny text encoder's did; the
 * SD1.5 UNet's and text encoder's were all aligned). Plain protobuf reading, no I/O.
 */

/** The alignment a mapped blob needs (onnxruntime's CPU allocator aligns its own buffers to 64). */
export const PREPACKED_BLOB_ALIGNMENT = 64;

/** The offsets of every prepacked blob a saved model (its `model.onnx` bytes) refers to. */
export function prepackedBlobOffsets(model: Uint8Array): number[] {
  const offsets: number[] = [];
  // ModelProto.graph (7) -> GraphProto.initializer (5) -> TensorProto.external_data (13) -> key (1), value (2)
  for (const graph of fields(model, 7)) {
    for (const initializer of fields(graph, 5)) {
      for (const entry of fields(initializer, 13)) {
        const key = text(fields(entry, 1)[0]);
        if (!key.startsWith("prepacked")) continue;
        for (const m of text(fields(entry, 2)[0]).matchAll(/\|(\d+);(\d+)/g)) offsets.push(Number(m[1]));
      }
    }
  }
  return offsets;
}

/** How many of a saved model's prepacked blobs a mapping would leave misaligned. */
export function misalignedPrepackedBlobs(model: Uint8Array): number {
  return prepackedBlobOffsets(model).filter((o) => o % PREPACKED_BLOB_ALIGNMENT !== 0).length;
}

function text(bytes: Uint8Array | undefined): string {
  return bytes ? new TextDecoder().decode(bytes) : "";
}

/** The length-delimited fields numbered `field` of one protobuf message. */
function fields(message: Uint8Array, field: number): Uint8Array[] {
  const found: Uint8Array[] = [];
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (pos >= message.length) throw new Error("truncated protobuf");
      const byte = message[pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
  };
  while (pos < message.length) {
    const tag = varint();
    const wire = tag % 8;
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const length = varint();
      if (Math.floor(tag / 8) === field) found.push(message.subarray(pos, pos + length));
      pos += length;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return found;
}
