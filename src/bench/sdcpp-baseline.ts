/**
 * The stable-diffusion.cpp baseline: finds the @lmagder/node-stable-diffusion-cpp prebuild that
 * scripts/sdcpp-baseline/setup.sh unpacked (with its CUDA stand-ins), runs it in its own process on
 * the bench's checkpoint, and turns its logged times into the bench's stage rows: the UNet step at
 * batch 1 (cfg 1) and "batch 2" (cfg > 1: stable-diffusion.cpp runs cond and uncond as two batch-1
 * UNet calls per step), each the sampling time over the steps, and the VAE decode.
 */
import { fork } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import os from "node:os";
import { extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { baselineLabel } from "./baselines.js";
import { machineBusyMs, otherCpuShare, processCpuMs } from "./cpu-share.js";
import { RssSampler } from "./rss-sampler.js";
import type { StageReport } from "./run-bench.js";
import type { SdcppCall, SdcppJob, SdcppMessage, SdcppOutcome } from "./sdcpp-job.js";
import type { RunTiming, StageName } from "./stage-job.js";
import { summarize } from "./stats.js";

/** Where the bench looks without a path: setup.sh's default folder under the bench folder. */
export function defaultSdcppDir(benchDir: string): string {
  return join(benchDir, "baselines", "sdcpp");
}

const ADDON = join("prebuilds", "node-stable-diffusion-cpp-linux-x64", "node-napi-v9.node");
/** The CFG scale of the "batch 2" calls; any value > 1 costs the same. */
export const SDCPP_CFG_SCALE = 7;

export type SdcppLocation =
  | { readonly available: true; readonly addonPath: string; readonly libraryDir?: string }
  | { readonly available: false; readonly reason: string };

const SETUP_HINT =
  "set it up with scripts/sdcpp-baseline/setup.sh (see docs/benchmarks.md, Side-by-side baselines)";

/**
 * The addon from a path: setup.sh's folder (package/ and cuda-stub/), the package folder, or the
 * .node file itself. The CUDA stand-ins are used where setup.sh put them.
 */
export function locateSdcpp(path: string): SdcppLocation {
  const p = resolve(path);
  if (!existsSync(p)) return { available: false, reason: `${p} does not exist; ${SETUP_HINT}` };
  if (process.platform !== "linux" || process.arch !== "x64")
    return {
      available: false,
      reason: `the prebuild is for linux-x64, not ${process.platform}-${process.arch}`,
    };
  let addonPath: string | undefined;
  let root = p;
  if (statSync(p).isFile()) {
    addonPath = p;
    root = resolve(p, "..", "..", "..", "..");
  } else {
    addonPath = [join(p, "package", ADDON), join(p, ADDON)].find((f) => existsSync(f));
  }
  if (!addonPath) return { available: false, reason: `no ${ADDON} under ${p}; ${SETUP_HINT}` };
  const libraryDir = join(root, "cuda-stub");
  return {
    available: true,
    addonPath,
    libraryDir: existsSync(join(libraryDir, "libcudart.so.12")) ? libraryDir : undefined,
  };
}

function processPath(): string {
  const self = fileURLToPath(import.meta.url);
  return join(self, "..", `sdcpp-process${extname(self)}`);
}

export interface SdcppRun {
  readonly outcome: SdcppOutcome;
  readonly peakRssBytes?: number;
  readonly sampledPeakRssBytes?: number;
  readonly rssSamples: number;
  readonly otherCpuShare?: number;
  readonly processMs: number;
  readonly loadAverage: { readonly before: number; readonly after: number };
}

/** Runs the job in its own process; rejects with the addon's own error (e.g. a library it cannot load). */
export async function runSdcppProcess(
  location: Extract<SdcppLocation, { available: true }>,
  job: Omit<SdcppJob, "addonPath">,
  onCall: (call: SdcppCall, index: number, of: number) => void = () => {},
): Promise<SdcppRun> {
  const before = os.loadavg()[0];
  const started = performance.now();
  const busyBefore = machineBusyMs();
  const ownBefore = processCpuMs();
  const libraryPath = [location.libraryDir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(":");
  const child = fork(processPath(), [], {
    env: { ...process.env, ...(libraryPath ? { LD_LIBRARY_PATH: libraryPath } : {}) },
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  // stable-diffusion.cpp's C-level messages (ggml's CUDA probe) go to stderr: kept for a failure's message
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const sampler = child.pid === undefined ? undefined : new RssSampler(child.pid).start();
  try {
    const outcome = await new Promise<SdcppOutcome>((resolveOutcome, reject) => {
      let settled: SdcppOutcome | Error | undefined;
      child.on("message", (m: SdcppMessage) => {
        if (m.type === "progress") onCall(m.call, m.index, m.of);
        else if (m.type === "done") settled = m.outcome;
        else settled = new Error(m.message);
      });
      child.on("error", reject);
      child.on("exit", (code, signal) => {
        if (settled instanceof Error) reject(settled);
        else if (settled) resolveOutcome(settled);
        else {
          const tail = stderr.trim().split("\n").slice(-3).join(" / ");
          reject(
            new Error(
              `the stable-diffusion.cpp process ended without a result (${signal ? `signal ${signal}` : `exit code ${code}`})${tail ? `: ${tail}` : ""}`,
            ),
          );
        }
      });
      child.send({ ...job, addonPath: location.addonPath } satisfies SdcppJob);
    });
    const rss = sampler?.stop();
    const processMs = performance.now() - started;
    const ownMs = processCpuMs() - ownBefore + (outcome.cpuMs ?? 0);
    const peaks = [rss?.peakBytes, outcome.hwmBytes].filter((v): v is number => v !== undefined);
    return {
      outcome,
      peakRssBytes: peaks.length > 0 ? Math.max(...peaks) : undefined,
      sampledPeakRssBytes: rss?.peakBytes,
      rssSamples: rss?.samples ?? 0,
      otherCpuShare:
        outcome.cpuMs === undefined
          ? undefined
          : otherCpuShare(machineBusyMs() - busyBefore, ownMs, processMs, os.cpus().length),
      processMs,
      loadAverage: { before, after: os.loadavg()[0] },
    };
  } finally {
    sampler?.stop();
    if (child.exitCode === null && child.signalCode === null) child.kill();
  }
}

/** The CFG scales the job needs for the asked stages: cfg 1 for batch 1 (and the VAE alone), cfg > 1 for batch 2. */
export function sdcppCfgScales(stages: readonly StageName[]): number[] {
  const scales: number[] = [];
  if (stages.includes("unet1") || (stages.includes("vae") && !stages.includes("unet2"))) scales.push(1);
  if (stages.includes("unet2")) scales.push(SDCPP_CFG_SCALE);
  return scales;
}

function timing(ms: number): RunTiming {
  return { ms, networks: {} };
}

/**
 * The bench's rows from the baseline's calls: per call, the UNet step is its sampling time over the
 * steps (the first step's buffer allocation included, as in any run of the tool) and the VAE
 * decode its logged decode time. There is no warm-up run: stable-diffusion.cpp loads every weight
 * when its context is created, before any timed call; `first` repeats the first timed call.
 */
export function sdcppStageReports(run: SdcppRun, stages: readonly StageName[], steps: number): StageReport[] {
  const { outcome } = run;
  const perStep = (batch2: boolean) =>
    outcome.calls
      .filter((c) => c.cfgScale > 1 === batch2 && c.times.samplingMs !== undefined)
      .map((c) => timing(c.times.samplingMs! / steps));
  const rows: [StageName, RunTiming[]][] = [
    ["unet1", perStep(false)],
    ["unet2", perStep(true)],
    [
      "vae",
      outcome.calls.filter((c) => c.times.decodeMs !== undefined).map((c) => timing(c.times.decodeMs!)),
    ],
  ];
  return rows
    .filter(([stage, runs]) => stages.includes(stage) && runs.length > 0)
    .map(([stage, runs]) => ({
      set: baselineLabel("sdcpp"),
      options: {},
      baseline: "sdcpp" as const,
      stage,
      variant: "timed" as const,
      threads: outcome.threads,
      outcome: { openMs: outcome.loadMs, first: runs[0], runs, builtGraphs: 0, hwmBytes: outcome.hwmBytes },
      summary: summarize(runs.map((r) => r.ms)),
      peakRssBytes: run.peakRssBytes,
      sampledPeakRssBytes: run.sampledPeakRssBytes,
      rssSamples: run.rssSamples,
      loadAverage: run.loadAverage,
      otherCpuShare: run.otherCpuShare,
      processMs: run.processMs,
    }));
}
