/**
 * `sdlite serve` sends the web UI's files (the page, its bundles, onnxruntime-web's wasm under ort/)
 * with the COOP/COEP headers that make the page cross-origin isolated, which the in-tab engine's
 * wasm threads need; the API's answers are left as they were.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createServer } from "../src/server/create-server.js";

describe("web UI files are served cross-origin isolated", () => {
  const work = mkdtempSync(join(tmpdir(), "sdlite-isolation-"));
  after(() => rmSync(work, { recursive: true, force: true }));
  const webDir = join(work, "web");
  mkdirSync(join(webDir, "ort"), { recursive: true });
  writeFileSync(join(webDir, "index.html"), "<!doctype html><title>sdlite</title>");
  writeFileSync(
    join(webDir, "ort", "ort-wasm-simd-threaded.asyncify.wasm"),
    new Uint8Array([0, 97, 115, 109]),
  );

  it("the page and ORT's wasm carry COOP same-origin and COEP require-corp; the health check does not", async () => {
    const app = await createServer({ modelsDir: join(work, "models"), hubCacheDir: false, webDir });
    try {
      for (const url of ["/", "/ort/ort-wasm-simd-threaded.asyncify.wasm"]) {
        const r = await app.inject({ method: "GET", url, headers: { host: "127.0.0.1:7860" } });
        assert.equal(r.statusCode, 200, url);
        assert.equal(r.headers["cross-origin-opener-policy"], "same-origin", url);
        assert.equal(r.headers["cross-origin-embedder-policy"], "require-corp", url);
      }
      const wasm = await app.inject({
        method: "GET",
        url: "/ort/ort-wasm-simd-threaded.asyncify.wasm",
        headers: { host: "127.0.0.1:7860" },
      });
      assert.equal(wasm.headers["content-type"], "application/wasm");
      const health = await app.inject({
        method: "GET",
        url: "/sdlite/v1/health",
        headers: { host: "127.0.0.1:7860" },
      });
      assert.equal(health.statusCode, 200);
      assert.equal(health.headers["cross-origin-embedder-policy"], undefined);
    } finally {
      await app.close();
    }
  });
});
