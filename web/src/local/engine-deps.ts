/**
 * The in-tab engine "This device" mode uses. The engine is its own bundle, dist/web/local-engine.js
 * (scripts/build-web.ts builds it from local-engine.ts), loaded on first use: the server-mode page
 * never downloads it. The UI tests can bundle the page with a test double in place of this module
 * (scripts/build-web.ts `replaceModules`).
 */
import type { LocalEngineDeps } from "./local-engine-api.js";

let engine: Promise<LocalEngineDeps> | undefined;

function engineModule(): Promise<LocalEngineDeps> {
  // a URL esbuild does not follow: the engine stays out of main.js
  engine ??= import(new URL("./local-engine.js", import.meta.url).href) as Promise<LocalEngineDeps>;
  return engine;
}

export const localEngineDeps: LocalEngineDeps = {
  openLocalEngine: async (checkpoint, options) => (await engineModule()).openLocalEngine(checkpoint, options),
  webgpuSupport: async () => (await engineModule()).webgpuSupport(),
};
