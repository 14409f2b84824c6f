/**
 * The Hires fix section's fields (A1111's enable_hr and hr_*, as HiresPanel sends them to a server)
 * as the in-tab engine's `hires`, read as sdlite's server reads them (src/server/generation-plan.ts's
 * readHires): a Latent mode by its canonical name, any other upscaler by the name given.
 */
import { latentUpscaleMode } from "../../../src/pipeline/latent-upscale.js";
import { CLASSIC_UPSCALER_NAMES } from "../../../src/upscale/classic-upscalers.js";
import type { HiresFields, UpscalerItem } from "../api.js";
import type { LocalHires } from "./local-engine-api.js";

/** The image upscalers the in-tab engine has (beside the Latent modes): the resamplers, no model files. */
export const LOCAL_HIRES_UPSCALERS: readonly UpscalerItem[] = CLASSIC_UPSCALER_NAMES.map((name) => ({
  name,
}));

export function localHires(fields: HiresFields): LocalHires {
  const name = fields.hr_upscaler;
  return {
    ...(name ? { upscaler: latentUpscaleMode(name) ?? name } : {}),
    scale: fields.hr_scale,
    resizeX: fields.hr_resize_x,
    resizeY: fields.hr_resize_y,
    steps: fields.hr_second_pass_steps,
    denoisingStrength: fields.denoising_strength,
  };
}
