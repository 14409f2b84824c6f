/**
 * sdlite's option sets against the baselines measured in the same bench run: how many times faster
 * each set's effective UNet step (batch 1 and 2) and VAE decode are than each baseline's, and
 * whether the UNet steps meet the required speed-ups (2x ort-plain, 6x stable-diffusion.cpp).
 */
import { BASELINE_NAMES, type BaselineName, REQUIRED_SPEEDUP_VS } from "./baselines.js";
import { type StageReport, targetInputs } from "./run-bench.js";
import type { ImageSettings } from "./stage-job.js";

export type ComparedStage = "unet1" | "unet2" | "vae";

export interface BaselineComparison {
  readonly set: string;
  readonly stage: ComparedStage;
  /** The set's median (ms): the effective UNet step (whole image where it ran) or the VAE decode. */
  readonly ms: number;
  readonly baseline: BaselineName;
  readonly baselineMs: number;
  /** baselineMs / ms: above 1 is faster than the baseline. */
  readonly speedup: number;
  /** The required speed-up, for the UNet steps. */
  readonly goal?: number;
  readonly met?: boolean;
}

function baselineMedian(
  stages: readonly StageReport[],
  baseline: BaselineName,
  stage: ComparedStage,
): number | undefined {
  return stages.find((s) => s.baseline === baseline && s.stage === stage && s.variant === "timed")?.summary
    ?.median;
}

/** Every (option set, stage, baseline) with a measured median on both sides; baseline rows are not sets. */
export function compareWithBaselines(
  stages: readonly StageReport[],
  image: ImageSettings,
): BaselineComparison[] {
  const sets = [...new Set(stages.filter((s) => s.baseline === undefined).map((s) => s.set))];
  const out: BaselineComparison[] = [];
  for (const set of sets) {
    const inputs = targetInputs(stages, set, image);
    const vae = stages.find((s) => s.set === set && s.stage === "vae" && s.variant === "timed")?.summary
      ?.median;
    const ours: Record<ComparedStage, number | undefined> = {
      unet1: inputs.unetStepMs.batch1,
      unet2: inputs.unetStepMs.batch2,
      vae,
    };
    for (const stage of ["unet1", "unet2", "vae"] as const) {
      const ms = ours[stage];
      if (ms === undefined || ms <= 0) continue;
      for (const baseline of BASELINE_NAMES) {
        const baselineMs = baselineMedian(stages, baseline, stage);
        if (baselineMs === undefined) continue;
        const speedup = baselineMs / ms;
        const goal = stage === "vae" ? undefined : REQUIRED_SPEEDUP_VS[baseline];
        out.push({
          set,
          stage,
          ms,
          baseline,
          baselineMs,
          speedup,
          ...(goal === undefined ? {} : { goal, met: speedup >= goal }),
        });
      }
    }
  }
  return out;
}
