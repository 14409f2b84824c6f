/**
 * The text encoder's and the int8 UNet's saved optimised models keep onnxruntime's prepacked weights
 * (a warm start maps them instead of packing them again); the float UNet's and TAESD's do not. Seen
 * through the options each session is created with; the image is the same as without saved models.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { GraphCache } from "../src/cache/graph-cache.js";
import { openPipeline } from "../src/engine/open-pipeline.js";
import { generate } from "../src/pipeline/generate.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import { misalignedPrepackedBlobs, prepackedBlobOffsets } from "../src/runtime/prepacked-blob-offsets.js";
import type { ModelSource, Runtime, Session, SessionOptions } from "../src/runtime/runtime.js";
import { fixturePath } from "./helpers/fixtures.js";

/** onnxruntime-node, keeping each session's options and model folder kind. */
class OptionsRuntime implements Runtime {
  readonly name = "options";
  private readonly inner = onnxruntimeNode();
  readonly created: { kind: string; folder: string; options: SessionOptions }[] = [];
  readonly optimizedModelFingerprint = (o?: SessionOptions) => this.inner.optimizedModelFingerprint?.(o);
  readonly optimizedModelLoadOptions = (o?: SessionOptions) =>
    this.inner.optimizedModelLoadOptions?.(o) ?? o ?? {};

  availableProviders(): string[] {
    return this.inner.availableProviders();
  }

  createSession(model: ModelSource, options: SessionOptions = {}): Promise<Session> {
    const folder = "path" in model ? basename(dirname(dirname(model.path))) : "in-memory";
    const kind = "path" in model ? basename(dirname(model.path)).replace(/-[0-9a-f]{32}$/, "") : "in-memory";
    this.created.push({ kind, folder, options });
    return this.inner.createSession(model, options);
  }
}

async function image(root: string, unetQuantization: "none" | "int8", runtime: Runtime): Promise<Uint8Array> {
  const pipeline = await openPipeline(fixturePath("models", "tiny-sd15"), {
    taesd: fixturePath("models", "tiny-taesd"),
    speed: { decoder: "taesd", unetQuantization },
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
    return out.image.data;
  } finally {
    await pipeline.close();
  }
}

describe("saved prepacked weights", () => {
  const root = mkdtempSync(join(tmpdir(), "sdlite-prepacked-"));
  after(() => rmSync(root, { recursive: true, force: true }));

  it("the text encoder and the int8 UNet save theirs, TAESD and the float UNet do not; same image as without saved models", async () => {
    for (const unetQuantization of ["int8", "none"] as const) {
      const images: Uint8Array[] = [];
      // cold: builds and saves the optimised models; warm: loads them (the packed weights mapped)
      for (const round of ["cold", "warm"]) {
        const runtime = new OptionsRuntime();
        images.push(await image(root, unetQuantization, runtime));
        const byKind = Object.fromEntries(
          runtime.created.map((c) => [c.kind, c.options.savePrepackedWeights]),
        );
        assert.deepEqual(
          byKind,
          {
            text_encoder: true,
            unet: unetQuantization === "int8" ? true : undefined,
            taesd_decoder: undefined,
          },
          `${unetQuantization} UNet, ${round}: savePrepackedWeights per session`,
        );
        const unet = runtime.created.find((c) => c.kind === "unet");
        assert.equal(
          unet?.folder,
          round === "cold" ? "graphs" : "optimized",
          `${round}: the UNet's session over`,
        );
      }
      // the same networks with no saved optimised model at all: plain sessions over the graphs
      process.env.SDLITE_OPTIMIZED_MODELS = "0";
      try {
        images.push(await image(root, unetQuantization, new OptionsRuntime()));
      } finally {
        delete process.env.SDLITE_OPTIMIZED_MODELS;
      }
      assert.deepEqual(images[1], images[0], `${unetQuantization}: warm image = cold image`);
      assert.deepEqual(images[2], images[0], `${unetQuantization}: = the image without saved models`);
    }
    // the saved entries say what they hold: prepacked weights only where asked, none misaligned
    const optimized = join(root, "optimized");
    const entries = readdirSync(optimized).map((key) => ({
      kind: key.replace(/-[0-9a-f]{32}$/, ""),
      fingerprint: JSON.parse(
        JSON.parse(readFileSync(join(optimized, key, "entry.json"), "utf-8")).fingerprint,
      ),
      model: readFileSync(join(optimized, key, "model.onnx")),
    }));
    const prepacked = entries.filter((e) => e.fingerprint.prepackedWeights).map((e) => e.kind);
    assert.deepEqual(prepacked.sort(), ["text_encoder", "unet"]);
    for (const e of entries)
      assert.equal(misalignedPrepackedBlobs(e.model), 0, `${e.kind}: no misaligned blob`);
    const unet = entries.find((e) => e.kind === "unet" && e.fingerprint.prepackedWeights);
    assert.ok(prepackedBlobOffsets(unet!.model).length > 0, "the int8 UNet's entry holds its packed weights");
  });
});

describe("prepacked blobs a mapping would leave misaligned", () => {
  const root = mkdtempSync(join(tmpdir(), "sdlite-misaligned-"));
  after(() => rmSync(root, { recursive: true, force: true }));

  it("the tiny text encoder's packed weights, as onnxruntime saves them, include one; sdlite's runtime saves that model without them and its later session runs", async () => {
    const runtime = onnxruntimeNode();
    await (await image(root, "none", runtime)).length;
    const graphs = join(root, "graphs");
    const graph = join(graphs, readdirSync(graphs).find((k) => k.startsWith("text_encoder-"))!, "model.onnx");
    // onnxruntime's own save, without sdlite's check: the premise of the check
    const raw = join(root, "raw", "model.onnx");
    mkdirSync(dirname(raw));
    const session = await runtime.createSession(
      { path: graph },
      {
        intraOpNumThreads: 1,
        optimizedModelFilePath: raw,
        configEntries: { "session.save_external_prepacked_constant_initializers": "1" },
      },
    );
    await session.release();
    assert.ok(prepackedBlobOffsets(readFileSync(raw)).length > 0, "onnxruntime saved packed weights");
    assert.ok(
      misalignedPrepackedBlobs(readFileSync(raw)) > 0,
      "at least one at an offset not a multiple of 64",
    );
    // through savePrepackedWeights: saved again without them
    const checked = join(root, "checked", "model.onnx");
    mkdirSync(dirname(checked));
    await (
      await runtime.createSession(
        { path: graph },
        { intraOpNumThreads: 1, optimizedModelFilePath: checked, savePrepackedWeights: true },
      )
    ).release();
    assert.equal(prepackedBlobOffsets(readFileSync(checked)).length, 0);
    assert.deepEqual(readdirSync(dirname(checked)).sort(), ["model.onnx", "model.onnx.data"]);
  });
});
