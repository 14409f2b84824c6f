/**
 * Static shapes for every value of a built graph (GraphBuilder), given concrete input shapes: what
 * the profiler needs to count operations and bytes without running anything or touching weight
 * data. Small integer tensors (shape arithmetic: Shape → Slice → Concat …) are evaluated too, so
 * Reshape/Resize/Expand targets are known. Covers the ops sdlite's builders emit; anything else is
 * an error naming the node, never a silent guess.
 */
import type { GraphBuilder, InitializerSpec } from "../graph/graph-builder.js";
import { ELEMENT_SIZES, type ElementType, type NodeProto } from "../graph/onnx-proto.js";

export interface ValueInfo {
  readonly dims: readonly number[];
  readonly elementType: ElementType;
  /** Element values known without running the graph (small constants and shape arithmetic). */
  readonly values?: readonly number[];
}

/** Tensors at most this large have their values tracked (shape vectors, scalars, axes). */
const MAX_TRACKED_VALUES = 64;

const DATA_TYPE_NAMES: Record<number, ElementType> = {
  1: "float32",
  2: "uint8",
  9: "bool",
  3: "int8",
  6: "int32",
  7: "int64",
  10: "float16",
  11: "float64",
};

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function byteSize(info: ValueInfo): number {
  if (info.elementType === "string") throw new Error("string tensors have no fixed size");
  return elementCount(info.dims) * ELEMENT_SIZES[info.elementType];
}

function constantValues(spec: InitializerSpec): number[] | undefined {
  if (typeof spec.data === "function" || elementCount(spec.dims) > MAX_TRACKED_VALUES) return undefined;
  return Array.from(spec.data as ArrayLike<number | bigint>, (v) => Number(v));
}

function attr(node: NodeProto, name: string): number | readonly number[] | string | undefined {
  const a = node.attributes.find((x) => x.name === name);
  if (!a) return undefined;
  if (a.type === "tensor" || a.type === "strings") throw new Error(`attribute ${name}: unsupported kind`);
  return a.value;
}

function intAttr(node: NodeProto, name: string, fallback: number): number {
  const v = attr(node, name);
  return typeof v === "number" ? v : fallback;
}

