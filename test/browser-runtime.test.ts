/**
 * onnxruntime-web in Chromium through sdlite's Runtime seam (src/runtime/onnxruntime-web.ts): every
 * network of the tiny SD1.5 fixture (text encoder, UNet, VAE decoder, VAE encoder), built by the
 * graph builder as the WebGPU variant (matmul attention), run on the WebGPU backend (SwiftShader in
 * headless Chromium) and compared with the same graph and inputs on onnxruntime-node's CPU provider.
 * fp32 weights (the diffusers folder) and fp16-stored weights (the fp16 single file; the graph casts
 * them to float32, so SwiftShader's missing shader-f16 does not matter). Inputs are the smallest the
 * model takes. Tolerances: text encoder and UNet 1e-4, VAE 1e-3 (measured: 1.0e-6, 3.1e-5, 5.1e-6,
 * 1.2e-6 for the four networks). After a failed WebGPU creation (one through the runtime, one straight on
 * onnxruntime-web, which then refuses every WebGPU session), the same page, not reloaded, still creates
 * and runs WebGPU sessions through the runtime.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { build } from "esbuild";
import type { Page } from "playwright-core";
import { openPipeline } from "../src/engine/open-pipeline.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { TensorData } from "../src/runtime/runtime.js";
import type { PageFeed, PageRun } from "./browser/runtime-page.js";
import { type Browser, launchBrowser } from "./helpers/browser.js";
import { fixturePath } from "./helpers/fixtures.js";
import { type IsolatedServer, startIsolatedServer } from "./helpers/isolated-server.js";
import { type RecordedSession, RecordingRuntime } from "./helpers/recording-runtime.js";
import { lcg31Values } from "./helpers/test-values.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";
import { builtWebDir } from "./helpers/web-build.js";

const SHAPE = [1, 4, 8, 8] as const;

const ids = Int32Array.from({ length: 77 }, (_, i) => (i === 0 ? 49406 : i < 6 ? 320 + i * 17 : 49407));

/** The four networks' sessions, in the order the runs below create them, as recorded on the CPU. */
async function recordNetworks(model: string, singleFile = false): Promise<Record<string, RecordedSession>> {
  const recorder = new RecordingRuntime(onnxruntimeNode());
  const pipeline = await openPipeline(model, {
    overrides: singleFile ? TINY_OVERRIDES : undefined,
    runtime: { backend: recorder, cache: false, threads: 1 },
    speed: { attention: "matmul" }, // the WebGPU variant's form (src/engine/graph-variant.ts)
  });
  try {
    const { textEncoder, unet, vae } = pipeline.models;
    await textEncoder.encode(ids, 1, 1);
    await unet.predict({
      sample: lcg31Values(4 * 8 * 8, 1),
      shape: SHAPE,
      timestep: Float32Array.of(500),
      context: lcg31Values(77 * 32, 2),
      tokens: 77,
    });
    await vae.decode(lcg31Values(4 * 8 * 8, 3), SHAPE);
    await vae.encode(lcg31Values(3 * 64 * 64, 4), [1, 3, 64, 64]);
  } finally {
    await pipeline.close();
  }
  const [textEncoder, unet, vaeDecoder, vaeEncoder] = recorder.sessions;
  assert.equal(recorder.sessions.length, 4, "one session per network");
  return { textEncoder, unet, vaeDecoder, vaeEncoder };
}

function pageFeed(t: TensorData): PageFeed {
  const type = t.data instanceof Float32Array ? "float32" : t.data instanceof Int32Array ? "int32" : "int64";
  return { dims: [...t.dims], type, values: Array.from(t.data, Number) };
}

function maxDiff(want: TensorData, got: number[]): number {
  assert.equal(got.length, want.data.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(Number(want.data[i]) - got[i]));
  return worst;
}

// Measured on SwiftShader (see each test's message); GroupNorm sums over whole images in another
// order on the GPU, so the VAE gets the 1e-3 the Node WebGPU test uses (0.13 of an 8-bit level).
const TOLERANCE: Record<string, number> = {
  textEncoder: 1e-4,
  unet: 1e-4,
  vaeDecoder: 1e-3,
  vaeEncoder: 1e-3,
};

