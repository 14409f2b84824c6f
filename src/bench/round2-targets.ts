/**
 * Issue 15's targets ("speed, round 2"), checked from one bench run: the few-step image in the
 * server (graphs loaded) and from a fresh process, its peak memory, the time a fresh process spends
 * before its first denoising step, and the exact default's UNet step against the emulated plain
 * export (the `ort-plain` baseline) timed in the same run.
 */
import type { TargetCheck } from "./targets.js";

/** Seconds for a 512x512 image without CFG, by step count: graphs loaded (server) and a fresh process. */
export const FEW_STEP_IMAGE_SECONDS: Readonly<Record<number, { loaded: number; fresh: number }>> = {
  1: { loaded: 2.0, fresh: 4 },
  4: { loaded: 4, fresh: 7 },
};
/** Peak resident memory of those images, decimal bytes. */
export const FEW_STEP_PEAK_BYTES = 2.0e9;
/** A fresh process with a warm cache, from its start to the start of its first step. */
export const BEFORE_FIRST_STEP_SECONDS = 1.5;
/** The exact default's effective UNet step against the plain export's, as a speed-up. */
export const EXACT_VS_PLAIN_SPEEDUP = 1.25;

export interface Round2Inputs {
  readonly steps: number;
  readonly cfg: boolean;
  /** Whether these are the exact default options (the speed-up against the plain export is theirs). */
  readonly exactDefault: boolean;
  /** Whole-image median with graphs loaded (ms). */
  readonly imageMs?: number;
  /** Process start to the first image's end, warm graph cache (ms). */
  readonly freshImageMs?: number;
  readonly imagePeakBytes?: number;
  /** Process start to the first step's start, warm graph cache (ms). */
  readonly beforeFirstStepMs?: number;
  /** Effective UNet step (ms) of these options and of the plain export, at the same batch. */
  readonly unetStepMs?: { readonly batch: 1 | 2; readonly ours: number; readonly plain: number };
}

export function checkRound2Targets(inputs: Round2Inputs): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const goals = inputs.cfg ? undefined : FEW_STEP_IMAGE_SECONDS[inputs.steps];
  const label = `${inputs.steps}-step 512x512 image, no CFG`;
  const seconds = (target: string, goal: number, ms: number | undefined) => {
    if (ms === undefined) return;
    checks.push({ target, goal, measured: ms / 1000, unit: "s", met: ms / 1000 < goal });
  };
  if (goals) {
    seconds(`${label}, graphs loaded (server)`, goals.loaded, inputs.imageMs);
    seconds(`${label}, fresh process (start to image)`, goals.fresh, inputs.freshImageMs);
    if (inputs.imagePeakBytes !== undefined) {
      checks.push({
        target: `${label}, peak memory`,
        goal: FEW_STEP_PEAK_BYTES,
        measured: inputs.imagePeakBytes,
        unit: "bytes",
        met: inputs.imagePeakBytes < FEW_STEP_PEAK_BYTES,
      });
    }
  }
  seconds("fresh process: start to the first step", BEFORE_FIRST_STEP_SECONDS, inputs.beforeFirstStepMs);
  if (inputs.exactDefault && inputs.unetStepMs) {
    const { batch, ours, plain } = inputs.unetStepMs;
    const speedup = plain / ours;
    checks.push({
      target: `exact default's UNet step (batch ${batch}) vs the plain export, same run`,
      goal: EXACT_VS_PLAIN_SPEEDUP,
      measured: speedup,
      unit: "x",
      met: speedup >= EXACT_VS_PLAIN_SPEEDUP,
    });
  }
  return checks;
}
