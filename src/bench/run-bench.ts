/**
 * The bench itself: for each option set, each chosen stage runs in its own process (forked
 * stage-process) while this process samples its resident memory; then the quality comparison of
 * each option set's image against the default options' image, and the issue's targets.
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { decodePngRgb } from "../image/png.js";
import { type BaselineComparison, compareWithBaselines } from "./baseline-comparison.js";
import {
  BASELINE_STAGES,
  type BaselineName,
  type BaselineSpec,
  baselineLabel,
  ORT_PLAIN_OPTIONS,
} from "./baselines.js";
import { type BenchDevice, type DevicePair, pairDevices } from "./bench-device.js";
import { compareImages, type ImageDifference } from "./image-difference.js";
import { type MachineInfo, machineInfo } from "./machine-info.js";
import { type OptionSet, optionSetLabel } from "./option-set.js";
import { checkRound2Targets, type Round2Inputs } from "./round2-targets.js";
import {
  defaultSdcppDir,
  locateSdcpp,
  runSdcppProcess,
  sdcppCfgScales,
  sdcppStageReports,
} from "./sdcpp-baseline.js";
import { simdLevel } from "./sdcpp-log.js";
import type { ImageSettings, StageJob, StageName, StageOutcome, StageProgress } from "./stage-job.js";
import { runStageProcess } from "./stage-launcher.js";
import { type Summary, summarize } from "./stats.js";
import { checkTargets, type TargetCheck } from "./targets.js";

export interface BenchPlan {
  readonly benchDir: string;
  readonly modelPath: string;
  readonly taesdPath?: string;
  /** Each is benchmarked through every stage; "default" ({}) is the quality reference. */
  readonly sets: readonly OptionSet[];
  readonly stages: readonly StageName[];
  readonly size: number;
  /** Timed runs per stage after the warm-up run. */
  readonly runs: number;
  /** Timed runs of the whole-image stage (slow at full size). */
  readonly imageRuns: number;
  readonly threads?: number;
  readonly image: ImageSettings;
  readonly compareQuality: boolean;
  /** Baselines timed after the option sets, on the stages they share with sdlite (UNet steps, VAE). */
  readonly baselines?: readonly BaselineSpec[];
  /** Denoising steps of each stable-diffusion.cpp call (its UNet step is the sampling time over them). */
  readonly sdcppSteps?: number;
  /** The GPU timed beside the CPU (--device) and its adapter; absent: the CPU only. */
  readonly device?: BenchDevice;
}

/** Why a stage process ran: a stage as asked, start-up with an empty or a filled cache, or an image for the quality comparison. */
export type StageVariant = "timed" | "cold" | "warm" | "quality";

export interface StageReport {
  readonly set: string;
  readonly options: OptionSet;
  /** Set on a baseline's rows: they are compared against, never a set of sdlite's options. */
  readonly baseline?: BaselineName;
  readonly stage: StageName;
  readonly variant: StageVariant;
  readonly threads: number | "default";
  readonly outcome: StageOutcome;
  /** Over the timed runs (ms); undefined when only the warm-up ran. */
  readonly summary?: Summary;
  /** The larger of the sampled VmRSS peak and the process's VmHWM. */
  readonly peakRssBytes?: number;
  readonly sampledPeakRssBytes?: number;
  readonly rssSamples: number;
  /** 1-minute load average before and after the stage (it counts the stage's own threads too). */
  readonly loadAverage: { readonly before: number; readonly after: number };
  /** Share of the machine's CPU time (0…1) other processes used while the stage ran. */
  readonly otherCpuShare?: number;
  /** The stage process's life, start to exit. */
  readonly processMs: number;
}

export interface QualityReport {
  readonly set: string;
  readonly options: OptionSet;
  /** The set whose image is the reference: "default", or the first set when that is not the default. */
  readonly versus: string;
  readonly image: string;
  readonly reference: string;
  readonly difference: ImageDifference;
}

