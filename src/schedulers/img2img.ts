/**
 * img2img / inpainting start point, as diffusers' StableDiffusionImg2ImgPipeline.get_timesteps:
 * init_timestep = min(int(steps * strength), steps), t_start = steps - init_timestep, and the loop
 * skips the first t_start * order entries of the full schedule (Heun's order 2 skips twice as many).
 * The loop then runs from `startIndex` with absolute indices (diffusers' begin_index).
 */
import type { Scheduler } from "./types.js";

export interface Img2ImgStart {
  /** First position in scheduler.timesteps to run; diffusers' begin_index. */
  startIndex: number;
  /** min(int(steps * strength), steps). */
  initTimestep: number;
  /** steps - t_start: the steps that remain (what A1111 shows as the effective step count). */
  effectiveSteps: number;
  /** The timestep the clean latent is noised to: timesteps[startIndex]. */
  latentTimestep: number;
}

/** Checks an img2img denoising strength: it must lie in (0, 1]. */
export function checkStrength(strength: number): void {
  if (!(Number.isFinite(strength) && strength > 0 && strength <= 1)) {
    throw new Error(`img2img strength (denoising strength) must be in (0, 1], got ${strength}`);
  }
}

/** Where an img2img run starts in `scheduler`'s full schedule of `steps` steps. */
export function img2imgStart(
  scheduler: Pick<Scheduler, "timesteps" | "order">,
  steps: number,
  strength: number,
): Img2ImgStart {
  checkStrength(strength);
  const initTimestep = Math.min(Math.trunc(steps * strength), steps);
  const tStart = Math.max(steps - initTimestep, 0);
  const startIndex = tStart * scheduler.order;
  if (initTimestep < 1 || startIndex >= scheduler.timesteps.length) {
    throw new Error(
      `img2img strength ${strength} with ${steps} steps leaves no denoising step (int(steps * strength) = ${initTimestep}); raise the strength or the steps`,
    );
  }
  return {
    startIndex,
    initTimestep,
    effectiveSteps: steps - tStart,
    latentTimestep: scheduler.timesteps[startIndex],
  };
}

/** Just the loop's first index for an img2img run (see img2imgStart). */
export function img2imgStartIndex(
  scheduler: Pick<Scheduler, "timesteps" | "order">,
  steps: number,
  strength: number,
): number {
  return img2imgStart(scheduler, steps, strength).startIndex;
}
