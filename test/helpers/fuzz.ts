/**
 * The fuzzing suite's knobs: how many inputs each property tries (a small number in CI, times
 * `SDLITE_FUZZ_SCALE` (`npm run fuzz` sets 20), or exactly `SDLITE_FUZZ_RUNS`), a seed to replay a failure
 * (`SDLITE_FUZZ_SEED`, printed by fast-check when a property fails), and a tally of what was
 * tried and what went wrong, appended as JSON lines to `SDLITE_FUZZ_REPORT` when set
 * (scripts/fuzz.ts sums them for docs/reliability.md).
 */
import { appendFileSync } from "node:fs";
import type { Parameters } from "fast-check";

/** Inputs per property: `ci`, times SDLITE_FUZZ_SCALE, unless SDLITE_FUZZ_RUNS gives the number. */
export function fuzzRuns(ci: number): number {
  const wanted = Number(process.env.SDLITE_FUZZ_RUNS);
  if (Number.isInteger(wanted) && wanted > 0) return wanted;
  const scale = Number(process.env.SDLITE_FUZZ_SCALE);
  return Number.isFinite(scale) && scale > 0 ? Math.max(1, Math.round(ci * scale)) : ci;
}

/** fast-check parameters for a property that tries `ci` inputs in CI. */
export function fuzzParameters<T>(ci: number): Parameters<T> {
  const seed = Number(process.env.SDLITE_FUZZ_SEED);
  return { numRuns: fuzzRuns(ci), includeErrorInReport: true, ...(Number.isInteger(seed) ? { seed } : {}) };
}

/** What one fuzz target saw. */
export interface FuzzTally {
  /** Inputs tried. */
  inputs: number;
  /** Processes killed by a signal, unexpected exceptions, or 5xx answers. */
  crashes: number;
  /** Inputs that took longer than the target's stated bound. */
  hangs: number;
  /** Server answers with a 5xx status. */
  serverErrors: number;
  /** Anything else the target checks that failed (wrong exit code, stack trace, file outside). */
  otherFailures: number;
  /** The largest resident set seen (the fuzzing process, or the spawned CLI), in MiB. */
  peakRssMiB: number;
}

/**
 * The memory bound every target states: no input may take the process that reads it (the test
 * process for in-process targets, the sdlite process for the CLI) past this resident set.
 */
export const MEMORY_BOUND_BYTES = 2 * 1024 * 1024 * 1024;

export function newTally(): FuzzTally {
  return { inputs: 0, crashes: 0, hangs: 0, serverErrors: 0, otherFailures: 0, peakRssMiB: 0 };
}

/**
 * Notes a resident set (this process's when not given) in the tally, and fails (counted as an
 * other failure) when it is over MEMORY_BOUND_BYTES.
 */
export function checkMemory(tally: FuzzTally, what: string, rss = process.memoryUsage().rss): void {
  tally.peakRssMiB = Math.max(tally.peakRssMiB, Math.round(rss / 2 ** 20));
  if (rss > MEMORY_BOUND_BYTES) {
    tally.otherFailures++;
    throw new Error(
      `${(rss / 2 ** 20).toFixed(0)} MiB resident, over the ${MEMORY_BOUND_BYTES / 2 ** 20} MiB bound: ${what}`,
    );
  }
}

/** Appends the target's tally to SDLITE_FUZZ_REPORT (one JSON line), when that is set. */
export function reportTally(target: string, tally: FuzzTally, extra: Record<string, unknown> = {}): void {
  const file = process.env.SDLITE_FUZZ_REPORT;
  if (!file) return;
  const memoryBoundMiB = MEMORY_BOUND_BYTES / 2 ** 20;
  appendFileSync(file, `${JSON.stringify({ target, ...tally, memoryBoundMiB, ...extra })}\n`);
}
