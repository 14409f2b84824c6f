/**
 * The speed issue's targets and the baselines it quotes. The baselines were measured by the issue's
 * author on this machine kind (2-core AVX2 CPU), not by this bench: they are labelled as quoted
 * wherever they are printed.
 */

/** Seconds per UNet step quoted in the issue. */
export const QUOTED_UNET_STEP_SECONDS = {
  "onnxruntime fp32": { batch1: 6.0, batch2: 11.5 },
  "stable-diffusion.cpp": { batch1: 19.6, batch2: 36.3 },
} as const;

export type QuotedBaseline = keyof typeof QUOTED_UNET_STEP_SECONDS;

/** How many times faster than each quoted baseline the effective UNet step must be. */
export const REQUIRED_SPEEDUP: Readonly<Record<QuotedBaseline, number>> = {
  "onnxruntime fp32": 2,
  "stable-diffusion.cpp": 6,
};

/** A 512x512 image, 4 few-step steps, no CFG, warm graph cache. */
export const IMAGE_SECONDS_TARGET = 12;
/** Peak resident memory, decimal bytes. */
export const PEAK_BYTES_TARGET = 2.5e9;

export interface TargetInputs {
  /** Whole-image time (ms) of a 512x512 image without CFG, graphs already loaded. */
  readonly imageMs?: number;
  /** The same from a fresh process with a warm graph cache: opening the model plus the first image. */
  readonly imageFreshProcessMs?: number;
  /** Largest peak RSS over the whole-image stage. */
  readonly imagePeakBytes?: number;
  /** Effective UNet time per step (ms) at batch 1 (no CFG) and batch 2 (CFG). */
  readonly unetStepMs: { readonly batch1?: number; readonly batch2?: number };
}

export interface TargetCheck {
  readonly target: string;
  readonly goal: number;
  readonly measured: number;
  readonly unit: "s" | "bytes" | "x";
  readonly met: boolean;
}

export function checkTargets(inputs: TargetInputs): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const image = (ms: number | undefined, how: string) => {
    if (ms === undefined) return;
    const s = ms / 1000;
    checks.push({
      target: `512x512 image, no CFG, ${how}`,
      goal: IMAGE_SECONDS_TARGET,
      measured: s,
      unit: "s",
      met: s < IMAGE_SECONDS_TARGET,
    });
  };
  image(inputs.imageMs, "graphs loaded (median)");
  image(inputs.imageFreshProcessMs, "fresh process, warm graph cache (open + first image)");
  if (inputs.imagePeakBytes !== undefined) {
    checks.push({
      target: "peak memory (whole image)",
      goal: PEAK_BYTES_TARGET,
      measured: inputs.imagePeakBytes,
      unit: "bytes",
      met: inputs.imagePeakBytes < PEAK_BYTES_TARGET,
    });
  }
  for (const baseline of Object.keys(QUOTED_UNET_STEP_SECONDS) as QuotedBaseline[]) {
    for (const batch of ["batch1", "batch2"] as const) {
      const ms = inputs.unetStepMs[batch];
      if (ms === undefined) continue;
      const speedup = QUOTED_UNET_STEP_SECONDS[baseline][batch] / (ms / 1000);
      checks.push({
        target: `UNet step ${batch === "batch1" ? "batch 1" : "batch 2 (CFG)"} vs ${baseline} (quoted ${QUOTED_UNET_STEP_SECONDS[baseline][batch]} s)`,
        goal: REQUIRED_SPEEDUP[baseline],
        measured: speedup,
        unit: "x",
        met: speedup >= REQUIRED_SPEEDUP[baseline],
      });
    }
  }
  return checks;
}
