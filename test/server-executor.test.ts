/**
 * The server with its jobs in a child process (src/executor/, what `sdlite serve` runs): while a
 * long job computes, /progress and /interrupt answer within a second and an interrupt stops the
 * job within a step; images are the same bytes as in-process runs; a killed executor process fails
 * its job with a clear error and the next job gets a fresh one; `sdlite serve` on SIGTERM exits
 * within its stated time while a long job runs.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { ChildProcessExecutor } from "../src/executor/child-process-executor.js";
import { createServer, STOP_STEP_MS } from "../src/server/create-server.js";
import { fixturePath } from "./helpers/fixtures.js";
import { repoRoot } from "./helpers/sdlite-cli.js";
import { timed } from "./helpers/timed.js";

const work = mkdtempSync(join(tmpdir(), "sdlite-server-executor-"));
process.env.SDLITE_CACHE = join(work, "cache");
const model = fixturePath("models/tiny-sd15");
/** Generous: these endpoints must not wait for a step, let alone a job (minutes on a real model). */
const ANSWER_MS = 1000;
/** Hundreds of tiny-model steps at 512 px: a job that runs far longer than the checks below. */
const LONG_JOB = {
  prompt: "a long job",
  steps: 150,
  width: 512,
  height: 512,
  seed: 11,
  sampler_name: "Euler",
};
const SMALL_JOB = { prompt: "a cat", steps: 3, width: 64, height: 64, seed: 5, sampler_name: "Euler a" };

let app: FastifyInstance;

function serverOptions(executor: "in-process" | "child-process") {
  return {
    model,
    modelsDir: join(work, "models"),
    loraDir: join(work, "Lora"),
    hubCacheDir: false as const,
    engine: { runtime: { threads: 1 } },
    webDir: false as const,
    preview: "approx" as const,
    executor,
  };
}

before(async () => {
  mkdirSync(join(work, "Lora"));
  // a safetensors file that is not a LoRA: the executor process finds out when it opens the pipeline
  copyFileSync(
    fixturePath("models/tiny-taesd/diffusion_pytorch_model.safetensors"),
    join(work, "Lora", "not-a-lora.safetensors"),
  );
  app = await createServer(serverOptions("child-process"));
});

after(async () => {
  await app?.close();
  rmSync(work, { recursive: true, force: true });
});

interface ProgressBody {
  state: { job_no: number; sampling_step: number; sampling_steps: number; interrupted: boolean };
  current_image: string | null;
}

async function progress(server: FastifyInstance): Promise<ProgressBody> {
  return (await server.inject({ method: "GET", url: "/sdapi/v1/progress" })).json() as ProgressBody;
}

