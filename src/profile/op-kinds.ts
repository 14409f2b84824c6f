/**
 * Which kind of work each node of a built graph is (conv, matmul/linear, attention, norm,
 * elementwise, resample, layout), judged from the graph's structure alone:
 * - by op type first (Conv → conv, InstanceNormalization → norm, Resize → resample …); a MatMul
 *   with a weight operand is a linear layer, one between two activations is attention (QKᵀ, AV);
 * - an Add/Mul/Sub/Div with a constant operand that is the only consumer of a conv, linear, norm
 *   or attention result is that layer's epilogue (bias, GroupNorm's affine, attention scale/mask);
 * - transposes and reshapes that only feed attention, or only carry its result, belong to it
 *   (the head split and merge that MultiHeadAttention does internally).
 * The same kinds label onnxruntime's profiled kernels (ort-trace.ts), so counts and times line up.
 */
import type { NodeProto } from "../graph/onnx-proto.js";

export const OP_KINDS = ["conv", "matmul", "attention", "norm", "elementwise", "resample", "layout"] as const;
export type OpKind = (typeof OP_KINDS)[number];

export const OP_KIND_TITLES: Readonly<Record<OpKind, string>> = {
  conv: "conv",
  matmul: "matmul/linear",
  attention: "attention",
  norm: "norm",
  elementwise: "elementwise",
  resample: "resample",
  layout: "layout/copy",
};

/** Ops that only relabel a buffer's shape: no bytes move (onnxruntime aliases their output). */
export const VIEW_OPS: ReadonlySet<string> = new Set([
  "Reshape",
  "Unsqueeze",
  "Squeeze",
  "Identity",
  "Flatten",
]);

const LAYOUT_OPS = new Set([
  "Transpose",
  "Concat",
  "Split",
  "Slice",
  "Pad",
  "Gather",
  "Expand",
  "Cast",
  "DepthToSpace", // Winograd's output tiles back to NCHW
]);
/** Ops that only move or relabel data, Shape included: no arithmetic. */
export const DATA_MOVEMENT_OPS: ReadonlySet<string> = new Set([...LAYOUT_OPS, ...VIEW_OPS, "Shape"]);
const CONTRACTIONS = new Set(["MatMul", "Gemm", "DynamicQuantizeMatMul"]);
const EPILOGUE_OPS = new Set(["Add", "Mul", "Sub", "Div"]);
const EPILOGUE_OF: ReadonlySet<OpKind> = new Set(["conv", "matmul", "norm", "attention"]);

/** The kind a node has from its op type and whether its operands are constants. */
export function baseKind(node: NodeProto, isStatic: (value: string) => boolean): OpKind {
  const op = node.opType;
  if (op === "Conv" || op === "MatMulIntegerToFloat") return "conv"; // the int8 conv is an im2col matmul
  if (CONTRACTIONS.has(op)) {
    return node.inputs.slice(0, 2).some((v) => v !== "" && isStatic(v)) ? "matmul" : "attention";
  }
  if (op === "MultiHeadAttention" || op === "Softmax") return "attention";
  if (op === "InstanceNormalization" || op === "LayerNormalization") return "norm";
  if (op === "Resize") return "resample";
  if (LAYOUT_OPS.has(op) || VIEW_OPS.has(op)) return "layout";
  return "elementwise";
}

export interface KindGraph {
  /** The counted (non-constant) nodes, in topological order. */
  readonly nodes: readonly NodeProto[];
  isStatic(value: string): boolean;
  /** The counted node producing a value, if any. */
  producer(value: string): NodeProto | undefined;
  /** The counted nodes reading a value. */
  consumers(value: string): readonly NodeProto[];
}

/** Kinds of every counted node, by node name, after the epilogue and attention-layout rules. */
export function classifyNodes(graph: KindGraph): Map<string, OpKind> {
  const kinds = new Map<string, OpKind>();
  const activationInputs = (n: NodeProto) => n.inputs.filter((v) => v !== "" && !graph.isStatic(v));
  // the producer seen through views, which move no data
  const source = (value: string): NodeProto | undefined => {
    let p = graph.producer(value);
    while (p && VIEW_OPS.has(p.opType)) {
      const [inner] = activationInputs(p);
      p = inner === undefined ? undefined : graph.producer(inner);
    }
    return p;
  };
  const readers = (value: string): NodeProto[] =>
    graph.consumers(value).flatMap((c) => (VIEW_OPS.has(c.opType) ? readers(c.outputs[0]) : [c]));

  for (const node of graph.nodes) {
    let kind = baseKind(node, graph.isStatic);
    const moving = activationInputs(node);
    if (EPILOGUE_OPS.has(node.opType) && moving.length === 1 && node.inputs.length === 2) {
      const from = source(moving[0]);
      const fromKind = from && kinds.get(from.name);
      if (fromKind && EPILOGUE_OF.has(fromKind) && readers(from.outputs[0]).length === 1) kind = fromKind;
    }
    if (kind === "layout" && moving.length === 1) {
      const from = source(moving[0]);
      if (from && kinds.get(from.name) === "attention") kind = "attention";
    }
    kinds.set(node.name, kind);
  }
  // head splits: layout nodes whose every reader is attention, walked backwards
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i];
    if (kinds.get(node.name) !== "layout") continue;
    const users = node.outputs.flatMap((o) => graph.consumers(o));
    if (users.length > 0 && users.every((u) => kinds.get(u.name) === "attention")) {
      kinds.set(node.name, "attention");
    }
  }
  return kinds;
}