/** Whether a baseline ran, and if not why; what it ran on. */
export interface BaselineStatus {
  readonly name: BaselineName;
  readonly label: string;
  readonly available: boolean;
  /** Why it did not run: what is missing or the error it gave. */
  readonly reason?: string;
  /** How it ran (sdcpp: the addon, its SIMD build, backend, steps per call). */
  readonly details?: string;
}

export interface BenchResult {
  readonly startedAt: string;
  readonly machine: MachineInfo;
  readonly plan: BenchPlan;
  readonly stages: readonly StageReport[];
  readonly quality: readonly QualityReport[];
  readonly targets: readonly { readonly set: string; readonly checks: readonly TargetCheck[] }[];
  readonly baselines: readonly BaselineStatus[];
  readonly comparisons: readonly BaselineComparison[];
  /** Each GPU stage's median beside the same options' CPU median (--device). */
  readonly devices: readonly DevicePair[];
}

export type BenchEvent =
  | {
      readonly type: "stage";
      readonly set: string;
      readonly stage: StageName;
      readonly variant: StageVariant;
    }
  | {
      readonly type: "progress";
      readonly set: string;
      readonly stage: StageName;
      readonly progress: StageProgress;
    }
  | { readonly type: "skipped"; readonly set: string; readonly stage: StageName; readonly reason: string }
  | { readonly type: "baseline"; readonly label: string; readonly message: string };

/** An option set's label, plus the seed where it is not the plan's. */
function seedLabel(label: string, seed: number, planSeed: number): string {
  return seed === planSeed ? label : `${label}, seed ${seed}`;
}

function fileSlug(label: string): string {
  return label.replace(/[^A-Za-z0-9.-]+/g, "_");
}

