/** A bench result as Markdown: the stage table, start-up, where a whole image's time goes, quality, targets. */
import { describeAdapter } from "../engine/gpu-adapter-info.js";
import type { BaselineComparison } from "./baseline-comparison.js";
import { markdownTable } from "./markdown-table.js";
import type { BenchResult, StageReport } from "./run-bench.js";
import { type RunTiming, STAGE_TITLES } from "./stage-job.js";
import { summarize } from "./stats.js";
import { QUOTED_UNET_STEP_SECONDS, type TargetCheck } from "./targets.js";
import { formatBytes, formatRange, formatSeconds } from "./units.js";

const dash = "–";

function optional(value: number | undefined, format: (v: number) => string): string {
  return value === undefined ? dash : format(value);
}

function firstRun(s: StageReport): string {
  // stable-diffusion.cpp loads every weight before its first call: there is no warm-up to show
  if (s.baseline === "sdcpp") return `none (load ${formatSeconds(s.outcome.openMs)})`;
  const built = s.outcome.builtGraphs;
  return `${formatSeconds(s.outcome.first.ms)}${built > 0 ? ` (built ${built} graph${built > 1 ? "s" : ""})` : ""}`;
}

function load(s: StageReport): string {
  return `${s.loadAverage.before.toFixed(2)} → ${s.loadAverage.after.toFixed(2)}`;
}

function otherCpu(s: StageReport | undefined): string {
  return s?.otherCpuShare === undefined ? dash : `${Math.round(s.otherCpuShare * 100)}%`;
}

function stageTable(stages: readonly StageReport[]): string {
  const rows = stages
    .filter((s) => s.variant === "timed")
    .map((s) => [
      s.set,
      STAGE_TITLES[s.stage],
      optional(s.summary?.median, formatSeconds),
      s.summary ? formatRange(s.summary) : dash,
      String(s.summary?.n ?? 0),
      firstRun(s),
      optional(s.peakRssBytes, formatBytes),
      String(s.threads),
      otherCpu(s),
      load(s),
    ]);
  return markdownTable(
    [
      { header: "Options" },
      { header: "Stage" },
      { header: "Median", align: "right" },
      { header: "Min–max", align: "right" },
      { header: "Runs", align: "right" },
      { header: "First run", align: "right" },
      { header: "Peak RSS", align: "right" },
      { header: "Threads", align: "right" },
      { header: "Others' CPU", align: "right" },
      { header: "Load avg (1 min)", align: "right" },
    ],
    rows,
  );
}

function startupTable(stages: readonly StageReport[]): string | undefined {
  const cold = stages.filter((s) => s.stage === "startup" && s.variant === "cold");
  if (cold.length === 0) return undefined;
  const rows: string[][] = [];
  for (const c of cold) {
    const w = stages.find((s) => s.stage === "startup" && s.variant === "warm" && s.set === c.set);
    rows.push([
      c.set,
      "open model",
      formatSeconds(c.outcome.openMs),
      optional(w?.outcome.openMs, formatSeconds),
      dash,
      dash,
    ]);
    for (const t of c.outcome.startup ?? []) {
      const warm = w?.outcome.startup?.find((x) => x.network === t.network);
      rows.push([
        c.set,
        t.network,
        formatSeconds(t.firstMs),
        optional(warm?.firstMs, formatSeconds),
        formatSeconds(warm?.secondMs ?? t.secondMs),
        optional(warm ? warm.firstMs - warm.secondMs : undefined, formatSeconds),
      ]);
    }
    rows.push([
      c.set,
      "peak RSS",
      optional(c.peakRssBytes, formatBytes),
      optional(w?.peakRssBytes, formatBytes),
      dash,
      dash,
    ]);
    rows.push([c.set, "others' CPU", otherCpu(c), otherCpu(w), dash, dash]);
  }
  return markdownTable(
    [
      { header: "Options" },
      { header: "Network" },
      { header: "Cold cache: first call", align: "right" },
      { header: "Warm cache: first call", align: "right" },
      { header: "Second call", align: "right" },
      { header: "Load (warm first − second)", align: "right" },
    ],
    rows,
  );
}

