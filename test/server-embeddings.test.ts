/**
 * The server's textual-inversion embeddings and prompt settings: /sdapi/v1/embeddings in A1111's
 * shape (loaded / skipped by the open model's width), refresh-embeddings and files added while it
 * runs, an embedding named in a txt2img prompt (TI hashes in the infotext), refresh-loras, and
 * pad_cond_uncond as an option and an override (`Pad conds: True`).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { createServer } from "../src/server/create-server.js";
import { writeSafetensors } from "../src/weights/formats/safetensors-writer.js";
import { fixturePath } from "./helpers/fixtures.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-server-embeddings-"));
process.env.SDLITE_CACHE = join(work, "cache");
const embeddingsDir = join(work, "embeddings");
const loraDir = join(work, "Lora");
let app: FastifyInstance;

function writeEmbedding(name: string, count: number, width: number) {
  const path = join(embeddingsDir, `${name}.safetensors`);
  const data = Float32Array.from({ length: count * width }, (_, i) => Math.cos(i * 0.3));
  writeSafetensors(path, [{ name: "emb_params", dtype: "F32", shape: [count, width], data }]);
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

before(async () => {
  mkdirSync(embeddingsDir);
  mkdirSync(loraDir);
  writeEmbedding("mystyle", 2, 32);
  writeEmbedding("sd15-style", 1, 768);
  app = await createServer({
    model: fixturePath("models/tiny-sd15"),
    modelsDir: fixturePath("models"),
    hubCacheDir: false,
    embeddingsDir,
    loraDir,
    engine: { runtime: { threads: 1 } },
    webDir: false,
  });
});

after(async () => {
  await app?.close();
  rmSync(work, { recursive: true, force: true });
});

const txt2img = (payload: Record<string, unknown>) =>
  app.inject({
    method: "POST",
    url: "/sdapi/v1/txt2img",
    payload: { sampler_name: "Euler", steps: 2, width: 64, height: 64, seed: 3, cfg_scale: 7, ...payload },
  });

const infotextOf = (response: { json(): { info: string } }) => JSON.parse(response.json().info).infotexts[0];

describe("textual-inversion embeddings over the A1111 API", () => {
  it("lists every embedding as loaded before a model is open, then skips those of another width", async () => {
    const before = (await app.inject({ method: "GET", url: "/sdapi/v1/embeddings" })).json();
    assert.deepEqual(Object.keys(before.loaded), ["mystyle", "sd15-style"]);
    assert.deepEqual(before.skipped, {});

    const run = await txt2img({ prompt: "a photo of mystyle" });
    assert.equal(run.statusCode, 200, run.body);
    const listing = (await app.inject({ method: "GET", url: "/sdapi/v1/embeddings" })).json();
    assert.deepEqual(listing, {
      loaded: {
        mystyle: { step: null, sd_checkpoint: null, sd_checkpoint_name: null, shape: 32, vectors: 2 },
      },
      skipped: {
        "sd15-style": { step: null, sd_checkpoint: null, sd_checkpoint_name: null, shape: 768, vectors: 1 },
      },
    });
  });

  it("an embedding named in the prompt is used and named in the infotext; a new file is found without a restart", async () => {
    const named = await txt2img({ prompt: "a photo of mystyle" });
    const hash = createHash("sha256")
      .update(readFileSync(join(embeddingsDir, "mystyle.safetensors")))
      .digest("hex");
    assert.match(infotextOf(named), new RegExp(`TI hashes: "mystyle: ${hash.slice(0, 12)}"`));
    assert.equal(
      JSON.parse(named.json().info).extra_generation_params["TI hashes"],
      `mystyle: ${hash.slice(0, 12)}`,
    );

    const asText = await txt2img({ prompt: "a photo of newstyle" });
    const newHash = writeEmbedding("newstyle", 1, 32);
    const withNew = await txt2img({ prompt: "a photo of newstyle" });
    assert.notEqual(withNew.json().images[0], asText.json().images[0]);
    assert.match(infotextOf(withNew), new RegExp(`TI hashes: "newstyle: ${newHash.slice(0, 12)}"`));

    const refresh = await app.inject({ method: "POST", url: "/sdapi/v1/refresh-embeddings" });
    assert.equal(refresh.statusCode, 200);
    const listing = (await app.inject({ method: "GET", url: "/sdapi/v1/embeddings" })).json();
    assert.deepEqual(Object.keys(listing.loaded), ["mystyle", "newstyle"]);
  });
});

describe("refresh-loras", () => {
  it("lists a LoRA file added to the folder once asked to rescan", async () => {
    const names = async () =>
      (await app.inject({ method: "GET", url: "/sdapi/v1/loras" }))
        .json()
        .map((l: { name: string }) => l.name);
    assert.deepEqual(await names(), []);
    copyFileSync(fixturePath("lora/tiny-sd15-kohya.safetensors"), join(loraDir, "added.safetensors"));
    assert.deepEqual(await names(), [], "the listing is the last scan's");
    const refresh = await app.inject({ method: "POST", url: "/sdapi/v1/refresh-loras" });
    assert.equal(refresh.statusCode, 200);
    assert.deepEqual(await names(), ["added"]);
  });
});

describe("pad_cond_uncond", () => {
  const long = Array(80).fill("cat").join(" ");

  it("is off by default (A1111's default), settable in /sdapi/v1/options and per request", async () => {
    const options = (await app.inject({ method: "GET", url: "/sdapi/v1/options" })).json();
    assert.equal(options.pad_cond_uncond, false);

    const separate = await txt2img({ prompt: long, negative_prompt: "blurry" });
    const overridden = await txt2img({
      prompt: long,
      negative_prompt: "blurry",
      override_settings: { pad_cond_uncond: true },
    });
    assert.notEqual(separate.json().images[0], overridden.json().images[0]);
    assert.doesNotMatch(infotextOf(separate), /Pad conds/);
    assert.match(infotextOf(overridden), /Pad conds: True/);

    const set = await app.inject({
      method: "POST",
      url: "/sdapi/v1/options",
      payload: { pad_cond_uncond: true },
    });
    assert.equal(set.statusCode, 200, set.body);
    const padded = await txt2img({ prompt: long, negative_prompt: "blurry" });
    assert.equal(padded.json().images[0], overridden.json().images[0]);
    // equal lengths are never padded, so A1111 writes nothing
    assert.doesNotMatch(
      infotextOf(await txt2img({ prompt: "a cat", negative_prompt: "blurry" })),
      /Pad conds/,
    );

    const bad = await app.inject({
      method: "POST",
      url: "/sdapi/v1/options",
      payload: { pad_cond_uncond: "yes" },
    });
    assert.equal(bad.statusCode, 422);
    await app.inject({ method: "POST", url: "/sdapi/v1/options", payload: { pad_cond_uncond: false } });
  });
});
