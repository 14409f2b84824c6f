/**
 * Can this browser run the in-tab engine on WebGPU: an adapter, and its limits. sdlite's graphs
 * compute in float32 (fp16-stored weights are cast to float32 inside the graph), so `shader-f16` is
 * reported but not required; an adapter whose buffers cannot hold the largest weight of an SD1.5
 * network is. The UI shows `missing` as it is and falls back to the "wasm" backend with a warning.
 */

/** The largest single weight buffer onnxruntime-web uploads for SD1.5 (the UNet's biggest initializers, float32), with room. */
export const MIN_BUFFER_BYTES = 128 * 1024 * 1024;

export interface WebGpuSupport {
  readonly ok: boolean;
  /** The adapter's vendor/architecture/description as the browser tells it. */
  readonly adapter?: string;
  readonly shaderF16: boolean;
  readonly maxBufferSize: number;
  readonly maxStorageBufferBindingSize: number;
  /** What is missing, one plain sentence each; empty when ok. */
  readonly missing: string[];
}

interface AdapterLike {
  readonly features: { has(name: string): boolean };
  readonly limits: { readonly maxBufferSize: number; readonly maxStorageBufferBindingSize: number };
  readonly info?: { vendor?: string; architecture?: string; description?: string };
}

export async function webgpuSupport(): Promise<WebGpuSupport> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<AdapterLike | null> } } })
    .navigator?.gpu;
  const none = { ok: false, shaderF16: false, maxBufferSize: 0, maxStorageBufferBindingSize: 0 };
  if (!gpu) {
    return {
      ...none,
      missing: [
        "this browser has no WebGPU (navigator.gpu is missing; is the page served over https or localhost?)",
      ],
    };
  }
  let adapter: AdapterLike | null = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch {
    adapter = null;
  }
  if (!adapter) return { ...none, missing: ["WebGPU is present but no GPU adapter was found"] };
  const { maxBufferSize, maxStorageBufferBindingSize } = adapter.limits;
  const info = adapter.info;
  const name = [info?.vendor, info?.architecture, info?.description].filter((s) => s).join(" ");
  const missing: string[] = [];
  const mib = (n: number) => `${Math.round(n / 2 ** 20)} MiB`;
  if (maxBufferSize < MIN_BUFFER_BYTES) {
    missing.push(
      `the GPU's largest buffer is ${mib(maxBufferSize)}; the model's weights need ${mib(MIN_BUFFER_BYTES)}`,
    );
  }
  if (maxStorageBufferBindingSize < MIN_BUFFER_BYTES) {
    missing.push(
      `the GPU binds at most ${mib(maxStorageBufferBindingSize)} of storage at once; the model's weights need ${mib(MIN_BUFFER_BYTES)}`,
    );
  }
  return {
    ok: missing.length === 0,
    adapter: name || "unnamed adapter",
    shaderF16: adapter.features.has("shader-f16"),
    maxBufferSize,
    maxStorageBufferBindingSize,
    missing,
  };
}
