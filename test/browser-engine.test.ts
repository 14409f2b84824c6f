/**
 * The in-tab engine (web/src/local/local-engine.ts, built by scripts/build-web.ts) in Chromium: a
 * txt2img of the tiny fp16 single-file checkpoint through openLocalEngine, on onnxruntime-web's
 * WebGPU backend (SwiftShader) and once on wasm, against `sdlite generate`'s job run of the same
 * request on onnxruntime-node's CPU: the same infotext (Model hash included) and pixels within a
 * stated number of 8-bit levels. The wasm run goes twice through one graph store: the second load
 * takes its graphs from the store and makes the same image. On wasm also: a txt2img with a LoRA file
 * (as `sdlite generate --lora FILE:WEIGHT`) and an A1111 inpainting (mask blur, masked content
 * "fill", paste-back), each against the job run of the same request. The WebGPU image is made again
 * after a failed WebGPU session creation on the same page (no reload).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import type { InpaintSettings } from "../src/pipeline/a1111-inpainting.js";
import type { JobLora, JobRequest } from "../src/pipeline/generation-job.js";
import type { JobEngine } from "../src/pipeline/job-engine.js";
import { encodeImage } from "../src/pipeline/job-image.js";
import { resolveJobLoras } from "../src/pipeline/job-loras.js";
import type { WebGpuSupport } from "../web/src/local/local-engine.js";
import { MIN_BUFFER_BYTES } from "../web/src/local/webgpu-support.js";
import { fixturePath } from "./helpers/fixtures.js";
import {
  assertSameImage,
  type EnginePage,
  jobRequestOf,
  maxLevels,
  type NodeImage,
  openEnginePage,
  type PageResult,
  rgba,
  runInPage,
  runInPageRepeated,
  TINY_REQUEST,
  nodeRun as tinyNodeRun,
} from "./helpers/in-tab-engine.js";

const LORA = fixturePath("lora", "tiny-sd15-kohya.safetensors");
const LORA_WEIGHT = 0.8;

/** A 64x64 RGB gradient to inpaint, and a mask with a white box in it (white = repaint). */
const INIT = {
  width: 64,
  height: 64,
  data: Uint8Array.from({ length: 64 * 64 * 3 }, (_, i) => {
    const p = Math.floor(i / 3);
    return ((p % 64) * 4 + Math.floor(p / 64) * 2 + (i % 3) * 60) & 255;
  }),
};
const MASK = {
  width: 64,
  height: 64,
  data: Uint8Array.from({ length: 64 * 64 }, (_, p) => {
    const x = p % 64;
    const y = Math.floor(p / 64);
    return x >= 16 && x < 48 && y >= 20 && y < 44 ? 255 : 0;
  }),
};
/** The same settings as the job's `inpaint` and as the engine request's fields. */
const INPAINT: InpaintSettings = {
  maskBlurX: 4,
  maskBlurY: 4,
  maskedContent: "fill",
  fullRes: false,
  fullResPadding: 32,
  invertMask: false,
};

/** The job run of `request` (TINY_REQUEST's settings by default) on onnxruntime-node's CPU: PNG pixels and infotext. */
function nodeRun(
  request: Partial<JobRequest> = {},
  loras: JobLora[] = [],
  engine: JobEngine = {},
): Promise<NodeImage> {
  return tinyNodeRun({ request: { ...jobRequestOf(TINY_REQUEST), ...request }, loras, engine });
}

