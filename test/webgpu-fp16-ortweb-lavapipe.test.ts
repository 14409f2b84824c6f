/**
 * The fp16 graphs through onnxruntime-web (the in-tab engine's runtime) on a WebGPU adapter with f16
 * shaders: onnxruntime-web's WebGPU provider in Node, not in a browser, on `navigator.gpu` from Dawn's
 * Node bindings (dawn.node; Dawn is Chromium's WebGPU engine) over Mesa's lavapipe
 * (helpers/dawn-node-webgpu.ts). Headless Chromium offers only SwiftShader, without f16 shaders
 * (docs/benchmarks.md), so this is where onnxruntime-web's fp16 kernels run at all in the tests.
 * Its own file: Dawn reads VK_ICD_FILENAMES once per process.
 *
 * Per network of the tiny SD1.5, against onnxruntime-node's CPU provider in float32, with the
 * tolerances of test/webgpu-fp16-lavapipe.test.ts (onnxruntime-node's WebGPU provider on the same
 * adapter): onnxruntime-web's WebGPU build is that provider compiled to wasm, so its errors should
 * be the same size, and are: measured (onnxruntime-web 1.30, webgpu 0.6.2, Mesa 25.0.7) text encoder
 * 2.36e-3, UNet 3.44e-3 (t=1) and 4.68e-3 (t=999), VAE decode 1.19e-2 and encode 1.10e-2, the image
 * 3 levels: onnxruntime-node's figures to the digits its header gives. Then a txt2img through the
 * in-tab engine itself (the bundle scripts/build-web.ts makes, local-engine.js, imported as a page
 * imports it; precision left to its shader-f16 probe) against `sdlite generate`'s job run on the CPU
 * in fp16: measured 3 levels (and 3 from the fp32 job's image); bound 8, as for the image above.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type OpenedPipeline, openPipeline } from "../src/engine/open-pipeline.js";
import { webGpuRunsF16 } from "../src/engine/webgpu-shader-f16.js";
import { decodePngRgb } from "../src/image/png.js";
import { OnnxruntimeWeb } from "../src/runtime/onnxruntime-web.js";
import type { LocalEngine, LocalLoadOptions, WebGpuSupport } from "../web/src/local/local-engine.js";
import { importOrtWebGpu, installDawnNodeGpu, releaseDawnNodeGpu } from "./helpers/dawn-node-webgpu.js";
import { fixturePath } from "./helpers/fixtures.js";
import {
  assertBelow,
  assertImageWithin,
  textEncoderDiff,
  txt2imgDiff,
  unetDiff,
  vaeDecodeDiff,
  vaeEncodeDiff,
} from "./helpers/fp16-comparison.js";
import {
  jobRequestOf,
  maxLevels,
  type NodeImage,
  nodeRun,
  TINY_CHECKPOINT,
  TINY_REQUEST,
} from "./helpers/in-tab-engine.js";
import { TINY_OVERRIDES } from "./helpers/tiny-configs.js";
import { builtWebDir } from "./helpers/web-build.js";
import { lavapipeEnv } from "./helpers/webgpu-adapter.js";

const MODEL = fixturePath("models", "tiny-sd15");

// onnxruntime-node's WebGPU on lavapipe's bounds (test/webgpu-fp16-lavapipe.test.ts), unchanged
const TEXT_ENCODER_TOLERANCE = 1e-2;
const UNET_TOLERANCE = 2e-2;
const VAE_TOLERANCE = 5e-2;
const IMAGE_LEVELS = 8;
/** fp16's rounding unit (2^-11): above it, the graph computed in fp16. */
const FP16_FLOOR = 4.9e-4;
/** The in-tab engine's image against the CPU's fp16 one (TINY_REQUEST: 64x64, Euler a, 3 steps). */
const ENGINE_LEVELS = 8;

// the helper's event-loop timer keeps the process alive until released
after(releaseDawnNodeGpu);

describe("fp16 through onnxruntime-web's WebGPU on lavapipe (dawn.node in Node, tiny SD1.5)", () => {
  let runtime: OnnxruntimeWeb;
  let cpu: OpenedPipeline;
  let gpu: OpenedPipeline;
  before(async () => {
    Object.assign(process.env, lavapipeEnv());
    runtime = new OnnxruntimeWeb(await importOrtWebGpu(), { numThreads: 1 });
    cpu = await openPipeline(MODEL, { runtime: { cache: false, threads: 1 } });
    // no precision asked: the webgpu variant picks fp16 because the probe finds f16 shaders
    gpu = await openPipeline(MODEL, {
      runtime: { backend: runtime, cache: false, executionProviders: ["webgpu"] },
    });
  });
  after(async () => {
    await cpu?.close();
    await gpu?.close();
  });

  test("the adapter is lavapipe's, with shader-f16, and onnxruntime-web's fp16 probe passes on it", async () => {
    const adapter = await installDawnNodeGpu().requestAdapter();
    assert.ok(adapter, "dawn.node found no adapter");
    assert.ok(adapter.features.has("shader-f16"), "the adapter has no shader-f16");
    assert.equal(await webGpuRunsF16(runtime), true);
  });

  test(`text encoder within ${TEXT_ENCODER_TOLERANCE}`, async (t) => {
    const d = await textEncoderDiff(cpu.models, gpu.models, FP16_FLOOR);
    assertBelow(t, "text encoder", d, TEXT_ENCODER_TOLERANCE);
  });

  test(`UNet within ${UNET_TOLERANCE}, at timesteps 1 and 999`, async (ctx) => {
    for (const t of [1, 999]) {
      assertBelow(ctx, `UNet t=${t}`, await unetDiff(cpu.models, gpu.models, t, FP16_FLOOR), UNET_TOLERANCE);
    }
  });

  test(`VAE decode and encode within ${VAE_TOLERANCE}`, async (t) => {
    assertBelow(t, "VAE decode", await vaeDecodeDiff(cpu.models, gpu.models, FP16_FLOOR), VAE_TOLERANCE);
    assertBelow(t, "VAE encode", await vaeEncodeDiff(cpu.models, gpu.models, FP16_FLOOR), VAE_TOLERANCE);
  });

  test(`txt2img 64x64, Euler a 4 steps: not black, within ${IMAGE_LEVELS} levels of the CPU image`, async (t) => {
    assertImageWithin(t, await txt2imgDiff(cpu.models, gpu.models), IMAGE_LEVELS, "CPU");
  });
});

