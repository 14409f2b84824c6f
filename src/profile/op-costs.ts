/**
 * Arithmetic per node, from its inferred shapes. The conventions (also in docs/profile.md):
 * - a MAC is one multiply-accumulate of a contraction (Conv, MatMul, the two products inside
 *   attention); it is 2 FLOPs;
 * - a bias added by the contraction itself (Conv's third input, the int8 ops' bias) is 1 FLOP per
 *   output element, and so is the int8 ops' rescale to float;
 * - every elementwise op (Add, Mul, Sigmoid, Erf, Tanh, Relu …) is 1 FLOP per output element,
 *   transcendental or not: the measured time tells what they really cost;
 * - a normalisation (InstanceNormalization, LayerNormalization) is 7 FLOPs per element (sum,
 *   square, sum of squares, subtract, scale by 1/σ, its own affine multiply and add);
 * - Softmax is 5 FLOPs per element (max, subtract, exp, sum, divide);
 * - MultiHeadAttention is what its matmul form costs: QKᵀ and AV MACs, 1 FLOP per score for the
 *   scale, 1 for an attention bias, 5 for the softmax;
 * - resampling and layout ops (transpose, concat, slice, pad, gather) do no arithmetic.
 */
import type { NodeProto } from "../graph/onnx-proto.js";
import { DATA_MOVEMENT_OPS } from "./op-kinds.js";
import { elementCount, type ValueInfo } from "./shape-inference.js";

export const SOFTMAX_FLOPS_PER_ELEMENT = 5;
export const NORM_FLOPS_PER_ELEMENT = 7;

export interface Arithmetic {
  readonly macs: number;
  readonly flops: number;
}

const NO_ARITHMETIC: Arithmetic = { macs: 0, flops: 0 };

function attribute(node: NodeProto, name: string): number | undefined {
  const a = node.attributes.find((x) => x.name === name);
  return a && a.type === "int" ? a.value : undefined;
}

function has(node: NodeProto, index: number): boolean {
  return (node.inputs[index] ?? "") !== "";
}

/** MACs and FLOPs of one node; `info` gives the shape of any of its inputs or outputs. */
export function nodeArithmetic(node: NodeProto, info: (value: string) => ValueInfo): Arithmetic {
  const out = () => elementCount(info(node.outputs[0]).dims);
  switch (node.opType) {
    case "Conv": {
      const [, cPerGroup, kh, kw] = info(node.inputs[1]).dims;
      const macs = out() * cPerGroup * kh * kw;
      return { macs, flops: 2 * macs + (has(node, 2) ? out() : 0) };
    }
    case "MatMul":
    case "Gemm": {
      const macs = out() * info(node.inputs[0]).dims.at(-1)!;
      return { macs, flops: 2 * macs };
    }
    case "MatMulIntegerToFloat":
    case "DynamicQuantizeMatMul": {
      const macs = out() * info(node.inputs[0]).dims.at(-1)!;
      // int32 sums rescaled to float, plus the bias when given
      const bias = node.opType === "DynamicQuantizeMatMul" ? has(node, 4) : has(node, 6);
      return { macs, flops: 2 * macs + out() * (bias ? 2 : 1) };
    }
    case "MultiHeadAttention": {
      const heads = attribute(node, "num_heads") ?? 1;
      const [b, s, dqk] = info(node.inputs[0]).dims;
      const [, l] = info(node.inputs[1]).dims;
      const dv = info(node.inputs[2]).dims[2];
      const scores = b * heads * s * l;
      const macs = b * s * l * (dqk + dv);
      const perScore = 1 + SOFTMAX_FLOPS_PER_ELEMENT + (has(node, 5) ? 1 : 0);
      return { macs, flops: 2 * macs + scores * perScore };
    }
    case "Softmax":
      return { macs: 0, flops: SOFTMAX_FLOPS_PER_ELEMENT * out() };
    case "InstanceNormalization":
    case "LayerNormalization":
      return { macs: 0, flops: NORM_FLOPS_PER_ELEMENT * out() };
    default:
      if (node.opType === "Resize" || DATA_MOVEMENT_OPS.has(node.opType)) return NO_ARITHMETIC;
      return { macs: 0, flops: out() };
  }
}
