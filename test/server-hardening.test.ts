/**
 * What a hostile or careless client got from the server before (issues 16 and 17): png-info stuck
 * on a 20 MB text chunk, a decompression bomb or a quadratic infotext; deeply nested JSON run as a
 * full generation and answered 500 minutes later; 500 for unbalanced brackets; a model path outside
 * the model folders looked up on disk; queued requests invisible. Now each is a 4xx with a JSON error
 * at once, or a normal answer, and a queued request shows its place.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { deflateSync } from "node:zlib";
import type { FastifyInstance, InjectOptions } from "fastify";
import { createServer } from "../src/server/create-server.js";
import { MAX_JSON_DEPTH } from "../src/server/json-body.js";
import { fixturePath } from "./helpers/fixtures.js";
import { hostilePng, iTXt, tEXt, zlibBomb, zTXt } from "./helpers/hostile-png.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-server-hardening-"));
process.env.SDLITE_CACHE = join(work, "cache");
let app: FastifyInstance;

before(async () => {
  app = await createServer({
    model: fixturePath("models/tiny-sd15"),
    modelsDir: join(work, "models"),
    hubCacheDir: false,
    engine: { runtime: { threads: 1 } },
    webDir: false,
    queueSize: 2,
    limits: { maxSteps: 1000 },
  });
  await app.sdlite.preload()?.finished;
});

after(async () => {
  await app?.close();
  rmSync(work, { recursive: true, force: true });
});

type Inject = InjectOptions;

/** The answer, checked to be a 4xx with A1111's JSON error body. */
async function clientError(request: Inject, status?: number) {
  const r = await app.inject(request);
  assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${r.statusCode}: ${r.body.slice(0, 300)}`);
  if (status !== undefined) assert.equal(r.statusCode, status, r.body.slice(0, 300));
  const body = r.json();
  assert.equal(typeof body.detail, "string");
  assert.equal(typeof body.error, "string");
  return body as { error: string; detail: string };
}

function pngInfo(png: Uint8Array): Inject {
  return {
    method: "POST",
    url: "/sdapi/v1/png-info",
    payload: { image: Buffer.from(png).toString("base64") },
  };
}

function assertIdle(): void {
  assert.equal(app.sdlite.context.queue.current, undefined, "no job ran");
  assert.equal(app.sdlite.context.queue.waitingCount, 0, "no job queued");
}

describe("png-info", () => {
  test("20 MB of tEXt and zTXt/iTXt inflating to 512 MB answer 413", { timeout: 60_000 }, async () => {
    const bomb = await zlibBomb(512 * 1024 * 1024);
    for (const chunk of [
      tEXt("parameters", "a".repeat(20 * 1024 * 1024)),
      zTXt("parameters", bomb),
      iTXt("parameters", bomb),
    ]) {
      const body = await clientError(pngInfo(hostilePng({ extra: [chunk] })), 413);
      assert.match(body.detail, /more text than sdlite reads/);
    }
  });

  test("a 1 MB adversarial infotext, plain or compressed to a few hundred bytes, is answered", {
    timeout: 30_000,
  }, async () => {
    const infotext = `a cat\nNegative prompt: dog\n${"ab cd ".repeat(160_000)}`; // 960 KB, no ':' in the last line
    const compressed = deflateSync(Buffer.from(infotext, "latin1"), { level: 9 });
    assert.ok(compressed.length < 4000, `${compressed.length} bytes compressed`);
    for (const chunk of [tEXt("parameters", infotext), zTXt("parameters", compressed)]) {
      const r = await app.inject(pngInfo(hostilePng({ extra: [chunk] })));
      assert.equal(r.statusCode, 200, r.body.slice(0, 300));
      const body = r.json();
      assert.equal(body.info.length, infotext.length);
      assert.ok(
        body.parameters["Negative prompt"].startsWith("dog\nab cd"),
        "the last line is no parameters line",
      );
    }
  });

  test("truncated PNGs and other bytes are 422", async () => {
    const png = hostilePng({ extra: [tEXt("parameters", "a cat\nSteps: 20, Seed: 1, Size: 8x8")] });
    for (const bytes of [png.subarray(0, 40), Buffer.from("GIF89a..."), Buffer.alloc(3)]) {
      await clientError(pngInfo(bytes), 422);
    }
  });
});

describe("request bodies", () => {
  const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
  const routes = [
    "/sdapi/v1/txt2img",
    "/sdapi/v1/img2img",
    "/sdapi/v1/options",
    "/sdapi/v1/png-info",
    "/sdlite/v1/jobs",
    "/sdapi/v1/extra-single-image",
  ];

  test("nested deeper than 64 levels, or 100,000 containers: 400 before parsing, for every route", async () => {
    for (const url of routes) {
      for (const payload of [
        nested(100_000),
        `{"x":${nested(MAX_JSON_DEPTH)}}`,
        `[${"[],".repeat(100_001)}[]]`,
      ]) {
        const body = await clientError(
          { method: "POST", url, payload, headers: { "content-type": "application/json" } },
          400,
        );
        assert.match(body.detail, /nested more than 64 levels|more than 100000 objects and arrays/);
      }
    }
    assertIdle();
    // 64 levels is fine: options stores unknown keys
    const r = await app.inject({
      method: "POST",
      url: "/sdapi/v1/options",
      payload: `{"x":${nested(MAX_JSON_DEPTH - 1)}}`,
      headers: { "content-type": "application/json" },
    });
    assert.equal(r.statusCode, 200, r.body);
  });
});

describe("bad values are refused before queueing", () => {
  test("unbalanced and deeply nested brackets, too many AND, a bad weight: 422", async () => {
    for (const prompt of [
      "(".repeat(5000),
      `${"[".repeat(200)}a${"]".repeat(200)}`,
      Array(40).fill("a").join(" AND "),
      "(a:1.2.3)",
    ]) {
      const body = await clientError(
        { method: "POST", url: "/sdapi/v1/txt2img", payload: { prompt, steps: 1, width: 64, height: 64 } },
        422,
      );
      assert.match(body.detail, /prompt: /);
    }
  });

  test("a model path outside the model folders is an unknown model", async () => {
    for (const name of [
      "../../etc/passwd",
      "/etc/passwd",
      fixturePath("lora", "tiny-sd15-kohya.safetensors"),
    ]) {
      const body = await clientError(
        {
          method: "POST",
          url: "/sdapi/v1/txt2img",
          payload: {
            prompt: "a",
            steps: 1,
            width: 64,
            height: 64,
            override_settings: { sd_model_checkpoint: name },
          },
        },
        404,
      );
      assert.match(body.detail, /not found/);
      await clientError(
        { method: "POST", url: "/sdapi/v1/options", payload: { sd_model_checkpoint: name } },
        404,
      );
    }
    assertIdle();
  });

  test("options and extras with values of the wrong type or range: 4xx, nothing queued", async () => {
    for (const payload of [
      { sd_model_checkpoint: ["a"] },
      { sd_model_checkpoint: { a: 1 } },
      { CLIP_stop_at_last_layers: "x" },
      { show_progress_every_n_steps: 1e9 },
    ]) {
      await clientError({ method: "POST", url: "/sdapi/v1/options", payload });
    }
    const image = Buffer.from(hostilePng({ width: 16, height: 16 })).toString("base64");
    for (const fields of [
      { upscaler_1: "nope" },
      { upscaler_1: "Lanczos", upscaler_2: 5 },
      { upscaler_1: "Lanczos", upscaling_resize: 1e9 },
      { upscaler_1: "Lanczos", upscaling_resize: -1 },
      { upscaler_1: "Lanczos", resize_mode: 7 },
    ]) {
      await clientError(
        { method: "POST", url: "/sdapi/v1/extra-single-image", payload: { image, ...fields } },
        422,
      );
    }
    assertIdle();
  });
});

describe("a queued request shows its place", () => {
  test("/internal/progress with force_task_id and the job API show positions; a full queue is 429 at once", {
    timeout: 120_000,
  }, async () => {
    const small = { prompt: "a cat", width: 64, height: 64 };
    const long = await app.inject({
      method: "POST",
      url: "/sdlite/v1/jobs",
      payload: { ...small, steps: 1000 },
    });
    assert.equal(long.statusCode, 202, long.body);
    const running = long.json().id as string;
    // an A1111 client: a synchronous request with its own task id, then polling
    // inject sends a request only once it is awaited: `then` sends this one now
    const waiting = app
      .inject({
        method: "POST",
        url: "/sdapi/v1/txt2img",
        payload: { ...small, steps: 1, force_task_id: "task-b" },
      })
      .then((r) => r);
    const progressOf = async (id: string) =>
      (await app.inject({ method: "POST", url: "/internal/progress", payload: { id_task: id } })).json();
    let b = await progressOf("task-b");
    for (let i = 0; i < 1000 && !b.queued; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      b = await progressOf("task-b");
    }
    assert.deepEqual([b.queued, b.active, b.textinfo], [true, false, "In queue: 1/1"]);
    assert.deepEqual((await progressOf(running)).active, true);
    assert.equal((await progressOf("nobody")).textinfo, "Waiting...");
    const progress = (await app.inject({ method: "GET", url: "/sdapi/v1/progress" })).json();
    assert.deepEqual([progress.state.job, progress.state.job_count], ["txt2img", 1]);

    // bad values are refused at once while the long job runs, never queued behind it; timed once it
    // steps (opening its sessions still holds the event loop until inference leaves it: issue 17)
    for (let i = 0; i < 1000; i++) {
      const p = (await app.inject({ method: "GET", url: "/sdapi/v1/progress" })).json();
      if (p.state.sampling_step >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const image = Buffer.from(hostilePng({ width: 16, height: 16 })).toString("base64");
    for (const [url, payload] of [
      ["/sdapi/v1/extra-single-image", { image, upscaler_1: "nope" }],
      ["/sdapi/v1/extra-single-image", { image, upscaler_1: "Lanczos", upscaler_2: "nope" }],
      ["/sdapi/v1/extra-single-image", { image, upscaler_1: "Lanczos", upscaling_resize: 1e9 }],
      ["/sdapi/v1/txt2img", { ...small, override_settings: { sd_model_checkpoint: "../../etc/passwd" } }],
      ["/sdapi/v1/txt2img", { ...small, prompt: "(".repeat(5000) }],
      ["/sdapi/v1/options", { sd_model_checkpoint: ["a"] }],
    ] as const) {
      const started = performance.now();
      await clientError({ method: "POST", url, payload });
      const ms = performance.now() - started;
      assert.ok(ms < 1000, `${url} ${JSON.stringify(payload).slice(0, 80)}: ${ms.toFixed(0)} ms`);
    }
    assert.equal(app.sdlite.context.queue.waitingCount, 1, "only task-b waits");

    const third = await app.inject({
      method: "POST",
      url: "/sdlite/v1/jobs",
      payload: { ...small, steps: 1 },
    });
    assert.deepEqual(third.json().position, 2);
    const view = (await app.inject({ method: "GET", url: `/sdlite/v1/jobs/${third.json().id}` })).json();
    assert.deepEqual([view.status, view.position], ["queued", 2]);
    assert.equal((await progressOf("task-b")).textinfo, "In queue: 1/2");

    const full = await clientError(
      { method: "POST", url: "/sdapi/v1/txt2img", payload: { ...small, steps: 1 } },
      429,
    );
    assert.match(full.detail, /the queue is full/);
    await clientError(
      { method: "POST", url: "/sdapi/v1/txt2img", payload: { ...small, force_task_id: "task-b" } },
      429,
    );

    for (const id of [third.json().id, "task-b", running]) {
      const r = await app.inject({ method: "DELETE", url: `/sdlite/v1/jobs/${id}` });
      assert.equal(r.statusCode, 200, r.body);
    }
    assert.equal((await waiting).statusCode, 409);
    await app.sdlite.context.queue.idle();
  });

  test("a force_task_id that is in use is 409; a malformed one 422", async () => {
    const small = { prompt: "a cat", width: 64, height: 64, steps: 1 };
    const first = await app.inject({
      method: "POST",
      url: "/sdapi/v1/txt2img",
      payload: { ...small, force_task_id: "same" },
    });
    assert.equal(first.statusCode, 200, first.body);
    const queued = await app.inject({
      method: "POST",
      url: "/sdlite/v1/jobs",
      payload: { ...small, steps: 300 },
    });
    const id = queued.json().id as string;
    await clientError(
      { method: "POST", url: "/sdapi/v1/txt2img", payload: { ...small, force_task_id: id } },
      409,
    );
    await clientError(
      { method: "POST", url: "/sdapi/v1/txt2img", payload: { ...small, force_task_id: "a b/c" } },
      422,
    );
    await app.inject({ method: "DELETE", url: `/sdlite/v1/jobs/${id}` });
    await app.sdlite.context.queue.idle();
  });
});