/** Node's fetch reads no file: URLs; the in-tab engine fetches its tokenizer beside its bundle. */
function fetchingFiles(): () => void {
  const original = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== "file:") return original(input, init);
    return Promise.resolve(new Response(readFileSync(fileURLToPath(url))));
  };
  return () => {
    globalThis.fetch = original;
  };
}

type EngineModule = {
  openLocalEngine(checkpoint: Blob, options: LocalLoadOptions): Promise<LocalEngine>;
  webgpuSupport(): Promise<WebGpuSupport>;
};

describe("the in-tab engine on onnxruntime-web's WebGPU on lavapipe (dawn.node in Node, tiny SD1.5 single file)", () => {
  let work: string;
  let restoreFetch: () => void;
  let engineModule: EngineModule;
  let cpuFp16: NodeImage;
  let cpuFp32: NodeImage;
  before(async () => {
    Object.assign(process.env, lavapipeEnv());
    installDawnNodeGpu();
    work = mkdtempSync(join(tmpdir(), "sdlite-ortweb-lavapipe-"));
    process.env.SDLITE_CACHE = join(work, "cache"); // the Model hash's hashes.json
    cpuFp16 = await nodeRun({
      request: jobRequestOf(TINY_REQUEST),
      engine: { speed: { precision: "fp16" } },
    });
    cpuFp32 = await nodeRun({ request: jobRequestOf(TINY_REQUEST) });
    restoreFetch = fetchingFiles();
    // the built bundle, as a page loads it: ORT's module and wasm from its ort/ folder
    engineModule = (await import(
      pathToFileURL(join(await builtWebDir(), "local-engine.js")).href
    )) as EngineModule;
  });
  after(() => {
    restoreFetch?.();
    rmSync(work, { recursive: true, force: true });
  });

  test("webgpuSupport (the page's capability check): usable, with shader-f16", async () => {
    const support = await engineModule.webgpuSupport();
    assert.deepEqual(support.missing, []);
    assert.equal(support.ok, true);
    assert.equal(support.shaderF16, true);
  });

  test(`txt2img 64x64 (Euler a, 3 steps): fp16 by the shader-f16 probe, the CPU's fp16 image within ${ENGINE_LEVELS} levels, same infotext`, async (t) => {
    const checkpoint = new File([readFileSync(TINY_CHECKPOINT)], basename(TINY_CHECKPOINT), {
      lastModified: statSync(TINY_CHECKPOINT).mtimeMs,
    });
    const { prompt, negativePrompt, steps, cfgScale, width, height, sampler } = TINY_REQUEST;
    const engine = await engineModule.openLocalEngine(checkpoint, {
      backend: "webgpu",
      overrides: TINY_OVERRIDES,
    });
    try {
      // precision unset: the engine's probe (engine/webgpu-shader-f16.ts) finds f16 shaders
      assert.equal(engine.precision, "fp16");
      const { png, infotext, seed } = await engine.generate({
        prompt,
        negativePrompt,
        steps,
        cfgScale,
        width,
        height,
        seed: TINY_REQUEST.seed,
        sampler,
      });
      assert.equal(seed, TINY_REQUEST.seed);
      assert.equal(infotext, cpuFp16.infotext);
      const { image, text } = decodePngRgb(png);
      assert.equal(text.parameters, infotext);
      assert.deepEqual([image.width, image.height], [cpuFp16.width, cpuFp16.height]);
      let brightest = 0;
      for (const v of image.data) brightest = Math.max(brightest, v);
      const levels = maxLevels(image.data, cpuFp16.pixels);
      t.diagnostic(
        `in-tab engine: ${levels} levels from the CPU's fp16 image, ${maxLevels(image.data, cpuFp32.pixels)} from its fp32 one; brightest ${brightest}`,
      );
      // a NaN anywhere turns the image black after the clamp to bytes
      assert.ok(brightest > 32, `the image is black (brightest level ${brightest})`);
      assert.ok(levels <= ENGINE_LEVELS, `the image differs from the CPU's fp16 one by ${levels} levels`);
      // the WebGPU image is not the CPU's fp16 one bit for bit: f16 shaders really ran
      assert.ok(levels > 0, "identical to the CPU's fp16 image: did the engine run on the CPU?");
    } finally {
      await engine.dispose();
    }
  });
});
