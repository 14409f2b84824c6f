/**
 * `sdlite profile`'s printed report: one table per network (per op kind), the whole-image summary
 * with where this machine's roofline puts each stage, one what-if table per hardware file, and
 * the model's assumptions. Pure text from a ProfileReport.
 */
import { markdownTable } from "../bench/markdown-table.js";
import { OP_KIND_TITLES, OP_KINDS } from "../profile/op-kinds.js";
import type { KindRow, NetworkReport, ProfileReport, StageReport } from "../profile/profile-report.js";

const num = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : "∞");
const giga = (v: number) => num(v / 1e9);
const mega = (v: number) => num(v / 1e6, 1);
const percent = (v: number | undefined) => (v === undefined ? "" : `${num(100 * v, 1)} %`);
const ms = (seconds: number | undefined) => (seconds === undefined ? "" : num(seconds * 1000, 1));
const shape = (dims: readonly number[]) => `[${dims.join(", ")}]`;

function kindCells(title: string, row: KindRow, callSeconds: number | undefined): string[] {
  return [
    title,
    giga(row.macs),
    giga(row.flops),
    mega(row.weightBytes),
    mega(row.readBytes),
    mega(row.writeBytes),
    num(row.intensity, 1),
    ms(row.seconds),
    callSeconds && row.seconds !== undefined ? percent(row.seconds / callSeconds) : "",
    row.seconds ? num(row.flops / row.seconds / 1e9, 1) : "",
  ];
}

const KIND_COLUMNS = [
  { header: "op kind" },
  { header: "GMAC", align: "right" as const },
  { header: "GFLOP", align: "right" as const },
  { header: "weights MB", align: "right" as const },
  { header: "read MB", align: "right" as const },
  { header: "written MB", align: "right" as const },
  { header: "FLOP/B", align: "right" as const },
  { header: "time ms", align: "right" as const },
  { header: "time", align: "right" as const },
  { header: "GFLOP/s", align: "right" as const },
];

export function networkTable(n: NetworkReport): string {
  const inputs = Object.entries(n.inputs)
    .map(([name, dims]) => `${name} ${shape(dims)}`)
    .join(", ");
  const call = n.timing?.kernelSeconds;
  const rows = OP_KINDS.filter((k) => n.byKind[k].nodes > 0).map((k) =>
    kindCells(OP_KIND_TITLES[k], n.byKind[k], call),
  );
  rows.push(kindCells("total (kernels)", { ...n.total, seconds: call }, call));
  const lines = [
    `## ${n.id} (${n.stage}): ${n.callsPerImage} call${n.callsPerImage === 1 ? "" : "s"} per image; ${inputs}`,
    "",
    markdownTable(KIND_COLUMNS, rows),
    "",
    `parameters ${num(n.parameters / 1e6)} M (${mega(n.parameterBytes)} MB stored); peak live activations ${mega(n.peakActivationBytes)} MB (at ${n.peakAt})`,
  ];
  if (n.timing) {
    lines.push(
      `measured: ${ms(n.timing.secondsPerCall)} ms per call (kernels ${ms(n.timing.kernelSeconds)} ms, mean of ${n.timing.runs}), session ${num(n.timing.sessionSeconds, 1)} s`,
    );
  }
  if (n.machine) {
    lines.push(
      `this machine: ${mega(n.machine.dramBytes)} MB DRAM traffic per call (tiling model), ${num(n.machine.intensity, 1)} FLOP/B → ${n.machine.bound}-bound; ${num(n.machine.percentOfAttainable, 1)} % of attainable, ${num(n.machine.percentOfPeak, 1)} % of peak`,
    );
  }
  return lines.join("\n");
}

