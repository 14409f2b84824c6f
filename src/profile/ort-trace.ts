/**
 * onnxruntime's profiler output (a Chrome trace: `model_run` spans and one `<node>_kernel_time`
 * span per kernel) as time per op kind. onnxruntime keeps the built node's name at the start of
 * the kernels it makes from it (`down_blocks.0.resnets.0/Mul_33/QuickGeluFusion/`,
 * `Conv_19:0_nchwc`), so a kernel takes the kind the counter gave that node; kernels it invents
 * (NCHWc ReorderInput/ReorderOutput) or nodes the counter folded are labelled by their op type.
 */
import { DATA_MOVEMENT_OPS, OP_KINDS, type OpKind } from "./op-kinds.js";

export interface KernelSpan {
  /** The node name onnxruntime reports (without `_kernel_time`). */
  readonly node: string;
  readonly opType: string;
  readonly provider: string;
  /** Microseconds from the start of the trace. */
  readonly start: number;
  readonly duration: number;
}

export interface TraceRun {
  readonly start: number;
  /** Microseconds of the whole `model_run`. */
  readonly duration: number;
  readonly kernels: readonly KernelSpan[];
}

interface TraceEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string; provider?: string };
}

const KERNEL_SUFFIX = "_kernel_time";

/** The runs of a trace in order, each with the kernels that ran inside it. */
export function parseOrtTrace(trace: unknown): TraceRun[] {
  if (!Array.isArray(trace)) throw new Error("not an onnxruntime profile (expected a JSON array of events)");
  const events = trace as TraceEvent[];
  const runs = events
    .filter((e) => e.cat === "Session" && e.name === "model_run")
    .map((e) => ({ start: e.ts ?? 0, duration: e.dur ?? 0, kernels: [] as KernelSpan[] }))
    .sort((a, b) => a.start - b.start);
  for (const e of events) {
    if (e.cat !== "Node" || !e.name?.endsWith(KERNEL_SUFFIX)) continue;
    const start = e.ts ?? 0;
    const run = runs.find((r) => start >= r.start && start <= r.start + r.duration);
    run?.kernels.push({
      node: e.name.slice(0, -KERNEL_SUFFIX.length),
      opType: e.args?.op_name ?? "",
      provider: e.args?.provider ?? "",
      start,
      duration: e.dur ?? 0,
    });
  }
  return runs;
}

const RUNTIME_KINDS: Readonly<Record<string, OpKind>> = {
  Conv: "conv",
  FusedConv: "conv",
  ConvInteger: "conv",
  QLinearConv: "conv",
  MatMul: "matmul",
  FusedMatMul: "matmul",
  Gemm: "matmul",
  MatMulInteger: "matmul",
  MatMulIntegerToFloat: "matmul",
  DynamicQuantizeMatMul: "matmul",
  MatMulNBits: "matmul",
  MultiHeadAttention: "attention",
  Attention: "attention",
  Softmax: "attention",
  InstanceNormalization: "norm",
  LayerNormalization: "norm",
  SkipLayerNormalization: "norm",
  GroupNorm: "norm",
  GroupNormalization: "norm",
  SkipGroupNorm: "norm",
  Resize: "resample",
  Upsample: "resample",
};
/** Data movement onnxruntime adds: NCHWc layout conversions and device copies. */
const RUNTIME_LAYOUT = new Set(["ReorderInput", "ReorderOutput", "MemcpyToHost", "MemcpyFromHost"]);

function kindOfOpType(opType: string): OpKind {
  if (RUNTIME_KINDS[opType]) return RUNTIME_KINDS[opType];
  return RUNTIME_LAYOUT.has(opType) || DATA_MOVEMENT_OPS.has(opType) ? "layout" : "elementwise";
}

/** The longest built node name that starts `runtimeName` and ends where a name part ends. */
export function builtNodeName(runtimeName: string, isBuilt: (name: string) => boolean): string | undefined {
  for (let end = runtimeName.length; end > 0; end--) {
    if (end < runtimeName.length && !":/_".includes(runtimeName[end])) continue;
    const candidate = runtimeName.slice(0, end);
    if (isBuilt(candidate)) return candidate;
  }
  return undefined;
}

export function kernelKind(kernel: KernelSpan, builtKinds: ReadonlyMap<string, OpKind>): OpKind {
  const built = builtNodeName(kernel.node, (n) => builtKinds.has(n));
  return built ? (builtKinds.get(built) as OpKind) : kindOfOpType(kernel.opType);
}

export interface RunTimes {
  /** Seconds per op kind, summed over the run's kernels. */
  readonly byKind: Readonly<Record<OpKind, number>>;
  readonly kernelSeconds: number;
  /** The whole run, kernels plus the executor's own time between them. */
  readonly runSeconds: number;
}

/** Kernel seconds per kind, averaged over `runs`. */
export function averageKindTimes(
  runs: readonly TraceRun[],
  builtKinds: ReadonlyMap<string, OpKind>,
): RunTimes {
  if (runs.length === 0) throw new Error("the profile holds no timed run");
  const byKind = Object.fromEntries(OP_KINDS.map((k) => [k, 0])) as Record<OpKind, number>;
  let kernelSeconds = 0;
  let runSeconds = 0;
  for (const run of runs) {
    runSeconds += run.duration / 1e6 / runs.length;
    for (const k of run.kernels) {
      const seconds = k.duration / 1e6 / runs.length;
      byKind[kernelKind(k, builtKinds)] += seconds;
      kernelSeconds += seconds;
    }
  }
  return { byKind, kernelSeconds, runSeconds };
}
