/**
 * TAESD's decoder runs without onnxruntime's memory pool (its full-size activations are not held
 * between images), except in low-memory mode, which releases it after each image; the other
 * networks keep theirs. Seen through the options each session is
 * created with; the image is the same either way.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { GraphCache } from "../src/cache/graph-cache.js";
import { openPipeline } from "../src/engine/open-pipeline.js";
import { generate } from "../src/pipeline/generate.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { ModelSource, Runtime, Session, SessionOptions } from "../src/runtime/runtime.js";
import { fixturePath } from "./helpers/fixtures.js";

/**
 * onnxruntime-node, keeping each session's options by its cache entry's kind; `override`, when
 * given, replaces some of them (a session as main created it, for the same-image check).
 */
class OptionsRuntime implements Runtime {
  readonly name = "options";
  private readonly inner = onnxruntimeNode();
  readonly created: { kind: string; options: SessionOptions }[] = [];

  constructor(private readonly override: Partial<SessionOptions> = {}) {}
  readonly optimizedModelFingerprint = (o?: SessionOptions) => this.inner.optimizedModelFingerprint?.(o);
  readonly optimizedModelLoadOptions = (o?: SessionOptions) =>
    this.inner.optimizedModelLoadOptions?.(o) ?? o ?? {};

  availableProviders(): string[] {
    return this.inner.availableProviders();
  }

  createSession(model: ModelSource, options: SessionOptions = {}): Promise<Session> {
    const kind = "path" in model ? basename(dirname(model.path)).replace(/-[0-9a-f]{32}$/, "") : "in-memory";
    this.created.push({ kind, options });
    return this.inner.createSession(model, { ...options, ...this.override });
  }
}

describe("memory pools", () => {
  const root = mkdtempSync(join(tmpdir(), "sdlite-pool-"));
  after(() => rmSync(root, { recursive: true, force: true }));

  it("TAESD's decoder session has no memory pool, the text encoder's and UNet's keep it; same image", async () => {
    const images: Uint8Array[] = [];
    // twice: the first start saves the optimised models, the second loads them
    for (const round of ["cold", "warm"]) {
      const runtime = new OptionsRuntime();
      const pipeline = await openPipeline(fixturePath("models", "tiny-sd15"), {
        taesd: fixturePath("models", "tiny-taesd"),
        speed: { decoder: "taesd" },
        runtime: { backend: runtime, threads: 1, cache: new GraphCache(root) },
      });
      try {
        const [out] = await generate(pipeline.models, {
          prompt: "a cat",
          sampler: "Euler",
          steps: 1,
          guidance: 1,
          seed: 2,
          width: 64,
          height: 64,
        });
        images.push(out.image.data);
      } finally {
        await pipeline.close();
      }
      const byKind = new Map(runtime.created.map((c) => [c.kind, c.options.cpuMemArena]));
      assert.deepEqual(
        Object.fromEntries(byKind),
        { text_encoder: undefined, unet: undefined, taesd_decoder: false },
        `${round}: cpuMemArena per session`,
      );
    }
    assert.deepEqual(images[1], images[0]);
  });

  it("low-memory mode gives TAESD's decoder the memory pool (released after each image); the same image", async () => {
    const images: Uint8Array[] = [];
    for (const lowMemory of [false, true]) {
      const runtime = new OptionsRuntime();
      const pipeline = await openPipeline(fixturePath("models", "tiny-sd15"), {
        taesd: fixturePath("models", "tiny-taesd"),
        speed: { decoder: "taesd" },
        memory: { lowMemory },
        runtime: { backend: runtime, threads: 1, cache: new GraphCache(root) },
      });
      try {
        const request = {
          prompt: "a cat",
          sampler: "Euler",
          steps: 1,
          guidance: 1,
          seed: 2,
          width: 64,
          height: 64,
        };
        images.push((await generate(pipeline.models, request))[0].image.data);
      } finally {
        await pipeline.close();
      }
      const taesd = runtime.created
        .filter((c) => c.kind === "taesd_decoder")
        .map((c) => c.options.cpuMemArena);
      assert.deepEqual(taesd, [lowMemory], `lowMemory ${lowMemory}: TAESD's cpuMemArena`);
    }
    assert.deepEqual(images[1], images[0]);
  });

  it("the UNet's sessions plan no memory pattern and stay loaded between images; the same images", async () => {
    const fast = { unetQuantization: "int8", deepCacheInterval: 3, decoder: "taesd" } as const;
    const run = async (runtime: OptionsRuntime, seeds = [3, 4]) => {
      const pipeline = await openPipeline(fixturePath("models", "tiny-sd15"), {
        taesd: fixturePath("models", "tiny-taesd"),
        speed: fast,
        runtime: { backend: runtime, threads: 1, cache: new GraphCache(root) },
      });
      try {
        // 4 steps: full, shallow, shallow, full; two images, as a server makes them
        const images: Uint8Array[] = [];
        for (const seed of seeds) {
          const [out] = await generate(pipeline.models, {
            prompt: "a red ball",
            sampler: "Euler",
            steps: 4,
            guidance: 1,
            seed,
            width: 64,
            height: 64,
          });
          images.push(out.image.data);
        }
        return images;
      } finally {
        await pipeline.close();
      }
    };
    const engine = new OptionsRuntime();
    const planned = await run(engine);
    const byKind = Object.fromEntries(engine.created.map((c) => [c.kind, c.options.memPattern]));
    assert.deepEqual(
      byKind,
      { text_encoder: undefined, unet: false, unet_shallow: false, taesd_decoder: undefined },
      "memPattern per session",
    );
    // both UNet sessions stay for the next image (freeing DeepCache's shallow branch after each
    // image's UNet stage cost ~1 s per 4-step image: docs/benchmarks.md)
    const kinds = engine.created.map((c) => c.kind);
    assert.equal(kinds.filter((k) => k === "unet").length, 1, "the full UNet's session stays");
    assert.equal(kinds.filter((k) => k === "unet_shallow").length, 1, "the shallow branch's stays");
    // the second image, made by loaded sessions, is the one a fresh pipeline makes first
    const [fresh] = await run(new OptionsRuntime(), [4]);
    assert.deepEqual(planned[1], fresh, "the second image from the loaded sessions");
    // every session with onnxruntime's memory pattern, as before
    const withPattern = await run(new OptionsRuntime({ memPattern: true }));
    assert.equal(planned.length, 2);
    for (const [i, image] of planned.entries()) assert.deepEqual(image, withPattern[i], `image ${i}`);
    assert.notDeepEqual(planned[0], planned[1], "two seeds, two images");
  });
});
