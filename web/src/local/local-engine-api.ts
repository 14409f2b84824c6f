/**
 * The seam between the page and the in-tab engine (issue 12): types only. The engine itself
 * (local-engine.ts, webgpu-support.ts) is built on another branch; the page takes its two functions
 * as an injected `LocalEngineDeps` (engine-deps.ts), so wiring the real engine in is one line and
 * the UI tests can run against a test double.
 */

/** Where built ONNX graphs are kept between visits (graph-store.ts: OPFS, or IndexedDB without it). */
export interface GraphStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): Promise<void>;
}

export type LocalBackend = "webgpu" | "wasm";

export interface LocalLoadOptions {
  backend: LocalBackend;
  graphStore?: GraphStore;
  onStatus?(message: string, fraction?: number): void;
  signal?: AbortSignal;
  /** What a single file cannot tell, from a dropped `<file>.sdlite.json` (local-engine.ts checks it). */
  overrides?: Record<string, unknown>;
}

/** RGBA pixels, as ImageData holds them. */
export interface LocalPixels {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

export interface LocalGenerateRequest {
  prompt: string;
  negativePrompt?: string;
  steps: number;
  cfgScale: number;
  width: number;
  height: number;
  seed: number;
  sampler: string;
  scheduler?: string;
  initImage?: LocalPixels;
  mask?: LocalPixels;
  denoisingStrength?: number;
  loras?: { name: string; file: Blob; weight: number }[];
  /** A1111's inpainting around the loop (local-engine.ts): any of them set runs it. */
  maskBlur?: number;
  inpaintingFill?: number;
  inpaintFullRes?: boolean;
  inpaintFullResPadding?: number;
  inpaintingMaskInvert?: boolean;
}

export interface LocalImage {
  png: Uint8Array;
  infotext: string;
  seed: number;
}

export interface LocalEngine {
  readonly backend: LocalBackend;
  generate(
    request: LocalGenerateRequest,
    onStep?: (step: number, total: number) => void,
    signal?: AbortSignal,
  ): Promise<LocalImage>;
  dispose(): Promise<void>;
}

export interface WebGpuSupport {
  ok: boolean;
  adapter?: string;
  shaderF16: boolean;
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  missing: string[];
}

/** local-engine.ts's `openLocalEngine`. */
export type OpenLocalEngine = (checkpoint: Blob, options: LocalLoadOptions) => Promise<LocalEngine>;

/** webgpu-support.ts's `webgpuSupport`. */
export type WebGpuSupportProbe = () => Promise<WebGpuSupport>;

/** What "This device" mode needs from the engine, injected (engine-deps.ts; a double in the UI tests). */
export interface LocalEngineDeps {
  openLocalEngine: OpenLocalEngine;
  webgpuSupport: WebGpuSupportProbe;
}