export function summaryTable(report: ProfileReport): string {
  const rows = report.stages.map((s: StageReport) => [
    s.title,
    String(s.calls),
    giga(s.total.flops),
    giga(s.total.weightBytes + s.total.readBytes + s.total.writeBytes),
    s.measuredSeconds === undefined ? "" : num(s.measuredSeconds),
    percent(s.share),
    s.machine?.bound ?? "",
    s.machine ? `${num(s.machine.percentOfAttainable, 1)} %` : "",
    s.machine ? `${num(s.machine.percentOfPeak, 1)} %` : "",
  ]);
  const t = report.image.total;
  rows.push([
    "whole image",
    "",
    giga(t.flops),
    giga(t.weightBytes + t.readBytes + t.writeBytes),
    report.image.measuredSeconds === undefined ? "" : num(report.image.measuredSeconds),
    report.image.measuredSeconds === undefined ? "" : "100 %",
    "",
    "",
    "",
  ]);
  const s = report.settings;
  const head = `# Whole image: ${s.width}x${s.height}, ${s.steps} steps, CFG ${s.guidance}${report.optionsLabel ? `, ${report.optionsLabel}` : ""} (${report.model})`;
  const lines = [
    head,
    "",
    markdownTable(
      [
        { header: "stage" },
        { header: "calls", align: "right" },
        { header: "GFLOP", align: "right" },
        { header: "GB moved", align: "right" },
        { header: "seconds", align: "right" },
        { header: "share", align: "right" },
        { header: "bound here" },
        { header: "of attainable", align: "right" },
        { header: "of peak", align: "right" },
      ],
      rows,
    ),
  ];
  const m = report.machine;
  if (m) {
    lines.push(
      "",
      `this machine: ${m.cpuModel}, ${m.logicalCpus} logical CPUs, ${m.threads} threads, ${m.executionProviders.join("+")}; SIMD ${m.simd.join(" ") || "unknown"}`,
      `measured peak: matmul ${num(m.matmulFlopsPerSecond / 1e9, 1)} GFLOP/s, memory ${num(m.memoryBytesPerSecond / 1e9, 1)} GB/s, ridge ${num(m.ridgeFlopsPerByte, 1)} FLOP/B; on-chip ${mega(m.lastLevelCacheBytes)} MB (${m.cacheSource})`,
    );
  } else {
    lines.push("", "not timed (--count-only): counts only.");
  }
  return lines.join("\n");
}

export function hardwareTable(report: ProfileReport, name: string): string {
  const hw = report.hardware.find((h) => h.name === name);
  if (!hw) throw new Error(`no hardware "${name}" in the report`);
  const rows = report.networks.map((n) => {
    const e = n.hardware[name];
    return [
      n.id,
      String(n.callsPerImage),
      ms(e.seconds),
      mega(e.dramBytes),
      e.weightsResident ? "on chip" : "streamed",
      e.bound,
    ];
  });
  const stages = report.stages.map((s) => {
    const e = s.hardware[name];
    return `${s.title} ${num(e.seconds, 3)} s (${percent(e.share)}, ${num(e.imagesPerSecond, 2)}/s)`;
  });
  const image = report.image.hardware[name];
  return [
    `## What if: ${hw.name}`,
    hw.description ? `${hw.description}` : "",
    `${num(hw.peakFlopsPerSecond / 2e12, 2)} TMAC/s, ${mega(hw.onChipBytes)} MB on chip, ${num(hw.dramBytesPerSecond / 1e9, 1)} GB/s DRAM, ${hw.weightBytes} B/weight, ${hw.activationBytes} B/activation`,
    "",
    markdownTable(
      [
        { header: "network" },
        { header: "calls", align: "right" },
        { header: "ms/call", align: "right" },
        { header: "DRAM MB/call", align: "right" },
        { header: "weights" },
        { header: "bound" },
      ],
      rows,
    ),
    "",
    `per image: ${stages.join("; ")}`,
    `whole image ${num(image.seconds, 3)} s = ${num(image.imagesPerSecond, 3)} images/s`,
  ]
    .filter((l, i) => l !== "" || i !== 1)
    .join("\n");
}

export function profileText(report: ProfileReport): string {
  return [
    ...report.networks.map(networkTable),
    summaryTable(report),
    ...report.hardware.map((h) => hardwareTable(report, h.name)),
    ["Assumptions (docs/profile.md):", ...report.assumptions.map((a) => `- ${a}`)].join("\n"),
  ].join("\n\n");
}
