/**
 * TAESD's decoder runs without onnxruntime's memory pool (its full-size activations are not held
 * between images); the other networks keep theirs. Seen through the options each session is
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

/** onnxruntime-node, keeping each session's options by its cache entry's kind. */
class OptionsRuntime implements Runtime {
  readonly name = "options";
  private readonly inner = onnxruntimeNode();
  readonly created: { kind: string; options: SessionOptions }[] = [];
  readonly optimizedModelFingerprint = (o?: SessionOptions) => this.inner.optimizedModelFingerprint?.(o);
  readonly optimizedModelLoadOptions = (o?: SessionOptions) =>
    this.inner.optimizedModelLoadOptions?.(o) ?? o ?? {};

  availableProviders(): string[] {
    return this.inner.availableProviders();
  }

  createSession(model: ModelSource, options: SessionOptions = {}): Promise<Session> {
    const kind = "path" in model ? basename(dirname(model.path)).replace(/-[0-9a-f]{32}$/, "") : "in-memory";
    this.created.push({ kind, options });
    return this.inner.createSession(model, options);
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
});
