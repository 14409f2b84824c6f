/**
 * The checkpoint list behind /sdapi/v1/sd-models (A1111 names, titles with hashes, lookups) and
 * the pool that keeps at most a few opened pipelines.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, describe, it } from "node:test";
import type { OpenedPipeline } from "../src/engine/open-pipeline.js";
import type { PipelineSpec } from "../src/pipeline/job-engine.js";
import { GENERIC_DEFAULTS, SD_TURBO_DEFAULTS } from "../src/pipeline/model-defaults.js";
import { ModelCatalog } from "../src/server/model-catalog.js";
import { PipelinePool } from "../src/server/pipeline-pool.js";
import { fixturePath } from "./helpers/fixtures.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-server-catalog-"));
after(() => rmSync(work, { recursive: true, force: true }));

const COMMIT = "0123456789abcdef0123456789abcdef01234567";

/** A Hugging Face cache holding one SD1.5 pipeline snapshot (configs only: listing reads no weights). */
function fakeHubCache(root: string): string {
  const repo = join(root, "models--someone--tiny-sd");
  const snapshot = join(repo, "snapshots", COMMIT);
  mkdirSync(join(snapshot, "unet"), { recursive: true });
  mkdirSync(join(repo, "refs"), { recursive: true });
  writeFileSync(join(repo, "refs", "main"), COMMIT);
  writeFileSync(
    join(snapshot, "model_index.json"),
    JSON.stringify({ _class_name: "StableDiffusionPipeline" }),
  );
  copyFileSync(fixturePath("models/tiny-sd15/unet/config.json"), join(snapshot, "unet", "config.json"));
  return snapshot;
}

describe("ModelCatalog", () => {
  const modelsDir = join(work, "models");
  mkdirSync(join(modelsDir, "sd15"), { recursive: true });
  const checkpoint = join(modelsDir, "sd15", "tiny.safetensors");
  copyFileSync(fixturePath("single_file/tiny-sd15-fp16.safetensors"), checkpoint);
  const snapshot = fakeHubCache(join(work, "hub"));
  const catalog = new ModelCatalog({
    defaultModel: fixturePath("models/tiny-sd15"),
    modelsDir,
    hubCacheDir: join(work, "hub"),
  });

  it("lists -m first, then the models folder and the hub cache, with A1111's names", () => {
    assert.deepEqual(
      catalog.list().map((e) => [e.name, e.modelName, e.source]),
      [
        ["tiny-sd15", "tiny-sd15", "argument"],
        ["sd15/tiny.safetensors", "sd15_tiny", "models-dir"],
        ["someone/tiny-sd", "someone_tiny-sd", "hub-cache"],
      ],
    );
    assert.equal(catalog.list()[2].path, snapshot);
    assert.equal(catalog.defaultEntry()?.name, "tiny-sd15");
  });

  it("lists a model once however it is reached: -m through a symlink or a relative path, a relative hub cache", () => {
    const linked = join(work, "linked-models");
    symlinkSync(modelsDir, linked);
    const relativeHub = relative(process.cwd(), join(work, "hub"));
    for (const defaultModel of [
      join(linked, "sd15", "tiny.safetensors"),
      relative(process.cwd(), checkpoint),
      join(relativeHub, "models--someone--tiny-sd", "snapshots", COMMIT),
    ]) {
      const seen = new ModelCatalog({ defaultModel, modelsDir: linked, hubCacheDir: relativeHub });
      assert.deepEqual(
        seen
          .list()
          .map((e) => e.name)
          .sort(),
        ["sd15/tiny.safetensors", "someone/tiny-sd"],
        `-m ${defaultModel}`,
      );
    }
  });

  it("lists SD 2.x checkpoints with their own defaults (SD-Turbo: Euler, 1 step, no CFG)", () => {
    const sd2Dir = join(work, "sd2-models");
    mkdirSync(sd2Dir, { recursive: true });
    const turbo = join(sd2Dir, "tiny-sd-turbo.safetensors");
    copyFileSync(fixturePath("sd2/single_file/tiny-sd2-fp16.safetensors"), turbo);
    writeFileSync(
      `${turbo}.sdlite.json`,
      JSON.stringify({
        unet: { normNumGroups: 4, headChannels: 4 },
        vae: { normNumGroups: 4 },
        textEncoder: { numAttentionHeads: 4 },
      }),
    );
    const sd2 = new ModelCatalog({ modelsDir: sd2Dir });
    const entry = sd2.list().find((e) => e.name === "tiny-sd-turbo.safetensors");
    assert.ok(entry, "an SD 2.x single file is listed");
    assert.deepEqual(sd2.defaults(entry), SD_TURBO_DEFAULTS);
    assert.deepEqual(catalog.defaults(catalog.list()[1]), GENERIC_DEFAULTS, "SD1.5: A1111's defaults");
  });

  it("hashes single files once loaded: title 'name [shorthash]', found by title, hash or name", async () => {
    const entry = catalog.list()[1];
    assert.equal(catalog.title(entry), "sd15/tiny.safetensors", "no hash before it is computed");
    const expected = createHash("sha256").update(readFileSync(checkpoint)).digest("hex");
    assert.equal(await catalog.ensureHash(entry), expected);
    assert.equal(catalog.title(entry), `sd15/tiny.safetensors [${expected.slice(0, 10)}]`);
    for (const query of [
      catalog.title(entry),
      expected.slice(0, 10),
      expected,
      "sd15_tiny",
      "sd15/tiny.safetensors",
    ]) {
      assert.equal(catalog.find(query), entry, query);
    }
    assert.equal(await catalog.ensureHash(catalog.list()[0]), undefined, "folders have no hash");
    assert.equal(catalog.find("someone/tiny"), catalog.list()[2], "a title containing the text");
    assert.equal(catalog.find("tiny-sd"), catalog.list()[0], "the shortest title containing the text");
    assert.equal(catalog.find("nothing like it"), undefined);
  });
});

