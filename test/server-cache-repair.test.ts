/**
 * The server rebuilds a damaged cache entry with one line in its log, like the CLI's note, and
 * answers with the same image as before the damage.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createServer } from "../src/server/create-server.js";
import { fixturePath } from "./helpers/fixtures.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-server-cache-repair-"));
process.env.SDLITE_CACHE = join(work, "cache");
after(() => rmSync(work, { recursive: true, force: true }));

/** A fresh server (a fresh pipeline: graphs are looked up again) making one small image. */
async function generate(): Promise<{ image: string; log: string[] }> {
  const log: string[] = [];
  const app = await createServer({
    model: fixturePath("models/tiny-sd15"),
    modelsDir: join(work, "models"),
    hubCacheDir: false,
    engine: { runtime: { threads: 1 } },
    webDir: false,
    log: (line) => log.push(line),
  });
  try {
    const r = await app.inject({
      method: "POST",
      url: "/sdapi/v1/txt2img",
      payload: { prompt: "a cube", steps: 2, width: 64, height: 64, seed: 9 },
    });
    assert.equal(r.statusCode, 200, r.body);
    return { image: r.json().images[0], log };
  } finally {
    await app.close();
  }
}

describe("server and a damaged cache", () => {
  it("logs one line for the damaged entry, rebuilds it and makes the same image", async () => {
    const first = await generate();
    const optimized = join(work, "cache", "optimized");
    const unet = readdirSync(optimized).find((k) => k.startsWith("unet-"));
    assert.ok(unet, "an optimised UNet was saved");
    const data = join(optimized, unet, "model.onnx.data");
    const bytes = readFileSync(data);
    bytes[bytes.length >> 1] ^= 0x40;
    writeFileSync(data, bytes);

    const second = await generate();
    assert.deepEqual(
      second.log.filter((l) => l.startsWith("cache: ")),
      [
        `cache: optimized/${unet} is damaged (model.onnx.data: content differs from its SHA-256); saving it again`,
      ],
    );
    assert.equal(second.image, first.image, "the same PNG as before the damage");
  });
});
