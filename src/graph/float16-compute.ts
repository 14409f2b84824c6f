/**
 * fp16 compute: a pass over a built float32 graph that makes its weights and activations float16
 * (half the memory and bandwidth on a GPU), keeping float32 where fp16 is not safe:
 *
 * - the graph's inputs and outputs stay float32 (a Cast at entry and exit), so the samplers and
 *   every caller see the same tensors as with the float32 graph;
 * - attention softmax, GroupNorm's statistics (InstanceNormalization), LayerNormalization, Exp
 *   (the VAE posterior's std) and a fused MultiHeadAttention run in float32 between Casts, as
 *   diffusers' fp16 pipelines keep their reductions in float32;
 * - the UNet's timestep embedding (the `time_embedding` scope) stays float32: the sinusoid of
 *   t·freq for t near 1000 needs more than fp16's 11 bits (diffusers computes it in float32 too).
 *
 * Constants beyond fp16's range (the text encoder's causal mask, float32's minimum) saturate to
 * ±65504, which the float32 softmax still turns into 0; a weight beyond it is an error.
 * The int8 layers (int8-layers.ts) have no fp16 form: such graphs are refused.
 */
import type { GraphBuilder, InitializerSpec, TensorBytes } from "./graph-builder.js";
import { type ElementType, type NodeProto, ONNX_DATA_TYPE } from "./onnx-proto.js";
import { float32ToFloat16 } from "./weight-storage.js";

/** The arithmetic type of a built graph's activations: "fp32" (every graph by default) or "fp16". */
export type ComputePrecision = "fp32" | "fp16";
export const COMPUTE_PRECISIONS: readonly ComputePrecision[] = ["fp32", "fp16"];

/** Ops that run in float32 inside an fp16 graph (reductions fp16 cannot hold, see above). */
export const FLOAT32_OPS: ReadonlySet<string> = new Set([
  "Softmax",
  "InstanceNormalization",
  "LayerNormalization",
  "Exp",
  "MultiHeadAttention",
]);
/** Builder scopes (node name prefixes) kept in float32 whole. */
export const FLOAT32_SCOPES: readonly string[] = ["time_embedding/"];