function networkMedian(runs: readonly RunTiming[], network: string, perCall = false): number | undefined {
  const values = runs.flatMap((r) => {
    const t = r.networks[network];
    return t ? [perCall ? t.ms / t.calls : t.ms] : [];
  });
  return summarize(values)?.median;
}

function imageTable(stages: readonly StageReport[]): string | undefined {
  const images = stages.filter((s) => s.stage === "image" && s.variant === "timed");
  if (images.length === 0) return undefined;
  const rows = images.map((s) => {
    const runs = s.outcome.runs.length > 0 ? s.outcome.runs : [s.outcome.first];
    const networks = ["text-encoder", "unet", "decoder"];
    // per run, then the median: medians of the parts need not add up to the median of the whole
    const other = runs.map((r) => networks.reduce((left, n) => left - (r.networks[n]?.ms ?? 0), r.ms));
    return [
      s.set,
      optional(summarize(runs.map((r) => r.ms))?.median, formatSeconds),
      ...networks.slice(0, 2).map((n) => optional(networkMedian(runs, n), formatSeconds)),
      optional(networkMedian(runs, "unet", true), formatSeconds),
      optional(networkMedian(runs, "decoder"), formatSeconds),
      optional(summarize(other)?.median, formatSeconds),
      `${formatSeconds(s.outcome.openMs + s.outcome.first.ms)}${s.outcome.builtGraphs > 0 ? " (built graphs)" : ""}`,
    ];
  });
  return markdownTable(
    [
      { header: "Options" },
      { header: "Image", align: "right" },
      { header: "Text encoder", align: "right" },
      { header: "UNet", align: "right" },
      { header: "UNet per step", align: "right" },
      { header: "Decoder", align: "right" },
      { header: "Other", align: "right" },
      { header: "Fresh process: open + first image", align: "right" },
    ],
    rows,
  );
}

function qualityTable(result: BenchResult): string | undefined {
  if (result.quality.length === 0) return undefined;
  return markdownTable(
    [
      { header: "Options" },
      { header: "Versus" },
      { header: "PSNR", align: "right" },
      { header: "Max abs diff (levels)", align: "right" },
      { header: "Mean abs diff", align: "right" },
    ],
    result.quality.map((q) => [
      q.set,
      q.versus,
      Number.isFinite(q.difference.psnrDb) ? `${q.difference.psnrDb.toFixed(2)} dB` : "identical",
      String(q.difference.maxAbs),
      q.difference.meanAbs.toFixed(3),
    ]),
  );
}

function formatTarget(value: number, unit: TargetCheck["unit"]): string {
  if (unit === "s") return formatSeconds(value * 1000);
  if (unit === "bytes") return formatBytes(value);
  return `${value.toFixed(2)}x`;
}

function targetTable(result: BenchResult): string | undefined {
  const rows = result.targets.flatMap((t) =>
    t.checks.map((c) => [
      t.set,
      c.target,
      `${c.unit === "x" ? "≥ " : "< "}${formatTarget(c.goal, c.unit)}`,
      formatTarget(c.measured, c.unit),
      c.met ? "yes" : "no",
    ]),
  );
  if (rows.length === 0) return undefined;
  return markdownTable(
    [
      { header: "Options" },
      { header: "Target" },
      { header: "Goal", align: "right" },
      { header: "Measured", align: "right" },
      { header: "Met" },
    ],
    rows,
  );
}

const COMPARED_TITLES: Readonly<Record<BaselineComparison["stage"], string>> = {
  unet1: "UNet step, batch 1 (effective)",
  unet2: "UNet step, batch 2 (effective)",
  vae: "VAE decode",
};

/** The baselines asked for: what each ran on, or why it did not run. */
function baselineStatusList(result: BenchResult): string | undefined {
  if (result.baselines.length === 0) return undefined;
  return result.baselines
    .map((b) => `- ${b.label}: ${b.available ? (b.details ?? "ran") : `not run: ${b.reason}`}`)
    .join("\n");
}

