/**
 * Scale-out on a real redis-server (started here on a free port, in a temp folder): one API
 * process (`sdlite serve --queue`), three `sdlite worker` processes, the tiny model. Every image
 * must equal what the in-process server makes for the same request; a worker killed mid-job, an
 * API restart and a Redis restart must lose nothing.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { RedisJobQueue } from "../src/queue/redis-job-queue.js";
import { RedisRateLimiter } from "../src/queue/redis-rate-limiter.js";
import { createServer } from "../src/server/create-server.js";
import { fixturePath } from "./helpers/fixtures.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const main = join(repoRoot, "src", "cli", "main.ts");
const model = fixturePath("models/tiny-sd15");
const work = mkdtempSync(join(tmpdir(), "sdlite-redis-"));
const env = {
  ...process.env,
  SDLITE_CACHE: join(work, "cache"),
  SDLITE_MODELS: join(work, "models"),
  HF_HUB_CACHE: join(work, "hub"),
  HF_HUB_OFFLINE: "1",
};

const hasRedis = spawnSync("redis-server", ["--version"]).status === 0;

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createNetServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

interface Child {
  readonly child: ChildProcess;
  readonly out: { text: string };
  readonly exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();
const outputs = new WeakMap<ChildProcess, { text: string }>();

/** A process whose output is kept; `waitFor` resolves with the first match of `pattern`. */
function start(command: string, args: string[]): Child {
  const child = spawn(command, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const out = { text: "" };
  outputs.set(child, out);
  child.stdout?.on("data", (chunk) => {
    out.text += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    out.text += chunk;
  });
  const exited = new Promise<number | null>((r) =>
    child.on("exit", (code) => {
      children.delete(child);
      r(code);
    }),
  );
  return { child, out, exited };
}

async function waitFor(c: Child, pattern: RegExp, ms = 60_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = pattern.exec(c.out.text);
    if (m) return m;
    if (c.child.exitCode !== null)
      throw new Error(`exited (${c.child.exitCode}) before ${pattern}:\n${c.out.text}`);
    if (Date.now() > deadline) throw new Error(`no ${pattern} within ${ms} ms:\n${c.out.text}`);
    await sleep(50);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

let redisPort = 0;
const redisDir = join(work, "redis");
let redis: Child | undefined;

async function startRedis(): Promise<void> {
  // append-only with fsync on every write: a restart keeps every job
  redis = start("redis-server", [
    "--port",
    String(redisPort),
    "--bind",
    "127.0.0.1",
    "--dir",
    redisDir,
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
  ]);
  await waitFor(redis, /Ready to accept connections/);
}

const queueUrl = () => `redis://127.0.0.1:${redisPort}`;

async function startApi(): Promise<{ api: Child; url: string }> {
  const api = start(process.execPath, [
    "--import",
    "tsx",
    main,
    "serve",
    "--queue",
    queueUrl(),
    "-m",
    model,
    "--port",
    "0",
    "--threads",
    "1",
    "--queue-size",
    "64",
    "--shutdown-grace",
    "1",
  ]);
  const m = await waitFor(api, /serving on (http:\/\/[\d.]+:\d+)/);
  return { api, url: m[1] };
}

function startWorker(): Child {
  return start(process.execPath, [
    "--import",
    "tsx",
    main,
    "worker",
    "--queue",
    queueUrl(),
    "-m",
    model,
    "--threads",
    "1",
    // a killed worker's job runs again after this; a worker on a loaded machine must still renew in time
    "--lock-seconds",
    "6",
  ]);
}

type Body = Record<string, unknown>;
interface JobView {
  id: string;
  state: string;
  position: number;
  worker: string | null;
  result?: { images: string[]; info: string };
  error?: { detail: string };
}
interface WorkerView {
  id: string;
  pid: number;
  models: string[];
  device: string;
  job: string | null;
  jobs_done: number;
}

async function post(url: string, body: Body): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function submit(api: string, body: Body): Promise<string> {
  const r = await post(`${api}/sdlite/v1/jobs`, body);
  assert.equal(r.status, 202, await r.clone().text());
  return ((await r.json()) as { id: string }).id;
}

async function jobView(api: string, id: string): Promise<JobView> {
  const r = await fetch(`${api}/sdlite/v1/jobs/${id}`);
  assert.equal(r.status, 200, `GET job ${id}: ${r.status}`);
  return (await r.json()) as JobView;
}

/** The end of every process's output, for a failure message. */
function tails(): string {
  return [...children]
    .map(
      (c) => `--- ${c.spawnargs.slice(3, 5).join(" ")} (pid ${c.pid}):\n${outputs.get(c)?.text.slice(-1500)}`,
    )
    .join("\n");
}

async function completed(api: () => string, id: string, ms = 90_000): Promise<JobView> {
  return until(
    `job ${id} to complete`,
    async () => {
      const view = await jobView(api(), id);
      if (view.state === "failed" || view.state === "cancelled") {
        throw new assert.AssertionError({
          message: `job ${id} ${view.state}: ${JSON.stringify(view.error)}`,
        });
      }
      return view.state === "completed" ? view : undefined;
    },
    ms,
  ).catch(async (err) => {
    const view = await jobView(api(), id).catch(() => undefined);
    throw new Error(`${(err as Error).message}: ${JSON.stringify(view)}\n${tails()}`);
  });
}

async function workers(api: string): Promise<WorkerView[]> {
  const r = await fetch(`${api}/sdlite/v1/admin/queue`);
  return ((await r.json()) as { workers: WorkerView[] }).workers;
}

const small = (seed: number, steps = 2): Body => ({
  prompt: "a photo of a cat",
  width: 64,
  height: 64,
  steps,
  seed,
  sampler_name: "Euler a",
});

/** What the in-process server makes for the same body: the reference every worker must match. */
let reference: FastifyInstance;
async function expected(body: Body): Promise<{ image: string; infotext: string }> {
  const r = await reference.inject({ method: "POST", url: "/sdapi/v1/txt2img", payload: body });
  assert.equal(r.statusCode, 200, r.body);
  const json = r.json() as { images: string[]; info: string };
  return { image: json.images[0], infotext: (JSON.parse(json.info) as { infotexts: string[] }).infotexts[0] };
}

function infotextOf(view: JobView): string {
  return (JSON.parse(view.result?.info ?? "{}") as { infotexts: string[] }).infotexts[0];
}

describe("scale-out on Redis", { skip: hasRedis ? false : "redis-server is not installed" }, () => {
  let api: Child;
  let apiUrl = "";
  const pool: Child[] = [];

  before(async () => {
    redisPort = await freePort();
    spawnSync("mkdir", ["-p", redisDir]);
    await startRedis();
    ({ api, url: apiUrl } = await startApi());
    for (let i = 0; i < 3; i++) pool.push(startWorker());
    await Promise.all(pool.map((w) => waitFor(w, /sdlite worker \S+ on redis:/)));
    reference = await createServer({
      model,
      modelsDir: join(work, "models"),
      hubCacheDir: false,
      engine: { runtime: { threads: 1 } },
      webDir: false,
    });
  });

  after(async () => {
    await reference?.close();
    for (const child of children) child.kill("SIGKILL");
    await sleep(200);
    rmSync(work, { recursive: true, force: true });
  });

  it("runs 50 concurrent jobs on three workers: every image the in-process one, each once", async () => {
    const seeds = Array.from({ length: 50 }, (_, i) => 1000 + i);
    const ids = await Promise.all(seeds.map((seed) => submit(apiUrl, small(seed))));
    assert.equal(new Set(ids).size, 50);
    const views = await Promise.all(ids.map((id) => completed(() => apiUrl, id)));
    for (const [i, view] of views.entries()) {
      const want = await expected(small(seeds[i]));
      assert.equal(view.result?.images.length, 1);
      assert.equal(view.result?.images[0], want.image, `seed ${seeds[i]}: the worker's PNG differs`);
      assert.equal(infotextOf(view), want.infotext);
    }
    assert.equal(new Set(views.map((v) => v.result?.images[0])).size, 50, "50 different images");
    // each job once in the list, completed
    const list = (await (await fetch(`${apiUrl}/sdlite/v1/jobs?limit=1000`)).json()) as { jobs: JobView[] };
    const listed = list.jobs.filter((j) => ids.includes(j.id));
    assert.equal(listed.length, 50);
    assert.ok(listed.every((j) => j.state === "completed"));
    // the work was shared, and the workers announce what they have
    const announced = await workers(apiUrl);
    assert.equal(announced.length, 3);
    for (const w of announced) {
      assert.deepEqual(w.models, ["tiny-sd15"]);
      assert.equal(w.device, "cpu");
    }
    // at least once: a job whose worker looked dead (its lock lapsed) may have run twice, but it
    // has one result, checked above
    assert.ok(announced.reduce((n, w) => n + w.jobs_done, 0) >= 50);
    assert.ok(announced.filter((w) => w.jobs_done > 0).length >= 2, JSON.stringify(announced));
  });

  it("the A1111 endpoint waits for its job on a worker", async () => {
    const r = await post(`${apiUrl}/sdapi/v1/txt2img`, small(7));
    assert.equal(r.status, 200);
    const json = (await r.json()) as { images: string[] };
    assert.equal(json.images[0], (await expected(small(7))).image);
  });

  it("a worker killed mid-job (kill -9): its job completes on another", async () => {
    const body = small(4242, 120);
    const id = await submit(apiUrl, body);
    const running = await until("the job to start", async () => {
      const view = await jobView(apiUrl, id);
      return view.state === "generating" && view.worker ? view : undefined;
    });
    const victim = (await workers(apiUrl)).find((w) => w.id === running.worker);
    assert.ok(victim, `worker ${running.worker} is announced`);
    const child = pool.find((w) => w.child.pid === victim.pid);
    assert.ok(child, "the worker is one of ours");
    assert.notEqual((await jobView(apiUrl, id)).state, "completed", "killed while the job runs");
    child.child.kill("SIGKILL");
    await child.exited;
    pool.splice(pool.indexOf(child), 1);
    const done = await completed(() => apiUrl, id);
    assert.notEqual(done.worker, victim.id, "another worker finished it");
    assert.equal(done.result?.images[0], (await expected(body)).image);
    // the dead worker drops out of the list after its heartbeats stop
    await until("the dead worker to drop out", async () =>
      (await workers(apiUrl)).some((w) => w.id === victim.id) ? undefined : true,
    );
  });

  it("cancels a waiting and a running job; /progress and /interrupt act on the caller's own job", async () => {
    const long = (seed: number): Body => ({ ...small(seed, 150), width: 96, height: 96 });
    const as = (key: string) => ({ "content-type": "application/json", "x-api-key": key });
    const submitAs = async (key: string, body: Body) => {
      const r = await fetch(`${apiUrl}/sdlite/v1/jobs`, {
        method: "POST",
        headers: as(key),
        body: JSON.stringify(body),
      });
      assert.equal(r.status, 202);
      return ((await r.json()) as { id: string }).id;
    };
    // two workers are left: two jobs run, the third waits
    const first = await submitAs("frank", long(31));
    const second = await submitAs("erin", long(32));
    const third = await submitAs("frank", long(33));
    await until("two jobs running", async () => {
      const states = await Promise.all([first, second].map(async (id) => (await jobView(apiUrl, id)).state));
      return states.every((s) => s === "generating") ? true : undefined;
    });
    assert.equal((await jobView(apiUrl, third)).state, "queued");
    await until("the waiting job to be first in line", async () =>
      (await jobView(apiUrl, third)).position === 1 ? true : undefined,
    );
    // erin sees her own job's progress, not frank's
    const progress = await until("erin's progress", async () => {
      const r = await fetch(`${apiUrl}/sdapi/v1/progress`, { headers: as("erin") });
      const p = (await r.json()) as { current_task: string | null; state: { sampling_step: number } };
      return p.current_task === second && p.state.sampling_step > 0 ? p : undefined;
    });
    assert.equal(progress.current_task, second);
    const nobody = (await (await fetch(`${apiUrl}/sdapi/v1/progress`, { headers: as("grace") })).json()) as {
      current_task: string | null;
    };
    assert.equal(nobody.current_task, null, "a caller without a job sees none");

    // the worker's steps and previews reach the job's event stream through Redis
    const stream = new AbortController();
    const events = await fetch(`${apiUrl}/sdlite/v1/jobs/${second}/events`, { signal: stream.signal });
    assert.match(events.headers.get("content-type") ?? "", /text\/event-stream/);
    let seen = "";
    const reader = (events.body as ReadableStream<Uint8Array>).getReader();
    while (!(/event: step/.test(seen) && /event: preview/.test(seen))) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += Buffer.from(value).toString("utf-8");
    }
    stream.abort();
    assert.match(seen, /event: started/);
    assert.match(seen, /event: step\ndata: \{"step":\d+,"total":150/);
    assert.match(seen, /event: preview\ndata: \{"image":"iVBOR/);

    const cancelWaiting = await fetch(`${apiUrl}/sdlite/v1/jobs/${third}`, { method: "DELETE" });
    assert.equal(cancelWaiting.status, 200);
    await until("the waiting job cancelled", async () =>
      (await jobView(apiUrl, third)).state === "cancelled" ? true : undefined,
    );
    assert.equal((await fetch(`${apiUrl}/sdlite/v1/jobs/${first}`, { method: "DELETE" })).status, 200);
    // erin interrupts her job: it ends early with what it has, as A1111 does
    assert.equal(
      (await fetch(`${apiUrl}/sdapi/v1/interrupt`, { method: "POST", headers: as("erin"), body: "{}" }))
        .status,
      200,
    );
    const interrupted = await completed(() => apiUrl, second);
    assert.equal(
      (JSON.parse(interrupted.result?.info ?? "{}") as { interrupted: boolean }).interrupted,
      true,
    );
    await until("the running job cancelled", async () =>
      (await jobView(apiUrl, first)).state === "cancelled" ? true : undefined,
    );
    const result = await fetch(`${apiUrl}/sdlite/v1/jobs/${first}/result`);
    assert.equal(result.status, 409);
  });

  it("a full queue answers 429 with Retry-After; jobs wait for a worker with their model", async () => {
    // a model no worker has: its jobs wait
    const unserved = join(work, "tiny-unserved");
    symlinkSync(model, unserved);
    const queue = await RedisJobQueue.connect({ url: queueUrl(), capacity: 2 });
    const app = await createServer({
      model: unserved,
      modelsDir: join(work, "models"),
      hubCacheDir: false,
      webDir: false,
      queue: () => queue,
    });
    try {
      await app.sdlite.preload()?.finished;
      const send = () => app.inject({ method: "POST", url: "/sdlite/v1/jobs", payload: small(1) });
      const a = await send();
      const b = await send();
      assert.deepEqual([a.statusCode, b.statusCode], [202, 202]);
      assert.deepEqual([a.json().position, b.json().position], [1, 2]);
      const full = await send();
      assert.equal(full.statusCode, 429);
      assert.ok(Number(full.headers["retry-after"]) >= 1);
      const admin = (await app.inject({ method: "GET", url: "/sdlite/v1/admin/queue" })).json() as {
        routes: { route: string; waiting: number }[];
      };
      assert.equal(admin.routes.find((r) => r.route === "tiny-unserved")?.waiting, 2);
      for (const r of [a, b]) {
        assert.equal(
          (await app.inject({ method: "DELETE", url: `/sdlite/v1/jobs/${r.json().id}` })).statusCode,
          200,
        );
      }
    } finally {
      await app.close();
    }
  });

  it("counts a caller's jobs in Redis, so every API process shares the rate limit", async () => {
    const clients = [new Redis(queueUrl()), new Redis(queueUrl())];
    try {
      // two API processes, one count (within one minute's window: not across its end)
      const toNextMinute = 60_000 - (Date.now() % 60_000);
      if (toNextMinute < 2_000) await sleep(toNextMinute + 50);
      const [a, b] = clients.map((c) => new RedisRateLimiter(c, 2));
      assert.equal((await a.take("key:henry")).allowed, true);
      assert.equal((await b.take("key:henry")).allowed, true);
      const refused = await a.take("key:henry");
      assert.equal(refused.allowed, false);
      assert.ok(refused.retryAfterSeconds >= 1 && refused.retryAfterSeconds <= 60);
      assert.equal((await b.take("key:ida")).allowed, true, "another caller has its own count");
    } finally {
      for (const c of clients) c.disconnect();
    }
  });

  it("a worker stops a job running past --job-timeout: 504", async () => {
    const queue = await RedisJobQueue.connect({ url: queueUrl(), capacity: 4 });
    const app = await createServer({
      model,
      modelsDir: join(work, "models"),
      hubCacheDir: false,
      webDir: false,
      queue: () => queue,
      jobTimeoutSeconds: 1,
    });
    try {
      await app.sdlite.preload()?.finished;
      const r = await app.inject({
        method: "POST",
        url: "/sdapi/v1/txt2img",
        payload: { ...small(3, 150), width: 96, height: 96 },
      });
      assert.equal(r.statusCode, 504, r.body);
      assert.match(r.json().detail, /timed out after 1 s/);
    } finally {
      await app.close();
    }
  });

  it("queued jobs survive a restart of the API process", async () => {
    const bodies = Array.from({ length: 6 }, (_, i) => small(500 + i, 24));
    const ids: string[] = [];
    for (const body of bodies) ids.push(await submit(apiUrl, body));
    const states = await Promise.all(ids.map(async (id) => (await jobView(apiUrl, id)).state));
    assert.ok(states.includes("queued"), `some still queued at the restart: ${states}`);
    api.child.kill("SIGTERM");
    assert.equal(await api.exited, 0, api.out.text);
    ({ api, url: apiUrl } = await startApi());
    for (const [i, id] of ids.entries()) {
      const view = await completed(() => apiUrl, id);
      assert.equal(view.result?.images[0], (await expected(bodies[i])).image);
    }
  });

  it("a Redis restart: the API says it is unavailable (503), then recovers", async () => {
    redis?.child.kill("SIGKILL");
    await redis?.exited;
    const down = await until("the health check to fail", async () => {
      const r = await fetch(`${apiUrl}/sdlite/v1/health`);
      return r.status === 503 ? ((await r.json()) as { message: string }) : undefined;
    });
    assert.match(down.message, /Redis at redis:\/\/127\.0\.0\.1:\d+ cannot be reached/);
    const refused = await post(`${apiUrl}/sdlite/v1/jobs`, small(9));
    assert.equal(refused.status, 503);
    assert.match(((await refused.json()) as { detail: string }).detail, /unavailable/);
    await startRedis();
    await until("the health check to pass", async () =>
      (await fetch(`${apiUrl}/sdlite/v1/health`)).status === 200 ? true : undefined,
    );
    const id = await submit(apiUrl, small(9));
    const view = await completed(() => apiUrl, id);
    assert.equal(view.result?.images[0], (await expected(small(9))).image);
  });
});
