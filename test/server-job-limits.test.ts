/**
 * The job API's limits and extras in one process (the embedded queue; test/redis-queue.test.ts
 * runs the same endpoints on Redis): per-caller rate limits (429 + Retry-After), job time-outs
 * (504), the webhook, `state`, the job list and the admin view.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { createServer } from "../src/server/create-server.js";
import { MemoryRateLimiter } from "../src/server/rate-limit.js";
import { fixturePath } from "./helpers/fixtures.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-job-limits-"));
let app: FastifyInstance;

before(async () => {
  app = await createServer({
    model: fixturePath("models/tiny-sd15"),
    modelsDir: join(work, "models"),
    hubCacheDir: false,
    engine: { runtime: { threads: 1 } },
    webDir: false,
    rateLimit: 3,
    jobTimeoutSeconds: 1,
  });
  await app.sdlite.preload()?.finished;
});

after(async () => {
  await app?.close();
  rmSync(work, { recursive: true, force: true });
});

const small = { prompt: "a cat", width: 64, height: 64, steps: 2, seed: 1 };

describe("job limits", () => {
  it("counts jobs per API key: the fourth in a minute gets 429 with Retry-After, another key does not", async () => {
    const send = (key: string) =>
      app.inject({ method: "POST", url: "/sdlite/v1/jobs", headers: { "x-api-key": key }, payload: small });
    for (let i = 0; i < 3; i++) assert.equal((await send("alice")).statusCode, 202);
    const refused = await send("alice");
    assert.equal(refused.statusCode, 429);
    const retry = Number(refused.headers["retry-after"]);
    assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    assert.match(refused.json().detail, /at most 3 jobs a minute/);
    assert.equal((await send("bob")).statusCode, 202, "bob has his own count");
    // reads are not counted
    assert.equal(
      (await app.inject({ method: "GET", url: "/sdlite/v1/jobs", headers: { "x-api-key": "alice" } }))
        .statusCode,
      200,
    );
    await app.sdlite.context.queue.idle();
  });

  it("a fixed window: the count starts again a minute later", () => {
    let now = 0;
    const limiter = new MemoryRateLimiter(2, () => now);
    assert.equal(limiter.take("k").allowed, true);
    assert.equal(limiter.take("k").allowed, true);
    now = 15_000;
    assert.deepEqual(limiter.take("k"), { allowed: false, retryAfterSeconds: 45 });
    now = 60_000;
    assert.equal(limiter.take("k").allowed, true);
  });

  it("stops a job running past the time-out: 504, state cancelled", async () => {
    const r = await app.inject({
      method: "POST",
      url: "/sdapi/v1/txt2img",
      headers: { "x-api-key": "carol" },
      payload: { ...small, steps: 150, width: 128, height: 128 },
    });
    assert.equal(r.statusCode, 504, r.body);
    assert.match(r.json().detail, /timed out after 1 s/);
  });

  it("lists jobs with their state, shows the queue, and POSTs a finished job to its webhook", async () => {
    const received: { body: Record<string, unknown>; request: IncomingMessage }[] = [];
    const hook = createHttpServer((request, response) => {
      let text = "";
      request.on("data", (c) => {
        text += c;
      });
      request.on("end", () => {
        received.push({ body: JSON.parse(text), request });
        response.end("ok");
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    try {
      const address = hook.address();
      const port = typeof address === "object" && address ? address.port : 0;
      const bad = await app.inject({
        method: "POST",
        url: "/sdlite/v1/jobs",
        headers: { "x-api-key": "dave" },
        payload: { ...small, webhook: "file:///etc/passwd" },
      });
      assert.equal(bad.statusCode, 422);
      const submitted = await app.inject({
        method: "POST",
        url: "/sdlite/v1/jobs",
        headers: { "x-api-key": "dave" },
        payload: { ...small, seed: 77, webhook: `http://127.0.0.1:${port}/done` },
      });
      assert.equal(submitted.statusCode, 202);
      const { id } = submitted.json() as { id: string };
      const deadline = Date.now() + 30_000;
      while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(received.length, 1);
      const { body } = received[0];
      assert.equal(body.id, id);
      assert.equal(body.state, "completed");
      const result = body.result as { images: string[]; info: string };
      assert.equal(JSON.parse(result.info).seed, 77);
      assert.equal(received[0].request.url, "/done");

      const view = (await app.inject({ method: "GET", url: `/sdlite/v1/jobs/${id}` })).json();
      assert.equal(view.state, "completed");
      assert.equal(view.progress.fraction, 1);
      assert.equal(view.result.images[0], result.images[0]);
      const list = (await app.inject({ method: "GET", url: "/sdlite/v1/jobs?limit=50" })).json() as {
        jobs: { id: string; state: string; result?: unknown }[];
      };
      const listed = list.jobs.find((j) => j.id === id);
      assert.equal(listed?.state, "completed");
      assert.equal(listed?.result, undefined, "the list leaves the images out");
      const admin = (await app.inject({ method: "GET", url: "/sdlite/v1/admin/queue" })).json();
      assert.equal(admin.backend, "memory");
      assert.equal(admin.available, true);
      assert.equal(admin.depth, 0);
      assert.deepEqual(admin.workers, []);
    } finally {
      hook.close();
    }
  });
});
