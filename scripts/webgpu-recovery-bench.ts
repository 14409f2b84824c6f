/**
 * What recovering from a failed WebGPU session creation costs in the browser tab, against the page
 * reload that was the only way out before (onnxruntime-web 1.30 refuses every WebGPU session after one
 * failed creation; src/runtime/onnxruntime-web.ts clears that). Headless Chromium on its WebGPU adapter
 * (SwiftShader here), sdlite's browser runtime (test/browser/runtime-page.ts), a small graph
 * (Relu(MatMul(x, w)), 64x64) so that the times are the recovery's, not a model's shader compilation.
 *
 * Each round, interleaved: a failed creation (a layout the provider refuses) through the runtime, then
 *   "recovered": the next WebGPU session created and run on the same page;
 *   "reload": a failed creation again, then the page reloaded and the session created and run there;
 *   "plain": a WebGPU session created and run with no failure before it (the reference).
 * Wall ms from Node around each page call, and the CPU seconds of Chromium's processes over it.
 * Then `failures` failed creations in a row on one page, after which the session must still be made
 * and right (a leak or a broken wasm stack would show there). Also checks once whether onnxruntime-web's
 * WebGPU backend runs in a dedicated Web Worker.
 *
 *   npx tsx scripts/webgpu-recovery-bench.ts [--rounds 7] [--failures 50] [--out FILE.json]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import type { Page } from "playwright-core";
import { GraphBuilder } from "../src/graph/graph-builder.js";
import { serializeModel } from "../src/graph/onnx-model.js";
import type { PageRun } from "../test/browser/runtime-page.js";
import { launchBrowser } from "../test/helpers/browser.js";
import { startIsolatedServer } from "../test/helpers/isolated-server.js";
import { builtWebDir } from "../test/helpers/web-build.js";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "7" },
    failures: { type: "string", default: "50" },
    out: { type: "string" },
  },
});
const rounds = Number(values.rounds);
const failures = Number(values.failures);

const N = 64;
function probeModel(): Uint8Array {
  const b = new GraphBuilder("webgpu_recovery_probe");
  const y = b.node("Relu", [
    b.node("MatMul", [b.input("x", "float32", [N, N]), b.input("w", "float32", [N, N])]),
  ]);
  b.output(y, "y", "float32", [N, N]);
  return serializeModel(b).bytes;
}
const values64 = (seed: number) =>
  Array.from({ length: N * N }, (_, i) => ((i * 7919 + seed) % 97) / 97 - 0.5);

/** Chromium's CPU seconds so far: every process under this one (utime + stime). */
function browserCpuSeconds(): number {
  const tick = 100; // USER_HZ on Linux
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf-8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(name), Number(fields[1]));
      cpu.set(Number(name), (Number(fields[11]) + Number(fields[12])) / tick);
    } catch {
      // the process ended while being read
    }
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p))
      if (p === process.pid) return true;
    return false;
  };
  let total = 0;
  for (const [pid, seconds] of cpu) if (under(pid)) total += seconds;
  return total;
}

async function measured(call: () => Promise<unknown>): Promise<{ ms: number; cpuS: number }> {
  const cpu0 = browserCpuSeconds();
  const t0 = performance.now();
  await call();
  return { ms: performance.now() - t0, cpuS: browserCpuSeconds() - cpu0 };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const bundleDir = mkdtempSync(join(tmpdir(), "sdlite-webgpu-recovery-"));
await build({
  entryPoints: [join(import.meta.dirname, "..", "test", "browser", "runtime-page.ts")],
  outfile: join(bundleDir, "runtime-page.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  logLevel: "warning",
});
const server = await startIsolatedServer({ "/": await builtWebDir(), "/test/": bundleDir });
server.put("/test/page.html", '<!doctype html><script type="module" src="/test/runtime-page.js"></script>');
server.put("/test/probe.onnx", probeModel());
// onnxruntime-web's WebGPU backend in a dedicated module worker: one session created and run there
server.put(
  "/test/ort-worker.js",
  `import * as ort from "/ort/ort.webgpu.min.mjs";
ort.env.wasm.wasmPaths = "/ort/";
onmessage = async ({ data }) => {
  try {
    const t0 = performance.now();
    const bytes = new Uint8Array(await (await fetch("/test/probe.onnx")).arrayBuffer());
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ["webgpu"] });
    const feeds = { x: new ort.Tensor("float32", Float32Array.from(data.x), [${N}, ${N}]),
                    w: new ort.Tensor("float32", Float32Array.from(data.w), [${N}, ${N}]) };
    const { y } = await session.run(feeds);
    postMessage({ ok: true, y: Array.from(y.data), ms: performance.now() - t0, gpu: "gpu" in navigator,
                  device: String(ort.env.webgpu.device?.constructor?.name) });
    await session.release();
  } catch (err) {
    postMessage({ ok: false, error: String(err instanceof Error ? err.message : err) });
  }
};`,
);

const run: PageRun = {
  model: "/test/probe.onnx",
  external: [],
  feeds: {
    x: { dims: [N, N], type: "float32", values: values64(1) },
    w: { dims: [N, N], type: "float32", values: values64(2) },
  },
  provider: "webgpu",
};
const refused = { ...run, webgpuLayout: "nhwc" as PageRun["webgpuLayout"] };

/** y = Relu(x·w) on the CPU, to check each page run's answer. */
function expected(): Float32Array {
  const x = run.feeds.x.values;
  const w = run.feeds.w.values;
  const y = new Float32Array(N * N);
  for (let i = 0; i < N; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < N; k++) s += x[i * N + k] * w[k * N + j];
      y[i * N + j] = Math.max(0, s);
    }
  return y;
}
const want = expected();
function check(got: Record<string, number[]> | number[], label: string): void {
  const y = Array.isArray(got) ? got : got.y;
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(y[i] - want[i]));
  if (!(worst <= 1e-4)) throw new Error(`${label}: the output differs from the CPU's by ${worst}`);
}

