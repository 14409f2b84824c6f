/**
 * EngineOptions' records and the pieces built on the type: the run-time field table, flat settings
 * placed in their records, the bench's key=value sets, the graph variant per execution provider and
 * the network registry's choice of factory.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ORT_PLAIN_OPTIONS } from "../src/bench/baselines.js";
import { engineOptionsFromSet, KNOWN_ENGINE_OPTIONS } from "../src/bench/option-set.js";
import { GraphCache } from "../src/cache/graph-cache.js";
import { diskGraphSessions } from "../src/engine/disk-graph-sessions.js";
import { engineOptionFields, engineOptionsFromFlat } from "../src/engine/engine-options.js";
import {
  DEFAULT_ATTENTION,
  graphVariantFor,
  WEBGPU_FUSED_OPS,
  WEBGPU_LAYOUT,
  WEBGPU_UNET_HEADS_PER_SLICE,
} from "../src/engine/graph-variant.js";
import { int8WeightBitsForThisCpu } from "../src/engine/int8-weight-bits.js";
import {
  type NetworkContext,
  type NetworkFactory,
  type NetworkWeights,
  normAffineOption,
} from "../src/engine/networks/network-factory.js";
import { buildNetwork, NETWORK_FACTORIES } from "../src/engine/networks/registry.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { loadModel } from "../src/weights/load-model.js";
import { fixturePath } from "./helpers/fixtures.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

describe("EngineOptions fields", () => {
  it("every field has one record, and names are unique across records", () => {
    const fields = engineOptionFields();
    const names = fields.map((f) => f.name);
    assert.equal(new Set(names).size, names.length, `duplicate names in ${names.join(", ")}`);
    const byRecord = (record: string) =>
      fields
        .filter((f) => f.record === record)
        .map((f) => f.name)
        .sort();
    assert.deepEqual(byRecord("runtime"), [
      "backend",
      "cache",
      "deviceResidentFeeds",
      "executionProviders",
      "threads",
      "unetBackend",
      "webgpuLayout",
    ]);
    assert.deepEqual(byRecord("memory"), ["lowMemory", "tileLatentSize", "weightStorage"]);
    assert.deepEqual(byRecord("speed"), [
      "attention",
      "attentionQuantization",
      "convAlgorithm",
      "decoder",
      "deepCacheInterval",
      "precision",
      "taesdQuantization",
      "textEncoderQuantization",
      "todoFactor",
      "todoMaxDepth",
      "tomeRatio",
      "unetQuantization",
      "vaeQuantization",
    ]);
    assert.deepEqual(byRecord("model"), ["loras", "overrides", "taesd", "vae", "variant"]);
  });

  it("flat settings land in their records; unknown names are refused", () => {
    assert.deepEqual(
      engineOptionsFromFlat({ threads: 2, lowMemory: true, deepCacheInterval: 3, vae: "v.safetensors" }),
      {
        vae: "v.safetensors",
        runtime: { threads: 2 },
        memory: { lowMemory: true },
        speed: { deepCacheInterval: 3 },
      },
    );
    assert.deepEqual(engineOptionsFromFlat({ threads: undefined }), {});
    assert.throws(() => engineOptionsFromFlat({ fastMode: true }), /"fastMode" is not an engine option/);
  });
});

describe("the bench's option sets follow the type", () => {
  it("knows every scalar field (the old hand-kept list and more), none it sets itself", () => {
    for (const name of [
      "threads",
      "webgpuLayout",
      "lowMemory",
      "attention",
      "decoder",
      "tileLatentSize",
      "vae",
      "variant",
      "deepCacheInterval",
      "unetQuantization",
      "vaeQuantization",
      "textEncoderQuantization",
      "taesdQuantization",
      "attentionQuantization",
      "convAlgorithm",
      "tomeRatio",
      "todoFactor",
      "todoMaxDepth",
      "weightStorage",
      "executionProviders",
      "precision",
    ])
      assert.ok(KNOWN_ENGINE_OPTIONS.includes(name), `${name} is settable`);
    for (const name of ["cache", "backend", "unetBackend", "taesd", "loras", "overrides"])
      assert.ok(!KNOWN_ENGINE_OPTIONS.includes(name), `${name} is the bench's own`);
  });

  it("turns a set into grouped EngineOptions (lists joined with +)", () => {
    assert.deepEqual(engineOptionsFromSet(ORT_PLAIN_OPTIONS), {
      speed: { attention: "matmul", unetQuantization: "none", deepCacheInterval: 1, convAlgorithm: "direct" },
      memory: { weightStorage: "fp32" },
    });
    assert.deepEqual(engineOptionsFromSet({ executionProviders: "webgpu+cpu", threads: 1 }), {
      runtime: { executionProviders: ["webgpu", "cpu"], threads: 1 },
    });
    // the layout A/B on a GPU (docs/benchmarks.md):
    // sdlite bench --device webgpu --set executionProviders=webgpu,webgpuLayout=NCHW
    assert.deepEqual(engineOptionsFromSet({ webgpuLayout: "NCHW" }), { runtime: { webgpuLayout: "NCHW" } });
  });

  it("the CLI refuses an unknown option before generating or running anything", () => {
    const run = spawnSync(
      process.execPath,
      ["--import", "tsx", join(repoRoot, "src", "cli", "main.ts"), "bench", "--option", "fastMode=1"],
      { cwd: repoRoot, encoding: "utf-8" },
    );
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /"fastMode" is not an engine option/);
    assert.doesNotMatch(run.stderr, /random-weight SD1\.5 model/);
  });
});

describe("graph variant per execution provider", () => {
  it("CPU (and a provider without an entry) gets fused attention, automatic weight storage and the one-pass GroupNorm affine", () => {
    const expected = {
      attention: { textEncoder: DEFAULT_ATTENTION, unet: DEFAULT_ATTENTION, vae: DEFAULT_ATTENTION },
      weightStorage: "auto",
      computePrecision: "fp32",
      fusedOps: [],
      normAffine: "batch-normalization",
    };
    assert.deepEqual(graphVariantFor(undefined, {}), expected);
    assert.deepEqual(graphVariantFor(["cpu"], {}), expected);
    assert.deepEqual(graphVariantFor(["nosuch-provider", "cpu"], {}), expected);
  });

  it("WebGPU gets matmul attention everywhere (its MultiHeadAttention fails test/webgpu-networks.test.ts); an explicit choice wins", () => {
    assert.deepEqual(graphVariantFor(["webgpu"], {}), {
      attention: { textEncoder: "matmul", unet: "matmul", vae: "matmul" },
      weightStorage: "fp32",
      computePrecision: "fp32",
      fusedOps: WEBGPU_FUSED_OPS,
      unetAttentionHeadsPerSlice: WEBGPU_UNET_HEADS_PER_SLICE,
      webgpuLayout: WEBGPU_LAYOUT,
    });
    assert.deepEqual(graphVariantFor(["webgpu", "cpu"], { attention: "mha" }).attention.unet, "mha");
    // MultiHeadAttention has no scores tensor to slice
    assert.equal(graphVariantFor(["webgpu"], { attention: "mha" }).unetAttentionHeadsPerSlice, undefined);
  });

  it("WebGPU stores float32 weights for float32 compute (no fp16 → fp32 copies in the wasm heap), the checkpoint's own with f16 shaders", () => {
    assert.equal(graphVariantFor(["webgpu"], {}, { shaderF16: false }).weightStorage, "fp32");
    assert.equal(graphVariantFor(["webgpu"], {}, { shaderF16: true }).weightStorage, "auto");
    assert.equal(graphVariantFor(["webgpu"], { computePrecision: "fp16" }).weightStorage, "auto");
    assert.equal(graphVariantFor(["webgpu"], { weightStorage: "fp16" }).weightStorage, "fp16");
  });

  it("WebGPU states its layout, onnxruntime's own default NHWC; an explicit layout wins; other providers set none", () => {
    // onnxruntime 1.30's WebGPU provider runs NHWC when no preferredLayout is given: the variant
    // says so rather than leaving it to the engine (test/webgpu-networks.test.ts checks both layouts)
    assert.equal(WEBGPU_LAYOUT, "NHWC");
    assert.equal(graphVariantFor(["webgpu"], {}).webgpuLayout, "NHWC");
    assert.equal(graphVariantFor(["webgpu"], {}, { shaderF16: true }).webgpuLayout, "NHWC");
    assert.equal(graphVariantFor(["webgpu", "cpu"], { webgpuLayout: "NCHW" }).webgpuLayout, "NCHW");
    for (const p of ["cpu", "wasm"])
      assert.equal(graphVariantFor([p], { webgpuLayout: "NCHW" }).webgpuLayout, undefined, p);
  });

  it("what the user asked for wins over the provider's choice", () => {
    assert.deepEqual(graphVariantFor(["cpu"], { attention: "matmul", weightStorage: "fp16" }), {
      attention: { textEncoder: "matmul", unet: "matmul", vae: "matmul" },
      weightStorage: "fp16",
      computePrecision: "fp32",
      fusedOps: [],
      normAffine: "batch-normalization",
    });
  });

  it("the CPU's one-pass GroupNorm affine is a UNet and VAE option (and key part) only where the variant has it", () => {
    const cpu = { variant: graphVariantFor(["cpu"], {}) } as NetworkContext;
    assert.deepEqual(normAffineOption(cpu), { normAffine: "batch-normalization" });
    for (const provider of ["webgpu", "wasm"]) {
      assert.deepEqual(
        normAffineOption({ variant: graphVariantFor([provider], {}) } as NetworkContext),
        {},
        provider,
      );
    }
  });
});

describe("a variant's attention per network reaches each network's graph", () => {
  const root = mkdtempSync(join(tmpdir(), "sdlite-variant-"));
  after(() => rmSync(root, { recursive: true, force: true }));

  it("MatMul attention in the text encoder, fused MultiHeadAttention in the UNet (as a WebGPU entry would ask)", async () => {
    const model = loadModel(fixturePath("models/tiny-sd15"));
    if (model.format === "onnx") throw new Error("tiny-sd15 is a diffusers folder");
    const cache = new GraphCache(root);
    const ctx: NetworkContext = {
      target: { runtime: onnxruntimeNode(), session: { intraOpNumThreads: 1 } },
      variant: {
        attention: { textEncoder: "matmul", unet: "mha", vae: "mha" },
        weightStorage: "fp32",
        computePrecision: "fp32",
        fusedOps: [],
      },
      graphs: diskGraphSessions(cache),
      int8WeightBits: int8WeightBitsForThisCpu,
      modelPath: model.path,
    };
    const lora = { fingerprint: "", changed: false };
    const te = buildNetwork(
      NETWORK_FACTORIES.textEncoder,
      {
        kind: "weights",
        weights: { component: model.textEncoder, weights: model.textEncoder.weights, lora },
      },
      ctx,
      { quantization: "none" },
    );
    const unet = buildNetwork(
      NETWORK_FACTORIES.unet,
      { kind: "weights", weights: { component: model.unet, weights: model.unet.weights, lora } },
      ctx,
      {
        deepCacheInterval: 1,
        quantization: "none",
        attentionQuantization: "none",
        tomeRatio: 0,
        todoFactor: 1,
        todoMaxDepth: 1,
        inpainting: false,
      },
    );
    try {
      for (const s of [...te.sessions, ...unet.sessions]) await s.get();
    } finally {
      for (const s of [...te.sessions, ...unet.sessions]) await s.release();
      model.close();
    }
    const fused = (kind: string) => {
      const entry = readdirSync(cache.dir).find((e) => e.startsWith(`${kind}-`));
      assert.ok(entry, `a ${kind} graph was built`);
      return readFileSync(join(cache.dir, entry, "model.onnx")).includes("MultiHeadAttention");
    };
    assert.equal(fused("text_encoder"), false, "text encoder: MatMul attention");
    assert.equal(fused("unet"), true, "UNet: MultiHeadAttention");
  });
});

describe("network registry", () => {
  type Fake = NetworkFactory<{ kind: string }, string, number, string>;
  const ctx = { modelPath: "/models/m" } as NetworkContext;
  const weights = (kind: string) =>
    ({ component: { config: { kind } } }) as unknown as NetworkWeights<{ kind: string }>;
  const special: Fake = {
    name: "special",
    accepts: (c) => c.kind === "special",
    fromWeights: (_s, _c, n) => `special ${n}`,
  };
  const general: Fake = {
    name: "general",
    fromWeights: (_s, _c, n) => `general ${n}`,
    fromOnnx: (onnx, _c, n) => `onnx ${onnx} ${n}`,
  };

  it("builds from weights with the first factory that accepts the config, from ONNX with one that can", () => {
    assert.equal(
      buildNetwork([special, general], { kind: "weights", weights: weights("special") }, ctx, 1),
      "special 1",
    );
    assert.equal(
      buildNetwork([special, general], { kind: "weights", weights: weights("plain") }, ctx, 2),
      "general 2",
    );
    assert.equal(
      buildNetwork([special, general], { kind: "onnx", onnx: "unet.onnx" }, ctx, 3),
      "onnx unet.onnx 3",
    );
  });

  it("names the model when nothing can build the network", () => {
    assert.throws(
      () => buildNetwork([special], { kind: "weights", weights: weights("plain") }, ctx, 0),
      /\/models\/m: no network factory accepts this config/,
    );
    assert.throws(
      () => buildNetwork([special], { kind: "onnx", onnx: "x" }, ctx, 0),
      /\/models\/m: this network cannot come from an ONNX model/,
    );
  });

  it("registers one factory per SD1.x network, the TAESD decoder from weights only", () => {
    assert.deepEqual(
      Object.entries(NETWORK_FACTORIES).map(([role, list]) => [role, list.map((f) => f.name)]),
      [
        ["textEncoder", ["clip-text-encoder"]],
        ["unet", ["unet"]],
        ["vae", ["vae"]],
        ["taesd", ["taesd"]],
      ],
    );
    assert.equal(NETWORK_FACTORIES.taesd[0].fromOnnx, undefined);
  });
});
