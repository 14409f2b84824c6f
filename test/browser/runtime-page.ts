/**
 * In-page side of test/browser-runtime.test.ts: runs a model served by the test on onnxruntime-web
 * through sdlite's Runtime seam (src/runtime/onnxruntime-web.ts) and hands the outputs back as
 * plain arrays. Bundled by the test with esbuild (platform browser); ORT comes from dist/web/ort/.
 */
import { OnnxruntimeWeb, type OrtWebModule } from "../../src/runtime/onnxruntime-web.js";
import type { TensorData, WebGpuLayout } from "../../src/runtime/runtime.js";

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

async function ortRuntime(): Promise<OnnxruntimeWeb> {
  if (!runtime) {
    const url = "/ort/ort.webgpu.min.mjs";
    const ort = (await import(/* @vite-ignore */ url)) as OrtWebModule;
    runtime = new OnnxruntimeWeb(ort, { wasmPaths: "/ort/" });
  }
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

async function runGraph(run: PageRun): Promise<Record<string, number[]>> {
  const rt = await ortRuntime();
  const externalData = await Promise.all(
    run.external.map(async (f) => ({ path: f.path, data: await bytesOf(f.url) })),
  );
  const session = await rt.createSession(
    { bytes: await bytesOf(run.model), externalData },
    { executionProviders: [run.provider], webgpuLayout: run.webgpuLayout },
  );
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

(globalThis as { sdliteRunGraph?: typeof runGraph }).sdliteRunGraph = runGraph;
