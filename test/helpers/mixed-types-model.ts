/**
 * A tiny model with one float, one int32 and one int64 path through a runtime:
 * y = float(ids) * 2 + x, z = ids64 + 1, and with `softmax` also w = softmax(x) (an op whose
 * float result depends on the kernel's summation, for bit-for-bit comparisons).
 */
import { GraphBuilder } from "../../src/graph/graph-builder.js";
import { type OnnxModel, serializeModel } from "../../src/graph/onnx-model.js";

export function mixedTypesModel({ softmax = false } = {}): OnnxModel {
  const b = new GraphBuilder("mixed");
  const ids = b.input("ids", "int32", ["n"]);
  const x = b.input("x", "float32", ["n"]);
  const ids64 = b.input("ids64", "int64", ["n"]);
  const y = b.node("Add", [b.node("Mul", [b.node("Cast", [ids], { to: 1 }), b.constScalar(2)]), x]);
  b.output(y, "y", "float32", ["n"]);
  b.output(b.node("Add", [ids64, b.constInt64([1], [])]), "z", "int64", ["n"]);
  if (softmax) b.output(b.node("Softmax", [x], { axis: 0 }), "w", "float32", ["n"]);
  return serializeModel(b);
}
