/**
 * JSON schemas for the request bodies and main responses: fastify validates bodies with them
 * (types coerced as pydantic does: "20" → 20) and @fastify/swagger publishes them at /docs.
 * Unknown fields are allowed, as A1111 allows them; the generation plan reports them as ignored.
 * Null is accepted wherever A1111's Optional fields take it, and means "the default".
 */

const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, "null"], ...extra });
const MAX_PROMPT = 100_000;

const generationProperties = {
  prompt: nullable("string", { default: "", maxLength: MAX_PROMPT }),
  negative_prompt: nullable("string", { default: "", maxLength: MAX_PROMPT }),
  styles: nullable("array", { items: { type: "string" } }),
  seed: nullable("integer", { default: -1 }),
  subseed: nullable("integer"),
  subseed_strength: nullable("number"),
  sampler_name: nullable("string", {
    description: 'A1111 label ("Euler a", "DPM++ 2M"), see /sdapi/v1/samplers',
  }),
  sampler_index: nullable("string", { description: "legacy spelling of sampler_name" }),
  scheduler: nullable("string", { description: '"Automatic" or "Karras", see /sdapi/v1/schedulers' }),
  batch_size: nullable("integer", { default: 1, minimum: 1 }),
  n_iter: nullable("integer", { default: 1, minimum: 1 }),
  steps: nullable("integer", { default: 50 }),
  cfg_scale: nullable("number", { default: 7 }),
  width: nullable("integer", { default: 512 }),
  height: nullable("integer", { default: 512 }),
  restore_faces: nullable("boolean"),
  tiling: nullable("boolean"),
  denoising_strength: nullable("number"),
  enable_hr: nullable("boolean", {
    description: "txt2img hires fix: a second, img2img pass at a larger size",
  }),
  hr_scale: nullable("number", { default: 2 }),
  hr_upscaler: nullable("string", {
    description:
      "a Latent mode (/sdapi/v1/latent-upscale-modes) or an upscaler (/sdapi/v1/upscalers); default Latent",
  }),
  hr_second_pass_steps: nullable("integer", { default: 0, description: "0: steps" }),
  hr_resize_x: nullable("integer", { default: 0 }),
  hr_resize_y: nullable("integer", { default: 0 }),
  hr_sampler_name: nullable("string"),
  hr_scheduler: nullable("string"),
  hr_prompt: nullable("string"),
  hr_negative_prompt: nullable("string"),
  eta: nullable("number", { description: "DDIM's eta, TCD's gamma (other samplers ignore it)" }),
  override_settings: nullable("object", {
    description: "honoured: sd_model_checkpoint, CLIP_stop_at_last_layers, randn_source, pad_cond_uncond",
  }),
  override_settings_restore_afterwards: nullable("boolean"),
  send_images: nullable("boolean", { default: true }),
  save_images: nullable("boolean"),
  alwayson_scripts: nullable("object"),
  script_name: nullable("string"),
  script_args: nullable("array"),
} as const;

export const txt2imgBodySchema = {
  type: "object",
  properties: generationProperties,
  additionalProperties: true,
} as const;

const img2imgProperties = {
  ...generationProperties,
  init_images: nullable("array", {
    items: { type: "string" },
    description: "base64 images (data URLs allowed)",
  }),
  denoising_strength: nullable("number", { default: 0.75 }),
  mask: nullable("string", { description: "base64 mask, white = repaint" }),
  inpainting_mask_invert: nullable("integer", { description: "1: black = repaint" }),
  mask_blur: nullable("integer", {
    description: "Gaussian mask blur (sigma, pixels); sets mask_blur_x and mask_blur_y",
  }),
  mask_blur_x: nullable("integer", { default: 4 }),
  mask_blur_y: nullable("integer", { default: 4 }),
  inpainting_fill: nullable("integer", {
    default: 0,
    description: "masked content: 0 fill, 1 original, 2 latent noise, 3 latent nothing",
  }),
  inpaint_full_res: nullable("boolean", {
    default: true,
    description:
      'true: "Only masked" (the masked area\'s box, padded, at width × height); false: whole picture',
  }),
  inpaint_full_res_padding: nullable("integer", { default: 0 }),
  resize_mode: nullable("integer"),
} as const;

export const img2imgBodySchema = {
  type: "object",
  properties: img2imgProperties,
  additionalProperties: true,
} as const;

export const jobBodySchema = {
  type: "object",
  properties: {
    ...img2imgProperties,
    denoising_strength: nullable("number"),
    kind: {
      type: "string",
      enum: ["txt2img", "img2img"],
      description: "default: img2img when init_images are given, else txt2img",
    },
  },
  additionalProperties: true,
} as const;

export const generationResponseSchema = {
  type: "object",
  properties: {
    images: { type: "array", items: { type: "string" }, description: "base64 PNGs with their infotext" },
    parameters: { type: "object", additionalProperties: true },
    info: {
      type: "string",
      description: "a JSON document: seed, all_seeds, infotexts, sdlite_ignored_fields, …",
    },
  },
} as const;

export const errorSchema = {
  type: "object",
  properties: {
    error: { type: "string" },
    detail: { type: "string" },
    body: { type: "string" },
    errors: { type: "string" },
  },
} as const;

export const progressResponseSchema = {
  type: "object",
  properties: {
    progress: { type: "number" },
    eta_relative: { type: "number" },
    state: {
      type: "object",
      properties: {
        skipped: { type: "boolean" },
        interrupted: { type: "boolean" },
        stopping_generation: { type: "boolean" },
        job: { type: "string" },
        job_count: { type: "integer" },
        job_timestamp: { type: "string" },
        job_no: { type: "integer" },
        sampling_step: { type: "integer" },
        sampling_steps: { type: "integer" },
      },
    },
    current_image: { type: ["string", "null"] },
    textinfo: { type: ["string", "null"] },
    current_task: { type: ["string", "null"] },
  },
} as const;

export const internalProgressBodySchema = {
  type: ["object", "null"],
  properties: {
    id_task: nullable("string", { description: "the force_task_id a txt2img/img2img request was sent with" }),
    id_live_preview: nullable("integer"),
    live_preview: nullable("boolean"),
  },
} as const;

export const internalProgressResponseSchema = {
  type: "object",
  properties: {
    active: { type: "boolean" },
    queued: { type: "boolean" },
    completed: { type: "boolean" },
    progress: { type: ["number", "null"] },
    eta: { type: ["number", "null"] },
    live_preview: { type: ["string", "null"] },
    id_live_preview: { type: "integer" },
    textinfo: { type: ["string", "null"], description: '"In queue: 2/3" while waiting' },
  },
} as const;

export const pngInfoBodySchema = {
  type: "object",
  required: ["image"],
  properties: { image: { type: "string", description: "base64 PNG (data URL allowed)" } },
} as const;

export const optionsBodySchema = {
  type: "object",
  additionalProperties: true,
  properties: {
    sd_model_checkpoint: { type: "string", description: "title, name or hash: switches the model (queued)" },
    CLIP_stop_at_last_layers: { type: "integer", minimum: 1, maximum: 12 },
    randn_source: { type: "string", enum: ["CPU", "GPU", "NV", "cpu", "gpu", "nv"] },
    pad_cond_uncond: { type: "boolean" },
  },
} as const;

export const jobIdParamsSchema = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string" } },
} as const;
