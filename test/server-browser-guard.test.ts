/**
 * Web pages cannot drive the server through the user's browser: a Host header that is not one of
 * the server's names is refused (DNS rebinding), so is a state-changing request from another
 * site's page unless its origin was given for CORS; the server's own pages and programs (no
 * Origin) work as before.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { parseHostHeader } from "../src/server/browser-guard.js";
import { createServer } from "../src/server/create-server.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-browser-guard-"));
process.env.SDLITE_CACHE = join(work, "cache");
const servers: FastifyInstance[] = [];

after(async () => {
  for (const s of servers) await s.close();
  rmSync(work, { recursive: true, force: true });
});

/** No model: nothing here generates. */
async function server(options: Parameters<typeof createServer>[0] = {}) {
  const app = await createServer({ modelsDir: join(work, "models"), hubCacheDir: false, ...options });
  servers.push(app);
  return app;
}

const CLIP_SKIP = "CLIP_stop_at_last_layers";

/** POSTs a Clip skip change; returns the status and the Clip skip the server has afterwards. */
async function setClipSkip(app: FastifyInstance, value: number, headers: Record<string, string>) {
  const r = await app.inject({
    method: "POST",
    url: "/sdapi/v1/options",
    headers: { host: "127.0.0.1:7860", "content-type": "application/json", ...headers },
    payload: JSON.stringify({ [CLIP_SKIP]: value }),
  });
  const now = await app.inject({
    method: "GET",
    url: "/sdapi/v1/options",
    headers: { host: "127.0.0.1:7860" },
  });
  return {
    status: r.statusCode,
    detail: r.json()?.detail as string | undefined,
    clipSkip: now.json()[CLIP_SKIP],
  };
}

describe("Host header (DNS rebinding)", () => {
  it("refuses a name the server does not answer to, on the API and the web UI alike", async () => {
    const app = await server();
    for (const url of ["/", "/sdapi/v1/samplers", "/sdapi/v1/progress", "/sdlite/v1/health"]) {
      const r = await app.inject({ method: "GET", url, headers: { host: "attacker.example:7860" } });
      assert.equal(r.statusCode, 403, `${url} with a foreign Host`);
      assert.match(r.json().detail, /Host "attacker\.example:7860" is not a name this server answers to/);
      assert.match(r.json().detail, /--allowed-host attacker\.example/);
    }
    const posted = await setClipSkip(app, 2, { host: "attacker.example:7860" });
    assert.equal(posted.status, 403);
    assert.equal(posted.clipSkip, 1, "the refused request changed nothing");
  });

  it("answers IP addresses, localhost, this machine's name, the listen name and the allowed hosts", async () => {
    const app = await server({
      listenHost: "studio.lan",
      allowedHosts: ["sdlite.internal", ".home.example"],
    });
    const names = [
      "127.0.0.1:7860",
      "192.168.1.20:7860",
      "[::1]:7860",
      "localhost:7860",
      "LOCALHOST.:7860",
      "app.localhost",
      hostname(),
      `${hostname()}.local:7860`,
      "studio.lan:7860",
      "sdlite.internal",
      "gpu.home.example:7860",
      "home.example",
    ];
    for (const host of names) {
      const r = await app.inject({ method: "GET", url: "/sdapi/v1/samplers", headers: { host } });
      assert.equal(r.statusCode, 200, `Host ${host}`);
    }
    for (const host of ["other.lan", "evilhome.example", "sdlite.internal.attacker.example"]) {
      const r = await app.inject({ method: "GET", url: "/sdapi/v1/samplers", headers: { host } });
      assert.equal(r.statusCode, 403, `Host ${host}`);
    }
    const any = await server({ allowedHosts: ["*"] });
    const r = await any.inject({
      method: "GET",
      url: "/sdapi/v1/samplers",
      headers: { host: "whatever.example" },
    });
    assert.equal(r.statusCode, 200, "--allowed-host '*' turns the check off");
  });

  it("reads Host headers as browsers send them", () => {
    assert.deepEqual(parseHostHeader("Example.COM:8080"), { name: "example.com", port: "8080" });
    assert.deepEqual(parseHostHeader("[::1]:7860"), { name: "::1", port: "7860" });
    assert.deepEqual(parseHostHeader("localhost."), { name: "localhost" });
  });
});

describe("cross-origin requests", () => {
  it("refuses another site's POST without CORS for it, and it changes nothing", async () => {
    const app = await server();
    for (const origin of ["https://evil.example", "http://127.0.0.1:3000", "null"]) {
      const r = await setClipSkip(app, 2, { origin });
      assert.equal(r.status, 403, `Origin ${origin}`);
      assert.match(
        r.detail ?? "",
        new RegExp(`cross-origin POST from ${origin.replace(/[.]/g, "\\.")} refused`),
      );
      assert.equal(r.clipSkip, 1, `Origin ${origin}: unchanged`);
    }
    const interrupt = await app.inject({
      method: "POST",
      url: "/sdapi/v1/interrupt",
      headers: { host: "localhost:7860", origin: "https://evil.example" },
    });
    assert.equal(interrupt.statusCode, 403);
    const noOrigin = await setClipSkip(app, 2, { "sec-fetch-site": "cross-site" });
    assert.equal(noOrigin.status, 403, "a browser's cross-site request without Origin");
  });

  it("lets the server's own pages, programs without Origin and configured CORS origins through", async () => {
    const app = await server();
    const own = await setClipSkip(app, 2, {
      origin: "http://127.0.0.1:7860",
      "sec-fetch-site": "same-origin",
    });
    assert.deepEqual([own.status, own.clipSkip], [200, 2], "same origin (the web UI)");
    const proxied = await setClipSkip(app, 3, { host: "studio.lan", origin: "https://studio.lan" });
    assert.equal(proxied.status, 403, "studio.lan is not an allowed host");
    const program = await setClipSkip(app, 3, {});
    assert.deepEqual([program.status, program.clipSkip], [200, 3], "a program sends no Origin");

    const withCors = await server({ corsOrigins: ["https://app.example"], listenHost: "studio.lan" });
    const allowed = await setClipSkip(withCors, 2, { origin: "https://app.example" });
    assert.deepEqual([allowed.status, allowed.clipSkip], [200, 2], "a configured CORS origin");
    const other = await setClipSkip(withCors, 3, { origin: "https://evil.example" });
    assert.deepEqual([other.status, other.clipSkip], [403, 2], "any other origin still refused");
    const tls = await setClipSkip(withCors, 4, { host: "studio.lan", origin: "https://studio.lan" });
    assert.deepEqual([tls.status, tls.clipSkip], [200, 4], "same origin behind a TLS proxy");
  });
});