const INT8_OPS = new Set(["DynamicQuantizeLinear", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"]);

/** Inputs that are parameters, not data: they keep their float32 type (Resize's roi and scales). */
const FLOAT32_PARAMETER_INPUTS: Readonly<Record<string, readonly number[]>> = { Resize: [1, 2] };
/** Ops that take any element type on their first input: no Cast is put before them. */
const ANY_TYPE_INPUT_OPS = new Set(["Cast", "Shape"]);

const BOOL_OPS = new Set(["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or"]);
const ELEMENT_TYPE_OF = new Map<number, ElementType>(
  Object.entries(ONNX_DATA_TYPE).map(([name, code]) => [code, name as ElementType]),
);

export function keepsFloat32(node: NodeProto): boolean {
  return FLOAT32_OPS.has(node.opType) || FLOAT32_SCOPES.some((s) => node.name.startsWith(s));
}

function castTarget(node: NodeProto): ElementType {
  const to = node.attributes.find((a) => a.name === "to");
  const type = to?.type === "int" ? ELEMENT_TYPE_OF.get(to.value) : undefined;
  if (!type) throw new Error(`Cast node ${node.name} has no valid "to"`);
  return type;
}

/** The element type of every value of a built graph (the few rules our op set needs). */
export function inferElementTypes(b: GraphBuilder): Map<string, ElementType> {
  const types = new Map<string, ElementType>();
  for (const i of b.inputs) types.set(i.name, i.elementType);
  for (const s of b.initializers) types.set(s.name, s.elementType);
  for (const n of b.nodes) {
    let type: ElementType | undefined;
    if (n.opType === "Cast") type = castTarget(n);
    else if (n.opType === "Shape") type = "int64";
    else if (BOOL_OPS.has(n.opType)) type = "bool";
    else if (n.opType === "Where") type = types.get(n.inputs[1]);
    else type = types.get(n.inputs[0]);
    if (!type) throw new Error(`fp16 compute: cannot tell the type of ${n.name}'s output`);
    for (const o of n.outputs) types.set(o, type);
  }
  return types;
}

function lazyFloat16(spec: InitializerSpec): () => TensorBytes {
  const { data, name, inline } = spec;
  return () => {
    const values = typeof data === "function" ? data() : data;
    if (!(values instanceof Float32Array)) throw new Error(`initializer "${name}" is not float32 data`);
    // a weight out of range is an error; a constant (mask value) saturates
    return float32ToFloat16(values, name, inline ? "saturate" : "error");
  };
}

/**
 * Rewrites `b` (built in float32) in place to fp16 compute, as described above. `keep` says which
 * nodes stay float32 (default: keepsFloat32). Returns `b`.
 */
export function toFloat16Compute(
  b: GraphBuilder,
  keep: (node: NodeProto) => boolean = keepsFloat32,
): GraphBuilder {
  const bad = b.nodes.find((n) => INT8_OPS.has(n.opType));
  if (bad)
    throw new Error(`graph "${b.name}": fp16 compute does not combine with int8 layers (${bad.opType})`);
  const types = inferElementTypes(b);
  const isFloat = (v: string) => types.get(v) === "float32" || types.get(v) === "float16";

  // what each float input needs: float32 in kept nodes and for parameters, float16 elsewhere
  const needs = (n: NodeProto, i: number): ElementType | undefined => {
    const v = n.inputs[i];
    if (!v || !isFloat(v) || ANY_TYPE_INPUT_OPS.has(n.opType)) return undefined;
    if (keep(n) || FLOAT32_PARAMETER_INPUTS[n.opType]?.includes(i)) return "float32";
    return "float16";
  };

  // the new type of every value: float32 initializers and inputs become float16 when any node
  // needs them so; node outputs are float16 unless their node is kept
  const newType = new Map<string, ElementType>();
  const wantsHalf = new Set<string>();
  for (const n of b.nodes) {
    for (let i = 0; i < n.inputs.length; i++) if (needs(n, i) === "float16") wantsHalf.add(n.inputs[i]);
  }
  for (const spec of b.initializers) {
    if (spec.elementType !== "float32" || !wantsHalf.has(spec.name)) continue;
    b.replaceInitializer({ ...spec, elementType: "float16", data: lazyFloat16(spec) });
    newType.set(spec.name, "float16");
  }
  for (const i of b.inputs) newType.set(i.name, i.elementType);
  for (const s of b.initializers) newType.set(s.name, s.elementType);

  const fresh = (base: string) => {
    let name = base;
    for (let k = 1; b.isNameUsed(name); k++) name = `${base}_${k}`;
    return b.claimName(name);
  };
  const nodes: NodeProto[] = [];
  const casts = new Map<string, string>(); // `${value}|${type}` → the cast value
  const alias = new Map<string, string>(); // no-op Casts dropped: output → input
  const castTo = (value: string, type: ElementType): string => {
    const key = `${value}|${type}`;
    let out = casts.get(key);
    if (!out) {
      out = fresh(`${value}:${type === "float16" ? "fp16" : "fp32"}`);
      nodes.push({
        name: fresh(`${value}/Cast_${type}`),
        opType: "Cast",
        inputs: [value],
        outputs: [out],
        attributes: [{ name: "to", type: "int", value: ONNX_DATA_TYPE[type] }],
      });
      newType.set(out, type);
      casts.set(key, out);
    }
    return out;
  };

  for (const n of b.nodes) {
    const inputs = n.inputs.map((raw, i) => {
      const v = alias.get(raw) ?? raw;
      const want = needs(n, i);
      return want && newType.get(v) !== want ? castTo(v, want) : v;
    });
    const kept = keep(n);
    if (n.opType === "Cast" && castTarget(n) === "float32" && !kept) {
      // a weight's upcast (fp16 storage) or an int → float conversion: now to float16
      if (newType.get(inputs[0]) === "float16") {
        alias.set(n.outputs[0], inputs[0]);
        continue;
      }
      nodes.push({
        ...n,
        inputs,
        attributes: [{ name: "to", type: "int", value: ONNX_DATA_TYPE.float16 }],
      });
      newType.set(n.outputs[0], "float16");
      continue;
    }
    nodes.push({ ...n, inputs });
    for (const o of n.outputs) {
      const t = types.get(o);
      newType.set(o, t === "float32" && !kept && n.opType !== "Cast" ? "float16" : (t ?? "float32"));
    }
  }

  // graph outputs: float32 again under their own names
  const renamed = new Map<string, string>();
  for (const out of b.outputs) {
    const v = alias.get(out.name) ?? out.name;
    if (out.elementType !== "float32" || (newType.get(v) === "float32" && v === out.name)) continue;
    const half = fresh(`${out.name}:fp16`);
    renamed.set(out.name, half);
    if (v !== out.name) renamed.set(v, half);
  }
  const rename = (v: string) => renamed.get(v) ?? alias.get(v) ?? v;
  const final = nodes.map((n) => ({ ...n, inputs: n.inputs.map(rename), outputs: n.outputs.map(rename) }));
  for (const out of b.outputs) {
    const half = renamed.get(out.name);
    if (!half) continue;
    final.push({
      name: fresh(`${out.name}/Cast_float32`),
      opType: "Cast",
      inputs: [half],
      outputs: [out.name],
      attributes: [{ name: "to", type: "int", value: ONNX_DATA_TYPE.float32 }],
    });
  }
  // inputs first: Casts of graph inputs were pushed where first needed, which is already in order
  b.nodes.length = 0;
  b.nodes.push(...final);
  return b;
}

/** What every builder ends with: `b` as built, or in fp16 compute. */
export function withPrecision(b: GraphBuilder, precision: ComputePrecision | undefined): GraphBuilder {
  if (precision === undefined || precision === "fp32") return b;
  if (precision !== "fp16")
    throw new Error(`unknown compute precision "${precision}" (expected fp32 or fp16)`);
  return toFloat16Compute(b);
}
