/**
 * Authentication (API key, HTTP basic), the health check that needs none, CORS only for the
 * configured origins, the docs page and the web UI folder.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { createServer } from "../src/server/create-server.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-server-auth-"));
process.env.SDLITE_CACHE = join(work, "cache");
const servers: FastifyInstance[] = [];

after(async () => {
  for (const s of servers) await s.close();
  rmSync(work, { recursive: true, force: true });
});

/** No model: these endpoints never generate. */
async function server(options: Parameters<typeof createServer>[0]) {
  const app = await createServer({
    modelsDir: join(work, "models"),
    hubCacheDir: false,
    webDir: false,
    ...options,
  });
  servers.push(app);
  return app;
}

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("authentication", () => {
  it("--api-key: 401 without it, 200 with Bearer or X-API-Key; health and web UI files need none", async () => {
    const app = await server({ apiKey: "s3cret" });
    for (const url of [
      "/sdapi/v1/samplers",
      "/docs",
      "/openapi.json",
      "/sdlite/v1/jobs/x",
      "/sdapi/v1/main.js",
      "/docs/static/index.js",
    ]) {
      const r = await app.inject({ method: "GET", url });
      assert.equal(r.statusCode, 401, `${url} without a key`);
      assert.equal(r.json().detail.includes("authentication required"), true);
    }
    for (const method of ["POST", "DELETE"] as const) {
      const r = await app.inject({ method, url: "/" });
      assert.equal(r.statusCode, 401, `${method} / without a key`);
    }
    // the page itself loads without the key (a browser cannot send one with a page load) and asks for it
    const page = await app.inject({ method: "GET", url: "/?x=1" });
    assert.equal(page.statusCode, 200, "the web UI page without a key");
    assert.notEqual((await app.inject({ method: "GET", url: "/main.js" })).statusCode, 401);
    const wrong = await app.inject({
      method: "GET",
      url: "/sdapi/v1/samplers",
      headers: { authorization: "Bearer nope" },
    });
    assert.equal(wrong.statusCode, 401);
    const bearer = await app.inject({
      method: "GET",
      url: "/sdapi/v1/samplers",
      headers: { authorization: "Bearer s3cret" },
    });
    assert.equal(bearer.statusCode, 200);
    const header = await app.inject({
      method: "GET",
      url: "/sdapi/v1/options",
      headers: { "x-api-key": "s3cret" },
    });
    assert.equal(header.statusCode, 200);
    const docs = await app.inject({ method: "GET", url: "/docs", headers: { "x-api-key": "s3cret" } });
    assert.ok([200, 302].includes(docs.statusCode), `docs: ${docs.statusCode}`);
    const health = await app.inject({ method: "GET", url: "/sdlite/v1/health" });
    assert.equal(health.statusCode, 200, "the health check needs no credentials");
    assert.deepEqual(health.json(), { status: "ok" });
  });

  it("--api-auth: HTTP basic with a challenge; several users", async () => {
    const app = await server({ apiAuth: "alice:pa:ss,bob:hunter2" });
    const none = await app.inject({ method: "GET", url: "/sdapi/v1/sd-models" });
    assert.equal(none.statusCode, 401);
    assert.match(String(none.headers["www-authenticate"]), /^Basic realm="sdlite"/);
    const alice = await app.inject({
      method: "GET",
      url: "/sdapi/v1/sd-models",
      headers: { authorization: basic("alice", "pa:ss") },
    });
    assert.equal(alice.statusCode, 200, "a password may contain ':'");
    const bob = await app.inject({
      method: "GET",
      url: "/sdapi/v1/memory",
      headers: { authorization: basic("bob", "hunter2") },
    });
    assert.equal(bob.statusCode, 200);
    const wrong = await app.inject({
      method: "GET",
      url: "/sdapi/v1/memory",
      headers: { authorization: basic("bob", "pa:ss") },
    });
    assert.equal(wrong.statusCode, 401);
  });

  it("--api-key with --api-auth: the web UI page needs the basic credentials too (the browser asks)", async () => {
    const app = await server({ apiKey: "k", apiAuth: "alice:pw" });
    const page = await app.inject({ method: "GET", url: "/" });
    assert.equal(page.statusCode, 401);
    assert.match(String(page.headers["www-authenticate"]), /^Basic/);
    const withBasic = await app.inject({
      method: "GET",
      url: "/",
      headers: { authorization: basic("alice", "pw") },
    });
    assert.equal(withBasic.statusCode, 200);
  });

  it("without credentials configured, everything is open", async () => {
    const app = await server({});
    assert.equal((await app.inject({ method: "GET", url: "/sdapi/v1/samplers" })).statusCode, 200);
  });

  it("a generation request without a model is refused clearly, and the server keeps serving", async () => {
    const app = await server({});
    const r = await app.inject({
      method: "POST",
      url: "/sdapi/v1/txt2img",
      payload: { prompt: "cat", steps: 1, width: 64, height: 64 },
    });
    assert.equal(r.statusCode, 503, r.body);
    assert.match(r.json().detail, /no model is loaded/);
    assert.equal((await app.inject({ method: "GET", url: "/sdapi/v1/progress" })).statusCode, 200);
  });
});

