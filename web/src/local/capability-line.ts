/**
 * What the browser's WebGPU offers, said plainly above the model picker: the adapter, shader-f16,
 * the buffer limits, what is missing; and a warning when the engine will run on the CPU (wasm).
 */
import type { LocalBackend, WebGpuSupport } from "./local-engine-api.js";

function mib(bytes: number): string {
  return bytes >= 1024 ** 3
    ? `${+(bytes / 1024 ** 3).toFixed(2)} GiB`
    : `${Math.round(bytes / 1024 ** 2)} MiB`;
}

/** The backend the engine is opened with: WebGPU when the probe says it works. */
export function chooseBackend(support: WebGpuSupport): LocalBackend {
  return support.ok ? "webgpu" : "wasm";
}

export function describeSupport(support: WebGpuSupport): { capability: string; warning?: string } {
  const parts = [
    support.ok ? `WebGPU: ${support.adapter || "adapter without a name"}` : "WebGPU: not usable",
  ];
  if (support.ok || support.maxBufferSize > 0) {
    parts.push(`shader-f16: ${support.shaderF16 ? "yes" : "no"}`);
    parts.push(`max buffer ${mib(support.maxBufferSize)}`);
    parts.push(`max storage binding ${mib(support.maxStorageBufferBindingSize)}`);
  }
  if (support.missing.length > 0) parts.push(`missing: ${support.missing.join(", ")}`);
  const capability = parts.join(" · ");
  if (support.ok) return { capability };
  return {
    capability,
    warning:
      "Without WebGPU the model runs on the CPU (wasm backend): expect minutes per image, and a checkpoint " +
      "of more than ~2 GB may not fit in the tab's memory.",
  };
}
