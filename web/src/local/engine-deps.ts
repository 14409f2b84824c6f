/**
 * The in-tab engine this build uses for "This device" mode. The engine (local-engine.ts,
 * webgpu-support.ts) lives on the "webtab" branch; when it is merged this file becomes
 *
 *   export const localEngineDeps: LocalEngineDeps = { openLocalEngine, webgpuSupport };
 *
 * with those two imported from ./local-engine.js and ./webgpu-support.js. Until then the page
 * says plainly that this build has no in-tab engine. The UI tests bundle the page with a test double
 * in place of this module (scripts/build-web.ts `replaceModules`).
 */
import type { LocalEngineDeps } from "./local-engine-api.js";

const NOT_BUILT = "this build of the page has no in-tab engine (local-engine.ts is not part of it)";

export const localEngineDeps: LocalEngineDeps = {
  openLocalEngine: () => Promise.reject(new Error(`Cannot run on this device: ${NOT_BUILT}`)),
  webgpuSupport: async () => ({
    ok: false,
    shaderF16: false,
    maxBufferSize: 0,
    maxStorageBufferBindingSize: 0,
    missing: [NOT_BUILT],
  }),
};