function intsAttr(node: NodeProto, name: string): readonly number[] | undefined {
  const v = attr(node, name);
  return Array.isArray(v) ? (v as readonly number[]) : undefined;
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** numpy broadcasting of two shapes. */
export function broadcastDims(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** [..., M, K] x [..., K, N] with broadcast batch dimensions (both operands at least 2-D). */
export function matMulDims(a: readonly number[], b: readonly number[]): number[] {
  if (a.length < 2 || b.length < 2) throw new Error(`MatMul of [${a}] and [${b}]: 1-D operands unsupported`);
  const [m, k] = a.slice(-2);
  const [k2, n] = b.slice(-2);
  if (k !== k2) throw new Error(`MatMul of [${a}] and [${b}]: inner sizes differ`);
  return [...broadcastDims(a.slice(0, -2), b.slice(0, -2)), m, n];
}

function sliceRange(start: number, end: number, step: number, dim: number): number[] {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const s = start < 0 ? start + dim : start;
  const e = end < 0 ? end + dim : end;
  const idx: number[] = [];
  if (step > 0) for (let i = clamp(s, 0, dim); i < clamp(e, 0, dim); i += step) idx.push(i);
  else for (let i = clamp(s, -1, dim - 1); i > clamp(e, -1, dim - 1); i += step) idx.push(i);
  return idx;
}

function binary(op: string, x: number, y: number, float: boolean): number {
  switch (op) {
    case "Add":
      return x + y;
    case "Sub":
      return x - y;
    case "Mul":
      return x * y;
    case "Max":
      return Math.max(x, y);
    default:
      // integer Div truncates (ONNX); a float one does not (ToDo's int(side / factor) floors after it)
      return float ? x / y : Math.trunc(x / y);
  }
}

const FLOAT_TYPES: ReadonlySet<ElementType> = new Set(["float32", "float16", "float64"]);

type Infer = (node: NodeProto, inputs: (ValueInfo | undefined)[]) => ValueInfo[];

const same: Infer = (_n, [x]) => [{ dims: req(x).dims, elementType: req(x).elementType }];

function req(v: ValueInfo | undefined): ValueInfo {
  if (!v) throw new Error("a required input is missing");
  return v;
}

function known(v: ValueInfo | undefined, what: string): readonly number[] {
  const values = req(v).values;
  if (!values) throw new Error(`${what} must be known before the graph runs`);
  return values;
}

const arithmetic: Infer = (node, [a, b]) => {
  const x = req(a);
  const y = req(b);
  const dims = broadcastDims(x.dims, y.dims);
  let values: number[] | undefined;
  const n = elementCount(dims);
  // tracked where each side is a scalar or as long as the result (what shape arithmetic does); a
  // true broadcast (the gathered im2col's [H, 1, 9] pixel indices) is left untracked
  const fits = (v: readonly number[]) => v.length === 1 || v.length === n;
  if (x.values && y.values && n <= MAX_TRACKED_VALUES && fits(x.values) && fits(y.values)) {
    // shape arithmetic only ever combines a vector with a scalar or an equal vector
    values = Array.from({ length: n }, (_, i) =>
      binary(
        node.opType,
        x.values![x.values!.length === 1 ? 0 : i],
        y.values![y.values!.length === 1 ? 0 : i],
        FLOAT_TYPES.has(x.elementType),
      ),
    );
  }
  return [{ dims, elementType: x.elementType, values }];
};

const INFER: Record<string, Infer> = {
  Identity: (_n, [x]) => [req(x)],
  Relu: same,
  Sigmoid: same,
  Tanh: same,
  Erf: same,
  Sin: same,
  Cos: same,
  Exp: same,
  Clip: same,
  Softmax: same,
  LayerNormalization: same,
  InstanceNormalization: same,
  Add: arithmetic,
  Sub: arithmetic,
  Mul: arithmetic,
  Div: arithmetic,
  Max: arithmetic,
  Floor: (_n, [x]) => [
    { dims: req(x).dims, elementType: req(x).elementType, values: req(x).values?.map(Math.floor) },
  ],
  GreaterOrEqual: (_n, [a, b]) => [{ dims: broadcastDims(req(a).dims, req(b).dims), elementType: "bool" }],
  Less: (_n, [a, b]) => [{ dims: broadcastDims(req(a).dims, req(b).dims), elementType: "bool" }],
  And: (_n, [a, b]) => [{ dims: broadcastDims(req(a).dims, req(b).dims), elementType: "bool" }],
  Range: (_n, [start, limit, delta]) => {
    const [s] = known(start, "Range start");
    const [l] = known(limit, "Range limit");
    const [d] = known(delta, "Range delta");
    const n = Math.max(Math.ceil((l - s) / d), 0);
    const values = n <= MAX_TRACKED_VALUES ? Array.from({ length: n }, (_, i) => s + i * d) : undefined;
    return [{ dims: [n], elementType: req(start).elementType, values }];
  },
  Where: (_n, [c, x, y]) => [
    {
      dims: broadcastDims(req(c).dims, broadcastDims(req(x).dims, req(y).dims)),
      elementType: req(x).elementType,
    },
  ],
  Cast: (node, [x]) => {
    const to = DATA_TYPE_NAMES[intAttr(node, "to", 1)];
    if (!to) throw new Error(`Cast to data type ${attr(node, "to")} is not modelled`);
    return [{ dims: req(x).dims, elementType: to, values: req(x).values }];
  },
  Shape: (_n, [x]) => [{ dims: [req(x).dims.length], elementType: "int64", values: req(x).dims }],
  MatMul: (_n, [a, b]) => [{ dims: matMulDims(req(a).dims, req(b).dims), elementType: req(a).elementType }],
  Transpose: (node, [x]) => {
    const dims = req(x).dims;
    const perm = intsAttr(node, "perm") ?? dims.map((_, i) => dims.length - 1 - i);
    return [{ dims: perm.map((p) => dims[p]), elementType: req(x).elementType }];
  },
  Reshape: (_n, [x, shape]) => {
    const input = req(x);
    const target = known(shape, "the Reshape target");
    const dims = target.map((d, i) => (d === 0 ? input.dims[i] : d));
    const inferred = dims.indexOf(-1);
    if (inferred >= 0) {
      const rest = elementCount(dims.filter((_, i) => i !== inferred));
      dims[inferred] = elementCount(input.dims) / rest;
    }
    if (elementCount(dims) !== elementCount(input.dims)) {
      throw new Error(`Reshape of [${input.dims}] to [${target}]: element counts differ`);
    }
    return [{ dims, elementType: input.elementType, values: input.values }];
  },
  Squeeze: (_n, [x, axesInput]) => {
    const input = req(x);
    const axes = axesInput
      ? known(axesInput, "Squeeze axes").map((a) => normAxis(a, input.dims.length))
      : input.dims.flatMap((d, i) => (d === 1 ? [i] : []));
    return [
      {
        dims: input.dims.filter((_, i) => !axes.includes(i)),
        elementType: input.elementType,
        values: input.values,
      },
    ];
  },
  Unsqueeze: (_n, [x, axesInput]) => {
    const input = req(x);
    const rank = input.dims.length + known(axesInput, "Unsqueeze axes").length;
    const axes = known(axesInput, "Unsqueeze axes").map((a) => normAxis(a, rank));
    const dims: number[] = [];
    let next = 0;
    for (let i = 0; i < rank; i++) dims.push(axes.includes(i) ? 1 : input.dims[next++]);
    return [{ dims, elementType: input.elementType, values: input.values }];
  },
  Slice: (_n, [x, starts, ends, axesInput, stepsInput]) => {
    const input = req(x);
    const s = known(starts, "Slice starts");
    const e = known(ends, "Slice ends");
    const axes = axesInput ? known(axesInput, "Slice axes") : s.map((_, i) => i);
    const steps = stepsInput ? known(stepsInput, "Slice steps") : s.map(() => 1);
    const dims = [...input.dims];
    const ranges = input.dims.map((d) => Array.from({ length: d }, (_, i) => i));
    axes.forEach((a, i) => {
      const axis = normAxis(a, dims.length);
      ranges[axis] = sliceRange(s[i], Math.min(e[i], Number.MAX_SAFE_INTEGER), steps[i], input.dims[axis]);
      dims[axis] = ranges[axis].length;
    });
    const values =
      input.values && input.dims.length === 1 ? ranges[0].map((i) => input.values![i]) : undefined;
    return [{ dims, elementType: input.elementType, values }];
  },
  Concat: (node, inputs) => {
    const parts = inputs.map(req);
    const axis = normAxis(intAttr(node, "axis", 0), parts[0].dims.length);
    const dims = [...parts[0].dims];
    dims[axis] = parts.reduce((n, p) => n + p.dims[axis], 0);
    const values =
      dims.length === 1 && parts.every((p) => p.values) ? parts.flatMap((p) => [...p.values!]) : undefined;
    return [{ dims, elementType: parts[0].elementType, values }];
  },
  Gather: (node, [data, indices]) => {
    const d = req(data);
    const idx = req(indices);
    const axis = normAxis(intAttr(node, "axis", 0), d.dims.length);
    const dims = [...d.dims.slice(0, axis), ...idx.dims, ...d.dims.slice(axis + 1)];
    const values =
      d.values && idx.values && d.dims.length === 1
        ? idx.values.map((i) => d.values![i < 0 ? i + d.dims[0] : i])
        : undefined;
    return [{ dims, elementType: d.elementType, values }];
  },
  Expand: (_n, [x, shape]) => [
    { dims: broadcastDims(req(x).dims, known(shape, "the Expand shape")), elementType: req(x).elementType },
  ],
  Split: (node, [x, split]) => {
    const input = req(x);
    const axis = normAxis(intAttr(node, "axis", 0), input.dims.length);
    const sizes = known(split, "Split sizes");
    return sizes.map((size) => {
      const dims = [...input.dims];
      dims[axis] = size;
      return { dims, elementType: input.elementType };
    });
  },
  Pad: (_n, [x, pads]) => {
    const input = req(x);
    const p = known(pads, "Pad amounts");
    const rank = input.dims.length;
    return [{ dims: input.dims.map((d, i) => d + p[i] + p[i + rank]), elementType: input.elementType }];
  },
  DepthToSpace: (node, [x]) => {
    const input = req(x);
    const [n, c, h, w] = input.dims;
    const block = intAttr(node, "blocksize", 1);
    return [{ dims: [n, c / (block * block), h * block, w * block], elementType: input.elementType }];
  },
  Conv: (node, [x, w]) => {
    const [n, , h, wd] = req(x).dims;
    const [m, , kh, kw] = req(w).dims;
    const pads = intsAttr(node, "pads") ?? [0, 0, 0, 0];
    const strides = intsAttr(node, "strides") ?? [1, 1];
    const dilations = intsAttr(node, "dilations") ?? [1, 1];
    const out = (size: number, k: number, p0: number, p1: number, s: number, d: number) =>
      Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;
    return [
      {
        dims: [
          n,
          m,
          out(h, kh, pads[0], pads[2], strides[0], dilations[0]),
          out(wd, kw, pads[1], pads[3], strides[1], dilations[1]),
        ],
        elementType: req(x).elementType,
      },
    ];
  },
  Resize: (_n, [x, _roi, scales, sizes]) => {
    const input = req(x);
    if (sizes) return [{ dims: [...known(sizes, "Resize sizes")], elementType: input.elementType }];
    const s = known(scales, "Resize scales");
    return [{ dims: input.dims.map((d, i) => Math.floor(d * s[i])), elementType: input.elementType }];
  },
  MultiHeadAttention: (_n, [q, _k, v]) => {
    const [b, s] = req(q).dims;
    return [{ dims: [b, s, req(v).dims[2]], elementType: req(q).elementType }];
  },
  DynamicQuantizeLinear: (_n, [x]) => [
    { dims: req(x).dims, elementType: "uint8" },
    { dims: [], elementType: "float32" },
    { dims: [], elementType: "uint8" },
  ],
  MatMulIntegerToFloat: (_n, [a, b]) => [
    { dims: matMulDims(req(a).dims, req(b).dims), elementType: "float32" },
  ],
  DynamicQuantizeMatMul: (_n, [a, b]) => [
    { dims: matMulDims(req(a).dims, req(b).dims), elementType: "float32" },
  ],
};

export const SUPPORTED_OPS: readonly string[] = Object.keys(INFER);

/**
 * Shapes of every value (inputs, initializers, node outputs) of `graph` when its inputs have the
 * given concrete shapes. Nodes are visited in the order they were added, which is topological.
 */
export function inferShapes(
  graph: GraphBuilder,
  inputDims: Readonly<Record<string, readonly number[]>>,
): Map<string, ValueInfo> {
  const values = new Map<string, ValueInfo>();
  for (const input of graph.inputs) {
    const dims = inputDims[input.name];
    if (!dims) throw new Error(`graph "${graph.name}": no shape given for input "${input.name}"`);
    const declared = input.shape ?? [];
    if (declared.length !== dims.length || declared.some((d, i) => typeof d === "number" && d !== dims[i])) {
      throw new Error(
        `graph "${graph.name}": input "${input.name}" is [${declared.join(", ")}], got [${dims.join(", ")}]`,
      );
    }
    values.set(input.name, { dims: [...dims], elementType: input.elementType });
  }
  for (const spec of graph.initializers) {
    values.set(spec.name, { dims: spec.dims, elementType: spec.elementType, values: constantValues(spec) });
  }
  for (const node of graph.nodes) {
    const infer = INFER[node.opType];
    if (!infer)
      throw new Error(`graph "${graph.name}": node ${node.name}: op ${node.opType} is not modelled`);
    const inputs = node.inputs.map((name) => (name === "" ? undefined : values.get(name)));
    node.inputs.forEach((name, i) => {
      if (name !== "" && !inputs[i]) throw new Error(`node ${node.name}: input "${name}" has no known shape`);
    });
    let outputs: ValueInfo[];
    try {
      outputs = infer(node, inputs);
    } catch (err) {
      throw new Error(`graph "${graph.name}": node ${node.name} (${node.opType}): ${(err as Error).message}`);
    }
    node.outputs.forEach((name, i) => {
      if (outputs[i]) values.set(name, outputs[i]);
    });
  }
  return values;
}
