/**
 * The profile's two charts as standalone SVG text (no library: rectangles, lines and labels):
 * - stages: per stage, one stacked bar per measure (measured seconds, GFLOP, GB moved, per image),
 *   split by op kind;
 * - roofline: log-log FLOP/byte against GFLOP/s, with this machine's roof and each --hardware
 *   roof, the stages where they ran here (large dots) and their op kinds (small dots).
 */
import { OP_KIND_TITLES, OP_KINDS, type OpKind } from "./op-kinds.js";
import type { ProfileReport } from "./profile-report.js";

export const KIND_COLORS: Readonly<Record<OpKind, string>> = {
  conv: "#4e79a7",
  matmul: "#f28e2b",
  attention: "#e15759",
  norm: "#76b7b2",
  elementwise: "#59a14f",
  resample: "#edc948",
  layout: "#b07aa1",
};
const HARDWARE_COLORS = ["#9c755f", "#bab0ac", "#ff9da7", "#17becf", "#7f7f7f"];
const FONT = 'font-family="system-ui, sans-serif"';

export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => `&${{ "<": "lt", ">": "gt", "&": "amp", '"': "quot", "'": "apos" }[c]};`,
  );
}

function svg(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(title)}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="20" ${FONT} font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    "</svg>",
    "",
  ].join("\n");
}

