/**
 * Where a warm start's UNet session creation goes (not part of `npm test`): on an SD1.5-shaped
 * checkpoint, the cached fp32 UNet graph is opened in a fresh process per variant — each graph
 * optimisation level, `all` without weight prepacking, and sessions loaded from ORT's saved
 * optimised model (dumped at one level, loaded at another) — timing session creation (split into
 * ORT's own phases from its verbose log), the first call and the timed calls, and comparing every
 * variant's output with the plain `all` session's on the same inputs.
 *
 *   npx tsx scripts/session-create-timing.ts [--checkpoint PATH] [--cache DIR] [--rounds N] [--runs N]
 *       [--variants all,extended,…] [--keep-dumps] [--compare-steps N]
 *
 * Defaults: `.bench/sd15-random-f16.safetensors`, graph cache `$SDLITE_CACHE` or `.bench/cache`, 3 rounds
 * (each round runs every variant once, interleaved, so a busy machine slows them alike), 2 timed calls
 * per process. Dumps go to `<cache>/session-create-timing/` (about 3.3 GB each) and are removed at the
 * end unless --keep-dumps. --compare-steps N opens every listed variant in one process instead and
 * interleaves N calls of each (per-step speed only). Loads the full-size UNet (~4-7 GB of RAM): run it under
 * `flock /tmp/fullsize.lock`.
 */
import { fork } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { defaultCacheRoot, fileIdentity, GraphCache, graphCacheKey } from "../src/cache/graph-cache.js";
import { buildUNetGraph, UNET_INPUTS, UNET_OUTPUT } from "../src/graph/unet.js";
import { createRandomSource } from "../src/rng/index.js";
import { onnxruntimeNode } from "../src/runtime/onnxruntime-node.js";
import type { GraphOptimizationLevel, SessionOptions, TensorData } from "../src/runtime/runtime.js";
import { loadModel } from "../src/weights/load-model.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    checkpoint: { type: "string", default: join(root, ".bench", "sd15-random-f16.safetensors") },
    cache: { type: "string" },
    rounds: { type: "string", default: "3" },
    runs: { type: "string", default: "2" },
    variants: { type: "string" },
    "keep-dumps": { type: "boolean", default: false },
    // instead of a process per variant: every listed variant's session open in one process, their
    // calls interleaved for this many rounds (per-step speed, with the machine's load drift shared)
    "compare-steps": { type: "string" },
    // internal: a child process's job (JSON)
    child: { type: "string" },
    compare: { type: "string" },
  },
});

type Level = GraphOptimizationLevel;
/** A saved optimised model: dumped by a session at `level`, optionally with prepacked weights. */
interface Dump {
  readonly level: Level;
  readonly prepacked?: boolean;
}
interface Variant {
  /** Level of the measured session. */
  readonly level: Level;
  /** Load this saved optimised model instead of the plain cached graph. */
  readonly dump?: Dump;
  readonly noPrepack?: boolean;
}
const VARIANTS: Record<string, Variant> = {
  disabled: { level: "disabled" },
  basic: { level: "basic" },
  extended: { level: "extended" },
  all: { level: "all" },
  "all-noprepack": { level: "all", noPrepack: true },
  "saved-all>disabled": { level: "disabled", dump: { level: "all" } },
  "saved-all>all": { level: "all", dump: { level: "all" } },
  "saved-extended>all": { level: "all", dump: { level: "extended" } },
  "saved-all-prepacked>disabled": { level: "disabled", dump: { level: "all", prepacked: true } },
};
const dumpName = (d: Dump) => `${d.level}${d.prepacked ? "-prepacked" : ""}`;

interface ChildJob {
  readonly kind: "dump" | "measure";
  readonly modelPath: string;
  readonly level: Level;
  readonly noPrepack?: boolean;
  /** dump: the folder to write; prepacked: also save prepacked weights. */
  readonly dumpDir?: string;
  readonly prepacked?: boolean;
  readonly runs: number;
  /** Where to write the output tensor (raw float32). */
  readonly outputFile?: string;
}
interface ChildResult {
  readonly createS: number;
  /** CPU seconds (all threads) of session creation: less disturbed by other processes than wall time. */
  readonly createCpuS: number;
  readonly firstS: number;
  readonly runsS: number[];
  readonly rssAfterCreate: number;
  readonly peakRss: number;
}

