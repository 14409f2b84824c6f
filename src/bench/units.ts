/** How the bench writes durations and sizes: seconds and decimal gigabytes, as the targets are stated. */
import type { Summary } from "./stats.js";

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
}

/** "2.71–4.29 s" */
export function formatRange(summary: Summary): string {
  return `${formatSeconds(summary.min).replace(" s", "")}–${formatSeconds(summary.max)}`;
}

/** Decimal GB (10^9 bytes): the 2.5 GB target is read in the stricter unit. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  return `${Math.round(bytes / 1e6)} MB`;
}
