/**
 * The queue seen through HTTP with the tiny model: concurrent requests all complete in order,
 * progress with previews, interrupt/skip/cancel, a full queue answers 429, the own job API's
 * server-sent events, and a graceful shutdown.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { decodePng } from "../src/image/png.js";
import { createServer } from "../src/server/create-server.js";
import { fixturePath } from "./helpers/fixtures.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-server-queue-"));
process.env.SDLITE_CACHE = join(work, "cache");
let app: FastifyInstance;

const serverOptions = {
  model: fixturePath("models/tiny-sd15"),
  modelsDir: join(work, "models"),
  hubCacheDir: false as const,
  engine: { runtime: { threads: 1 } },
  webDir: false as const,
  queueSize: 2,
  previewEvery: 2,
};

before(async () => {
  app = await createServer(serverOptions);
  await app.sdlite.preload()?.finished;
});

after(async () => {
  await app?.close();
  rmSync(work, { recursive: true, force: true });
});

const small = { prompt: "a photo of a cat", width: 64, height: 64, cfg_scale: 7.5 };
/** 150 steps of the tiny model: long enough (~0.5 s) to act on while it runs. */
const long = { ...small, steps: 150 };

async function submit(body: Record<string, unknown>) {
  const r = await app.inject({ method: "POST", url: "/sdlite/v1/jobs", payload: body });
  assert.equal(r.statusCode, 202, r.body);
  return r.json() as { id: string; position: number };
}

async function jobStatus(id: string) {
  const r = await app.inject({ method: "GET", url: `/sdlite/v1/jobs/${id}` });
  assert.equal(r.statusCode, 200, r.body);
  return r.json();
}

/** Polls until `test` holds, failing with `what` after a few seconds. */
async function waitFor<T>(what: string, probe: () => Promise<T>, test: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await probe();
    if (test(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 3));
  }
}

const finished = (id: string) =>
  waitFor(
    `job ${id} to finish`,
    () => jobStatus(id),
    (j) => ["done", "failed", "cancelled"].includes(j.status),
  );

