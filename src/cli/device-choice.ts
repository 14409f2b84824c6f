/**
 * `--device auto|cpu|webgpu|dml|coreml` → the execution providers every command hands the engine.
 * `auto` takes WebGPU when a probe graph runs right on it and otherwise the CPU, saying why in one
 * line; it passes over a software adapter (SwiftShader, lavapipe: shaders on the CPU, slower than
 * the CPU provider), which only an explicit `--device webgpu` uses; an explicit GPU device that cannot be had is a one-line error (exit 1), never a fallback.
 */
import { describeAdapter, type GpuAdapterInfo, gpuAdapterInfo } from "../engine/gpu-adapter-info.js";
import { probeWebGpu } from "../engine/webgpu-probe.js";
import { probeWebGpuInChild } from "../engine/webgpu-probe-process.js";
import { InvalidRequestError } from "../pipeline/invalid-request.js";
import { onnxruntimeNode } from "../runtime/onnxruntime-node.js";
import type { Runtime } from "../runtime/runtime.js";
import { DEVICE_NAMES, type DeviceName } from "./device-names.js";

export { DEVICE_NAMES, type DeviceName };

export interface DeviceChoice {
  readonly requested: DeviceName;
  /** The provider the networks run on. */
  readonly device: Exclude<DeviceName, "auto">;
  readonly executionProviders: string[];
  /** What is known of the GPU adapter (WebGPU only). */
  readonly adapter?: GpuAdapterInfo;
  /** Why `auto` ran on the CPU instead of a GPU. */
  readonly fallback?: string;
}

export function parseDevice(text: string): DeviceName {
  const name = text.trim().toLowerCase();
  if (!(DEVICE_NAMES as readonly string[]).includes(name)) {
    throw new InvalidRequestError(`--device: "${text}" is not one of ${DEVICE_NAMES.join(", ")}`);
  }
  return name as DeviceName;
}

const cpu = (requested: DeviceName, fallback?: string): DeviceChoice => ({
  requested,
  device: "cpu",
  executionProviders: ["cpu"],
  ...(fallback ? { fallback } : {}),
});

export async function chooseDevice(
  requested: DeviceName,
  runtime: Runtime = onnxruntimeNode(),
): Promise<DeviceChoice> {
  if (requested === "cpu") return cpu(requested);
  if (requested === "dml" || requested === "coreml") {
    const available = runtime.availableProviders();
    if (!available.includes(requested)) {
      const where = requested === "dml" ? "Windows" : "macOS";
      throw new InvalidRequestError(
        `--device ${requested}: ${runtime.name} bundles it only on ${where}; this is ${process.platform}-${process.arch} (available: ${available.join(", ")})`,
      );
    }
    return { requested, device: requested, executionProviders: [requested] };
  }
  if (requested === "auto") {
    const adapter = gpuAdapterInfo();
    if (adapter.software) {
      const which = adapter.name ?? adapter.drivers?.join(", ") ?? "software";
      return cpu(requested, `the only WebGPU adapter is a software one (${which}), slower than the CPU`);
    }
  }
  // the default runtime is probed in a child process: no Dawn noise on stderr, no crash here
  const probe = runtime === onnxruntimeNode() ? await probeWebGpuInChild() : await probeWebGpu(runtime);
  if (probe.usable) {
    return { requested, device: "webgpu", executionProviders: ["webgpu"], adapter: gpuAdapterInfo() };
  }
  if (requested === "webgpu") throw new InvalidRequestError(`--device webgpu: ${probe.reason}`);
  return cpu(requested, probe.reason);
}

/** The line for stderr: which device runs the networks and, for a GPU, on which adapter. */
export function describeDevice(choice: DeviceChoice): string {
  if (choice.fallback) return `device: cpu (${choice.fallback}; falling back to the CPU)`;
  if (choice.adapter) return `device: ${choice.device} (adapter: ${describeAdapter(choice.adapter)})`;
  return `device: ${choice.device}`;
}

/** --json's `device`. */
export function deviceDoc(choice: DeviceChoice) {
  return {
    requested: choice.requested,
    used: choice.device,
    ...(choice.adapter ? { adapter: choice.adapter } : {}),
    ...(choice.fallback ? { fallback: choice.fallback } : {}),
  };
}

/**
 * `auto` on a GPU that failed mid-run (an op it lacks, out of memory, device lost): the same
 * choice on the CPU, with the reason. Undefined where the error must stand (explicit device, CPU).
 */
export function cpuAfterFailure(choice: DeviceChoice, err: unknown): DeviceChoice | undefined {
  if (choice.requested !== "auto" || choice.device === "cpu" || err instanceof InvalidRequestError) {
    return undefined;
  }
  const text = err instanceof Error ? err.message : String(err);
  const line = (text.split("\n").find((l) => l.trim() !== "") ?? text).trim().slice(0, 300);
  return cpu("auto", `${choice.device} failed: ${line}`);
}
