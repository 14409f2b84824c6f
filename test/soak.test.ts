/**
 * Soak: `sdlite serve` with the tiny model, as a process, answering many small jobs one after the
 * other and then many at once (txt2img at 64x64 with 1-2 steps, an img2img every fourth job). Every
 * job must answer 200 with an image, and the memory of the server (the resident set of its process
 * and any children it starts) must not keep growing: after a warm-up (the first jobs fill
 * onnxruntime's arenas and sdlite's caches), the resident set may grow by at most RSS_GROWTH_BOUND.
 * `/sdapi/v1/progress`, asked throughout, answers within PROGRESS_MS.
 *
 * CI runs SOAK_SEQUENTIAL and SOAK_CONCURRENT jobs (about half a minute on a quiet machine);
 * `npm run fuzz` runs the full 500 and 50 (SDLITE_SOAK_SEQUENTIAL, SDLITE_SOAK_CONCURRENT).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { encodePng } from "../src/image/png.js";
import { fixturePath } from "./helpers/fixtures.js";
import { reportTally } from "./helpers/fuzz.js";
import { repoRoot } from "./helpers/sdlite-cli.js";

/**
 * Measured over 500 + 50 jobs: 9 MiB of growth after warm-up, 6-8 MiB over CI's 60 + 50
 * (docs/reliability.md). The bound catches a leak of more than ~0.1 MiB a job in the long run and
 * ~0.5 MiB a job in CI.
 */
const RSS_GROWTH_BOUND = 64 * 1024 * 1024;
const WARM_UP = 10;
const PROGRESS_MS = 1_000;
const SEQUENTIAL = envCount("SDLITE_SOAK_SEQUENTIAL", 60);
const CONCURRENT = envCount("SDLITE_SOAK_CONCURRENT", 50);

function envCount(name: string, ci: number): number {
  const wanted = Number(process.env[name]);
  return Number.isInteger(wanted) && wanted > 0 ? wanted : ci;
}

const work = mkdtempSync(join(tmpdir(), "sdlite-soak-"));
let server: ChildProcess | undefined;
after(() => {
  server?.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

/** The resident set of a process and all its descendants, in bytes (Linux /proc). */
function treeRss(root: number): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf-8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended while we looked
    }
  }
  let total = 0;
  const pending = [root];
  while (pending.length > 0) {
    const pid = pending.pop()!;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf-8"));
      total += m ? Number(m[1]) * 1024 : 0;
    } catch {
      // ended
    }
    pending.push(...(children.get(pid) ?? []));
  }
  return total;
}

function startServer(): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      join(repoRoot, "src", "cli", "main.ts"),
      "serve",
      "-m",
      fixturePath("models", "tiny-sd15"),
      "--port",
      "0",
      "--threads",
      "1",
      "--queue-size",
      String(CONCURRENT + 4),
      "--models-dir",
      join(work, "models"),
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, SDLITE_CACHE: join(work, "cache"), HF_HUB_OFFLINE: "1", HF_TOKEN: "" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  server = child;
  let stderr = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "serving on" line:\n${stderr}`)), 60_000);
    child.stderr!.setEncoding("utf-8").on("data", (d: string) => {
      stderr = (stderr + d).slice(-20_000);
      const m = /serving on (http:\/\/[\d.]+:\d+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}:\n${stderr}`)));
  });
}

const INIT = Buffer.from(
  encodePng({ width: 64, height: 64, channels: 3, data: new Uint8Array(64 * 64 * 3).fill(100) }),
).toString("base64");

function jobBody(i: number): { url: string; body: Record<string, unknown> } {
  const common = {
    prompt: `a red barn ${i}, (field:1.1)`,
    negative_prompt: i % 3 === 0 ? "fog" : "",
    seed: i,
    steps: 1 + (i % 2),
    width: 64,
    height: 64,
    sampler_name: ["Euler", "Euler a", "DPM++ 2M"][i % 3],
  };
  if (i % 4 === 3)
    return { url: "/sdapi/v1/img2img", body: { ...common, init_images: [INIT], denoising_strength: 0.7 } };
  return { url: "/sdapi/v1/txt2img", body: common };
}

test("soak: sequential then concurrent tiny jobs all answer; memory stays flat; progress answers", {
  timeout: 1_800_000,
}, async () => {
  const base = await startServer();
  const pid = server!.pid!;
  let failures = 0;
  let peak = 0;
  let worstProgressMs = 0;
  let measuring = false;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, treeRss(pid));
      const started = performance.now();
      const r = await fetch(`${base}/sdapi/v1/progress?skip_current_image=true`);
      await r.arrayBuffer();
      // the first jobs build onnxruntime's sessions, which holds the event loop for a while
      if (measuring) worstProgressMs = Math.max(worstProgressMs, performance.now() - started);
      if (r.status !== 200) failures++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();

  async function run(i: number): Promise<void> {
    const { url, body } = jobBody(i);
    const r = await fetch(`${base}${url}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await r.json()) as { images?: string[]; detail?: string };
    if (r.status !== 200 || json.images?.length !== 1) {
      failures++;
      assert.fail(`job ${i}: ${url} answered ${r.status}: ${JSON.stringify(json).slice(0, 300)}`);
    }
  }

  const started = performance.now();
  const atStart = treeRss(pid);
  for (let i = 0; i < WARM_UP; i++) await run(i);
  const warm = treeRss(pid);
  measuring = true;
  for (let i = WARM_UP; i < WARM_UP + SEQUENTIAL; i++) await run(i);
  const afterSequential = treeRss(pid);
  const sequentialMs = performance.now() - started;
  const concurrentStarted = performance.now();
  await Promise.all(Array.from({ length: CONCURRENT }, (_, k) => run(WARM_UP + SEQUENTIAL + k)));
  const concurrentMs = performance.now() - concurrentStarted;
  running = false;
  await sampler;
  const end = treeRss(pid);
  peak = Math.max(peak, end);

  const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
  const figures = {
    jobs: WARM_UP + SEQUENTIAL + CONCURRENT,
    sequential: SEQUENTIAL,
    concurrent: CONCURRENT,
    rssStartMiB: mib(atStart),
    rssWarmMiB: mib(warm),
    rssAfterSequentialMiB: mib(afterSequential),
    rssEndMiB: mib(end),
    rssPeakMiB: mib(peak),
    rssGrowthMiB: mib(end - warm),
    sequentialSeconds: Math.round(sequentialMs / 100) / 10,
    concurrentSeconds: Math.round(concurrentMs / 100) / 10,
    worstProgressMs: Math.round(worstProgressMs),
  };
  console.log(`soak: ${JSON.stringify(figures)}`);
  reportTally(
    "soak",
    {
      inputs: figures.jobs,
      crashes: server!.exitCode === null ? 0 : 1,
      hangs: 0,
      serverErrors: failures,
      otherFailures: 0,
      peakRssMiB: figures.rssPeakMiB,
    },
    { ...figures, memoryBoundMiB: undefined, rssGrowthBoundMiB: mib(RSS_GROWTH_BOUND) },
  );
  assert.equal(failures, 0);
  assert.equal(server!.exitCode, null, "the server is still running");
  assert.ok(
    end - warm < RSS_GROWTH_BOUND,
    `the resident set grew by ${mib(end - warm)} MiB after warm-up (bound ${mib(RSS_GROWTH_BOUND)} MiB)`,
  );
  assert.ok(worstProgressMs < PROGRESS_MS, `/sdapi/v1/progress took ${Math.round(worstProgressMs)} ms`);
});