describe("onnxruntime-web in Chromium: the tiny SD1.5 networks match onnxruntime-node's CPU", () => {
  let browser: Browser;
  let server: IsolatedServer;
  let page: Page;
  let bundleDir: string;
  let served = 0;

  before(async () => {
    bundleDir = mkdtempSync(join(tmpdir(), "sdlite-browser-runtime-"));
    await build({
      entryPoints: [join(import.meta.dirname, "browser", "runtime-page.ts")],
      outfile: join(bundleDir, "runtime-page.js"),
      bundle: true,
      format: "esm",
      platform: "browser",
      logLevel: "warning",
    });
    server = await startIsolatedServer({ "/": await builtWebDir(), "/test/": bundleDir });
    server.put(
      "/test/page.html",
      '<!doctype html><script type="module" src="/test/runtime-page.js"></script>',
    );
    browser = await launchBrowser(undefined, { webgpu: true });
    page = await browser.context.newPage();
    await page.goto(`${server.origin}/test/page.html`);
    await page.waitForFunction(() => "sdliteRunGraph" in globalThis);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(bundleDir, { recursive: true, force: true });
  });

  /** The recorded session's model and first run, served to the page. */
  function serve(
    session: RecordedSession,
    provider: PageRun["provider"],
    webgpuLayout?: PageRun["webgpuLayout"],
  ): PageRun {
    const id = served++;
    server.put(`/graphs/${id}/model.onnx`, session.bytes);
    const external = session.externalData.map((f) => {
      server.put(`/graphs/${id}/${f.path}`, f.data);
      return { path: f.path, url: `/graphs/${id}/${f.path}` };
    });
    const feeds: Record<string, PageFeed> = {};
    for (const [name, t] of Object.entries(session.runs[0].feeds)) feeds[name] = pageFeed(t);
    return { model: `/graphs/${id}/model.onnx`, external, feeds, provider, webgpuLayout };
  }

  async function replay(
    session: RecordedSession,
    provider: PageRun["provider"],
    webgpuLayout?: PageRun["webgpuLayout"],
  ) {
    const [run] = session.runs;
    const request = serve(session, provider, webgpuLayout);
    const got = await page.evaluate(
      (r) =>
        (
          globalThis as unknown as { sdliteRunGraph(r: unknown): Promise<Record<string, number[]>> }
        ).sdliteRunGraph(r),
      request,
    );
    const diffs: Record<string, number> = {};
    for (const [name, want] of Object.entries(run.outputs)) {
      assert.ok(got[name], `output ${name} missing in the browser`);
      diffs[name] = maxDiff(want, got[name]);
    }
    return diffs;
  }

  const recorded = new Map<string, Promise<Record<string, RecordedSession>>>();
  const recordOnce = (model: string) => {
    if (!recorded.has(model)) recorded.set(model, recordNetworks(model, model.endsWith(".safetensors")));
    return recorded.get(model) as Promise<Record<string, RecordedSession>>;
  };
  const weightBytes = (s: RecordedSession) => s.externalData.reduce((n, f) => n + f.data.byteLength, 0);

  test("WebGPU, fp32 weights: text encoder, UNet, VAE decoder and encoder", async () => {
    const sessions = await recordOnce(fixturePath("models", "tiny-sd15"));
    for (const [network, session] of Object.entries(sessions)) {
      const diffs = await replay(session, "webgpu");
      console.log(`fp32 ${network}: ${JSON.stringify(diffs)}`);
      for (const [output, d] of Object.entries(diffs)) {
        assert.ok(
          d <= TOLERANCE[network],
          `${network} output ${output} differs by ${d} (tolerance ${TOLERANCE[network]})`,
        );
      }
    }
  });

  // The test above runs onnxruntime-web's default layout, NHWC (its WebGPU build is the native
  // provider); the engine states it (graph-variant.ts WEBGPU_LAYOUT) and NCHW is the other side of a
  // layout A/B on a GPU. The networks with layout-sensitive ops (convs, norms), in each layout.
  test("WebGPU, each layout (webgpuLayout): UNet and VAE decoder; a layout onnxruntime-web does not know is refused", async () => {
    const { unet, vaeDecoder } = await recordOnce(fixturePath("models", "tiny-sd15"));
    for (const layout of ["NCHW", "NHWC"] as const) {
      for (const [network, session] of Object.entries({ unet, vaeDecoder })) {
        const diffs = await replay(session, "webgpu", layout);
        console.log(`${layout} ${network}: ${JSON.stringify(diffs)}`);
        for (const [output, d] of Object.entries(diffs)) {
          assert.ok(
            d <= TOLERANCE[network],
            `${layout} ${network} output ${output} differs by ${d} (tolerance ${TOLERANCE[network]})`,
          );
        }
      }
    }
    // onnxruntime-web's JS hands any string on unchecked (ort.webgpu.mjs appendEpOption), so the
    // refusal is the native provider's parser ("Invalid preferred layout"): the value reached the
    // session options. Its wasm build reports the C++ exception as a bare number, which the runtime
    // says in one line.
    await assert.rejects(
      replay(vaeDecoder, "webgpu", "nhwc" as PageRun["webgpuLayout"]),
      /onnxruntime-web failed inside its wasm module \(C\+\+ exception \d+;/,
    );
    // onnxruntime-web 1.30 stays "creating" after that failed creation (any later WebGPU session
    // straight on it: "another WebGPU EP inference session is being created"); the runtime clears
    // that, so the same page (no reload) still creates and runs WebGPU sessions
    const diffs = await replay(vaeDecoder, "webgpu", "NHWC");
    console.log(`after the refused layout, NHWC vaeDecoder: ${JSON.stringify(diffs)}`);
    for (const [output, d] of Object.entries(diffs)) {
      assert.ok(d <= TOLERANCE.vaeDecoder, `after the refusal, VAE decoder output ${output} differs by ${d}`);
    }
  });

  // The same fault left by a caller outside sdlite's runtime (straight on onnxruntime-web's module, the
  // page's one instance): onnxruntime-web itself then refuses every WebGPU session, and the runtime
  // still creates and runs one.
  test("WebGPU after a failed creation outside the runtime: onnxruntime-web refuses the next session, the runtime recovers", async () => {
    const { vaeDecoder } = await recordOnce(fixturePath("models", "tiny-sd15"));
    const outcomes = await page.evaluate(
      (r) =>
        (
          globalThis as unknown as { sdliteCreateOutsideRuntime(r: unknown): Promise<string[]> }
        ).sdliteCreateOutsideRuntime(r),
      serve(vaeDecoder, "webgpu"),
    );
    assert.match(outcomes[0], /^\d+$/, "the refused layout: a C++ exception's number");
    assert.match(outcomes[1], /another WebGPU EP inference session is being created/, "the fault");
    const diffs = await replay(vaeDecoder, "webgpu");
    console.log(`after the outside failure, vaeDecoder: ${JSON.stringify(diffs)}`);
    for (const [output, d] of Object.entries(diffs)) {
      assert.ok(d <= TOLERANCE.vaeDecoder, `VAE decoder output ${output} differs by ${d}`);
    }
  });

  // The text encoder, UNet and VAE decoder with fp16-stored weights run in browser-engine.test.ts's
  // txt2img of the same F16 file; the VAE encoder is the one network that does not (SwiftShader
  // compiles each model's shaders for seconds, so they are not compiled twice).
  test("WebGPU, fp16-stored weights (F16 single file): the VAE encoder", async () => {
    const sessions = await recordOnce(fixturePath("single_file", "tiny-sd15-fp16.safetensors"));
    const fp32 = await recordOnce(fixturePath("models", "tiny-sd15"));
    assert.ok(
      weightBytes(sessions.vaeEncoder) < 0.6 * weightBytes(fp32.vaeEncoder),
      "the graph stores fp16 weights",
    );
    const diffs = await replay(sessions.vaeEncoder, "webgpu");
    console.log(`fp16 vaeEncoder: ${JSON.stringify(diffs)}`);
    for (const [output, d] of Object.entries(diffs)) {
      assert.ok(d <= TOLERANCE.vaeEncoder, `VAE encoder output ${output} differs by ${d}`);
    }
  });

  test("wasm backend: the UNet (fp32 weights) matches the CPU within 1e-5", async () => {
    const { unet } = await recordOnce(fixturePath("models", "tiny-sd15"));
    const diffs = await replay(unet, "wasm");
    for (const [output, d] of Object.entries(diffs))
      assert.ok(d <= 1e-5, `UNet output ${output} differs by ${d}`);
  });
});
