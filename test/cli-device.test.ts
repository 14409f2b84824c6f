/**
 * `sdlite generate --device`: an explicit webgpu on the SwiftShader adapter (helpers/webgpu-adapter.ts)
 * reports the adapter and makes the CPU's image within one 8-bit level, while auto passes over that
 * software adapter (shaders on the CPU are slower than the CPU provider) to the CPU's exact image;
 * without any adapter, an explicit webgpu is one error line (exit 1) and auto falls back likewise. 64x64, 2 steps:
 * SwiftShader is 100-200x slower than the CPU.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { serveEngineOptions } from "../src/cli/commands/serve.js";
import { chooseDevice, cpuAfterFailure, type DeviceChoice } from "../src/cli/device-choice.js";
import { describeAdapter, gpuAdapterInfo } from "../src/engine/gpu-adapter-info.js";
import { decodePng, encodePng } from "../src/image/png.js";
import { InvalidRequestError } from "../src/pipeline/invalid-request.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { Runtime } from "../src/runtime/runtime.js";
import { fixturePath } from "./helpers/fixtures.js";
import { runSdlite } from "./helpers/sdlite-cli.js";
import { tinyRrdbWeights, writeTinyPth } from "./helpers/tiny-upscalers.js";
import { NO_ADAPTER_ENV, swiftShaderEnv } from "./helpers/webgpu-adapter.js";

const MODEL = fixturePath("models", "tiny-sd15");
const cache = mkdtempSync(join(tmpdir(), "sdlite-device-cache-"));

async function generate(device: string, env: Record<string, string>) {
  const out = mkdtempSync(join(tmpdir(), "sdlite-device-"));
  const args = ["generate", "a red cube", "-m", MODEL, "--steps", "2", "-W", "64", "-H", "64"];
  const run = await runSdlite([...args, "--seed", "7", "-o", out, "--json", "--device", device], {
    SDLITE_CACHE: cache,
    ...env,
  });
  return run;
}

function pixels(run: { stdout: string }) {
  const doc = JSON.parse(run.stdout);
  return { doc, data: decodePng(readFileSync(doc.files[0])).data };
}

describe("generate --device", () => {
  test("webgpu runs on the SwiftShader adapter, says so, and matches the CPU image within 1 level; auto passes over it", async () => {
    const cpu = await generate("cpu", {});
    assert.equal(cpu.status, 0, cpu.stderr);
    const auto = await generate("auto", swiftShaderEnv());
    assert.equal(auto.status, 0, auto.stderr);
    assert.match(
      auto.stderr,
      /^device: cpu \(the only WebGPU adapter is a software one \(SwiftShader \(software\)\), slower than the CPU; falling back to the CPU\)$/m,
    );
    assert.equal(pixels(auto).doc.device.used, "cpu");
    assert.deepEqual(pixels(auto).data, pixels(cpu).data);
    const gpu = await generate("webgpu", swiftShaderEnv());
    assert.equal(gpu.status, 0, gpu.stderr);
    assert.match(gpu.stderr, /device: webgpu \(adapter: SwiftShader \(software\), Google, vulkan\)/);
    const want = pixels(cpu);
    const got = pixels(gpu);
    assert.deepEqual(want.doc.device, { requested: "cpu", used: "cpu" });
    assert.equal(got.doc.device.used, "webgpu");
    assert.equal(got.doc.device.adapter.software, true);
    assert.equal(got.doc.device.adapter.name, "SwiftShader (software)");
    let worst = 0;
    for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs(want.data[i] - got.data[i]));
    assert.ok(worst <= 1, `WebGPU image differs from the CPU image by ${worst} levels`);
  });

  test("no adapter: explicit webgpu is one error line, auto falls back to the CPU's exact image", async () => {
    const explicit = await generate("webgpu", NO_ADAPTER_ENV);
    assert.equal(explicit.status, 1);
    const ours = explicit.stderr.split("\n").filter((l) => l.startsWith("sdlite:"));
    assert.equal(ours.length, 1, explicit.stderr);
    assert.match(ours[0], /^sdlite: --device webgpu: no usable WebGPU adapter: /);
    assert.doesNotMatch(explicit.stderr, /\n\s+at |Warning:/, "no stack trace, no Dawn or Vulkan noise");
    assert.equal(explicit.stdout, "");

    const auto = await generate("auto", NO_ADAPTER_ENV);
    assert.equal(auto.status, 0, auto.stderr);
    const fallback = auto.stderr.split("\n").filter((l) => l.includes("falling back to the CPU"));
    assert.equal(fallback.length, 1, auto.stderr);
    assert.match(fallback[0], /^device: cpu \(no usable WebGPU adapter: .*; falling back to the CPU\)$/);
    const cpu = await generate("cpu", {});
    const got = pixels(auto);
    assert.equal(got.doc.device.used, "cpu");
    assert.match(got.doc.device.fallback, /no usable WebGPU adapter/);
    assert.deepEqual(got.data, pixels(cpu).data);
  });
});

describe("upscale --device", () => {
  const dir = mkdtempSync(join(tmpdir(), "sdlite-device-upscale-"));
  const input = join(dir, "in.png");
  const data = Uint8Array.from({ length: 16 * 12 * 3 }, (_, i) => (i * 29 + (i >> 5)) % 256);
  writeFileSync(input, encodePng({ width: 16, height: 12, channels: 3, data }));
  const model = join(dir, "RealESRGAN_tiny.pth");
  writeTinyPth(model, tinyRrdbWeights({ blocks: 1, features: 8, growth: 4, upsamples: 2, unshuffle: 1 }, 9));

  async function upscale(device: string, env: Record<string, string>) {
    const out = join(mkdtempSync(join(dir, "out-")), "big.png");
    const args = ["upscale", input, "-u", model, "--scale", "4", "--tile", "0", "-o", out, "--json"];
    const run = await runSdlite([...args, "--device", device], { SDLITE_CACHE: cache, ...env });
    assert.equal(run.status, 0, run.stderr);
    const doc = JSON.parse(run.stdout);
    return { run, doc, data: decodePng(readFileSync(doc.file)).data };
  }

  test("webgpu on SwiftShader within 1 level of the CPU; auto without an adapter is the CPU's exact image", async () => {
    const cpu = await upscale("cpu", {});
    const gpu = await upscale("webgpu", swiftShaderEnv());
    assert.equal(gpu.doc.device.used, "webgpu");
    let worst = 0;
    for (let i = 0; i < cpu.data.length; i++) worst = Math.max(worst, Math.abs(cpu.data[i] - gpu.data[i]));
    assert.ok(worst <= 1, `WebGPU upscale differs from the CPU's by ${worst} levels`);
    const auto = await upscale("auto", NO_ADAPTER_ENV);
    assert.match(auto.run.stderr, /^device: cpu \(no usable WebGPU adapter: .*; falling back to the CPU\)$/m);
    assert.deepEqual(auto.data, cpu.data);
  });
});

describe("serve --device", () => {
  test("the chosen providers reach every job's engine settings; none given, none set", () => {
    assert.deepEqual(serveEngineOptions({ threads: 2 }, ["webgpu"]).runtime, {
      threads: 2,
      executionProviders: ["webgpu"],
    });
    assert.deepEqual(serveEngineOptions({ threads: 2 }).runtime, { threads: 2 });
  });
});

describe("bench --device", () => {
  test("webgpu times each stage on the GPU in the same table as the CPU", async () => {
    const benchDir = mkdtempSync(join(tmpdir(), "sdlite-device-bench-"));
    const args = [
      "bench",
      "-m",
      MODEL,
      "--device",
      "webgpu",
      "--stages",
      "text",
      "--runs",
      "1",
      "--size",
      "64",
    ];
    const run = await runSdlite([...args, "--bench-dir", benchDir], swiftShaderEnv());
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /^device: webgpu \(adapter: SwiftShader/m);
    assert.match(run.stdout, /^\| default +\| text encoder +\| +\d+\.\d+ s/m);
    assert.match(run.stdout, /^\| executionProviders=webgpu +\| text encoder +\| +\d+\.\d+ s/m);
  });
});

describe("device choice", () => {
  const onGpu = (requested: "auto" | "webgpu"): DeviceChoice => ({
    requested,
    device: "webgpu",
    executionProviders: ["webgpu"],
  });

  test("auto hands a GPU that failed mid-run to the CPU with the error's first line; explicit devices keep the error", () => {
    const lost = new Error("Device lost: the GPU was reset\n    at somewhere (x.cc:1)");
    assert.deepEqual(cpuAfterFailure(onGpu("auto"), lost), {
      requested: "auto",
      device: "cpu",
      executionProviders: ["cpu"],
      fallback: "webgpu failed: Device lost: the GPU was reset",
    });
    assert.equal(cpuAfterFailure(onGpu("webgpu"), lost), undefined);
    assert.equal(cpuAfterFailure(onGpu("auto"), new InvalidRequestError("bad size")), undefined);
  });

  test("the adapter is software only when every Vulkan driver is (SwiftShader, lavapipe); auto then takes the CPU unprobed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sdlite-icd-"));
    const manifest = (name: string, library: string) => {
      const path = join(dir, name);
      writeFileSync(path, JSON.stringify({ file_format_version: "1.0.0", ICD: { library_path: library } }));
      return path;
    };
    const lavapipe = manifest("lvp.json", "/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so");
    const swiftshader = manifest("ss.json", "./libvk_swiftshader.so");
    const intel = manifest("intel.json", "/usr/lib/x86_64-linux-gnu/libvulkan_intel.so");
    const saved = process.env.VK_ICD_FILENAMES;
    const withIcds = (...paths: string[]) => {
      process.env.VK_ICD_FILENAMES = paths.join(":");
      return gpuAdapterInfo();
    };
    // a runtime that must never be probed: auto decides from the drivers alone
    const unprobed = {
      name: "unprobed",
      availableProviders: () => ["cpu", "webgpu"],
      createSession: () => assert.fail("auto probed a software-only adapter"),
    } as unknown as Runtime;
    try {
      const lvp = withIcds(lavapipe);
      assert.equal(lvp.name, "lavapipe (software)");
      assert.equal(lvp.vendor, "Mesa");
      assert.equal(lvp.software, true);
      assert.equal(describeAdapter(lvp), "lavapipe (software), Mesa, vulkan");
      const both = withIcds(lavapipe, swiftshader);
      assert.equal(both.software, true);
      assert.equal(both.name, undefined, "two software drivers: which one Dawn takes is not known");
      const mixed = withIcds(intel, lavapipe);
      assert.equal(mixed.software, undefined);
      assert.equal(mixed.name, undefined);

      withIcds(lavapipe);
      const auto = await chooseDevice("auto", unprobed);
      assert.equal(auto.device, "cpu");
      assert.equal(
        auto.fallback,
        "the only WebGPU adapter is a software one (lavapipe (software)), slower than the CPU",
      );
    } finally {
      if (saved === undefined) delete process.env.VK_ICD_FILENAMES;
      else process.env.VK_ICD_FILENAMES = saved;
    }
  });

  test("dml and coreml are refused in one line where onnxruntime-node does not bundle them", async () => {
    const available = onnxruntimeNode().availableProviders();
    for (const device of ["dml", "coreml"] as const) {
      if (available.includes(device)) {
        assert.deepEqual((await chooseDevice(device)).executionProviders, [device]);
      } else {
        await assert.rejects(chooseDevice(device), (err: Error) => {
          assert.ok(err instanceof InvalidRequestError);
          assert.match(
            err.message,
            new RegExp(`^--device ${device}: onnxruntime-node bundles it only on (Windows|macOS); this is `),
          );
          assert.doesNotMatch(err.message, /\n/);
          return true;
        });
      }
    }
  });
});