export async function runBench(
  plan: BenchPlan,
  onEvent: (e: BenchEvent) => void = () => {},
): Promise<BenchResult> {
  const startedAt = new Date().toISOString();
  const cacheDir = join(plan.benchDir, "cache");
  const imageDir = join(plan.benchDir, "images");
  mkdirSync(imageDir, { recursive: true });
  const stages: StageReport[] = [];
  const imageOf = new Map<string, string>();

  const run = async (
    options: OptionSet,
    stage: StageName,
    variant: StageVariant,
    seed = plan.image.seed,
    baseline?: BaselineName,
  ): Promise<StageReport> => {
    const set = baseline
      ? baselineLabel(baseline)
      : seedLabel(optionSetLabel(options), seed, plan.image.seed);
    onEvent({ type: "stage", set, stage, variant });
    const image = stage === "image";
    const job: StageJob = {
      stage,
      modelPath: plan.modelPath,
      taesdPath: plan.taesdPath,
      cacheDir,
      options,
      threads: plan.threads,
      size: plan.size,
      runs: variant === "timed" ? (image ? plan.imageRuns : plan.runs) : 0,
      image: { ...plan.image, seed },
      imageOut: image
        ? join(imageDir, `${fileSlug(baseline ?? optionSetLabel(options))}-${plan.size}px-seed${seed}.png`)
        : undefined,
    };
    const before = os.loadavg()[0];
    const done = await runStageProcess(job, (progress) =>
      onEvent({ type: "progress", set, stage, progress }),
    );
    const { outcome } = done;
    const peaks = [done.sampledPeak, outcome.hwmBytes].filter((v): v is number => v !== undefined);
    const report: StageReport = {
      set,
      options,
      ...(baseline ? { baseline } : {}),
      stage,
      variant,
      threads: plan.threads ?? "default",
      outcome,
      summary: summarize(outcome.runs.map((r) => r.ms)),
      peakRssBytes: peaks.length > 0 ? Math.max(...peaks) : undefined,
      sampledPeakRssBytes: done.sampledPeak,
      rssSamples: done.samples,
      loadAverage: { before, after: os.loadavg()[0] },
      otherCpuShare: done.otherCpuShare,
      processMs: done.processMs,
    };
    stages.push(report);
    if (outcome.imagePath) imageOf.set(set, outcome.imagePath);
    return report;
  };

  for (const options of plan.sets) {
    const set = optionSetLabel(options);
    for (const stage of plan.stages) {
      if (stage === "startup") {
        // cold = an empty graph cache: every graph is built from the weights
        rmSync(cacheDir, { recursive: true, force: true });
        await run(options, stage, "cold");
        await run(options, stage, "warm");
      } else if (stage === "taesd" && !plan.taesdPath) {
        onEvent({ type: "skipped", set, stage, reason: "no TAESD weights (--taesd PATH)" });
      } else {
        await run(options, stage, "timed");
      }
    }
  }

  const baselines: BaselineStatus[] = [];
  for (const spec of plan.baselines ?? []) {
    const label = baselineLabel(spec.name);
    const stagesHere = plan.stages.filter((s) => BASELINE_STAGES.includes(s));
    if (stagesHere.length === 0) {
      baselines.push({
        name: spec.name,
        label,
        available: false,
        reason: "none of its stages (unet1, unet2, vae) was asked for",
      });
      continue;
    }
    if (spec.name === "ort-plain") {
      for (const stage of stagesHere)
        await run(ORT_PLAIN_OPTIONS, stage, "timed", plan.image.seed, "ort-plain");
      baselines.push({
        name: spec.name,
        label,
        available: true,
        details: `sdlite's graph builder with ${optionSetLabel(ORT_PLAIN_OPTIONS)}`,
      });
      continue;
    }
    const location = locateSdcpp(spec.path ?? defaultSdcppDir(plan.benchDir));
    if (!location.available) {
      baselines.push({ name: spec.name, label, available: false, reason: location.reason });
      onEvent({ type: "baseline", label, message: `unavailable: ${location.reason}` });
      continue;
    }
    const steps = plan.sdcppSteps ?? 2;
    const cfgScales = sdcppCfgScales(stagesHere);
    onEvent({
      type: "baseline",
      label,
      message: `${plan.runs} runs of ${cfgScales.map((c) => `cfg ${c}`).join(" and ")}, ${steps} step${steps === 1 ? "" : "s"} each…`,
    });
    try {
      const done = await runSdcppProcess(
        location,
        {
          modelPath: plan.modelPath,
          size: plan.size,
          threads: plan.threads,
          steps,
          runs: plan.runs,
          cfgScales,
          prompt: plan.image.prompt,
          seed: plan.image.seed,
        },
        (call, index, of) =>
          onEvent({
            type: "baseline",
            label,
            message: `call ${index}/${of} (cfg ${call.cfgScale}): ${(call.totalMs / 1000).toFixed(1)} s`,
          }),
      );
      stages.push(...sdcppStageReports(done, stagesHere, steps));
      const simd = simdLevel(done.outcome.systemInfo);
      baselines.push({
        name: spec.name,
        label,
        available: true,
        details: `${location.addonPath}${location.libraryDir ? " with the CUDA stand-ins" : ""}; ${done.outcome.cpuBackend ? "CPU backend" : "backend not logged as CPU"}, ${simd} build, F16 weights, Euler, ${steps} step${steps === 1 ? "" : "s"} per call, load ${(done.outcome.loadMs / 1000).toFixed(1)} s`,
      });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      baselines.push({ name: spec.name, label, available: false, reason });
      onEvent({ type: "baseline", label, message: `failed: ${reason}` });
    }
  }

  const quality: QualityReport[] = [];
  if (plan.compareQuality) {
    const labels = plan.sets.map(optionSetLabel);
    for (const options of [{}, ...plan.sets]) {
      if (!imageOf.has(optionSetLabel(options))) await run(options, "image", "quality");
    }
    // the same options on another seed: how far apart two unrelated images are, for scale
    const otherSeed = plan.image.seed + 1;
    await run({}, "image", "quality", otherSeed);
    const readImage = (label: string) =>
      decodePngRgb(new Uint8Array(readFileSync(imageOf.get(label)!))).image;
    const compare = (set: string, options: OptionSet, versus: string) =>
      quality.push({
        set,
        options,
        versus,
        image: imageOf.get(set)!,
        reference: imageOf.get(versus)!,
        difference: compareImages(readImage(set), readImage(versus)),
      });
    for (const [i, options] of plan.sets.entries()) {
      if (labels[i] !== "default") compare(labels[i], options, "default");
    }
    // option sets on top of a non-default first set: also against that set, to isolate each addition
    if (labels[0] !== "default") {
      for (const [i, options] of plan.sets.entries()) if (i > 0) compare(labels[i], options, labels[0]);
    }
    compare(seedLabel("default", otherSeed, plan.image.seed), {}, "default");
  }

  return {
    startedAt,
    machine: machineInfo(),
    plan,
    stages,
    quality,
    targets: plan.sets.map((options) => {
      const set = optionSetLabel(options);
      return {
        set,
        checks:
          plan.size === 512
            ? [
                ...checkTargets(targetInputs(stages, set, plan.image)),
                ...checkRound2Targets(round2Inputs(stages, set, plan.image)),
              ]
            : [],
      };
    }),
    baselines,
    comparisons: compareWithBaselines(stages, plan.image),
    devices: pairDevices(stages),
  };
}