/** Polls /progress until the running job has made `step` denoising steps (and shows a preview). */
async function untilStep(server: FastifyInstance, step: number, preview = false): Promise<ProgressBody> {
  for (;;) {
    const p = await progress(server);
    if (p.state.sampling_step >= step && (!preview || p.current_image)) return p;
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the server with a child-process job executor", () => {
  it("gives the same PNG bytes as an in-process server", async () => {
    const inProcess = await createServer(serverOptions("in-process"));
    try {
      const [child, local] = await Promise.all(
        [app, inProcess].map((s) =>
          s.inject({ method: "POST", url: "/sdapi/v1/txt2img", payload: SMALL_JOB }),
        ),
      );
      assert.equal(child.statusCode, 200, child.body);
      assert.equal(local.statusCode, 200, local.body);
      const [a, b] = [child.json(), local.json()] as { images: string[]; info: string }[];
      assert.equal(a.images.length, 1);
      assert.ok(
        a.images[0] === b.images[0],
        "the child process's PNG equals the in-process one byte for byte",
      );
      assert.deepEqual(JSON.parse(a.info).infotexts, JSON.parse(b.info).infotexts);
    } finally {
      await inProcess.close();
    }
  });

  it("answers /progress and /interrupt within a second while a long job runs; the interrupt stops it within a step", async () => {
    const running = app.inject({ method: "POST", url: "/sdapi/v1/txt2img", payload: LONG_JOB });
    // approx previews come every 3 steps
    const before = await untilStep(app, 3, true);
    const polled = await timed(() => progress(app));
    assert.ok(polled.ms < ANSWER_MS, `/progress took ${polled.ms.toFixed(0)} ms during a job`);
    assert.equal(polled.value.state.sampling_steps, LONG_JOB.steps);
    assert.ok(polled.value.current_image, "live previews come from the executor process");
    assert.ok(polled.value.state.sampling_step < LONG_JOB.steps, "the job is still running");
    const health = await timed(() => app.inject({ method: "GET", url: "/sdlite/v1/health" }));
    assert.ok(health.ms < ANSWER_MS, `/health took ${health.ms.toFixed(0)} ms during a job`);
    const seen = (await progress(app)).state.sampling_step;
    const interrupt = await timed(() => app.inject({ method: "POST", url: "/sdapi/v1/interrupt" }));
    assert.equal(interrupt.value.statusCode, 200);
    assert.ok(interrupt.ms < ANSWER_MS, `/interrupt took ${interrupt.ms.toFixed(0)} ms during a job`);
    const done = await running;
    assert.equal(done.statusCode, 200, done.body);
    const info = JSON.parse(done.json().info) as { sdlite_stopped_at: ({ step: number } | null)[] };
    const stoppedAt = info.sdlite_stopped_at[0]?.step;
    assert.ok(stoppedAt !== undefined, "the interrupted image says where it stopped");
    assert.ok(stoppedAt >= before.state.sampling_step);
    // the step running when the interrupt arrived ends, and one report of it may still be on its way
    assert.ok(stoppedAt <= seen + 2, `stopped at step ${stoppedAt}, the interrupt came after step ${seen}`);
    assert.ok(stoppedAt < LONG_JOB.steps);
  });

  it("skip ends the running iteration only, interrupt the job; both keep what they have", async () => {
    const job = { ...LONG_JOB, width: 128, height: 128, n_iter: 2 };
    const running = app.inject({ method: "POST", url: "/sdapi/v1/txt2img", payload: job });
    await untilStep(app, 2);
    assert.equal((await app.inject({ method: "POST", url: "/sdapi/v1/skip" })).statusCode, 200);
    for (;;) {
      const p = await progress(app);
      if (p.state.job_no === 1 && p.state.sampling_step >= 2) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal((await app.inject({ method: "POST", url: "/sdapi/v1/interrupt" })).statusCode, 200);
    const done = await running;
    assert.equal(done.statusCode, 200, done.body);
    const info = JSON.parse(done.json().info) as {
      sdlite_stopped_at: ({ step: number } | null)[];
      all_seeds: number[];
    };
    assert.equal(done.json().images.length, 2, "one image per iteration");
    assert.deepEqual(info.all_seeds, [job.seed, job.seed + 1]);
    for (const [k, at] of info.sdlite_stopped_at.entries()) {
      assert.ok(
        at && at.step >= 2 && at.step < job.steps,
        `iteration ${k} stopped early: ${JSON.stringify(at)}`,
      );
    }
  });

  it("a bad LoRA found only in the executor process is still a 422 naming it", async () => {
    const bad = await app.inject({
      method: "POST",
      url: "/sdapi/v1/txt2img",
      payload: { ...SMALL_JOB, prompt: "cat <lora:not-a-lora:1>" },
    });
    assert.equal(bad.statusCode, 422, bad.body);
    assert.match(bad.json().detail, /not-a-lora\.safetensors.*not a LoRA file/);
  });

  it("fails the job of a killed executor process with a clear error and serves the next job with a fresh one", async () => {
    const executor = app.sdlite.context.executor;
    assert.ok(executor instanceof ChildProcessExecutor);
    const running = app.inject({ method: "POST", url: "/sdapi/v1/txt2img", payload: LONG_JOB });
    await untilStep(app, 1);
    const pid = executor.pid;
    assert.ok(pid !== undefined);
    process.kill(pid, "SIGKILL");
    const failed = await running;
    assert.equal(failed.statusCode, 500);
    assert.match(
      failed.json().detail ?? failed.body,
      /generation process stopped unexpectedly \(killed by SIGKILL\)/,
    );
    const p = await timed(() => progress(app));
    assert.ok(p.ms < ANSWER_MS);
    const next = await app.inject({ method: "POST", url: "/sdapi/v1/txt2img", payload: SMALL_JOB });
    assert.equal(next.statusCode, 200, next.body);
    assert.notEqual(executor.pid, pid, "a fresh executor process");
  });
});

describe("sdlite serve", () => {
  it(`exits on SIGTERM within --shutdown-grace + ${STOP_STEP_MS / 1000} s while a long job runs`, async () => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        join(repoRoot, "src/cli/main.ts"),
        "serve",
        "-m",
        model,
        "--port",
        "0",
        "--threads",
        "1",
        "--shutdown-grace",
        "1",
      ],
      { cwd: repoRoot, env: { ...process.env, HF_HUB_OFFLINE: "1" }, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.setEncoding("utf-8").on("data", (d: string) => {
          stderr += d;
          const m = /serving on (http:\/\/[\d.]+:\d+)/.exec(stderr);
          if (m) resolve(m[1]);
        });
        child.on("exit", () => reject(new Error(`serve exited before listening:\n${stderr}`)));
      });
      const job = (await (
        await fetch(`${url}/sdlite/v1/jobs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(LONG_JOB),
        })
      ).json()) as { id: string };
      assert.ok(job.id);
      for (;;) {
        const p = (await (await fetch(`${url}/sdapi/v1/progress`)).json()) as ProgressBody;
        if (p.state.sampling_step >= 1) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const start = performance.now();
      child.kill("SIGTERM");
      const code = await exited;
      const ms = performance.now() - start;
      assert.equal(code, 0, stderr);
      assert.ok(ms < 1000 + STOP_STEP_MS + 2000, `exited ${ms.toFixed(0)} ms after SIGTERM`);
      assert.match(stderr, /SIGTERM: finishing the running job/);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