describe("PipelinePool", () => {
  /** The pipeline spec of a model and LoRA set (the server's engine settings: none). */
  function spec(path: string, loras: readonly { path: string; weight: number }[] = []): PipelineSpec {
    return { model: { path }, loras: loras.map((l) => ({ ...l, name: l.path, inPrompt: true })), engine: {} };
  }

  function fakeOpener(log: string[]) {
    return async ({ model: { path }, loras }: PipelineSpec) => {
      const name = `${path}${loras.map((l) => `+${l.path}:${l.weight}`).join("")}`;
      log.push(`open ${name}`);
      return { close: async () => void log.push(`close ${name}`) } as unknown as OpenedPipeline;
    };
  }

  it("reuses a pipeline per (model, LoRA set) and closes the least recently used before opening another", async () => {
    const log: string[] = [];
    const pool = new PipelinePool(fakeOpener(log), 2);
    const a = await pool.acquire(spec("A"));
    const al = await pool.acquire(
      spec("A", [
        { path: "x", weight: 0.5 },
        { path: "y", weight: 1 },
      ]),
    );
    assert.equal(await pool.acquire(spec("A")), a, "same model, no LoRA: reused");
    assert.equal(
      await pool.acquire(
        spec("A", [
          { path: "y", weight: 1 },
          { path: "x", weight: 0.5 },
        ]),
      ),
      al,
      "the order of LoRAs does not matter",
    );
    await pool.acquire(spec("B")); // A (used before A+x+y) is the least recently used
    assert.deepEqual(log, ["open A", "open A+x:0.5+y:1", "close A", "open B"]);
    assert.equal(pool.size, 2);
    await pool.closeAll();
    assert.deepEqual(log.slice(4).sort(), ["close A+x:0.5+y:1", "close B"]);
    assert.equal(pool.size, 0);
  });
});
