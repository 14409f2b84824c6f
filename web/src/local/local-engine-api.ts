/**
 * The seam between the page and the in-tab engine (issue 12): types only, the engine's own
 * (local-engine.ts, webgpu-support.ts; type imports, so the page's bundle does not take the engine
 * in). The page takes the engine's two functions as an injected `LocalEngineDeps` (engine-deps.ts
 * loads the engine's bundle on first use), so the UI tests can run against a test double.
 */
import type { LocalEngine, LocalLoadOptions, WebGpuSupport } from "./local-engine.js";

export type {
  GraphStore,
  LocalBackend,
  LocalEngine,
  LocalGenerateRequest,
  LocalImage,
  LocalImageData,
  LocalLoadOptions,
  LocalPreview,
  LocalPreviewOptions,
  WebGpuSupport,
} from "./local-engine.js";
export type { LocalHires } from "./local-hires.js";

/** local-engine.ts's `openLocalEngine`. */
export type OpenLocalEngine = (checkpoint: Blob, options: LocalLoadOptions) => Promise<LocalEngine>;

/** webgpu-support.ts's `webgpuSupport`. */
export type WebGpuSupportProbe = () => Promise<WebGpuSupport>;

/** What "This device" mode needs from the engine, injected (engine-deps.ts; a double in the UI tests). */
export interface LocalEngineDeps {
  openLocalEngine: OpenLocalEngine;
  webgpuSupport: WebGpuSupportProbe;
}
