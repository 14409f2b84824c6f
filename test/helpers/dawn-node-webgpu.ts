/**
 * onnxruntime-web's WebGPU provider in Node, not in a browser: `navigator.gpu` from Dawn's Node
 * bindings (the npm package `webgpu`, dawn.node; Dawn is Chromium's WebGPU engine) on a Vulkan driver
 * chosen by VK_ICD_FILENAMES (webgpu-adapter.ts lavapipeEnv: Mesa's lavapipe, with shader-f16).
 * onnxruntime-web's WebGPU build is the native WebGPU provider compiled to wasm; it calls
 * `navigator.gpu` as it would in a page, so the engine's code runs unchanged on it.
 *
 * Two things dawn.node (0.6.2) does differently from Chromium, each bridged here:
 * - `GPUQueue.writeBuffer` given a view of a SharedArrayBuffer (onnxruntime-web's wasm memory is
 *   shared, even at one thread) fails ("Invalid argument") or crashes the process; Chromium accepts
 *   it (WebIDL [AllowShared]). Such views are copied into an ArrayBuffer first.
 * - Dawn's callbacks (mapAsync, createComputePipelineAsync, …) are delivered only when Node's event
 *   loop keeps turning; with nothing else scheduled, onnxruntime-web's first run waited minutes (138 s
 *   for one Add, RSS growing by 1.3 GB) or forever. A referenced 1 ms interval timer, from installation
 *   until releaseDawnNodeGpu(), keeps it turning (0.8 s for that Add). An unreferenced one, or one
 *   referenced only while a dawn.node promise is pending, did not help (not understood further).
 */
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { create, globals } from "webgpu";
import type { OrtWebModule } from "../../src/runtime/onnxruntime-web.js";

type WriteBuffer = (
  buffer: unknown,
  offset: number,
  data: ArrayBufferView | ArrayBuffer,
  dataOffset?: number,
  size?: number,
) => void;

/** A view of shared memory as a fresh ArrayBuffer-backed copy of the bytes writeBuffer would take. */
function unsharedBytes(data: ArrayBufferView, dataOffset: number, size: number | undefined): Uint8Array {
  const unit = (data as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
  const elements = size ?? data.byteLength / unit - dataOffset;
  return new Uint8Array(data.buffer, data.byteOffset + dataOffset * unit, elements * unit).slice();
}

let installed: { gpu: GPU; pump?: NodeJS.Timeout } | undefined;

/**
 * Sets `globalThis.navigator.gpu` to a dawn.node GPU (once per process: Dawn reads VK_ICD_FILENAMES
 * once, so set it before the first call) and returns it.
 */
export function installDawnNodeGpu(): GPU {
  if (installed) {
    // referenced: it keeps the process alive until releaseDawnNodeGpu()
    installed.pump ??= setInterval(() => {}, 1);
    return installed.gpu;
  }
  Object.assign(globalThis, globals);
  const queue = (globals as { GPUQueue: { prototype: { writeBuffer: WriteBuffer } } }).GPUQueue.prototype;
  const write = queue.writeBuffer;
  queue.writeBuffer = function (buffer, offset, data, dataOffset = 0, size) {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      return write.call(this, buffer, offset, unsharedBytes(data, dataOffset, size));
    }
    return write.call(this, buffer, offset, data, dataOffset, size);
  };
  // referenced: it keeps the process alive until releaseDawnNodeGpu()
  const pump = setInterval(() => {}, 1);
  const gpu = create([]) as GPU;
  // Node 21+ defines a navigator without gpu (a getter): define our own in its place
  const navigator = { ...(globalThis as { navigator?: object }).navigator, gpu };
  Object.defineProperty(globalThis, "navigator", { value: navigator, configurable: true, writable: true });
  installed = { gpu, pump };
  return gpu;
}

/** Stops the timer installDawnNodeGpu started, so the process can exit (navigator.gpu stays; installing again restarts it). */
export function releaseDawnNodeGpu(): void {
  if (!installed?.pump) return;
  clearInterval(installed.pump);
  installed.pump = undefined;
}

/** onnxruntime-web's dist/ folder, where its module and wasm files are (its "main" lies there). */
export const ORT_WEB_DIST = dirname(createRequire(import.meta.url).resolve("onnxruntime-web"));

/**
 * onnxruntime-web's WebGPU build, the file the in-tab engine loads (scripts/build-web.ts
 * ORT_WEB_FILES), imported from the package, with its wasm files beside it; one thread (there is no
 * cross-origin isolation to speak of in Node, and the in-tab engine runs one without it).
 */
export async function importOrtWebGpu(): Promise<OrtWebModule> {
  installDawnNodeGpu();
  const ort = (await import(pathToFileURL(resolve(ORT_WEB_DIST, "ort.webgpu.min.mjs")).href)) as OrtWebModule;
  ort.env.wasm.wasmPaths = `${pathToFileURL(ORT_WEB_DIST).href}/`;
  ort.env.wasm.numThreads = 1;
  return ort;
}