describe("CORS", () => {
  it("answers only the configured origins, preflights included (without credentials)", async () => {
    const app = await server({ corsOrigins: ["https://app.example"], apiKey: "k" });
    const allowed = await app.inject({
      method: "GET",
      url: "/sdapi/v1/samplers",
      headers: { origin: "https://app.example", "x-api-key": "k" },
    });
    assert.equal(allowed.headers["access-control-allow-origin"], "https://app.example");
    const other = await app.inject({
      method: "GET",
      url: "/sdapi/v1/samplers",
      headers: { origin: "https://evil.example", "x-api-key": "k" },
    });
    assert.equal(other.headers["access-control-allow-origin"], undefined);
    const preflight = await app.inject({
      method: "OPTIONS",
      url: "/sdapi/v1/txt2img",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,authorization",
      },
    });
    assert.ok(preflight.statusCode < 300, `preflight: ${preflight.statusCode}`);
    assert.equal(preflight.headers["access-control-allow-origin"], "https://app.example");
    assert.match(String(preflight.headers["access-control-allow-methods"]), /POST/);
  });

  it("sends no CORS headers at all when no origin is configured", async () => {
    const app = await server({});
    const r = await app.inject({
      method: "GET",
      url: "/sdapi/v1/samplers",
      headers: { origin: "https://app.example" },
    });
    assert.equal(r.headers["access-control-allow-origin"], undefined);
  });
});

describe("web UI and docs", () => {
  it("serves the web UI folder at / when it exists, else a placeholder linking the docs", async () => {
    const webDir = join(work, "web");
    mkdirSync(webDir);
    writeFileSync(join(webDir, "index.html"), "<!doctype html><title>sdlite ui</title>");
    writeFileSync(join(webDir, "app.js"), "console.log('ui')");
    const withUi = await server({ webDir });
    const index = await withUi.inject({ method: "GET", url: "/" });
    assert.equal(index.statusCode, 200);
    assert.match(index.body, /sdlite ui/);
    const script = await withUi.inject({ method: "GET", url: "/app.js" });
    assert.equal(script.statusCode, 200);
    assert.match(String(script.headers["content-type"]), /javascript/);
    const api = await withUi.inject({ method: "GET", url: "/sdapi/v1/schedulers" });
    assert.equal(api.statusCode, 200, "the API routes win over the static folder");

    const placeholder = await (await server({ webDir: join(work, "missing") })).inject({
      method: "GET",
      url: "/",
    });
    assert.equal(placeholder.statusCode, 200);
    assert.match(placeholder.body, /API documentation/);
  });

  it("publishes an OpenAPI document with the A1111 and job endpoints, and serves swagger-ui's own assets", async () => {
    const app = await server({});
    const spec = (await app.inject({ method: "GET", url: "/openapi.json" })).json();
    for (const path of [
      "/sdapi/v1/txt2img",
      "/sdapi/v1/img2img",
      "/sdapi/v1/progress",
      "/sdlite/v1/jobs",
      "/sdlite/v1/jobs/{id}/events",
    ]) {
      assert.ok(spec.paths[path], `${path} documented`);
    }
    assert.ok(spec.paths["/sdapi/v1/txt2img"].post.requestBody, "txt2img documents its body");
    const page = await app.inject({ method: "GET", url: "/docs/" });
    assert.equal(page.statusCode, 200);
    const scripts = [...page.body.matchAll(/src="([^"]+)"/g)].map((m) => m[1]);
    assert.ok(scripts.length > 0);
    for (const src of scripts) {
      assert.ok(!/^https?:/.test(src), `${src} is served locally, not from a CDN`);
      const asset = await app.inject({ method: "GET", url: new URL(src, "http://x/docs/").pathname });
      assert.equal(asset.statusCode, 200, `${src}`);
    }
  });
});