describe("the in-tab engine makes the Node CPU's image (tiny SD1.5 single file, Chromium)", () => {
  let engine: EnginePage;
  let page: EnginePage["page"];
  let work: string;
  let cpu: NodeImage;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "sdlite-browser-engine-"));
    process.env.SDLITE_CACHE = join(work, "cache"); // the Model hash's hashes.json
    cpu = await nodeRun();
    engine = await openEnginePage({ files: { "/test/lora.safetensors": LORA } });
    page = engine.page;
  });
  after(async () => {
    await engine?.close();
    rmSync(work, { recursive: true, force: true });
  });

  function check(result: PageResult, levels: number, label: string, node: NodeImage = cpu): Uint8Array {
    assert.equal(result.seed, TINY_REQUEST.seed);
    return assertSameImage(result, node, levels, label);
  }

  test("webgpuSupport: SwiftShader's adapter is usable, without shader-f16 (which the float32 graphs do not need)", async () => {
    const support = await page.evaluate(() =>
      (globalThis as unknown as { sdliteWebgpuSupport(): Promise<WebGpuSupport> }).sdliteWebgpuSupport(),
    );
    assert.deepEqual(support.missing, []);
    assert.equal(support.ok, true);
    assert.equal(support.shaderF16, false);
    assert.ok(support.maxBufferSize >= MIN_BUFFER_BYTES, String(support.maxBufferSize));
    assert.ok(
      support.maxStorageBufferBindingSize >= MIN_BUFFER_BYTES,
      String(support.maxStorageBufferBindingSize),
    );
    assert.ok(support.adapter && support.adapter.length > 0);
  });

  // matmul attention on WebGPU (src/engine/graph-variant.ts); the networks agree to 3e-5 (browser-runtime.test.ts)
  test("WebGPU: same infotext, pixels within 2 levels; float32, since SwiftShader runs no f16 shaders", async () => {
    const result = await runInPage(page, "webgpu", TINY_REQUEST);
    check(result, 2, "webgpu");
    // precision unset: the engine's fp16 probe (engine/webgpu-shader-f16.ts) fails on SwiftShader
    assert.equal(result.precision, "fp32");
  });

  // onnxruntime-web 1.30 refuses every WebGPU session after one failed creation ("another WebGPU EP
  // inference session is being created") until the page reloads; the engine's runtime clears that
  // (src/runtime/onnxruntime-web.ts). The failure is made straight on the page's onnxruntime-web.
  test("WebGPU after a failed WebGPU session creation on the same page (no reload): the same image", async () => {
    const probe = new GraphBuilder("failed_creation_probe");
    probe.output(probe.node("Relu", [probe.input("x", "float32", [4])]), "y", "float32", [4]);
    engine.server.put("/test/probe.onnx", serializeModel(probe).bytes);
    const outcomes = await page.evaluate(() =>
      (
        globalThis as unknown as { sdliteCreateOutsideEngine(url: string): Promise<string[]> }
      ).sdliteCreateOutsideEngine("/test/probe.onnx"),
    );
    assert.match(outcomes[0], /^\d+$/, "the refused layout: a C++ exception's number");
    assert.match(outcomes[1], /another WebGPU EP inference session is being created/, "the fault");
    const result = await runInPage(page, "webgpu", TINY_REQUEST);
    check(result, 2, "webgpu after a failed creation");
  });

  test("wasm: same infotext, pixels within 1 level; reopened, graphs come from the graph store", async () => {
    const [first, second] = await runInPageRepeated(page, "wasm", TINY_REQUEST, 2);
    check(first, 1, "wasm");
    assert.equal(first.precision, "fp32", "wasm computes float32 unless fp16 is asked for");
    assert.ok(
      first.statuses.some((s) => s.startsWith("building the UNet")),
      first.statuses.join("; "),
    );
    assert.ok(
      second.statuses.some((s) => s === "loading the UNet from the graph store"),
      second.statuses.join("; "),
    );
    assert.ok(!second.statuses.some((s) => s.startsWith("building")), second.statuses.join("; "));
    assert.deepEqual(second.png, first.png);
  });

  // fp16 compute is opt-in in the tab (LocalLoadOptions.precision); wasm's CPU kernels run the fp16
  // graphs as onnxruntime-node's CPU does (test/webgpu-fp16.test.ts): the same rounding, the same image
  test("wasm, precision fp16: the Node CPU's fp16 image within 1 level, from fp16 graphs (built anew, not the fp32 ones)", async () => {
    const fp16 = await nodeRun({}, [], { speed: { precision: "fp16" } });
    const result = await runInPage(page, "wasm", TINY_REQUEST, "fp16");
    check(result, 1, "wasm fp16", fp16);
    assert.equal(result.precision, "fp16");
    assert.ok(
      result.statuses.some((s) => s.startsWith("building the UNet")),
      result.statuses.join("; "),
    );
    // the fp16 image is not the fp32 one: the graphs really computed in fp16
    assert.ok(maxLevels(fp16.pixels, cpu.pixels) > 0, "Node's fp16 and fp32 images are identical");
  });

  test("wasm, a kohya LoRA as `--lora FILE:0.8`: same infotext (its tag and Lora hashes), pixels within 1 level", async () => {
    const { loras } = resolveJobLoras(TINY_REQUEST.prompt, undefined, [{ path: LORA, weight: LORA_WEIGHT }]);
    const node = await nodeRun({}, loras);
    assert.match(node.infotext, /<lora:tiny-sd15-kohya:0\.8>/);
    assert.match(node.infotext, /Lora hashes: "?tiny-sd15-kohya: [0-9a-f]{12}/);
    const result = await runInPage(page, "wasm", {
      ...TINY_REQUEST,
      loras: [
        {
          name: "tiny-sd15-kohya",
          url: "/test/lora.safetensors",
          fileName: basename(LORA),
          weight: LORA_WEIGHT,
        },
      ],
    });
    const pixels = check(result, 1, "wasm + LoRA", node);
    // the LoRA changes the image by more than the tolerance, so an engine ignoring it would fail
    const changed = maxLevels(pixels, cpu.pixels);
    assert.ok(changed > 1, `the LoRA changed the image by only ${changed} levels`);
  });

  test("wasm, A1111 inpainting (mask blur 4, fill, whole picture, paste-back): same infotext, pixels within 1 level", async () => {
    const node = await nodeRun({
      initImage: encodeImage(INIT, 3),
      mask: encodeImage(MASK, 1),
      strength: 0.75,
      inpaint: INPAINT,
    });
    assert.match(node.infotext, /Mask blur: 4/);
    const result = await runInPage(page, "wasm", {
      ...TINY_REQUEST,
      initImage: { width: 64, height: 64, data: Array.from(rgba(INIT.data)) },
      mask: { width: 64, height: 64, data: Array.from(rgba(MASK.data, 1)) },
      denoisingStrength: 0.75,
      maskBlur: 4,
      inpaintingFill: 0,
      inpaintFullRes: false,
    });
    const pixels = check(result, 1, "wasm inpainting", node);
    // pasted back: far from the mask the init image is kept as it was
    for (const [x, y] of [
      [0, 0],
      [63, 63],
      [2, 60],
    ]) {
      const at = (y * 64 + x) * 3;
      assert.deepEqual(
        [...pixels.subarray(at, at + 3)],
        [...INIT.data.subarray(at, at + 3)],
        `pixel ${x},${y}`,
      );
    }
  });
});
