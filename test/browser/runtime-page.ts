/**
 * In-page side of test/browser-runtime.test.ts: runs a model served by the test on onnxruntime-web
 * through sdlite's Runtime seam (src/runtime/onnxruntime-web.ts) and hands the outputs back as
 * plain arrays. Bundled by the test with esbuild (platform browser); ORT comes from dist/web/ort/.
 */
import { OnnxruntimeWeb, type OrtWebModule } from "../../src/runtime/onnxruntime-web.js";
import type { ExternalDataFile, TensorData, WebGpuLayout } from "../../src/runtime/runtime.js";

export interface PageFeed {
  readonly dims: number[];
  readonly type: "float32" | "int32" | "int64";
  readonly values: number[];
}

export interface PageRun {
  readonly model: string;
  readonly external: { path: string; url: string }[];
  readonly feeds: Record<string, PageFeed>;
  readonly provider: "webgpu" | "wasm";
  /** SessionOptions.webgpuLayout; absent: onnxruntime-web's default. */
  readonly webgpuLayout?: WebGpuLayout;
}

let runtime: OnnxruntimeWeb | undefined;

/** onnxruntime-web's module: one per page (the same URL is the same module instance). */
function ortModule(): Promise<OrtWebModule> {
  const url = "/ort/ort.webgpu.min.mjs";
  return import(/* @vite-ignore */ url) as Promise<OrtWebModule>;
}

async function ortRuntime(): Promise<OnnxruntimeWeb> {
  runtime ??= new OnnxruntimeWeb(await ortModule(), { wasmPaths: "/ort/" });
  return runtime;
}

async function bytesOf(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

function tensor(feed: PageFeed): TensorData {
  if (feed.type === "float32") return { dims: feed.dims, data: Float32Array.from(feed.values) };
  if (feed.type === "int32") return { dims: feed.dims, data: Int32Array.from(feed.values) };
  return { dims: feed.dims, data: BigInt64Array.from(feed.values, (v) => BigInt(v)) };
}

async function modelOf(run: PageRun): Promise<{ bytes: Uint8Array; externalData: ExternalDataFile[] }> {
  const externalData = await Promise.all(
    run.external.map(async (f) => ({ path: f.path, data: await bytesOf(f.url) })),
  );
  return { bytes: await bytesOf(run.model), externalData };
}

async function runGraph(run: PageRun): Promise<Record<string, number[]>> {
  const rt = await ortRuntime();
  const session = await rt.createSession(await modelOf(run), {
    executionProviders: [run.provider],
    webgpuLayout: run.webgpuLayout,
  });
  try {
    const feeds: Record<string, TensorData> = {};
    for (const [name, f] of Object.entries(run.feeds)) feeds[name] = tensor(f);
    const out = await session.run(feeds);
    const plain: Record<string, number[]> = {};
    for (const [name, t] of Object.entries(out)) plain[name] = Array.from(t.data, Number);
    return plain;
  } finally {
    await session.release();
  }
}

/**
 * Two WebGPU creations of `run`'s model straight on onnxruntime-web, outside sdlite's runtime: with
 * a layout its provider refuses, then with a valid one. What each gave ("created", or the error: a
 * bare number is a C++ exception out of the wasm module); the first leaves onnxruntime-web 1.30's
 * "being created" mark (src/runtime/onnxruntime-web.ts), which refuses the second.
 */
async function createOutsideRuntime(run: PageRun): Promise<string[]> {
  const ort = await ortModule();
  await ortRuntime(); // its wasmPaths
  const { bytes, externalData } = await modelOf(run);
  const outcomes: string[] = [];
  for (const preferredLayout of ["nhwc", "NHWC"]) {
    try {
      const session = await ort.InferenceSession.create(bytes, {
        executionProviders: [{ name: "webgpu", preferredLayout: preferredLayout as WebGpuLayout }],
        externalData,
      });
      await session.release();
      outcomes.push("created");
    } catch (err) {
      outcomes.push(err instanceof Error ? err.message : String(err));
    }
  }
  return outcomes;
}

Object.assign(globalThis, { sdliteRunGraph: runGraph, sdliteCreateOutsideRuntime: createOutsideRuntime });
