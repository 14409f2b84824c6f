/**
 * The static profile of one built network at one input shape: per node and per op kind the MACs,
 * FLOPs, weight bytes and activation bytes read and written; the parameters; and the peak of live
 * activation memory. Pure: shapes come from shape-inference.ts, never from weight data.
 *
 * What counts as what:
 * - constants are initializers and everything computed from them alone, plus shape arithmetic
 *   (Shape and what follows from it): onnxruntime folds those when it loads the graph, so they cost
 *   nothing per run. A node reading a constant reads it as the runtime holds it after folding
 *   (an fp16-stored weight is read as float32 on CPU, since onnxruntime folds the Cast);
 * - weight bytes of a Gather from a constant table (the token embedding) are the rows it gathers;
 * - views (Reshape, Unsqueeze, Identity …) move no bytes and share their input's buffer;
 * - peak live activations: buffers live from the node that writes them to their last reader
 *   (graph inputs from the start, outputs to the end), without in-place reuse.
 */
import type { GraphBuilder } from "../graph/graph-builder.js";
import type { NodeProto } from "../graph/onnx-proto.js";
import { nodeArithmetic } from "./op-costs.js";
import { classifyNodes, OP_KINDS, type OpKind, VIEW_OPS } from "./op-kinds.js";
import { byteSize, elementCount, inferShapes, type ValueInfo } from "./shape-inference.js";

export interface Totals {
  macs: number;
  flops: number;
  /** Constants read (weights, after folding), bytes. */
  weightBytes: number;
  /** Activations read, bytes. */
  readBytes: number;
  /** Activations written, bytes. */
  writeBytes: number;
  nodes: number;
}

export interface NodeCount extends Totals {
  readonly name: string;
  readonly opType: string;
  readonly kind: OpKind;
  /** Activation buffers read and written (see NetworkCount.buffers). */
  readonly reads: readonly string[];
  readonly writes: readonly string[];
  /** Constant elements read, for cost models that store weights at another precision. */
  readonly weightElements: number;
}

/** One activation buffer: a tensor that exists in memory while the network runs. */
export interface BufferCount {
  readonly name: string;
  readonly bytes: number;
  readonly elements: number;
  /** How many counted nodes read it. */
  readonly readers: number;
  readonly graphInput: boolean;
  readonly graphOutput: boolean;
}

export interface NetworkCount {
  readonly network: string;
  readonly inputs: Readonly<Record<string, readonly number[]>>;
  readonly nodes: readonly NodeCount[];
  readonly buffers: readonly BufferCount[];
  readonly byKind: Readonly<Record<OpKind, Totals>>;
  readonly total: Totals;
  /** Elements and stored bytes of the graph's weight initializers (not its small inline constants). */
  readonly parameters: number;
  readonly parameterBytes: number;
  readonly peakActivationBytes: number;
  /** The node during which the peak is reached. */
  readonly peakAt: string;
  /** The kind of every node that runs (views included), by name: what profiled kernels map to. */
  readonly nodeKinds: ReadonlyMap<string, OpKind>;
}

export function emptyTotals(): Totals {
  return { macs: 0, flops: 0, weightBytes: 0, readBytes: 0, writeBytes: 0, nodes: 0 };
}

export function addTotals(into: Totals, t: Totals, times = 1): void {
  into.macs += t.macs * times;
  into.flops += t.flops * times;
  into.weightBytes += t.weightBytes * times;
  into.readBytes += t.readBytes * times;
  into.writeBytes += t.writeBytes * times;
  into.nodes += t.nodes * times;
}

/** FLOPs per byte moved when every tensor and weight crosses memory once (no cache, no fusion). */
export function arithmeticIntensity(t: Totals): number {
  const bytes = t.weightBytes + t.readBytes + t.writeBytes;
  return bytes > 0 ? t.flops / bytes : 0;
}

