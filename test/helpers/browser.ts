/**
 * Headless Chromium for the web UI tests: Debian's `chromium` driven by playwright-core (never a
 * downloaded browser). A missing Chromium fails loudly: CI installs it (`apt-get install -y chromium`).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

export const CHROMIUM_PATH = process.env.SDLITE_CHROMIUM ?? "/usr/bin/chromium";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * For onnxruntime-web's WebGPU backend: the new headless mode with WebGPU turned on finds
 * SwiftShader's software adapter (no GPU needed; no shader-f16), so the GPU is not disabled here.
 */
const WEBGPU_ARGS = [
  "--headless=new",
  "--enable-unsafe-webgpu",
  ...CHROMIUM_ARGS.filter((a) => a !== "--headless" && a !== "--disable-gpu"),
];

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** A fresh Chromium with its own throw-away profile; `webgpu` turns WebGPU on (SwiftShader). */
export async function launchBrowser(
  viewport = { width: 1280, height: 800 },
  options: { webgpu?: boolean } = {},
): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: the web UI tests need it. Install it with ` +
        "`apt-get install -y chromium` (Debian/Ubuntu) or point SDLITE_CHROMIUM at a Chromium binary.",
    );
  }
  const profile = mkdtempSync(join(tmpdir(), "sdlite-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: options.webgpu ? WEBGPU_ARGS : CHROMIUM_ARGS,
    viewport,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
