/**
 * The UNet speed options from EngineOptions to graphs: deepCacheInterval and unetQuantization
 * choose the graphs built, each choice has its own graph-cache entry (and the defaults keep the
 * float UNet's existing one), and values the engine cannot honour are refused up front.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileIdentity, GraphCache, graphCacheKey } from "../src/cache/graph-cache.js";
import { chooseConvAlgorithm } from "../src/engine/conv-algorithm-choice.js";
import type { SpeedOptions } from "../src/engine/engine-options.js";
import { cpuFlags, int8WeightBitsFor } from "../src/engine/int8-weight-bits.js";
import { openPipeline } from "../src/engine/open-pipeline.js";
import { SessionUNet } from "../src/engine/session-networks.js";
import { DeepCacheUNet } from "../src/pipeline/deep-cache.js";
import { generate } from "../src/pipeline/generate.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { ModelSource, Runtime, Session, SessionOptions } from "../src/runtime/runtime.js";
import { loadModel } from "../src/weights/load-model.js";
import { fixturePath } from "./helpers/fixtures.js";

const TINY = fixturePath("models/tiny-sd15");
const root = mkdtempSync(join(tmpdir(), "sdlite-speed-options-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** The UNet graph entries (kind-hash folder names) a txt2img with these options leaves in a fresh cache. */
async function unetEntries(label: string, speed: SpeedOptions): Promise<string[]> {
  const cache = new GraphCache(join(root, label));
  const p = await openPipeline(TINY, { runtime: { cache, threads: 1 }, speed });
  try {
    const request = {
      prompt: "a cat",
      sampler: "Euler",
      steps: 3,
      guidance: 7.5,
      seed: 1,
      width: 64,
      height: 64,
    };
    await generate(p.models, request);
  } finally {
    await p.close();
  }
  return readdirSync(cache.dir)
    .filter((n) => n.startsWith("unet"))
    .sort();
}

