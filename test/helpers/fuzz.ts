/**
 * The fuzzing suite's knobs: how many inputs each property tries (a small number in CI,
 * `SDLITE_FUZZ_RUNS` for more: `npm run fuzz` sets it), a seed to replay a failure
 * (`SDLITE_FUZZ_SEED`, printed by fast-check when a property fails), and a tally of what was
 * tried and what went wrong, appended as JSON lines to `SDLITE_FUZZ_REPORT` when set
 * (scripts/fuzz.ts sums them for docs/reliability.md).
 */
import { appendFileSync } from "node:fs";
import type { Parameters } from "fast-check";

/** Inputs per property: `ci` unless SDLITE_FUZZ_RUNS says otherwise. */
export function fuzzRuns(ci: number): number {
  const wanted = Number(process.env.SDLITE_FUZZ_RUNS);
  return Number.isInteger(wanted) && wanted > 0 ? wanted : ci;
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
}

export function newTally(): FuzzTally {
  return { inputs: 0, crashes: 0, hangs: 0, serverErrors: 0, otherFailures: 0 };
}

/** Appends the target's tally to SDLITE_FUZZ_REPORT (one JSON line), when that is set. */
export function reportTally(target: string, tally: FuzzTally, extra: Record<string, unknown> = {}): void {
  const file = process.env.SDLITE_FUZZ_REPORT;
  if (!file) return;
  appendFileSync(file, `${JSON.stringify({ target, ...tally, ...extra })}\n`);
}
