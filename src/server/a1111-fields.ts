/**
 * Which A1111 request fields sdlite honours, and which it accepts without acting on them. An
 * ignored field is reported (info.sdlite_ignored_fields) only when it is set to something that
 * would change A1111's result: absent, null, false, "", [], {} and A1111's own default are silent.
 */

/** Fields a txt2img/img2img request acts on. */
export const HONOURED_FIELDS = new Set([
  "prompt",
  "negative_prompt",
  "seed",
  "sampler_name",
  "sampler_index",
  "scheduler",
  "batch_size",
  "n_iter",
  "steps",
  "cfg_scale",
  "width",
  "height",
  "override_settings",
  "send_images",
  "init_images",
  "denoising_strength",
  "mask",
  "inpainting_mask_invert",
  // A1111's inpainting (with a mask): a1111-inpainting.ts
  "mask_blur",
  "mask_blur_x",
  "mask_blur_y",
  "inpainting_fill",
  "inpaint_full_res",
  "inpaint_full_res_padding",
  // hires fix (txt2img)
  "enable_hr",
  "hr_scale",
  "hr_upscaler",
  "hr_second_pass_steps",
  "hr_resize_x",
  "hr_resize_y",
  "hr_sampler_name",
  "hr_scheduler",
  "hr_prompt",
  "hr_negative_prompt",
  // the job's id, for /internal/progress
  "force_task_id",
  // sdlite's own job API
  "kind",
]);

/** A1111 fields with no effect here, with A1111's default where that is not an "empty" value. */
export const IGNORED_FIELD_DEFAULTS: Readonly<Record<string, unknown>> = {
  styles: undefined,
  subseed: -1,
  subseed_strength: 0,
  seed_resize_from_h: -1,
  seed_resize_from_w: -1,
  restore_faces: undefined,
  tiling: undefined,
  do_not_save_samples: undefined,
  do_not_save_grid: undefined,
  eta: undefined,
  s_min_uncond: 0,
  s_churn: 0,
  s_tmax: undefined,
  s_tmin: 0,
  s_noise: 1,
  refiner_checkpoint: undefined,
  refiner_switch_at: undefined,
  disable_extra_networks: undefined,
  firstpass_image: undefined,
  comments: undefined,
  firstphase_width: 0,
  firstphase_height: 0,
  hr_checkpoint_name: undefined,
  // sdlite always restores: an override never outlives its request
  override_settings_restore_afterwards: true,
  sampler_index_hr: undefined,
  script_name: undefined,
  script_args: undefined,
  alwayson_scripts: undefined,
  save_images: undefined,
  infotext: undefined,
  // img2img
  resize_mode: 0,
  image_cfg_scale: undefined,
  mask_round: true,
  initial_noise_multiplier: undefined,
  latent_mask: undefined,
  include_init_images: undefined,
};

/** Fields that only matter when hires fix is on, or when a mask is given. */
const HIRES_ONLY = /^(hr_|firstphase_|sampler_index_hr$)/;
const MASK_ONLY = new Set(["mask_round", "latent_mask"]);

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.keys(value).length === 0;
  return false;
}

/**
 * The fields of `body` that are set but have no effect: known A1111 fields not implemented, and
 * fields A1111 does not know at all. Sorted.
 */
export function ignoredFields(body: Readonly<Record<string, unknown>>): string[] {
  const hires = body.enable_hr === true;
  const masked = !isEmpty(body.mask);
  const out: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (HONOURED_FIELDS.has(key)) continue;
    // false means something only where A1111's default is true
    if (isEmpty(value) && !(value === false && IGNORED_FIELD_DEFAULTS[key] === true)) continue;
    if (key in IGNORED_FIELD_DEFAULTS) {
      if (value === IGNORED_FIELD_DEFAULTS[key]) continue;
      if (!hires && HIRES_ONLY.test(key)) continue;
      if (!masked && MASK_ONLY.has(key)) continue;
    }
    out.push(key);
  }
  return out.sort();
}