function comparisonTable(result: BenchResult): string | undefined {
  if (result.comparisons.length === 0) return undefined;
  const label = new Map(result.baselines.map((b) => [b.name, b.label]));
  return markdownTable(
    [
      { header: "Options" },
      { header: "Stage" },
      { header: "sdlite", align: "right" },
      { header: "Baseline" },
      { header: "Baseline median", align: "right" },
      { header: "Speed-up", align: "right" },
      { header: "Goal", align: "right" },
      { header: "Met" },
    ],
    result.comparisons.map((c) => [
      c.set,
      COMPARED_TITLES[c.stage],
      formatSeconds(c.ms),
      label.get(c.baseline) ?? c.baseline,
      formatSeconds(c.baselineMs),
      `${c.speedup.toFixed(2)}x`,
      c.goal === undefined ? dash : `≥ ${c.goal}x`,
      c.met === undefined ? dash : c.met ? "yes" : "no",
    ]),
  );
}

function baselineTable(): string {
  return markdownTable(
    [
      { header: "Quoted baseline (from the issue, not measured here)" },
      { header: "Batch 1", align: "right" },
      { header: "Batch 2", align: "right" },
    ],
    Object.entries(QUOTED_UNET_STEP_SECONDS).map(([name, s]) => [
      `${name}, UNet step`,
      formatSeconds(s.batch1 * 1000),
      formatSeconds(s.batch2 * 1000),
    ]),
  );
}

/** The GPU line of the header: what was asked, what ran, on which adapter (memory said even when unknown). */
function deviceLine(result: BenchResult): string | undefined {
  const d = result.plan.device;
  if (!d) return undefined;
  if (d.used === "cpu") return `GPU: --device ${d.requested} ran on the CPU only (${d.fallback ?? "no GPU"})`;
  const adapter = d.adapter
    ? `${describeAdapter(d.adapter)}${d.adapter.memoryBytes ? "" : ", video memory not reported"}`
    : "adapter not known";
  return `GPU: ${d.used} (providers ${d.executionProviders.join("+")}); adapter: ${adapter}`;
}

function deviceTable(result: BenchResult): string | undefined {
  if (result.devices.length === 0) return undefined;
  return markdownTable(
    [
      { header: "Stage" },
      { header: "Device" },
      { header: "GPU median", align: "right" },
      { header: "CPU median", align: "right" },
      { header: "GPU speed-up", align: "right" },
      { header: "CPU options" },
    ],
    result.devices.map((p) => [
      STAGE_TITLES[p.stage],
      p.device,
      formatSeconds(p.gpuMs),
      formatSeconds(p.cpuMs),
      `${p.speedup.toFixed(2)}x`,
      p.cpuSet,
    ]),
  );
}

export function benchMarkdown(result: BenchResult): string {
  const { machine: m, plan: p } = result;
  const header = [
    `Machine: ${m.cpuModel}, ${m.logicalCpus} logical CPUs, ${formatBytes(m.totalMemoryBytes)} RAM; Node ${m.node}, onnxruntime-node ${m.onnxruntime}`,
    `Model: ${p.modelPath}${p.taesdPath ? ` (TAESD: ${p.taesdPath})` : ""}; ${p.size}x${p.size}; timed runs per stage: ${p.runs} (whole image: ${p.imageRuns}), each stage after one warm-up run in its own process; image: ${p.image.sampler}, ${p.image.steps} steps, guidance ${p.image.guidance}, seed ${p.image.seed}`,
    deviceLine(result),
  ]
    .filter((line) => line !== undefined)
    .join("\n");
  const sections: [string, string | undefined][] = [
    ["Stages", stageTable(result.stages)],
    ["GPU against the CPU, stage by stage (medians)", deviceTable(result)],
    ["Start-up", startupTable(result.stages)],
    ["Whole image: where the time goes (medians)", imageTable(result.stages)],
    ["Quality: the final image against a reference image (same seed unless named)", qualityTable(result)],
    ["Targets", targetTable(result)],
    ["Baselines measured in this run", baselineStatusList(result)],
    ["Side by side: how many times faster than each measured baseline (medians)", comparisonTable(result)],
  ];
  const body = sections
    .filter((s): s is [string, string] => s[1] !== undefined)
    .map(([title, table]) => `### ${title}\n\n${table}`);
  if (p.size === 512) body.push(`### Baselines\n\n${baselineTable()}`);
  return `${header}\n\n${body.join("\n\n")}\n`;
}