const OPTIMIZED_MODEL = "model.onnx";
const OPTIMIZED_DATA = "model.onnx.data";

function sessionOptions(job: ChildJob): SessionOptions {
  const config: Record<string, string> = {};
  if (job.noPrepack) config["session.disable_prepacking"] = "1";
  if (job.kind === "dump") {
    config["session.optimized_model_external_initializers_file_name"] = OPTIMIZED_DATA;
    config["session.optimized_model_external_initializers_min_size_in_bytes"] = "1024";
    if (job.prepacked) config["session.save_external_prepacked_constant_initializers"] = "1";
  }
  return {
    graphOptimizationLevel: job.level,
    logSeverityLevel: 0,
    configEntries: config,
    ...(job.kind === "dump" ? { optimizedModelFilePath: join(job.dumpDir!, OPTIMIZED_MODEL) } : {}),
  };
}

function feeds(): Record<string, TensorData> {
  const rng = createRandomSource("cpu", 0);
  return {
    [UNET_INPUTS.sample]: { dims: [1, 4, 64, 64], data: rng.randn([1, 4, 64, 64]) },
    [UNET_INPUTS.timestep]: { dims: [1], data: new Float32Array([500]) },
    [UNET_INPUTS.encoderHiddenStates]: { dims: [1, 77, 768], data: rng.randn([1, 77, 768]) },
  };
}

function vmHwm(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf-8"));
  return m ? Number(m[1]) * 1024 : 0;
}

interface CompareJob {
  readonly sessions: { name: string; modelPath: string; level: Level }[];
  readonly rounds: number;
}

async function runCompare(job: CompareJob): Promise<Record<string, number[]>> {
  const runtime = onnxruntimeNode();
  const input = feeds();
  const open = [];
  for (const s of job.sessions) {
    const session = await runtime.createSession({ path: s.modelPath }, { graphOptimizationLevel: s.level });
    await session.run(input, [UNET_OUTPUT]); // the first call faults in mapped weights
    open.push({ name: s.name, session });
  }
  const times: Record<string, number[]> = {};
  for (let r = 0; r < job.rounds; r++) {
    for (const { name, session } of open) {
      const t = performance.now();
      await session.run(input, [UNET_OUTPUT]);
      const list = times[name] ?? [];
      list.push((performance.now() - t) / 1000);
      times[name] = list;
    }
  }
  for (const { session } of open) await session.release();
  return times;
}