/**
 * The effective UNet time per step: from the whole-image stage (UNet time over its calls, so feature
 * reuse across steps counts) where it ran at that batch, else the single-step stage.
 */
export function targetInputs(
  stages: readonly StageReport[],
  set: string,
  image: ImageSettings,
): Parameters<typeof checkTargets>[0] {
  const timed = (stage: StageName) =>
    stages.find((s) => s.set === set && s.stage === stage && s.variant === "timed");
  const wholeImage = timed("image");
  const perStep = wholeImage?.outcome.runs.length
    ? summarize(
        wholeImage.outcome.runs
          .map((r) => {
            const unet = r.networks.unet;
            return unet ? unet.ms / unet.calls : Number.NaN;
          })
          .filter(Number.isFinite),
      )?.median
    : undefined;
  const cfg = image.guidance > 1;
  return {
    imageMs: cfg ? undefined : wholeImage?.summary?.median,
    // with a graph built during the first run, the cache was not warm
    imageFreshProcessMs:
      cfg || !wholeImage || wholeImage.outcome.builtGraphs > 0
        ? undefined
        : wholeImage.outcome.openMs + wholeImage.outcome.first.ms,
    imagePeakBytes: wholeImage?.peakRssBytes,
    unetStepMs: {
      batch1: (!cfg ? perStep : undefined) ?? timed("unet1")?.summary?.median,
      batch2: (cfg ? perStep : undefined) ?? timed("unet2")?.summary?.median,
    },
  };
}

/**
 * Issue 15's inputs: the whole-image stage (its warm-up run is the fresh process: graphs loaded from
 * the cache, nothing built) and the UNet step against the plain export at the batch both ran.
 */
export function round2Inputs(
  stages: readonly StageReport[],
  set: string,
  image: ImageSettings,
): Round2Inputs {
  const timed = (label: string, stage: StageName) =>
    stages.find((s) => s.set === label && s.stage === stage && s.variant === "timed");
  const wholeImage = timed(set, "image");
  const fresh = wholeImage && wholeImage.outcome.builtGraphs === 0 ? wholeImage.outcome : undefined;
  const cfg = image.guidance > 1;
  const plainLabel = baselineLabel("ort-plain");
  const unetStep = ([1, 2] as const)
    .map((batch) => {
      const stage: StageName = batch === 1 ? "unet1" : "unet2";
      const ours = timed(set, stage)?.summary?.median;
      const plain = timed(plainLabel, stage)?.summary?.median;
      return ours !== undefined && plain !== undefined ? { batch, ours, plain } : undefined;
    })
    .filter((u) => u !== undefined)
    .pop();
  return {
    steps: image.steps,
    cfg,
    exactDefault: set === "default",
    imageMs: wholeImage?.summary?.median,
    freshImageMs:
      fresh?.openStartMs !== undefined ? fresh.openStartMs + fresh.openMs + fresh.first.ms : undefined,
    imagePeakBytes: wholeImage?.peakRssBytes,
    beforeFirstStepMs: fresh?.firstUnetRunAtMs,
    unetStepMs: unetStep,
  };
}
