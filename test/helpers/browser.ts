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

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** WebGPU in headless Chromium (SwiftShader without a GPU): the new headless mode and the unsafe-WebGPU switch. */
const WEBGPU_ARGS = ["--headless=new", "--enable-unsafe-webgpu"];

export interface LaunchOptions {
  /** Launch with WebGPU enabled (the "This device" mode tests); default false, as the server UI tests. */
  webgpu?: boolean;
}

/** A fresh Chromium with its own throw-away profile. */
export async function launchBrowser(
  viewport = { width: 1280, height: 800 },
  { webgpu = false }: LaunchOptions = {},
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
    args: webgpu
      ? [...WEBGPU_ARGS, ...CHROMIUM_ARGS.filter((a) => a !== "--headless" && a !== "--disable-gpu")]
      : CHROMIUM_ARGS,
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