async function runChild(job: ChildJob): Promise<ChildResult> {
  const runtime = onnxruntimeNode();
  // ORT's verbose log (stderr, timestamped) gives the phases; mark where creation starts
  process.stderr.write(`@@create-start ${Date.now()}\n`);
  let t = performance.now();
  const cpu = process.cpuUsage();
  const session = await runtime.createSession({ path: job.modelPath }, sessionOptions(job));
  const createS = (performance.now() - t) / 1000;
  const used = process.cpuUsage(cpu);
  const createCpuS = (used.user + used.system) / 1e6;
  const rssAfterCreate = process.memoryUsage().rss;
  const input = feeds();
  t = performance.now();
  const first = await session.run(input, [UNET_OUTPUT]);
  const firstS = (performance.now() - t) / 1000;
  const runsS: number[] = [];
  for (let i = 0; i < job.runs; i++) {
    t = performance.now();
    await session.run(input, [UNET_OUTPUT]);
    runsS.push((performance.now() - t) / 1000);
  }
  if (job.outputFile) {
    const out = first[UNET_OUTPUT].data as Float32Array;
    writeFileSync(job.outputFile, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  }
  await session.release();
  return { createS, createCpuS, firstS, runsS, rssAfterCreate, peakRss: vmHwm() };
}

/** ORT's phases, from the timestamps of its verbose log lines. */
interface Phases {
  /** Reading the model: protobuf parse, external data. */
  load: number;
  /** Graph partitioning and every graph transformer. */
  optimize: number;
  /** Execution plan, allocation planner. */
  plan: number;
  /** Copying initializers into the session state. */
  initializers: number;
  /** After that: kernel creation and weight prepacking, and saving the optimised model if asked. */
  finalize: number;
  /** The slowest transformers (name: seconds), optimisation included. */
  transformers: [string, number][];
}

function parsePhases(log: string): Phases | undefined {
  const stamp = (line: string) => {
    const m = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)/.exec(line.replace(/\x1b\[[0-9;]*m/g, ""));
    if (!m) return undefined;
    const [date, time] = m[1].split(" ");
    const [hms, frac] = time.split(".");
    return Date.parse(`${date}T${hms}Z`) / 1000 + Number(`0.${frac}`);
  };
  const lines = log.split("\n");
  let start: number | undefined;
  const marks: Record<string, number> = {};
  const transformer: Record<string, number> = {};
  let current: { name: string; at: number } | undefined;
  const offset = new Date().getTimezoneOffset() * 60;
  for (const raw of lines) {
    const line = raw.replace(/\x1b\[[0-9;]*m/g, "");
    const m = /^@@create-start (\d+)/.exec(line);
    if (m) {
      start = Number(m[1]) / 1000 - offset; // ORT logs local time, which stamp() reads as if UTC
      continue;
    }
    const at = stamp(line);
    if (at === undefined) continue;
    const endCurrent = () => {
      if (current) transformer[current.name] = (transformer[current.name] ?? 0) + at - current.at;
      current = undefined;
    };
    if (line.includes("Initializing session.")) marks.init ??= at;
    else if (/Applying graph transformer (\S+)/.test(line)) {
      endCurrent();
      current = { name: /Applying graph transformer (\S+)/.exec(line)![1], at };
    } else if (/GraphTransformer (\S+) modified/.test(line)) endCurrent();
    else if (line.includes("VerifyEachNodeIsAssignedToAnEp")) {
      endCurrent();
      marks.placed ??= at;
    } else if (line.includes("Saving initialized tensors.")) marks.saving ??= at;
    else if (line.includes("Done saving initialized tensors")) marks.saved ??= at;
    else if (line.includes("Session successfully initialized")) marks.done ??= at;
  }
  if (start === undefined || !marks.init || !marks.placed || !marks.saving || !marks.saved || !marks.done)
    return undefined;
  return {
    load: marks.init - start,
    optimize: marks.placed - marks.init,
    plan: marks.saving - marks.placed,
    initializers: marks.saved - marks.saving,
    finalize: marks.done - marks.saved,
    transformers: Object.entries(transformer)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4),
  };
}

function spawnChild(job: ChildJob, logFile: string): Promise<{ result: ChildResult; log: string }> {
  // ORT's log goes straight to a file: a pipe could fill up and stall the child's native writes
  const logFd = openSync(logFile, "w");
  return new Promise((resolvePromise, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["--child", JSON.stringify(job)], {
      stdio: ["ignore", "ignore", logFd, "ipc"],
    });
    let result: ChildResult | undefined;
    child.on("message", (m) => {
      result = m as ChildResult;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      closeSync(logFd);
      const log = readFileSync(logFile, "utf-8");
      if (code === 0 && result) resolvePromise({ result, log });
      else reject(new Error(`child exited with ${code}: ${log.split("\n").slice(-5).join("\n")}`));
    });
  });
}

/** Reads every file of a model folder once (through the page cache when it is warm). */
function readAll(files: readonly string[]): { seconds: number; bytes: number } {
  const buf = Buffer.allocUnsafe(64 << 20);
  let bytes = 0;
  const t = performance.now();
  for (const f of files) {
    const fd = openSync(f, "r");
    try {
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        bytes += n;
      }
    } finally {
      closeSync(fd);
    }
  }
  return { seconds: (performance.now() - t) / 1000, bytes };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;

