/**
 * The saved optimised models: a later session loads onnxruntime's optimised dump instead of the
 * plain cached graph, gives the plain session's numbers, and damaged or half-written entries are
 * never trusted. Seen through a Runtime wrapper that records what each session was created from.
 */
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type CacheRepair, ENTRY_FILE, entryDigests } from "../src/cache/cache-entries.js";
import { fileIdentity, GraphCache, graphCacheKey } from "../src/cache/graph-cache.js";
import {
  OPTIMIZED_MODEL_FILE,
  OptimizedModelCache,
  optimizedModelKey,
} from "../src/cache/optimized-model-cache.js";
import { createGraphSession } from "../src/engine/graph-session.js";
import { int8WeightBitsForThisCpu } from "../src/engine/int8-weight-bits.js";
import { buildUNetGraph, UNET_INPUTS, UNET_OUTPUT } from "../src/graph/unet.js";
import { createRandomSource } from "../src/rng/index.js";
import { cpuFeatureFingerprint, onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { ModelSource, Runtime, Session, SessionOptions, TensorData } from "../src/runtime/runtime.js";
import { parseUNetConfig } from "../src/weights/architecture/diffusers-config.js";
import { SafetensorsWeightSource } from "../src/weights/safetensors-weight-source.js";
import { fixturePath } from "./helpers/fixtures.js";

const unetDir = fixturePath("models/tiny-sd15/unet");
const weightsFile = join(unetDir, "diffusion_pytorch_model.safetensors");
const config = parseUNetConfig(JSON.parse(readFileSync(join(unetDir, "config.json"), "utf-8")));

/** Delegates to onnxruntime-node; records each session's model path and options. */
class RecordingRuntime implements Runtime {
  readonly name = "recording";
  private readonly inner = onnxruntimeNode();
  readonly created: { path?: string; options?: SessionOptions }[] = [];

  constructor(private readonly fingerprint?: string) {}

  availableProviders(): string[] {
    return this.inner.availableProviders();
  }

  createSession(model: ModelSource, options?: SessionOptions): Promise<Session> {
    this.created.push({ path: "path" in model ? model.path : undefined, options });
    return this.inner.createSession(model, options);
  }

  optimizedModelFingerprint(options?: SessionOptions): string | undefined {
    const real = this.inner.optimizedModelFingerprint?.(options);
    return real === undefined || this.fingerprint === undefined ? real : `${real}/${this.fingerprint}`;
  }

  optimizedModelLoadOptions(options?: SessionOptions): SessionOptions {
    return this.inner.optimizedModelLoadOptions!(options);
  }
}

function inputs(): Record<string, TensorData> {
  const rng = createRandomSource("cpu", 7);
  const c = config.crossAttentionDim;
  return {
    [UNET_INPUTS.sample]: {
      dims: [2, config.inChannels, 16, 16],
      data: rng.randn([2, config.inChannels, 16, 16]),
    },
    [UNET_INPUTS.timestep]: { dims: [2], data: Float32Array.of(999, 301) },
    [UNET_INPUTS.encoderHiddenStates]: { dims: [2, 77, c], data: rng.randn([2, 77, c]) },
  };
}

async function output(session: Session): Promise<Float32Array> {
  try {
    return (await session.run(inputs(), [UNET_OUTPUT]))[UNET_OUTPUT].data as Float32Array;
  } finally {
    await session.release();
  }
}

describe("saved optimised models", () => {
  const root = mkdtempSync(join(tmpdir(), "sdlite-optimized-"));
  const weights = SafetensorsWeightSource.open(weightsFile);
  after(() => {
    weights.close();
    rmSync(root, { recursive: true, force: true });
  });
  const graphs = new GraphCache(root);
  const optimized = new OptimizedModelCache(root);
  const key = graphCacheKey({ kind: "unet", weights: [fileIdentity(weightsFile)], config, options: {} });
  const build = () => buildUNetGraph(weights, config, { attention: "mha" });
  const open = (runtime: Runtime, saveOptimized?: boolean) =>
    createGraphSession(runtime, build, {
      cache: { cache: graphs, key },
      session: { intraOpNumThreads: 1 },
      saveOptimized,
    });
  const entryKey = () =>
    optimizedModelKey(key, onnxruntimeNode().optimizedModelFingerprint!({ intraOpNumThreads: 1 })!);

  let plain: Float32Array;

  it("the first session saves the optimised model with its weights beside it; a later one loads it unoptimised, with equal outputs", async () => {
    const runtime = new RecordingRuntime();
    plain = await output(await open(runtime, false));
    assert.equal(existsSync(optimized.dir), false, "saveOptimized: false stores nothing");
    process.env.SDLITE_OPTIMIZED_MODELS = "0";
    try {
      await output(await open(runtime));
    } finally {
      delete process.env.SDLITE_OPTIMIZED_MODELS;
    }
    assert.equal(existsSync(optimized.dir), false, "SDLITE_OPTIMIZED_MODELS=0 stores nothing");
    runtime.created.length = 0;

    const first = await output(await open(runtime));
    const saving = runtime.created[0];
    assert.ok(
      saving.options?.optimizedModelFilePath,
      "the first session was asked to save its optimised model",
    );
    assert.equal(saving.options?.graphOptimizationLevel, undefined, "saved at the default level (all)");
    const entry = optimized.lookup(entryKey());
    assert.ok(entry, "a verified entry");
    const files = readdirSync(join(optimized.dir, entryKey())).sort();
    assert.deepEqual(files, ["entry.json", OPTIMIZED_MODEL_FILE, `${OPTIMIZED_MODEL_FILE}.data`]);
    assert.deepEqual(first, plain, "the saving session is the plain one");

    const later = await output(await open(runtime));
    const loading = runtime.created[1];
    assert.equal(loading.path, entry, "loaded from the optimised model");
    assert.equal(loading.options?.graphOptimizationLevel, "disabled");
    assert.equal(loading.options?.optimizedModelFilePath, undefined);
    // the same kernels on the same (already rewritten) graph: bit-identical, not just close
    assert.deepEqual(later, plain);
  });

  it("an entry with a truncated file is ignored and saved again", async () => {
    const entryDir = join(optimized.dir, entryKey());
    truncateSync(join(entryDir, `${OPTIMIZED_MODEL_FILE}.data`), 100);
    assert.equal(optimized.lookup(entryKey()), undefined);
    const runtime = new RecordingRuntime();
    assert.deepEqual(await output(await open(runtime)), plain);
    assert.equal(runtime.created.length, 1);
    assert.ok(runtime.created[0].options?.optimizedModelFilePath, "saved again");
    assert.ok(optimized.lookup(entryKey()));
  });

  it("an entry whose bytes are damaged at the same size is reported and saved again", async () => {
    const modelFile = join(optimized.dir, entryKey(), `${OPTIMIZED_MODEL_FILE}.data`);
    const bytes = readFileSync(modelFile);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    writeFileSync(modelFile, bytes);
    const check = optimized.check(entryKey());
    assert.equal(check.state, "damaged");
    assert.match(check.state === "damaged" ? check.reason : "", /model\.onnx\.data: content differs/);
    const repairs: CacheRepair[] = [];
    const runtime = new RecordingRuntime();
    const listening = new GraphCache(root, { onRepair: (r) => repairs.push(r) });
    const session = await createGraphSession(runtime, build, {
      cache: { cache: listening, key },
      session: { intraOpNumThreads: 1 },
    });
    assert.deepEqual(await output(session), plain);
    assert.deepEqual(
      repairs.map((r) => [r.cache, r.key]),
      [["optimized", entryKey()]],
      "one note for the damaged entry",
    );
    assert.equal(runtime.created.length, 1, "never loaded from the damaged entry");
    assert.ok(runtime.created[0].options?.optimizedModelFilePath, "saved again");
    assert.ok(optimized.lookup(entryKey()));
  });

  it("an entry that passes its checks but fails to load is removed, reported and saved again", async () => {
    // damage the checks cannot see: the manifest re-signed over the broken bytes
    const entryDir = join(optimized.dir, entryKey());
    const modelFile = join(entryDir, OPTIMIZED_MODEL_FILE);
    const bytes = readFileSync(modelFile);
    writeFileSync(modelFile, Buffer.alloc(bytes.length, 0xff));
    const manifest = JSON.parse(readFileSync(join(entryDir, ENTRY_FILE), "utf-8"));
    manifest.digests = entryDigests(entryDir, Object.keys(manifest.files));
    writeFileSync(join(entryDir, ENTRY_FILE), JSON.stringify(manifest));
    assert.ok(optimized.lookup(entryKey()), "the checks pass");
    const repairs: CacheRepair[] = [];
    const runtime = new RecordingRuntime();
    const session = await createGraphSession(runtime, build, {
      cache: { cache: new GraphCache(root, { onRepair: (r) => repairs.push(r) }), key },
      session: { intraOpNumThreads: 1 },
    });
    assert.deepEqual(await output(session), plain);
    assert.equal(runtime.created.length, 2, "one failed load, then the plain graph saving again");
    assert.equal(runtime.created[0].path, modelFile);
    assert.ok(runtime.created[1].options?.optimizedModelFilePath);
    assert.equal(repairs.length, 1);
    assert.match(repairs[0].reason, /^the engine could not load it: /);
    assert.deepEqual(readFileSync(modelFile).length, bytes.length);
    assert.notEqual(readFileSync(modelFile)[0], 0xff, "rewritten");
  });

  it("a half-written entry (no entry.json) or a leftover temporary folder is never loaded", async () => {
    const entryDir = join(optimized.dir, entryKey());
    rmSync(join(entryDir, "entry.json"));
    const leftover = join(optimized.dir, `${entryKey()}.tmp-1-x`);
    mkdirSync(leftover);
    writeFileSync(join(leftover, OPTIMIZED_MODEL_FILE), "partial");
    assert.equal(optimized.lookup(entryKey()), undefined);
    const runtime = new RecordingRuntime();
    assert.deepEqual(await output(await open(runtime)), plain);
    assert.notEqual(runtime.created[0].path, join(entryDir, OPTIMIZED_MODEL_FILE));
    assert.ok(runtime.created[0].options?.optimizedModelFilePath);
    assert.ok(optimized.lookup(entryKey()), "replaced by a complete entry");
    assert.ok(existsSync(leftover), "a fresh temporary folder may be another process's: left alone");
  });

  it("a session that cannot save its optimised model is still created, and nothing is stored", async () => {
    const runtime = new RecordingRuntime("unsavable");
    let calls = 0;
    const failing: Runtime = {
      name: "failing-save",
      availableProviders: () => runtime.availableProviders(),
      createSession: (model, options) => {
        calls++;
        if (options?.optimizedModelFilePath) return Promise.reject(new Error("disk full"));
        return runtime.createSession(model, options);
      },
      optimizedModelFingerprint: (o) => runtime.optimizedModelFingerprint(o),
      optimizedModelLoadOptions: (o) => runtime.optimizedModelLoadOptions(o),
    };
    const before = readdirSync(optimized.dir).length;
    assert.deepEqual(await output(await open(failing)), plain);
    assert.equal(calls, 2);
    assert.equal(readdirSync(optimized.dir).length, before, "no entry and no temporary folder left");
  });

  it("another engine version or CPU fingerprint gets its own entry", async () => {
    const a = new RecordingRuntime("cpu-a");
    const b = new RecordingRuntime("cpu-b");
    await output(await open(a));
    await output(await open(b));
    assert.ok(a.created[0].options?.optimizedModelFilePath, "cpu-a saved its own");
    assert.ok(b.created[0].options?.optimizedModelFilePath, "cpu-b did not reuse cpu-a's");
    const fa = a.optimizedModelFingerprint({ intraOpNumThreads: 1 })!;
    const fb = b.optimizedModelFingerprint({ intraOpNumThreads: 1 })!;
    assert.notEqual(optimizedModelKey(key, fa), optimizedModelKey(key, fb));
    assert.ok(optimized.lookup(optimizedModelKey(key, fa)));
    assert.ok(optimized.lookup(optimizedModelKey(key, fb)));
  });
});

describe("saved optimised models with prepacked weights (the tiny int8 UNet)", () => {
  const root = mkdtempSync(join(tmpdir(), "sdlite-prepacked-"));
  const weights = SafetensorsWeightSource.open(weightsFile);
  after(() => {
    weights.close();
    rmSync(root, { recursive: true, force: true });
  });
  const graphs = new GraphCache(root);
  const optimized = new OptimizedModelCache(root);
  const int8 = { quantization: "int8" as const, int8WeightBits: int8WeightBitsForThisCpu() };
  const key = graphCacheKey({ kind: "unet", weights: [fileIdentity(weightsFile)], config, options: int8 });
  const build = () => buildUNetGraph(weights, config, { attention: "mha", ...int8 });
  const open = (runtime: Runtime, session: SessionOptions, saveOptimized?: boolean) =>
    createGraphSession(runtime, build, { cache: { cache: graphs, key }, session, saveOptimized });
  const plainOptions: SessionOptions = { intraOpNumThreads: 1 };
  const prepackedOptions: SessionOptions = { intraOpNumThreads: 1, savePrepackedWeights: true };
  const entryDir = (options: SessionOptions) =>
    join(optimized.dir, optimizedModelKey(key, onnxruntimeNode().optimizedModelFingerprint!(options)!));
  const dataSize = (options: SessionOptions) =>
    statSync(join(entryDir(options), `${OPTIMIZED_MODEL_FILE}.data`)).size;

  it("keeps the packed weights in their own entry, and a session over it gives the plain session's numbers bit for bit", async () => {
    const runtime = new RecordingRuntime();
    const plain = await output(await open(runtime, plainOptions, false));
    // saved without and with the packed weights, then each loaded by a later session
    const savedPlain = await output(await open(runtime, plainOptions));
    const savedPrepacked = await output(await open(runtime, prepackedOptions));
    assert.equal(
      runtime.created[2].options?.savePrepackedWeights,
      true,
      "the saving session was asked for the packed weights",
    );
    assert.ok(runtime.created[2].options?.optimizedModelFilePath);
    assert.notEqual(entryDir(prepackedOptions), entryDir(plainOptions), "an entry of its own");
    // the packed copies go to the weights file beside the original int8 weights (the int8 MatMuls' B)
    assert.ok(
      dataSize(prepackedOptions) > dataSize(plainOptions),
      `prepacked ${dataSize(prepackedOptions)} B > plain ${dataSize(plainOptions)} B`,
    );
    const loadedPlain = await output(await open(runtime, plainOptions));
    const loadedPrepacked = await output(await open(runtime, prepackedOptions));
    assert.equal(runtime.created[3].path, join(entryDir(plainOptions), OPTIMIZED_MODEL_FILE));
    assert.equal(runtime.created[4].path, join(entryDir(prepackedOptions), OPTIMIZED_MODEL_FILE));
    assert.equal(runtime.created[4].options?.graphOptimizationLevel, "disabled");
    for (const [name, out] of Object.entries({ savedPlain, savedPrepacked, loadedPlain, loadedPrepacked }))
      assert.deepEqual(out, plain, `${name}: bit-identical to the plain session`);
  });
});

describe("onnxruntime-node's optimised-model fingerprint", () => {
  const runtime = onnxruntimeNode();
  const ortVersion = JSON.parse(
    readFileSync(
      join(import.meta.dirname, "..", "node_modules", "onnxruntime-node", "package.json"),
      "utf-8",
    ),
  ).version;

  it("names the onnxruntime version, the CPU's features and the optimisation level", () => {
    const fingerprint = JSON.parse(runtime.optimizedModelFingerprint!()!);
    assert.equal(fingerprint.onnxruntime, ortVersion);
    assert.equal(fingerprint.cpu, cpuFeatureFingerprint());
    assert.equal(fingerprint.level, "all");
    assert.notEqual(
      runtime.optimizedModelFingerprint!({ graphOptimizationLevel: "extended" }),
      runtime.optimizedModelFingerprint!(),
    );
    assert.equal(
      runtime.optimizedModelFingerprint!({ intraOpNumThreads: 1 }),
      runtime.optimizedModelFingerprint!({ intraOpNumThreads: 2 }),
      "threads do not change the optimised graph",
    );
    assert.equal(
      runtime.optimizedModelFingerprint!({ savePrepackedWeights: false }),
      runtime.optimizedModelFingerprint!(),
    );
    assert.notEqual(
      runtime.optimizedModelFingerprint!({ savePrepackedWeights: true }),
      runtime.optimizedModelFingerprint!(),
      "an entry with prepacked weights is never read as one without, nor the other way",
    );
  });

  it("changes with the CPU's feature flags, not with their order", () => {
    const avx512 = "processor : 0\nflags : fpu sse avx avx2 fma avx512f avx512bw\n";
    const reordered = "processor : 0\nflags : avx512bw avx512f fma avx2 avx sse fpu\n";
    const avx2 = "processor : 0\nflags : fpu sse avx avx2 fma\n";
    assert.equal(cpuFeatureFingerprint(avx512), cpuFeatureFingerprint(reordered));
    assert.notEqual(cpuFeatureFingerprint(avx512), cpuFeatureFingerprint(avx2));
  });

  it("declines for non-CPU providers and for sessions that save their own optimised model", () => {
    assert.equal(runtime.optimizedModelFingerprint!({ executionProviders: ["webgpu"] }), undefined);
    assert.equal(runtime.optimizedModelFingerprint!({ optimizedModelFilePath: "/tmp/x.onnx" }), undefined);
  });
});
