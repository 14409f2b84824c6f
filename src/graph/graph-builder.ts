/**
 * Builds one ONNX graph (opset 17 + com.microsoft) node by node. Initializer names are the
 * canonical checkpoint keys, so a built graph reads like the diffusers module tree. Weight data can
 * be given lazily (read from a WeightSource while the model is serialised), so a multi-GB network is
 * never held twice in memory; large initializers go to external data (see onnx-model.ts).
 */

import type { WeightSource } from "../weights/weight-source.js";
import {
  type AttributeProto,
  type Dim,
  ELEMENT_SIZES,
  type ElementType,
  type NodeProto,
  ONNX_DATA_TYPE,
  type TensorProto,
  type ValueInfoProto,
} from "./onnx-proto.js";
import { float32ToFloat16, type WeightStorage } from "./weight-storage.js";

export const ONNX_OPSET = 17;
export const MS_DOMAIN = "com.microsoft";
export const MS_OPSET = 1;
/** IR version 8 is the one that goes with opset 17. */
export const ONNX_IR_VERSION = 8;

export type TensorBytes = Float32Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Float64Array;

export interface InitializerSpec {
  readonly name: string;
  readonly elementType: Exclude<ElementType, "string">;
  readonly dims: readonly number[];
  /** The data, or a function that reads it when the model is serialised (then dropped). */
  readonly data: TensorBytes | (() => TensorBytes);
  /** Keep in the protobuf even when large: shape inference cannot read external constants (shapes, axes). */
  readonly inline?: boolean;
}

/** Float attributes must be marked, since a JS number cannot tell 1.0 from 1. */
export interface FloatAttribute {
  readonly float: number;
}
export interface FloatsAttribute {
  readonly floats: readonly number[];
}
export interface TensorAttribute {
  readonly tensor: {
    elementType: Exclude<ElementType, "string">;
    dims: readonly number[];
    data: TensorBytes;
  };
}
/** Plain numbers are INT, number arrays INTS, strings STRING. */
export type AttributeValue =
  | number
  | readonly number[]
  | string
  | readonly string[]
  | FloatAttribute
  | FloatsAttribute
  | TensorAttribute;

export const float = (value: number): FloatAttribute => ({ float: value });
export const floats = (values: readonly number[]): FloatsAttribute => ({ floats: values });

export interface NodeOptions {
  readonly domain?: string;
  /** Output names; default: fresh names derived from the scope and op type. */
  readonly outputs?: readonly string[];
  /** Number of outputs when names are not given (default 1). */
  readonly outputCount?: number;
}

export function bytesOf(data: TensorBytes): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function toAttribute(name: string, value: AttributeValue): AttributeProto {
  if (typeof value === "number") {
    if (!Number.isInteger(value))
      throw new Error(`attribute ${name}=${value}: use float() for float attributes`);
    return { name, type: "int", value };
  }
  if (typeof value === "string") return { name, type: "string", value };
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "string")) return { name, type: "strings", value: value as string[] };
    return { name, type: "ints", value: value as number[] };
  }
  if ("float" in value) return { name, type: "float", value: value.float };
  if ("floats" in value) return { name, type: "floats", value: value.floats };
  if ("tensor" in value) {
    const t = value.tensor;
    return {
      name,
      type: "tensor",
      value: { name: "", elementType: t.elementType, dims: t.dims, rawData: bytesOf(t.data).slice() },
    };
  }
  throw new Error(`attribute ${name}: unsupported value`);
}

