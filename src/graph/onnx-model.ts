/**
 * Serialises a GraphBuilder into an ONNX model: the protobuf (small) plus external data chunks
 * (the weights), either in memory — for `externalData: [{path, data}]` — or streamed to a folder as
 * `model.onnx` + `weights-N.bin` (write-model.ts, Node only), which onnxruntime resolves relative to
 * the model file.
 *
 * Weights are split into chunks of at most `maxChunkBytes` (1 GiB by default) so that no single
 * buffer comes near the 2-4 GB limits of protobuf, typed arrays and fs calls.
 */
import {
  type GraphBuilder,
  type InitializerSpec,
  initializerBytes,
  MS_DOMAIN,
  MS_OPSET,
  numel,
  ONNX_IR_VERSION,
  ONNX_OPSET,
} from "./graph-builder.js";
import { ELEMENT_SIZES, encodeModel, type OperatorSetId, type TensorProto } from "./onnx-proto.js";

export interface ExternalDataFile {
  /** The name the model refers to (TensorProto external_data "location"). */
  readonly path: string;
  readonly data: Uint8Array;
}

export interface OnnxModel {
  readonly bytes: Uint8Array;
  readonly externalData: readonly ExternalDataFile[];
}

export interface SerializeOptions {
  /** Initializers of at least this many bytes go to external data (default 1024); Infinity = none. */
  readonly externalMinBytes?: number;
  /** External data file names are `${externalPrefix}-${i}.bin` (default "weights"). */
  readonly externalPrefix?: string;
  readonly maxChunkBytes?: number;
  readonly producerVersion?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Offsets are aligned so onnxruntime may map or use the bytes in place. */
const ALIGNMENT = 64;

interface Placement {
  readonly spec: InitializerSpec;
  readonly chunk: number;
  readonly offset: number;
  readonly length: number;
}

export interface Layout {
  readonly inline: InitializerSpec[];
  readonly placed: Placement[];
  readonly chunkSizes: number[];
  readonly chunkNames: string[];
}

export function planLayout(builder: GraphBuilder, options: SerializeOptions): Layout {
  const minBytes = options.externalMinBytes ?? 1024;
  const maxChunk = options.maxChunkBytes ?? 2 ** 30;
  const prefix = options.externalPrefix ?? "weights";
  const inline: InitializerSpec[] = [];
  const placed: Placement[] = [];
  const chunkSizes: number[] = [];
  for (const spec of builder.initializers) {
    const length = numel(spec.dims) * ELEMENT_SIZES[spec.elementType];
    if (length < minBytes || spec.inline) {
      inline.push(spec);
      continue;
    }
    let chunk = chunkSizes.length - 1;
    let offset = chunk >= 0 ? Math.ceil(chunkSizes[chunk] / ALIGNMENT) * ALIGNMENT : 0;
    if (chunk < 0 || (offset + length > maxChunk && chunkSizes[chunk] > 0)) {
      chunkSizes.push(0);
      chunk++;
      offset = 0;
    }
    chunkSizes[chunk] = offset + length;
    placed.push({ spec, chunk, offset, length });
  }
  const chunkNames = chunkSizes.map((_, i) => `${prefix}-${i}.bin`);
  return { inline, placed, chunkSizes, chunkNames };
}

export function encodeWithLayout(
  builder: GraphBuilder,
  layout: Layout,
  options: SerializeOptions,
): Uint8Array {
  const initializers: TensorProto[] = [
    ...layout.inline.map((spec) => ({
      name: spec.name,
      elementType: spec.elementType,
      dims: spec.dims,
      rawData: initializerBytes(spec),
    })),
    ...layout.placed.map((p) => ({
      name: p.spec.name,
      elementType: p.spec.elementType,
      dims: p.spec.dims,
      external: { location: layout.chunkNames[p.chunk], offset: p.offset, length: p.length },
    })),
  ];
  const opsetImports: OperatorSetId[] = [{ domain: "", version: ONNX_OPSET }];
  if (builder.domainsUsed.has(MS_DOMAIN)) opsetImports.push({ domain: MS_DOMAIN, version: MS_OPSET });
  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    opsetImports,
    producerName: "sdlite",
    producerVersion: options.producerVersion ?? "0",
    metadata: options.metadata,
    graph: {
      name: builder.name,
      nodes: builder.nodes,
      initializers,
      inputs: builder.inputs,
      outputs: builder.outputs,
    },
  });
}

/** The whole model in memory, ready for `Runtime.createSession({bytes, externalData})`. */
export function serializeModel(builder: GraphBuilder, options: SerializeOptions = {}): OnnxModel {
  const layout = planLayout(builder, options);
  const chunks = layout.chunkSizes.map((size) => new Uint8Array(size));
  for (const p of layout.placed) chunks[p.chunk].set(initializerBytes(p.spec), p.offset);
  return {
    bytes: encodeWithLayout(builder, layout, options),
    externalData: chunks.map((data, i) => ({ path: layout.chunkNames[i], data })),
  };
}