export function countGraph(
  graph: GraphBuilder,
  inputDims: Readonly<Record<string, readonly number[]>>,
): NetworkCount {
  const info = inferShapes(graph, inputDims);
  const infoOf = (v: string): ValueInfo => {
    const i = info.get(v);
    if (!i) throw new Error(`graph "${graph.name}": value "${v}" has no shape`);
    return i;
  };
  const constant = new Set(graph.initializers.map((s) => s.name));
  const counted: NodeProto[] = [];
  for (const node of graph.nodes) {
    const inputs = node.inputs.filter((v) => v !== "");
    if (node.opType === "Shape" || inputs.every((v) => constant.has(v))) {
      for (const o of node.outputs) constant.add(o);
    } else counted.push(node);
  }
  const isStatic = (v: string) => constant.has(v);
  const producers = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  for (const node of counted) {
    for (const o of node.outputs) producers.set(o, node);
    for (const i of new Set(node.inputs)) {
      if (i === "" || isStatic(i)) continue;
      consumers.set(i, [...(consumers.get(i) ?? []), node]);
    }
  }
  const kinds = classifyNodes({
    nodes: counted,
    isStatic,
    producer: (v) => producers.get(v),
    consumers: (v) => consumers.get(v) ?? [],
  });

  // views share their input's buffer
  const bufferOf = new Map<string, string>();
  const resolve = (v: string): string => bufferOf.get(v) ?? v;
  for (const node of counted) {
    if (VIEW_OPS.has(node.opType)) bufferOf.set(node.outputs[0], resolve(node.inputs[0]));
  }
  const outputNames = new Set(graph.outputs.map((o) => resolve(o.name)));
  const inputNames = new Set(graph.inputs.map((i) => i.name));

  const nodes: NodeCount[] = [];
  const readers = new Map<string, number>();
  const lastRead = new Map<string, number>();
  for (const node of counted) {
    const kind = kinds.get(node.name) as OpKind;
    if (VIEW_OPS.has(node.opType)) continue;
    const reads = [...new Set(node.inputs.filter((v) => v !== "" && !isStatic(v)).map(resolve))];
    const writes = node.outputs.filter((v) => v !== "");
    let weightBytes = 0;
    let weightElements = 0;
    for (const v of node.inputs) {
      if (v === "" || !isStatic(v)) continue;
      // a lookup table is read only where it is gathered
      const read = node.opType === "Gather" && v === node.inputs[0] ? infoOf(node.outputs[0]) : infoOf(v);
      weightBytes += byteSize(read);
      weightElements += elementCount(read.dims);
    }
    for (const r of reads) {
      readers.set(r, (readers.get(r) ?? 0) + 1);
      lastRead.set(r, nodes.length);
    }
    const { macs, flops } = nodeArithmetic(node, infoOf);
    nodes.push({
      name: node.name,
      opType: node.opType,
      kind,
      macs,
      flops,
      weightBytes,
      weightElements,
      readBytes: reads.reduce((n, r) => n + byteSize(infoOf(r)), 0),
      writeBytes: writes.reduce((n, w) => n + byteSize(infoOf(w)), 0),
      nodes: 1,
      reads,
      writes,
    });
  }

  const buffers: BufferCount[] = [];
  const bufferOfName = (name: string, graphInput: boolean): BufferCount => {
    const i = infoOf(name);
    return {
      name,
      bytes: byteSize(i),
      elements: elementCount(i.dims),
      readers: readers.get(name) ?? 0,
      graphInput,
      graphOutput: outputNames.has(name),
    };
  };
  for (const name of inputNames) buffers.push(bufferOfName(name, true));
  for (const n of nodes) for (const w of n.writes) buffers.push(bufferOfName(w, false));

  const { peak, at } = peakLiveBytes(nodes, buffers, lastRead);
  const byKind = Object.fromEntries(OP_KINDS.map((k) => [k, emptyTotals()])) as Record<OpKind, Totals>;
  const total = emptyTotals();
  for (const n of nodes) {
    addTotals(byKind[n.kind], n);
    addTotals(total, n);
  }
  const weights = graph.initializers.filter((s) => !s.inline);
  return {
    network: graph.name,
    inputs: inputDims,
    nodes,
    buffers,
    byKind,
    total,
    parameters: weights.reduce((n, s) => n + elementCount(s.dims), 0),
    parameterBytes: weights.reduce((n, s) => n + byteSize({ dims: s.dims, elementType: s.elementType }), 0),
    peakActivationBytes: peak,
    peakAt: at,
    nodeKinds: kinds,
  };
}

function peakLiveBytes(
  nodes: readonly NodeCount[],
  buffers: readonly BufferCount[],
  lastRead: ReadonlyMap<string, number>,
): { peak: number; at: string } {
  const size = new Map(buffers.map((b) => [b.name, b]));
  let live = buffers.filter((b) => b.graphInput).reduce((n, b) => n + b.bytes, 0);
  let peak = live;
  let at = "(inputs)";
  const freeAfter = new Map<number, string[]>();
  for (const b of buffers) {
    if (b.graphOutput) continue;
    // an unread buffer dies with the node that wrote it
    const index = lastRead.get(b.name) ?? nodes.findIndex((n) => n.writes.includes(b.name));
    freeAfter.set(index, [...(freeAfter.get(index) ?? []), b.name]);
  }
  nodes.forEach((n, i) => {
    live += n.writes.reduce((s, w) => s + (size.get(w)?.bytes ?? 0), 0);
    if (live > peak) {
      peak = live;
      at = n.name;
    }
    for (const name of freeAfter.get(i) ?? []) live -= size.get(name)?.bytes ?? 0;
  });
  return { peak, at };
}