export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export interface GraphBuilderOptions {
  /** How checkpoint weights (`weight()`) are stored; default "fp32" (see weight-storage.ts). */
  readonly weightStorage?: WeightStorage;
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  private readonly initializerSpecs = new Map<string, InitializerSpec>();
  private readonly usedNames = new Set<string>();
  private readonly scopes: string[] = [];
  private readonly constants = new Map<string, string>();
  /** fp16 storage: checkpoint key → the float32 value its Cast produces. */
  private readonly upcastWeights = new Map<string, string>();
  private counter = 0;
  readonly domainsUsed = new Set<string>();
  readonly weightStorage: WeightStorage;

  constructor(
    readonly name: string,
    options: GraphBuilderOptions = {},
  ) {
    this.weightStorage = options.weightStorage ?? "fp32";
  }

  get initializers(): InitializerSpec[] {
    return [...this.initializerSpecs.values()];
  }

  /** Runs `body` with node names prefixed by `scope` (e.g. "down_blocks.0.resnets.1"), for profiling. */
  scope<T>(scope: string, body: () => T): T {
    this.scopes.push(scope);
    try {
      return body();
    } finally {
      this.scopes.pop();
    }
  }

  /** A graph input; symbolic dims (strings) make it dynamic. */
  input(name: string, elementType: ElementType, shape: readonly Dim[]): string {
    this.claim(name);
    this.inputs.push({ name, elementType, shape });
    return name;
  }

  /** Publishes `value` as graph output `name` (through an Identity when the names differ). */
  output(value: string, name: string, elementType: ElementType, shape?: readonly Dim[]): void {
    if (value !== name) this.node("Identity", [value], {}, { outputs: [name] });
    this.outputs.push({ name, elementType, shape });
  }

  initializer(spec: InitializerSpec): string {
    const existing = this.initializerSpecs.get(spec.name);
    if (existing) {
      if (existing.data !== spec.data || existing.dims.join() !== spec.dims.join()) {
        throw new Error(`initializer "${spec.name}" defined twice with different contents`);
      }
      return spec.name;
    }
    this.claim(spec.name);
    this.initializerSpecs.set(spec.name, spec);
    return spec.name;
  }

  /** Swaps an existing initializer for another of the same name (a whole-graph pass changing its type). */
  replaceInitializer(spec: InitializerSpec): void {
    if (!this.initializerSpecs.has(spec.name))
      throw new Error(`graph "${this.name}": no initializer "${spec.name}"`);
    this.initializerSpecs.set(spec.name, spec);
  }

  /** Whether `name` is taken by an input, initializer or node output. */
  isNameUsed(name: string): boolean {
    return this.usedNames.has(name);
  }

  /** Marks `name` as taken (a pass adding values under names of its own). */
  claimName(name: string): string {
    return this.claim(name);
  }

  /**
   * A float32 weight under its checkpoint key, read from `source` only when the model is written.
   * With fp16 storage the initializer under the key is float16 and the returned value is its Cast
   * to float, so every consumer still sees float32.
   */
  weight(source: WeightSource, key: string): string {
    const upcast = this.upcastWeights.get(key);
    if (upcast) return upcast;
    if (this.initializerSpecs.has(key)) return key;
    if (!source.has(key))
      throw new Error(`graph "${this.name}": weight "${key}" is missing from the checkpoint`);
    if (this.weightStorage === "fp32") {
      return this.initializer({
        name: key,
        elementType: "float32",
        dims: source.shape(key),
        data: () => source.get(key),
      });
    }
    const stored = this.initializer({
      name: key,
      elementType: "float16",
      dims: source.shape(key),
      data: () => float32ToFloat16(source.get(key), key),
    });
    const value = this.node("Cast", [stored], { to: ONNX_DATA_TYPE.float32 }, { outputs: [`${key}:float`] });
    this.upcastWeights.set(key, value);
    return value;
  }

  /** Shared small constants (shapes, axes, scalars), deduplicated by value. */
  constInt64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.constant(
      "int64",
      dims,
      BigInt64Array.from(values, (v) => BigInt(v)),
    );
  }

  constFloat(values: readonly number[] | Float32Array, dims: readonly number[] = [values.length]): string {
    return this.constant("float32", dims, Float32Array.from(values));
  }

  /** float64 constants: where a graph must compute as Python's float does (e.g. int(n * ratio)). */
  constFloat64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.constant("float64", dims, Float64Array.from(values));
  }

  constScalar(value: number): string {
    return this.constant("float32", [], Float32Array.of(value));
  }

  private constant(
    elementType: InitializerSpec["elementType"],
    dims: readonly number[],
    data: TensorBytes,
  ): string {
    const key = `${elementType}|${dims.join(",")}|${hexOf(bytesOf(data))}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.freshName("const");
      this.initializer({ name, elementType, dims, data, inline: true });
      this.constants.set(key, name);
    }
    return name;
  }

  /** A fresh value name (taken when a node outputs it), for `NodeOptions.outputs`. */
  freshValueName(base: string): string {
    return `${this.freshName(base)}:0`;
  }

  /** Adds a node; returns its first output name. */
  node(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, AttributeValue> = {},
    options: NodeOptions = {},
  ): string {
    return this.nodeOutputs(opType, inputs, attributes, options)[0];
  }

  /** Adds a node; returns all its output names. */
  nodeOutputs(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, AttributeValue> = {},
    options: NodeOptions = {},
  ): string[] {
    const nodeName = this.freshName(opType);
    const outputs = options.outputs
      ? options.outputs.map((o) => (o === "" ? o : this.claim(o))) // "": an optional output left out
      : Array.from({ length: options.outputCount ?? 1 }, (_, i) =>
          this.claim(i === 0 ? `${nodeName}:0` : `${nodeName}:${i}`),
        );
    if (options.domain) this.domainsUsed.add(options.domain);
    this.nodes.push({
      name: nodeName,
      opType,
      domain: options.domain,
      inputs,
      outputs,
      attributes: Object.entries(attributes).map(([k, v]) => toAttribute(k, v)),
    });
    return outputs;
  }

  private freshName(base: string): string {
    const prefix = this.scopes.length ? `${this.scopes.join("/")}/` : "";
    let name: string;
    do name = `${prefix}${base}_${this.counter++}`;
    while (this.usedNames.has(name));
    return name;
  }

  private claim(name: string): string {
    if (this.usedNames.has(name)) throw new Error(`graph "${this.name}": value name "${name}" is used twice`);
    this.usedNames.add(name);
    return name;
  }
}

/** The initializer bytes, checked against the declared shape (a lazy reader may return anything). */
export function initializerBytes(spec: InitializerSpec): Uint8Array {
  const data = typeof spec.data === "function" ? spec.data() : spec.data;
  const bytes = bytesOf(data);
  const expected = numel(spec.dims) * ELEMENT_SIZES[spec.elementType];
  if (bytes.byteLength !== expected) {
    throw new Error(
      `initializer "${spec.name}": ${bytes.byteLength} bytes for ${spec.elementType}[${spec.dims.join(", ")}] (expected ${expected})`,
    );
  }
  return bytes;
}

export type { TensorProto };

/** Bytes as hex (the constants' dedup key; no Buffer, so the graph builder runs in the browser too). */
function hexOf(bytes: Uint8Array): string {
  let hex = "";
  for (const b of bytes) hex += b < 16 ? `0${b.toString(16)}` : b.toString(16);
  return hex;
}