function text(x: number, y: number, content: string, extra = ""): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${FONT} font-size="12" ${extra}>${escapeXml(content)}</text>`;
}

function legend(x: number, y: number): string[] {
  return OP_KINDS.flatMap((k, i) => [
    `<rect x="${x + i * 105}" y="${y - 10}" width="12" height="12" fill="${KIND_COLORS[k]}"/>`,
    text(x + i * 105 + 16, y, OP_KIND_TITLES[k]),
  ]);
}

function compact(v: number): string {
  if (v === 0) return "0";
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toPrecision(2);
}

interface Panel {
  readonly title: string;
  readonly unit: string;
  /** Per stage, per kind. */
  readonly values: readonly Readonly<Record<OpKind, number>>[];
}

/** Per image, by stage and kind: measured seconds (when timed), GFLOP, GB moved (every tensor once). */
function stagePanels(report: ProfileReport): Panel[] {
  const perStage = (value: (kind: OpKind, network: ProfileReport["networks"][number]) => number) =>
    report.stages.map((stage) => {
      const row = Object.fromEntries(OP_KINDS.map((k) => [k, 0])) as Record<OpKind, number>;
      for (const n of report.networks.filter((x) => x.stage === stage.stage)) {
        for (const k of OP_KINDS) row[k] += value(k, n) * n.callsPerImage;
      }
      return row;
    });
  const panels: Panel[] = [];
  if (report.networks.every((n) => n.timing)) {
    panels.push({ title: "time per image", unit: "s", values: perStage((k, n) => n.byKind[k].seconds ?? 0) });
  }
  panels.push({
    title: "compute per image",
    unit: "GFLOP",
    values: perStage((k, n) => n.byKind[k].flops / 1e9),
  });
  panels.push({
    title: "bytes moved per image",
    unit: "GB",
    values: perStage(
      (k, n) => (n.byKind[k].weightBytes + n.byKind[k].readBytes + n.byKind[k].writeBytes) / 1e9,
    ),
  });
  return panels;
}

export function stagesChart(report: ProfileReport): string {
  const panels = stagePanels(report);
  const labelWidth = 160;
  const panelWidth = 260;
  const rowHeight = 34;
  const top = 58;
  const width = labelWidth + panels.length * (panelWidth + 30) + 10;
  const height = top + report.stages.length * rowHeight + 50;
  const body: string[] = [];
  report.stages.forEach((stage, i) => {
    body.push(text(12, top + i * rowHeight + 20, `${stage.title} ×${stage.calls}`));
  });
  panels.forEach((panel, p) => {
    const x0 = labelWidth + p * (panelWidth + 30);
    const totals = panel.values.map((row) => OP_KINDS.reduce((s, k) => s + row[k], 0));
    const max = Math.max(...totals, 1e-12);
    body.push(text(x0, top - 12, `${panel.title} (${panel.unit})`, 'font-weight="bold"'));
    body.push(
      `<line x1="${x0}" y1="${top - 4}" x2="${x0}" y2="${top + report.stages.length * rowHeight}" stroke="#444"/>`,
    );
    panel.values.forEach((row, i) => {
      let x = x0;
      const y = top + i * rowHeight + 6;
      for (const k of OP_KINDS) {
        const w = (row[k] / max) * (panelWidth - 50);
        if (w <= 0) continue;
        body.push(
          `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="20" fill="${KIND_COLORS[k]}"><title>${escapeXml(`${OP_KIND_TITLES[k]}: ${compact(row[k])} ${panel.unit}`)}</title></rect>`,
        );
        x += w;
      }
      body.push(text(x + 4, y + 15, compact(totals[i])));
    });
  });
  body.push(...legend(12, height - 14));
  const title = `sdlite profile: ${report.model}${report.optionsLabel ? ` (${report.optionsLabel})` : ""}, ${report.settings.width}x${report.settings.height}, ${report.settings.steps} steps, CFG ${report.settings.guidance}`;
  return svg(width, height, title, body);
}

interface Axis {
  readonly min: number;
  readonly max: number;
}

function logScale(axis: Axis, from: number, to: number) {
  const lo = Math.log10(axis.min);
  const span = Math.log10(axis.max) - lo;
  return (v: number) => from + ((Math.log10(v) - lo) / span) * (to - from);
}

function decades(axis: Axis): number[] {
  const out: number[] = [];
  for (let e = Math.ceil(Math.log10(axis.min)); e <= Math.floor(Math.log10(axis.max)); e++) out.push(10 ** e);
  return out;
}

interface Roof {
  readonly label: string;
  readonly color: string;
  readonly peakGflops: number;
  readonly bandwidthGBps: number;
  readonly dashed: boolean;
}

interface Point {
  readonly label: string;
  readonly color: string;
  readonly intensity: number;
  readonly gflops: number;
  readonly radius: number;
}

export function rooflineChart(report: ProfileReport): string {
  const roofs: Roof[] = [];
  const m = report.machine;
  if (m) {
    roofs.push({
      label: "this machine (measured)",
      color: "#222222",
      peakGflops: m.matmulFlopsPerSecond / 1e9,
      bandwidthGBps: m.memoryBytesPerSecond / 1e9,
      dashed: false,
    });
  }
  report.hardware.forEach((hw, i) => {
    roofs.push({
      label: hw.name,
      color: HARDWARE_COLORS[i % HARDWARE_COLORS.length],
      peakGflops: hw.peakFlopsPerSecond / 1e9,
      bandwidthGBps: hw.dramBytesPerSecond / 1e9,
      dashed: true,
    });
  });
  const points: Point[] = [];
  for (const stage of report.stages) {
    const placed = stage.machine;
    if (placed && Number.isFinite(placed.intensity) && placed.achievedFlopsPerSecond > 0) {
      points.push({
        label: stage.title,
        color: "#222222",
        intensity: placed.intensity,
        gflops: placed.achievedFlopsPerSecond / 1e9,
        radius: 6,
      });
    }
  }
  for (const n of report.networks) {
    for (const k of OP_KINDS) {
      const row = n.byKind[k];
      if (!row.seconds || !row.dramBytes || row.flops <= 0) continue;
      points.push({
        label: `${n.id} ${OP_KIND_TITLES[k]}`,
        color: KIND_COLORS[k],
        intensity: row.flops / row.dramBytes,
        gflops: row.flops / row.seconds / 1e9,
        radius: 3.5,
      });
    }
  }
  const peaks = roofs.map((r) => r.peakGflops);
  const x: Axis = { min: 0.01, max: 1e4 };
  const yValues = [...peaks, ...points.map((p) => p.gflops)].filter((v) => v > 0);
  const y: Axis = {
    min: 10 ** Math.floor(Math.log10(Math.max(1e-3, Math.min(...yValues, 1) / 10))),
    max: 10 ** Math.ceil(Math.log10(Math.max(...yValues, 1) * 2)),
  };
  const left = 70;
  const right = 620;
  const topY = 40;
  const bottom = 420;
  const sx = logScale(x, left, right);
  const sy = logScale(y, bottom, topY);
  const clampX = (v: number) => Math.min(Math.max(v, x.min), x.max);
  const body: string[] = [];
  for (const d of decades(x)) {
    body.push(`<line x1="${sx(d)}" y1="${topY}" x2="${sx(d)}" y2="${bottom}" stroke="#e5e5e5"/>`);
    body.push(text(sx(d) - 10, bottom + 16, compact(d)));
  }
  for (const d of decades(y)) {
    body.push(`<line x1="${left}" y1="${sy(d)}" x2="${right}" y2="${sy(d)}" stroke="#e5e5e5"/>`);
    body.push(text(left - 8, sy(d) + 4, compact(d), 'text-anchor="end"'));
  }
  body.push(
    `<rect x="${left}" y="${topY}" width="${right - left}" height="${bottom - topY}" fill="none" stroke="#444"/>`,
  );
  body.push(
    text(
      (left + right) / 2,
      bottom + 34,
      "arithmetic intensity (FLOP per DRAM byte, tiling model)",
      'text-anchor="middle"',
    ),
  );
  body.push(
    text(
      16,
      (topY + bottom) / 2,
      "GFLOP/s",
      `transform="rotate(-90 16 ${(topY + bottom) / 2})" text-anchor="middle"`,
    ),
  );
  roofs.forEach((r, i) => {
    // the bandwidth slope from where it enters the plot up to the ridge, then the flat compute roof
    const ridge = clampX(r.peakGflops / r.bandwidthGBps);
    const start = Math.min(clampX(y.min / r.bandwidthGBps), ridge);
    const path = `M ${sx(start)} ${sy(Math.max(start * r.bandwidthGBps, y.min))} L ${sx(ridge)} ${sy(r.peakGflops)} L ${right} ${sy(r.peakGflops)}`;
    body.push(
      `<path d="${path}" fill="none" stroke="${r.color}" stroke-width="2"${r.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
    );
    body.push(
      `<line x1="${right + 16}" y1="${topY + 8 + i * 18}" x2="${right + 40}" y2="${topY + 8 + i * 18}" stroke="${r.color}" stroke-width="2"${r.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
    );
    body.push(
      text(
        right + 46,
        topY + 12 + i * 18,
        `${r.label}: ${compact(r.peakGflops)} GFLOP/s, ${compact(r.bandwidthGBps)} GB/s`,
      ),
    );
  });
  for (const p of points) {
    const cx = sx(clampX(p.intensity));
    const cy = sy(Math.max(p.gflops, y.min));
    body.push(
      `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="${p.radius}" fill="${p.color}" fill-opacity="0.85" stroke="#fff"><title>${escapeXml(`${p.label}: ${compact(p.intensity)} FLOP/B, ${compact(p.gflops)} GFLOP/s`)}</title></circle>`,
    );
    if (p.radius > 4) body.push(text(cx + 8, cy - 6, p.label));
  }
  const legendY = topY + 20 + roofs.length * 18;
  OP_KINDS.forEach((k, i) => {
    body.push(`<circle cx="${right + 22}" cy="${legendY + i * 18}" r="4" fill="${KIND_COLORS[k]}"/>`);
    body.push(text(right + 34, legendY + 4 + i * 18, OP_KIND_TITLES[k]));
  });
  if (!m)
    body.push(
      text(left + 10, topY + 20, "not timed: roofs only (run without --count-only to place the stages)"),
    );
  return svg(right + 400, bottom + 50, `Roofline: ${report.model}`, body);
}