describe("speed options → graphs and cache keys (tiny-sd15)", () => {
  it("each option set builds its own UNet graphs; the direct float UNet keeps its key", async () => {
    // direct, as on a machine under 16 GiB: the unset conv algorithm is the next test's
    const plain = await unetEntries("plain", { convAlgorithm: "direct" });
    const none = await unetEntries("none", {
      unetQuantization: "none",
      deepCacheInterval: 1,
      convAlgorithm: "direct",
    });
    const int8 = await unetEntries("int8", { unetQuantization: "int8" });
    const linear = await unetEntries("int8-linear", { unetQuantization: "int8-linear" });
    const cached = await unetEntries("deepcache", { deepCacheInterval: 2 });
    const both = await unetEntries("both", { deepCacheInterval: 3, unetQuantization: "int8" });

    assert.equal(plain.length, 1);
    assert.deepEqual(none, plain, "explicit defaults are the defaults");
    const model = loadModel(TINY);
    try {
      assert.ok(model.format !== "onnx");
      const u = model.unet;
      const floatKey = graphCacheKey({
        kind: "unet",
        weights: u.files.map((f) => fileIdentity(f)),
        config: { config: u.config, loras: "" },
        // the CPU variant's parts only (its one-pass GroupNorm affine since session 11): no speed option's
        options: { attention: "mha", normAffine: "batch-normalization" },
      });
      assert.deepEqual(plain, [floatKey], "the float UNet's key has no speed option parts");
    } finally {
      model.close();
    }
    assert.equal(int8.length, 1);
    assert.equal(linear.length, 1);
    assert.deepEqual(
      cached.map((n) => n.split("-")[0]),
      ["unet", "unet_shallow"],
    );
    assert.deepEqual(
      both.map((n) => n.split("-")[0]),
      ["unet", "unet_shallow"],
    );
    const all = [...plain, ...int8, ...linear, ...cached, ...both];
    assert.equal(new Set(all).size, all.length, `every option set has its own graphs: ${all.join(", ")}`);
  });

  it("unset, the conv algorithm is the engine's choice for this machine; int8 UNets stay direct", async () => {
    const expected = chooseConvAlgorithm(undefined, {
      executionProviders: undefined,
      unetQuantization: "none",
      attentionQuantization: "none",
      precision: undefined,
      totalMemoryBytes: totalmem(),
    });
    const unset = await unetEntries("conv-unset", {});
    const chosen = await unetEntries("conv-chosen", { convAlgorithm: expected.algorithm });
    assert.deepEqual(unset, chosen, `unset builds the ${expected.algorithm} graph (${expected.reason})`);
    const p = await openPipeline(TINY, { runtime: { cache: false } });
    try {
      assert.deepEqual(p.convAlgorithm, expected);
    } finally {
      await p.close();
    }
    const int8Unset = await unetEntries("conv-int8-unset", { unetQuantization: "int8" });
    const int8Direct = await unetEntries("conv-int8-direct", {
      unetQuantization: "int8",
      convAlgorithm: "direct",
    });
    assert.deepEqual(int8Unset, int8Direct, "the int8 UNet's graph does not change with the machine");
    const q = await openPipeline(TINY, { runtime: { cache: false }, speed: { unetQuantization: "int8" } });
    try {
      assert.deepEqual(q.convAlgorithm, { algorithm: "direct", reason: "int8 UNet" });
    } finally {
      await q.close();
    }
  });

  it("Winograd convs build their own UNet graphs; unknown ones are refused", async () => {
    const direct = await unetEntries("conv-direct", { convAlgorithm: "direct" });
    const f2 = await unetEntries("conv-f2", { convAlgorithm: "winograd-f2" });
    const f4 = await unetEntries("conv-f4", { convAlgorithm: "winograd-f4" });
    const f4Shallow = await unetEntries("conv-f4-shallow", { convAlgorithm: "winograd-f4-shallow" });
    const f2Cached = await unetEntries("conv-f2-deepcache", {
      convAlgorithm: "winograd-f2",
      deepCacheInterval: 2,
    });
    assert.equal(direct.length, 1);
    assert.equal(f2.length, 1);
    assert.equal(f4.length, 1);
    assert.equal(f4Shallow.length, 1);
    assert.equal(f2Cached.length, 2);
    const all = [...direct, ...f2, ...f4, ...f4Shallow, ...f2Cached];
    assert.equal(new Set(all).size, all.length, `every conv algorithm has its own graphs: ${all.join(", ")}`);
    await assert.rejects(
      // biome-ignore lint/suspicious/noExplicitAny: a value from untyped input (CLI, JSON)
      openPipeline(TINY, { runtime: { cache: false }, speed: { convAlgorithm: "fft" as any } }),
      /unknown conv algorithm "fft"/,
    );
  });

  it("the engine wraps the UNet in DeepCache only for an interval above 1", async () => {
    for (const [interval, kind] of [
      [undefined, SessionUNet],
      [1, SessionUNet],
      [3, DeepCacheUNet],
    ] as const) {
      const p = await openPipeline(TINY, {
        runtime: { cache: false, threads: 1 },
        speed: { deepCacheInterval: interval },
      });
      try {
        assert.ok(p.models.unet instanceof kind, `interval ${interval}: ${p.models.unet.constructor.name}`);
      } finally {
        await p.close();
      }
    }
  });

  it("refuses intervals below 1 or fractional, unknown quantizations, and both options on ONNX folders", async () => {
    await assert.rejects(
      openPipeline(TINY, { runtime: { cache: false }, speed: { deepCacheInterval: 0 } }),
      /DeepCache interval/,
    );
    await assert.rejects(
      openPipeline(TINY, { runtime: { cache: false }, speed: { deepCacheInterval: 2.5 } }),
      /DeepCache interval/,
    );
    await assert.rejects(
      // biome-ignore lint/suspicious/noExplicitAny: a value from untyped input (CLI, JSON)
      openPipeline(TINY, { runtime: { cache: false }, speed: { unetQuantization: "int4" as any } }),
      /unknown UNet quantization "int4"/,
    );
    const onnx = fixturePath("models/tiny-sd15-onnx");
    await assert.rejects(
      openPipeline(onnx, { runtime: { cache: false }, speed: { deepCacheInterval: 2 } }),
      /ONNX pipeline folder/,
    );
    await assert.rejects(
      openPipeline(onnx, { runtime: { cache: false }, speed: { unetQuantization: "int8" } }),
      /ONNX pipeline folder/,
    );
  });

  it("low-memory mode releases both DeepCache sessions after the UNet stage", async () => {
    const inner = onnxruntimeNode();
    const live = new Set<string>();
    let created = 0;
    const runtime: Runtime = {
      name: "counting",
      availableProviders: () => inner.availableProviders(),
      async createSession(model: ModelSource, options?: SessionOptions): Promise<Session> {
        const session = await inner.createSession(model, options);
        const id = `${created++}:${session.inputNames.join(",")}`;
        live.add(id);
        return {
          inputNames: session.inputNames,
          outputNames: session.outputNames,
          run: (feeds, names) => session.run(feeds, names),
          release: async () => {
            live.delete(id);
            await session.release();
          },
        };
      },
    };
    const p = await openPipeline(TINY, {
      runtime: { cache: false, threads: 1, backend: runtime },
      memory: { lowMemory: true },
      speed: { deepCacheInterval: 2 },
    });
    try {
      const request = {
        prompt: "a cat",
        sampler: "Euler",
        steps: 3,
        guidance: 7.5,
        seed: 1,
        width: 64,
        height: 64,
      };
      await generate(p.models, request);
      // text encoder, full UNet, shallow UNet (it takes deep_feature), VAE decoder
      assert.equal(created, 4);
      assert.deepEqual([...live], [], "sessions still loaded after the run");
    } finally {
      await p.close();
    }
  });

  it("int8 weight width per CPU: 7 bits on x86 without VNNI/AMX (vpmaddubsw saturates), else 8", () => {
    const cpuinfo = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\nbugs\t\t: none\n";
    assert.deepEqual(cpuFlags(cpuinfo), ["fpu", "sse2", "avx", "avx2", "fma"]);
    assert.equal(int8WeightBitsFor("x64", cpuFlags(cpuinfo)), 7);
    assert.equal(int8WeightBitsFor("x64", ["avx2", "avx512f", "avx512bw"]), 7);
    assert.equal(int8WeightBitsFor("x64", ["avx2", "avx_vnni"]), 8);
    assert.equal(int8WeightBitsFor("x64", ["avx512f", "avx512_vnni"]), 8);
    assert.equal(int8WeightBitsFor("x64", []), 7, "unknown x86: the safe width");
    assert.equal(int8WeightBitsFor("arm64", []), 8);
  });
});
