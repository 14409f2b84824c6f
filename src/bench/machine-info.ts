/** The machine a benchmark ran on, recorded with every result. */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";

export interface MachineInfo {
  readonly cpuModel: string;
  readonly logicalCpus: number;
  /** SIMD extensions the kernel reports (x86 flags starting avx / fma / f16c). */
  readonly simd: readonly string[];
  readonly totalMemoryBytes: number;
  readonly platform: string;
  readonly node: string;
  readonly onnxruntime: string;
}

function cpuFlags(): string[] {
  try {
    const line = /^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf-8"))?.[1] ?? "";
    return line
      .trim()
      .split(/\s+/)
      .filter((f) => /^(avx|fma|f16c|amx)/.test(f))
      .sort();
  } catch {
    return [];
  }
}

function onnxruntimeVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require("onnxruntime-node/package.json") as { version: string }).version;
  } catch {
    return "unknown";
  }
}

export function machineInfo(): MachineInfo {
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
    logicalCpus: os.availableParallelism(),
    simd: cpuFlags(),
    totalMemoryBytes: os.totalmem(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntime: onnxruntimeVersion(),
  };
}
