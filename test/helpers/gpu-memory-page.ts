/**
 * One image through the in-tab engine on WebGPU in headless Chromium (SwiftShader), with the GPU
 * memory accounting of test/browser/gpu-memory-page.html: every GPUBuffer from createBuffer to
 * destroy, per stage (text encoder, each UNet step, VAE decoder), and onnxruntime-web's wasm heap.
 * Used by test/browser-gpu-memory.test.ts (tiny fixture) and scripts/webgpu-memory.ts (full size).
 *
 * The checkpoint goes in through the page's file input (setInputFiles with a path: a disk-backed
 * File, as a dropped file is), so a 3.4 GB checkpoint never passes through page.evaluate.
 */
import { readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import type { ArchitectureOverrides } from "../../src/weights/architecture/architecture-overrides.js";
import { SafetensorsFile } from "../../src/weights/formats/safetensors.js";
import type { LocalGenerateRequest } from "../../web/src/local/local-engine.js";
import { launchBrowser } from "./browser.js";
import { startIsolatedServer } from "./isolated-server.js";
import { builtWebDir } from "./web-build.js";

export interface GpuSnapshot {
  /** GPU bytes created and not yet destroyed (buffers, and textures at 16 bytes a texel). */
  readonly live: number;
  /** The most that was live at once since the run began. */
  readonly peak: number;
  readonly liveBuffers: number;
  readonly created: number;
  readonly destroyed: number;
  readonly createdBytes: number;
  readonly largestBuffer: number;
  readonly textures: number;
  /** At the peak (taken at most every 1 % of growth): the stage, the largest live buffers, live bytes by GPUBufferUsage flags. */
  readonly peakDetail?: {
    stage?: string;
    live: number;
    buffers: number;
    byUsage: Record<string, number>;
    largest: number[];
  };
  /** The device's uncaptured errors (out of memory, …), with the live bytes when each came; the first 20. */
  readonly deviceErrors: { message: string; stage?: string; live: number; ms: number }[];
  /** onnxruntime-web's wasm heap (the largest WebAssembly.Memory of the page). */
  readonly heapBytes: number;
  /** Since the page's probe was installed. */
  readonly ms: number;
}

export interface GpuStage {
  /** "open", "text encoder: load + run", "UNet: load + step 1", "UNet: step 2", …, "VAE decoder: load + run". */
  readonly name: string;
  readonly startLive: number;
  readonly peakLive: number;
  readonly endLive: number;
  readonly createdBytes: number;
  readonly destroyedBytes: number;
  readonly heapBytes: number;
  readonly ms: number;
}

export interface GpuMemoryRun {
  readonly adapter?: {
    vendor?: string;
    architecture?: string;
    device?: string;
    description?: string;
    isFallbackAdapter?: boolean;
    shaderF16: boolean;
    maxBufferSize: number;
    maxStorageBufferBindingSize: number;
  };
  readonly checkpointBytes: number;
  readonly statuses: string[];
  readonly loading?: { sequential: boolean; reason: string };
  readonly stages: GpuStage[];
  readonly afterImage?: GpuSnapshot;
  readonly afterDispose: GpuSnapshot;
  readonly png?: number[];
  readonly infotext?: string;
  readonly error?: string;
  readonly disposeError?: string;
}

export interface GpuMemoryOptions {
  readonly checkpoint: string;
  readonly request: LocalGenerateRequest;
  /** Undefined: the engine's default. */
  readonly sequentialLoading: boolean | undefined;
  /** The engine's attentionSlicing (undefined: its default, on). */
  readonly attentionSlicing?: boolean;
  readonly overrides?: ArchitectureOverrides | unknown;
  /** Browser console lines go here (default: dropped). */
  readonly log?: (line: string) => void;
  /** page.evaluate's limit in ms (default none). */
  readonly timeoutMs?: number;
  /** Called every `progressMs` (default 10 s) with where the run stands, for a run that may be stopped. */
  readonly onProgress?: (progress: GpuProgress) => void;
  readonly progressMs?: number;
}

export interface GpuProgress {
  readonly snapshot: GpuSnapshot;
  readonly stages: GpuStage[];
  /** The stage under way, with its figures so far. */
  readonly current?: GpuStage;
  readonly statuses: string[];
}

/** Opens a fresh Chromium, runs one image, closes it (one run per browser: the GPU device and heap start empty). */
export async function runGpuMemoryPage(options: GpuMemoryOptions): Promise<GpuMemoryRun> {
  const server = await startIsolatedServer({ "/": await builtWebDir() });
  const browser = await launchBrowser(undefined, { webgpu: true });
  try {
    server.put(
      "/test/page.html",
      readFileSync(join(import.meta.dirname, "..", "browser", "gpu-memory-page.html")),
    );
    const page = await browser.context.newPage();
    page.setDefaultTimeout(options.timeoutMs ?? 0);
    if (options.log) {
      const log = options.log;
      page.on("console", (m) => log(`[page ${m.type()}] ${m.text()}`));
      page.on("pageerror", (e) => log(`[page error] ${e.message}`));
    }
    await page.goto(`${server.origin}/test/page.html`);
    await page.waitForFunction(() => "sdliteGpuMemoryRun" in globalThis);
    await page.setInputFiles("#checkpoint", options.checkpoint);
    const onProgress = options.onProgress;
    const poll =
      onProgress &&
      setInterval(() => {
        page
          .evaluate(() =>
            (
              globalThis as unknown as { sdliteGpuProbe: { progress(): GpuProgress } }
            ).sdliteGpuProbe.progress(),
          )
          .then(onProgress, () => undefined);
      }, options.progressMs ?? 10_000);
    try {
      return await page.evaluate(
        (args) =>
          (
            globalThis as unknown as { sdliteGpuMemoryRun(a: typeof args): Promise<GpuMemoryRun> }
          ).sdliteGpuMemoryRun(args),
        {
          url: undefined,
          name: basename(options.checkpoint),
          lastModified: statSync(options.checkpoint).mtimeMs,
          overrides: options.overrides,
          request: options.request,
          sequentialLoading: options.sequentialLoading,
          attentionSlicing: options.attentionSlicing,
        },
      );
    } finally {
      if (poll) clearInterval(poll);
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

/** The prefixes of each network's tensors in an LDM checkpoint. */
const NETWORK_PREFIXES = {
  textEncoder: ["cond_stage_model."],
  unet: ["model.diffusion_model."],
  vaeDecoder: ["first_stage_model.decoder.", "first_stage_model.post_quant_conv."],
} as const;

export type NetworkName = keyof typeof NETWORK_PREFIXES;

/** Each network's weights as float32 bytes (what the fp32 graphs hold), from the checkpoint's header. */
export function fp32WeightBytes(checkpoint: string): Record<NetworkName, number> {
  const file = SafetensorsFile.open(checkpoint);
  try {
    const bytes: Record<NetworkName, number> = { textEncoder: 0, unet: 0, vaeDecoder: 0 };
    for (const t of file.tensors.values()) {
      for (const [network, prefixes] of Object.entries(NETWORK_PREFIXES)) {
        if (prefixes.some((p) => t.name.startsWith(p))) {
          bytes[network as NetworkName] += t.shape.reduce((a, b) => a * b, 1) * 4;
        }
      }
    }
    return bytes;
  } finally {
    file.close();
  }
}
