/**
 * The GPU a bench times beside the CPU (`sdlite bench --device`): which device was asked for and
 * used, on which adapter, recorded in the JSON and the table's header; and each stage's GPU median
 * next to the CPU's, paired by option set (the GPU set is the CPU set plus its providers).
 */
import type { GpuAdapterInfo } from "../engine/gpu-adapter-info.js";
import { type OptionSet, optionSetLabel } from "./option-set.js";
import type { StageReport } from "./run-bench.js";
import type { StageName } from "./stage-job.js";

export interface BenchDevice {
  /** What --device said (webgpu, auto, dml, coreml). */
  readonly requested: string;
  /** What runs the GPU set: "cpu" when auto found no usable GPU (then there is no GPU set). */
  readonly used: string;
  readonly executionProviders: readonly string[];
  /** What is known of the adapter (WebGPU): name, vendor, video memory, drivers. */
  readonly adapter?: GpuAdapterInfo;
  /** Why auto fell back to the CPU. */
  readonly fallback?: string;
}

/** The device an option set's stages ran on: its first execution provider, the CPU by default. */
export function deviceOfSet(options: OptionSet): string {
  const providers = options.executionProviders;
  return providers === undefined ? "cpu" : String(providers).split("+")[0];
}

export interface DevicePair {
  readonly stage: StageName;
  /** The GPU set's label and the CPU set's it is compared with. */
  readonly gpuSet: string;
  readonly cpuSet: string;
  readonly device: string;
  readonly gpuMs: number;
  readonly cpuMs: number;
  /** cpuMs / gpuMs: above 1, the GPU is faster. */
  readonly speedup: number;
}

/** Each timed GPU stage with the same options' CPU stage, by median. */
export function pairDevices(stages: readonly StageReport[]): DevicePair[] {
  const timed = stages.filter((s) => s.variant === "timed" && s.baseline === undefined && s.summary);
  const pairs: DevicePair[] = [];
  for (const gpu of timed) {
    const device = deviceOfSet(gpu.options);
    if (device === "cpu") continue;
    const { executionProviders: _, ...cpuOptions } = gpu.options;
    const cpuLabel = optionSetLabel(cpuOptions);
    const cpu = timed.find((s) => s.stage === gpu.stage && s.set === cpuLabel);
    if (!cpu?.summary || !gpu.summary) continue;
    pairs.push({
      stage: gpu.stage,
      gpuSet: gpu.set,
      cpuSet: cpu.set,
      device,
      gpuMs: gpu.summary.median,
      cpuMs: cpu.summary.median,
      speedup: cpu.summary.median / gpu.summary.median,
    });
  }
  return pairs;
}
