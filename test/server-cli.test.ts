/** `sdlite serve` as a process: listens, serves, and exits 0 on SIGTERM. */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { isLoopbackHost, serveEngineOptions } from "../src/cli/commands/serve.js";
import { fixturePath } from "./helpers/fixtures.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const main = join(repoRoot, "src", "cli", "main.ts");
const work = mkdtempSync(join(tmpdir(), "sdlite-server-cli-"));
const env = {
  ...process.env,
  SDLITE_CACHE: join(work, "cache"),
  SDLITE_MODELS: join(work, "models"),
  HF_HUB_CACHE: join(work, "hub"),
  HF_HUB_OFFLINE: "1",
};

after(() => rmSync(work, { recursive: true, force: true }));

/** `sdlite serve ARGS` as a child; `listening` resolves with the address once it says so. */
function startServe(args: string[]) {
  const child = spawn(process.execPath, ["--import", "tsx", main, "serve", ...args], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stderr: "" };
  child.stderr.on("data", (chunk) => {
    out.stderr += chunk;
  });
  const exited = new Promise<number | null>((resolveExit) => child.on("exit", (code) => resolveExit(code)));
  const listening = new Promise<{ url: string; port: string }>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "serving on" line; stderr:\n${out.stderr}`)), 20_000);
    child.stderr.on("data", () => {
      const m = /serving on (http:\/\/[\d.]+:(\d+))/.exec(out.stderr);
      if (m) {
        clearTimeout(timer);
        resolveUrl({ url: m[1], port: m[2] });
      }
    });
    child.on("exit", (code) => reject(new Error(`exited with ${code} before listening:\n${out.stderr}`)));
  });
  return { child, out, exited, listening };
}

describe("sdlite serve", () => {
  it("serves the API, then on SIGTERM finishes and exits 0", async () => {
    const { child, out, exited, listening } = startServe([
      "-m",
      fixturePath("models/tiny-sd15"),
      "--port",
      "0",
      "--threads",
      "1",
    ]);
    try {
      const { url } = await listening;
      assert.match(url, /^http:\/\/127\.0\.0\.1:/);
      const health = await fetch(`${url}/sdlite/v1/health`);
      assert.equal(health.status, 200);
      const r = await fetch(`${url}/sdapi/v1/txt2img`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt: "a cat", steps: 2, width: 64, height: 64, seed: 3 }),
      });
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(((await r.json()) as { info: string }).info).seed, 3);
      assert.doesNotMatch(out.stderr, /warning/, "no warning on loopback");
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0, `exit code; stderr:\n${out.stderr}`);
    assert.match(out.stderr, /SIGTERM: finishing the running job/);
  });

  it("refuses --api-key together with --api-auth", () => {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", main, "serve", "--api-key", "k", "--api-auth", "u:p"],
      {
        cwd: repoRoot,
        env,
        encoding: "utf-8",
      },
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /choose one of --api-key and --api-auth/);
  });

  it("decodes with TAESD when --taesd is given, unless --decoder vae keeps the full VAE", () => {
    assert.equal(serveEngineOptions({ taesd: "t" }).speed?.decoder, "taesd");
    assert.equal(serveEngineOptions({ taesd: "t", decoder: "vae" }).speed?.decoder, "vae");
    assert.equal(serveEngineOptions({ taesd: "t", decoder: "vae" }).taesd, "t");
    assert.equal(serveEngineOptions({}).speed?.decoder, undefined);
  });

  it("refuses --decoder taesd without TAESD weights", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", main, "serve", "--decoder", "taesd"], {
      cwd: repoRoot,
      env,
      encoding: "utf-8",
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--decoder taesd needs TAESD weights/);
  });

  it("--listen serves every interface; Host names are checked over a real socket; --listen with --host is refused", async () => {
    const { child, out, exited, listening } = startServe([
      "--listen",
      "--api-key",
      "k",
      "--allowed-host",
      "studio.lan",
      "--port",
      "0",
    ]);
    /** GET /sdapi/v1/samplers on 127.0.0.1 with the Host header a browser would send. */
    const get = (port: string, host: string) =>
      new Promise<number | undefined>((resolveStatus, reject) => {
        const req = request(
          { host: "127.0.0.1", port, path: "/sdapi/v1/samplers", headers: { host, "x-api-key": "k" } },
          (res) => {
            res.resume();
            resolveStatus(res.statusCode);
          },
        );
        req.on("error", reject);
        req.end();
      });
    try {
      const { url, port } = await listening;
      assert.match(url, /^http:\/\/0\.0\.0\.0:/);
      assert.equal(await get(port, `studio.lan:${port}`), 200, "an --allowed-host name");
      assert.equal(await get(port, `127.0.0.1:${port}`), 200, "an address");
      assert.equal(await get(port, `rebound.attacker.example:${port}`), 403, "any other name");
      assert.doesNotMatch(out.stderr, /warning: listening/, "credentials given: no warning");
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0, `exit code; stderr:\n${out.stderr}`);
    const both = spawnSync(process.execPath, ["--import", "tsx", main, "serve", "--listen", "--host", "::"], {
      cwd: repoRoot,
      env,
      encoding: "utf-8",
    });
    assert.equal(both.status, 1);
    assert.match(both.stderr, /choose one of --listen and --host/);
  });

  it("knows which hosts are loopback (others without credentials get a warning)", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
      assert.equal(isLoopbackHost(host), true, host);
    for (const host of ["0.0.0.0", "::", "192.168.1.5", "example.com"])
      assert.equal(isLoopbackHost(host), false, host);
  });
});