async function main(): Promise<void> {
  const checkpoint = resolve(values.checkpoint as string);
  if (!existsSync(checkpoint)) {
    throw new Error(`${checkpoint} is missing: npx tsx scripts/make-random-checkpoint.ts ${checkpoint}`);
  }
  const names = values.variants ? (values.variants as string).split(",") : Object.keys(VARIANTS);
  for (const n of names)
    if (!VARIANTS[n]) throw new Error(`unknown variant ${n} (${Object.keys(VARIANTS).join(", ")})`);
  const rounds = Number(values.rounds);
  const runs = Number(values.runs);
  const cacheRoot = values.cache
    ? resolve(values.cache)
    : defaultCacheRoot({
        ...process.env,
        SDLITE_CACHE: process.env.SDLITE_CACHE ?? join(root, ".bench", "cache"),
      });

  const model = loadModel(checkpoint);
  if (model.format === "onnx") throw new Error("needs a checkpoint or diffusers folder, not an ONNX folder");
  const unet = model.unet;
  // the engine's key (open-pipeline.ts: no LoRA, default attention), so both share the entry
  const key = graphCacheKey({
    kind: "unet",
    weights: unet.files.map((f) => fileIdentity(f)),
    config: { config: unet.config, loras: "" },
    options: { attention: "mha" },
  });
  const t = performance.now();
  const { modelPath, hit } = new GraphCache(cacheRoot).getOrBuild(key, () =>
    buildUNetGraph(unet.weights, unet.config, { attention: "mha" }),
  );
  const entryDir = dirname(modelPath);
  const entryFiles = Object.keys(JSON.parse(readFileSync(join(entryDir, "entry.json"), "utf-8")).files).map(
    (f) => join(entryDir, f),
  );
  console.log(
    `UNet graph ${hit ? "cached" : `built in ${((performance.now() - t) / 1000).toFixed(1)} s`}: ${entryDir} (${gb(entryFiles.reduce((s, f) => s + statSync(f).size, 0))})`,
  );

  const work = join(cacheRoot, "session-create-timing");
  mkdirSync(work, { recursive: true });
  const dumps = new Map<string, string>();
  for (const n of names) {
    const d = VARIANTS[n].dump;
    if (!d || dumps.has(dumpName(d))) continue;
    const dir = join(work, dumpName(d));
    if (values["keep-dumps"] && existsSync(join(dir, "complete"))) {
      console.log(`dump ${dumpName(d)}: kept from an earlier run`);
      dumps.set(dumpName(d), join(dir, OPTIMIZED_MODEL));
      continue;
    }
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    const { result } = await spawnChild(
      {
        kind: "dump",
        modelPath,
        level: d.level,
        dumpDir: dir,
        prepacked: d.prepacked,
        runs: 0,
      },
      join(work, `log-dump-${dumpName(d)}.txt`),
    );
    const size = [OPTIMIZED_MODEL, OPTIMIZED_DATA]
      .filter((f) => existsSync(join(dir, f)))
      .reduce((s, f) => s + statSync(join(dir, f)).size, 0);
    console.log(`dump ${dumpName(d)}: session + save ${result.createS.toFixed(1)} s, ${gb(size)} on disk`);
    writeFileSync(join(dir, "complete"), "");
    dumps.set(dumpName(d), join(dir, OPTIMIZED_MODEL));
  }

  if (values["compare-steps"]) {
    const job: CompareJob = {
      rounds: Number(values["compare-steps"]),
      sessions: names.map((n) => {
        const v = VARIANTS[n];
        return { name: n, modelPath: v.dump ? dumps.get(dumpName(v.dump))! : modelPath, level: v.level };
      }),
    };
    console.log(`one process, ${job.rounds} interleaved rounds of ${names.join(", ")}; load ${load()}`);
    const times = await new Promise<Record<string, number[]>>((resolvePromise, reject) => {
      const child = fork(fileURLToPath(import.meta.url), ["--compare", JSON.stringify(job)], {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      child.on("message", (m) => resolvePromise(m as Record<string, number[]>));
      child.on("error", reject);
      child.on("exit", (code) => code !== 0 && reject(new Error(`compare child exited with ${code}`)));
    });
    for (const [n, ts] of Object.entries(times)) {
      console.log(
        `${n.padEnd(30)} median ${median(ts).toFixed(2)} s, min ${Math.min(...ts).toFixed(2)} s: ${ts.map((x) => x.toFixed(2)).join(" ")}`,
      );
    }
    console.log(`load ${load()}`);
    if (!values["keep-dumps"]) rmSync(work, { recursive: true, force: true });
    return;
  }

  console.log(`${rounds} rounds of ${names.join(", ")}; ${runs} timed calls each; load ${load()}`);
  const results = new Map<string, { result: ChildResult; phases?: Phases }[]>();
  const reference = join(work, "out-all.f32");
  const outputs = new Map<string, string>();
  for (let r = 0; r < rounds; r++) {
    const read = readAll(entryFiles);
    console.log(
      `round ${r + 1}: read the plain graph ${gb(read.bytes)} in ${read.seconds.toFixed(2)} s; load ${load()}`,
    );
    for (const n of names) {
      const v = VARIANTS[n];
      const path = v.dump ? dumps.get(dumpName(v.dump))! : modelPath;
      const outputFile = r === 0 ? join(work, `out-${n.replace(/[^a-z0-9-]/gi, "_")}.f32`) : undefined;
      const { result, log } = await spawnChild(
        {
          kind: "measure",
          modelPath: path,
          level: v.level,
          noPrepack: v.noPrepack,
          runs,
          outputFile,
        },
        join(work, `log-${n.replace(/[^a-z0-9-]/gi, "_")}-${r + 1}.txt`),
      );
      if (outputFile) outputs.set(n, outputFile);
      const phases = parsePhases(log);
      const list = results.get(n) ?? [];
      list.push({ result, phases });
      results.set(n, list);
      console.log(
        `  ${n.padEnd(30)} create ${result.createS.toFixed(2)} s (cpu ${result.createCpuS.toFixed(2)} s)` +
          (phases
            ? ` (load ${phases.load.toFixed(2)}, optimise ${phases.optimize.toFixed(2)}, plan ${phases.plan.toFixed(2)}, initializers ${phases.initializers.toFixed(2)}, finalize ${phases.finalize.toFixed(2)})`
            : "") +
          `, first call ${result.firstS.toFixed(2)} s, calls ${result.runsS.map((x) => x.toFixed(2)).join(" ")} s, RSS ${gb(result.rssAfterCreate)} → peak ${gb(result.peakRss)}`,
      );
      if (phases && r === 0)
        console.log(
          `      slowest transformers: ${phases.transformers.map(([k, s]) => `${k} ${s.toFixed(2)} s`).join(", ")}`,
        );
    }
  }
  console.log(`\nmedians over ${rounds} processes (load ${load()}):`);
  const refOut = outputs.get("all") ?? (existsSync(reference) ? reference : undefined);
  const refData = refOut ? new Float32Array(readFileSync(refOut).buffer.slice(0)) : undefined;
  for (const n of names) {
    const list = results.get(n)!;
    const m = (f: (x: (typeof list)[number]) => number) => median(list.map(f)).toFixed(2);
    const step = median(list.flatMap((x) => x.result.runsS));
    const out = outputs.get(n);
    const diff =
      refData && out ? maxAbsDiff(new Float32Array(readFileSync(out).buffer.slice(0)), refData) : undefined;
    console.log(
      `${n.padEnd(30)} create ${m((x) => x.result.createS)} s (cpu ${m((x) => x.result.createCpuS)} s), first call ${m((x) => x.result.firstS)} s, ` +
        `call ${step.toFixed(2)} s, create+first−call ${(median(list.map((x) => x.result.createS + x.result.firstS)) - step).toFixed(2)} s` +
        (diff !== undefined ? `, max |out − all| ${diff.toExponential(2)}` : ""),
    );
  }
  if (!values["keep-dumps"]) rmSync(work, { recursive: true, force: true });
}

// last, so every declaration above is initialised
if (values.compare) {
  const times = await runCompare(JSON.parse(values.compare) as CompareJob);
  process.send?.(times, () => process.exit(0));
} else if (values.child) {
  const job = JSON.parse(values.child) as ChildJob;
  const result = await runChild(job);
  process.send?.(result, () => process.exit(0));
} else {
  await main();
}