const runGraph = (page: Page, r: PageRun) =>
  page.evaluate(
    (req) =>
      (
        globalThis as unknown as { sdliteRunGraph(r: unknown): Promise<Record<string, number[]>> }
      ).sdliteRunGraph(req),
    r,
  );
const failedCreation = async (page: Page) => {
  const error = await runGraph(page, refused).then(
    () => undefined,
    (err: Error) => err.message,
  );
  if (!error?.includes("C++ exception")) throw new Error(`the refused layout was not refused: ${error}`);
};
const ready = (page: Page) => page.waitForFunction(() => "sdliteRunGraph" in globalThis);

const browser = await launchBrowser(undefined, { webgpu: true });
const samples: Record<"recovered" | "reload" | "plain" | "failed", { ms: number; cpuS: number }[]> = {
  recovered: [],
  reload: [],
  plain: [],
  failed: [],
};
let worker: unknown;
let afterStreak: object | undefined;
try {
  const page = await browser.context.newPage();
  await page.goto(`${server.origin}/test/page.html`);
  await ready(page);
  check(await runGraph(page, run), "warm-up"); // ORT loaded, the shaders of this graph compiled once
  for (let round = 0; round < rounds; round++) {
    samples.failed.push(await measured(() => failedCreation(page)));
    samples.recovered.push(await measured(async () => check(await runGraph(page, run), "recovered")));
    await failedCreation(page);
    samples.reload.push(
      await measured(async () => {
        await page.reload();
        await ready(page);
        check(await runGraph(page, run), "after a reload");
      }),
    );
    samples.plain.push(await measured(async () => check(await runGraph(page, run), "plain")));
    console.log(
      `round ${round + 1}: failed ${samples.failed[round].ms.toFixed(0)} ms, recovered ${samples.recovered[round].ms.toFixed(0)} ms, reload ${samples.reload[round].ms.toFixed(0)} ms, plain ${samples.plain[round].ms.toFixed(0)} ms`,
    );
  }
  // many failed creations on one page, then the session still made and right
  const streak = await measured(async () => {
    for (let i = 0; i < failures; i++) await failedCreation(page);
  });
  check(await runGraph(page, run), `after ${failures} failed creations`);
  afterStreak = { failures, ...streak, msPerFailure: streak.ms / failures };
  console.log(`${failures} failed creations in a row, then a WebGPU run: ${JSON.stringify(afterStreak)}`);
  // a string, as this file is type-checked without the DOM's types
  worker = await page.evaluate(`new Promise((resolve) => {
    const w = new Worker("/test/ort-worker.js", { type: "module" });
    w.onmessage = ({ data }) => { w.terminate(); resolve(data); };
    w.onerror = (e) => resolve({ ok: false, error: e.message });
    w.postMessage(${JSON.stringify({ x: run.feeds.x.values, w: run.feeds.w.values })});
  })`);
  const reply = worker as { ok: boolean; y?: number[]; error?: string };
  if (reply.ok && reply.y) check(reply.y, "in a worker");
  console.log(`onnxruntime-web WebGPU in a dedicated worker: ${JSON.stringify({ ...reply, y: undefined })}`);
} finally {
  await browser.close();
  await server.close();
  rmSync(bundleDir, { recursive: true, force: true });
}

const summary = Object.fromEntries(
  Object.entries(samples).map(([k, v]) => [
    k,
    { medianMs: median(v.map((s) => s.ms)), medianCpuS: median(v.map((s) => s.cpuS)), samples: v },
  ]),
);
for (const [k, v] of Object.entries(summary)) {
  console.log(
    `${k.padEnd(9)} median ${v.medianMs.toFixed(0)} ms wall, ${v.medianCpuS.toFixed(2)} CPU s (Chromium)`,
  );
}
const machine = {
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  flags: /^flags\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf-8"))?.[1],
  loadAverage: readFileSync("/proc/loadavg", "utf-8").trim(),
};
if (values.out) {
  writeFileSync(
    values.out,
    `${JSON.stringify({ date: new Date().toISOString(), rounds, machine, summary, afterStreak, worker: { ...(worker as object), y: undefined } }, null, 1)}\n`,
  );
}