describe("the job queue over HTTP", () => {
  it("concurrent A1111 requests all complete, each with its own seed, in submission order", async () => {
    const order: number[] = [];
    const seeds = [11, 12, 13]; // one running, two waiting: what queueSize 2 takes
    const responses = await Promise.all(
      seeds.map((seed) =>
        app
          .inject({ method: "POST", url: "/sdapi/v1/txt2img", payload: { ...small, steps: 3, seed } })
          .then((r) => {
            order.push(seed);
            return r;
          }),
      ),
    );
    for (const [i, r] of responses.entries()) {
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(JSON.parse(r.json().info).seed, seeds[i], "each request got its own result");
      assert.equal(r.json().images.length, 1);
    }
    assert.deepEqual(order, seeds, "answered in the order they were sent");
  });

  it("own API: positions on submission, one job at a time, in order", async () => {
    const a = await submit({ ...small, steps: 20, seed: 1 });
    const b = await submit({ ...small, steps: 2, seed: 2 });
    const c = await submit({ ...small, steps: 2, seed: 3 });
    assert.deepEqual([a.position, b.position, c.position], [0, 1, 2]);
    const jobs = [];
    for (const j of [a, b, c]) jobs.push(await finished(j.id));
    for (const j of jobs) assert.equal(j.status, "done");
    for (let i = 1; i < jobs.length; i++) {
      assert.ok(
        Date.parse(jobs[i].started_at) >= Date.parse(jobs[i - 1].finished_at),
        `job ${i} started after job ${i - 1} finished`,
      );
    }
    const result = await app.inject({ method: "GET", url: `/sdlite/v1/jobs/${c.id}/result` });
    assert.equal(result.statusCode, 200);
    assert.equal(JSON.parse(result.json().info).seed, 3);
  });

  it("progress shows the running job with a latent preview; interrupt stops it early", async () => {
    const job = await submit({ ...long, seed: 5 });
    const progress = await waitFor(
      "a preview in /progress",
      async () => (await app.inject({ method: "GET", url: "/sdapi/v1/progress" })).json(),
      (p) => p.current_image !== null && p.state.sampling_step >= 2,
    );
    assert.equal(progress.state.job, "txt2img");
    assert.equal(progress.state.sampling_steps, 150);
    assert.ok(progress.progress > 0 && progress.progress < 1, `progress ${progress.progress}`);
    assert.equal(progress.current_task, job.id);
    const preview = decodePng(new Uint8Array(Buffer.from(progress.current_image, "base64")));
    assert.deepEqual([preview.width, preview.height], [8, 8], "the preview has latent resolution");

    const interrupt = await app.inject({ method: "POST", url: "/sdapi/v1/interrupt" });
    assert.equal(interrupt.statusCode, 200);
    const done = await finished(job.id);
    assert.equal(done.status, "done", "an interrupted A1111 job still returns what it has");
    assert.ok(done.progress.step < 150, `stopped at step ${done.progress.step} of 150`);
    assert.equal(done.result.images.length, 1);
    const info = JSON.parse(done.result.info);
    assert.equal(info.interrupted, true);
    assert.deepEqual(
      info.sdlite_stopped_at,
      [{ step: done.progress.step, of: 150 }],
      "the image is labelled with the steps it ran",
    );
    assert.match(info.infotexts[0], /Steps: 150,/, "its infotext names the steps asked for, as A1111's");
  });

  it("skip ends the current batch iteration only", async () => {
    const job = await submit({ ...long, seed: 20, n_iter: 2 });
    await waitFor(
      "the first iteration to run",
      () => jobStatus(job.id),
      (j) => j.status === "running" && j.progress.job_no === 0 && j.progress.step >= 2,
    );
    assert.equal((await app.inject({ method: "POST", url: "/sdapi/v1/skip" })).statusCode, 200);
    await waitFor(
      "the second iteration",
      () => jobStatus(job.id),
      (j) => j.progress.job_no === 1 || j.status !== "running",
    );
    const done = await finished(job.id);
    assert.equal(done.status, "done");
    const info = JSON.parse(done.result.info);
    assert.deepEqual(info.all_seeds, [20, 21], "both iterations produced an image");
    assert.equal(info.interrupted, false);
    assert.equal(info.sdlite_stopped_at[1], null, "the second ran to its end");
    assert.ok(info.sdlite_stopped_at[0].step < 150, "the first was stopped early");
  });

  it("DELETE cancels a queued job at once and a running one at its next step", async () => {
    const running = await submit({ ...long, seed: 30 });
    const queued = await submit({ ...small, steps: 2, seed: 31 });
    const cancelQueued = await app.inject({ method: "DELETE", url: `/sdlite/v1/jobs/${queued.id}` });
    assert.equal(cancelQueued.statusCode, 200);
    assert.equal(cancelQueued.json().status, "cancelled");
    await waitFor(
      "the job to run",
      () => jobStatus(running.id),
      (j) => j.progress.step >= 1,
    );
    const cancelRunning = await app.inject({ method: "DELETE", url: `/sdlite/v1/jobs/${running.id}` });
    assert.equal(cancelRunning.json().status, "cancelling");
    const done = await finished(running.id);
    assert.equal(done.status, "cancelled");
    assert.ok(done.progress.step < 150);
    const result = await app.inject({ method: "GET", url: `/sdlite/v1/jobs/${running.id}/result` });
    assert.equal(result.statusCode, 409);
    const again = await app.inject({ method: "DELETE", url: `/sdlite/v1/jobs/${running.id}` });
    assert.equal(again.statusCode, 409);
    const unknown = await app.inject({ method: "GET", url: "/sdlite/v1/jobs/no-such-job" });
    assert.equal(unknown.statusCode, 404);
  });

  it("a full queue answers 429 with Retry-After, on both APIs", async () => {
    const jobs = [await submit({ ...long, seed: 40 }), await submit(long), await submit(long)];
    assert.deepEqual(
      jobs.map((j) => j.position),
      [0, 1, 2],
    );
    for (const [url, body] of [
      ["/sdlite/v1/jobs", long],
      ["/sdapi/v1/txt2img", small],
    ] as const) {
      const r = await app.inject({ method: "POST", url, payload: body });
      assert.equal(r.statusCode, 429, `${url}: ${r.body}`);
      assert.ok(Number(r.headers["retry-after"]) >= 1, `Retry-After: ${r.headers["retry-after"]}`);
      assert.match(r.json().detail, /queue is full/);
    }
    for (const j of [...jobs].reverse())
      await app.inject({ method: "DELETE", url: `/sdlite/v1/jobs/${j.id}` });
    for (const j of jobs) assert.equal((await finished(j.id)).status, "cancelled");
  });

  it("server-sent events: queued, started, every step, previews, done", async () => {
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address();
    assert.ok(address && typeof address === "object");
    const base = `http://127.0.0.1:${address.port}`;
    const ahead = await submit({ ...small, steps: 30, seed: 50 });
    const job = await submit({ ...small, steps: 4, seed: 42, sampler_name: "Euler a" });
    assert.equal(job.position, 1);
    const response = await fetch(`${base}/sdlite/v1/jobs/${job.id}/events`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
    const text = await response.text(); // the stream ends after the final event
    const events = text
      .split("\n\n")
      .filter((block) => block.startsWith("event:"))
      .map((block) => {
        const [eventLine, dataLine] = block.split("\n");
        return { type: eventLine.slice("event: ".length), data: JSON.parse(dataLine.slice("data: ".length)) };
      });
    const types = events.map((e) => e.type);
    assert.equal(types[0], "queued");
    assert.equal(events[0].data.position, 1);
    assert.ok(types.includes("started"), types.join(","));
    const steps = events.filter((e) => e.type === "step").map((e) => `${e.data.step}/${e.data.total}`);
    assert.deepEqual(steps, ["1/4", "2/4", "3/4", "4/4"]);
    assert.ok(types.includes("preview"), "previews every 2 steps");
    assert.equal(types.at(-1), "done");
    const done = events.at(-1)!.data;
    assert.equal(done.images.length, 1);
    assert.equal(JSON.parse(done.info).seed, 42);
    assert.equal((await jobStatus(ahead.id)).status, "done");
    // a stream opened after the end replays the outcome at once
    const late = await (await fetch(`${base}/sdlite/v1/jobs/${job.id}/events`)).text();
    assert.match(late, /^event: done\n/);
  });
});

describe("graceful shutdown", () => {
  it("cancels waiting requests (503), lets the running one finish, then closes", async () => {
    const server = await createServer({ ...serverOptions, queueSize: 4 });
    await server.sdlite.preload()?.finished;
    const running = server.inject({
      method: "POST",
      url: "/sdapi/v1/txt2img",
      payload: { ...small, steps: 30, seed: 1 },
    });
    const waiting = server.inject({
      method: "POST",
      url: "/sdapi/v1/txt2img",
      payload: { ...small, steps: 2, seed: 2 },
    });
    await waitFor(
      "the first job to run",
      async () => (await server.inject({ method: "GET", url: "/sdapi/v1/progress" })).json(),
      (p) => p.state.sampling_step >= 1,
    );
    await server.sdlite.shutdown(10_000);
    const [first, second] = await Promise.all([running, waiting]);
    assert.equal(first.statusCode, 200, "the running job finished within the grace period");
    assert.equal(second.statusCode, 503, second.body);
    assert.match(second.json().detail, /shutting down/);
  });
});
